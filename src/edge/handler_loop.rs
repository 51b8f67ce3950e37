//! The one handler loop: takes an [`Event`], routes, changes state, hands work over.
//!
//! Architecture invariant: the loop never blocks on a client socket, a password
//! hash, a connect or a join. Socket writes, body reads, drops that may drain a
//! body and connects run on `workers`, body reads on `readers` (so that slow
//! bodies never keep a response from being written); hashes on `hashers`; a replaced server is
//! drained and dropped (tiny_http's drop connects to itself) on a thread of its
//! own. Each comes back, if it must, as an event.

use super::accept::{AcceptSide, Rebuilt};
use super::access_log::{AccessLog, printable};
use super::ballast::{Ballast, RecentPeers};
use super::conns::{Admit, Connections};
use super::events::{Event, Events};
use super::flow::{self, Context, LogEntry, Pending, Reply, Written};
use super::hashers::Hashers;
use super::held::Held;
use super::recycle::{RECYCLE_AT, StuckWatch};
use super::sockets::Connection;
use super::workers::Workers;
use super::{framing, sd_notify, tiny};
use crate::app::App;
use crate::errors::RuntimeError;
use crate::http::{Body, Request, Response};
use crate::router;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a graceful stop waits for requests in flight.
const DRAIN_FOR: Duration = Duration::from_millis(1500);
/// The longest the loop goes without a Tick.
const MAX_TICK: Duration = Duration::from_secs(1);
/// Ticks while something is pending (a rebuild, a stop, an orphaned server).
const FAST_TICK: Duration = Duration::from_millis(10);
/// The least time between two descriptor scans, and the most descriptors kept.
const SCAN_EVERY: Duration = Duration::from_millis(50);
const MAX_FDS: usize = 4096;

/// Why the loop ended without an error.
pub(crate) enum Ending {
    Stopped,
    /// Leaked tiny_http threads: execute again on this socket (`recycle.rs`).
    Recycle(std::net::TcpListener),
}

/// The loop's state: the application and everything the edge keeps track of.
pub(crate) struct HandlerLoop<'a> {
    pub(crate) app: &'a mut App,
    pub(crate) events: Events,
    pub(crate) cx: Context,
    pub(crate) workers: Workers,
    pub(crate) readers: Workers,
    /// Writes the catalogue (`track_file/group_commit.rs`); `held` keeps the
    /// responses to changes until their write is durable.
    pub(crate) writer: Workers,
    pub(crate) held: Held<(Pending, Response)>,
    pub(crate) hashers: Hashers<Box<Pending>>,
    pub(crate) accept: AcceptSide,
    pub(crate) conns: Connections<Reply>,
    pub(crate) log: AccessLog,
    pub(crate) ballast: Option<Arc<Ballast>>,
    pub(crate) peers: RecentPeers,
    pub(crate) idle_timeout: Duration,
    pub(crate) listen: SocketAddr,
    pub(crate) watchdog: Option<Duration>,
    pub(crate) next_ping: Instant,
    pub(crate) next_check: Instant,
    pub(crate) last_request: Instant,
    pub(crate) stopping: Option<Stopping>,
    /// Replaced servers no drain thread could be started for: polled on ticks.
    pub(crate) orphans: Vec<(Arc<tiny_http::Server>, Instant)>,
    /// Requests of backlogged connections, waiting to be routed (`answer`).
    pub(crate) parked: HashMap<SocketAddr, VecDeque<Pending>>,
    /// Connections' socket descriptors, for the inline-write check (see `write`).
    pub(crate) fds: HashMap<SocketAddr, RawFd>,
    /// When the last descriptor scan was asked for; whether it is under way.
    pub(crate) last_scan: Instant,
    pub(crate) scanning: bool,
    /// Until when to check the accept thread at every tick (it died lately).
    pub(crate) watch_accept_until: Option<Instant>,
    /// Connections open long without a request (leaked tiny_http threads).
    pub(crate) stuck: StuckWatch,
    pub(crate) next_leak_scan: Instant,
}

pub(crate) struct Stopping {
    deadline: Instant,
    accept_ended: bool,
    recycle: bool,
}

