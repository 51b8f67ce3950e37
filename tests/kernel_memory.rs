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

const IDLE_TIMEOUT: Duration = Duration::from_millis(3000);

/// A server (idle timeout 3 s) with 1,000 tracks of about 1.5 KB each.
fn server_with_a_big_catalogue() -> Server {
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
    server
}

/// 200 clients with a 4 KiB receive buffer that send `GET target` and never read.
fn non_readers(server: &Server, target: &str) -> Vec<std::net::TcpStream> {
    let request = format!("GET {target} HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    (0..200)
        .map(|_| {
            let mut s = connect_with(server.addr, None, Some(4096)).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            s
        })
        .collect()
}

/// What the sockets of `port` (both ends, orphans included) hold, by `ss -tm`
/// (receive + send queues + forward allocation), if `ss` is there: only
/// printed, to tell our sockets from the rest of the machine in sockstat.
fn ours(port: u16) -> Option<u64> {
    let out = std::process::Command::new("ss")
        .args(["-tmanH", &format!("sport = :{port} or dport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |skmem: &str, key: char| -> u64 {
        skmem
            .split(',')
            .find_map(|f| f.strip_prefix(key)?.parse().ok())
            .unwrap_or(0)
    };
    Some(
        text.split("skmem:(")
            .skip(1)
            .map(|rest| {
                let skmem = rest.split(')').next().unwrap_or("");
                field(skmem, 'r') + field(skmem, 'w') + field(skmem, 'f')
            })
            .sum(),
    )
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

#[test]
fn two_hundred_clients_that_never_read_a_big_page_leave_tcp_memory_bounded() {
    let _serial = serial();
    let idle_timeout = IDLE_TIMEOUT;
    let server = server_with_a_big_catalogue();
    let page = server.get("/tracks?limit=1000").body.len();
    assert!(page >= 1_400_000, "page of {page} B");

    let idle = quiet_level();
    let clients = non_readers(&server, "/tracks?limit=1000");
    // Held open (never read) for twice the idle timeout: long enough for every
    // response to be handed over, and for each write to time out.
    let held = Instant::now();
    let (mut peak, mut ours_peak, mut next_ss) = (0, 0, held);
    while held.elapsed() < 2 * idle_timeout {
        peak = peak.max(tcp_kernel_memory());
        if Instant::now() >= next_ss {
            ours_peak = ours_peak.max(ours(server.addr.port()).unwrap_or(0));
            next_ss = Instant::now() + Duration::from_millis(250);
        }
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
    println!(
        "200 clients (SO_RCVBUF 4096) never reading a {page} B page: TCP memory idle {:.1} MiB, \
         peak {:.1} MiB (+{:.1}; our sockets' own peak by ss: {:.1} MiB), {:.1} MiB when \
         they closed, {:.1} MiB {back_in:?} after",
        mib(idle),
        mib(peak),
        mib(peak.saturating_sub(idle)),
        mib(ours_peak),
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

/// A page that fits the send buffer is handed over whole; tiny_http then closes
/// the idle connection, and the socket, an orphan in FIN-WAIT-1 with the page
/// unread, would hold it for minutes. `TCP_USER_TIMEOUT` resets it.
#[test]
fn pages_handed_to_clients_that_never_read_nor_close_are_dropped_within_twice_the_idle_timeout() {
    let _serial = serial();
    let server = server_with_a_big_catalogue();
    let page = server.get("/tracks?limit=60").body.len();
    assert!((60_000..120_000).contains(&page), "page of {page} B");
    let idle = quiet_level();
    let clients = non_readers(&server, "/tracks?limit=60");
    let sent = Instant::now();
    let slack = 4 * MIB;
    let (mut peak, mut now) = (0, tcp_kernel_memory());
    while (now > idle + slack || sent.elapsed() < Duration::from_millis(500))
        && sent.elapsed() < 2 * IDLE_TIMEOUT
    {
        std::thread::sleep(Duration::from_millis(50));
        now = tcp_kernel_memory();
        peak = peak.max(now);
    }
    let back_in = sent.elapsed();
    println!(
        "200 clients (SO_RCVBUF 4096) never reading nor closing a {page} B page: TCP memory \
         idle {:.1} MiB, peak {:.1} MiB (+{:.1}), {:.1} MiB {back_in:?} after",
        mib(idle),
        mib(peak),
        mib(peak.saturating_sub(idle)),
        mib(now)
    );
    assert!(
        now <= idle + slack,
        "TCP memory still {:.1} MiB above idle {back_in:?} after the requests",
        mib(now - idle)
    );
    drop(clients);
}
