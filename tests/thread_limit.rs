//! At the thread limit: the two "loop never waits" rows that need a process
//! that cannot start threads. The server runs as `nobody` with a low
//! RLIMIT_NPROC (root ignores the limit), so this needs root, `prlimit` and
//! `setpriv` (util-linux); without them it says so and skips, except in CI.

mod common;
use common::{KeepAlive, Server};
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

/// A server running as nobody with at most `threads` tasks, and its notify socket.
fn start_limited(threads: u32, idle_ms: u32) -> Option<(Server, UnixDatagram)> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let tools = ["prlimit", "setpriv"].iter().all(|t| {
        std::process::Command::new(t)
            .arg("--version")
            .output()
            .is_ok()
    });
    if !root || !tools {
        assert!(
            std::env::var_os("CI").is_none(),
            "needs root, prlimit and setpriv"
        );
        println!("skipped: needs root, prlimit and setpriv");
        return None;
    }
    let dir = common::temp_dir("nproc");
    std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    let config = dir.join("tracksd.toml");
    std::fs::write(
        &config,
        common::config_text(&dir, &format!("[server]\nidle_timeout_ms = {idle_ms}")),
    )
    .unwrap();
    let notify = dir.join("notify");
    let sock = UnixDatagram::bind(&notify).unwrap();
    std::fs::set_permissions(&notify, std::fs::Permissions::from_mode(0o666)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let nproc = format!("--nproc={threads}");
    let wrapper = [
        "prlimit",
        &nproc,
        // The unit's LimitNOFILE.
        "--nofile=1024",
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let env = [
        ("NOTIFY_SOCKET", notify.to_str().unwrap()),
        ("WATCHDOG_USEC", "1000000"),
    ];
    let server = Server::start_wrapped(&dir, &config, &env, &wrapper);
    Some((server.owning(dir), sock))
}

/// Opens up to `n` connections from a thread of its own and holds them (those
/// the kernel takes at all) until the handle is joined and its result dropped.
fn flood(server: &Server, n: usize) -> std::thread::JoinHandle<Vec<TcpStream>> {
    let addr = server.addr;
    std::thread::spawn(move || {
        (0..n)
            .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
            .collect()
    })
}

#[test]
fn at_the_thread_limit_the_loop_answers_and_recovers_without_a_restart() {
    let _serial = common::serial();
    // An idle timeout of 6 s: the held connections, silent, would count as
    // stuck after 7 s and recycle the process, which cuts the open connection
    // this test watches; the flood lasts 6 s.
    let Some((mut server, notify)) = start_limited(40, 6000) else {
        return;
    };
    let pid = server.child.id();
    let mut open = KeepAlive::connect(server.addr);
    assert_eq!(open.get("/healthz").0, 200);
    let flood_started = Instant::now();
    let flooding = flood(&server, 400);
    // /healthz on the connection opened before the flood, and the watchdog.
    let mut worst = Duration::ZERO;
    let (mut pings, mut last_ping, mut longest_silence) = (0, Instant::now(), Duration::ZERO);
    let mut buf = [0u8; 64];
    while flood_started.elapsed() < Duration::from_secs(6) {
        let (status, took) = open.get("/healthz");
        assert_eq!(status, 200);
        worst = worst.max(took);
        while let Ok(n) = notify.recv(&mut buf) {
            if &buf[..n] == b"WATCHDOG=1" {
                pings += 1;
                longest_silence = longest_silence.max(last_ping.elapsed());
                last_ping = Instant::now();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let threads_in_flood = common::proc_status(pid, "Threads");
    let held = flooding.join().unwrap();
    let held_count = held.len();
    drop(held);
    let released = Instant::now();
    let served_after = loop {
        let answered = served_at(server.addr).is_some();
        if answered || released.elapsed() > Duration::from_secs(10) {
            break released.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let alive = server.is_running();
    println!(
        "thread limit 40, flood of {held_count} held connections: /healthz on an open connection worst {worst:?}; {pings} watchdog pings, longest silence {longest_silence:?}; {threads_in_flood} threads; a new client served {served_after:?} after the flood; same process: {alive}"
    );
    assert!(
        worst <= Duration::from_secs(1),
        "{worst:?}\n{}",
        server.log()
    );
    assert!(
        pings >= 4 && longest_silence <= Duration::from_secs(1),
        "{pings} pings, {longest_silence:?}"
    );
    assert!(
        served_after <= Duration::from_secs(2),
        "{served_after:?}\n{}",
        server.log()
    );
    assert!(
        alive && !server.log().contains("stopped"),
        "{}",
        server.log()
    );
}

/// Sends a POST whose 2,000-byte body stops after 100 bytes.
fn slow_post(c: &mut BufReader<TcpStream>) {
    c.get_mut()
        .write_all(b"POST /tracks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    // A refused request may already be answered and its connection closed.
    let _ = c.get_mut().write_all(&[b' '; 100]);
}

/// A keep-alive connection that got `GET /` answered within half a second.
fn served_connection(server: &Server) -> Option<BufReader<TcpStream>> {
    let s = TcpStream::connect_timeout(&server.addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let mut r = BufReader::new(s);
    r.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut status = String::new();
    std::io::BufRead::read_line(&mut r, &mut status).ok()?;
    if !status.starts_with("HTTP/1.1 200") {
        return None;
    }
    let mut rest = String::new();
    while std::io::BufRead::read_line(&mut r, &mut rest).is_ok_and(|n| n > 2) {
        rest.clear();
    }
    let mut body = [0u8; 18];
    r.read_exact(&mut body).ok()?;
    Some(r)
}

#[test]
fn when_no_thread_can_be_had_for_a_body_the_answer_is_503_and_nothing_leaks() {
    let _serial = common::serial();
    let Some((server, _notify)) = start_limited(40, 30_000) else {
        return;
    };
    let pid = server.child.id();
    // Each served keep-alive connection holds a tiny_http thread: open them
    // until no more can be served, i.e. the process is at its thread limit.
    let mut conns: Vec<BufReader<TcpStream>> = Vec::new();
    let mut misses = 0;
    while misses < 3 && conns.len() < 60 {
        match served_connection(&server) {
            Some(c) => conns.push(c),
            None => misses += 1,
        }
    }
    let threads = common::proc_status(pid, "Threads");
    // Each slow body needs a worker; once none is free and none can be started,
    // the request is refused at once rather than queued behind slow bodies.
    let sent = Instant::now();
    for c in &mut conns {
        slow_post(c);
    }
    // Read one by one: a refused one is answered by the time its turn comes
    // (the server's log shows each within a millisecond); a body being read
    // keeps its connection silent, which costs the read timeout (0.5 s) here.
    let mut busy = Vec::new();
    for c in &mut conns {
        let mut first = String::new();
        let t = Instant::now();
        if std::io::BufRead::read_line(c, &mut first).is_ok() && first.contains(" 503 ") {
            let took = t.elapsed();
            let mut rest = String::new();
            while std::io::BufRead::read_line(c, &mut rest).is_ok_and(|n| n > 2) {}
            busy.push((took, rest.to_ascii_lowercase().contains("retry-after")));
        }
    }
    let all_read = sent.elapsed();
    let held = conns.len();
    drop(conns);
    // Their threads end when tiny_http's pools let them go (up to 5 s idle),
    // and until then a new connection may find no thread: dropped unanswered
    // (the accept thread dies and is rebuilt) or, for a body, a 503. Wait for
    // a body to be read again, with a deadline.
    let body = format!(
        r#"{{"id":7,"title":"{}","artist":"a","year":1}}"#,
        "t".repeat(1080)
    );
    let headers = [("Content-Type", "application/json")];
    let post = common::request_bytes("x", "POST", "/tracks", &headers, body.as_bytes());
    let released = Instant::now();
    while status_at(server.addr, &post) != Some(401) {
        assert!(
            released.elapsed() < Duration::from_secs(15),
            "no body read 15 s after the connections closed\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let served_after = released.elapsed();
    // Afterwards every body gets a worker again: nothing was left counted.
    let later: Vec<Option<u16>> = (0..5).map(|_| status_at(server.addr, &post)).collect();
    println!(
        "{held} connections held at the thread limit ({threads} threads), a slow body on each: {} answered 503, each read within {:?} (all read after {all_read:?}); a body read again {served_after:?} after they closed; afterwards: {later:?}",
        busy.len(),
        busy.iter().map(|b| b.0).max()
    );
    assert!(!busy.is_empty(), "no 503: {}", server.log());
    assert!(
        busy.iter()
            .all(|(took, retry)| *took < Duration::from_millis(100) && *retry),
        "{busy:?}"
    );
    assert!(later.iter().all(|s| *s == Some(401)), "{later:?}");
}

/// The unit's limits (TasksMax=512, LimitNOFILE=1024) and one-shot `GET /
/// HTTP/2.0` connections at 60 a second for 20 s: each leaks a tiny_http
/// thread, the limits are reached, the listen queue fills, and leaked threads
/// force a recycle. A new client is tried every 100 ms all along and after;
/// the longest stretch without one served must stay short.
#[test]
fn at_the_units_limits_an_http2_flood_leaves_new_clients_unserved_for_at_most_5_s() {
    let _serial = common::serial();
    let Some((server, _notify)) = start_limited(512, 5000) else {
        return;
    };
    let addr = server.addr;
    let flooding = std::thread::spawn(move || {
        let started = Instant::now();
        let mut sent = 0u32;
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                let _ = s.write_all(b"GET / HTTP/2.0\r\n\r\n");
                sent += 1;
            }
            let due = Duration::from_millis(1000 * u64::from(sent) / 60);
            std::thread::sleep(due.saturating_sub(started.elapsed()));
        }
        sent
    });
    let started = Instant::now();
    let (mut served, mut last_served, mut longest) = (0u32, Instant::now(), Duration::ZERO);
    let mut longest_from = Duration::ZERO;
    loop {
        let ok = served_at(addr).is_some();
        if ok {
            served += 1;
            if last_served.elapsed() > longest {
                longest = last_served.elapsed();
                longest_from = last_served - started;
            }
            last_served = Instant::now();
        }
        // Until one is served after the flood, or 30 s without any.
        if (ok && started.elapsed() >= Duration::from_secs(20))
            || last_served.elapsed() > Duration::from_secs(30)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if last_served.elapsed() > longest {
        longest = last_served.elapsed();
        longest_from = last_served - started;
    }
    let sent = flooding.join().unwrap();
    let recycles = server.log().matches("recycling").count();
    println!(
        "at TasksMax=512/LimitNOFILE=1024, {sent} HTTP/2 one-shot connections in 20 s: {served} new clients served, longest stretch unserved {longest:?} from {longest_from:?} on; {recycles} recycles"
    );
    assert!(
        longest <= Duration::from_secs(5),
        "{longest:?} without serving a new client\n{}",
        server.log()
    );
}

/// A new connection's `GET /`, answered 200 within a second.
fn served_at(addr: std::net::SocketAddr) -> Option<()> {
    let get = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    (status_at(addr, get)? == 200).then_some(())
}

/// The status a new connection got for `request`, if it was answered within 1 s.
fn status_at(addr: std::net::SocketAddr, request: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    s.write_all(request).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    Some(common::HttpResponse::try_parse(&out)?.status)
}
