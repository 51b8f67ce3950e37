//! What the edge knows of each open client connection for its whole life, one
//! record per connection (keyed by the peer's address): when it last sent a
//! request, and its socket's descriptor once a scan has found it.
//!
//! The request-time facts (the order of its responses, its backlog, what is
//! parked) live in `conns.rs` and only while a request is unanswered; these
//! live between requests too:
//! - the last request says whether a request opens a new connection (the
//!   address not seen within the idle timeout: its send queue is empty, so a
//!   small first response can be written on the loop) and, to the recycle
//!   check, whether a silent connection ever sent one;
//! - the descriptor lets the loop ask the kernel whether a response fits the
//!   send queue (inline writes) and what the queue still holds (the backlog).
//!
//! One prune rule: a descriptor scan sees every open connection, so a record
//! the scan did not find, with no request since the scan began, is a closed
//! connection and goes. A connection that closes on a write goes at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Records kept at most (the unit's LimitNOFILE is 1024): beyond it, those with
/// no request within the window go first, then a scan rebuilds the table.
const MAX_PEERS: usize = 4096;

#[derive(Default)]
struct Peer {
    last_request: Option<Instant>,
    fd: Option<RawFd>,
}

#[derive(Default)]
pub(crate) struct Peers {
    known: HashMap<SocketAddr, Peer>,
}

impl Peers {
    /// `peer` sent a request at `now`: whether it opens a new connection (not
    /// seen within `window`, the idle timeout after which tiny_http closes).
    pub(crate) fn request(&mut self, peer: SocketAddr, now: Instant, window: Duration) -> bool {
        if self.known.len() >= MAX_PEERS && !self.known.contains_key(&peer) {
            self.known.retain(|_, p| {
                p.last_request
                    .is_some_and(|at| now.duration_since(at) < window)
            });
        }
        let record = self.known.entry(peer).or_default();
        let new = record
            .last_request
            .is_none_or(|at| now.duration_since(at) >= window);
        record.last_request = Some(now);
        new
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

    /// `peer`'s connection closed (a write found it gone, or it was cut).
    pub(crate) fn closed(&mut self, peer: &SocketAddr) {
        self.known.remove(peer);
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
        self.known
            .retain(|_, p| p.fd.is_some() || p.last_request.is_some_and(|at| at >= began));
    }

    /// Connections known now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.known.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_request_opens_a_new_connection_unless_its_address_was_seen_lately() {
        let mut peers = Peers::default();
        let (t0, idle) = (Instant::now(), Duration::from_secs(5));
        assert!(peers.request(peer(1), t0, idle));
        assert!(!peers.request(peer(1), t0 + Duration::from_secs(4), idle));
        assert_eq!(
            peers.last_request(&peer(1)),
            Some(t0 + Duration::from_secs(4))
        );
        // Silent longer than the idle timeout: tiny_http closed it, so the
        // address is a new connection.
        assert!(peers.request(peer(1), t0 + Duration::from_secs(10), idle));
        assert!(peers.request(peer(2), t0, idle));
    }

    #[test]
    fn a_scan_gives_descriptors_and_forgets_what_it_did_not_find() {
        let mut peers = Peers::default();
        let (t0, idle) = (Instant::now(), Duration::from_secs(5));
        peers.request(peer(1), t0, idle);
        peers.request(peer(2), t0, idle);
        let began = t0 + Duration::from_millis(10);
        // A request after the scan began: its connection may be newer than the scan.
        peers.request(peer(3), began + Duration::from_millis(1), idle);
        // Found: 1 (with a request) and 4 (never sent one); not found: 2 (closed).
        peers.scanned([(peer(1), 7), (peer(4), 9)], began);
        assert_eq!(peers.fd(&peer(1)), Some(7));
        assert_eq!(peers.fd(&peer(4)), Some(9));
        assert_eq!(peers.last_request(&peer(4)), None);
        assert_eq!(
            (peers.fd(&peer(2)), peers.last_request(&peer(2))),
            (None, None)
        );
        assert_eq!(peers.fd(&peer(3)), None);
        assert!(peers.last_request(&peer(3)).is_some());
        assert_eq!(peers.len(), 3);
        // A connection found by a scan and never heard from: its first request opens it.
        assert!(peers.request(peer(4), began, idle));
        // A descriptor found stale is dropped; a closed connection is forgotten.
        peers.lose_fd(&peer(1));
        assert_eq!(peers.fd(&peer(1)), None);
        peers.closed(&peer(1));
        assert_eq!(peers.last_request(&peer(1)), None);
        // The next scan does not find 3: it is gone.
        peers.scanned([(peer(4), 9)], began + Duration::from_secs(1));
        assert_eq!(peers.len(), 1);
    }
}
