//! Socket and process plumbing that std does not expose: listener options,
//! systemd socket activation, retiring an accept thread without touching the
//! shared listening socket, cutting a tiny_http connection, thread priority.
//! What a connection may hold in the kernel is `send_queue.rs`.
//!
//! Architecture invariant: this and `send_queue.rs`/`alloc.rs`/`signals.rs`/`recycle.rs`/`fd_scan.rs` are the
//! only modules with `unsafe` FFI calls; each call is a plain libc function on
//! memory or file descriptors of this process.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
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
        set_option(listener.as_raw_fd(), libc::SOL_SOCKET, option, &tv)?;
    }
    Ok(())
}

/// `setsockopt` with `value` (a plain C struct or integer the option expects).
pub(super) fn set_option<T>(
    fd: RawFd,
    level: libc::c_int,
    option: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: a pointer/length pair to a live value; a bad fd is an error.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            option,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
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

/// What identifies a socket whatever fd refers to it (dups share it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SocketId {
    dev: u64,
    ino: u64,
}

/// The identity of the socket (or file) behind `fd`, if `fd` is open.
pub(crate) fn socket_id(fd: RawFd) -> Option<SocketId> {
    // SAFETY: fstat writes into a zeroed stat we own; a closed fd is EBADF.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::fstat(fd, &mut st) };
    (rc == 0).then_some(SocketId {
        dev: st.st_dev,
        ino: st.st_ino,
    })
}

/// Makes the accept thread that owns `fd` (a dup of the listening socket) fail
/// its next `accept()` and end, without `shutdown()`, which would stop the
/// socket for everyone holding it: systemd, and the process after a restart.
/// The fd is pointed at a fresh unbound socket, so `accept` returns EINVAL; a
/// call already waiting returns at its next connection or timeout. Checks first
/// that `fd` still is the listener (the thread may have ended and its number
/// been reused).
pub(crate) fn retire_listener_fd(fd: RawFd, listener: SocketId) -> io::Result<()> {
    // SAFETY: socket() returns a new fd we own; dup2 replaces `fd`, which we just
    // checked refers to our listener; then our extra fd is closed.
    unsafe {
        let dead = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if dead < 0 {
            return Err(io::Error::last_os_error());
        }
        let result = if socket_id(fd) == Some(listener) {
            if libc::dup3(dead, fd, libc::O_CLOEXEC) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        } else {
            Ok(())
        };
        libc::close(dead);
        result
    }
}

/// How much of a connection [`shut_fd`] shuts down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shut {
    /// Reads return what is buffered, then EOF without waiting (a drain ends).
    Read,
    /// Our side is done: the peer reads EOF after what we wrote.
    Write,
    /// Reads return EOF and writes fail: its tiny_http thread ends.
    Both,
}

/// Our connections to local `port`, by peer, with one of their descriptors
/// (tiny_http holds two per connection, dups of one socket). tiny_http gives no
/// handle on a connection's socket, so they are found through /proc/self/fd
/// (about a µs per descriptor: only ever on a worker thread).
pub(crate) fn connection_fds(port: u16) -> Vec<(SocketAddr, RawFd)> {
    super::fd_scan::open_fds()
        .into_iter()
        .filter_map(|fd| {
            let local = sock_addr(fd, false)?;
            let peer = sock_addr(fd, true)?;
            (local.port() == port).then_some((peer, fd))
        })
        .collect()
}

/// One of our connections, as a descriptor scan found it.
pub(crate) struct Connection {
    pub(crate) peer: SocketAddr,
    pub(crate) fd: RawFd,
    /// How long since its peer last sent data (or connected).
    pub(crate) silent: Duration,
}

/// How long since the peer of a TCP socket last sent data, from `TCP_INFO`
/// (zero if the kernel won't say: then it never counts as stuck).
pub(crate) fn silent_for(fd: RawFd) -> Duration {
    // SAFETY: tcp_info is plain old data; all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into the local we own.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(u64::from(info.tcpi_last_data_recv))
}

/// Whether `len` bytes can be written to `fd` without blocking: `fd` is still
/// the connection from `peer`, and its send queue leaves room for them with a wide
/// margin. The budget is far below the send buffer every connection has
/// (`send_queue::SEND_BUFFER`, set on the listener; the kernel counts buffer overhead on
/// top of the bytes), so no `SO_SNDBUF` query is needed on the hot path.
pub(crate) fn room_to_write(fd: RawFd, peer: SocketAddr, len: usize) -> Option<bool> {
    const BUDGET: usize = 8 * 1024;
    if sock_addr(fd, true)? != peer {
        return None;
    }
    Some(super::send_queue::outq(fd)? + 2 * len + 1024 <= BUDGET)
}

