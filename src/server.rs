//! The edge: the one synchronous `tiny_http` receive loop.
//!
//! Architecture invariant: this is the only module that names `tiny_http`. It turns
//! each wire request into an owned [`Request`], calls [`router::handle`], and writes
//! the [`Response`] back; everything else is plain values.

use crate::app::App;
use crate::errors::{RuntimeError, StartupError};
use crate::http::{Body, Method, Request, Response};
use crate::router;
use std::io::{Cursor, Read};
use std::net::{SocketAddr, TcpListener};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Largest request body read into memory; a larger declared body gets 413 unread.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A bound, not yet serving, listener.
pub struct Listener {
    server: tiny_http::Server,
    /// The real address (the real port when the config said port 0).
    pub addr: SocketAddr,
}

/// Binds the listen address.
pub fn bind(addr: SocketAddr) -> Result<Listener, StartupError> {
    let bind_error = |source| StartupError::Bind { addr, source };
    let tcp = TcpListener::bind(addr).map_err(bind_error)?;
    let addr = tcp.local_addr().map_err(bind_error)?;
    let server = tiny_http::Server::from_listener(tcp, None)
        .map_err(|e| bind_error(std::io::Error::other(e.to_string())))?;
    Ok(Listener { server, addr })
}

/// Serves requests until the listener fails.
pub fn run(listener: Listener, app: &mut App) -> Result<(), RuntimeError> {
    loop {
        let rq = listener.server.recv().map_err(RuntimeError::Listener)?;
        serve_one(app, rq);
    }
}

/// Answers one request and logs one line about it.
fn serve_one(app: &mut App, mut rq: tiny_http::Request) {
    let started = Instant::now();
    let req = to_request(&mut rq);
    let response = match catch_unwind(AssertUnwindSafe(|| router::handle(app, &req))) {
        Ok(r) => r,
        Err(_) => {
            eprintln!(
                "error: handler panicked on {} {}",
                req.method.as_str(),
                printable(&req.path)
            );
            Response::detail(500, "Internal Server Error")
        }
    };
    let status = response.status;
    let bytes = response.body.len();
    let write_result = rq.respond(to_wire(response));
    let micros = started.elapsed().as_micros();
    let note = if write_result.is_err() {
        " (client gone)"
    } else {
        ""
    };
    eprintln!(
        "{} {} {} {}B {}.{:03}ms{}",
        req.method.as_str(),
        printable(&req.path),
        status,
        bytes,
        micros / 1000,
        micros % 1000,
        note
    );
}

/// Builds the owned request value; the body is read only if it fits the limit.
fn to_request(rq: &mut tiny_http::Request) -> Request {
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
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    req.body = match rq.body_length() {
        Some(n) if n > MAX_BODY_BYTES => Body::TooLarge,
        _ => {
            let mut buf = Vec::new();
            let limit = MAX_BODY_BYTES as u64 + 1;
            match rq.as_reader().take(limit).read_to_end(&mut buf) {
                Ok(_) if buf.len() > MAX_BODY_BYTES => Body::TooLarge,
                Ok(_) => Body::Bytes(buf),
                // A body that breaks off mid-way is as good as none.
                Err(_) => Body::Bytes(Vec::new()),
            }
        }
    };
    req
}

/// Converts the response value for tiny_http. Header values with CR, LF or other
/// control bytes are dropped rather than sent, so nothing a client sent can split
/// a response header.
fn to_wire(response: Response) -> tiny_http::Response<Cursor<Vec<u8>>> {
    let headers = response
        .headers
        .iter()
        .filter(|(_, v)| !v.bytes().any(|b| b.is_ascii_control()))
        .filter_map(|(n, v)| tiny_http::Header::from_bytes(n.as_bytes(), v.as_bytes()).ok())
        .collect();
    let len = response.body.len();
    tiny_http::Response::new(
        tiny_http::StatusCode(response.status),
        headers,
        Cursor::new(response.body),
        Some(len),
        None,
    )
}

/// The path with control and non-ASCII bytes escaped, so a log line stays one line.
fn printable(path: &str) -> String {
    path.chars()
        .flat_map(|c| {
            if c.is_ascii_graphic() {
                vec![c]
            } else {
                c.escape_default().collect()
            }
        })
        .collect()
}
