//! One record per client connection, keyed by the peer's address, for its
//! whole life: when it last sent a request, its socket's descriptor once a scan
//! has found it, the order of its responses and what waits for them, and
//! whether it is cut.
//!
//! **Order.** tiny_http writes the responses of one connection in request
//! order: a write waits (without a timeout) until every earlier response of
//! that connection is written. So each request is numbered as the loop takes
//! it, and a response is handed to a writer only when it is its connection's
//! next one and no other write of it is under way: a writer never waits on
//! another writer, and a connection whose client stops reading holds at most one.
//!
//! **Bounds.** A connection with more than [`MAX_PIPELINED`] requests
//! unanswered is cut: pipelining without reading costs a bounded amount of
//! memory. Its waiting response bytes are bounded too ([`MAX_BACKLOG_BYTES`],
//! counting what its socket's send queue still holds): beyond it, its further
//! requests are parked here unrouted until writes catch up.
//!
//! **Cut.** A connection cut (a write failed or timed out, or it pipelined too
//! far) gives back everything its record held, to be dropped in one place;
//! what tiny_http still delivers from it is dropped until `forget_after`.
//!
//! **The last request** says whether a request opens a new connection (the
//! address not seen within the idle timeout: its send queue is empty, so a
//! small first response can be written on the loop) and, to the recycle check,
//! whether a silent connection ever sent one. **The descriptor** lets the loop
//! ask the kernel whether a response fits the send queue and what it still holds.
//!
//! One prune rule: a descriptor scan sees every open connection, so a record
//! the scan did not find, with no request since it began, nothing unanswered
//! and no cut pending, is a closed connection and goes; a cut record goes when
//! its time is up.
//!
//! Generic over the reply and request values so it is tested without sockets.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// Requests one connection may have taken in and not yet answered.
pub(crate) const MAX_PIPELINED: u64 = 64;
/// Response bytes one connection may have waiting (being written or queued)
/// before its further requests wait unrouted.
pub(crate) const MAX_BACKLOG_BYTES: usize = 256 * 1024;
/// Records kept at most (the unit's LimitNOFILE is 1024): beyond it, those with
/// no request within the window and nothing pending go first, then a scan
/// rebuilds the table.
const MAX_PEERS: usize = 4096;

struct Peer<R, P> {
    last_request: Option<Instant>,
    fd: Option<RawFd>,
    /// Cut: what still comes from it is dropped until then.
    cut_until: Option<Instant>,
    /// While a request of it is unanswered: its order and what waits. Boxed,
    /// so that the record of an idle connection (most of them, in a flood of
    /// idle connections) is small.
    order: Option<Box<Order<R, P>>>,
}

struct Order<R, P> {
    /// The number the next request taken in gets.
    next_seq: u64,
    /// The number of the response that goes out next.
    next_to_write: u64,
    writing: bool,
    /// A response that closes the connection is on its way: take nothing more.
    closing: bool,
    /// Responses that are ready but not yet their connection's turn.
    ready: BTreeMap<u64, (R, usize)>,
    /// Bytes of the responses in `ready` and of the one being written.
    backlog: usize,
    writing_bytes: usize,
    /// Requests taken in but not routed yet: the backlog was over its bound.
    parked: VecDeque<P>,
}

impl<R, P> Default for Peer<R, P> {
    fn default() -> Self {
        Peer {
            last_request: None,
            fd: None,
            cut_until: None,
            order: None,
        }
    }
}

impl<R, P> Default for Order<R, P> {
    fn default() -> Self {
        Order {
            next_seq: 0,
            next_to_write: 0,
            writing: false,
            closing: false,
            ready: BTreeMap::new(),
            backlog: 0,
            writing_bytes: 0,
            parked: VecDeque::new(),
        }
    }
}

impl<R, P> Peer<R, P> {
    fn unanswered(&self) -> bool {
        self.order.is_some()
    }

    /// Whether it must stay whatever a scan says.
    fn pending(&self) -> bool {
        self.unanswered() || self.cut_until.is_some()
    }
}

/// What a cut connection had: replies to drop unwritten, requests unrouted.
pub(crate) struct Dropped<R, P> {
    pub(crate) replies: Vec<R>,
    pub(crate) parked: Vec<P>,
}