/// Our own descriptor for the connection from `peer` to local `port`: a dup of one
/// of tiny_http's, checked to be that connection after the dup (so a descriptor
/// that tiny_http closed and another connection reused is never acted on).
/// Closing it leaves the connection to tiny_http. Scans descriptors: workers only.
pub(crate) fn own_connection(peer: SocketAddr, port: u16) -> Option<OwnedFd> {
    connection_fds(port)
        .into_iter()
        .filter(|(p, _)| *p == peer)
        .find_map(|(_, fd)| {
            // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor that we own.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
            // SAFETY: `dup` is a fresh descriptor, owned from here on.
            let owned = (dup >= 0).then(|| unsafe { OwnedFd::from_raw_fd(dup) })?;
            (sock_addr(owned.as_raw_fd(), true) == Some(peer)
                && sock_addr(owned.as_raw_fd(), false).map(|a| a.port()) == Some(port))
            .then_some(owned)
        })
}

/// Shuts down one descriptor's socket (it stays open for its owner to close).
pub(crate) fn shut_fd(fd: RawFd, how: Shut) {
    let how = match how {
        Shut::Read => libc::SHUT_RD,
        Shut::Write => libc::SHUT_WR,
        Shut::Both => libc::SHUT_RDWR,
    };
    // SAFETY: shutdown does not close the fd; its owner still does.
    unsafe { libc::shutdown(fd, how) };
}

/// Discards up to `most` bytes the peer sent that nobody read, without waiting.
/// Closing a socket with unread bytes sends a reset instead of a FIN, and a reset
/// can destroy a response the peer has not read yet.
pub(crate) fn discard_unread(fd: RawFd, most: usize) {
    let mut buf = [0u8; 4096];
    let mut left = most;
    while left > 0 {
        // SAFETY: recv into a live buffer of its stated length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n <= 0 {
            return;
        }
        left = left.saturating_sub(n as usize);
    }
}

/// Writes all of `bytes` to a connection's socket (blocking, bounded by the
/// socket's send timeout), without taking ownership of the descriptor.
pub(crate) fn write_all_fd(fd: RawFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: send from a live slice on a descriptor of this process;
        // MSG_NOSIGNAL turns a closed peer into EPIPE instead of a signal.
        let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

/// The local or peer address of a TCP socket fd, if it is one.
pub(super) fn sock_addr(fd: RawFd, peer: bool) -> Option<SocketAddr> {
    // SAFETY: the kernel writes at most `len` bytes into storage we own.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let ptr = (&mut storage as *mut libc::sockaddr_storage).cast();
    let rc = unsafe {
        if peer {
            libc::getpeername(fd, ptr, &mut len)
        } else {
            libc::getsockname(fd, ptr, &mut len)
        }
    };
    if rc != 0 {
        return None;
    }
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(ptr as *const libc::sockaddr_in) };
            Some(SocketAddr::from((
                u32::from_be(a.sin_addr.s_addr).to_be_bytes(),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(ptr as *const libc::sockaddr_in6) };
            Some(SocketAddr::from((
                a.sin6_addr.s6_addr,
                u16::from_be(a.sin6_port),
            )))
        }
        _ => None,
    }
}

/// Gives the calling thread the lowest scheduling priority (nice 19), so it
/// only gets a CPU the handler loop is not asking for. Best effort: a sandbox
/// that forbids it leaves the thread at normal priority.
pub(crate) fn lower_this_threads_priority() {
    // SAFETY: setpriority on our own thread id (Linux: per-thread nice). The
    // raw syscall: a static musl build links no gettid() wrapper.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid);
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
    }
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
    fn a_cut_connection_reads_eof_and_a_retired_listener_fd_stops_accepting() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_server_side, peer) = l.accept().unwrap();
        assert_eq!(super::super::send_queue::cut_connections(&[peer], port), 1);
        let mut buf = [0u8; 1];
        use std::io::Read;
        assert_eq!(client.read(&mut buf).unwrap(), 0);

        let id = socket_id(l.as_raw_fd()).unwrap();
        let dup = l.try_clone().unwrap();
        retire_listener_fd(dup.as_raw_fd(), id).unwrap();
        assert!(dup.accept().is_err());
        // The original descriptor, and so the socket, still listens.
        let _c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        assert!(l.accept().is_ok());
        assert_eq!(socket_id(l.as_raw_fd()), Some(id));
        assert_ne!(socket_id(dup.as_raw_fd()), Some(id));
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
