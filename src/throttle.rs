//! Login throttling: consecutive failures per client address and per username.
//!
//! A password hash costs ~0.1–0.5 s on a small device, so a refused attempt must be
//! decided before any hashing. Hashes run off the handler loop, several at once,
//! so attempts still being hashed count too: once the free failures are used up
//! (by failures and attempts in flight together), a key gets one attempt at a time,
//! and concurrency cannot multiply one client's guesses.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

/// Failures allowed before the first lock.
pub const FREE_FAILURES: u32 = 5;
/// The first lock, in milliseconds; it doubles with each further failure.
pub const FIRST_LOCK_MS: u64 = 1_000;
/// The longest lock, in milliseconds (15 minutes).
pub const MAX_LOCK_MS: u64 = 15 * 60 * 1_000;
/// The most keys each counter remembers; beyond it, unlocked entries are dropped
/// first, so memory stays bounded whatever an attacker sends.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Entry {
    failures: u32,
    locked_until_ms: u64,
    /// Attempts begun and not yet ended (their hash is being computed).
    in_flight: u32,
}

/// One bounded counter of consecutive failures per key.
#[derive(Debug)]
struct Counter<K> {
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Counter<K> {
    fn new() -> Self {
        Counter {
            entries: HashMap::new(),
        }
    }

    fn locked_for_ms(&self, key: &K, now_ms: u64) -> u64 {
        self.entries.get(key).map_or(0, |e| {
            let locked = e.locked_until_ms.saturating_sub(now_ms);
            let busy = e.in_flight > 0 && e.failures + e.in_flight >= FREE_FAILURES;
            if locked == 0 && busy { 1 } else { locked }
        })
    }

    fn begin(&mut self, key: &K, now_ms: u64) {
        if !self.entries.contains_key(key) && self.entries.len() >= MAX_ENTRIES {
            self.make_room(now_ms);
        }
        let e = self.entries.entry(key.clone()).or_default();
        e.in_flight = e.in_flight.saturating_add(1);
    }

    fn end(&mut self, key: &K) {
        if let Some(e) = self.entries.get_mut(key) {
            e.in_flight = e.in_flight.saturating_sub(1);
            if *e == Entry::default() {
                self.entries.remove(key);
            }
        }
    }

    fn fail(&mut self, key: &K, now_ms: u64) {
        if !self.entries.contains_key(key) && self.entries.len() >= MAX_ENTRIES {
            self.make_room(now_ms);
        }
        let e = self.entries.entry(key.clone()).or_default();
        e.failures = e.failures.saturating_add(1);
        if e.failures >= FREE_FAILURES {
            let doublings = (e.failures - FREE_FAILURES).min(20);
            let lock = (FIRST_LOCK_MS << doublings).min(MAX_LOCK_MS);
            e.locked_until_ms = now_ms + lock;
        }
    }

    fn reset(&mut self, key: &K) {
        if let Some(e) = self.entries.get_mut(key) {
            *e = Entry {
                in_flight: e.in_flight,
                ..Entry::default()
            };
            if e.in_flight == 0 {
                self.entries.remove(key);
            }
        }
    }

    /// Drops entries that are not locked now; if all are locked, the one whose
    /// lock ends first (an attacker flooding keys cannot unlock the rest).
    fn make_room(&mut self, now_ms: u64) {
        self.entries.retain(|_, e| e.locked_until_ms > now_ms);
        let ends_first = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.locked_until_ms)
            .map(|(k, _)| k.clone());
        if self.entries.len() >= MAX_ENTRIES
            && let Some(k) = ends_first
        {
            self.entries.remove(&k);
        }
    }
}

/// The two counters a login attempt is checked against.
#[derive(Debug)]
pub struct LoginThrottle {
    by_addr: Counter<IpAddr>,
    by_user: Counter<String>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            by_addr: Counter::new(),
            by_user: Counter::new(),
        }
    }
}

impl LoginThrottle {
    /// `Some(seconds to wait)` if either counter is locked; the attempt must then
    /// be refused without hashing and without counting it as a failure.
    pub fn refused_for_secs(&self, addr: IpAddr, user: &str, now_ms: u64) -> Option<u64> {
        let ms = self
            .by_addr
            .locked_for_ms(&addr, now_ms)
            .max(self.by_user.locked_for_ms(&user.to_owned(), now_ms));
        (ms > 0).then(|| ms.div_ceil(1000))
    }

    /// An attempt that passed [`LoginThrottle::refused_for_secs`] is being hashed:
    /// it counts until [`LoginThrottle::end`].
    pub fn begin(&mut self, addr: IpAddr, user: &str, now_ms: u64) {
        self.by_addr.begin(&addr, now_ms);
        self.by_user.begin(&user.to_owned(), now_ms);
    }

    /// The attempt begun with [`LoginThrottle::begin`] is over (then record its
    /// outcome with `failed`/`succeeded`, unless it was abandoned).
    pub fn end(&mut self, addr: IpAddr, user: &str) {
        self.by_addr.end(&addr);
        self.by_user.end(&user.to_owned());
    }

    /// Records a failed attempt on both counters.
    pub fn failed(&mut self, addr: IpAddr, user: &str, now_ms: u64) {
        self.by_addr.fail(&addr, now_ms);
        self.by_user.fail(&user.to_owned(), now_ms);
    }

