//! The order in which responses go out on each connection, and which
//! connections are cut.
//!
//! tiny_http writes the responses of one connection in request order: a write
//! waits (without a timeout) until every earlier response of that connection is
//! written. So the edge numbers each connection's requests as the loop takes them
//! and hands a response to a writer only when it is that connection's next one and
//! no other write of it is under way: a writer never waits on another writer, and
//! a connection whose client stops reading holds at most one writer.
//!
//! A connection is cut (its socket shut down, its queued responses dropped
//! unwritten) when a write to it fails or times out, or when it has more than
//! [`MAX_PIPELINED`] requests unanswered: pipelining without reading then costs
//! a bounded amount of memory.
//!
//! The responses a connection has waiting are bounded in bytes as well
//! ([`MAX_BACKLOG_BYTES`], counting what its socket's send queue still holds):
//! beyond it the edge holds further requests unrouted until writes catch up, so
//! a client that asks for big pages and does not read them costs little memory
//! until it is cut. Those requests wait here, in their connection's record
//! (`park`), so that cutting a connection forgets all it had in one place.
//!
//! Generic over the reply and request values so it can be tested without sockets.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Requests one connection may have taken in and not yet answered.
pub(crate) const MAX_PIPELINED: u64 = 64;
/// Response bytes one connection may have waiting (being written or queued)
/// before its further requests wait unrouted.
pub(crate) const MAX_BACKLOG_BYTES: usize = 256 * 1024;

struct Conn<R, P> {
    /// The number the next request taken off the queue gets.
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

/// What a cut connection had: replies to drop unwritten, requests unrouted.
pub(crate) struct Dropped<R, P> {
    pub(crate) replies: Vec<R>,
    pub(crate) parked: Vec<P>,
}

/// What to do with a request just taken off the queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Serve it; its response is number `seq` of its connection.
    Seq(u64),
    /// Its connection is cut: drop it unanswered.
    Cut,
    /// Too much pipelining: cut the connection now (and drop this request).
    CutNow,
}

pub(crate) struct Connections<R, P> {
    live: HashMap<SocketAddr, Conn<R, P>>,
    /// Cut connections, until when to drop what still comes from them.
    cut: HashMap<SocketAddr, Instant>,
    /// How long a cut connection may still deliver requests (tiny_http parses
    /// what it had buffered) before its address may be a new connection.
    forget_after: Duration,
}

impl<R, P> Connections<R, P> {
    pub(crate) fn new(forget_after: Duration) -> Self {
        Connections {
            live: HashMap::new(),
            cut: HashMap::new(),
            forget_after,
        }
    }

