//! Writes never delay reads: each write's whole-file rewrite and fsync runs on
//! the writer thread (group commit), and only that write's response waits for it.

mod common;
use common::{Server, measure_gets, serial};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Sends one request on a keep-alive connection and reads its status and body.
fn exchange(
    c: &mut BufReader<TcpStream>,
    method: &str,
    target: &str,
    cookie: &str,
    body: &str,
) -> u16 {
    let raw = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.get_mut().write_all(raw.as_bytes()).unwrap();
    common::read_response(c).0
}

/// A writer: POST, PUT and DELETE of its own tracks until `stop`; returns how many.
fn writer(addr: SocketAddr, cookie: String, base: i64, stop: Arc<AtomicBool>) -> u64 {
    let s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut c = BufReader::new(s);
    let mut done = 0;
    let mut id = base;
    while !stop.load(Ordering::SeqCst) {
        id += 1;
        let track = format!(r#"{{"id":{id},"title":"t","artist":"a","year":2000}}"#);
        assert_eq!(exchange(&mut c, "POST", "/tracks", &cookie, &track), 200);
        let path = format!("/tracks/{id}");
        let changed = format!(r#"{{"id":{id},"title":"u","artist":"a","year":2001}}"#);
        assert_eq!(exchange(&mut c, "PUT", &path, &cookie, &changed), 200);
        if id % 2 == 0 {
            assert_eq!(exchange(&mut c, "DELETE", &path, &cookie, ""), 204);
            done += 1;
        }
        done += 2;
    }
    done
}

#[test]
fn eight_writers_do_not_slow_other_clients_reads() {
    let _serial = serial();
    let server = Server::start("");
    let cookie = server.login("john", "password").cookie().unwrap();
    let run = |writers: i64| {
        let stop = Arc::new(AtomicBool::new(false));
        let gets = measure_gets(server.addr, "/tracks/1", stop.clone());
        let started = Instant::now();
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (addr, cookie, stop) = (server.addr, cookie.clone(), stop.clone());
                let base = (w + 1) * 10_000_000 + writers * 1_000_000;
                std::thread::spawn(move || writer(addr, cookie, base, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_secs(5));
        stop.store(true, Ordering::SeqCst);
        let writes: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        let took = started.elapsed();
        (gets.join().unwrap(), writes as f64 / took.as_secs_f64())
    };
    let (quiet, _) = run(0);
    let (busy, per_s) = run(8);
    println!(
        "GET /tracks/1 with no writers: {}; with 8 keep-alive writers ({per_s:.0} writes/s, \
         each answered after its fsync): {}",
        quiet.summary(),
        busy.summary()
    );
    assert!(busy.pct_ms(50.0) <= 1.0, "{}", busy.summary());
    assert!(busy.pct_ms(99.0) <= 10.0, "{}", busy.summary());
    // Acknowledged means durable: the file holds what GET shows.
    let file = std::fs::read(server.dir.join("state/tracks.json")).unwrap();
    let export = server.raw(b"GET /tracks/export HTTP/1.0\r\nHost: x\r\n\r\n");
    assert_eq!(file, export.body);
}