/// What to do with a request just taken off the queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Serve it; its response is number `seq` of its connection, which this
    /// request opened (`fresh`) or not.
    Seq { seq: u64, fresh: bool },
    /// Its connection is cut: drop it unanswered.
    Cut,
    /// Too much pipelining: cut the connection now (and drop this request).
    CutNow,
}

pub(crate) struct Peers<R, P> {
    known: HashMap<SocketAddr, Peer<R, P>>,
    /// How long a cut connection may still deliver requests (tiny_http parses
    /// what it had buffered) before its address may be a new connection.
    forget_after: Duration,
}

impl<R, P> Peers<R, P> {
    pub(crate) fn new(forget_after: Duration) -> Self {
        Peers {
            known: HashMap::new(),
            forget_after,
        }
    }

    /// `peer` sent a request at `now`: numbers it, or says it must be dropped.
    /// A request opens a new connection when its address was not seen within
    /// `window` (the idle timeout, after which tiny_http closes a connection).
    pub(crate) fn admit(&mut self, peer: SocketAddr, now: Instant, window: Duration) -> Admit {
        if self.known.len() >= MAX_PEERS && !self.known.contains_key(&peer) {
            self.known.retain(|_, p| {
                p.pending()
                    || p.last_request
                        .is_some_and(|at| now.duration_since(at) < window)
            });
        }
        let record = self.known.entry(peer).or_default();
        if let Some(until) = record.cut_until {
            if until > now {
                return Admit::Cut;
            }
            *record = Peer::default();
        }
        if record.order.as_ref().is_some_and(|o| o.closing) {
            return Admit::Cut;
        }
        let fresh = record
            .last_request
            .is_none_or(|at| now.duration_since(at) >= window);
        record.last_request = Some(now);
        let order = record.order.get_or_insert_default();
        if order.next_seq - order.next_to_write >= MAX_PIPELINED {
            return Admit::CutNow;
        }
        order.next_seq += 1;
        Admit::Seq {
            seq: order.next_seq - 1,
            fresh,
        }
    }

    /// The order of `peer` while it has a request unanswered and is not cut.
    fn order(&mut self, peer: &SocketAddr) -> Option<&mut Order<R, P>> {
        let record = self.known.get_mut(peer)?;
        record.order.as_deref_mut()
    }

    /// Files response `seq` of `peer` (`bytes` long). Returns the reply to
    /// write now, if it is the connection's turn; a reply for a cut connection
    /// comes back in `Err` to be dropped.
    pub(crate) fn ready(
        &mut self,
        peer: SocketAddr,
        seq: u64,
        reply: R,
        bytes: usize,
    ) -> Result<Option<R>, R> {
        let Some(conn) = self.order(&peer) else {
            return Err(reply);
        };
        conn.backlog += bytes;
        if seq == conn.next_to_write && !conn.writing {
            conn.writing = true;
            conn.writing_bytes = bytes;
            return Ok(Some(reply));
        }
        conn.ready.insert(seq, (reply, bytes));
        Ok(None)
    }

    /// A write to `peer` ended. Returns the next reply to write, if it is ready.
    /// Once every request is answered, the connection's order is dropped.
    pub(crate) fn written(&mut self, peer: SocketAddr) -> Option<R> {
        let record = self.known.get_mut(&peer)?;
        let conn = record.order.as_deref_mut().filter(|o| o.writing)?;
        conn.writing = false;
        conn.backlog -= conn.writing_bytes;
        conn.writing_bytes = 0;
        conn.next_to_write += 1;
        if let Some((next, bytes)) = conn.ready.remove(&conn.next_to_write) {
            conn.writing = true;
            conn.writing_bytes = bytes;
            return Some(next);
        }
        if conn.next_to_write == conn.next_seq {
            record.order = None;
        }
        None
    }

    /// Holds request `p` of `peer` unrouted (its connection is backlogged);
    /// gives it back if the connection is gone (cut) and so it is to be dropped.
    pub(crate) fn park(&mut self, peer: SocketAddr, p: P) -> Result<(), P> {
        match self.order(&peer) {
            Some(conn) => {
                conn.parked.push_back(p);
                Ok(())
            }
            None => Err(p),
        }
    }

