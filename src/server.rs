//! The edge: tiny_http, and the one handler loop that feeds the router.
//!
//! Architecture invariant: this is the only module that names `tiny_http`. It turns
//! each wire request into an owned [`Request`], calls [`router::handle`] on the
//! handler loop, and writes the [`Response`] back.
//!
//! tiny_http 0.12 has no timeouts, dies on any `accept()` error and drains unread
//! bodies on the dropping thread (README, "Limits and hardening"). So:
//! - the listening socket carries receive/send timeouts that accepted sockets
//!   inherit (`sockets::set_timeouts`), which closes idle connections;
//! - the handler loop takes requests straight off `recv()` and checks framing;
//!   bodies that could block are read on a thread of their own, which hands the
//!   finished request back over a channel (and wakes the loop); when the accept
//!   side dies (a timeout, EMFILE, …) the loop builds a new server on the same
//!   socket and a drain thread serves the old one's remaining connections;
//! - a request whose body was refused or only partly read is answered and dropped
//!   on a *reaper* thread, never on the handler loop.

use crate::access_log::{AccessLog, printable};
use crate::app::App;
use crate::errors::{RuntimeError, StartupError};
use crate::framing::{self, BodyPlan, Refusal};
use crate::http::{Body, Method, Request, Response};
use crate::{router, sd_notify, sockets};
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::net::{SocketAddr, TcpListener};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Largest request body read into memory; a larger declared body gets 413 unread.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Body-reading threads at once; beyond it a request with a streamed body gets 503.
const MAX_BODY_READERS: usize = 32;
/// How long rebuilding the accept side may keep failing before we exit for restart.
const REBUILD_GIVE_UP: Duration = Duration::from_secs(60);
/// How long a graceful stop waits for in-flight requests.
const DRAIN_FOR: Duration = Duration::from_millis(1500);
/// Longest the handler loop sleeps without looking at [`TINY_HTTP_PANICKED`].
const MAX_WAIT: Duration = Duration::from_secs(1);

/// Set by the panic hook when one of tiny_http's threads panics.
static TINY_HTTP_PANICKED: AtomicBool = AtomicBool::new(false);

/// tiny_http's accept thread `unwrap()`s a `try_clone()` of every accepted socket
/// and starts connection threads with `thread::spawn`, so running out of
/// descriptors or threads at the wrong moment panics it: it never accepts again,
/// and `recv` never says so (a flaky CI failure showed it). The hook marks the
/// accept side for a rebuild on exactly those two panics, on an unnamed thread
/// (every thread of ours is named): a panic on one of tiny_http's connection
/// threads leaves the accept thread running, and rebuilding for it would let a
/// client that can trigger one pile up servers.
fn notice_tiny_http_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default_hook(info);
            if std::thread::current().name().is_none() && accept_thread_died_of(info) {
                TINY_HTTP_PANICKED.store(true, Ordering::SeqCst);
            }
        }));
    });
}

/// Whether a panic is one of the two that kill tiny_http 0.12's accept thread:
/// the clone of an accepted socket (its only caller is the accept loop) or the
/// spawn of a connection thread.
fn accept_thread_died_of(info: &std::panic::PanicHookInfo) -> bool {
    let in_socket_clone = info
        .location()
        .is_some_and(|l| l.file().ends_with("refined_tcp_stream.rs"));
    let spawn_failed = info
        .payload_as_str()
        .is_some_and(|m| m.starts_with("failed to spawn thread"));
    in_socket_clone || spawn_failed
}

/// A bound, not yet serving, listening socket.
pub struct Listener {
    tcp: TcpListener,
    /// The real address (the real port when the config said port 0).
    pub addr: SocketAddr,
    /// Whether systemd handed it to us.
    pub activated: bool,
}