impl HandlerLoop<'_> {
    pub(crate) fn run(mut self) -> Result<Ending, RuntimeError> {
        let recycle = self.serve();
        self.log.flush();
        // tiny_http's `Server::drop` connects to our own listener to wake its
        // accept thread. With the listen queue full (a flood at the unit's
        // thread and fd limits) that connect waits for minutes, here on the
        // loop, before the exec or the exit that comes next anyway: so the
        // servers are left undropped.
        std::mem::forget(self.events);
        std::mem::forget(self.orphans);
        Ok(if recycle? {
            Ending::Recycle(self.accept.into_listener())
        } else {
            Ending::Stopped
        })
    }

    /// Takes events until the loop ends: `Ok(true)` to recycle, `Ok(false)` to stop.
    fn serve(&mut self) -> Result<bool, RuntimeError> {
        loop {
            match self.events.next() {
                Event::Request(rq) => self.on_request(rq),
                Event::BodyRead(p) => self.answer(*p),
                Event::LoginChecked(mut p, verdict) => {
                    p.req.password_verdict = Some(verdict);
                    self.answer(*p);
                }
                Event::Written(w) => self.on_written(w),
                Event::Sockets(found) => self.on_sockets(found),
                Event::Durable(version, result) => self.on_durable(version, result),
                Event::AcceptDied(e) => self.on_accept_died(e)?,
                Event::Stop => self.wind_down(false),
                Event::Reload => self.on_reload(),
                Event::Tick => {
                    if let Some(recycle) = self.on_tick()? {
                        return Ok(recycle);
                    }
                }
            }
        }
    }

    fn on_request(&mut self, rq: tiny_http::Request) {
        let now = Instant::now();
        self.last_request = now;
        let peer = tiny::peer_of(&rq);
        let fresh = self.peers.is_new(peer, self.idle_timeout);
        if fresh && let Some(b) = &self.ballast {
            b.new_connection();
        }
        let seq = match self.conns.admit(peer, now) {
            Admit::Seq(seq) => seq,
            Admit::Cut => return flow::discard(&self.workers, rq),
            Admit::CutNow => {
                flow::discard(&self.workers, rq);
                return self.cut(peer, "it pipelined too many requests without reading");
            }
        };
        let mut p = Pending {
            req: tiny::to_request(&rq),
            rq,
            peer,
            seq,
            refusal: None,
            must_reap: false,
            close_after: false,
            fresh,
            started: now,
        };
        if let Err(refusal) = framing::check(&p.req.headers) {
            // Nothing after a framing error can be trusted: it may be a body.
            p.refusal = Some(refusal);
            (p.must_reap, p.close_after) = (true, true);
            return self.answer(p);
        }
        let limit = tiny::body_limit(self.app, &p.req);
        match framing::body_plan(&p.req.headers, limit as u64) {
            framing::BodyPlan::Empty => {}
            framing::BodyPlan::Preread => {
                p.req.body = tiny::read_body(&mut p.rq, limit).unwrap_or(Body::Bytes(Vec::new()));
            }
            framing::BodyPlan::TooLarge => {
                p.req.body = Body::TooLarge;
                (p.must_reap, p.close_after) = (true, true);
            }
            framing::BodyPlan::Stream => {
                if let Err(back) = flow::read_body_on(&self.readers, p, limit, self.cx.clone()) {
                    let mut p = *back;
                    p.refusal = Some((503, "Server busy"));
                    (p.must_reap, p.close_after) = (true, true);
                    self.answer(p);
                }
                return;
            }
        }
        self.answer(p);
    }

    /// Routes a request whose body is in, or hands its password check over.
    /// A connection with too many response bytes waiting gets its request
    /// routed later, when its writes catch up (see `conns.rs`).
    fn answer(&mut self, mut p: Pending) {
        if p.refusal.is_none()
            && (self
                .conns
                .backlogged(&p.peer, || in_kernel(&self.fds, p.peer))
                || self.held.has(&p.peer))
        {
            self.parked.entry(p.peer).or_default().push_back(p);
            return;
        }
        let version = self.app.tracks.version();
        let response = match p.refusal {
            Some((503, detail)) => Response::detail(503, detail).with_header("Retry-After", "1"),
            Some((status, detail)) => Response::detail(status, detail),
            None if p.req.password_verdict.is_none() => {
                match router::password_check(self.app, &p.req) {
                    Some(check) => match self.hashers.submit(check, Box::new(p)) {
                        Ok(()) => return,
                        Err(back) => {
                            p = *back;
                            router::abandon_password_check(self.app, &p.req);
                            Response::detail(503, "Login queue full")
                                .with_header("Retry-After", "1")
                        }
                    },
                    None => route(self.app, &p.req),
                }
            }
            None => route(self.app, &p.req),
        };
        if self.app.tracks.version() != version {
            // A change, applied in memory: answered once it is durable.
            self.held
                .push(self.app.tracks.version(), p.peer, (p, response));
            return self.start_write();
        }
        self.reply(p, response);
    }

    /// Hands the catalogue's next write to the writer thread, if one is due.
    fn start_write(&mut self) {
        if let Some(write) = self.app.tracks.next_write() {
            let mailbox = self.cx.mailbox.clone();
            self.writer.submit(Box::new(move || {
                let result = super::panics::catch_quietly(|| write.run())
                    .unwrap_or_else(|| Err(std::io::Error::other("the write panicked")));
                mailbox.send(Event::Durable(write.version(), result));
            }));
        }
    }

    /// A write ended: its changes' responses go out (or 503 for every change
    /// not made), and requests parked behind them are routed.
    fn on_durable(&mut self, version: u64, result: std::io::Result<()>) {
        let released = match self.app.tracks.written(version, result) {
            Ok(()) => self.held.release(version),
            Err(reason) => {
                let refused = self.held.take_all();
                eprintln!(
                    "tracksd: writing the catalogue failed ({reason}): {} changes refused",
                    refused.len()
                );
                refused
                    .into_iter()
                    .map(|(peer, (p, _))| {
                        let unavailable = crate::tracks::StoreError::Unavailable(String::new());
                        (peer, (p, router::store_error(unavailable)))
                    })
                    .collect()
            }
        };
        for (peer, (p, response)) in released {
            self.reply(p, response);
            self.unpark(peer);
        }
        self.start_write();
    }

    /// Routes `peer`'s parked requests while its connection may take them.
    fn unpark(&mut self, peer: SocketAddr) {
        while !self.conns.backlogged(&peer, || in_kernel(&self.fds, peer))
            && !self.held.has(&peer)
            && let Some(p) = self.parked.get_mut(&peer).and_then(|q| q.pop_front())
        {
            self.answer(p);
        }
        if self.parked.get(&peer).is_some_and(|q| q.is_empty()) {
            self.parked.remove(&peer);
        }
    }

    fn reply(&mut self, p: Pending, response: Response) {
        // Only the host check answers 421: the log line names the host, so that
        // an owner reading the journal sees what to add to allowed_hosts.
        let note = match response.status {
            421 => (self.app.config.server.allowed_hosts)
                .check(p.req.header_values("host"))
                .err()
                .map(|refused| refused.log_note())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let log = LogEntry {
            method: p.req.method,
            path: p.req.path,
            status: response.status,
            bytes: response.body.len(),
            started: p.started,
            note,
        };
        let bytes = response.body.len();
        let reply = Reply {
            rq: p.rq,
            wire: tiny::to_wire(response),
            peer: p.peer,
            must_reap: p.must_reap,
            close_after: p.close_after,
            first_on_new_connection: p.fresh && p.seq == 0,
            log,
        };
        if p.close_after {
            self.conns.close_after(p.peer);
        }
        match self.conns.ready(p.peer, p.seq, reply, bytes) {
            Ok(Some(now)) => self.write(now),
            Ok(None) => {}
            Err(cut) => flow::discard(&self.workers, cut.rq),
        }
    }

    /// Writes on the loop when that cannot block: the response is the
    /// connection's next (`conns` guarantees it), its body is read, and the
    /// socket's send queue has room for all of it: either the connection is new
    /// (its queue is empty) and the response small, or the queue was checked just
    /// before. Else a worker writes it. A connection's descriptor is looked up (on
    /// a worker) when a later response of it needs a worker.
    fn write(&mut self, reply: Reply) {
        const SMALL: usize = 4 * 1024;
        let peer = reply.peer;
        let inline = !reply.must_reap
            && !reply.close_after
            && if reply.first_on_new_connection && reply.log.bytes <= SMALL {
                true
            } else if let Some(&fd) = self.fds.get(&peer) {
                match super::sockets::room_to_write(fd, peer, reply.log.bytes + 1024) {
                    Some(room) => room,
                    None => {
                        self.fds.remove(&peer);
                        false
                    }
                }
            } else {
                false
            };
        if inline {
            let ok = tiny::respond(reply.rq, reply.wire);
            return self.on_written(Written {
                peer,
                ok,
                closed: !ok,
                log: reply.log,
            });
        }
        let wants_fd = !self.fds.contains_key(&peer) && !reply.close_after;
        self.workers.submit(flow::write_job(reply, self.cx.clone()));
        if wants_fd && !self.scanning && self.last_scan.elapsed() >= SCAN_EVERY {
            self.scanning = true;
            self.last_scan = Instant::now();
            self.workers.submit(flow::scan_job(self.cx.clone()));
        }
    }

    fn on_written(&mut self, w: Written) {
        let gone = if w.ok { "" } else { " (client gone)" };
        let note = if w.log.note.is_empty() {
            gone
        } else {
            &format!("{}{gone}", w.log.note)
        };
        self.log.request(
            w.log.method.as_str(),
            &w.log.path,
            w.log.status,
            w.log.bytes,
            w.log.started.elapsed(),
            note,
        );
        if w.closed {
            self.fds.remove(&w.peer);
            for dropped in self.conns.cut(w.peer, Instant::now()) {
                flow::discard(&self.workers, dropped.rq);
            }
            for parked in self.parked.remove(&w.peer).unwrap_or_default() {
                flow::discard(&self.workers, parked.rq);
            }
            return;
        }
        if let Some(next) = self.conns.written(w.peer) {
            self.write(next);
        }
        self.unpark(w.peer);
    }

    /// Cuts a connection: its queued responses are dropped unwritten and its
    /// socket is shut down, so its tiny_http thread ends.
    fn cut(&mut self, peer: SocketAddr, why: &str) {
        let dropped = self.conns.cut(peer, Instant::now());
        eprintln!(
            "tracksd: closed the connection from {peer}: {why} ({} responses dropped)",
            dropped.len()
        );
        for reply in dropped {
            flow::discard(&self.workers, reply.rq);
        }
        for parked in self.parked.remove(&peer).unwrap_or_default() {
            flow::discard(&self.workers, parked.rq);
        }
        self.workers.submit(flow::cut_job(vec![peer], self.cx.port));
    }

    /// A descriptor scan: remembers descriptors for inline writes, and recycles
    /// the process when too many connections are stuck.
    fn on_sockets(&mut self, found: Vec<Connection>) {
        self.scanning = false;
        let now = Instant::now();
        let peers = &self.peers;
        let conns = &self.conns;
        let stuck = self.stuck.scanned(
            found.iter().map(|c| (c.peer, c.silent)),
            now,
            |p| peers.last_seen(p),
            |p| conns.has(p),
        );
        // A scan sees every open connection: what it did not see is closed.
        self.fds = found
            .into_iter()
            .take(MAX_FDS)
            .map(|c| (c.peer, c.fd))
            .collect();
        if stuck >= RECYCLE_AT && self.stopping.is_none() {
            eprintln!(
                "tracksd: {stuck} connections are stuck in tiny_http (silent over {} s \
                 without a request; HTTP/2 request lines do this): recycling the process \
                 on the same socket",
                (self.idle_timeout + Duration::from_secs(1)).as_secs()
            );
            self.wind_down(true);
        }
    }

    fn on_accept_died(&mut self, e: std::io::Error) -> Result<(), RuntimeError> {
        if let Some(s) = &mut self.stopping {
            s.accept_ended = true;
            return Ok(());
        }
        if !super::sockets::accept_error_is_transient(&e) {
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

    fn rebuild(&mut self, now: Instant) -> Result<(), RuntimeError> {
        match self.accept.try_rebuild(now) {
            Rebuilt::Started(server) => {
                let old = self.events.replace_server(server);
                self.drain(old, now);
                Ok(())
            }
            Rebuilt::GaveUp(e) => Err(RuntimeError::Listener(e)),
            Rebuilt::NotDue => {
                self.events.tick_every(FAST_TICK);
                Ok(())
            }
        }
    }

    /// A replaced server still has connections: a thread forwards their requests
    /// until they are all closed, then drops it (which connects to ourselves).
    fn drain(&mut self, old: Arc<tiny_http::Server>, now: Instant) {
        let (mailbox, idle) = (self.cx.mailbox.clone(), self.idle_timeout);
        let slot = Arc::new(std::sync::Mutex::new(Some(old)));
        let for_thread = slot.clone();
        let spawned = std::thread::Builder::new()
            .name("drain".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let Some(old) = for_thread.lock().ok().and_then(|mut s| s.take()) else {
                    return;
                };
                while let Ok(Some(rq)) = old.recv_timeout(idle) {
                    mailbox.send(Event::Request(rq));
                }
            });
        if spawned.is_err()
            && let Some(old) = slot.lock().ok().and_then(|mut s| s.take())
        {
            self.orphans.push((old, now));
            self.events.tick_every(FAST_TICK);
        }
    }

    /// Serves orphaned servers from ticks; drops them on a worker once quiet.
    fn poll_orphans(&mut self, now: Instant) {
        let mut requests = Vec::new();
        for (server, last) in &mut self.orphans {
            while let Ok(Some(rq)) = server.try_recv() {
                requests.push(rq);
                *last = now;
            }
        }
        let idle = self.idle_timeout;
        let (quiet, busy): (Vec<_>, Vec<_>) = std::mem::take(&mut self.orphans)
            .into_iter()
            .partition(|(_, last)| now.duration_since(*last) > idle * 2);
        self.orphans = busy;
        for (server, _) in quiet {
            self.workers.submit(Box::new(move || drop(server)));
        }
        for rq in requests {
            self.on_request(rq);
        }
    }

    /// Stops taking connections (they wait in the socket's queue) and answers
    /// what is in flight; then the loop ends, to exit or to recycle.
    fn wind_down(&mut self, recycle: bool) {
        if self.stopping.is_some() {
            return;
        }
        if !recycle {
            eprintln!("tracksd: stopping: no new connections, answering requests in flight");
            let _ = sd_notify::notify("STOPPING=1");
        }
        if let Some(b) = &self.ballast {
            b.stop();
        }
        let waiting = self.accept.retire();
        self.workers.submit(flow::end_reads_job(self.cx.port));
        if waiting {
            // One connection to ourselves wakes an accept() that is waiting.
            let target = SocketAddr::new(
                super::ballast::loopback_for(self.listen.ip()),
                self.listen.port(),
            );
            self.workers.submit(Box::new(move || {
                let _ = std::net::TcpStream::connect_timeout(&target, Duration::from_millis(250));
            }));
        }
        self.stopping = Some(Stopping {
            deadline: Instant::now() + DRAIN_FOR,
            accept_ended: !waiting,
            recycle,
        });
        self.events.tick_every(FAST_TICK);
    }

    /// SIGHUP: users and session keys read again; a mistake keeps the old ones.
    /// Reading the config and key files is local file I/O of a few KB, like
    /// the stores' own, done at the owner's request, not a client's.
    fn on_reload(&mut self) {
        match self.app.reload(|k| std::env::var(k).ok()) {
            Ok(summary) => eprintln!("{summary}"),
            Err(e) => eprintln!("tracksd: SIGHUP: reload failed, nothing changed: {e}"),
        }
    }

    /// Housekeeping; `Some(recycle)` when a wind-down is complete.
    fn on_tick(&mut self) -> Result<Option<bool>, RuntimeError> {
        self.log.flush();
        let now = Instant::now();
        if let Some(every) = self.watchdog
            && now >= self.next_ping
        {
            let _ = sd_notify::notify("WATCHDOG=1");
            self.next_ping = now + every;
        }
        if self.watchdog.is_some() {
            // The tick interval alone would let a ping due just after this
            // tick wait for the next one: a whole interval late.
            self.events.tick_by(self.next_ping);
        }
        if !self.orphans.is_empty() {
            self.poll_orphans(now);
        }
        if let Some(s) = &self.stopping {
            let quiet = now.duration_since(self.last_request) >= Duration::from_millis(50);
            let drained = s.accept_ended && self.conns.is_empty() && quiet;
            return Ok((drained || now >= s.deadline).then_some(s.recycle));
        }
        if self.accept.rebuilding() {
            self.rebuild(now)?;
        }
        // An accept thread that died of a panic (no thread or descriptor to be
        // had) is seen here; while that keeps happening, look every tick.
        let watchful = self.watch_accept_until.is_some_and(|until| now < until);
        if (watchful || now >= self.next_check)
            && !self.accept.rebuilding()
            && !self.accept.is_alive()
        {
            eprintln!("tracksd: the accept thread is gone; restarting it");
            self.watch_accept_until = Some(now + Duration::from_secs(5));
            self.events.tick_every(FAST_TICK);
            self.accept.died(now);
            self.rebuild(now)?;
        }
        if now >= self.next_check {
            self.next_check = now + MAX_TICK;
            self.conns.prune(now);
            if now >= self.next_leak_scan && !self.scanning {
                // Every second while the accept side is in trouble (the limits
                // reached, most likely by leaked threads): a recycle is the way out.
                let every = if watchful || self.accept.rebuilding() {
                    MAX_TICK
                } else {
                    self.idle_timeout.min(Duration::from_secs(5))
                };
                self.next_leak_scan = now + every;
                self.scanning = true;
                self.last_scan = now;
                self.workers.submit(flow::scan_job(self.cx.clone()));
            }
            if now.duration_since(self.last_request) >= MAX_TICK {
                super::alloc::return_free_memory();
            }
            if !self.accept.rebuilding() && self.orphans.is_empty() && !watchful {
                self.events
                    .tick_every(self.watchdog.unwrap_or(MAX_TICK).min(MAX_TICK));
            }
        }
        Ok(None)
    }
}

/// What `peer`'s socket still holds unsent (an ioctl; 0 if its descriptor is
/// not known yet), for the backlog bound (`conns.rs`).
fn in_kernel(fds: &HashMap<SocketAddr, RawFd>, peer: SocketAddr) -> usize {
    fds.get(&peer)
        .and_then(|&fd| super::send_queue::unsent_bytes(fd, peer))
        .unwrap_or(0)
}

/// Routes one request. A panicking handler becomes a logged 500 and the loop
/// goes on; the state it was changing is whatever the store had made durable.
pub(crate) fn route(app: &mut App, req: &Request) -> Response {
    answer_with(app, req, router::handle)
}

fn answer_with(
    app: &mut App,
    req: &Request,
    handler: fn(&mut App, &Request) -> Response,
) -> Response {
    super::panics::catch_quietly(|| handler(app, req)).unwrap_or_else(|| {
        eprintln!(
            "error: handler panicked on {} {}",
            req.method.as_str(),
            printable(&req.path)
        );
        Response::detail(500, "Internal Server Error")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    fn boom(_: &mut App, _: &Request) -> Response {
        panic!("a bug in a handler")
    }

    #[test]
    fn a_panicking_handler_is_a_500_and_the_app_lives_on() {
        let mut app = crate::router::tests::app_with("");
        let req = Request::new(Method::Get, "/tracks");
        let r = answer_with(&mut app, &req, boom);
        assert_eq!(
            (r.status, r.body_text().as_str()),
            (500, r#"{"detail":"Internal Server Error"}"#)
        );
        assert_eq!(route(&mut app, &req).status, 200);
    }
}
