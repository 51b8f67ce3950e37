//! The edge: everything that exists because of tiny_http 0.12, and the one
//! handler loop that feeds the router.
//!
//! tiny_http parses HTTP on a thread per connection and hands requests over a
//! queue. It has no timeouts, writes a connection's responses strictly in order
//! (a write waits for the one before it), dies on any `accept()` error, drains
//! unread bodies on drop and answers some requests itself (docs/limits.md, "Limits and
//! hardening"). The edge keeps all of that away from the loop, which only
//! routes, changes state and hands work over:
//!
//! - [`events`]: the closed [`events::Event`] set the loop takes, and the mailbox
//!   other threads use;
//! - [`handler_loop`]: the loop, one `match` on the event;
//! - [`requests`]: the request path as a state machine over an [`requests::Io`]
//!   (unit-tested with a fake one): it owns [`peers`] (one record per
//!   connection for its whole life: response order, the pipelining and backlog
//!   bounds, parked requests, cut state, last request, socket descriptor) and
//!   [`held`] (changes not yet durable);
//! - [`flow`]: a request's values on its way, the jobs that write, read and drop
//!   off the loop, and [`flow::Helpers`], the `Io` with tiny_http and the pools;
//! - [`workers`]: threads for socket work; [`hashers`]: low-priority threads for
//!   password hashes behind a bounded queue;
//! - [`accept`]: tiny_http servers on our socket (liveness, retire, rebuild);
//!   [`tiny`]: conversions; [`wire`]: a response's bytes; [`framing`]: request
//!   framing rules;
//! - [`ballast`], [`alloc`], [`sockets`], [`send_queue`], [`fd_scan`], [`signals`], [`sd_notify`],
//!   [`access_log`], [`panics`]: the workarounds and plumbing they need.
//!
//! Architecture invariant: tiny_http is named only under `src/edge/`, and the
//! rest of the crate reaches the edge only through [`bind`], [`activated_listener`]
//! and [`run`], and `lib.rs`'s global allocator ([`alloc::LazyHugeAlloc`]).

pub(crate) mod accept;
pub(crate) mod access_log;
pub(crate) mod alloc;
pub(crate) mod ballast;
pub(crate) mod events;
pub(crate) mod fd_scan;
pub(crate) mod flow;
pub(crate) mod framing;
pub(crate) mod handler_loop;
pub(crate) mod hashers;
pub(crate) mod held;
pub(crate) mod panics;
pub(crate) mod peers;
pub(crate) mod recycle;
pub(crate) mod requests;
pub(crate) mod sd_notify;
pub(crate) mod send_queue;
pub(crate) mod signals;
pub(crate) mod sockets;
pub(crate) mod tiny;
pub(crate) mod wire;
pub(crate) mod workers;

use crate::app::App;
use crate::errors::{RuntimeError, StartupError};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// Threads for socket writes (and drops, connects, scans) kept at all times,
/// so a response can always be written, and the most there may be: about one per
/// connection whose client is slow to read.
const MIN_WORKERS: usize = 2;
const MAX_WORKERS: usize = 64;
/// Threads for reading request bodies (started on demand): at most this many
/// bodies are read at once; one more is answered 503.
const MAX_BODY_READERS: usize = 32;

/// A bound, not yet serving, listening socket.
pub(crate) struct Listener {
    tcp: TcpListener,
    /// The real address (the real port when the config said port 0).
    pub(crate) addr: SocketAddr,
    /// Whether systemd handed it to us.
    pub(crate) activated: bool,
}

/// The socket systemd passed (socket activation), if any.
pub(crate) fn activated_listener() -> std::io::Result<Option<TcpListener>> {
    sockets::activated_listener(
        std::env::var("LISTEN_PID").ok().as_deref(),
        std::env::var("LISTEN_FDS").ok().as_deref(),
    )
}

