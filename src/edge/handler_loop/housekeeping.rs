//! The loop's housekeeping: ticks (watchdog, log flush, leak scans, pruning),
//! the accept side (a died accept thread, rebuilds, replaced servers drained),
//! stopping and recycling, and SIGHUP.

use super::super::accept::Rebuilt;
use super::super::recycle::RECYCLE_AT;
use super::super::sockets::Connection;
use super::super::{flow, sd_notify};
use super::{DRAIN_FOR, FAST_TICK, HandlerLoop, MAX_TICK, Stopping, Then};
use crate::errors::RuntimeError;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

impl HandlerLoop<'_> {
    /// A descriptor scan: the request path remembers descriptors; the process
    /// recycles when too many connections are stuck.
    pub(super) fn on_sockets(&mut self, found: Vec<Connection>) {
        let stuck = self.requests.scanned(found, Instant::now());
        if stuck >= RECYCLE_AT && self.stopping.is_none() {
            eprintln!(
                "tracksd: {stuck} connections are stuck in tiny_http (silent over {} s \
                 without a request; HTTP/2 request lines do this): recycling the process \
                 on the same socket",
                (self.idle_timeout + Duration::from_secs(1)).as_secs()
            );
            self.wind_down(Then::Recycle);
        }
    }

    pub(super) fn on_accept_died(&mut self, e: std::io::Error) -> Result<(), RuntimeError> {
        if let Some(s) = &mut self.stopping {
            s.accept_ended = true;
            return Ok(());
        }
        if !crate::edge::sockets::accept_error_is_transient(&e) {
            return Err(RuntimeError::Listener(e));
        }
        if !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            eprintln!("tracksd: accept failed ({e}); restarting the accept thread");
        }
        self.accept.died(Instant::now());
        self.rebuild(Instant::now())
    }

    /// Checks the accept thread at every tick for the next 5 s: it may be
    /// dying (its socket closes as its panic unwinds) or die again soon.
    pub(super) fn watch_accept(&mut self) {
        let now = Instant::now();
        self.watch_accept_until = Some(now + Duration::from_secs(5));
        self.retick(now);
    }

    /// The accept thread died of a panic: no thread (or descriptor) to be had.
    /// Threads idling in our pools hold the slots a new accept thread and its
    /// connections need: they end now rather than after their linger. (Not on
    /// the accept errors that come as events: `accept()` times out routinely.)
    fn accept_thread_panicked(&mut self, now: Instant) {
        self.accept.died(now);
        self.helpers.workers.release_idle();
        self.helpers.readers.release_idle();
    }

    pub(super) fn rebuild(&mut self, now: Instant) -> Result<(), RuntimeError> {
        match self.accept.try_rebuild(now) {
            Rebuilt::Started(server) => {
                let old = self.events.replace_server(server);
                (self.accept).drain(old, self.mailbox.clone(), self.idle_timeout);
                self.retick(now);
                Ok(())
            }
            Rebuilt::GaveUp(e) => Err(RuntimeError::Listener(e)),
            Rebuilt::NotDue => {
                self.retick(now);
                Ok(())
            }
        }
    }

    /// Serves orphaned servers from ticks; drops the quiet ones on a worker.
    fn poll_orphans(&mut self, now: Instant) {
        let (requests, quiet) = self.accept.poll_orphans(now, self.idle_timeout);
        for server in quiet {
            self.helpers.workers.submit(Box::new(move || {
                drop(server);
                None
            }));
        }
        for rq in requests {
            self.on_request(rq);
        }
    }

    /// Stops taking connections (they wait in the socket's queue) and answers
    /// what is in flight; then the loop ends, to exit or to recycle.
    pub(super) fn wind_down(&mut self, then: Then) {
        if self.stopping.is_some() {
            return;
        }
        if then == Then::Exit {
            eprintln!("tracksd: stopping: no new connections, answering requests in flight");
            let _ = sd_notify::notify("STOPPING=1");
        }
        if let Some(b) = &self.helpers.ballast {
            b.stop();
        }
        let waiting = self.accept.retire();
        let workers = &self.helpers.workers;
        workers.submit(flow::end_reads_job(self.helpers.port));
        if waiting {
            // One connection to ourselves wakes an accept() that is waiting.
            let target = SocketAddr::new(
                crate::edge::ballast::loopback_for(self.listen.ip()),
                self.listen.port(),
            );
            workers.submit(Box::new(move || {
                let _ = std::net::TcpStream::connect_timeout(&target, Duration::from_millis(250));
                None
            }));
        }
        self.stopping = Some(Stopping {
            deadline: Instant::now() + DRAIN_FOR,
            accept_ended: !waiting,
            then,
        });
        self.retick(Instant::now());
    }

    /// SIGHUP: users and session keys read again; a mistake keeps the old ones.
    /// Reading the config and key files is local file I/O of a few KB, like
    /// the stores' own, done at the owner's request, not a client's.
    pub(super) fn on_reload(&mut self) {
        match self.app.reload(|k| std::env::var(k).ok()) {
            Ok(summary) => eprintln!("{summary}"),
            Err(e) => eprintln!("tracksd: SIGHUP: reload failed, nothing changed: {e}"),
        }
    }

    /// Housekeeping; `Some` when a wind-down is over.
    pub(super) fn on_tick(&mut self) -> Result<Option<Then>, RuntimeError> {
        self.requests.flush_log();
        let now = Instant::now();
        if let Some(every) = self.watchdog
            && now >= self.next_ping
        {
            let _ = sd_notify::notify("WATCHDOG=1");
            self.next_ping = now + every;
        }
        if self.accept.has_orphans() {
            self.poll_orphans(now);
        }
        if let Some(s) = &self.stopping {
            let r = &self.requests;
            if let Some(then) = s.over(now, r.all_answered(), r.last_request()) {
                return Ok(Some(then));
            }
            self.retick(now);
            return Ok(None);
        }
        if self.accept.rebuilding() {
            self.rebuild(now)?;
        }
        // An accept thread that died of a panic (no thread or descriptor to be
        // had) is seen here; while that keeps happening, look every tick.
        if (self.watching(now) || now >= self.next_check)
            && !self.accept.rebuilding()
            && !self.accept.is_alive()
        {
            eprintln!("tracksd: the accept thread is gone; restarting it");
            self.watch_accept();
            self.accept_thread_panicked(now);
            self.rebuild(now)?;
        }
        if now >= self.next_check {
            self.next_check = now + MAX_TICK;
            self.requests.prune(now);
            if now >= self.next_leak_scan {
                // Every second while the accept side is in trouble (the limits
                // reached, most likely by leaked threads): a recycle is the way out.
                let every = if self.watching(now) || self.accept.rebuilding() {
                    MAX_TICK
                } else {
                    self.idle_timeout.min(Duration::from_secs(5))
                };
                self.next_leak_scan = now + every;
                self.requests.scan(&mut self.helpers, now);
            }
            if now.duration_since(self.requests.last_request()) >= MAX_TICK {
                crate::edge::alloc::return_free_memory();
            }
        }
        self.retick(now);
        Ok(None)
    }

    /// Whether the accept thread is checked at every tick (it died lately).
    fn watching(&self, now: Instant) -> bool {
        self.watch_accept_until.is_some_and(|until| now < until)
    }

    /// The tick interval follows from the state, set after every change of it:
    /// often while something is pending (a wind-down, a rebuild, an orphaned
    /// server, an accept thread being watched), else once a second; and never
    /// past the next watchdog ping, which the interval alone would let slip a
    /// whole interval when it falls due just after a tick.
    pub(super) fn retick(&mut self, now: Instant) {
        let pending = self.stopping.is_some()
            || self.accept.rebuilding()
            || self.accept.has_orphans()
            || self.watching(now);
        self.events
            .tick_every(if pending { FAST_TICK } else { MAX_TICK });
        if self.watchdog.is_some() {
            self.events.tick_by(self.next_ping);
        }
    }
}
