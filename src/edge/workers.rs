//! Threads for the work the handler loop must never wait on: writing a response
//! to a socket, reading a body off one, dropping a request whose body may be
//! unread (tiny_http drains it on drop), connecting to our own listener.
//!
//! The pool keeps `min` threads for its whole life (spawned at start, so there is
//! always someone to write a response even when no thread can be spawned later)
//! and grows on demand to `max`; threads above `min` end after a quiet spell.
//! Each job runs in a quiet panic section (`panics::catch_quietly`): a job that
//! panics on hostile input (tiny_http's drain of `Content-Length: 2^64-1`) says
//! nothing in the journal.
//!
//! A job returns what the loop must hear of it, if anything (`Some(event)`); the
//! pool hands that to `deliver`, the one way back to the loop. Generic over that
//! value so the pool is tested without a loop.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pub(crate) type Job<O> = Box<dyn FnOnce() -> Option<O> + Send>;
/// Where what a job returns goes (the loop's mailbox).
pub(crate) type Deliver<O> = Box<dyn Fn(O) + Send + Sync>;

/// How long a thread above the minimum waits for work before it ends.
const LINGER: Duration = Duration::from_secs(10);

pub(crate) struct Workers<O> {
    shared: Arc<Shared<O>>,
}

struct Shared<O> {
    name: &'static str,
    min: usize,
    max: usize,
    state: Mutex<State<O>>,
    wake: Condvar,
    deliver: Deliver<O>,
}

struct State<O> {
    queue: VecDeque<Job<O>>,
    /// Threads alive, and those of them running a job.
    alive: usize,
    busy: usize,
    /// Threads just started for a `submit_now` whose job is not queued yet.
    reserved: usize,
    /// Bumped by `release_idle`: a thread idle since an older value ends.
    released: u64,
}

