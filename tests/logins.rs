//! Black-box tests of issue 12, "logins nobody can abuse": each test is one of
//! its points, tried as an attacker would against the real binary.

mod common;
use common::{HttpResponse, Server};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
const JSON: (&str, &str) = ("Content-Type", "application/json");

/// A login from `client` (an `X-Forwarded-For` address: the servers in these
/// tests trust the loopback peer as a proxy) with extra `headers`.
fn login_from(
    server: &Server,
    client: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut all = vec![FORM, ("X-Forwarded-For", client)];
    all.extend_from_slice(headers);
    let body = format!("username=john&password={password}");
    server.request("POST", "/login", &all, body.as_bytes())
}

/// The `name=value` pair of the response's device cookie.
fn device_cookie(r: &HttpResponse) -> String {
    let set = r
        .headers_named("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("my_session_id_device="))
        .unwrap_or_else(|| panic!("no device cookie in {:?}", r.headers));
    set.split(';').next().unwrap().to_owned()
}

#[test]
fn point_1_guessers_elsewhere_cannot_lock_out_a_device_that_logged_in_before() {
    // Arrange: the owner logs in once from its device; guessers then fail five
    // times for john from five other addresses.
    let server = Server::start("[server]\ntrusted_proxies = [\"127.0.0.1\"]");
    let first = login_from(&server, "10.0.0.1", "password", &[]);
    assert_eq!(first.status, 200, "{}", first.text());
    let device = device_cookie(&first);
    let set = first.headers_named("set-cookie").join("\n");
    assert!(
        set.contains("; path=/login; Max-Age=15552000; httponly; samesite=strict"),
        "{set}"
    );
    for i in 2..7 {
        let r = login_from(&server, &format!("10.0.0.{i}"), "guess", &[]);
        assert_eq!(r.status, 401);
    }
    // Act
    let next_guesser = login_from(&server, "10.0.0.7", "guess", &[]);
    let owner_on_a_new_device = login_from(&server, "10.0.0.1", "password", &[]);
    let owner_on_its_device = login_from(&server, "10.0.0.1", "password", &[("Cookie", &device)]);
    let guesser_at_owners_address = login_from(&server, "10.0.0.1", "guess", &[]);
    // Assert: the guessers (today's rule) and an unproven client are refused;
    // the proven device is not.
    assert_eq!(next_guesser.status, 429, "{}", next_guesser.text());
    assert_eq!(owner_on_a_new_device.status, 429);
    assert_eq!(
        (
            owner_on_its_device.status,
            owner_on_its_device.text().as_str()
        ),
        (200, r#"{"success":true}"#)
    );
    assert_eq!(guesser_at_owners_address.status, 429);
    // The device's own failures still count: five, then it is refused too.
    let device = device_cookie(&owner_on_its_device);
    for _ in 0..5 {
        let r = login_from(&server, "10.0.0.1", "typo", &[("Cookie", &device)]);
        assert_eq!(r.status, 401);
    }
    let locked = login_from(&server, "10.0.0.1", "password", &[("Cookie", &device)]);
    assert_eq!(locked.status, 429);
    assert!(locked.header("retry-after").is_some());
    server.remove();
}

#[test]
fn point_2_a_host_that_is_not_allowed_is_421_and_runs_nothing() {
    // Arrange
    let server = Server::start("");
    let port = server.addr.port();
    let login = |host: &str| {
        server.request_for_host(
            host,
            "POST",
            "/login",
            &[FORM],
            b"username=john&password=password",
        )
    };
    // Act
    let rebound = login(&format!("evil.example:{port}"));
    let unknown_path = server.request_for_host("evil.example", "GET", "/nope", &[], b"");
    let localhost = login(&format!("localhost:{port}"));
    let dotless = server.request_for_host("raspberrypi", "GET", "/", &[], b"");
    let ipv6 = server.request_for_host(&format!("[::1]:{port}"), "GET", "/", &[], b"");
    // Assert
    assert_eq!(
        (rebound.status, rebound.text().as_str()),
        (
            421,
            r#"{"detail":"Misdirected request: host \"evil.example\" is not allowed; add it to [server] allowed_hosts"}"#
        )
    );
    assert_eq!(rebound.header("set-cookie"), None);
    assert_eq!(unknown_path.status, 421);
    assert_eq!(localhost.status, 200);
    assert_eq!((dotless.status, ipv6.status), (200, 200));
    server.remove();

    // With a list: its names, IP literals and localhost; nothing else.
    let server = Server::start("[server]\nallowed_hosts = [\"pi.local\", \".example.org\"]");
    let status = |host: &str| server.request_for_host(host, "GET", "/", &[], b"").status;
    assert_eq!(status("pi.local:8000"), 200);
    assert_eq!(status("tracks.example.org"), 200);
    assert_eq!(status(&server.addr.to_string()), 200);
    assert_eq!(status("localhost"), 200);
    assert_eq!(status("raspberrypi"), 421);
    assert_eq!(status("evil.example"), 421);
    assert_eq!(status("example.org.evil.example"), 421);
    server.remove();
}

#[test]
fn point_2_check_config_names_a_bad_allowed_hosts_entry() {
    let dir = common::temp_dir("hosts-config");
    let config = dir.join("tracksd.toml");
    std::fs::write(
        &config,
        "[server]\nallowed_hosts = [\"pi.local\", \"http://pi.local:8000/\"]\n",
    )
    .unwrap();
    let out = common::tracksd()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let want = format!(
        "{}: key `server.allowed_hosts`: entry 2: \"http://pi.local:8000/\" is not a host name",
        config.display()
    );
    assert!(err.contains(&want), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn point_3_origin_must_name_the_scheme_host_and_port_and_be_one() {
    // Arrange
    let server = Server::start("");
    let ours = format!("http://{}", server.addr);
    let logout = |origins: &[&str]| {
        let headers: Vec<_> = origins.iter().map(|o| ("Origin", *o)).collect();
        server.request("POST", "/logout", &headers, b"").status
    };
    // Act + Assert
    assert_eq!(logout(&[&format!("https://{}", server.addr)]), 403);
    assert_eq!(logout(&[&format!("ftp://{}", server.addr)]), 403);
    assert_eq!(logout(&[&ours, "http://evil.example"]), 403);
    assert_eq!(logout(&["http://evil.example", &ours]), 403);
    assert_eq!(logout(&[&ours]), 200);
    assert_eq!(logout(&[&ours, &ours]), 200);
    server.remove();

    // Behind a trusted TLS proxy the scheme is the one it forwards.
    let server = Server::start("[server]\ntrusted_proxies = [\"127.0.0.1\"]");
    let status = |origin: String| {
        let headers = [("X-Forwarded-Proto", "https"), ("Origin", origin.as_str())];
        server.request("POST", "/logout", &headers, b"").status
    };
    assert_eq!(status(format!("https://{}", server.addr)), 200);
    assert_eq!(status(format!("http://{}", server.addr)), 403);
    server.remove();
}

/// The probe writes, renames and deletes a file in the state directory, each of
/// which changes the directory's modification time.
fn state_dir_mtime(server: &Server) -> (i64, i64) {
    let m = std::fs::metadata(server.dir.join("state")).unwrap();
    (m.mtime(), m.mtime_nsec())
}

fn checked_ms_ago(r: &HttpResponse) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], "ok", "{}", r.text());
    v["checked_ms_ago"].as_u64().unwrap()
}

#[test]
fn point_4_healthz_probes_the_disk_at_most_once_per_interval() {
    // Arrange
    let server = Server::start("[server]\nhealth_probe_interval_ms = 1000");
    let first = server.get("/healthz");
    let after_probe = state_dir_mtime(&server);
    // Act: many calls within the interval, then one after it.
    let mut ages = Vec::new();
    for _ in 0..50 {
        ages.push(checked_ms_ago(&server.get("/healthz")));
    }
    let unchanged = state_dir_mtime(&server);
    std::thread::sleep(Duration::from_millis(1_100));
    let later = server.get("/healthz");
    // Assert
    assert_eq!(checked_ms_ago(&first), 0);
    assert_eq!(unchanged, after_probe, "a cached answer wrote to the disk");
    assert!(ages.windows(2).all(|w| w[0] <= w[1]), "{ages:?}");
    assert!(ages.iter().all(|&a| a < 1_000), "{ages:?}");
    assert_eq!(checked_ms_ago(&later), 0, "a stale result is probed again");
    assert_ne!(state_dir_mtime(&server), after_probe);
    server.remove();
}

#[test]
fn point_5_a_world_writable_state_dir_is_refused_at_start() {
    // Arrange
    let dir = common::temp_dir("open-state");
    let state = dir.join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let config = dir.join("tracksd.toml");
    std::fs::write(&config, common::config_text(&dir, "")).unwrap();
    // Act
    let out = common::tracksd()
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    // Assert
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: others can write to it (mode 1777)",
            state.display()
        )),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&state).unwrap().count(),
        0,
        "nothing written"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn point_5_temp_files_never_follow_a_planted_symlink() {
    // Arrange: symlinks at the temp names the writes will try first (the old
    // fixed name, and `.<file>.tmp-<pid>-<n>` for the next few n), pointing at
    // a file outside the state directory.
    let server = Server::start("");
    let state = server.dir.join("state");
    let target = server.dir.join("precious");
    std::fs::write(&target, b"precious").unwrap();
    let pid = server.child.id();
    let mut planted = Vec::new();
    for file in ["healthz.probe", "tracks.json", "revoked.json"] {
        planted.push(state.join(format!(".{file}.tmp-{pid}")));
        for n in 0..8 {
            planted.push(state.join(format!(".{file}.tmp-{pid}-{n}")));
        }
    }
    for link in &planted {
        std::os::unix::fs::symlink(&target, link).unwrap();
    }
    // Act: every kind of write.
    let health = server.get("/healthz");
    let login = server.login("john", "password");
    let cookie = login.cookie().unwrap();
    let body = br#"{"id":9,"title":"T","artist":"A","year":2000}"#;
    let created = server.request("POST", "/tracks", &[JSON, ("Cookie", &cookie)], body);
    let out = server.request("POST", "/logout", &[("Cookie", &cookie)], b"");
    // Assert
    assert_eq!(
        (health.status, created.status, out.status),
        (200, 200, 200),
        "{}",
        health.text()
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    for link in &planted {
        assert!(std::fs::symlink_metadata(link).unwrap().is_symlink());
    }
    for file in ["tracks.json", "revoked.json", "session.key"] {
        let mode = std::fs::metadata(state.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    server.remove();
}

#[test]
fn point_6_the_catalogue_is_bounded_by_bytes() {
    // Arrange: 200 control characters per text field, the most bytes of JSON a
    // track can have (about 4.9 KB).
    let server = Server::start("[tracks]\nmax_catalogue_bytes = 16384");
    let cookie = server.login("john", "password").cookie().unwrap();
    let text = "\\u0001".repeat(200);
    let track = |id: u32| {
        format!(
            r#"{{"id":{id},"title":"{text}","artist":"{text}","album":"{text}","year":2000,"label":"{text}"}}"#
        )
    };
    let post = |id: u32| {
        server.request(
            "POST",
            "/tracks",
            &[JSON, ("Cookie", &cookie)],
            track(id).as_bytes(),
        )
    };
    // Act
    let statuses: Vec<u16> = (10..16).map(|id| post(id).status).collect();
    let refused = post(99);
    let file = std::fs::metadata(server.dir.join("state/tracks.json"))
        .unwrap()
        .len();
    let removed = server.request("DELETE", "/tracks/10", &[("Cookie", &cookie)], b"");
    let again = post(99);
    // Assert: three fit beside the four seed tracks, then 507 until one goes.
    assert_eq!(statuses, [200, 200, 200, 507, 507, 507]);
    assert_eq!(
        (refused.status, refused.text().as_str()),
        (507, r#"{"detail":"Catalogue size limit reached"}"#)
    );
    assert!(file <= 16384 + 4 * 7 + 4, "tracks.json is {file} bytes");
    assert_eq!((removed.status, again.status), (204, 200));
    server.remove();
}

#[test]
fn point_7_two_different_session_cookies_are_refused() {
    // Arrange: two valid sessions, as a parent-domain cookie set by a sibling
    // subdomain would sit beside the real one.
    let server = Server::start("");
    let a = server.login("john", "password").cookie().unwrap();
    let b = server.login("john", "password").cookie().unwrap();
    let me = |headers: &[(&str, &str)]| server.request("GET", "/users/me", headers, b"");
    // Act
    let one_header = me(&[("Cookie", &format!("{a}; {b}"))]);
    let two_headers = me(&[("Cookie", &b), ("Cookie", &a)]);
    let same_twice = me(&[("Cookie", &format!("{a}; {a}"))]);
    let alone = me(&[("Cookie", &b)]);
    // Assert
    assert_eq!(
        (one_header.status, one_header.text().as_str()),
        (401, r#"{"detail":"Not authenticated"}"#)
    );
    assert!(
        one_header
            .header("set-cookie")
            .unwrap()
            .starts_with("my_session_id=null;")
    );
    assert_eq!(two_headers.status, 401);
    assert_eq!((same_twice.status, alone.status), (200, 200));
    server.remove();
}

/// One login as `user` with a wrong password from source address `from`;
/// the status, or 0 if the connection failed.
fn guess_from(server: &Server, from: std::net::Ipv4Addr, user: &str) -> u16 {
    use std::io::{Read, Write};
    let body = format!("username={user}&password=guess");
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.addr,
        body.len()
    );
    let Ok(mut s) = common::connect_with(server.addr, Some(from), None) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let mut status = [0u8; 12];
    if s.write_all(head.as_bytes()).is_err() || s.read_exact(&mut status).is_err() {
        return 0;
    }
    std::str::from_utf8(&status[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn issue_20_point_4_the_owners_device_logs_in_during_a_flood_from_200_addresses() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let _serial = common::serial();
    // The real 600,000-round hash, the default 1 hashing thread and queue of 8.
    let dir = common::temp_dir("flood");
    let config = dir.join("tracksd.toml");
    let text =
        common::config_text(&dir, "").replace(common::FAST_JOHN_HASH, common::REAL_JOHN_HASH);
    std::fs::write(&config, text).unwrap();
    let server = Server::start_with_config(&dir, &config, &[]).owning(dir);
    let first = server.login("john", "password");
    assert_eq!(first.status, 200, "{}", first.text());
    let device = device_cookie(&first);

    let stop = AtomicBool::new(false);
    let sent = AtomicUsize::new(0);
    let (owner, statuses) = std::thread::scope(|s| {
        let flooders: Vec<_> = (0..16)
            .map(|t| {
                let (server, stop, sent) = (&server, &stop, &sent);
                s.spawn(move || {
                    let mut seen = std::collections::BTreeMap::<u16, usize>::new();
                    while !stop.load(Ordering::SeqCst) {
                        let n = sent.fetch_add(1, Ordering::SeqCst);
                        // 200 addresses, 127.0.1.1 to 127.0.2.100; a new username each time.
                        let i = (n * 7 + t) % 200;
                        let from = std::net::Ipv4Addr::new(
                            127,
                            0,
                            1 + (i / 100) as u8,
                            1 + (i % 100) as u8,
                        );
                        *seen
                            .entry(guess_from(server, from, &format!("u{n}")))
                            .or_default() += 1;
                    }
                    seen
                })
            })
            .collect();
        // The flood fills the queue first; then the owner logs in from its device.
        std::thread::sleep(Duration::from_secs(1));
        let mut owner = Vec::new();
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let r = server.request(
                "POST",
                "/login",
                &[FORM, ("Cookie", device.as_str())],
                b"username=john&password=password",
            );
            owner.push((r.status, t.elapsed()));
            std::thread::sleep(Duration::from_millis(300));
        }
        stop.store(true, Ordering::SeqCst);
        let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
        for f in flooders {
            for (status, n) in f.join().unwrap() {
                *statuses.entry(status).or_default() += n;
            }
        }
        (owner, statuses)
    });
    println!(
        "owner's device during a flood of {} wrong passwords from 200 addresses (16 threads, \
         600,000-round hashes): {owner:?}; flood statuses {statuses:?}",
        statuses.values().sum::<usize>()
    );
    assert!(
        statuses.get(&503).copied().unwrap_or(0) > 0,
        "the flood never filled the login queue: {statuses:?}"
    );
    assert!(
        owner
            .iter()
            .all(|(status, took)| *status == 200 && *took <= Duration::from_secs(2)),
        "{owner:?}"
    );
}
