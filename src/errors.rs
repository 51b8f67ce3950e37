//! The two ways tracksd fails: before it serves, and while it serves.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A file that cannot be used, and why, in one line: `<path>: <reason>`.
/// The reason never contains secrets (key material, passwords).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: PathBuf,
    pub reason: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for FileError {}

/// A reason the service cannot start. Each is reported as one line on stderr.
#[derive(Debug)]
pub enum StartupError {
    /// The configuration file or an environment override is wrong (exit 2).
    Config(crate::config::ConfigError),
    /// The listen address could not be bound, e.g. in use or not local (exit 1,
    /// since it may go away on its own and a supervisor should retry).
    Bind { addr: SocketAddr, source: io::Error },
    /// A state file or directory is unusable: unreadable, corrupt or not creatable
    /// (exit 2: a person must look at it; we never "repair" it silently).
    State(FileError),
    /// The session key file or credential is missing, unreadable or too weak (exit 2).
    Keys(FileError),
    /// The command line is wrong (exit 2).
    Usage(String),
}

impl StartupError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartupError::Bind { .. } => 1,
            _ => 2,
        }
    }
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::Config(e) => write!(f, "config error: {e}"),
            StartupError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            StartupError::State(e) => write!(f, "state error: {e}"),
            StartupError::Keys(e) => write!(f, "session key error: {e}"),
            StartupError::Usage(msg) => write!(f, "usage error: {msg} (see tracksd --help)"),
        }
    }
}

impl std::error::Error for StartupError {}

impl From<crate::config::ConfigError> for StartupError {
    fn from(e: crate::config::ConfigError) -> Self {
        StartupError::Config(e)
    }
}

/// A failure while serving, after which the process exits non-zero so that its
/// supervisor (systemd) restarts it.
#[derive(Debug)]
pub enum RuntimeError {
    /// `recv()` on the listener failed: tiny-http's accept side is gone and will
    /// never deliver another request.
    Listener(io::Error),
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::Listener(e) => write!(f, "listener failed, exiting for restart: {e}"),
        }
    }
}

impl std::error::Error for RuntimeError {}
