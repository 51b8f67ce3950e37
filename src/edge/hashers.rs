//! Password hashes, off the handler loop.
//!
//! One PBKDF2 check is ~0.1 s of CPU here and ~0.3–0.5 s on a Raspberry Pi, so it
//! runs on a fixed set of threads started with the server, at the lowest
//! scheduling priority (nice 19): on a busy single core the loop still gets the
//! CPU the moment a request arrives. The queue in front of them is bounded; a
//! login beyond it is answered 503 with `Retry-After` at once, and because the
//! throttle counts attempts in flight (see `throttle.rs`), concurrency cannot
//! multiply one client's guesses.

use crate::passwords::{PasswordCheck, PasswordVerdict};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

/// A finished check goes back to the loop with whatever the caller attached.
pub(crate) type Done<T> = Box<dyn Fn(T, PasswordVerdict) + Send + Sync>;

pub(crate) struct Hashers<T: Send + 'static> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    queue: Mutex<VecDeque<(PasswordCheck, T)>>,
    wake: Condvar,
    capacity: usize,
    done: Done<T>,
}

impl<T: Send + 'static> Hashers<T> {
    /// Starts `threads` hashing threads behind a queue of `capacity` waiting checks.
    pub(crate) fn start(threads: usize, capacity: usize, done: Done<T>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
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

    /// Queues a check; gives `with` back when the queue is full.
    pub(crate) fn submit(&self, check: PasswordCheck, with: T) -> Result<(), T> {
        let mut queue = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.len() >= self.shared.capacity {
            return Err(with);
        }
        queue.push_back((check, with));
        drop(queue);
        self.shared.wake.notify_one();
        Ok(())
    }
}

fn hash_forever<T>(shared: &Shared<T>) {
    loop {
        let (check, with) = {
            let mut queue = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(job) = queue.pop_front() {
                    break job;
                }
                queue = shared.wake.wait(queue).unwrap_or_else(|p| p.into_inner());
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
}
