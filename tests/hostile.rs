//! Hostile clients against the real binary: each test is one row of the
//! hostile-clients issue, and prints the figure it measured.

mod common;
use common::{HttpResponse, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Short idle timeout so stalled connections are closed quickly in tests.
const FAST_IDLE: &str = "[server]\nidle_timeout_ms = 1000";

/// These tests measure time and memory: run them one at a time.
use common::serial;

/// A number from the server's `/proc/PID/status` (`VmRSS`, `RssAnon`, `Threads`).
fn proc_status(server: &Server, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn rss_kib(server: &Server) -> u64 {
    proc_status(server, "VmRSS")
}

/// The server's private memory (`RssAnon`, KiB) once it has settled: its thread
/// count is back to `threads` (plus a few pool spares) and RssAnon has not fallen
/// for 2.5 s, i.e. the connection threads have exited (tiny_http's pool lets an
/// idle thread go after 5 s, later on a loaded machine) and the handler loop's
/// `malloc_trim`, run after each quiet second, has handed their memory back.
/// Fails after 30 s.
fn settled_private_kib(server: &Server, threads: u64) -> u64 {
    let start = Instant::now();
    let mut last = proc_status(server, "RssAnon");
    let mut falling_at = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let (now, n) = (
            proc_status(server, "RssAnon"),
            proc_status(server, "Threads"),
        );
        if now < last {
            falling_at = Instant::now();
        }
        last = now;
        if n <= threads + 8 && falling_at.elapsed() >= Duration::from_millis(2500) {
            return now;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not settled after 30 s: {n} threads (idle: {threads}), RssAnon {now} KiB"
        );
    }
}

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads whatever the server sends until it closes (or the read times out).
fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Time for a fresh client to get `GET /` answered.
fn time_hello(server: &Server) -> Duration {
    let t = Instant::now();
    assert_eq!(server.get("/").status, 200);
    t.elapsed()
}

#[test]
fn absurd_content_lengths_get_413_and_the_server_lives() {
    let _serial = serial();
    let mut server = Server::start(FAST_IDLE);
    for length in [
        "1000000000000",
        "18446744073709551615",
        "99999999999999999999999",
    ] {
        let mut s = connect(&server);
        let head = format!(
            "POST /tracks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        let r = HttpResponse::parse(&read_all(s));
        assert_eq!(
            (r.status, r.text().as_str()),
            (413, r#"{"detail":"Request body too large"}"#),
            "{length}"
        );
        assert_eq!(server.get("/").status, 200, "next request after {length}");
    }
    assert!(server.is_running(), "process still running");
}

#[test]
fn a_client_that_never_sends_its_body_stalls_nobody() {
    let _serial = serial();
    let server = Server::start(FAST_IDLE);
    let mut stalled = connect(&server);
    stalled
        .write_all(b"POST /tracks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    let mut also_stalled = connect(&server);
    also_stalled
        .write_all(b"POST /tracks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"id\"")
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let worst = (0..20).map(|_| time_hello(&server)).max().unwrap();
    println!("other clients while two bodies stall: slowest answer {worst:?}");
    assert!(worst < Duration::from_millis(100), "{worst:?}");
    // The stalled connections are answered (413 / 400) and closed within the idle timeout.
    let t = Instant::now();
    let first = read_all(stalled);
    let second = read_all(also_stalled);
    let closed_after = t.elapsed();
    println!("stalled connections closed after {closed_after:?} (idle timeout 1 s)");
    assert_eq!(HttpResponse::parse(&first).status, 413);
    assert_eq!(HttpResponse::parse(&second).status, 400);
    assert!(
        closed_after < Duration::from_millis(1300),
        "{closed_after:?}"
    );
}

#[test]
fn bursts_of_new_keep_alive_connections_are_all_answered() {
    let _serial = serial();
    // The default idle timeout (5 s): the ballast keeps the pool from queueing.
    let server = Server::start("");
    assert_eq!(server.get("/").status, 200);
    for n in [16usize, 64] {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
        let addr = server.addr;
        let clients: Vec<_> = (0..n)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    barrier.wait();
                    let t = Instant::now();
                    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                    let mut buf = [0u8; 512];
                    let n = s.read(&mut buf).unwrap_or(0);
                    let elapsed = t.elapsed();
                    // Keep the connection open (keep-alive) until every client is done.
                    barrier.wait();
                    (n > 0 && buf.starts_with(b"HTTP/1.1 200"), elapsed)
                })
            })
            .collect();
        let results: Vec<(bool, Duration)> =
            clients.into_iter().map(|c| c.join().unwrap()).collect();
        let answered = results.iter().filter(|(ok, _)| *ok).count();
        let p100 = results.iter().map(|(_, d)| *d).max().unwrap();
        println!("{n} new keep-alive connections: {answered}/{n} answered, slowest {p100:?}");
        assert_eq!(answered, n);
        // Usually a few ms. The bound is the ballast's own: when a burst queues
        // before any of it reaches the loop (which switches the ballast to fast
        // rotation), the next slow rotation frees a thread within
        // idle_timeout / 3 / (2 x 4 connections) = 208 ms (two fresh-clone CI
        // runs: 207 and 208 ms). Without the ballast: 5.1 s, 30 of 64 unanswered.
        assert!(p100 < Duration::from_millis(500), "{p100:?}");
    }
}

