//! The handler loop never waits: one test per row of the "no client can stall
//! the others" issue, against the real binary. Each prints the figure it
//! measured; the bounds are loose multiples of what a 2-core box shows.

mod common;
use common::{Latencies, Server, measure_gets, open_fds, proc_status};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// These tests measure time and memory: one at a time.
use common::serial;

/// A server whose john has the real, slow hash, optionally run through `wrapper`.
fn start_with_real_hash(wrapper: &[&str]) -> Server {
    let dir = common::temp_dir("realhash");
    let config = dir.join("tracksd.toml");
    let text =
        common::config_text(&dir, "").replace(common::FAST_JOHN_HASH, common::REAL_JOHN_HASH);
    std::fs::write(&config, text).unwrap();
    Server::start_wrapped(&dir, &config, &[], wrapper).owning(dir)
}

/// Two clients log in back to back for `secs` while a third GETs; returns the
/// GET latencies and the login statuses.
fn gets_during_logins(server: &Server, secs: u64) -> (Latencies, Vec<u16>) {
    let stop = Arc::new(AtomicBool::new(false));
    let gets = measure_gets(server.addr, "/tracks", stop.clone());
    let until = Instant::now() + Duration::from_secs(secs);
    let statuses = std::thread::scope(|s| {
        let loggers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut statuses = Vec::new();
                    while Instant::now() < until {
                        statuses.push(server.login("john", "password").status);
                    }
                    statuses
                })
            })
            .collect();
        loggers
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    stop.store(true, Ordering::SeqCst);
    (gets.join().unwrap(), statuses)
}

#[test]
fn two_clients_logging_in_back_to_back_do_not_slow_other_clients() {
    let _serial = serial();
    let server = start_with_real_hash(&[]);
    let (lat, logins) = gets_during_logins(&server, 4);
    println!(
        "GETs while 2 clients log in (600,000 rounds): {}; {} logins",
        lat.summary(),
        logins.len()
    );
    assert!(
        !logins.is_empty() && logins.iter().all(|s| *s == 200),
        "{logins:?}"
    );
    assert!(
        lat.pct_ms(50.0) <= 5.0 && lat.pct_ms(99.0) <= 25.0,
        "{}",
        lat.summary()
    );
}

#[test]
fn logins_on_one_cpu_do_not_starve_the_loop() {
    let _serial = serial();
    if std::process::Command::new("taskset")
        .arg("-V")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "taskset (util-linux) is missing"
        );
        println!("skipped: no taskset");
        return;
    }
    let server = start_with_real_hash(&["taskset", "-c", "0"]);
    let (lat, logins) = gets_during_logins(&server, 4);
    println!(
        "GETs while 2 clients log in, server pinned to one CPU: {}; {} logins",
        lat.summary(),
        logins.len()
    );
    assert!(
        !logins.is_empty() && logins.iter().all(|s| *s == 200),
        "{logins:?}"
    );
    assert!(lat.pct_ms(99.0) <= 50.0, "{}", lat.summary());
}

