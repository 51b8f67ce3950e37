//! The request path as a state machine: a request in, its answer out, in
//! order, within the per-connection bounds; changes answered once durable.
//!
//! It owns what the edge knows of connections ([`Peers`], one record each for
//! their whole life; [`Held`], responses waiting for their write to be
//! durable) and the access log. It
//! never touches a socket or a thread: everything it does outside itself goes
//! through an [`Io`], which `flow.rs` implements with tiny_http and the pools,
//! and `tests.rs` with a recording stand-in, so ordering, parking, cutting,
//! forgetting and the recycle count are unit-tested without sockets or timing.
//!
//! Architecture invariant: nothing here blocks. What may block (a body read, a
//! write to a slow client, a drop that drains a body, a password hash, a
//! catalogue write) is handed to the [`Io`] and comes back as a call of
//! [`Requests::answer`], [`Requests::written`] or [`Requests::durable`].

use super::access_log::{AccessLog, printable};
use super::flow::{After, LogEntry, Pending, Reply, Written};
use super::framing::{self, Refusal};
use super::held::Held;
use super::peers::{Admit, Peers};
use super::recycle::StuckWatch;
use super::sockets::Connection;
use crate::app::App;
use crate::http::{Body, Request, Response};
use crate::router;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod durability;
mod io;
#[cfg(test)]
mod tests;

pub(crate) use io::Io;

/// The least time between two descriptor scans.
const SCAN_EVERY: Duration = Duration::from_millis(50);
/// A first response this small fits an empty send queue: written on the loop.
const SMALL: usize = 4 * 1024;

/// Requests taken in and not yet answered, and what is known of their
/// connections. `Q` is the HTTP layer's request type.
pub(crate) struct Requests<Q> {
    peers: Peers<Reply<Q>, Pending<Q>>,
    held: Held<(Pending<Q>, Response)>,
    log: AccessLog,
    stuck: StuckWatch,
    idle_timeout: Duration,
    last_request: Instant,
    /// When the last descriptor scan was asked for; whether it is under way.
    last_scan: Instant,
    scanning: bool,
}

impl<Q> Requests<Q> {
    pub(crate) fn new(idle_timeout: Duration, now: Instant, log: AccessLog) -> Self {
        Requests {
            peers: Peers::new(idle_timeout * 2),
            held: Held::default(),
            log,
            stuck: StuckWatch::new(idle_timeout),
            idle_timeout,
            last_request: now,
            last_scan: now,
            scanning: false,
        }
    }

    /// When the last request came in.
    pub(crate) fn last_request(&self) -> Instant {
        self.last_request
    }

    /// Whether every request taken in is answered.
    pub(crate) fn all_answered(&self) -> bool {
        self.peers.all_answered()
    }

    pub(crate) fn flush_log(&mut self) {
        self.log.flush();
    }

    /// Forgets cut connections whose time is up (bounded memory).
    pub(crate) fn prune(&mut self, now: Instant) {
        self.peers.prune(now);
    }

    /// Asks for a descriptor scan unless one is under way.
    pub(crate) fn scan(&mut self, io: &mut impl Io<Rq = Q>, now: Instant) {
        if !self.scanning {
            self.scanning = true;
            self.last_scan = now;
            io.scan();
        }
    }

    /// A descriptor scan found these open connections: remembers their
    /// descriptors (for inline writes and the backlog bound) and forgets the
    /// closed. Returns how many are stuck (`recycle.rs`).
    pub(crate) fn scanned(&mut self, found: Vec<Connection>, now: Instant) -> usize {
        self.scanning = false;
        let peers = &self.peers;
        let stuck = self.stuck.scanned(
            found.iter().map(|c| (c.peer, c.silent)),
            now,
            |p| peers.last_request(p),
            |p| peers.unanswered(p),
        );
        // A scan sees every open connection: what it did not see is closed.
        self.peers
            .scanned(found.into_iter().map(|c| (c.peer, c.fd)), self.last_scan);
        stuck
    }

