//! The global allocator: the system's, except that huge allocations are lazily
//! backed anonymous mappings.
//!
//! Why: when tiny-http drops a request whose body was not read, it drains the
//! rest into `vec![0; remaining]`, so `Content-Length: 1000000000000` asks for a
//! terabyte at once, which the system allocator refuses and the process aborts.
//! A `MAP_NORESERVE` mapping of that size costs only address space; the drain
//! touches (and so backs with memory) only the pages a client really sends, and it
//! runs off the handler loop, on a worker, with a socket timeout (see `workers.rs`).

use std::alloc::{GlobalAlloc, Layout};

/// The allocator for everything below `HUGE`: the C library's on glibc, dlmalloc
/// on musl (the static builds). musl's own (mallocng) cost the static build 17–20% more
/// instructions per request than glibc's and more waiting on its one lock (5.2 futex
/// calls per request against 3.6). Figures: docs/performance.md, "Static builds and the allocator".
#[cfg(not(target_env = "musl"))]
const INNER: std::alloc::System = std::alloc::System;
#[cfg(target_env = "musl")]
const INNER: musl::Dlmalloc = musl::Dlmalloc;

/// dlmalloc (a small pure-Rust port) behind a `std` mutex rather than the crate's own
/// global, whose pthread mutex costs more per call on musl and whose heap cannot be
/// trimmed from outside: `trim` gives free memory back after a burst of connections.
#[cfg(target_env = "musl")]
mod musl {
    use std::alloc::{GlobalAlloc, Layout};
    use std::sync::{Mutex, MutexGuard};

    struct Heap(dlmalloc::Dlmalloc);
    // SAFETY: the heap's raw pointers are only ever used under `HEAP`'s lock.
    unsafe impl Send for Heap {}
    static HEAP: Mutex<Heap> = Mutex::new(Heap(dlmalloc::Dlmalloc::new()));

    fn heap() -> MutexGuard<'static, Heap> {
        // No code panics while holding the lock, so a poisoned one is still consistent.
        HEAP.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns free memory at the top of the heap, and wholly free segments, to the kernel.
    pub(crate) fn trim() {
        // SAFETY: trimming releases only memory no block uses.
        unsafe { heap().0.trim(0) };
    }

    pub(crate) struct Dlmalloc;

    // SAFETY: every call is forwarded to one dlmalloc heap under its lock, with the
    // caller's layout. `inline(never)`: inlined into each caller, the binary grew 54 KB.
    unsafe impl GlobalAlloc for Dlmalloc {
        #[inline(never)]
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's guarantees, forwarded.
            unsafe { heap().0.malloc(layout.size(), layout.align()) }
        }

        #[inline(never)]
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's guarantees, forwarded.
            unsafe { heap().0.calloc(layout.size(), layout.align()) }
        }

        #[inline(never)]
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller's guarantees, forwarded.
            unsafe { heap().0.free(ptr, layout.size(), layout.align()) }
        }

        #[inline(never)]
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: the caller's guarantees, forwarded.
            unsafe {
                heap()
                    .0
                    .realloc(ptr, layout.size(), layout.align(), new_size)
            }
        }
    }
}

/// From this size up, memory comes straight from `mmap`. Below it, `INNER`
/// (which uses `mmap` for large blocks itself) is unchanged.
const HUGE: usize = 256 * 1024 * 1024;

/// See the module documentation.
pub struct LazyHugeAlloc;

impl LazyHugeAlloc {
    fn map(size: usize) -> *mut u8 {
        // SAFETY: an anonymous private mapping; the result is checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p.cast()
        }
    }

    fn is_huge(layout: Layout) -> bool {
        // mmap returns page-aligned memory; larger alignments go to the system.
        layout.size() >= HUGE && layout.align() <= 4096
    }
}

// SAFETY: every block is either entirely the system allocator's or entirely one
// mapping, decided by the layout alone, which `dealloc` and `realloc` receive
// unchanged; mappings are zero-filled and page-aligned.
unsafe impl GlobalAlloc for LazyHugeAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::is_huge(layout) {
            Self::map(layout.size())
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { INNER.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if Self::is_huge(layout) {
            Self::map(layout.size())
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { INNER.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if Self::is_huge(layout) {
            // SAFETY: `ptr` is a mapping of exactly this size made by `map`.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { INNER.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !Self::is_huge(layout) && !Self::is_huge(new_layout) {
            // SAFETY: both sides belong to the system allocator.
            return unsafe { INNER.realloc(ptr, layout, new_size) };
        }
        // SAFETY: a fresh block, a copy of the overlap, then the old block freed,
        // each with the layout it was made with.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

/// Caps glibc's malloc arenas. tiny-http runs a thread per connection, and by
/// default (8 per core) each busy thread may get an arena of its own that keeps
/// freed memory. Measured (2 cores, `make bench`-like runs, 2,000-connection test
/// in `tests/hostile.rs`): with 2 arenas the connection threads and the handler
/// loop queue on arena locks and `GET /users/me` at 16 connections ran at
/// 46–56k req/s; with 8, 65–74k, the same as uncapped; RSS after the 2,000 idle
/// connections closed stays 0.6 MiB (2 arenas), 1.0–1.3 MiB (8) or 1.5–1.7 MiB
/// (uncapped) above where it started.
pub fn limit_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: a documented glibc tunable, set before the threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 8);
    }
}

/// Hands free heap memory back to the OS, so RSS falls again after a burst of
/// connections. Called by the handler loop when it is idle.
pub fn return_free_memory() {
    #[cfg(target_env = "musl")]
    musl::trim();
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases unused memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_terabyte_of_zeroes_costs_only_address_space() {
        if cfg!(not(target_pointer_width = "64")) {
            return;
        }
        // What tiny-http does when it drains `Content-Length: 1000000000000`.
        let mut v = vec![0u8; 1_000_000_000_000];
        v[0] = 1;
        v[999_999_999_999] = 2;
        assert_eq!(v[1] + v[500_000_000_000], 0);
        let grown: Vec<u8> = Vec::with_capacity(300 * 1024 * 1024);
        assert_eq!(grown.capacity(), 300 * 1024 * 1024);
    }
}
