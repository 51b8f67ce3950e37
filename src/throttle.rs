//! Login throttling: consecutive failures per client address, per username and
//! per proven device.
//!
//! A password hash costs ~0.1–0.5 s on a small device, so a refused attempt must be
//! decided before any hashing. Hashes run off the handler loop, several at once,
//! so attempts still being hashed count too: once the free failures are used up
//! (by failures and attempts in flight together), a key gets one attempt at a time,
//! and concurrency cannot multiply one client's guesses.
//!
//! The username counter is what stops a guesser spread over many addresses, but
//! it would also let anyone lock the owner out. So a client that proves it
//! logged in as this user before (a device cookie, see `session::Device`) is
//! judged by its own failures only, whatever happens elsewhere.

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
            if locked == 0 && busy { 1_000 } else { locked }
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

/// The counters a login attempt is checked against.
#[derive(Debug)]
pub struct LoginThrottle {
    by_addr: Counter<IpAddr>,
    by_user: Counter<String>,
    by_device: Counter<String>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            by_addr: Counter::new(),
            by_user: Counter::new(),
            by_device: Counter::new(),
        }
    }
}

/// Who is trying to log in as whom.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub addr: IpAddr,
    pub user: &'a str,
    /// The id of a device that proved it logged in as `user` before, if any.
    pub proven_device: Option<&'a str>,
}

impl LoginThrottle {
    /// `Some(seconds to wait)` if the attempt must be refused without hashing
    /// and without counting it as a failure. A proven device is checked against
    /// its own counter only; anyone else against the address and the username.
    pub fn refused_for_secs(&self, a: Attempt<'_>, now_ms: u64) -> Option<u64> {
        let ms = match a.proven_device {
            Some(device) => self.by_device.locked_for_ms(&device.to_owned(), now_ms),
            None => self
                .by_addr
                .locked_for_ms(&a.addr, now_ms)
                .max(self.by_user.locked_for_ms(&a.user.to_owned(), now_ms)),
        };
        (ms > 0).then(|| ms.div_ceil(1000))
    }

    /// An attempt that passed [`LoginThrottle::refused_for_secs`] is being hashed:
    /// it counts on the counters it is judged by until [`LoginThrottle::end`].
    pub fn begin(&mut self, a: Attempt<'_>, now_ms: u64) {
        match a.proven_device {
            Some(device) => self.by_device.begin(&device.to_owned(), now_ms),
            None => {
                self.by_addr.begin(&a.addr, now_ms);
                self.by_user.begin(&a.user.to_owned(), now_ms);
            }
        }
    }

    /// The attempt begun with [`LoginThrottle::begin`] is over (then record its
    /// outcome with `failed`/`succeeded`, unless it was abandoned).
    pub fn end(&mut self, a: Attempt<'_>) {
        match a.proven_device {
            Some(device) => self.by_device.end(&device.to_owned()),
            None => {
                self.by_addr.end(&a.addr);
                self.by_user.end(&a.user.to_owned());
            }
        }
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
        let all = (
            rows(&self.by_addr),
            rows(&self.by_user),
            rows(&self.by_device),
        );
        serde_json::to_vec(&all).unwrap_or_default()
    }

