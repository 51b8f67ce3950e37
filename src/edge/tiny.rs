//! tiny_http's request type to ours, and what is done to a tiny_http request
//! besides writing its response (`wire.rs`): reading its body, answering it and
//! closing its connection, dropping it unanswered.

use crate::http::{Body, Method, Request, Response};
use std::io::Read;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest request body read into memory; a larger declared body gets 413 unread.
/// A logged-in restore (`PUT /tracks`) may be larger: see [`body_limit`].
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024;

/// The body bound of `req`: [`MAX_BODY_BYTES`], or what the application allows
/// this request beyond it (`backup::body_limit`).
pub(crate) fn body_limit(app: &crate::app::App, req: &Request) -> usize {
    crate::backup::body_limit(app, req).map_or(MAX_BODY_BYTES, |n| n.max(MAX_BODY_BYTES))
}

/// The connection a request came on. tiny_http gives no other handle on it; the
/// peer address is unique among our open connections.
pub(crate) fn peer_of(rq: &tiny_http::Request) -> SocketAddr {
    rq.remote_addr()
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// The owned request value, without its body. Header names are lower-cased.
pub(crate) fn to_request(rq: &tiny_http::Request) -> Request {
    let mut req = Request::new(Method::parse(rq.method().as_str()), rq.url());
    req.headers = rq
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    req.peer = rq.remote_addr().map(|a| a.ip());
    req.now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    req
}

/// Reads at most one byte more than `limit`; `None` if the body broke off.
/// Blocks on a body still on the wire: only ever on a worker (or for a body
/// tiny_http has already read into memory).
pub(crate) fn read_body(rq: &mut tiny_http::Request, limit: usize) -> Option<Body> {
    let mut buf = Vec::new();
    match rq.as_reader().take(limit as u64 + 1).read_to_end(&mut buf) {
        Ok(_) if buf.len() > limit => Some(Body::TooLarge),
        Ok(_) => Some(Body::Bytes(buf)),
        Err(_) => None,
    }
}

/// Answers with a response after which the connection closes (a framing error,
/// a body refused unread). tiny_http would answer whatever it parses after it (a
/// smuggled request, or an empty 400 of its own for leftover bytes) as soon as the
/// request is dropped. So the response is written straight to the connection's
/// socket, which is then shut down, and only then is the request dropped: nothing
/// more goes out. Workers only (it scans descriptors and may block on the write).
pub(crate) fn respond_and_close(
    rq: tiny_http::Request,
    response: Response,
    peer: SocketAddr,
    port: u16,
) -> bool {
    use super::sockets::{self, Shut};
    let (mut bytes, body) = super::wire::head_for(&rq, &response);
    if body {
        bytes.extend_from_slice(&response.body);
    }
    let ok = match sockets::own_connection(peer, port) {
        Some(own) => {
            use std::os::fd::AsRawFd;
            let fd = own.as_raw_fd();
            let ok = sockets::write_all_fd(fd, &bytes).is_ok();
            // A write that timed out: the peer stopped reading, so what it has
            // not taken is dropped with a reset, not left to an orphan socket.
            if !ok {
                super::send_queue::abort_if_unsent(fd);
            }
            // Else a FIN after the response, nothing left unread for the last close to
            // answer with a reset (which could destroy the response in flight),
            // and tiny_http's reads end: it parses nothing after this request.
            sockets::shut_fd(fd, Shut::Write);
            sockets::discard_unread(fd, 1 << 20);
            sockets::shut_fd(fd, Shut::Read);
            ok
        }
        None => false,
    };
    // Writes nothing now; may drain (quickly: the socket is shut) or panic in
    // tiny_http's drain of an absurd Content-Length, which the caller catches.
    super::panics::quietly(|| discard(rq));
    ok
}

/// Whether dropping the request may read from the socket (a body tiny_http has
/// not read into memory: it drains it on drop).
pub(crate) fn drop_may_block(rq: &tiny_http::Request) -> bool {
    rq.headers().iter().any(|h| {
        (h.field.equiv("Content-Length")
            && h.value
                .as_str()
                .trim()
                .parse::<u64>()
                .map_or(true, |n| n > super::framing::PREREAD_BODY_BYTES))
            || h.field.equiv("Transfer-Encoding")
            || h.field.equiv("Expect")
    })
}

/// Drops a request without answering it. tiny_http would write a 500 on drop;
/// taking its writer first means nothing is written (the connection is being
/// cut). Blocks only if [`drop_may_block`].
pub(crate) fn discard(rq: tiny_http::Request) {
    drop(rq.into_writer());
}
