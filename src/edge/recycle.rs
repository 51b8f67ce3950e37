//! Recycling the process on the same listening socket, for what cannot be
//! fixed from outside tiny_http.
//!
//! tiny_http answers an HTTP/2 request line (`GET / HTTP/2.0`, or the h2c
//! preface `PRI * HTTP/2.0` that scanners send) with a 505 through a second
//! writer that waits, for ever, for the first, which the rejected request still
//! holds: its connection thread never ends, and keeps two descriptors. Such
//! connections are *stuck*: their peer has sent nothing for longer than the idle
//! timeout and a second (the kernel's `TCP_INFO` says since when), no request of
//! theirs is in flight, and none came in that time. A live tiny_http connection
//! is closed by its read timeout after one idle timeout of silence, so a silent
//! one still open is a thread nobody will get back. A client that is still
//! sending its head, however slowly (slowloris), is not silent: it is bounded
//! by the fd and thread limits and the idle timeout per byte, not by a recycle.
//!
//! When [`RECYCLE_AT`] are stuck, the process stops accepting (without closing
//! the socket), answers what is in flight, and executes itself again with the
//! listening socket as fd 3 (`LISTEN_FDS`, as systemd passes it) and the login
//! throttle's state in a memfd: connections that arrive meanwhile wait in the
//! socket's queue and are served by the new image. Like Apache's
//! `MaxConnectionsPerChild`, but only when there is something to reclaim.