#[test]
fn forty_simultaneous_wrong_passwords_cost_at_most_the_free_attempts() {
    let _serial = serial();
    let server = start_with_real_hash(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let gets = measure_gets(server.addr, "/tracks", stop.clone());
    let started = Instant::now();
    let barrier = std::sync::Barrier::new(40);
    let answers: Vec<(u16, bool, Duration)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..40)
            .map(|i| {
                let (server, barrier) = (&server, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let r = server.login(&format!("guess{i}"), "wrong");
                    (
                        r.status,
                        r.header("retry-after").is_some(),
                        started.elapsed(),
                    )
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    stop.store(true, Ordering::SeqCst);
    let lat = gets.join().unwrap();
    let count = |status| answers.iter().filter(|a| a.0 == status).count();
    let hashed = count(401);
    println!(
        "40 wrong passwords at once: {hashed} x 401 (hashed), {} x 429, {} x 503, last answer after {:?}; GETs meanwhile: {}",
        count(429),
        count(503),
        answers.iter().map(|a| a.2).max().unwrap(),
        lat.summary()
    );
    for (status, retry_after, took) in &answers {
        assert!([401, 429, 503].contains(status), "{status}");
        assert!(
            *status == 401 || *retry_after,
            "{status} without Retry-After"
        );
        assert!(*took <= Duration::from_secs(60));
    }
    // Free attempts (5) plus the login queue (8) at the very most.
    assert!((1..=13).contains(&hashed), "{hashed} hashes");
    assert!(
        lat.pct_ms(50.0) <= 5.0 && lat.pct_ms(99.0) <= 25.0,
        "{}",
        lat.summary()
    );
}

/// A connection that pipelines `count` requests for big pages and never reads.
/// (A tiny receive buffer would fill sooner, but on loopback its window never
/// reaches one segment, and the test's own reads at the end would crawl.)
fn stuck_reader(server: &Server, count: usize) -> TcpStream {
    let s = TcpStream::connect(server.addr).unwrap();
    let one = format!(
        "GET /tracks?limit=1000 HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    );
    (&s).write_all(one.repeat(count).as_bytes()).unwrap();
    s
}

#[test]
fn clients_that_pipeline_big_responses_and_never_read_stall_nobody() {
    let _serial = serial();
    let idle = Duration::from_millis(2000);
    let server = Server::start("[server]\nidle_timeout_ms = 2000");
    let cookie = server.login("john", "password").cookie().unwrap();
    let field = "x".repeat(200);
    for id in 100..300 {
        let body = format!(
            r#"{{"id":{id},"title":"{field}","artist":"{field}","album":"{field}","year":2000,"label":"{field}"}}"#
        );
        let headers = [
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/json"),
        ];
        assert_eq!(
            server
                .request("POST", "/tracks", &headers, body.as_bytes())
                .status,
            200
        );
    }
    let page = server.get("/tracks?limit=1000").body.len();
    let pid = server.child.id();
    for stuck in [1, 20] {
        let (threads0, fds0, rss0) = (
            proc_status(pid, "Threads"),
            open_fds(pid),
            proc_status(pid, "VmRSS"),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let gets = measure_gets(server.addr, "/tracks/1", stop.clone());
        let sockets: Vec<TcpStream> = (0..stuck).map(|_| stuck_reader(&server, 200)).collect();
        let started = Instant::now();
        let (mut threads_max, mut rss_max) = (0, 0);
        while started.elapsed() < idle + Duration::from_millis(1500) {
            threads_max = threads_max.max(proc_status(pid, "Threads"));
            rss_max = rss_max.max(proc_status(pid, "VmRSS"));
            std::thread::sleep(Duration::from_millis(50));
        }
        let fds_after = open_fds(pid);
        stop.store(true, Ordering::SeqCst);
        let lat = gets.join().unwrap();
        // What each stuck client got before it was cut: far fewer than 200 pages.
        // Each was cut: reading what reached it ends in EOF or a reset at once.
        let received: Vec<(usize, String)> = sockets
            .into_iter()
            .map(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut all = Vec::new();
                let end = match s.read_to_end(&mut all) {
                    Ok(_) => "eof".to_string(),
                    Err(e) => format!("{:?}", e.kind()),
                };
                (all.len() / page.max(1), end)
            })
            .collect();
        println!(
            "{stuck} clients pipelining 200 x {page} B pages without reading: others' GETs {}; threads {threads0} -> max {threads_max}; RSS {rss0} -> max {rss_max} KiB; fds {fds0} -> {fds_after} after {:?}; pages each got: {received:?}",
            lat.summary(),
            idle + Duration::from_millis(1500)
        );
        assert!(
            lat.pct_ms(50.0) <= 5.0 && lat.pct_ms(99.0) <= 50.0,
            "{}",
            lat.summary()
        );
        assert!(
            threads_max <= threads0 + 2 * stuck as u64 + 16,
            "threads {threads_max}"
        );
        assert!(rss_max <= rss0 + 48 * 1024, "RSS {rss_max} KiB");
        assert!(
            fds_after <= fds0 + 6,
            "stuck connections still open: {fds0} -> {fds_after}"
        );
        assert!(
            received
                .iter()
                .all(|(n, end)| *n < 100 && (end == "eof" || end == "ConnectionReset")),
            "{received:?}"
        );
    }
    assert!(
        server.log().contains("closed the connection from"),
        "{}",
        server.log()
    );
}

#[test]
fn a_pipelined_post_with_a_body_and_a_get_never_hang_the_server() {
    let _serial = serial();
    let server = Server::start("");
    let body = format!(
        r#"{{"id":7,"title":"{}","artist":"a","year":1}}"#,
        "t".repeat(1080)
    );
    assert!(body.len() >= 1100);
    for round in 0..15 {
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let raw = format!(
            "POST /tracks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}GET /tracks/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(raw.as_bytes()).unwrap();
        let mut reader = std::io::BufReader::new(s);
        let first = common::read_response(&mut reader).0;
        let second = common::read_response(&mut reader).0;
        assert_eq!((first, second), (401, 200), "round {round}");
    }
    let t = Instant::now();
    assert_eq!(server.get("/").status, 200);
    println!(
        "15 pipelined POST(1,100 B)+GET pairs answered in order; a later client served in {:?}",
        t.elapsed()
    );
}

#[test]
fn a_connection_pipelining_150000_requests_is_cut_off_with_bounded_memory() {
    let _serial = serial();
    let server = Server::start("");
    let pid = server.child.id();
    let rss0 = proc_status(pid, "VmRSS");
    let stop = Arc::new(AtomicBool::new(false));
    let gets = measure_gets(server.addr, "/tracks/1", stop.clone());
    let sent = Arc::new(AtomicUsize::new(0));
    let flood = {
        let (addr, sent) = (server.addr, sent.clone());
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let one = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
            for _ in 0..150 {
                if s.write_all(&one).is_err() {
                    return true;
                }
                sent.fetch_add(1000, Ordering::SeqCst);
            }
            // All sent: the server must still have cut us off (we never read):
            // what it wrote before ends in EOF or a reset, not a timeout.
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut sink = vec![0u8; 1 << 16];
            loop {
                match s.read(&mut sink) {
                    Ok(0) => return true,
                    Ok(_) => {}
                    Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
                }
            }
        })
    };
    let started = Instant::now();
    let mut rss_max = rss0;
    while !flood.is_finished() && started.elapsed() < Duration::from_secs(40) {
        rss_max = rss_max.max(proc_status(pid, "VmRSS"));
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    let lat = gets.join().unwrap();
    let cut = flood.is_finished() && flood.join().unwrap();
    println!(
        "one connection pipelining up to 150,000 GET / ({} sent): RSS {rss0} -> max {rss_max} KiB; others' GETs {}; cut off after {:?}",
        sent.load(Ordering::SeqCst),
        lat.summary(),
        started.elapsed()
    );
    assert!(cut, "the flooding connection was not cut off");
    assert!(
        server.log().contains("pipelined too many requests"),
        "{}",
        server.log()
    );
    assert!(
        rss_max <= rss0 + 32 * 1024,
        "RSS grew {} KiB",
        rss_max - rss0
    );
    // The cut can come within 20 ms, leaving only a handful of samples taken
    // while the loop was busy with the flood: a median of five says nothing,
    // and CI saw 7.5 ms on all four. What matters is that nobody waited on the
    // flooder (that stalls the others for a write timeout, 1.7 s, or until the
    // 20 s read timeout): the worst GET stays under a second. CI's worst was
    // 8 ms; a loaded 2-core machine once showed 210 ms (the GET thread waiting
    // for a CPU), so a tighter bound would fail on scheduling, not on the loop.
    assert!(lat.pct_ms(100.0) <= 1000.0, "{}", lat.summary());
}

#[test]
fn http2_request_lines_leak_nothing_for_long_and_no_connection_is_refused() {
    let _serial = serial();
    let server = Server::start("[server]\nidle_timeout_ms = 1000");
    let pid = server.child.id();
    for _ in 0..5 {
        assert_eq!(server.get("/").status, 200);
    }
    std::thread::sleep(Duration::from_millis(500));
    let (threads0, fds0) = (proc_status(pid, "Threads"), open_fds(pid) as u64);
    // A client that opens a new connection every 50 ms all along.
    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let (addr, stop) = (server.addr, stop.clone());
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0, Vec::new());
            while !stop.load(Ordering::SeqCst) {
                let answer = TcpStream::connect(addr).and_then(|mut s| {
                    s.set_read_timeout(Some(Duration::from_secs(10)))?;
                    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                    let mut out = Vec::new();
                    s.read_to_end(&mut out)?;
                    Ok(out)
                });
                match answer {
                    Ok(out) if out.starts_with(b"HTTP/1.1 200") => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (ok, failed)
        })
    };
    for i in 0..150 {
        let mut s = TcpStream::connect(server.addr).unwrap();
        let line: &[u8] = if i % 2 == 0 {
            b"GET / HTTP/2.0\r\n\r\n"
        } else {
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        };
        s.write_all(line).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let (threads_peak, fds_peak) = (proc_status(pid, "Threads"), open_fds(pid) as u64);
    let started = Instant::now();
    let back = loop {
        let (t, f) = (proc_status(pid, "Threads"), open_fds(pid) as u64);
        if t <= threads0 + 20 && f <= fds0 + 20 {
            break Some(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(30) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let (ok, failed) = prober.join().unwrap();
    println!(
        "150 HTTP/2 request lines: threads {threads0} -> {threads_peak}, fds {fds0} -> {fds_peak}; back within 20 after {back:?}; prober: {ok} answered, {} failed",
        failed.len()
    );
    assert!(back.is_some(), "threads/fds not back: {}", server.log());
    assert!(
        failed.is_empty(),
        "refused or failed: {failed:?}\n{}",
        server.log()
    );
    assert!(ok > 0);
}
