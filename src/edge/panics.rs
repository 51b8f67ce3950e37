//! What a panic prints, so that no client can fill the journal.
//!
//! tiny_http panics on some hostile input (its drain of an unread body of
//! `Content-Length: 2^64-1` overflows a `Vec`'s capacity) and on resource
//! exhaustion (its accept thread `unwrap()`s a socket clone and spawns threads).
//! Rust's default hook prints three lines and a backtrace hint for each. Here:
//! - work the edge expects to panic on hostile input runs in [`quietly`]: such a
//!   panic says nothing;
//! - any other panic (a handler bug, tiny_http's threads) prints one line, at
//!   most one per second, with the number left unsaid since the last one;
//! - a panic on a tiny_http thread (unnamed: ours all have names) also tells
//!   the loop, through [`on_tiny_http_panic`]: it may be the accept thread
//!   dying, which the loop would otherwise see only at its next 1 s check,
//!   with new connections waiting unanswered in the listen queue till then.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::{Duration, Instant};

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Called on every panic of a tiny_http thread (quiet sections excepted).
type PanicListener = Box<dyn Fn() + Send + Sync>;
static ON_TINY_HTTP_PANIC: Mutex<Option<PanicListener>> = Mutex::new(None);

/// Calls `f` on each panic of a tiny_http thread from now on.
pub(crate) fn on_tiny_http_panic(f: PanicListener) {
    *ON_TINY_HTTP_PANIC.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
}

/// Installs the hook once per process.
pub(crate) fn install() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| std::panic::set_hook(Box::new(report)));
}

/// Runs `job`, catching a panic without a word.
pub(crate) fn quietly(job: impl FnOnce()) {
    let _ = catch_quietly(job);
}

/// Runs `f`; a panic becomes `None` without a word.
pub(crate) fn catch_quietly<T>(f: impl FnOnce() -> T) -> Option<T> {
    let was = QUIET.with(|q| q.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f)).ok();
    QUIET.with(|q| q.set(was));
    result
}

fn report(info: &std::panic::PanicHookInfo) {
    if QUIET.with(Cell::get) {
        return;
    }
    let thread = std::thread::current();
    if thread.name().is_none()
        && let Some(f) = &*ON_TINY_HTTP_PANIC.lock().unwrap_or_else(|p| p.into_inner())
    {
        f();
    }
    static LAST: Mutex<Option<(Instant, u64)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let unsaid = match *last {
        Some((at, n)) if now.duration_since(at) < Duration::from_secs(1) => {
            *last = Some((at, n + 1));
            return;
        }
        Some((_, n)) => n,
        None => 0,
    };
    *last = Some((now, 0));
    let message = info
        .payload_as_str()
        .map(super::access_log::printable)
        .unwrap_or_default();
    let place = info
        .location()
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let more = if unsaid > 0 {
        format!(" ({unsaid} more since the last report)")
    } else {
        String::new()
    };
    eprintln!(
        "tracksd: a panic on thread {}: {message}{place}{more}",
        thread.name().unwrap_or("(tiny_http)")
    );
}