    /// Takes a request off the HTTP layer: numbers it on its connection,
    /// checks its framing, plans its body, and answers it (or hands it over).
    pub(crate) fn take<I: Io<Rq = Q>>(
        &mut self,
        (app, io): (&mut App, &mut I),
        (rq, req, peer): (Q, Request, SocketAddr),
        now: Instant,
    ) {
        self.last_request = now;
        let (seq, fresh) = match self.peers.admit(peer, now, self.idle_timeout) {
            Admit::Seq { seq, fresh } => (seq, fresh),
            Admit::Cut => return io.discard(rq),
            Admit::CutNow => {
                io.discard(rq);
                return self.cut(io, peer, "it pipelined too many requests without reading");
            }
        };
        if fresh {
            io.new_connection();
        }
        let mut p = Pending {
            rq,
            req,
            peer,
            seq,
            refusal: None,
            after: After::Keep,
            fresh,
            started: now,
        };
        if let Err(refusal) = framing::check(&p.req.headers) {
            // Nothing after a framing error can be trusted: it may be a body.
            p.refusal = Some(refusal);
            p.after = After::Close;
            return self.answer((app, io), p);
        }
        let limit = super::tiny::body_limit(app, &p.req);
        match framing::body_plan(&p.req.headers, limit as u64) {
            framing::BodyPlan::Empty => {}
            framing::BodyPlan::Preread => p.req.body = io.preread(&mut p.rq, limit),
            framing::BodyPlan::TooLarge => {
                p.req.body = Body::TooLarge;
                p.after = After::Close;
            }
            framing::BodyPlan::Stream => {
                p.after = After::Drain;
                if let Err(mut p) = io.read_body(p, limit).map_err(|p| *p) {
                    p.refusal = Some(Refusal::new(503, "Server busy"));
                    p.after = After::Close;
                    self.answer((app, io), p);
                }
                return;
            }
        }
        self.answer((app, io), p);
    }

    /// Routes a request whose body is in, or hands its password check over.
    /// A connection with too many response bytes waiting, or a change of its
    /// own not yet durable, gets its request routed later (`unpark`).
    pub(crate) fn answer<I: Io<Rq = Q>>(
        &mut self,
        (app, io): (&mut App, &mut I),
        mut p: Pending<Q>,
    ) {
        if p.refusal.is_none()
            && (self.peers.backlogged(&p.peer, |fd| io.unsent(fd, p.peer))
                || self.held.has(&p.peer))
        {
            if let Err(p) = self.peers.park(p.peer, p) {
                io.discard(p.rq);
            }
            return;
        }
        let version = app.tracks.version();
        let response = match p.refusal {
            Some(refusal) => refusal.response(),
            None if p.req.password_verdict.is_none() => match router::password_check(app, &p.req) {
                Some(check) => match io.check_password(check, Box::new(p)) {
                    Ok(()) => return,
                    Err(back) => {
                        p = *back;
                        router::abandon_password_check(app, &p.req);
                        Refusal::new(503, "Login queue full").response()
                    }
                },
                None => route(app, &p.req),
            },
            None => route(app, &p.req),
        };
        if app.tracks.version() != version {
            // A change, applied in memory: answered once it is durable.
            self.held.push(app.tracks.version(), p.peer, (p, response));
            return self.start_write(app, io);
        }
        self.reply((app, io), p, response);
    }

    /// Routes `peer`'s parked requests while its connection may take them.
    pub(super) fn unpark<I: Io<Rq = Q>>(
        &mut self,
        (app, io): (&mut App, &mut I),
        peer: SocketAddr,
    ) {
        while !self.held.has(&peer)
            && let Some(p) = self.peers.unpark(&peer, |fd| io.unsent(fd, peer))
        {
            self.answer((app, io), p);
        }
    }

