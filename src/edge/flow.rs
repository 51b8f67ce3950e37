//! A request's way through the edge, as values, and the jobs that carry it
//! where the loop must not go: reading a body, writing a response, dropping a
//! request whose body may be unread, cutting a connection.

use super::events::{Event, Mailbox};
use super::framing::Refusal;
use super::send_queue;
use super::sockets;
use super::tiny::{self, WireResponse};
use super::workers;
use crate::http::{Body, Method, Request};
use std::net::SocketAddr;
use std::time::Instant;

/// A request taken in, not yet answered.
pub(crate) struct Pending {
    pub(crate) rq: tiny_http::Request,
    pub(crate) req: Request,
    pub(crate) peer: SocketAddr,
    /// Its number on its connection (see `conns.rs`).
    pub(crate) seq: u64,
    /// Answer with this instead of routing.
    pub(crate) refusal: Option<Refusal>,
    /// Its body may be unread, so dropping it may block (tiny_http drains it).
    pub(crate) must_reap: bool,
    /// Close the connection after answering (nothing after it can be trusted).
    pub(crate) close_after: bool,
    /// The first request of a new connection (none from its peer within the
    /// idle timeout, which closes any connection idle that long).
    pub(crate) fresh: bool,
    pub(crate) started: Instant,
}

/// What the access log says about a request once it is answered.
pub(crate) struct LogEntry {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) bytes: usize,
    pub(crate) started: Instant,
    /// Appended to the line (one space first), e.g. which host a 421 refused;
    /// empty for most requests, so no allocation.
    pub(crate) note: String,
}

/// A response ready to be written on its connection.
pub(crate) struct Reply {
    pub(crate) rq: tiny_http::Request,
    pub(crate) wire: WireResponse,
    pub(crate) peer: SocketAddr,
    pub(crate) must_reap: bool,
    pub(crate) close_after: bool,
    /// The first response on a new connection: its send queue is empty.
    pub(crate) first_on_new_connection: bool,
    pub(crate) log: LogEntry,
}

/// A write that ended.
pub(crate) struct Written {
    pub(crate) peer: SocketAddr,
    /// Whether the whole response went out.
    pub(crate) ok: bool,
    /// The connection was closed after it, as asked.
    pub(crate) closed: bool,
    pub(crate) log: LogEntry,
}

/// What the loop's helpers need to know: the mailbox (the drain threads of
/// replaced servers post to it; pools deliver through it) and our port.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) mailbox: Mailbox,
    /// Our listening port: identifies our connections' sockets for a cut.
    pub(crate) port: u16,
}

/// The edge's pools: their jobs come back to the loop as events.
pub(crate) type Workers = workers::Workers<Event>;
type Job = workers::Job<Event>;

/// Writes `reply`, then tells the loop. A request whose body may be unread is
/// first half-closed for reading, so tiny_http's drain on drop ends at once
/// instead of waiting on the client.
pub(crate) fn write_job(reply: Reply, port: u16) -> Job {
    Box::new(move || {
        let Reply {
            rq,
            wire,
            peer,
            must_reap: _,
            close_after,
            first_on_new_connection: _,
            log,
        } = reply;
        // A panic in tiny_http's drain (hostile Content-Length) must still end
        // in a Written event, or the connection would wait for ever.
        let ok = if close_after {
            super::panics::catch_quietly(|| tiny::respond_and_close(rq, wire, peer, port))
                .unwrap_or(false)
        } else {
            super::panics::catch_quietly(|| tiny::respond(rq, wire)).unwrap_or(false)
        };
        let closed = close_after || !ok;
        if closed && !close_after {
            send_queue::cut_connections(&[peer], port);
        }
        Some(Event::Written(Written {
            peer,
            ok,
            closed,
            log,
        }))
    })
}

/// Reads the body of `pending` (at most `limit` bytes) on a worker and sends it back to the loop, or
/// hands `pending` back when no worker can take it now (then: 503).
pub(crate) fn read_body_on(
    workers: &Workers,
    pending: Pending,
    limit: usize,
) -> Result<(), Box<Pending>> {
    let read = move |mut p: Pending| {
        match super::panics::catch_quietly(|| tiny::read_body(&mut p.rq, limit)).flatten() {
            Some(body) => p.req.body = body,
            None => {
                p.req.body = Body::Bytes(Vec::new());
                p.refusal = Some((400, "Request body incomplete"));
                p.close_after = true;
            }
        }
        p.must_reap = true;
        Some(Event::BodyRead(Box::new(p)))
    };
    workers.submit_now(pending, read).map_err(Box::new)
}

/// Drops a request unanswered: here if that cannot block, else on a worker.
pub(crate) fn discard(workers: &Workers, rq: tiny_http::Request) {
    if tiny::drop_may_block(&rq) {
        workers.submit(Box::new(move || {
            tiny::discard(rq);
            None
        }));
    } else {
        tiny::discard(rq);
    }
}

/// Looks up our connections' descriptors and how long each peer has been
/// silent, and sends them to the loop.
pub(crate) fn scan_job(port: u16) -> Job {
    Box::new(move || {
        let found = sockets::connection_fds(port)
            .into_iter()
            .map(|(peer, fd)| sockets::Connection {
                peer,
                fd,
                silent: sockets::silent_for(fd),
            })
            .collect();
        Some(Event::Sockets(found))
    })
}

/// Ends every connection's reading side, for a stop or a recycle: tiny_http
/// parses what is already buffered, the loop answers it, and the connection
/// closes after; a request sent later is never read. So a recycle's exec, once
/// the loop has answered everything, cuts no request that was read.
pub(crate) fn end_reads_job(port: u16) -> Job {
    Box::new(move || {
        for (_, fd) in sockets::connection_fds(port) {
            sockets::shut_fd(fd, sockets::Shut::Read);
        }
        None
    })
}

/// Cuts the connections of `peers`, aborting those with data unsent (on a
/// worker: it scans our descriptors).
pub(crate) fn cut_job(peers: Vec<SocketAddr>, port: u16) -> Job {
    Box::new(move || {
        send_queue::cut_connections(&peers, port);
        None
    })
}
