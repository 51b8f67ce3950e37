//! Black-box tests of the process lifecycle under systemd: readiness
//! notification, socket activation and graceful stop.

mod common;
use common::Server;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
use std::time::{Duration, Instant};

/// Waits for a datagram containing `want` on the notify socket.
fn expect_notification(sock: &UnixDatagram, want: &str) {
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 256];
    loop {
        let n = sock.recv(&mut buf).expect("no notification within 10 s");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.lines().any(|l| l == want) {
            return;
        }
    }
}

fn start_with_env(env: &[(&str, &str)]) -> Server {
    let dir = common::temp_dir("life");
    let config = dir.join("tracksd.toml");
    std::fs::write(&config, common::config_text(&dir, "")).unwrap();
    Server::start_with_config(&dir, &config, env)
}

#[test]
fn ready_is_sent_to_a_path_notify_socket() {
    let dir = common::temp_dir("notify");
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let server = start_with_env(&[("NOTIFY_SOCKET", path.to_str().unwrap())]);
    expect_notification(&sock, "READY=1");
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn ready_is_sent_to_an_abstract_notify_socket() {
    let name = format!("tracksd-test-{}", std::process::id());
    let sock =
        UnixDatagram::bind_addr(&UnixAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    let _server = start_with_env(&[("NOTIFY_SOCKET", &format!("@{name}"))]);
    expect_notification(&sock, "READY=1");
}

#[test]
fn watchdog_pings_while_the_loop_is_healthy() {
    let dir = common::temp_dir("watchdog");
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let _server = start_with_env(&[
        ("NOTIFY_SOCKET", path.to_str().unwrap()),
        ("WATCHDOG_USEC", "1000000"),
    ]);
    expect_notification(&sock, "READY=1");
    // A ping every half interval (0.5 s); systemd kills at the full one. The
    // gaps must stay near 0.5 s: a tick that slips past a due ping used to
    // make it a whole interval late (1.0 s gaps seen).
    let mut gaps = Vec::new();
    let mut last = Instant::now();
    while gaps.len() < 6 {
        expect_notification(&sock, "WATCHDOG=1");
        gaps.push(last.elapsed());
        last = Instant::now();
    }
    let worst = gaps[1..].iter().max().unwrap();
    println!(
        "watchdog pings at WATCHDOG_USEC=1000000: gaps {gaps:?}, worst after the first {worst:?}"
    );
    assert!(*worst <= Duration::from_millis(750), "{gaps:?}");
}

/// Starts the binary with `listener` as fd 3 and LISTEN_PID/LISTEN_FDS set, as
/// systemd does (the caller keeps its own copy of the socket, as systemd does).
fn spawn_activated(listener: &TcpListener, config: &std::path::Path) -> std::process::Child {
    let fd = std::os::fd::AsRawFd::as_raw_fd(listener);
    let mut cmd = common::clean(std::process::Command::new("sh"));
    cmd.args(["-c", "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_tracksd"))
        .arg("--config")
        .arg(config)
        .stderr(std::process::Stdio::piped());
    // SAFETY: dup2/fcntl in the child between fork and exec, on fds we own.
    // If the listener already is fd 3, dup2 is a no-op that would leave its
    // close-on-exec flag set, so clear the flag instead.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            let rc = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

/// Waits until `child` logs that it listens (its stderr is read to the end).
fn log_of(child: &mut std::process::Child) -> String {
    let mut log = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut log);
    log
}

#[test]
fn a_stop_leaves_the_activated_socket_listening_and_the_next_start_answers_what_queued() {
    // Arrange: "systemd" (us) owns the socket and passes it to a first server.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = common::temp_dir("restart");
    let config = dir.join("tracksd.toml");
    std::fs::write(&config, common::config_text(&dir, "")).unwrap();
    let mut first = spawn_activated(&listener, &config);
    let get = |s: &mut TcpStream| {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
    };
    let started = Instant::now();
    let mut out = String::new();
    while !out.starts_with("HTTP/1.1 200") && started.elapsed() < Duration::from_secs(10) {
        out.clear();
        let mut s = TcpStream::connect(addr).unwrap();
        get(&mut s);
        let _ = s.read_to_string(&mut out);
    }
    assert!(out.starts_with("HTTP/1.1 200"), "{out:?}");
    // Act: stop it; a client connects and asks while no process serves.
    unsafe { libc::kill(first.id() as i32, libc::SIGTERM) };
    let stopped = first.wait().unwrap();
    let first_log = log_of(&mut first);
    let mut waiting = TcpStream::connect(addr).expect("the socket refused a connection");
    get(&mut waiting);
    let mut second = spawn_activated(&listener, &config);
    let mut answer = String::new();
    let _ = waiting.read_to_string(&mut answer);
    let _ = second.kill();
    let _ = second.wait();
    let _ = std::fs::remove_dir_all(&dir);
    // Assert
    assert_eq!(stopped.code(), Some(0), "{first_log}");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{answer:?}\n{first_log}"
    );
}

#[test]
fn socket_activation_serves_the_passed_socket() {
    // Arrange: a listening socket made by "systemd" (us), passed as fd 3.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = common::temp_dir("activate");
    let config = dir.join("tracksd.toml");
    // The config names another port; the passed socket must win.
    std::fs::write(
        &config,
        common::config_text(&dir, "").replace("127.0.0.1:0", "127.0.0.1:1"),
    )
    .unwrap();
    let mut child = spawn_activated(&listener, &config);
    drop(listener);
    // Act
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let _ = child.kill();
    let log = log_of(&mut child);
    let _ = child.wait();
    // Assert
    assert!(out.starts_with("HTTP/1.1 200"), "{out:?}\n{log}");
    assert!(
        log.contains(&format!("listening on http://{addr} (socket activation)")),
        "{log}"
    );
}

#[test]
fn sigterm_answers_the_request_in_flight_and_exits_0() {
    // Arrange: a logged-in client halfway through sending a 1.5 KiB body.
    let mut server = Server::start("");
    let cookie = server.login("john", "password").cookie().unwrap();
    let body = format!(
        "{{\"id\":42,\"title\":\"In flight\",\"artist\":\"A\",\"year\":2001}}{}",
        " ".repeat(1500)
    );
    let head = format!(
        "POST /tracks HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body.as_bytes()[..700]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // Act: SIGTERM, then the rest of the body.
    let t = Instant::now();
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    server.wait_for_log("tracksd: stopping", Duration::from_secs(10));
    s.write_all(&body.as_bytes()[700..]).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = server.child.wait().unwrap();
    let took = t.elapsed();
    // Assert
    println!("SIGTERM to exit: {took:?}");
    assert!(out.starts_with("HTTP/1.1 200"), "{out:?}\n{}", server.log());
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The acknowledged write is on disk, and its log line was written before exit.
    let tracks = std::fs::read_to_string(server.dir.join("state/tracks.json")).unwrap();
    assert!(tracks.contains("In flight"));
    assert!(
        server.log().contains("POST /tracks 200"),
        "{}",
        server.log()
    );
}

#[test]
fn every_request_of_a_busy_spell_is_logged_by_a_graceful_stop() {
    // Arrange: 4 keep-alive clients at once, so that lines are batched.
    let mut server = Server::start("");
    let addr = server.addr;
    let clients: Vec<_> = (0..4)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
                for i in 0..250 {
                    let req = format!("GET /tracks/9{c}{i:03} HTTP/1.1\r\nHost: x\r\n\r\n");
                    s.write_all(req.as_bytes()).unwrap();
                    common::read_response(&mut reader);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    // Act
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
    // Assert: one line per request, none lost in a batch.
    let log = server.log();
    for c in 0..4 {
        for i in 0..250 {
            let line = format!("GET /tracks/9{c}{i:03} 404 ");
            assert!(log.contains(&line), "missing {line:?}");
        }
    }
}

#[test]
fn sigterm_when_idle_exits_0_quickly() {
    let mut server = Server::start("");
    assert_eq!(server.get("/").status, 200);
    let t = Instant::now();
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn a_framing_error_is_answered_400_and_closes_the_connection() {
    let server = Server::start("");
    for smuggle in [
        "POST /tracks HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "POST /tracks HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /tracks HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nhello",
    ] {
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let raw = format!("{smuggle}GET /users/me HTTP/1.1\r\nHost: x\r\n\r\n");
        s.write_all(raw.as_bytes()).unwrap();
        let t = Instant::now();
        let mut out = Vec::new();
        // Ends in EOF (or a reset): a timeout would mean the connection stayed open.
        let ended = match s.read_to_end(&mut out) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 400"), "{text:?}");
        assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{text:?}");
        assert!(
            ended && t.elapsed() < Duration::from_secs(3),
            "{:?}",
            t.elapsed()
        );
    }
}

#[test]
fn hostile_input_leaves_no_panic_message_and_sighup_reloads_without_stopping() {
    let server = Server::start("");
    for length in [
        "18446744073709551615",
        "99999999999999999999999",
        "1000000000000",
    ] {
        let raw = format!(
            "POST /tracks HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\nConnection: close\r\n\r\nabc"
        );
        assert_eq!(server.raw(raw.as_bytes()).status, 413);
    }
    unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) };
    let log = server.wait_for_log("tracksd: reloaded", Duration::from_secs(10));
    assert_eq!(server.get("/").status, 200);
    assert!(!log.contains("panic"), "{log}");
}

/// Issue 17: a socket systemd passes may be public whatever the config's
/// `listen` says; the demo user is not served on it (exit 2, one line).
#[test]
fn the_demo_user_is_refused_on_a_public_activated_socket() {
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let dir = common::temp_dir("demo-activated");
    let config = dir.join("tracksd.toml");
    let shipped = std::fs::read_to_string("config/tracksd.toml").unwrap();
    std::fs::write(
        &config,
        shipped.replace("\"./var\"", &format!("{:?}", dir.join("state"))),
    )
    .unwrap();
    let mut child = spawn_activated(&listener, &config);
    // Killed after 10 s: a server that started instead fails, it does not hang.
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    let log = log_of(&mut child);
    assert_eq!(status.code(), Some(2), "{log}");
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(
        log.contains("key `users`: the demo user \"john\"") && log.contains("served on 0.0.0.0:"),
        "{log}"
    );
}

/// Issue 17: nor may a reload bring the demo user onto a public listener; it
/// fails, names why, and the server goes on with the users it had.
#[test]
fn a_reload_that_would_serve_the_demo_user_publicly_changes_nothing() {
    // Arrange: a public activated socket, served with a test user.
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let dir = common::temp_dir("demo-reload");
    let config = dir.join("tracksd.toml");
    std::fs::write(&config, common::config_text(&dir, "")).unwrap();
    let mut child = spawn_activated(&listener, &config);
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let (log, stderr) = (log.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
                log.lock()
                    .unwrap()
                    .push_str(&(line.unwrap_or_default() + "\n"));
            }
        })
    };
    let wait_for = |wanted: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !log.lock().unwrap().contains(wanted) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        log.lock().unwrap().clone()
    };
    assert!(wait_for("tracksd listening on").contains("(socket activation)"));
    // Act: the shipped development config (john with the demo hash) instead.
    let shipped = std::fs::read_to_string("config/tracksd.toml").unwrap();
    std::fs::write(
        &config,
        shipped.replace("\"./var\"", &format!("{:?}", dir.join("state"))),
    )
    .unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let seen = wait_for("reload failed");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    let _ = reader.join();
    // Assert
    let line = seen.lines().find(|l| l.contains("reload failed"));
    let line = line.unwrap_or_else(|| panic!("no failed reload in:\n{seen}"));
    assert!(
        line.starts_with("tracksd: SIGHUP: reload failed, nothing changed: config error: ")
            && line.contains("key `users`: the demo user \"john\""),
        "{line}"
    );
}