use std::io::{self, Read, Seek, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

/// Stuck connections that make the process recycle itself.
pub(crate) const RECYCLE_AT: usize = 10;
/// The environment variable naming the memfd with the throttle's state.
const THROTTLE_FD: &str = "TRACKSD_THROTTLE_FD";

/// Which connections are stuck: a rule over one descriptor scan.
pub(crate) struct StuckWatch {
    stuck_after: Duration,
}

impl StuckWatch {
    pub(crate) fn new(idle_timeout: Duration) -> StuckWatch {
        StuckWatch {
            stuck_after: idle_timeout + Duration::from_secs(1),
        }
    }

    /// How many of the scanned connections (peer, how long its peer has been
    /// silent) are stuck, given when each peer last sent a request and whether
    /// it has one in flight.
    pub(crate) fn scanned(
        &self,
        open: impl IntoIterator<Item = (SocketAddr, Duration)>,
        now: Instant,
        last_request: impl Fn(&SocketAddr) -> Option<Instant>,
        in_flight: impl Fn(&SocketAddr) -> bool,
    ) -> usize {
        let long_ago = now.checked_sub(self.stuck_after);
        open.into_iter()
            .filter(|(peer, silent)| {
                *silent >= self.stuck_after
                    && last_request(peer).is_none_or(|at| long_ago.is_some_and(|t| at <= t))
                    && !in_flight(peer)
            })
            .count()
    }
}

/// Executes this program again, serving `listener` as fd 3, with `throttle`
/// (the login throttle's saved state) in a memfd. Returns only on failure.
pub(crate) fn exec_again(listener: TcpListener, throttle: &[u8]) -> io::Error {
    const FD: RawFd = 3;
    let raw = listener.as_raw_fd();
    // SAFETY: plain descriptor calls on fds of this process, just before exec,
    // which replaces every thread: nothing else uses fd 3 from here on.
    unsafe {
        if raw != FD && libc::dup2(raw, FD) < 0 {
            return io::Error::last_os_error();
        }
        libc::fcntl(FD, libc::F_SETFD, 0);
    }
    std::mem::forget(listener);
    let mut env: Vec<Vec<u8>> = std::env::vars_os()
        .filter(|(k, _)| {
            !matches!(
                k.to_str(),
                Some("LISTEN_FDS" | "LISTEN_PID" | "LISTEN_FDNAMES")
            )
        })
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    env.push(b"LISTEN_FDS=1".to_vec());
    env.push(format!("LISTEN_PID={}", std::process::id()).into_bytes());
    match memfd_with(throttle) {
        Ok(fd) => env.push(format!("{THROTTLE_FD}={fd}").into_bytes()),
        Err(e) => eprintln!("tracksd: recycling without the login throttle's state: {e}"),
    }
    let args: Vec<Vec<u8>> = std::env::args_os().map(|a| a.as_bytes().to_vec()).collect();
    let e = execve(c"/proc/self/exe", &args, &env);
    if e.raw_os_error() != Some(libc::EMFILE) {
        return e;
    }
    // At the fd limit exec itself fails (EMFILE): close what exec would close
    // anyway (all close-on-exec: connections, files), keeping stdio, the
    // listener and the memfd, and try once more. Only here, at the limit:
    // another thread could be handed a closed number by an open meanwhile.
    let keep = |fd: RawFd| {
        fd <= FD
            || env.iter().any(|v| {
                v.ends_with(format!("={fd}").as_bytes()) && v.starts_with(THROTTLE_FD.as_bytes())
            })
    };
    for fd in super::fd_scan::open_fds() {
        if !keep(fd) {
            // SAFETY: closing descriptors the exec below would close; see above.
            unsafe { libc::close(fd) };
        }
    }
    execve(c"/proc/self/exe", &args, &env)
}

/// execve(2) with owned argument and environment strings (no NUL bytes in them
/// can come from the OS). std's `Command` would do the same, at ~15 KB of code.
fn execve(path: &std::ffi::CStr, args: &[Vec<u8>], env: &[Vec<u8>]) -> io::Error {
    let to_c = |v: &[Vec<u8>]| -> Option<Vec<std::ffi::CString>> {
        v.iter()
            .map(|s| std::ffi::CString::new(s.clone()).ok())
            .collect()
    };
    let (Some(args), Some(env)) = (to_c(args), to_c(env)) else {
        return io::Error::new(
            io::ErrorKind::InvalidInput,
            "a NUL byte in args or environment",
        );
    };
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: NUL-terminated strings and NULL-terminated arrays that outlive the
    // call; execve returns only on failure.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// A memfd (kept across exec) holding `bytes`, positioned at its start.
fn memfd_with(bytes: &[u8]) -> io::Result<RawFd> {
    // SAFETY: memfd_create with a NUL-terminated name returns a new fd we own.
    // The raw syscall, like gettid: a static musl build may link no wrapper.
    let fd =
        unsafe { libc::syscall(libc::SYS_memfd_create, c"tracksd-throttle".as_ptr(), 0) } as RawFd;
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned here; the File gives it back.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(bytes)?;
    file.rewind()?;
    Ok(std::os::fd::IntoRawFd::into_raw_fd(file))
}

/// The throttle state a previous image of this process left, if any (read
/// once; the descriptor is closed and the variable removed).
pub(crate) fn take_saved_throttle() -> Option<Vec<u8>> {
    let fd: RawFd = std::env::var(THROTTLE_FD).ok()?.parse().ok()?;
    // SAFETY: not yet shared with any thread (start-up) — the variable is ours.
    unsafe { std::env::remove_var(THROTTLE_FD) };
    if fd <= 2 || super::sockets::socket_id(fd).is_none() {
        return None;
    }
    // SAFETY: the previous image passed this fd for us alone to read and close.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_stuck_once_silent_long_without_a_request() {
        let idle = Duration::from_secs(1);
        let watch = StuckWatch::new(idle);
        let now = Instant::now() + Duration::from_secs(60);
        let a = SocketAddr::from(([127, 0, 0, 1], 1));
        let b = SocketAddr::from(([127, 0, 0, 1], 2));
        let long = Duration::from_secs(3);
        let never = |_: &SocketAddr| None;
        let idle_now = |_: &SocketAddr| false;
        assert_eq!(
            watch.scanned([(a, long), (b, long)], now, never, idle_now),
            2
        );
        // Silent for less than the idle timeout and a second: still sending (slowloris).
        let short = Duration::from_millis(1500);
        assert_eq!(
            watch.scanned([(a, short), (b, long)], now, never, idle_now),
            1
        );
        // b sent a request lately: its tiny_http connection is live.
        let last = |p: &SocketAddr| (*p == b).then_some(now - Duration::from_millis(500));
        assert_eq!(
            watch.scanned([(a, long), (b, long)], now, last, idle_now),
            1
        );
        // One with a request in flight (a slow write) is not stuck.
        assert_eq!(watch.scanned([(a, long)], now, never, |p| *p == a), 0);
    }

    #[test]
    fn the_throttle_state_travels_in_a_memfd() {
        let fd = memfd_with(b"state").unwrap();
        // SAFETY: test-only: the variable is read by this test alone.
        unsafe { std::env::set_var(THROTTLE_FD, fd.to_string()) };
        assert_eq!(take_saved_throttle().as_deref(), Some(&b"state"[..]));
        assert!(take_saved_throttle().is_none());
    }
}
