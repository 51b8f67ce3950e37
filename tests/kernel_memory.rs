//! What clients that never read cost in the kernel (issue 20, point 2): TCP
//! memory (/proc/net/sockstat) stays bounded however many big pages they ask
//! for, and comes back once they go.

mod common;
use common::{Server, connect_with, serial, tcp_kernel_memory};
use std::io::Write;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

/// `n` tracks of about 1.5 KB of JSON each, as a restore body (a field may
/// have 200 characters: these are 3 bytes each).
fn catalogue(n: usize) -> String {
    let field = "€".repeat(120);
    let tracks: Vec<String> = (1..=n)
        .map(|id| {
            format!(
                r#"{{"id":{id},"title":"{field}","artist":"{field}","album":"{field}","year":2000,"label":"{field}"}}"#
            )
        })
        .collect();
    format!("[{}]", tracks.join(","))
}

/// The TCP memory level with nothing of ours going on: the least of a few
/// samples (other tests on the machine only ever add to it).
fn quiet_level() -> u64 {
    (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            tcp_kernel_memory()
        })
        .min()
        .unwrap()
}

#[test]
fn two_hundred_clients_that_never_read_a_big_page_leave_tcp_memory_bounded() {
    let _serial = serial();
    let idle_timeout = Duration::from_millis(3000);
    let server = Server::start(
        "[server]\nidle_timeout_ms = 3000\n[tracks]\nmax_tracks = 2000\nmax_catalogue_bytes = 4194304\n",
    );
    let cookie = server.login("john", "password").cookie().unwrap();
    let restore = server.request(
        "PUT",
        "/tracks",
        &[
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/json"),
        ],
        catalogue(1000).as_bytes(),
    );
    assert_eq!(restore.status, 200, "{}", restore.text());
    let page = server.get("/tracks?limit=1000").body.len();
    assert!(page >= 1_400_000, "page of {page} B");

    let idle = quiet_level();
    let request = format!(
        "GET /tracks?limit=1000 HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    );
    let clients: Vec<_> = (0..200)
        .map(|_| {
            let mut s = connect_with(server.addr, None, Some(4096)).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            s
        })
        .collect();
    // Held open (never read) for twice the idle timeout: long enough for every
    // response to be handed over, and for each write to time out.
    let held = Instant::now();
    let mut peak = 0;
    while held.elapsed() < 2 * idle_timeout {
        peak = peak.max(tcp_kernel_memory());
        std::thread::sleep(Duration::from_millis(20));
    }
    let before_close = tcp_kernel_memory();
    drop(clients);
    let gone = Instant::now();
    let slack = 4 * MIB;
    let mut after = tcp_kernel_memory();
    while after > idle + slack && gone.elapsed() < 2 * idle_timeout {
        std::thread::sleep(Duration::from_millis(50));
        after = tcp_kernel_memory();
    }
    let back_in = gone.elapsed();
    let mib = |b: u64| b as f64 / MIB as f64;
    println!(
        "200 clients (SO_RCVBUF 4096) never reading a {page} B page: TCP memory idle {:.1} MiB, \
         peak {:.1} MiB (+{:.1}), {:.1} MiB when they closed, {:.1} MiB {back_in:?} after",
        mib(idle),
        mib(peak),
        mib(peak.saturating_sub(idle)),
        mib(before_close),
        mib(after)
    );
    assert!(
        peak <= idle + 64 * MIB,
        "TCP memory peaked {:.1} MiB above idle",
        mib(peak - idle)
    );
    assert!(
        after <= idle + slack,
        "TCP memory still {:.1} MiB above idle {back_in:?} after the clients went",
        mib(after - idle)
    );
}
