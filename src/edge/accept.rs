//! The tiny_http servers on our listening socket: starting one, knowing whether
//! its accept thread still runs, retiring it, and rebuilding after it died.
//!
//! tiny_http's accept thread ends on any `accept()` error (including the timeout
//! our listener carries for its connections' sake) and dies of a panic when a
//! socket clone or a thread spawn fails. Each server gets its own dup of the
//! listening socket, which its accept thread owns and closes when it ends,
//! however it ends: so the thread is alive while that fd still is our socket.
//! That is checked at every tick, instead of recognising panic sites.
//!
//! The listening socket itself is never shut down: systemd holds it too, and
//! connections queued on it during a restart belong to the next process.
//!
//! A replaced server still has connections: a drain thread forwards their
//! requests to the loop until they are all closed. Where no thread can be had,
//! the server is an orphan, polled from the loop's ticks instead.

use super::events::{Event, Mailbox};
use super::sockets::{self, SocketId};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long rebuilding may keep failing before the process exits for restart.
pub(crate) const REBUILD_GIVE_UP: Duration = Duration::from_secs(60);

pub(crate) struct AcceptSide {
    listener: TcpListener,
    id: SocketId,
    /// The current server's accept thread's fd, and when it started.
    current: Option<(RawFd, Instant)>,
    rebuild: Option<Rebuild>,
    /// Replaced servers no drain thread could be started for, and when each
    /// last delivered a request.
    orphans: Vec<(Arc<tiny_http::Server>, Instant)>,
}

/// The accept side died and is not rebuilt yet.
struct Rebuild {
    since: Instant,
    next_try: Instant,
    backoff: Duration,
}

/// Threads a tiny_http server starts: its accept thread and four pool threads.
const SERVER_THREADS: usize = 5;

/// Threads to be had beyond those before a rebuild: one per connection that
/// the new accept thread takes off the queue at once. A server rebuilt with no
/// room for them dies on its first connection (its spawn panics) and drops it
/// unanswered: measured, a rebuild every 60 ms for as long as threads were short.
const CONNECTION_HEADROOM: usize = 4;

/// Whether `n` more threads can be started now: starts that many, each held
/// until all are started (so they count together), then all end at once
/// (nothing waits for them).
fn threads_available(n: usize) -> bool {
    let gate = std::sync::Arc::new(std::sync::RwLock::new(()));
    let held = gate.write();
    let all = (0..n).all(|_| {
        let gate = gate.clone();
        std::thread::Builder::new()
            .name("probe".into())
            .stack_size(16 * 1024)
            .spawn(move || drop(gate.read()))
            .is_ok()
    });
    drop(held);
    all
}

/// What a rebuild attempt came to.
pub(crate) enum Rebuilt {
    NotDue,
    Started(tiny_http::Server),
    GaveUp(std::io::Error),
}

impl AcceptSide {
    pub(crate) fn new(listener: TcpListener) -> std::io::Result<AcceptSide> {
        let id = sockets::socket_id(listener.as_raw_fd())
            .ok_or_else(|| std::io::Error::other("the listening socket is not open"))?;
        Ok(AcceptSide {
            listener,
            id,
            current: None,
            rebuild: None,
            orphans: Vec::new(),
        })
    }

    /// Starts a tiny_http server (its accept thread and pool) on a dup of the
    /// socket. tiny_http panics when it cannot spawn its thread: an error here.
    pub(crate) fn start(&mut self) -> std::io::Result<tiny_http::Server> {
        let tcp = self.listener.try_clone()?;
        let fd = tcp.as_raw_fd();
        let server = super::panics::catch_quietly(|| tiny_http::Server::from_listener(tcp, None))
            .ok_or_else(|| std::io::Error::other("cannot start an accept thread"))?
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.current = Some((fd, Instant::now()));
        self.rebuild = None;
        Ok(server)
    }

    /// Whether the current server's accept thread still runs (see the module doc).
    pub(crate) fn is_alive(&self) -> bool {
        self.current
            .is_some_and(|(fd, _)| sockets::socket_id(fd) == Some(self.id))
    }

    /// The accept thread ended (an error from its queue, or [`Self::is_alive`]
    /// said so): schedule a rebuild. A server that died at once (EMFILE and the
    /// like) is not rebuilt in a tight loop.
    pub(crate) fn died(&mut self, now: Instant) {
        let died_young = self
            .current
            .is_some_and(|(_, started)| started.elapsed() < Duration::from_millis(100));
        self.current = None;
        let pause = if died_young {
            Duration::from_millis(50)
        } else {
            Duration::ZERO
        };
        self.rebuild.get_or_insert(Rebuild {
            since: now,
            next_try: now + pause,
            backoff: Duration::from_millis(10),
        });
    }

