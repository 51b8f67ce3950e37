//! SIGTERM/SIGINT (stop) and SIGHUP (reload) as calls: a std-only self-pipe.
//!
//! The handler only writes one byte naming the signal to a socket
//! (async-signal-safe); a thread reading the other end turns it into a call the
//! edge can act on. No crate is needed for this, and no code runs in signal
//! context beyond `write`.

use std::io::{self, Read};
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, Ordering};

static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// What a signal asks of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGTERM or SIGINT: stop gracefully.
    Stop,
    /// SIGHUP: re-read users and session keys.
    Reload,
}

extern "C" fn on_signal(signo: libc::c_int) {
    let fd = WAKE_FD.load(Ordering::Relaxed);
    let byte: u8 = if signo == libc::SIGHUP { b'h' } else { b't' };
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the fd stays open for the process's life.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
}

/// Installs handlers for SIGTERM, SIGINT and SIGHUP and calls `on` (on a thread
/// of its own) for each that arrives. Also ignores SIGXFSZ, so a file-size limit
/// makes a write fail with EFBIG (answered 503) instead of killing the process.
pub(crate) fn on_signals(on: impl Fn(Signal) + Send + 'static) -> io::Result<()> {
    let (mut reader, writer) = UnixStream::pair()?;
    WAKE_FD.store(writer.into_raw_fd(), Ordering::Relaxed);
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: installing a handler that only calls write(2); SIG_IGN is always valid.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGHUP, handler);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    std::thread::Builder::new()
        .name("signals".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut byte = [0u8; 1];
            while reader.read_exact(&mut byte).is_ok() {
                on(if byte[0] == b'h' {
                    Signal::Reload
                } else {
                    Signal::Stop
                });
            }
        })?;
    Ok(())
}