/// Binds `addr`, or takes the socket systemd passed, and sets the idle timeout
/// on it. The timeout must be set before anyone can connect: Linux copies it
/// into each connection when the handshake completes.
pub(crate) fn bind(
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
    // What a connection may hold in the kernel, copied into each accepted socket
    // like the timeouts: a peer that takes nothing for the idle timeout is reset
    // (never sooner than 2 s: a lost segment's retransmissions must fit in it).
    let stalled = idle_timeout.max(Duration::from_secs(2));
    send_queue::limit_kernel_memory(&tcp, send_queue::SEND_BUFFER, stalled).map_err(bind_error)?;
    let addr = tcp.local_addr().map_err(bind_error)?;
    Ok(Listener {
        tcp,
        addr,
        activated: was_activated,
    })
}

/// Serves until a stop signal (Ok) or until the accept side cannot be rebuilt.
pub(crate) fn run(listener: Listener, app: &mut App) -> Result<(), RuntimeError> {
    let idle_timeout = Duration::from_millis(app.config.server.idle_timeout_ms);
    if let Some(saved) = recycle::take_saved_throttle() {
        let (addrs, users, devices) = app.throttle.restore(&saved);
        eprintln!(
            "tracksd: recycled; kept the login throttle's state \
             ({addrs} addresses, {users} usernames, {devices} devices)"
        );
    }
    alloc::limit_arenas();
    panics::install();
    fd_scan::open().map_err(RuntimeError::Listener)?;
    let mut accept = accept::AcceptSide::new(listener.tcp).map_err(RuntimeError::Listener)?;
    let server = accept.start().map_err(RuntimeError::Listener)?;
    let watchdog = sd_notify::watchdog_interval();
    let (events, mailbox) = events::Events::new(server, watchdog.unwrap_or(Duration::from_secs(1)));
    // Every pool's jobs come back to the loop the same way: what they return.
    let pool = |name, min, max| {
        let mailbox = mailbox.clone();
        flow::Workers::start(name, min, max, Box::new(move |event| mailbox.send(event)))
            .map_err(RuntimeError::Listener)
    };
    let workers = pool("worker", MIN_WORKERS, MAX_WORKERS)?;
    // One thread: one write in flight at a time is what makes group commit.
    let writer = pool("writer", 1, 1)?;
    app.tracks.write_in_background();
    let readers = pool("body", 0, MAX_BODY_READERS)?;
    let for_hashers = mailbox.clone();
    let hashers = hashers::Hashers::start(
        app.config.server.login_threads,
        app.config.server.login_queue,
        Box::new(move |p, verdict| for_hashers.send(events::Event::LoginChecked(p, verdict))),
    )
    .map_err(RuntimeError::Listener)?;
    let ballast = if app.config.server.ballast {
        Some(
            ballast::Ballast::start(listener.addr, idle_timeout / 3)
                .map_err(RuntimeError::Listener)?,
        )
    } else {
        None
    };
    let for_panics = mailbox.clone();
    panics::on_tiny_http_panic(Box::new(move || {
        for_panics.send(events::Event::TinyHttpPanicked)
    }));
    let for_signals = mailbox.clone();
    let for_drains = mailbox;
    signals::on_signals(move |signal| {
        for_signals.send(match signal {
            signals::Signal::Stop => events::Event::Stop,
            signals::Signal::Reload => events::Event::Reload,
        })
    })
    .map_err(RuntimeError::Listener)?;
    let helpers = flow::Helpers {
        workers,
        readers,
        writer,
        hashers,
        ballast,
        port: listener.addr.port(),
    };
    let handler_loop = handler_loop::HandlerLoop::new(
        app,
        (events, for_drains),
        accept,
        helpers,
        (listener.addr, idle_timeout),
        watchdog,
    );
    let _ = sd_notify::notify("READY=1");
    match handler_loop.run()? {
        handler_loop::Ending::Stopped => {
            let _ = sd_notify::notify("STOPPING=1");
            Ok(())
        }
        handler_loop::Ending::Recycle(listener) => Err(RuntimeError::Listener(
            recycle::exec_again(listener, &app.throttle.save()),
        )),
    }
}