    /// Takes back what [`LoginThrottle::save`] wrote; returns how many addresses,
    /// usernames and devices it holds. Anything unreadable leaves it empty.
    pub fn restore(&mut self, bytes: &[u8]) -> (usize, usize, usize) {
        type Rows = Vec<(String, u32, u64)>;
        let Ok((addrs, users, devices)) = serde_json::from_slice::<(Rows, Rows, Rows)>(bytes)
        else {
            return (0, 0, 0);
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
        for (k, f, l) in devices.into_iter().take(MAX_ENTRIES) {
            self.by_device.entries.insert(k, entry(f, l));
        }
        self.len()
    }

    /// Records a failed attempt on every counter it concerns (a proven device's
    /// failures count against the username for everyone else too).
    pub fn failed(&mut self, a: Attempt<'_>, now_ms: u64) {
        self.by_addr.fail(&a.addr, now_ms);
        self.by_user.fail(&a.user.to_owned(), now_ms);
        if let Some(device) = a.proven_device {
            self.by_device.fail(&device.to_owned(), now_ms);
        }
    }

    /// Records a success: the counters the attempt was judged by start over.
    /// A proven device's success leaves the address and username counters as
    /// they are: the failures there came from elsewhere, and clearing them each
    /// time the owner logs in would hand guessers fresh attempts.
    pub fn succeeded(&mut self, a: Attempt<'_>) {
        match a.proven_device {
            Some(device) => self.by_device.reset(&device.to_owned()),
            None => {
                self.by_addr.reset(&a.addr);
                self.by_user.reset(&a.user.to_owned());
            }
        }
    }

    /// How many keys are remembered per counter (for tests of the bound).
    pub fn len(&self) -> (usize, usize, usize) {
        (
            self.by_addr.entries.len(),
            self.by_user.entries.len(),
            self.by_device.entries.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    fn at<'a>(addr: IpAddr, user: &'a str) -> Attempt<'a> {
        Attempt {
            addr,
            user,
            proven_device: None,
        }
    }

    fn device<'a>(addr: IpAddr, user: &'a str, id: &'a str) -> Attempt<'a> {
        Attempt {
            proven_device: Some(id),
            ..at(addr, user)
        }
    }

    #[test]
    fn five_failures_lock_and_locks_double_up_to_15_minutes() {
        let mut t = LoginThrottle::default();
        for _ in 0..4 {
            t.failed(at(A, "john"), 0);
        }
        assert_eq!(t.refused_for_secs(at(A, "john"), 0), None);
        t.failed(at(A, "john"), 0);
        assert_eq!(t.refused_for_secs(at(A, "john"), 0), Some(1));
        assert_eq!(t.refused_for_secs(at(A, "john"), 1_000), None);
        t.failed(at(A, "john"), 1_000);
        assert_eq!(t.refused_for_secs(at(A, "john"), 1_000), Some(2));
        let mut now = 1_000;
        for _ in 0..20 {
            now += MAX_LOCK_MS;
            t.failed(at(A, "john"), now);
        }
        assert_eq!(t.refused_for_secs(at(A, "john"), now), Some(900));
    }

    #[test]
    fn counters_are_independent_and_success_resets() {
        let mut t = LoginThrottle::default();
        for _ in 0..5 {
            t.failed(at(A, "john"), 0);
        }
        // Another address is refused for john (user counter), and john's address
        // is refused for another user (address counter).
        assert!(t.refused_for_secs(at(B, "john"), 0).is_some());
        assert!(t.refused_for_secs(at(A, "mary"), 0).is_some());
        assert!(t.refused_for_secs(at(B, "mary"), 0).is_none());
        t.succeeded(at(A, "john"));
        assert!(t.refused_for_secs(at(A, "john"), 0).is_none());
    }

    #[test]
    fn attempts_in_flight_count_so_concurrency_cannot_multiply_guesses() {
        let mut t = LoginThrottle::default();
        let users: Vec<String> = (0..40).map(|i| format!("user{i}")).collect();
        let mut begun = Vec::new();
        // 40 attempts at once from one address, each for another username.
        for user in &users {
            if t.refused_for_secs(at(A, user), 0).is_none() {
                t.begin(at(A, user), 0);
                begun.push(user);
            }
        }
        assert_eq!(begun.len(), FREE_FAILURES as usize);
        for user in &begun {
            t.end(at(A, user));
            t.failed(at(A, user), 0);
        }
        assert!(t.refused_for_secs(at(A, "another"), 0).is_some());
        // Past the free failures, one attempt at a time once the lock ends.
        let later = 60_000;
        assert!(t.refused_for_secs(at(A, "x"), later).is_none());
        t.begin(at(A, "x"), later);
        assert!(t.refused_for_secs(at(A, "y"), later).is_some());
        t.end(at(A, "x"));
        t.succeeded(at(A, "x"));
        assert!(t.refused_for_secs(at(A, "y"), later).is_none());
    }

    #[test]
    fn the_counters_survive_a_save_and_restore() {
        let mut t = LoginThrottle::default();
        for _ in 0..5 {
            t.failed(device(B, "jo\"hn", "d1"), 0);
        }
        let mut back = LoginThrottle::default();
        assert_eq!(back.restore(&t.save()), (1, 1, 1));
        assert_eq!(back.refused_for_secs(at(B, "x"), 0), Some(1));
        assert_eq!(back.refused_for_secs(at(A, "jo\"hn"), 0), Some(1));
        assert_eq!(back.refused_for_secs(device(A, "jo\"hn", "d1"), 0), Some(1));
        assert_eq!(LoginThrottle::default().restore(b"junk"), (0, 0, 0));
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = LoginThrottle::default();
        for i in 0..(MAX_ENTRIES as u32 + 500) {
            t.failed(at(A, &format!("user{i}")), 0);
        }
        assert!(t.len().1 <= MAX_ENTRIES);
    }

    #[test]
    fn a_proven_device_is_judged_by_its_own_failures_only() {
        let mut t = LoginThrottle::default();
        // Guessers from two addresses lock john's name and their addresses…
        for _ in 0..5 {
            t.failed(at(B, "john"), 0);
            t.failed(at(A, "john"), 0);
        }
        assert!(t.refused_for_secs(at(A, "john"), 0).is_some());
        // …but not john's own device, even from a guesser's address.
        assert_eq!(t.refused_for_secs(device(A, "john", "d1"), 0), None);
        // Its own failures lock it (and count against the name for others).
        for _ in 0..5 {
            t.failed(device(A, "john", "d1"), 0);
        }
        assert_eq!(t.refused_for_secs(device(A, "john", "d1"), 0), Some(1));
        assert_eq!(t.refused_for_secs(device(A, "john", "d2"), 0), None);
        // A device's success clears its own counter only.
        t.succeeded(device(A, "john", "d2"));
        assert_eq!(t.refused_for_secs(device(A, "john", "d1"), 0), Some(1));
        assert!(t.refused_for_secs(at(B, "john"), 0).is_some());
        t.succeeded(device(A, "john", "d1"));
        assert_eq!(t.refused_for_secs(device(A, "john", "d1"), 0), None);
        assert!(t.refused_for_secs(at(B, "john"), 0).is_some());
    }
}