    pub(super) fn reply<I: Io<Rq = Q>>(
        &mut self,
        (app, io): (&mut App, &mut I),
        p: Pending<Q>,
        response: Response,
    ) {
        // Only the host check answers 421: the log line names the host, so that
        // an owner reading the journal sees what to add to allowed_hosts.
        let note = match response.status {
            421 => (app.config.server.allowed_hosts)
                .check(p.req.header_values("host"))
                .err()
                .map(|refused| refused.log_note())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let bytes = response.body.len();
        let log = LogEntry {
            method: p.req.method,
            path: p.req.path,
            status: response.status,
            bytes,
            started: p.started,
            note,
        };
        let reply = Reply {
            rq: p.rq,
            response,
            peer: p.peer,
            after: p.after,
            empty_queue: p.fresh && p.seq == 0,
            log,
        };
        if p.after == After::Close {
            self.peers.close_after(p.peer);
        }
        match self.peers.ready(p.peer, p.seq, reply, bytes) {
            Ok(Some(now)) => self.write((app, io), now),
            Ok(None) => {}
            Err(cut) => io.discard(cut.rq),
        }
    }

    /// Writes on the loop when that cannot block: the response is the
    /// connection's next (`peers` guarantees it), its body is read, and the
    /// socket's send queue has room for all of it: either the connection is new
    /// (its queue is empty) and the response small, or the queue was checked just
    /// before. Else it is written elsewhere. A connection's descriptor is looked
    /// up (by a scan) when a later response of it must be written elsewhere.
    fn write<I: Io<Rq = Q>>(&mut self, (app, io): (&mut App, &mut I), reply: Reply<Q>) {
        let peer = reply.peer;
        let mut fd = self.peers.fd(&peer);
        let inline = reply.after == After::Keep
            && if reply.empty_queue && reply.log.bytes <= SMALL {
                true
            } else if let Some(known) = fd {
                match io.room_to_write(known, peer, reply.log.bytes + 1024) {
                    Some(room) => room,
                    None => {
                        self.peers.lose_fd(&peer);
                        fd = None;
                        false
                    }
                }
            } else {
                false
            };
        if inline {
            let ok = io.write_here(reply.rq, reply.response);
            let closed = !ok;
            return self.written(
                (app, io),
                Written {
                    peer,
                    ok,
                    closed,
                    log: reply.log,
                },
            );
        }
        let wants_fd = fd.is_none() && reply.after != After::Close;
        io.write_elsewhere(reply);
        let now = Instant::now();
        if wants_fd && now.duration_since(self.last_scan) >= SCAN_EVERY {
            self.scan(io, now);
        }
    }

    /// A write ended: logs it, then writes the connection's next reply and
    /// routes what was parked behind it.
    pub(crate) fn written<I: Io<Rq = Q>>(&mut self, (app, io): (&mut App, &mut I), w: Written) {
        let gone = if w.ok { "" } else { " (client gone)" };
        let note = if w.log.note.is_empty() {
            gone
        } else {
            &format!("{}{gone}", w.log.note)
        };
        let l = &w.log;
        (self.log).request(
            l.method.as_str(),
            &l.path,
            l.status,
            l.bytes,
            l.started.elapsed(),
            note,
        );
        if w.closed {
            self.forget(io, w.peer);
            return;
        }
        if let Some(next) = self.peers.written(w.peer) {
            self.write((app, io), next);
        }
        self.unpark((app, io), w.peer);
    }

    /// Cuts a connection: its queued responses are dropped unwritten and its
    /// socket is shut down, so its tiny_http thread ends.
    fn cut(&mut self, io: &mut impl Io<Rq = Q>, peer: SocketAddr, why: &str) {
        let dropped = self.forget(io, peer);
        eprintln!(
            "tracksd: closed the connection from {peer}: {why} ({dropped} responses dropped)"
        );
        io.cut(peer);
    }

    /// Forgets a connection that is gone or being cut: its queued replies and
    /// parked requests are dropped. Returns how many replies were dropped.
    fn forget(&mut self, io: &mut impl Io<Rq = Q>, peer: SocketAddr) -> usize {
        let dropped = self.peers.cut(peer, Instant::now());
        let replies = dropped.replies.len();
        for reply in dropped.replies {
            io.discard(reply.rq);
        }
        for parked in dropped.parked {
            io.discard(parked.rq);
        }
        replies
    }
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