    /// Records a success: both counters start over.
    pub fn succeeded(&mut self, addr: IpAddr, user: &str) {
        self.by_addr.reset(&addr);
        self.by_user.reset(&user.to_owned());
    }

    /// The counters, to hand to the next image of this process (see
    /// `edge/recycle.rs`); attempts in flight are not kept (there are none then).
    pub fn save(&self) -> Vec<u8> {
        fn rows<K: ToString>(c: &Counter<K>) -> Vec<(String, u32, u64)> {
            c.entries
                .iter()
                .map(|(k, e)| (k.to_string(), e.failures, e.locked_until_ms))
                .collect()
        }
        serde_json::to_vec(&(rows(&self.by_addr), rows(&self.by_user))).unwrap_or_default()
    }

    /// Takes back what [`LoginThrottle::save`] wrote; returns how many addresses
    /// and usernames it holds. Anything unreadable is ignored (an empty throttle).
    pub fn restore(&mut self, bytes: &[u8]) -> (usize, usize) {
        type Rows = Vec<(String, u32, u64)>;
        let Ok((addrs, users)) = serde_json::from_slice::<(Rows, Rows)>(bytes) else {
            return (0, 0);
        };
        let entry = |failures, locked_until_ms| Entry {
            failures,
            locked_until_ms,
            in_flight: 0,
        };
        for (k, f, l) in addrs.into_iter().take(MAX_ENTRIES) {
            if let Ok(ip) = k.parse::<IpAddr>() {
                self.by_addr.entries.insert(ip, entry(f, l));
            }
        }
        for (k, f, l) in users.into_iter().take(MAX_ENTRIES) {
            self.by_user.entries.insert(k, entry(f, l));
        }
        self.len()
    }

    /// How many keys are remembered (for tests of the bound).
    pub fn len(&self) -> (usize, usize) {
        (self.by_addr.entries.len(), self.by_user.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn five_failures_lock_and_locks_double_up_to_15_minutes() {
        let mut t = LoginThrottle::default();
        for _ in 0..4 {
            t.failed(A, "john", 0);
        }
        assert_eq!(t.refused_for_secs(A, "john", 0), None);
        t.failed(A, "john", 0);
        assert_eq!(t.refused_for_secs(A, "john", 0), Some(1));
        assert_eq!(t.refused_for_secs(A, "john", 1_000), None);
        t.failed(A, "john", 1_000);
        assert_eq!(t.refused_for_secs(A, "john", 1_000), Some(2));
        let mut now = 1_000;
        for _ in 0..20 {
            now += MAX_LOCK_MS;
            t.failed(A, "john", now);
        }
        assert_eq!(t.refused_for_secs(A, "john", now), Some(900));
    }

    #[test]
    fn counters_are_independent_and_success_resets() {
        let mut t = LoginThrottle::default();
        for _ in 0..5 {
            t.failed(A, "john", 0);
        }
        // Another address is refused for john (user counter), and john's address
        // is refused for another user (address counter).
        assert!(t.refused_for_secs(B, "john", 0).is_some());
        assert!(t.refused_for_secs(A, "mary", 0).is_some());
        assert!(t.refused_for_secs(B, "mary", 0).is_none());
        t.succeeded(A, "john");
        assert!(t.refused_for_secs(A, "john", 0).is_none());
    }

    #[test]
    fn attempts_in_flight_count_so_concurrency_cannot_multiply_guesses() {
        let mut t = LoginThrottle::default();
        let mut begun = 0;
        // 40 attempts at once from one address, each for another username.
        for i in 0..40 {
            let user = format!("user{i}");
            if t.refused_for_secs(A, &user, 0).is_none() {
                t.begin(A, &user, 0);
                begun += 1;
            }
        }
        assert_eq!(begun, FREE_FAILURES);
        for i in 0..begun {
            let user = format!("user{i}");
            t.end(A, &user);
            t.failed(A, &user, 0);
        }
        assert!(t.refused_for_secs(A, "another", 0).is_some());
        // Past the free failures, one attempt at a time once the lock ends.
        let later = 60_000;
        assert!(t.refused_for_secs(A, "x", later).is_none());
        t.begin(A, "x", later);
        assert!(t.refused_for_secs(A, "y", later).is_some());
        t.end(A, "x");
        t.succeeded(A, "x");
        assert!(t.refused_for_secs(A, "y", later).is_none());
        assert_eq!(t.len(), (0, 5));
    }

    #[test]
    fn the_counters_survive_a_save_and_restore() {
        let mut t = LoginThrottle::default();
        for _ in 0..5 {
            t.failed(B, "jo\"hn", 0);
        }
        let mut back = LoginThrottle::default();
        assert_eq!(back.restore(&t.save()), (1, 1));
        assert_eq!(back.refused_for_secs(B, "x", 0), Some(1));
        assert_eq!(back.refused_for_secs(A, "jo\"hn", 0), Some(1));
        assert_eq!(LoginThrottle::default().restore(b"junk"), (0, 0));
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = LoginThrottle::default();
        for i in 0..(MAX_ENTRIES as u32 + 500) {
            t.failed(A, &format!("user{i}"), 0);
        }
        assert!(t.len().1 <= MAX_ENTRIES);
    }
}
