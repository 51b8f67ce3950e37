//! The one handler loop: takes an [`Event`], routes, changes state, hands work over.
//!
//! Architecture invariant: the loop never blocks on a client socket, a password
//! hash, a connect or a join. Socket writes, body reads, drops that may drain a
//! body and connects run on `workers`, body reads on `readers` (so that slow
//! bodies never keep a response from being written); hashes on `hashers`; the
//! catalogue's writes on `writer`; a replaced server is drained and dropped
//! (tiny_http's drop connects to itself) on a thread of its own. Each comes
//! back, if it must, as an event.
//!
//! This file is the request path (a request in, its answer out, in order);
//! `durability.rs` is the loop's side of group commit, `housekeeping.rs` the
//! ticks, the accept side, stopping, recycling and reload.

use super::accept::AcceptSide;
use super::access_log::{AccessLog, printable};
use super::ballast::Ballast;
use super::conns::{Admit, Connections};
use super::events::{Event, Events};
use super::flow::{self, Context, LogEntry, Pending, Reply, Workers, Written};
use super::hashers::Hashers;
use super::held::Held;
use super::peers::Peers;
use super::recycle::StuckWatch;
use super::{framing, tiny};
use crate::app::App;
use crate::errors::RuntimeError;
use crate::http::{Body, Request, Response};
use crate::router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod durability;
mod housekeeping;

/// How long a graceful stop waits for requests in flight.
const DRAIN_FOR: Duration = Duration::from_millis(1500);
/// The longest the loop goes without a Tick.
const MAX_TICK: Duration = Duration::from_secs(1);
/// Ticks while something is pending (a rebuild, a stop, an orphaned server).
const FAST_TICK: Duration = Duration::from_millis(10);
/// The least time between two descriptor scans.
const SCAN_EVERY: Duration = Duration::from_millis(50);

/// Why the loop ended without an error.
pub(crate) enum Ending {
    Stopped,
    /// Leaked tiny_http threads: execute again on this socket (`recycle.rs`).
    Recycle(std::net::TcpListener),
}

/// The loop's state: the application and everything the edge keeps track of.
pub(crate) struct HandlerLoop<'a> {
    app: &'a mut App,
    events: Events,
    cx: Context,
    workers: Workers,
    readers: Workers,
    /// Writes the catalogue (`track_file/group_commit.rs`); `held` keeps the
    /// responses to changes until their write is durable.
    writer: Workers,
    held: Held<(Pending, Response)>,
    hashers: Hashers<Box<Pending>>,
    accept: AcceptSide,
    conns: Connections<Reply, Pending>,
    log: AccessLog,
    ballast: Option<Arc<Ballast>>,
    peers: Peers,
    idle_timeout: Duration,
    listen: SocketAddr,
    watchdog: Option<Duration>,
    next_ping: Instant,
    next_check: Instant,
    last_request: Instant,
    stopping: Option<Stopping>,
    /// Replaced servers no drain thread could be started for: polled on ticks.
    orphans: Vec<(Arc<tiny_http::Server>, Instant)>,
    /// When the last descriptor scan was asked for; whether it is under way.
    last_scan: Instant,
    scanning: bool,
    /// Until when to check the accept thread at every tick (it died lately).
    watch_accept_until: Option<Instant>,
    /// Connections open long without a request (leaked tiny_http threads).
    stuck: StuckWatch,
    next_leak_scan: Instant,
}

pub(crate) struct Stopping {
    deadline: Instant,
    accept_ended: bool,
    recycle: bool,
}

/// The threads the loop hands work to, started by `edge::run`.
pub(crate) struct Helpers {
    pub(crate) workers: Workers,
    pub(crate) readers: Workers,
    pub(crate) writer: Workers,
    pub(crate) hashers: Hashers<Box<Pending>>,
    pub(crate) ballast: Option<Arc<Ballast>>,
}

impl<'a> HandlerLoop<'a> {
    pub(crate) fn new(
        app: &'a mut App,
        (events, cx): (Events, Context),
        accept: AcceptSide,
        helpers: Helpers,
        listen: SocketAddr,
        idle_timeout: Duration,
        watchdog: Option<Duration>,
    ) -> HandlerLoop<'a> {
        let now = Instant::now();
        let Helpers {
            workers,
            readers,
            writer,
            hashers,
            ballast,
        } = helpers;
        HandlerLoop {
            app,
            events,
            cx,
            workers,
            readers,
            writer,
            held: Held::default(),
            hashers,
            accept,
            conns: Connections::new(idle_timeout * 2),
            log: AccessLog::default(),
            ballast,
            peers: Peers::default(),
            idle_timeout,
            listen,
            watchdog,
            next_ping: now,
            next_check: now,
            last_request: now,
            stopping: None,
            orphans: Vec::new(),
            last_scan: now,
            scanning: false,
            watch_accept_until: None,
            stuck: StuckWatch::new(idle_timeout),
            next_leak_scan: now + idle_timeout.min(Duration::from_secs(5)),
        }
    }
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
                Event::TinyHttpPanicked => self.watch_accept(),
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
        let fresh = self.peers.request(peer, now, self.idle_timeout);
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
                if let Err(back) = flow::read_body_on(&self.readers, p, limit) {
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
                .backlogged(&p.peer, || in_kernel(&self.peers, p.peer))
                || self.held.has(&p.peer))
        {
            if let Err(p) = self.conns.park(p.peer, p) {
                flow::discard(&self.workers, p.rq);
            }
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

    /// Routes `peer`'s parked requests while its connection may take them.
    fn unpark(&mut self, peer: SocketAddr) {
        while !self.held.has(&peer)
            && let Some(p) = self.conns.unpark(&peer, || in_kernel(&self.peers, peer))
        {
            self.answer(p);
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
            } else if let Some(fd) = self.peers.fd(&peer) {
                match super::sockets::room_to_write(fd, peer, reply.log.bytes + 1024) {
                    Some(room) => room,
                    None => {
                        self.peers.lose_fd(&peer);
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
        let wants_fd = self.peers.fd(&peer).is_none() && !reply.close_after;
        self.workers.submit(flow::write_job(reply, self.cx.port));
        if wants_fd && !self.scanning && self.last_scan.elapsed() >= SCAN_EVERY {
            self.scanning = true;
            self.last_scan = Instant::now();
            self.workers.submit(flow::scan_job(self.cx.port));
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
            self.forget(w.peer);
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
        let dropped = self.forget(peer);
        eprintln!(
            "tracksd: closed the connection from {peer}: {why} ({dropped} responses dropped)"
        );
        self.workers.submit(flow::cut_job(vec![peer], self.cx.port));
    }

    /// Forgets a connection that is gone or being cut: its queued replies and
    /// parked requests are dropped (on workers: a drop may drain a body).
    /// Returns how many replies were dropped.
    fn forget(&mut self, peer: SocketAddr) -> usize {
        self.peers.closed(&peer);
        let dropped = self.conns.cut(peer, Instant::now());
        let replies = dropped.replies.len();
        for reply in dropped.replies {
            flow::discard(&self.workers, reply.rq);
        }
        for parked in dropped.parked {
            flow::discard(&self.workers, parked.rq);
        }
        replies
    }
}

/// What `peer`'s socket still holds unsent (an ioctl; 0 if its descriptor is
/// not known yet), for the backlog bound (`conns.rs`).
fn in_kernel(peers: &Peers, peer: SocketAddr) -> usize {
    peers
        .fd(&peer)
        .and_then(|fd| super::send_queue::unsent_bytes(fd, peer))
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