    /// Numbers a request of `peer`, or says it must be dropped.
    pub(crate) fn admit(&mut self, peer: SocketAddr, now: Instant) -> Admit {
        if !self.cut.is_empty()
            && let Some(until) = self.cut.get(&peer)
        {
            if *until > now {
                return Admit::Cut;
            }
            self.cut.remove(&peer);
        }
        let conn = self.live.entry(peer).or_insert_with(|| Conn {
            next_seq: 0,
            next_to_write: 0,
            writing: false,
            closing: false,
            ready: BTreeMap::new(),
            backlog: 0,
            writing_bytes: 0,
            parked: VecDeque::new(),
        });
        if conn.closing {
            return Admit::Cut;
        }
        if conn.next_seq - conn.next_to_write >= MAX_PIPELINED {
            return Admit::CutNow;
        }
        conn.next_seq += 1;
        Admit::Seq(conn.next_seq - 1)
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
        let Some(conn) = self.live.get_mut(&peer) else {
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
    pub(crate) fn written(&mut self, peer: SocketAddr) -> Option<R> {
        let conn = self.live.get_mut(&peer)?;
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
            self.live.remove(&peer);
        }
        None
    }

    /// Holds request `p` of `peer` unrouted (its connection is backlogged);
    /// gives it back if the connection is gone (cut) and so it is to be dropped.
    pub(crate) fn park(&mut self, peer: SocketAddr, p: P) -> Result<(), P> {
        match self.live.get_mut(&peer) {
            Some(conn) => {
                conn.parked.push_back(p);
                Ok(())
            }
            None => Err(p),
        }
    }

    /// `peer`'s oldest parked request, if it has one and is not backlogged
    /// (`in_kernel` as for [`Self::backlogged`]).
    pub(crate) fn unpark(
        &mut self,
        peer: &SocketAddr,
        in_kernel: impl FnOnce() -> usize,
    ) -> Option<P> {
        if self.backlogged(peer, in_kernel) {
            return None;
        }
        self.live.get_mut(peer)?.parked.pop_front()
    }

    /// Whether `peer` has so many response bytes waiting, here and in the kernel
    /// (`in_kernel`: its socket's send queue, asked only when something waits
    /// here), that its next request should wait unrouted. The send queue alone
    /// never makes a connection backlogged: it is bounded well below the bound
    /// (`send_queue::SEND_BUFFER`), so a parked request always has a write of its
    /// connection under way or to come, whose end unparks it.
    pub(crate) fn backlogged(&self, peer: &SocketAddr, in_kernel: impl FnOnce() -> usize) -> bool {
        self.live
            .get(peer)
            .is_some_and(|c| c.backlog > 0 && c.backlog + in_kernel() > MAX_BACKLOG_BYTES)
    }

    /// A response that closes `peer`'s connection is on its way: requests that
    /// come after it are dropped (they may be the body of a malformed one).
    pub(crate) fn close_after(&mut self, peer: SocketAddr) {
        if let Some(conn) = self.live.get_mut(&peer) {
            conn.closing = true;
        }
    }

    /// Cuts `peer`: returns its queued replies, to be dropped unwritten, and
    /// its parked requests, to be dropped unrouted. Replies still being made
    /// (bodies, hashes) are dropped when they come.
    pub(crate) fn cut(&mut self, peer: SocketAddr, now: Instant) -> Dropped<R, P> {
        self.cut.insert(peer, now + self.forget_after);
        match self.live.remove(&peer) {
            Some(c) => Dropped {
                replies: c.ready.into_values().map(|(r, _)| r).collect(),
                parked: c.parked.into(),
            },
            None => Dropped {
                replies: Vec::new(),
                parked: Vec::new(),
            },
        }
    }

    /// Whether `peer` has a request taken in and not yet answered.
    pub(crate) fn has(&self, peer: &SocketAddr) -> bool {
        self.live.contains_key(peer)
    }

    /// Whether any request is taken in and not yet answered.
    pub(crate) fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Forgets cut connections whose time is up (bounded memory).
    pub(crate) fn prune(&mut self, now: Instant) {
        self.cut.retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn responses_go_out_in_request_order_one_at_a_time() {
        let now = Instant::now();
        let mut c: Connections<&str, ()> = Connections::new(Duration::from_secs(1));
        let (a, b) = (peer(1), peer(2));
        assert_eq!(c.admit(a, now), Admit::Seq(0));
        assert_eq!(c.admit(a, now), Admit::Seq(1));
        assert_eq!(c.admit(a, now), Admit::Seq(2));
        assert_eq!(c.admit(b, now), Admit::Seq(0));
        // The second answer is ready first (the first waits for its body): it waits.
        assert_eq!(c.ready(a, 1, "a1", 10), Ok(None));
        assert_eq!(c.ready(a, 0, "a0", 10), Ok(Some("a0")));
        // Another connection is not held up.
        assert_eq!(c.ready(b, 0, "b0", 10), Ok(Some("b0")));
        assert_eq!(c.ready(a, 2, "a2", MAX_BACKLOG_BYTES), Ok(None));
        assert!(c.backlogged(&a, || 0) && !c.backlogged(&b, || 0));
        assert_eq!(c.written(a), Some("a1"));
        assert!(c.backlogged(&a, || 0));
        assert_eq!(c.written(a), Some("a2"));
        assert!(!c.backlogged(&a, || 0));
        // What the kernel still holds counts: a2 plus a full send queue is too much.
        assert!(c.backlogged(&a, || 64 * 1024));
        assert_eq!(c.written(a), None);
        // Nothing waiting here: a send queue alone never parks a request.
        assert!(!c.backlogged(&a, || MAX_BACKLOG_BYTES * 2));
        assert_eq!(c.written(b), None);
        assert!(c.is_empty());
    }

    #[test]
    fn a_connection_that_pipelines_too_far_is_cut_and_stays_cut_for_a_while() {
        let now = Instant::now();
        let mut c: Connections<u64, u64> = Connections::new(Duration::from_secs(1));
        let a = peer(1);
        for i in 0..MAX_PIPELINED {
            assert_eq!(c.admit(a, now), Admit::Seq(i));
        }
        assert_eq!(c.ready(a, 0, 0, 1), Ok(Some(0)));
        assert_eq!(c.ready(a, 1, 1, 1), Ok(None));
        assert_eq!(c.admit(a, now), Admit::CutNow);
        assert_eq!(c.cut(a, now).replies, vec![1]);
        assert_eq!(c.admit(a, now), Admit::Cut);
        // A reply still being made when it was cut is handed back to be dropped.
        assert_eq!(c.ready(a, 5, 5, 1), Err(5));
        assert!(c.is_empty());
        let later = now + Duration::from_secs(2);
        c.prune(later);
        assert_eq!(c.admit(a, later), Admit::Seq(0));
    }

    #[test]
    fn a_backlogged_connection_parks_requests_in_order_and_a_cut_forgets_them() {
        let now = Instant::now();
        let mut c: Connections<&str, &str> = Connections::new(Duration::from_secs(1));
        let (a, b) = (peer(1), peer(2));
        for i in 0..4 {
            assert_eq!(c.admit(a, now), Admit::Seq(i));
        }
        // A big first response, being written: the connection is backlogged.
        assert_eq!(c.ready(a, 0, "a0", MAX_BACKLOG_BYTES + 1), Ok(Some("a0")));
        assert!(c.backlogged(&a, || 0));
        assert_eq!(c.park(a, "r1"), Ok(()));
        assert_eq!(c.park(a, "r2"), Ok(()));
        // Nothing comes out while the backlog is over its bound.
        assert_eq!(c.unpark(&a, || 0), None);
        // A connection with nothing taken in has no record to park in.
        assert_eq!(c.park(b, "b1"), Err("b1"));
        // The write ends: parked requests come out oldest first.
        assert_eq!(c.written(a), None);
        assert_eq!(c.unpark(&a, || 0), Some("r1"));
        assert_eq!(c.unpark(&a, || 0), Some("r2"));
        assert_eq!(c.unpark(&a, || 0), None);
        // Parked again behind another big response, then cut: one place forgets all.
        assert_eq!(c.ready(a, 1, "a1", MAX_BACKLOG_BYTES + 1), Ok(Some("a1")));
        assert_eq!(c.ready(a, 2, "a2", 10), Ok(None));
        assert_eq!(c.park(a, "r3"), Ok(()));
        let dropped = c.cut(a, now);
        assert_eq!((dropped.replies, dropped.parked), (vec!["a2"], vec!["r3"]));
        assert!(c.is_empty());
        assert_eq!(c.park(a, "r4"), Err("r4"));
    }
}
