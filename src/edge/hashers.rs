//! Password hashes, off the handler loop.
//!
//! One PBKDF2 check is ~0.1 s of CPU here and ~0.3–0.5 s on a Raspberry Pi, so it
//! runs on a fixed set of threads started with the server, at the lowest
//! scheduling priority (nice 19): on a busy single core the loop still gets the
//! CPU the moment a request arrives. The queue in front of them is bounded; a
//! login beyond it is answered 503 with `Retry-After` at once, and because the
//! throttle counts attempts in flight (see `throttle.rs`), concurrency cannot
//! multiply one client's guesses.
//!
//! A login from a proven device (a valid device cookie for its username) has
//! [`PROVEN_SLOTS`] places of its own, taken before the shared queue and hashed
//! first: a flood of guesses that keeps the shared queue full cannot lock the
//! owner out, who waits for at most the hashes already running. The slots are
//! few, so stolen device cookies cannot crowd them out for long either: each
//! device's own failures lock it (`throttle.rs`), in flight ones included.

use crate::passwords::{PasswordCheck, PasswordVerdict};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

/// A finished check goes back to the loop with whatever the caller attached.
pub(crate) type Done<T> = Box<dyn Fn(T, PasswordVerdict) + Send + Sync>;

/// Checks from proven devices that may wait besides the shared queue.
pub(crate) const PROVEN_SLOTS: usize = 2;

pub(crate) struct Hashers<T: Send + 'static> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    queues: Mutex<Queues<T>>,
    wake: Condvar,
    capacity: usize,
    done: Done<T>,
}

/// The shared queue and the proven devices' slots (hashed first).
struct Queues<T> {
    shared: VecDeque<(PasswordCheck, T)>,
    proven: VecDeque<(PasswordCheck, T)>,
}

impl<T: Send + 'static> Hashers<T> {
    /// Starts `threads` hashing threads behind a queue of `capacity` waiting checks.
    pub(crate) fn start(threads: usize, capacity: usize, done: Done<T>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues {
                shared: VecDeque::new(),
                proven: VecDeque::new(),
            }),
            wake: Condvar::new(),
            capacity,
            done,
        });
        for _ in 0..threads.max(1) {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("hasher".into())
                .stack_size(128 * 1024)
                .spawn(move || {
                    super::sockets::lower_this_threads_priority();
                    hash_forever(&shared)
                })?;
        }
        Ok(Hashers { shared })
    }

    /// Queues a check: a proven device's in its slots if one is free, else
    /// in the shared queue; gives `with` back when there is no room.
    pub(crate) fn submit(&self, check: PasswordCheck, with: T) -> Result<(), T> {
        let mut queues = self.shared.queues.lock().unwrap_or_else(|p| p.into_inner());
        if check.is_for_proven_device() && queues.proven.len() < PROVEN_SLOTS {
            queues.proven.push_back((check, with));
        } else if queues.shared.len() < self.shared.capacity {
            queues.shared.push_back((check, with));
        } else {
            return Err(with);
        }
        drop(queues);
        self.shared.wake.notify_one();
        Ok(())
    }
}

fn hash_forever<T>(shared: &Shared<T>) {
    loop {
        let (check, with) = {
            let mut queues = shared.queues.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(job) = queues
                    .proven
                    .pop_front()
                    .or_else(|| queues.shared.pop_front())
                {
                    break job;
                }
                queues = shared.wake.wait(queues).unwrap_or_else(|p| p.into_inner());
            }
        };
        (shared.done)(with, check.run());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passwords::{PasswordHash, hash_password};
    use std::sync::mpsc::channel;
    use std::time::Duration;

    #[test]
    fn checks_run_off_the_caller_and_the_queue_is_bounded() {
        let hash = PasswordHash::parse(&hash_password("right", 1000).unwrap()).unwrap();
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let hashers = Hashers::start(
            1,
            1,
            Box::new(move |n: u32, v: PasswordVerdict| {
                tx.lock().unwrap().send((n, v.matched())).unwrap();
            }),
        )
        .unwrap();
        let mut accepted = 0;
        let mut refused = 0;
        for n in 0..20 {
            let check = PasswordCheck::new(hash.clone(), if n == 0 { "right" } else { "wrong" });
            match hashers.submit(check, n) {
                Ok(()) => accepted += 1,
                Err(_) => refused += 1,
            }
        }
        assert!(refused > 0, "a queue of 1 refused nothing");
        let mut results: Vec<(u32, bool)> = (0..accepted)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        results.sort();
        assert_eq!(results[0], (0, true));
        assert!(results[1..].iter().all(|(_, ok)| !ok));
    }

    #[test]
    fn proven_devices_have_slots_of_their_own_hashed_first() {
        let hash = PasswordHash::parse(&hash_password("right", 1000).unwrap()).unwrap();
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let (gate_tx, gate_rx) = channel::<()>();
        let gate = Mutex::new(gate_rx);
        // The one thread waits at the gate after each check, so the queue
        // stays as filled below until the test lets it go.
        let hashers = Hashers::start(
            1,
            2,
            Box::new(move |n: u32, _: PasswordVerdict| {
                tx.lock().unwrap().send(n).unwrap();
                let _ = gate.lock().unwrap().recv();
            }),
        )
        .unwrap();
        let check = |proven| PasswordCheck::new(hash.clone(), "x").for_proven_device(proven);
        assert!(hashers.submit(check(false), 0).is_ok());
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(0));
        // The thread is busy: two guesses fill the shared queue, a third is refused.
        assert!(hashers.submit(check(false), 1).is_ok());
        assert!(hashers.submit(check(false), 2).is_ok());
        assert_eq!(hashers.submit(check(false), 3), Err(3));
        // A proven device still gets in, twice; then it shares the full queue.
        assert!(hashers.submit(check(true), 10).is_ok());
        assert!(hashers.submit(check(true), 11).is_ok());
        assert_eq!(hashers.submit(check(true), 12), Err(12));
        let mut order = Vec::new();
        for _ in 0..4 {
            gate_tx.send(()).unwrap();
            order.push(rx.recv_timeout(Duration::from_secs(10)).unwrap());
        }
        gate_tx.send(()).unwrap();
        assert_eq!(order, vec![10, 11, 1, 2]);
    }
}
