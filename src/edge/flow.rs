//! A request's way through the edge, as values, and the jobs that carry it
//! where the loop must not go: reading a body, writing a response, dropping a
//! request whose body may be unread, cutting a connection.

use super::ballast::Ballast;
use super::events::Event;
use super::framing::Refusal;
use super::hashers::Hashers;
use super::requests::Io;
use super::send_queue;
use super::sockets;
use super::tiny;
use super::workers;
use crate::http::{Body, Method, Request, Response};
use crate::passwords::PasswordCheck;
use crate::track_file::PendingWrite;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Instant;

/// A request taken in, not yet answered. `Q` is the request as the HTTP layer
/// handed it over: tiny_http's, or a test's stand-in (`requests/tests.rs`).
pub(crate) struct Pending<Q = tiny_http::Request> {
    pub(crate) rq: Q,
    pub(crate) req: Request,
    pub(crate) peer: SocketAddr,
    /// Its number on its connection (see `peers.rs`).
    pub(crate) seq: u64,
    /// Answer with this instead of routing.
    pub(crate) refusal: Option<Refusal>,
    pub(crate) after: After,
    /// The first request of a new connection (none from its peer within the
    /// idle timeout, which closes any connection idle that long).
    pub(crate) fresh: bool,
    pub(crate) started: Instant,
}

/// What becomes of a request's connection once it is answered. Only ever
/// raised ([`After::at_least`]): a request that must close never goes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum After {
    /// Its body, if any, is in memory: it can be dropped and written anywhere.
    Keep,
    /// Its body was read as a stream and may not be all in: dropping it may
    /// read from the socket (tiny_http drains it), so not on the loop.
    Drain,
    /// Nothing after it can be trusted (a framing error, a body refused
    /// unread): the connection closes after its response.
    Close,
}

impl After {
    pub(crate) fn at_least(&mut self, other: After) {
        *self = (*self).max(other);
    }
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
pub(crate) struct Reply<Q = tiny_http::Request> {
    pub(crate) rq: Q,
    pub(crate) response: Response,
    pub(crate) peer: SocketAddr,
    pub(crate) after: After,
    /// The first response on a new connection: its send queue is empty.
    pub(crate) empty_queue: bool,
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

/// The edge's pools: their jobs come back to the loop as events.
pub(crate) type Workers = workers::Workers<Event>;
type Job = workers::Job<Event>;

/// Writes `reply`, then tells the loop. A response that closes its connection
/// is written straight to the socket, which is then shut down, so tiny_http's
/// drain of an unread body on drop ends at once instead of waiting on the
/// client (`tiny::respond_and_close`).
pub(crate) fn write_job(reply: Reply, port: u16) -> Job {
    Box::new(move || {
        let Reply {
            rq,
            response,
            peer,
            after,
            empty_queue: _,
            log,
        } = reply;
        let close_after = after == After::Close;
        // A panic in tiny_http's drain (hostile Content-Length) must still end
        // in a Written event, or the connection would wait for ever.
        let ok = if close_after {
            super::panics::catch_quietly(|| tiny::respond_and_close(rq, response, peer, port))
                .unwrap_or(false)
        } else {
            super::panics::catch_quietly(|| super::wire::respond(rq, response)).unwrap_or(false)
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
fn read_body_on(workers: &Workers, pending: Pending, limit: usize) -> Result<(), Box<Pending>> {
    let read = move |mut p: Pending| {
        match super::panics::catch_quietly(|| tiny::read_body(&mut p.rq, limit)).flatten() {
            Some(body) => p.req.body = body,
            None => {
                p.req.body = Body::Bytes(Vec::new());
                p.refusal = Some(Refusal::new(400, "Request body incomplete"));
                p.after.at_least(After::Close);
            }
        }
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

/// The threads the loop hands work to, started by `edge::run`: the request
/// path's [`Io`] with tiny_http.
pub(crate) struct Helpers {
    pub(crate) workers: Workers,
    pub(crate) readers: Workers,
    /// Writes the catalogue (`track_file/group_commit.rs`); one thread, so one
    /// write in flight at a time: that is what makes group commit.
    pub(crate) writer: Workers,
    pub(crate) hashers: Hashers<Box<Pending>>,
    pub(crate) ballast: Option<Arc<Ballast>>,
    /// Our listening port: identifies our connections' sockets.
    pub(crate) port: u16,
}

impl Io for Helpers {
    type Rq = tiny_http::Request;

    fn preread(&mut self, rq: &mut tiny_http::Request, limit: usize) -> Body {
        tiny::read_body(rq, limit).unwrap_or(Body::Bytes(Vec::new()))
    }

    fn read_body(&mut self, p: Pending, limit: usize) -> Result<(), Box<Pending>> {
        read_body_on(&self.readers, p, limit)
    }

    fn check_password(
        &mut self,
        check: PasswordCheck,
        p: Box<Pending>,
    ) -> Result<(), Box<Pending>> {
        self.hashers.submit(check, p)
    }

    fn commit(&mut self, write: PendingWrite) {
        self.writer.submit(Box::new(move || {
            let result = super::panics::catch_quietly(|| write.run())
                .unwrap_or_else(|| Err(std::io::Error::other("the write panicked")));
            Some(Event::Durable(write.version(), result))
        }));
    }

    fn discard(&mut self, rq: tiny_http::Request) {
        discard(&self.workers, rq);
    }

    fn write_here(&mut self, rq: tiny_http::Request, response: Response) -> bool {
        super::wire::respond(rq, response)
    }

    fn write_elsewhere(&mut self, reply: Reply) {
        self.workers.submit(write_job(reply, self.port));
    }

    fn scan(&mut self) {
        self.workers.submit(scan_job(self.port));
    }

    fn cut(&mut self, peer: SocketAddr) {
        self.workers.submit(cut_job(vec![peer], self.port));
    }

    fn new_connection(&mut self) {
        if let Some(b) = &self.ballast {
            b.new_connection();
        }
    }

    fn room_to_write(&self, fd: RawFd, peer: SocketAddr, bytes: usize) -> Option<bool> {
        sockets::room_to_write(fd, peer, bytes)
    }

    fn unsent(&self, fd: RawFd, peer: SocketAddr) -> Option<usize> {
        send_queue::unsent_bytes(fd, peer)
    }
}
