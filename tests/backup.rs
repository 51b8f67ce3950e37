//! The page for people, `/` negotiation, search, and export/restore, black-box.

mod common;
use common::Server;

const CHROME: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn put_tracks(server: &Server, cookie: &str, body: &str) -> common::HttpResponse {
    server.request(
        "PUT",
        "/tracks",
        &[("Cookie", cookie), ("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

#[test]
fn a_browser_is_sent_to_the_page_and_curl_keeps_the_json() {
    let server = Server::start("");
    let r = server.request("GET", "/", &[("Accept", CHROME)], b"");
    assert_eq!((r.status, r.header("location")), (303, Some("/ui/")));
    for accept in ["*/*", "application/json"] {
        let r = server.request("GET", "/", &[("Accept", accept)], b"");
        assert_eq!((r.status, r.text()), (200, r#"{"Hello":"World!"}"#.into()));
    }
    let page = server.get("/ui/");
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("same-origin"));
}

#[test]
fn ui_disabled_is_404_and_slash_is_always_json() {
    let server = Server::start("[ui]\nenabled = false\n");
    assert_eq!(server.get("/ui/").status, 404);
    let r = server.request("GET", "/", &[("Accept", CHROME)], b"");
    assert_eq!(r.status, 200);
}

#[test]
fn search_is_a_substring_and_the_total_counts_matches_before_paging() {
    let server = Server::start("");
    let r = server.get("/tracks?search=RADIO&limit=10");
    assert_eq!(r.header("x-total-count"), Some("1"));
    assert!(r.text().contains("High & Dry"));
    let r = server.get("/tracks?search=song&limit=1&skip=1");
    assert_eq!(r.header("x-total-count"), Some("2"));
    assert!(r.text().contains("The Rain Song") && !r.text().contains("Song 2"));
    let r = server.get("/tracks?search=song&q=blur&limit=10");
    assert_eq!(r.header("x-total-count"), Some("1"));
}

#[test]
fn export_restore_export_is_byte_identical_and_bad_restores_change_nothing() {
    let server = Server::start("");
    let cookie = server.login("john", "password").cookie().unwrap();
    let backup = server.get("/tracks/export");
    assert_eq!(backup.status, 200);
    assert!(
        backup
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    // Onto an empty instance.
    let fresh = Server::start("");
    let c2 = fresh.login("john", "password").cookie().unwrap();
    assert_eq!(put_tracks(&fresh, &c2, "[]").status, 200);
    assert_eq!(fresh.get("/tracks/export").text(), "[\n]\n");
    assert_eq!(put_tracks(&fresh, &c2, &backup.text()).status, 200);
    assert_eq!(fresh.get("/tracks/export").body, backup.body);
    // All or nothing.
    let bad = r#"[{"id":9,"title":"T","artist":"A","year":1},{"id":10,"title":"T","artist":"A","year":10000}]"#;
    let r = put_tracks(&server, &cookie, bad);
    assert_eq!(r.status, 422);
    assert!(
        r.text().contains(r#""loc":["body",1,"year"]"#),
        "{}",
        r.text()
    );
    let dup = r#"[{"id":9,"title":"T","artist":"A","year":1},{"id":9,"title":"T","artist":"A","year":1}]"#;
    assert_eq!(put_tracks(&server, &cookie, dup).status, 422);
    assert_eq!(server.get("/tracks/export").body, backup.body);
    let small = Server::start("[tracks]\nmax_tracks = 1\n");
    let c3 = small.login("john", "password").cookie().unwrap();
    let before = small.get("/tracks/export").body;
    assert_eq!(put_tracks(&small, &c3, &backup.text()).status, 507);
    assert_eq!(small.get("/tracks/export").body, before);
    assert_eq!(put_tracks(&server, "", "[]").status, 401);
}

/// The body of `GET /tracks/export`, de-chunked (a big export is sent chunked).
fn export(server: &Server) -> Vec<u8> {
    let r = server.get("/tracks/export");
    assert_eq!(r.status, 200);
    if r.header("transfer-encoding") != Some("chunked") {
        return r.body;
    }
    let (mut rest, mut out) = (&r.body[..], Vec::new());
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_hex = std::str::from_utf8(&rest[..line_end]).unwrap();
        let size = usize::from_str_radix(size_hex.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
        rest = &rest[line_end + 2 + size + 2..];
    }
}

/// `n` tracks in the export's own format, their titles tagged with `tag`.
fn catalogue(n: usize, tag: &str) -> String {
    let items: Vec<String> = (1..=n)
        .map(|i| {
            format!(
                r#"{{"id":{i},"title":"{tag} track {i}","artist":"Artist {}","album":null,"year":{},"label":null}}"#,
                i % 97,
                1950 + i % 70
            )
        })
        .collect();
    format!("[\n  {}\n]\n", items.join(",\n  "))
}

/// Sends only the head of a `method /tracks` declaring a `length`-byte JSON body
/// (a body refused unread is never sent) and reads the answer.
fn declared(server: &Server, method: &str, cookie: &str, length: usize) -> common::HttpResponse {
    server.raw(head(server, method, cookie, length).as_bytes())
}

/// The head of a `method /tracks` with `cookie` and a `length`-byte JSON body.
fn head(server: &Server, method: &str, cookie: &str, length: usize) -> String {
    format!(
        "{method} /tracks HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
        server.addr
    )
}

#[test]
fn a_logged_in_restore_may_be_a_whole_catalogue_and_other_bodies_keep_16_kib() {
    let bounds = "[tracks]\nmax_tracks = 2000\nmax_catalogue_bytes = 262144\n";
    let server = Server::start(bounds);
    let cookie = server.login("john", "password").cookie().unwrap();
    let big = catalogue(1500, "big");
    assert!(big.len() > 8 * 16 * 1024, "{} bytes", big.len());
    let r = put_tracks(&server, &cookie, &big);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        export(&server) == big.as_bytes(),
        "the export is the restored file"
    );
    // Logged out, or another route: the edge's 16 KiB, refused unread.
    assert_eq!(declared(&server, "PUT", "", big.len()).status, 413);
    assert_eq!(
        declared(&server, "PUT", "tracksd_session=forged", big.len()).status,
        413
    );
    assert_eq!(
        declared(&server, "POST", &cookie, 16 * 1024 + 1).status,
        413
    );
    // Beyond the largest export the bounds allow (bytes + 4 per track + 64).
    let largest = 262144 + 4 * 2000 + 64;
    assert_eq!(declared(&server, "PUT", &cookie, largest + 1).status, 413);
    assert!(export(&server) == big.as_bytes(), "nothing changed");
}

#[test]
fn a_slow_restore_upload_stalls_nobody() {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;
    let _serial = common::serial();
    let server = Server::start("[tracks]\nmax_tracks = 5000\n");
    let cookie = server.login("john", "password").cookie().unwrap();
    let body = catalogue(3000, "slow");
    let stop = Arc::new(AtomicBool::new(false));
    let gets = common::measure_gets(server.addr, "/tracks?limit=1", stop.clone());
    // Act: a restore whose body trickles in for about a second.
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = head(&server, "PUT", &cookie, body.len());
    s.write_all(head.as_bytes()).unwrap();
    let chunks: Vec<&[u8]> = body.as_bytes().chunks(body.len() / 40 + 1).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        s.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(25));
        if i == chunks.len() / 2 {
            // Meanwhile another write is answered at once.
            let t = std::time::Instant::now();
            assert_eq!(put_tracks(&server, &cookie, "[]").status, 200);
            assert!(
                t.elapsed() < Duration::from_millis(500),
                "{:?}",
                t.elapsed()
            );
        }
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    stop.store(true, Ordering::SeqCst);
    let lat = gets.join().unwrap();
    // Assert
    let r = common::HttpResponse::parse(&out);
    assert_eq!((r.status, r.text()), (200, r#"{"restored":3000}"#.into()));
    println!("GETs during a slow restore upload: {}", lat.summary());
    assert!(
        lat.len() >= 20 && lat.pct_ms(100.0) < 100.0,
        "{}",
        lat.summary()
    );
}

/// Writes a logged-in restore of `body` on a new connection and returns the
/// connection without waiting for the answer.
fn send_restore(server: &Server, cookie: &str, body: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    let head = head(server, "PUT", cookie, body.len());
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    s
}

/// The names, sizes and change times of the files in `dir`.
fn snapshot(dir: &std::path::Path) -> Vec<(std::ffi::OsString, u64, std::time::SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.file_name(), m.len(), m.modified().ok()?))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn kill_9_during_a_restore_leaves_the_old_or_the_new_catalogue() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    const BOUNDS: &str = "[tracks]\nmax_tracks = 100000\n";
    const RUNS: u32 = 24;
    let _serial = common::serial();
    // Arrange: two big catalogues (several MiB each, under the 8 MiB bound).
    let (old, new) = (catalogue(50_000, "old"), catalogue(60_000, "new"));
    let mut server = Server::start(BOUNDS);
    let cookie = server.login("john", "password").cookie().unwrap();
    // How long an uninterrupted restore takes once its body is sent.
    let mut took = Duration::ZERO;
    for body in [&new, &old] {
        let mut s = send_restore(&server, &cookie, body);
        let t = Instant::now();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        took = took.max(t.elapsed());
        assert_eq!(common::HttpResponse::parse(&answer).status, 200);
    }
    let peak_kib = common::proc_status(server.child.id(), "VmHWM");
    // Act: kill -9, restart on the same state. Even runs strike at delays from 0
    // to twice a restore's time after the body is sent; odd runs poll the state
    // directory until the write begins, then strike 0-20 ms into it.
    let (mut olds, mut news, mut in_write) = (0, 0, 0);
    for run in 0..RUNS {
        let state = server.dir.join("state");
        let before = snapshot(&state);
        let _s = send_restore(&server, &cookie, &new);
        if run % 2 == 0 {
            std::thread::sleep(took * 2 * run / (RUNS - 2));
        } else {
            let deadline = Instant::now() + Duration::from_secs(10);
            while snapshot(&state) == before {
                assert!(Instant::now() < deadline, "run {run}: no write within 10 s");
            }
            in_write += 1;
            std::thread::sleep(Duration::from_micros(u64::from(run / 2) * 1800));
        }
        let dir = server.kill();
        server = Server::start_in(&dir, BOUNDS).owning(dir);
        // Assert: exactly one of the two, byte for byte.
        let now = export(&server);
        if now == old.as_bytes() {
            olds += 1;
        } else if now == new.as_bytes() {
            news += 1;
            assert_eq!(put_tracks(&server, &cookie, &old).status, 200);
        } else {
            panic!(
                "run {run}: a {}-byte catalogue, neither old nor new",
                now.len()
            );
        }
    }
    println!(
        "kill -9 during a {}-byte restore (takes {took:?}, peak RSS {peak_kib} KiB): \
         {olds} of {RUNS} runs kept the old catalogue, {news} had the new one \
         ({in_write} struck once the write had begun)",
        new.len()
    );
    assert!(
        olds > 0 && news > 0,
        "the kills missed the write: {olds} old, {news} new"
    );
}
