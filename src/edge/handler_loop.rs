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
//! This file is the loop and its dispatch; the request path (a request in, its
//! answer out, in order; group commit's answers) is `requests.rs`, a state
//! machine unit-tested without sockets; `housekeeping.rs` is the ticks, the
//! accept side, stopping, recycling and reload.

use super::accept::AcceptSide;
use super::access_log::AccessLog;
use super::events::{Event, Events, Mailbox};
use super::flow::Helpers;
use super::requests::Requests;
use super::tiny;
use crate::app::App;
use crate::errors::RuntimeError;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod housekeeping;

/// How long a graceful stop waits for requests in flight.
const DRAIN_FOR: Duration = Duration::from_millis(1500);
/// The longest the loop goes without a Tick.
const MAX_TICK: Duration = Duration::from_secs(1);
/// Ticks while something is pending (a rebuild, a stop, an orphaned server).
const FAST_TICK: Duration = Duration::from_millis(10);

/// Why the loop ended without an error.
pub(crate) enum Ending {
    Stopped,
    /// Leaked tiny_http threads: execute again on this socket (`recycle.rs`).
    Recycle(std::net::TcpListener),
}

/// What a wind-down ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Then {
    Exit,
    Recycle,
}

/// The loop's state: the application, the request path, the threads it hands
/// work to, the accept side, and the housekeeping timers.
pub(crate) struct HandlerLoop<'a> {
    app: &'a mut App,
    events: Events,
    /// For the drain threads of replaced servers.
    mailbox: Mailbox,
    helpers: Helpers,
    requests: Requests<tiny_http::Request>,
    accept: AcceptSide,
    idle_timeout: Duration,
    listen: SocketAddr,
    watchdog: Option<Duration>,
    next_ping: Instant,
    next_check: Instant,
    stopping: Option<Stopping>,
    /// Until when to check the accept thread at every tick (it died lately).
    watch_accept_until: Option<Instant>,
    next_leak_scan: Instant,
}

/// A wind-down under way: the accept side retired, requests in flight answered.
pub(crate) struct Stopping {
    deadline: Instant,
    accept_ended: bool,
    then: Then,
}

impl Stopping {
    /// Whether the wind-down is over: everything taken in is answered, the
    /// accept thread is gone and no request came for a moment (tiny_http may
    /// still be handing over what it had parsed), or the deadline passed.
    fn over(&self, now: Instant, all_answered: bool, last_request: Instant) -> Option<Then> {
        let quiet = now.duration_since(last_request) >= Duration::from_millis(50);
        let drained = self.accept_ended && all_answered && quiet;
        (drained || now >= self.deadline).then_some(self.then)
    }
}

impl<'a> HandlerLoop<'a> {
    pub(crate) fn new(
        app: &'a mut App,
        (events, mailbox): (Events, Mailbox),
        accept: AcceptSide,
        helpers: Helpers,
        (listen, idle_timeout): (SocketAddr, Duration),
        watchdog: Option<Duration>,
    ) -> HandlerLoop<'a> {
        let now = Instant::now();
        HandlerLoop {
            app,
            events,
            mailbox,
            helpers,
            requests: Requests::new(idle_timeout, now, AccessLog::default()),
            accept,
            idle_timeout,
            listen,
            watchdog,
            next_ping: now,
            next_check: now,
            stopping: None,
            watch_accept_until: None,
            next_leak_scan: now + idle_timeout.min(Duration::from_secs(5)),
        }
    }
}

impl HandlerLoop<'_> {
    pub(crate) fn run(mut self) -> Result<Ending, RuntimeError> {
        let then = self.serve();
        self.requests.flush_log();
        // tiny_http's `Server::drop` connects to our own listener to wake its
        // accept thread. With the listen queue full (a flood at the unit's
        // thread and fd limits) that connect waits for minutes, here on the
        // loop, before the exec or the exit that comes next anyway: so the
        // servers are left undropped.
        std::mem::forget(self.events);
        let listener = self.accept.into_listener();
        Ok(match then? {
            Then::Recycle => Ending::Recycle(listener),
            Then::Exit => Ending::Stopped,
        })
    }

    /// Takes events until a wind-down is over.
    fn serve(&mut self) -> Result<Then, RuntimeError> {
        loop {
            let on = (&mut *self.app, &mut self.helpers);
            match self.events.next() {
                Event::Request(rq) => self.on_request(rq),
                Event::BodyRead(p) => self.requests.answer(on, *p),
                Event::LoginChecked(mut p, verdict) => {
                    p.req.password_verdict = Some(verdict);
                    self.requests.answer(on, *p);
                }
                Event::Written(w) => self.requests.written(on, w),
                Event::Sockets(found) => self.on_sockets(found),
                Event::Durable(version, result) => self.requests.durable(on, version, result),
                Event::AcceptDied(e) => self.on_accept_died(e)?,
                Event::TinyHttpPanicked => self.watch_accept(),
                Event::Stop => self.wind_down(Then::Exit),
                Event::Reload => self.on_reload(),
                Event::Tick => {
                    if let Some(then) = self.on_tick()? {
                        return Ok(then);
                    }
                }
            }
        }
    }

    fn on_request(&mut self, rq: tiny_http::Request) {
        let (peer, req) = (tiny::peer_of(&rq), tiny::to_request(&rq));
        let on = (&mut *self.app, &mut self.helpers);
        self.requests.take(on, (rq, req, peer), Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wind_down_is_over_when_all_is_answered_and_quiet_or_at_its_deadline() {
        let start = Instant::now();
        let ms = |n| start + Duration::from_millis(n);
        let s = Stopping {
            deadline: ms(1500),
            accept_ended: true,
            then: Then::Recycle,
        };
        // A request came 10 ms ago: tiny_http may hand over more.
        assert_eq!(s.over(ms(100), true, ms(90)), None);
        assert_eq!(s.over(ms(100), false, ms(0)), None);
        assert_eq!(s.over(ms(100), true, ms(0)), Some(Then::Recycle));
        let accepting = Stopping {
            accept_ended: false,
            then: Then::Exit,
            ..s
        };
        assert_eq!(accepting.over(ms(100), true, ms(0)), None);
        // The deadline ends it whatever is still in flight.
        assert_eq!(accepting.over(ms(1500), false, ms(1499)), Some(Then::Exit));
    }
}