    /// `peer`'s oldest parked request, if it has one and is not backlogged
    /// (`unsent` as for [`Self::backlogged`]).
    pub(crate) fn unpark(
        &mut self,
        peer: &SocketAddr,
        unsent: impl FnOnce(RawFd) -> Option<usize>,
    ) -> Option<P> {
        if self.backlogged(peer, unsent) {
            return None;
        }
        self.order(peer)?.parked.pop_front()
    }

    /// Whether `peer` has so many response bytes waiting, here and in the kernel
    /// (`unsent`: what its socket's send queue holds, asked only when something
    /// waits here and its descriptor is known), that its next requests must wait.
    pub(crate) fn backlogged(
        &self,
        peer: &SocketAddr,
        unsent: impl FnOnce(RawFd) -> Option<usize>,
    ) -> bool {
        self.known.get(peer).is_some_and(|p| {
            p.order.as_ref().is_some_and(|c| {
                c.backlog > 0 && c.backlog + p.fd.and_then(unsent).unwrap_or(0) > MAX_BACKLOG_BYTES
            })
        })
    }

    /// A response that closes `peer`'s connection is on its way: requests that
    /// come after it are dropped (they may be the body of a malformed one).
    pub(crate) fn close_after(&mut self, peer: SocketAddr) {
        if let Some(conn) = self.order(&peer) {
            conn.closing = true;
        }
    }

    /// Cuts `peer` (gone, or to be shut down): returns its queued replies, to
    /// be dropped unwritten, and its parked requests, to be dropped unrouted.
    /// Replies still being made (bodies, hashes) are dropped when they come.
    pub(crate) fn cut(&mut self, peer: SocketAddr, now: Instant) -> Dropped<R, P> {
        let record = self.known.entry(peer).or_default();
        let was = std::mem::take(record).order;
        record.cut_until = Some(now + self.forget_after);
        match was {
            Some(order) => Dropped {
                replies: order.ready.into_values().map(|(r, _)| r).collect(),
                parked: order.parked.into(),
            },
            None => Dropped {
                replies: Vec::new(),
                parked: Vec::new(),
            },
        }
    }

    /// Whether `peer` has a request taken in and not yet answered.
    pub(crate) fn unanswered(&self, peer: &SocketAddr) -> bool {
        self.known.get(peer).is_some_and(Peer::unanswered)
    }

    /// Whether every request taken in is answered.
    pub(crate) fn all_answered(&self) -> bool {
        !self.known.values().any(Peer::unanswered)
    }

    /// When `peer` last sent a request, if it is known.
    pub(crate) fn last_request(&self, peer: &SocketAddr) -> Option<Instant> {
        self.known.get(peer)?.last_request
    }

    /// `peer`'s socket descriptor, if a scan found it.
    pub(crate) fn fd(&self, peer: &SocketAddr) -> Option<RawFd> {
        self.known.get(peer)?.fd
    }

    /// The descriptor found for `peer` is no longer its socket (it closed and
    /// the number may be reused): ask a scan again.
    pub(crate) fn lose_fd(&mut self, peer: &SocketAddr) {
        if let Some(p) = self.known.get_mut(peer) {
            p.fd = None;
        }
    }

    /// A descriptor scan begun at `began` found these open connections.
    pub(crate) fn scanned(
        &mut self,
        found: impl IntoIterator<Item = (SocketAddr, RawFd)>,
        began: Instant,
    ) {
        for p in self.known.values_mut() {
            p.fd = None;
        }
        for (peer, fd) in found {
            if self.known.len() >= MAX_PEERS && !self.known.contains_key(&peer) {
                continue;
            }
            self.known.entry(peer).or_default().fd = Some(fd);
        }
        self.known.retain(|_, p| {
            p.fd.is_some() || p.pending() || p.last_request.is_some_and(|at| at >= began)
        });
        self.shrink();
    }

    /// Forgets cut connections whose time is up (bounded memory).
    pub(crate) fn prune(&mut self, now: Instant) {
        self.known
            .retain(|_, p| p.cut_until.is_none_or(|until| until > now));
        self.shrink();
    }

    /// Hands back a table grown by a flood once its connections are gone.
    fn shrink(&mut self) {
        if self.known.capacity() > 64 && self.known.len() * 4 < self.known.capacity() {
            self.known.shrink_to(self.known.len() * 2);
        }
    }

    /// Connections known now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.known.len()
    }
}