/// Binds `addr`, or takes the socket systemd passed (socket activation), and sets
/// the idle timeout on it. The timeout must be set before anyone can connect:
/// Linux copies it into each connection when the handshake completes.
pub fn bind(
    addr: SocketAddr,
    activated: Option<TcpListener>,
    idle_timeout: Duration,
) -> Result<Listener, StartupError> {
    let bind_error = |source| StartupError::Bind { addr, source };
    let was_activated = activated.is_some();
    let tcp = match activated {
        Some(tcp) => tcp,
        None => TcpListener::bind(addr).map_err(bind_error)?,
    };
    // A stalled connection meets up to three reads in a row (body, drain of the
    // rest, next request line); a third of the budget each keeps it within it.
    sockets::set_timeouts(&tcp, idle_timeout / 3).map_err(bind_error)?;
    let addr = tcp.local_addr().map_err(bind_error)?;
    Ok(Listener {
        tcp,
        addr,
        activated: was_activated,
    })
}

/// What body, drain and signal threads tell the handler loop.
enum Msg {
    Request(Box<Pending>),
    /// SIGTERM/SIGINT: stop accepting, answer what is in flight, exit 0.
    Stop,
}

/// A request ready for the handler loop.
struct Pending {
    rq: tiny_http::Request,
    req: Request,
    /// Answer with this instead of routing (bad framing, busy, incomplete body).
    refusal: Option<Refusal>,
    /// Whether the body may be left unread: then answer and drop on a reaper.
    must_reap: bool,
}

/// State shared by the handler loop, the drain and body threads, and the signal thread.
struct Edge {
    tcp: TcpListener,
    ballast: Option<Arc<crate::ballast::Ballast>>,
    idle_timeout: Duration,
    tx: Mutex<Sender<Msg>>,
    /// The server the handler loop waits on, so that `send` can wake it.
    current: Mutex<Option<Arc<tiny_http::Server>>>,
    stopping: AtomicBool,
    body_readers: AtomicUsize,
}

impl Edge {
    /// Hands a message to the handler loop and wakes it from `recv`.
    fn send(&self, msg: Msg) {
        // The handler loop only goes away when the process exits.
        let _ = self.tx.lock().map(|tx| tx.send(msg));
        if let Ok(current) = self.current.lock()
            && let Some(server) = current.as_ref()
        {
            server.unblock();
        }
    }
}

/// What triage remembers about the connections of one tiny_http server.
#[derive(Default)]
struct Triage {
    /// Connections that sent a malformed request, refused until this instant.
    poisoned: HashMap<SocketAddr, Instant>,
    peers: crate::ballast::RecentPeers,
}

/// The accept side died and is not rebuilt yet.
struct Rebuild {
    since: Instant,
    next_try: Instant,
    backoff: Duration,
}

/// Serves until a stop signal (Ok) or until the accept side cannot be rebuilt.
pub fn run(listener: Listener, app: &mut App) -> Result<(), RuntimeError> {
    let idle_timeout = Duration::from_millis(app.config.idle_timeout_ms);
    crate::alloc::limit_arenas();
    let (tx, rx) = channel();
    let ballast = if app.config.ballast {
        Some(
            crate::ballast::Ballast::start(listener.addr, idle_timeout / 3)
                .map_err(RuntimeError::Listener)?,
        )
    } else {
        None
    };
    let edge = Arc::new(Edge {
        tcp: listener.tcp,
        ballast,
        idle_timeout,
        tx: Mutex::new(tx),
        current: Mutex::new(None),
        stopping: AtomicBool::new(false),
        body_readers: AtomicUsize::new(0),
    });
    let for_signal = edge.clone();
    crate::signals::on_termination(move || for_signal.send(Msg::Stop))
        .map_err(RuntimeError::Listener)?;
    notice_tiny_http_panics();
    let server = new_server(&edge).map_err(RuntimeError::Listener)?;
    let _ = sd_notify::notify("READY=1");
    let result = handler_loop(&edge, &rx, app, server);
    let _ = sd_notify::notify("STOPPING=1");
    result
}

