//! The systemd notification protocol (`sd_notify(3)`), std only.
//!
//! A service started with `Type=notify` tells systemd it is ready (`READY=1`), is
//! stopping (`STOPPING=1`) or is still alive (`WATCHDOG=1`) by sending one datagram
//! to the Unix socket named in `$NOTIFY_SOCKET`. The name is a filesystem path, or
//! an abstract address written with a leading `@`.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Sends `state` (e.g. `"READY=1"`) to `$NOTIFY_SOCKET`. `Ok(false)` when the
/// variable is unset or empty, i.e. when not run by systemd with `Type=notify`.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    if socket.is_empty() {
        return Ok(false);
    }
    let socket = socket
        .to_str()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "NOTIFY_SOCKET is not UTF-8"))?;
    notify_to(socket, state).map(|()| true)
}

/// Sends `state` to the notification socket `socket`: an absolute path, or `@name`
/// for the abstract address `name`. Never waits: the handler loop sends the
/// watchdog pings, and a receiver whose queue is full must not stall it (the
/// datagram is dropped with `WouldBlock` instead).
pub fn notify_to(socket: &str, state: &str) -> io::Result<()> {
    let sender = UnixDatagram::unbound()?;
    sender.set_nonblocking(true)?;
    let sent = if let Some(name) = socket.strip_prefix('@') {
        send_abstract(&sender, name.as_bytes(), state.as_bytes())?
    } else if socket.starts_with('/') {
        sender.send_to(state.as_bytes(), socket)?
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unsupported NOTIFY_SOCKET address {socket:?}"),
        ));
    };
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "notification datagram truncated",
        ));
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn send_abstract(sender: &UnixDatagram, name: &[u8], bytes: &[u8]) -> io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sender.send_to_addr(bytes, &addr)
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_: &UnixDatagram, _: &[u8], _: &[u8]) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract socket addresses exist only on Linux",
    ))
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, if systemd enabled the
/// watchdog (`WatchdogSec=`) for this process (`$WATCHDOG_PID` unset or ours).
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    watchdog_interval_from(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// [`watchdog_interval`] on explicit values, for tests.
pub fn watchdog_interval_from(
    usec: Option<&str>,
    pid: Option<&str>,
    our_pid: u32,
) -> Option<Duration> {
    if let Some(pid) = pid.filter(|p| !p.is_empty())
        && pid.parse::<u32>().ok() != Some(our_pid)
    {
        return None;
    }
    let usec: u64 = usec?.parse().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn temp_path(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("tracksd-notify-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    fn receive(rx: &UnixDatagram) -> String {
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 256];
        let n = rx.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn sends_to_a_filesystem_path() {
        let path = temp_path("path");
        let rx = UnixDatagram::bind(&path).unwrap();
        notify_to(path.to_str().unwrap(), "READY=1").unwrap();
        assert_eq!(receive(&rx), "READY=1");
        notify_to(path.to_str().unwrap(), "STOPPING=1").unwrap();
        assert_eq!(receive(&rx), "STOPPING=1");
        let _ = std::fs::remove_file(&path);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_address() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("tracksd-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(&format!("@{name}"), "WATCHDOG=1").unwrap();
        assert_eq!(receive(&rx), "WATCHDOG=1");
    }

    #[test]
    fn refuses_relative_addresses_and_reports_missing_sockets() {
        let e = notify_to("relative/socket", "READY=1").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let missing = temp_path("missing");
        assert!(notify_to(missing.to_str().unwrap(), "READY=1").is_err());
    }

    #[test]
    fn watchdog_interval_is_half_of_usec_for_our_pid_only() {
        let half = Some(Duration::from_secs(5));
        assert_eq!(watchdog_interval_from(Some("10000000"), None, 42), half);
        assert_eq!(
            watchdog_interval_from(Some("10000000"), Some("42"), 42),
            half
        );
        assert_eq!(watchdog_interval_from(Some("10000000"), Some(""), 42), half);
        assert_eq!(
            watchdog_interval_from(Some("10000000"), Some("43"), 42),
            None
        );
        assert_eq!(
            watchdog_interval_from(Some("10000000"), Some("x"), 42),
            None
        );
        assert_eq!(watchdog_interval_from(None, None, 42), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 42), None);
        assert_eq!(watchdog_interval_from(Some("soon"), None, 42), None);
    }
}