impl<O: Send + 'static> Workers<O> {
    /// Starts `min` threads named `name`; fails if not even those can be had.
    pub(crate) fn start(
        name: &'static str,
        min: usize,
        max: usize,
        deliver: Deliver<O>,
    ) -> std::io::Result<Workers<O>> {
        let workers = Workers {
            shared: Arc::new(Shared {
                name,
                min,
                max: max.max(min).max(1),
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    alive: 0,
                    busy: 0,
                    reserved: 0,
                    released: 0,
                }),
                wake: Condvar::new(),
                deliver,
            }),
        };
        for _ in 0..min {
            workers.spawn_thread()?;
        }
        Ok(workers)
    }

    /// Runs `job` on a worker, queueing it behind others if every thread is busy
    /// and none can be added (the `min` threads always exist, so it runs eventually).
    pub(crate) fn submit(&self, job: Job<O>) {
        let mut state = self.lock();
        let idle = state.alive - state.busy > state.queue.len() + state.reserved;
        let may_grow = state.alive < self.shared.max;
        state.queue.push_back(job);
        drop(state);
        if !idle && may_grow {
            // No thread is free: add one if it can be had, else it waits its turn.
            let _ = self.spawn_thread();
        }
        self.shared.wake.notify_one();
    }

    /// Runs `job(value)` now on an idle or a new thread, or gives `value` back
    /// when every thread is busy and no thread can be added (the caller answers
    /// 503). The job is made only once a thread is sure, so nothing needs a
    /// shared slot to get `value` back.
    pub(crate) fn submit_now<T: Send + 'static>(
        &self,
        value: T,
        job: impl FnOnce(T) -> Option<O> + Send + 'static,
    ) -> Result<(), T> {
        let mut state = self.lock();
        if state.alive - state.busy <= state.queue.len() + state.reserved {
            if state.alive >= self.shared.max {
                return Err(value);
            }
            state.reserved += 1;
            drop(state);
            let spawned = self.spawn_thread();
            state = self.lock();
            state.reserved -= 1;
            if spawned.is_err() {
                return Err(value);
            }
        }
        state.queue.push_back(Box::new(move || job(value)));
        drop(state);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Ends the threads above the minimum that are idle now instead of after
    /// their linger: at the thread limit their slots are wanted elsewhere (a
    /// tiny_http accept thread that cannot spawn a connection's thread drops
    /// the connection unanswered).
    pub(crate) fn release_idle(&self) {
        self.lock().released += 1;
        self.shared.wake.notify_all();
    }

    /// Threads alive now.
    #[cfg(test)]
    pub(crate) fn alive(&self) -> usize {
        self.lock().alive
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<O>> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn spawn_thread(&self) -> std::io::Result<()> {
        let shared = self.shared.clone();
        shared.state.lock().unwrap_or_else(|p| p.into_inner()).alive += 1;
        let spawned = std::thread::Builder::new()
            .name(shared.name.into())
            .stack_size(128 * 1024)
            .spawn({
                let shared = shared.clone();
                move || work(&shared)
            });
        if let Err(e) = spawned {
            shared.state.lock().unwrap_or_else(|p| p.into_inner()).alive -= 1;
            return Err(e);
        }
        Ok(())
    }
}

fn work<O>(shared: &Shared<O>) {
    let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if let Some(job) = state.queue.pop_front() {
            state.busy += 1;
            drop(state);
            if let Some(out) = super::panics::catch_quietly(job).flatten() {
                (shared.deliver)(out);
            }
            state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            state.busy -= 1;
            continue;
        }
        let idle_since = state.released;
        let (next, waited) = shared
            .wake
            .wait_timeout(state, LINGER)
            .unwrap_or_else(|p| p.into_inner());
        state = next;
        let let_go = waited.timed_out() || state.released != idle_since;
        if let_go && state.queue.is_empty() && state.alive > shared.min {
            state.alive -= 1;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    /// A pool whose jobs' results are dropped.
    fn pool(min: usize, max: usize) -> Workers<()> {
        Workers::start("test-worker", min, max, Box::new(|()| {})).unwrap()
    }

    /// Runs `n` jobs that block until released, each taken now (`submit_now`),
    /// and waits until all have started. Send `n` times to release them.
    fn occupy(pool: &Workers<()>, n: usize) -> std::sync::mpsc::Sender<()> {
        let (started_tx, started) = channel();
        let (release_tx, release_rx) = channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        for _ in 0..n {
            let (started_tx, release) = (started_tx.clone(), release_rx.clone());
            let taken = pool.submit_now((), move |()| {
                started_tx.send(()).unwrap();
                let _ = release.lock().unwrap().recv();
                None
            });
            assert!(taken.is_ok(), "a thread for each job");
        }
        for _ in 0..n {
            started.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        release_tx
    }

    #[test]
    fn jobs_run_and_the_pool_grows_to_its_maximum_only() {
        let pool = pool(1, 3);
        // Three blocking jobs occupy the three threads the pool may have.
        let release_tx = occupy(&pool, 3);
        assert_eq!(pool.alive(), 3);
        // A fourth cannot run now: its value is handed back, not queued.
        assert_eq!(pool.submit_now(4, |_| None), Err(4));
        // `submit` queues it instead; it runs once a thread is free.
        let (done, rx) = channel();
        pool.submit(Box::new(move || {
            done.send(()).unwrap();
            None
        }));
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn released_idle_threads_above_the_minimum_end_at_once() {
        let pool = pool(1, 4);
        let release_tx = occupy(&pool, 4);
        for _ in 0..4 {
            release_tx.send(()).unwrap();
        }
        // All four idle now (busy drops to 0), well within their 10 s linger.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while pool.lock().busy > 0 {
            assert!(std::time::Instant::now() < deadline, "jobs did not finish");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(pool.alive(), 4);
        pool.release_idle();
        while pool.alive() > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "{} threads still alive",
                pool.alive()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // The minimum stays, and still works.
        let (done, rx) = channel();
        pool.submit(Box::new(move || {
            done.send(()).unwrap();
            None
        }));
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(pool.alive(), 1);
    }

    #[test]
    fn what_a_job_returns_is_delivered() {
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let deliver: Deliver<u32> = Box::new(move |n| tx.lock().unwrap().send(n).unwrap());
        let pool = Workers::start("test-worker", 1, 4, deliver).unwrap();
        pool.submit(Box::new(|| Some(1)));
        pool.submit(Box::new(|| None));
        assert_eq!(pool.submit_now(2, |n| Some(n * 10)), Ok(()));
        let mut got = [
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        ];
        got.sort();
        assert_eq!(got, [1, 20]);
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    }

    #[test]
    fn a_panicking_job_does_not_kill_its_thread() {
        let pool = pool(1, 1);
        pool.submit(Box::new(|| -> Option<()> { panic!("hostile input") }));
        let (tx, rx) = channel();
        pool.submit(Box::new(move || {
            tx.send(7).unwrap();
            None
        }));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 7);
        assert_eq!(pool.alive(), 1);
    }
}