/// The one handler loop: takes requests straight off the current tiny_http
/// server (no thread hop on the hot path) and messages from the other threads,
/// routes them one at a time, rebuilds the accept side when it dies, and pings
/// the watchdog while it is healthy.
fn handler_loop(
    edge: &Arc<Edge>,
    rx: &Receiver<Msg>,
    app: &mut App,
    mut server: Arc<tiny_http::Server>,
) -> Result<(), RuntimeError> {
    let watchdog = sd_notify::watchdog_interval();
    let tick = watchdog.unwrap_or(MAX_WAIT).min(MAX_WAIT);
    let mut next_ping = Instant::now();
    let mut drain_until: Option<Instant> = None;
    let mut log = AccessLog::default();
    let mut triage_state = Triage::default();
    let mut server_started = Instant::now();
    let mut rebuild: Option<Rebuild> = None;
    loop {
        while let Ok(msg) = rx.try_recv() {
            on_message(edge, app, msg, &mut log, &mut drain_until);
        }
        let now = Instant::now();
        if TINY_HTTP_PANICKED.swap(false, Ordering::SeqCst) && rebuild.is_none() {
            eprintln!(
                "tracksd: accept failed (a tiny_http thread panicked); restarting the accept thread"
            );
            rebuild = Some(Rebuild {
                since: now,
                next_try: now,
                backoff: Duration::from_millis(10),
            });
        }
        if let Some(r) = rebuild.as_mut()
            && now >= r.next_try
        {
            match new_server(edge) {
                Ok(new) => {
                    drain_old(edge.clone(), std::mem::replace(&mut server, new));
                    triage_state = Triage::default();
                    server_started = now;
                    rebuild = None;
                }
                Err(e) if r.since.elapsed() > REBUILD_GIVE_UP => {
                    return Err(RuntimeError::Listener(e));
                }
                Err(_) => {
                    r.next_try = now + r.backoff;
                    r.backoff = (r.backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
        if drain_until.is_some_and(|d| now >= d) {
            return Ok(());
        }
        let mut wait = match drain_until {
            Some(deadline) => deadline
                .saturating_duration_since(now)
                .min(Duration::from_millis(100)),
            None => tick,
        };
        if let Some(r) = &rebuild {
            wait = wait.min(r.next_try.saturating_duration_since(now));
        }
        // Nothing queued: a good moment to write the access log, before waiting.
        let next = match server.try_recv() {
            Ok(None) => {
                log.flush();
                server.recv_timeout(wait)
            }
            queued_or_error => queued_or_error,
        };
        match next {
            Ok(Some(rq)) => {
                if let Some(p) = triage(edge, rq, &mut triage_state) {
                    serve_one(app, p, &mut log);
                }
            }
            // A wake-up from `Edge::send`, or a quiet spell.
            Ok(None) => match rx.try_recv() {
                Ok(msg) => on_message(edge, app, msg, &mut log, &mut drain_until),
                // Draining: a quiet 100 ms with no body still arriving ends it.
                Err(_)
                    if drain_until.is_some()
                        && now.elapsed() >= wait
                        && edge.body_readers.load(Ordering::SeqCst) == 0 =>
                {
                    return Ok(());
                }
                Err(_) if drain_until.is_none() && now.elapsed() >= wait => {
                    crate::alloc::return_free_memory();
                }
                Err(_) => {}
            },
            // Our own stop closed the accept side: keep answering what is in flight.
            Err(_) if edge.stopping.load(Ordering::SeqCst) => {}
            Err(e) if !sockets::accept_error_is_transient(&e) => {
                return Err(RuntimeError::Listener(e));
            }
            Err(e) => {
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) {
                    eprintln!("tracksd: accept failed ({e}); restarting the accept thread");
                }
                // A server that died at once (EMFILE and the like) must not spin.
                let pause = if server_started.elapsed() < Duration::from_millis(100) {
                    Duration::from_millis(50)
                } else {
                    Duration::ZERO
                };
                rebuild.get_or_insert(Rebuild {
                    since: now,
                    next_try: now + pause,
                    backoff: Duration::from_millis(10),
                });
            }
        }
        if let Some(every) = watchdog
            && Instant::now() >= next_ping
        {
            let _ = sd_notify::notify("WATCHDOG=1");
            next_ping = Instant::now() + every;
        }
    }
}

/// Acts on one message from another thread.
fn on_message(
    edge: &Edge,
    app: &mut App,
    msg: Msg,
    log: &mut AccessLog,
    drain_until: &mut Option<Instant>,
) {
    match msg {
        Msg::Request(p) => serve_one(app, *p, log),
        Msg::Stop if drain_until.is_none() => {
            eprintln!("tracksd: stopping: no new connections, answering requests in flight");
            let _ = sd_notify::notify("STOPPING=1");
            edge.stopping.store(true, Ordering::SeqCst);
            if let Some(b) = &edge.ballast {
                b.stop();
            }
            sockets::stop_accepting(&edge.tcp);
            *drain_until = Some(Instant::now() + DRAIN_FOR);
        }
        Msg::Stop => {}
    }
}

/// Answers one request and logs one line about it.
fn serve_one(app: &mut App, p: Pending, log: &mut AccessLog) {
    let started = Instant::now();
    let Pending {
        rq,
        req,
        refusal,
        must_reap,
    } = p;
    let response = match refusal {
        Some((status, detail)) => Response::detail(status, detail),
        None => answer(app, &req, router::handle),
    };
    let (status, bytes) = (response.status, response.body.len());
    let wire = to_wire(response);
    let mut note = "";
    if must_reap {
        reap(rq, wire);
    } else if rq.respond(wire).is_err() {
        note = " (client gone)";
    }
    log.request(
        req.method.as_str(),
        &req.path,
        status,
        bytes,
        started.elapsed(),
        note,
    );
}

/// Routes one request. A panicking handler becomes a logged 500 and the loop
/// goes on; the state it was changing is whatever the store had made durable.
fn answer(app: &mut App, req: &Request, handler: fn(&mut App, &Request) -> Response) -> Response {
    match catch_unwind(AssertUnwindSafe(|| handler(app, req))) {
        Ok(r) => r,
        Err(_) => {
            eprintln!(
                "error: handler panicked on {} {}",
                req.method.as_str(),
                printable(&req.path)
            );
            Response::detail(500, "Internal Server Error")
        }
    }
}

/// Answers and drops a request whose body may be unread, off the handler loop:
/// tiny_http drains the rest of the body on drop, which can take until the
/// socket's timeout.
fn reap(rq: tiny_http::Request, wire: tiny_http::Response<Cursor<Vec<u8>>>) {
    let job = Arc::new(Mutex::new(Some((rq, wire))));
    let for_thread = job.clone();
    let spawned = std::thread::Builder::new()
        .name("reaper".into())
        .spawn(move || {
            if let Some((rq, wire)) = for_thread.lock().ok().and_then(|mut j| j.take()) {
                let _ = rq.respond(wire);
            }
        });
    if spawned.is_err()
        && let Some((rq, wire)) = job.lock().ok().and_then(|mut j| j.take())
    {
        // No thread to be had: answer here; the drain is bounded by the socket timeout.
        let _ = rq.respond(wire);
    }
}

/// Starts a tiny_http server (and so an accept thread) on a clone of the
/// listening socket, and makes it the one `Edge::send` wakes.
fn new_server(edge: &Edge) -> std::io::Result<Arc<tiny_http::Server>> {
    let tcp = edge.tcp.try_clone()?;
    let server = catch_unwind(|| tiny_http::Server::from_listener(tcp, None))
        .map_err(|_| std::io::Error::other("cannot start the accept thread"))?
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let server = Arc::new(server);
    if let Ok(mut current) = edge.current.lock() {
        *current = Some(server.clone());
    }
    Ok(server)
}

/// Serves the connections a replaced server still has, from a thread of its own,
/// until it has been quiet for longer than the idle timeout (they are all closed then).
fn drain_old(edge: Arc<Edge>, old: Arc<tiny_http::Server>) {
    let _ = std::thread::Builder::new()
        .name("drain".into())
        .spawn(move || {
            let mut triage_state = Triage::default();
            while let Ok(Some(rq)) = old.recv_timeout(edge.idle_timeout) {
                if let Some(p) = triage(&edge, rq, &mut triage_state) {
                    edge.send(Msg::Request(Box::new(p)));
                }
            }
        });
}

/// Turns a tiny_http request into a [`Pending`] ready to be answered, or hands
/// it to a body thread (which sends it on) when its body could block.
fn triage(edge: &Arc<Edge>, mut rq: tiny_http::Request, state: &mut Triage) -> Option<Pending> {
    let peer = rq.remote_addr().copied();
    if let (Some(b), Some(p)) = (&edge.ballast, peer)
        && state.peers.is_new(p, edge.idle_timeout)
    {
        b.new_connection();
    }
    let mut req = to_request(&rq);
    let now = Instant::now();
    if !state.poisoned.is_empty() {
        state.poisoned.retain(|_, until| *until > now);
    }
    // After a framing error nothing else from that connection is trusted: its
    // "next request" may be the body of the bad one.
    let refusal = match peer.and_then(|p| state.poisoned.get(&p)) {
        Some(_) => Some((400, "Refused: this connection sent a malformed request")),
        None => framing::check(&req.headers).err(),
    };
    if let Some(refusal) = refusal {
        if let Some(p) = peer {
            state.poisoned.insert(p, now + edge.idle_timeout * 2);
        }
        return Some(Pending {
            rq,
            req,
            refusal: Some(refusal),
            must_reap: true,
        });
    }
    let (body, must_reap) = match framing::body_plan(&req.headers, MAX_BODY_BYTES as u64) {
        BodyPlan::Empty => (Body::Bytes(Vec::new()), false),
        BodyPlan::Preread => (read_body(&mut rq).unwrap_or(Body::Bytes(Vec::new())), false),
        BodyPlan::TooLarge => (Body::TooLarge, true),
        BodyPlan::Stream => return stream_body(edge, rq, req),
    };
    req.body = body;
    Some(Pending {
        rq,
        req,
        refusal: None,
        must_reap,
    })
}

/// Reads a body that may still be on the wire, on its own thread, then sends the
/// request on. Reads are bounded by the limit and the socket timeout. Too many
/// at once: the request is refused (returned, to be answered now).
fn stream_body(edge: &Arc<Edge>, mut rq: tiny_http::Request, mut req: Request) -> Option<Pending> {
    let busy = edge.body_readers.fetch_add(1, Ordering::SeqCst) >= MAX_BODY_READERS;
    if busy {
        edge.body_readers.fetch_sub(1, Ordering::SeqCst);
        return Some(Pending {
            rq,
            req,
            refusal: Some((503, "Server busy")),
            must_reap: true,
        });
    }
    let edge = edge.clone();
    let _ = std::thread::Builder::new()
        .name("body".into())
        .spawn(move || {
            let refusal = match read_body(&mut rq) {
                Some(body) => {
                    req.body = body;
                    None
                }
                None => Some((400, "Request body incomplete")),
            };
            edge.body_readers.fetch_sub(1, Ordering::SeqCst);
            edge.send(Msg::Request(Box::new(Pending {
                rq,
                req,
                refusal,
                must_reap: true,
            })));
        });
    None
}

/// Reads at most one byte more than the limit; `None` if the body broke off.
fn read_body(rq: &mut tiny_http::Request) -> Option<Body> {
    let mut buf = Vec::new();
    let limit = MAX_BODY_BYTES as u64 + 1;
    match rq.as_reader().take(limit).read_to_end(&mut buf) {
        Ok(_) if buf.len() > MAX_BODY_BYTES => Some(Body::TooLarge),
        Ok(_) => Some(Body::Bytes(buf)),
        Err(_) => None,
    }
}

/// The owned request value, without its body.
fn to_request(rq: &tiny_http::Request) -> Request {
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

/// Converts the response value for tiny_http. Header values with control bytes
/// (tab included: none of ours has one) are dropped rather than sent, so nothing
/// can split a response header.
fn to_wire(response: Response) -> tiny_http::Response<Cursor<Vec<u8>>> {
    let headers = response
        .headers
        .iter()
        .filter(|(_, v)| !framing::has_control_byte(v.as_bytes()) && !v.contains('\t'))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn boom(_: &mut App, _: &Request) -> Response {
        panic!("a bug in a handler")
    }

    #[test]
    fn a_panicking_handler_is_a_500_and_the_app_lives_on() {
        let mut app = crate::router::tests::app_with("");
        let req = Request::new(Method::Get, "/tracks");
        let r = answer(&mut app, &req, boom);
        assert_eq!(
            (r.status, r.body_text().as_str()),
            (500, r#"{"detail":"Internal Server Error"}"#)
        );
        assert_eq!(answer(&mut app, &req, router::handle).status, 200);
    }
}