    /// Whether a rebuild is pending (the loop then ticks often).
    pub(crate) fn rebuilding(&self) -> bool {
        self.rebuild.is_some()
    }

    /// Tries a pending rebuild if it is due. At the thread limit a server
    /// cannot get its threads, and a failed start is worse than none: the accept
    /// thread dies, and the pool threads it did get linger for 5 s (tiny_http's
    /// idle timeout), so rebuilding every second would keep the limit reached
    /// for good. So it first checks that the threads can be had.
    pub(crate) fn try_rebuild(&mut self, now: Instant) -> Rebuilt {
        match &self.rebuild {
            Some(r) if now >= r.next_try => {}
            _ => return Rebuilt::NotDue,
        }
        if !threads_available(SERVER_THREADS + CONNECTION_HEADROOM) {
            let r = self.rebuild.as_mut().expect("checked above");
            if r.since.elapsed() > REBUILD_GIVE_UP {
                return Rebuilt::GaveUp(std::io::Error::other("no threads to accept with"));
            }
            r.next_try = now + Duration::from_millis(100);
            return Rebuilt::NotDue;
        }
        match self.start() {
            Ok(server) => Rebuilt::Started(server),
            Err(e) => {
                let r = self.rebuild.as_mut().expect("checked above");
                if r.since.elapsed() > REBUILD_GIVE_UP {
                    return Rebuilt::GaveUp(e);
                }
                r.next_try = now + r.backoff;
                r.backoff = (r.backoff * 2).min(Duration::from_secs(1));
                Rebuilt::NotDue
            }
        }
    }

    /// A replaced server still has connections: a thread forwards their
    /// requests to `mailbox` until none came for `idle` (the idle timeout:
    /// they are all closed), then drops it (which connects to ourselves).
    pub(crate) fn drain(&mut self, old: Arc<tiny_http::Server>, mailbox: Mailbox, idle: Duration) {
        // The server goes to the thread through a slot, not the closure: a
        // failed spawn drops its closure (the server with it, on the loop: a
        // connect), and a clone kept here could be the last reference once the
        // thread ends. The thread takes it out, so the loop never drops it.
        let slot = Arc::new(std::sync::Mutex::new(Some(old)));
        let for_thread = slot.clone();
        let spawned = std::thread::Builder::new()
            .name("drain".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let Some(server) = for_thread.lock().ok().and_then(|mut s| s.take()) else {
                    return;
                };
                // An error is its accept thread's end, which may come after
                // the replacement (a tick saw its socket closed before the
                // loop took the error): its connections still send requests.
                loop {
                    match server.recv_timeout(idle) {
                        Ok(Some(rq)) => mailbox.send(Event::Request(rq)),
                        Ok(None) => break,
                        Err(_) => continue,
                    }
                }
            });
        if spawned.is_err()
            && let Some(old) = slot.lock().ok().and_then(|mut s| s.take())
        {
            self.orphans.push((old, Instant::now()));
        }
    }

    /// Whether a replaced server is polled from ticks (the loop then ticks often).
    pub(crate) fn has_orphans(&self) -> bool {
        !self.orphans.is_empty()
    }

    /// What the orphaned servers have delivered, and those quiet for twice
    /// `idle`, to be dropped off the loop (a drop connects to ourselves).
    pub(crate) fn poll_orphans(
        &mut self,
        now: Instant,
        idle: Duration,
    ) -> (Vec<tiny_http::Request>, Vec<Arc<tiny_http::Server>>) {
        let mut requests = Vec::new();
        for (server, last) in &mut self.orphans {
            while let Ok(Some(rq)) = server.try_recv() {
                requests.push(rq);
                *last = now;
            }
        }
        let (quiet, busy) = std::mem::take(&mut self.orphans)
            .into_iter()
            .partition(|(_, last)| now.duration_since(*last) > idle * 2);
        self.orphans = busy;
        (requests, quiet.into_iter().map(|(s, _)| s).collect())
    }

    /// The listening socket, to hand to the next image of this process (or to
    /// close at exit). The orphans are left undropped, like the loop's server
    /// (`HandlerLoop::run`).
    pub(crate) fn into_listener(mut self) -> TcpListener {
        std::mem::forget(std::mem::take(&mut self.orphans));
        self.listener
    }

    /// Makes the current accept thread end without touching the socket (see
    /// `sockets::retire_listener_fd`) and gives up any pending rebuild. Returns
    /// whether a thread may still be waiting in `accept()`: then one connection
    /// to ourselves wakes it.
    pub(crate) fn retire(&mut self) -> bool {
        self.rebuild = None;
        let Some((fd, _)) = self.current.take() else {
            return false;
        };
        sockets::retire_listener_fd(fd, self.id).is_ok()
    }
}
