//! Responses to changes that wait for their write to be durable (group commit,
//! `track_file/group_commit.rs`), and which connections have one: a later
//! request on such a connection waits too, so that it sees its own change.

use std::collections::VecDeque;
use std::net::SocketAddr;

/// Held items in version order (versions only grow between failures).
pub(crate) struct Held<T> {
    queue: VecDeque<(u64, SocketAddr, T)>,
}

impl<T> Default for Held<T> {
    fn default() -> Self {
        Held {
            queue: VecDeque::new(),
        }
    }
}

impl<T> Held<T> {
    pub(crate) fn push(&mut self, version: u64, peer: SocketAddr, item: T) {
        self.queue.push_back((version, peer, item));
    }

    /// Whether `peer` has a response held (a few at most: a linear scan).
    pub(crate) fn has(&self, peer: &SocketAddr) -> bool {
        self.queue.iter().any(|(_, p, _)| p == peer)
    }

    /// The items whose version is durable now, in order.
    pub(crate) fn release(&mut self, durable: u64) -> Vec<(SocketAddr, T)> {
        let n = self.queue.partition_point(|(v, _, _)| *v <= durable);
        self.queue.drain(..n).map(|(_, p, t)| (p, t)).collect()
    }

    /// Every item (a write failed: none of them was made).
    pub(crate) fn take_all(&mut self) -> Vec<(SocketAddr, T)> {
        self.queue.drain(..).map(|(_, p, t)| (p, t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_durable_version_releases_what_it_covers_in_order_and_nothing_after() {
        let (a, b) = (
            SocketAddr::from(([127, 0, 0, 1], 1)),
            SocketAddr::from(([127, 0, 0, 1], 2)),
        );
        let mut held = Held::default();
        held.push(1, a, "a1");
        held.push(2, b, "b2");
        held.push(3, a, "a3");
        assert!(held.has(&a) && held.has(&b));
        // One fsync covering versions 1 and 2 (group commit).
        assert_eq!(held.release(2), vec![(a, "a1"), (b, "b2")]);
        assert!(!held.has(&b) && held.has(&a));
        assert_eq!(held.release(2), vec![]);
        assert_eq!(held.take_all(), vec![(a, "a3")]);
        assert!(!held.has(&a));
    }
}
