//! The one closed set of things the handler loop reacts to, and where they
//! come from.
//!
//! Requests come straight off the current tiny_http server's queue (no thread
//! hop on the hot path); everything else (finished bodies, hashes and writes,
//! requests a replaced server still delivers, signals) comes from other threads
//! through a [`Mailbox`], which wakes the loop only when it is asleep.

use super::flow::{Pending, Written};
use crate::passwords::PasswordVerdict;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything the handler loop reacts to.
pub(crate) enum Event {
    /// A request tiny_http parsed (from the current server or a replaced one).
    Request(tiny_http::Request),
    /// A worker finished reading a request's body.
    BodyRead(Box<Pending>),
    /// A hashing thread checked a login's password.
    LoginChecked(Box<Pending>, PasswordVerdict),
    /// A worker finished writing a response (or failed to).
    Written(Written),
    /// A worker looked up our connections' descriptors.
    Sockets(Vec<super::sockets::Connection>),
    /// The writer thread finished writing the catalogue at this version.
    Durable(u64, std::io::Result<()>),
    /// The current server's accept thread ended, and why.
    AcceptDied(std::io::Error),
    /// A tiny_http thread panicked: perhaps the accept thread, which says
    /// nothing when it dies that way (a thread or socket it could not get).
    TinyHttpPanicked,
    /// SIGTERM/SIGINT.
    Stop,
    /// SIGHUP.
    Reload,
    /// Nothing is queued right now, or a tick interval passed: flush the log,
    /// ping the watchdog, look after the accept side.
    Tick,
}

/// The loop's side: takes the next event, waiting when there is none.
pub(crate) struct Events {
    rx: Receiver<Event>,
    wake: Arc<Wake>,
    server: Arc<tiny_http::Server>,
    tick_every: Duration,
    next_tick: Instant,
    /// A Tick was returned since the last event (so the next wait may block).
    ticked: bool,
}

/// What the other threads need to wake the loop.
struct Wake {
    /// The loop is (about to be) blocked on the server's queue.
    sleeping: AtomicBool,
    /// The server whose queue the loop waits on.
    server: Mutex<Arc<tiny_http::Server>>,
}

/// The other threads' side: hands an event to the loop.
#[derive(Clone)]
pub(crate) struct Mailbox {
    tx: Sender<Event>,
    wake: Arc<Wake>,
}

impl Mailbox {
    pub(crate) fn send(&self, event: Event) {
        // The loop only goes away when the process exits.
        let _ = self.tx.send(event);
        // Pairs with the loop's store-then-check in `Events::next`: either it
        // sees the event or we see it asleep and wake it.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.wake.sleeping.load(Ordering::SeqCst)
            && let Ok(server) = self.wake.server.lock()
        {
            server.unblock();
        }
    }
}

impl Events {
    pub(crate) fn new(server: tiny_http::Server, tick_every: Duration) -> (Events, Mailbox) {
        let (tx, rx) = channel();
        let server = Arc::new(server);
        let wake = Arc::new(Wake {
            sleeping: AtomicBool::new(false),
            server: Mutex::new(server.clone()),
        });
        let events = Events {
            rx,
            wake: wake.clone(),
            server,
            tick_every,
            next_tick: Instant::now() + tick_every,
            ticked: false,
        };
        (events, Mailbox { tx, wake })
    }

    /// Waits on `server` from now on; returns the one it replaces (which still
    /// has connections, and so requests, of its own).
    pub(crate) fn replace_server(&mut self, server: tiny_http::Server) -> Arc<tiny_http::Server> {
        let server = Arc::new(server);
        if let Ok(mut current) = self.wake.server.lock() {
            *current = server.clone();
        }
        std::mem::replace(&mut self.server, server)
    }

    /// A Tick no later than `due` (something falls due then: a watchdog ping).
    pub(crate) fn tick_by(&mut self, due: Instant) {
        self.next_tick = self.next_tick.min(due);
    }

    /// How often a Tick comes when nothing happens.
    pub(crate) fn tick_every(&mut self, every: Duration) {
        if every < self.tick_every {
            self.next_tick = self.next_tick.min(Instant::now() + every);
        }
        self.tick_every = every;
    }

    /// The next event: a Tick when one is due, then mailbox events, then the
    /// server's queue; a Tick also whenever both are empty (once).
    ///
    /// Architecture invariant: a due Tick comes before any queued event, so a
    /// steady stream of requests (never an empty queue) cannot hold back the
    /// watchdog ping, the leak scan or a stop's deadline.
    pub(crate) fn next(&mut self) -> Event {
        loop {
            let now = Instant::now();
            if now >= self.next_tick {
                self.ticked = true;
                self.next_tick = now + self.tick_every;
                return Event::Tick;
            }
            if let Ok(event) = self.rx.try_recv() {
                self.ticked = false;
                return event;
            }
            match self.server.try_recv() {
                Ok(Some(rq)) => {
                    self.ticked = false;
                    return Event::Request(rq);
                }
                Ok(None) => {}
                Err(e) => return Event::AcceptDied(e),
            }
            if !self.ticked {
                self.ticked = true;
                return Event::Tick;
            }
            self.wake.sleeping.store(true, Ordering::SeqCst);
            std::sync::atomic::fence(Ordering::SeqCst);
            if let Ok(event) = self.rx.try_recv() {
                self.wake.sleeping.store(false, Ordering::SeqCst);
                self.ticked = false;
                return event;
            }
            let got = self.server.recv_timeout(self.next_tick - now);
            self.wake.sleeping.store(false, Ordering::SeqCst);
            match got {
                Ok(Some(rq)) => {
                    self.ticked = false;
                    return Event::Request(rq);
                }
                // Woken by the mailbox, or the tick is due.
                Ok(None) => {}
                Err(e) => return Event::AcceptDied(e),
            }
        }
    }
}
