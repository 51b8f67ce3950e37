//! Socket and process plumbing that std does not expose: listener options,
//! systemd socket activation, and stopping `accept()`.
//!
//! Architecture invariant: this and `alloc.rs`/`signals.rs` are the only modules
//! with `unsafe` FFI calls; each call is a plain libc function on an fd we own.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::time::Duration;

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// Sets receive and send timeouts on the listening socket. Linux copies them to
/// every accepted socket, which is the only way to give tiny-http's connections
/// an idle timeout; it also makes `accept()` time out, which the edge handles by
/// rebuilding its tiny-http server on the same socket.
pub fn set_timeouts(listener: &TcpListener, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        // `as _`: naming libc's time_t/suseconds_t warns (deprecated) on musl targets.
        tv_sec: timeout.as_secs() as _,
        tv_usec: timeout.subsec_micros() as _,
    };
    for option in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
        // SAFETY: a valid fd we own, and a pointer/length pair to a live timeval.
        let rc = unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The listening socket systemd passed us (`LISTEN_PID` is ours, `LISTEN_FDS ≥ 1`),
/// made blocking, or `None` when we were not socket-activated.
pub fn activated_listener(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
) -> io::Result<Option<TcpListener>> {
    let ours = listen_pid.and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let count = listen_fds.and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
    if !ours || count == 0 {
        return Ok(None);
    }
    // SAFETY: systemd hands fd 3 to this process as a listening socket; we take
    // ownership of it exactly once.
    let listener = unsafe { TcpListener::from_raw_fd(LISTEN_FDS_START) };
    // tiny-http's accept loop expects blocking accepts.
    listener.set_nonblocking(false)?;
    // SAFETY: fd 3 is ours; keep it out of any child process.
    unsafe { libc::fcntl(LISTEN_FDS_START, libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok(Some(listener))
}

/// Makes every pending and future `accept()` on the socket fail, which ends
/// tiny-http's accept thread: the first step of a graceful stop.
pub fn stop_accepting(listener: &TcpListener) {
    // SAFETY: a valid fd we own; shutdown does not close it.
    unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RD) };
}

/// Whether an `accept()` error means "try again" (timeouts, aborted handshakes,
/// resource exhaustion) rather than "this socket is gone".
pub fn accept_error_is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
    ) || matches!(
        e.raw_os_error(),
        Some(
            libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EPROTO | libc::EPERM
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_activated_without_our_pid() {
        assert!(activated_listener(None, Some("1")).unwrap().is_none());
        assert!(activated_listener(Some("1"), Some("1")).unwrap().is_none());
        let me = std::process::id().to_string();
        assert!(activated_listener(Some(&me), Some("0")).unwrap().is_none());
    }

    #[test]
    fn listener_timeout_reaches_accepted_sockets_and_accept() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        set_timeouts(&l, Duration::from_millis(200)).unwrap();
        let t = std::time::Instant::now();
        let e = l.accept().unwrap_err();
        assert!(accept_error_is_transient(&e), "{e:?}");
        assert!(t.elapsed() >= Duration::from_millis(150));
        let _c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_millis(200)));
    }
}