#[test]
fn two_thousand_idle_connections_do_not_lock_out_a_new_client() {
    let _serial = serial();
    let server = Server::start("[server]\nidle_timeout_ms = 30000");
    time_hello(&server);
    let threads = proc_status(&server, "Threads");
    let before = settled_private_kib(&server, threads);
    // Private memory, not VmRSS: VmRSS also counts the binary's and libc's
    // file-backed pages, which grow as new code paths run and are not memory
    // kept for anyone. Three rounds tell a one-time cost from one per connection.
    let mut after = Vec::new();
    for round in 1..=3 {
        let idle: Vec<TcpStream> = (0..2000)
            .map(|_| TcpStream::connect(server.addr).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let during = proc_status(&server, "RssAnon");
        let answered_in = time_hello(&server);
        println!(
            "round {round}, with 2000 idle connections: new client answered in {answered_in:?}; private memory {during} KiB"
        );
        assert!(answered_in < Duration::from_secs(1));
        drop(idle);
        after.push(settled_private_kib(&server, threads));
    }
    println!(
        "private memory (RssAnon) before: {before} KiB; after the connections closed: {} KiB, after a second round: {} KiB, after a third: {} KiB",
        after[0], after[1], after[2]
    );
    // What stays is pages of the malloc arenas the connection threads used (at
    // most 8, `alloc::limit_arenas`) that still hold a live chunk: +0.9 to +3.0
    // MiB measured (2026-12-03, local and CI), up or down by up to 1.9 MiB from
    // one flood to the next, with no trend. Memory kept per connection would
    // grow with every round instead: 1 KiB each is +2 MiB a round, so the third
    // round may not be more than 3 MiB above the first.
    for (round, kib) in after.iter().enumerate() {
        assert!(
            *kib <= before + 4096,
            "round {}: private memory {kib} KiB vs {before} KiB before",
            round + 1
        );
    }
    assert!(
        after[2] <= after[0] + 3072,
        "private memory grew round after round: {after:?} KiB"
    );
    // Nothing is kept per connection: 512 bytes for each of 2000 would be 1 MiB
    // more after every round. The first two rounds may still be filling malloc
    // arenas the threads share (one CI run: +1.0 MiB from the first to the second,
    // then level: five floods in a row stay within 6.5-7.3 MiB), so the check is
    // between the last two.
    assert!(
        after[2] <= after[1] + 1024,
        "the third round kept memory: {} KiB vs {} KiB after the second",
        after[2],
        after[1]
    );
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn running_out_of_file_descriptors_recovers_without_a_restart() {
    let _serial = serial();
    // Running out can hit accept() itself (an error from recv) or tiny_http's
    // clone of the accepted socket (a panic on its accept thread), whichever
    // descriptor happens to be the last: each connection costs two, so which
    // one it is depends on the limit's parity. Both limits are tried.
    let logs: Vec<String> = [64, 65].into_iter().map(flood_descriptors).collect();
    let both = logs.concat();
    assert!(both.contains("accept failed"), "{both}");
    assert!(both.contains("the accept thread is gone"), "{both}");
}

/// A server limited to `limit` descriptors, flooded with more connections
/// than that three times; it must serve again each time, as the same process.
fn flood_descriptors(limit: u32) -> String {
    let dir = common::temp_dir("emfile");
    let config = dir.join("tracksd.toml");
    std::fs::write(&config, common::config_text(&dir, FAST_IDLE)).unwrap();
    let ulimit = format!("ulimit -n {limit}; exec \"$0\" \"$@\"");
    let mut server = Server::start_wrapped(&dir, &config, &[], &["sh", "-c", &ulimit]);
    let pid = server.child.id();
    for round in 1..=3 {
        // Act: hold more connections than it has descriptors.
        let flood: Vec<TcpStream> = (0..100)
            .filter_map(|_| TcpStream::connect_timeout(&server.addr, Duration::from_secs(1)).ok())
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        drop(flood);
        // Assert: same process, serving again.
        let t = Instant::now();
        let mut served = false;
        while t.elapsed() < Duration::from_secs(10) {
            // A bounded connect: with nobody accepting, a full backlog drops SYNs.
            let s = TcpStream::connect_timeout(&server.addr, Duration::from_secs(1));
            if let Ok(mut s) = s {
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut out = Vec::new();
                let _ = s.read_to_end(&mut out);
                if out.starts_with(b"HTTP/1.1 200") {
                    served = true;
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        println!(
            "limit {limit}, round {round}, after the descriptor flood: served again after {:?}",
            t.elapsed()
        );
        assert!(served, "round {round}; log:\n{}", server.log());
    }
    assert!(
        server.is_running(),
        "pid {pid} exited; log:\n{}",
        server.log()
    );
    server.log()
}

#[test]
fn huge_header_line_and_header_flood_are_refused_with_bounded_memory() {
    let _serial = serial();
    let server = Server::start(FAST_IDLE);
    let mut s = connect(&server);
    let line = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let _ = s.write_all(line.as_bytes());
    let r = read_all(s);
    println!(
        "1 MiB header line: {:?}",
        String::from_utf8_lossy(&r[..r.len().min(40)])
    );
    assert!(r.is_empty() || r.starts_with(b"HTTP/1.1 431"));

    let mut s = connect(&server);
    let mut flood = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..10_000 {
        flood.push_str(&format!("X-{i}: v\r\n"));
    }
    flood.push_str("\r\n");
    let _ = s.write_all(flood.as_bytes());
    let r = read_all(s);
    assert!(r.is_empty() || r.starts_with(b"HTTP/1.1 431"));
    let rss = rss_kib(&server);
    println!(
        "10,000 headers: {:?}; server RSS {rss} KiB",
        String::from_utf8_lossy(&r[..r.len().min(40)])
    );
    assert!(rss < 64 * 1024);
    assert_eq!(server.get("/").status, 200);
}

/// Sends `raw` on one connection and returns every status line the server sent.
fn statuses(server: &Server, raw: &[u8]) -> Vec<String> {
    let mut s = connect(server);
    s.write_all(raw).unwrap();
    let out = String::from_utf8_lossy(&read_all(s)).into_owned();
    out.split("\r\n")
        .filter(|l| l.starts_with("HTTP/1.1 "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn ambiguous_framing_is_400_and_nothing_is_smuggled() {
    let _serial = serial();
    let server = Server::start(FAST_IDLE);
    let smuggled = "GET /tracks/1 HTTP/1.1\r\nHost: x\r\n\r\n";
    let cases = [
        format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
            5
        ),
        format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{smuggled}",
            smuggled.len()
        ),
        format!("POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{smuggled}"),
        format!("POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nabcde{smuggled}"),
    ];
    for raw in &cases {
        let seen = statuses(&server, raw.as_bytes());
        assert!(!seen.is_empty(), "{raw:?}");
        assert!(
            seen.iter().all(|s| s.starts_with("HTTP/1.1 400")),
            "{raw:?} -> {seen:?}"
        );
    }
    // Requests are logged in the order they are answered: once a later one is
    // in the log, a smuggled one answered before it would be too.
    assert_eq!(server.get("/healthz").status, 200);
    let log = server.wait_for_log("GET /healthz 200", Duration::from_secs(10));
    assert!(!log.contains("GET /tracks/1 200"), "{log}");
}

#[test]
fn control_bytes_are_never_reflected_into_headers() {
    let _serial = serial();
    let server = Server::start(FAST_IDLE);
    let cases: [&[u8]; 5] = [
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 42\r\n\r\nusername=a%0D%0ASet-Cookie:%20x&password=p",
        b"GET /tracks/%0D%0ASet-Cookie:x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /tracks?q=%0D%0ASet-Cookie:x%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /users/me HTTP/1.1\r\nHost: x\r\nCookie: my_session_id=a\x00b\r\nConnection: close\r\n\r\n",
        b"GET /users/me HTTP/1.1\r\nHost: x\r\nCookie: my_session_id=a\rSet-Cookie: x\r\nConnection: close\r\n\r\n",
    ];
    for raw in cases {
        let mut s = connect(&server);
        s.write_all(raw).unwrap();
        let out = read_all(s);
        if out.is_empty() {
            continue; // closed by the parser: acceptable
        }
        let r = HttpResponse::parse(&out);
        assert!(
            r.status < 500,
            "{:?} -> {}",
            String::from_utf8_lossy(raw),
            r.status
        );
        for (name, value) in &r.headers {
            assert!(
                name != "set-cookie" || value.starts_with("my_session_id="),
                "{value}"
            );
            assert!(!value.contains('\0'), "{name}: {value:?}");
        }
    }
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn invalid_utf8_is_a_4xx_or_a_closed_connection_never_a_500() {
    let _serial = serial();
    let server = Server::start(FAST_IDLE);
    let cookie = server.login("john", "password").cookie().unwrap();
    let json = format!(
        "POST /tracks HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: application/json\r\nContent-Length: 49\r\nConnection: close\r\n\r\n"
    );
    let mut json = json.into_bytes();
    json.extend_from_slice(b"{\"id\":9,\"title\":\"\xff\xfe\",\"artist\":\"a\",\"year\":1999}   ");
    let cases: Vec<Vec<u8>> = vec![
        b"GET /tracks/%FF%FE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /%C3%28 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /tracks?q=%FF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 28\r\nConnection: close\r\n\r\nusername=%FF&password=%FE%C0".to_vec(),
        json,
        b"GET /tr\xc3\xa4cks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9\r\nConnection: close\r\n\r\n".to_vec(),
    ];
    for raw in cases {
        let mut s = connect(&server);
        s.write_all(&raw).unwrap();
        let out = read_all(s);
        if out.is_empty() {
            continue;
        }
        let r = HttpResponse::parse(&out);
        let shown = String::from_utf8_lossy(&raw).into_owned();
        assert!((200..500).contains(&r.status), "{shown:?} -> {}", r.status);
        if r.status >= 400 && !r.body.is_empty() {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert!(body.get("detail").is_some(), "{shown:?}");
        }
    }
    assert_eq!(server.get("/").status, 200);
}
