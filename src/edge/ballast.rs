//! Keeps tiny-http's pool from starving bursts of new connections.
//!
//! tiny-http's `TaskPool` runs one connection per thread until it closes. When a
//! connection arrives while the pool counts an idle thread, it is queued rather
//! than given a new thread, and that count is read before woken threads take
//! their work: in a burst, several connections queue behind one idle thread and
//! wait until some other connection closes (measured without this module: 64 new
//! keep-alive connections, idle timeout 5 s → 30 of 64 unanswered after 10 s).
//!
//! The ballast holds a few connections of its own to the listener. At rest it
//! replaces one now and then, so the pool's permanent threads stay busy and a
//! burst finds no idle thread to queue behind. When the edge reports a new
//! connection, it replaces all of them every millisecond for a short while: each
//! close frees a thread, which first takes a connection still waiting in the queue.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// tiny-http's `MIN_THREADS`: the threads that never exit when idle.
const CONNECTIONS: usize = 4;
/// How long fast rotation lasts after a new connection was seen.
const BURST_WINDOW: Duration = Duration::from_millis(250);
const FAST: Duration = Duration::from_millis(1);

/// What the edge and the ballast share.
pub struct Ballast {
    started: Instant,
    /// When the edge last saw a new connection, in ms since `started`.
    last_new_connection_ms: AtomicU64,
    stop: AtomicBool,
    /// Wakes the ballast out of its slow sleep when a burst begins.
    wake: (Mutex<()>, Condvar),
}

impl Ballast {
    /// A ballast for a listener at `listen`, whose connections the edge closes
    /// after `socket_timeout` of silence.
    pub fn start(listen: SocketAddr, socket_timeout: Duration) -> std::io::Result<Arc<Ballast>> {
        let ballast = Arc::new(Ballast {
            started: Instant::now(),
            last_new_connection_ms: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            wake: (Mutex::new(()), Condvar::new()),
        });
        let target = SocketAddr::new(loopback_for(listen.ip()), listen.port());
        // Each of our connections must be replaced before the edge closes it.
        let slow = (socket_timeout / (2 * CONNECTIONS as u32)).max(FAST);
        let for_thread = ballast.clone();
        std::thread::Builder::new()
            .name("ballast".into())
            .spawn(move || for_thread.run(target, slow))?;
        Ok(ballast)
    }

    /// The edge saw a connection it had not seen before: a burst may be queued.
    pub fn new_connection(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        let was_burst = self.in_burst();
        self.last_new_connection_ms
            .store(now.max(1), Ordering::Relaxed);
        if !was_burst {
            self.wake.1.notify_one();
        }
    }

    /// Closes the ballast's connections and ends its thread.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    fn in_burst(&self) -> bool {
        let last = self.last_new_connection_ms.load(Ordering::Relaxed);
        last > 0
            && self.started.elapsed().as_millis() as u64 <= last + BURST_WINDOW.as_millis() as u64
    }

    fn run(&self, target: SocketAddr, slow: Duration) {
        let mut conns: VecDeque<TcpStream> = VecDeque::with_capacity(2 * CONNECTIONS);
        while !self.stop.load(Ordering::SeqCst) {
            let burst = self.in_burst();
            // Close the oldest first, then connect: the freed thread takes a
            // connection still queued (FIFO) or else our new one at once, so the
            // pool is left with no idle thread for a burst to queue behind.
            if conns.len() >= CONNECTIONS {
                conns.pop_front();
            }
            while conns.len() < CONNECTIONS {
                match TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
                    Ok(c) => conns.push_back(c),
                    Err(_) => break,
                }
            }
            if burst {
                std::thread::sleep(FAST);
            } else if let Ok(guard) = self.wake.0.lock() {
                let _ = self.wake.1.wait_timeout(guard, slow);
            }
        }
    }
}

/// Where to connect for a listener bound to `ip` (a wildcard means loopback).
pub(crate) fn loopback_for(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listeners_are_reached_on_loopback() {
        assert_eq!(
            loopback_for("0.0.0.0".parse().unwrap()),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            loopback_for("::".parse().unwrap()),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
        assert_eq!(
            loopback_for("192.168.1.5".parse().unwrap()),
            "192.168.1.5".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn a_new_connection_opens_a_burst_window() {
        let b = Ballast {
            started: Instant::now(),
            last_new_connection_ms: AtomicU64::new(0),
            stop: AtomicBool::new(true),
            wake: (Mutex::new(()), Condvar::new()),
        };
        assert!(!b.in_burst());
        b.new_connection();
        assert!(b.in_burst());
    }
}
