//! Reading a password: on a terminal with echo off (asked twice), otherwise one
//! line from stdin.
//!
//! std has no API for terminal modes, so echo is switched with `tcgetattr` and
//! `tcsetattr` (the libc crate's declarations, already a dependency, whose `termios`
//! layout is right for each target). The old mode comes back on every path: the
//! guard's drop (success, error, panic) and a signal handler for SIGINT, SIGTERM,
//! SIGHUP and SIGQUIT, which restores it, then dies of the signal as it would have.

use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Why no password was read.
#[derive(Debug)]
pub(crate) enum PasswordError {
    /// Nothing typed or piped in (a usage mistake, exit 2).
    Empty,
    /// The two entries on a terminal differ (exit 1: try again).
    Mismatch,
    /// stdin or the terminal failed.
    Io(io::Error),
}

impl std::fmt::Display for PasswordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordError::Empty => f.write_str("empty password"),
            PasswordError::Mismatch => f.write_str("the two passwords differ"),
            PasswordError::Io(e) => write!(f, "cannot read the password: {e}"),
        }
    }
}

/// The password: asked for twice with `prompt` on a terminal (echo off), else
/// the first line of stdin. The line end is not part of it.
pub(crate) fn read_password(prompt: &str) -> Result<String, PasswordError> {
    let stdin = io::stdin();
    let password = if stdin.is_terminal() {
        let _quiet = EchoOff::new().map_err(PasswordError::Io)?;
        let first = ask(prompt)?;
        let again = ask("Again: ")?;
        if first != again {
            return Err(PasswordError::Mismatch);
        }
        first
    } else {
        read_line()?
    };
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    Ok(password)
}

fn ask(prompt: &str) -> Result<String, PasswordError> {
    let mut err = io::stderr();
    let _ = err.write_all(prompt.as_bytes()).and_then(|()| err.flush());
    read_line()
}

fn read_line() -> Result<String, PasswordError> {
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(PasswordError::Io)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// The terminal's mode before echo went off, for the signal handler.
static SAVED: OnceLock<libc::termios> = OnceLock::new();
/// Whether echo is off now (the handler restores only then).
static ECHO_IS_OFF: AtomicBool = AtomicBool::new(false);

const SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Echo off on stdin while it lives (the typed newline still shows: `ECHONL`).
struct EchoOff {
    saved: libc::termios,
    handlers: [libc::sighandler_t; 4],
}

impl EchoOff {
    fn new() -> io::Result<EchoOff> {
        let mut saved = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr fills the termios it is given, or fails and we stop.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, saved.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: tcgetattr returned 0, so it initialised the value.
        let saved = unsafe { saved.assume_init() };
        // A second prompt in this process is on the same terminal: same mode.
        let _ = SAVED.set(saved);
        let mut handlers = [libc::SIG_DFL; 4];
        for (old, &sig) in handlers.iter_mut().zip(&SIGNALS) {
            // SAFETY: installs a handler that only calls async-signal-safe functions.
            *old = unsafe {
                libc::signal(
                    sig,
                    restore_and_die as extern "C" fn(libc::c_int) as libc::sighandler_t,
                )
            };
        }
        let mut quiet = saved;
        quiet.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK);
        quiet.c_lflag |= libc::ECHONL;
        ECHO_IS_OFF.store(true, Ordering::SeqCst);
        let guard = EchoOff { saved, handlers };
        // SAFETY: a termios value from tcgetattr, changed in its flags only.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSAFLUSH, &quiet) } != 0 {
            return Err(io::Error::last_os_error()); // the guard's drop restores
        }
        Ok(guard)
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        ECHO_IS_OFF.store(false, Ordering::SeqCst);
        // SAFETY: restores the mode read by tcgetattr, and the handlers signal() returned.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
            for (&old, &sig) in self.handlers.iter().zip(&SIGNALS) {
                libc::signal(sig, old);
            }
        }
    }
}

/// Signal handler: echo back on, then the signal's default action (the process
/// ends as if no handler had been installed).
extern "C" fn restore_and_die(sig: libc::c_int) {
    if ECHO_IS_OFF.swap(false, Ordering::SeqCst)
        && let Some(saved) = SAVED.get()
    {
        // SAFETY: tcsetattr, signal and raise are async-signal-safe.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
    }
    // SAFETY: as above.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}
