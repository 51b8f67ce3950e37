//! Black-box test harness: starts the real `tracksd` binary on port 0 with its own
//! state directory, and talks raw HTTP/1.1 to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The demo user's password hash from config/tracksd.toml, at low cost for tests.
pub const FAST_JOHN_HASH: &str =
    "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0c2FsdA$8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA";

/// The demo user's real password hash (600,000 rounds), from config/tracksd.toml.
pub const REAL_JOHN_HASH: &str = "$pbkdf2-sha256$i=600000,l=32$J6OVYIFWG0st2Tu4l04zew$BRnO8hg8KV/fmvn24ntOf5Xkt2Y7FBktDSiVD13G52E";

/// Tests that measure time, memory or threads take this first: one at a time
/// within a test binary (each file is its own binary, so one lock per file).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The variables through which a caller's environment could reach the server
/// under test (a developer's shell, a systemd unit running the tests).
const INHERITED_ENV: [&str; 6] = [
    "TRACKSD_LISTEN",
    "TRACKSD_STATE_DIR",
    "CREDENTIALS_DIRECTORY",
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "WATCHDOG_USEC",
];

/// The one clean `tracksd` command: the built binary with none of the caller's
/// tracksd or systemd variables. Add arguments, env and stdio as needed.
pub fn tracksd() -> Command {
    clean(Command::new(env!("CARGO_BIN_EXE_tracksd")))
}

/// `tracksd user ARGS --config CONFIG --iterations 1000` (cheap hashes for tests).
pub fn user_command(config: &Path, args: &[&str]) -> Command {
    let mut cmd = tracksd();
    cmd.arg("user")
        .args(args)
        .arg("--config")
        .arg(config)
        .args(["--iterations", "1000"]);
    cmd
}

/// Runs `cmd` with `stdin` piped in (then closed) and returns what it wrote.
pub fn output_with_stdin(mut cmd: Command, stdin: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses early may not read it all.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

/// `cmd` without the caller's tracksd or systemd variables (for a wrapper that
/// `exec`s the binary).
pub fn clean(mut cmd: Command) -> Command {
    for k in INHERITED_ENV {
        cmd.env_remove(k);
    }
    // `check-config` without `--config` reads /etc/tracksd/tracksd.toml where it
    // exists: never the test host's.
    cmd.env(
        "TRACKSD_CONFIG_DEFAULT",
        "/nonexistent/tracksd-test/tracksd.toml",
    );
    cmd
}

/// Whether process `pid` is running: it exists and is not a zombie (a child that
/// exited but was not waited for keeps its /proc entry, state `Z`).
pub fn is_running(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the command name, which is in parentheses and may hold any byte.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.trim_start().chars().next());
    matches!(state, Some(s) if s != 'Z' && s != 'X')
}

/// What [`Server::wait_for_log`] waits for: a substring, or a test on the whole log.
pub trait LogMatch {
    fn found_in(&self, log: &str) -> bool;
}

impl LogMatch for &str {
    fn found_in(&self, log: &str) -> bool {
        log.contains(*self)
    }
}

impl LogMatch for String {
    fn found_in(&self, log: &str) -> bool {
        log.contains(self.as_str())
    }
}

impl<F: Fn(&str) -> bool> LogMatch for F {
    fn found_in(&self, log: &str) -> bool {
        self(log)
    }
}

/// A fresh, empty directory under the system temp dir, removed on drop.
pub fn temp_dir(tag: &str) -> TempDir {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tracksd-test-{}-{}-{}",
        tag,
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir {
        path: dir,
        remove: true,
    }
}

/// A test's scratch directory: removed with everything in it when dropped, so a
/// run leaves nothing in /tmp; kept (and named on stderr) when the test panics,
/// for a look at what the server left.
pub struct TempDir {
    path: PathBuf,
    remove: bool,
}

impl TempDir {
    /// Keeps the directory after all; returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.remove = false;
        self.path.clone()
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.remove {
            return;
        }
        if std::thread::panicking() {
            eprintln!("kept {} (the test failed)", self.path.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A config listening on port 0 with state in `dir`, user john/password (fast hash), plus `extra`.
pub fn config_text(dir: &Path, extra: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n{extra}\n[[users]]\nusername = \"john\"\npassword_hash = \"{FAST_JOHN_HASH}\"\n",
        dir.join("state").display()
    )
}

/// A running server process; killed on drop. A server made by [`Server::start`]
/// owns its directory and removes it on drop (or hands it over with `kill`).
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub config: PathBuf,
    /// Everything the server wrote to stderr so far.
    pub log: Arc<Mutex<String>>,
    owned_dir: Option<TempDir>,
}

impl Server {
    /// Starts the binary with a config made by [`config_text`] in a fresh dir.
    pub fn start(extra: &str) -> Server {
        let dir = temp_dir("srv");
        let mut server = Server::start_in(&dir, extra);
        server.owned_dir = Some(dir);
        server
    }

    /// Hands `dir` to the server: it is removed when the server is dropped.
    pub fn owning(mut self, dir: TempDir) -> Server {
        self.owned_dir = Some(dir);
        self
    }

    /// Starts (or restarts) a server whose state is in `dir`.
    pub fn start_in(dir: &Path, extra: &str) -> Server {
        let config = dir.join("tracksd.toml");
        std::fs::write(&config, config_text(dir, extra)).unwrap();
        Server::start_with_config(dir, &config, &[])
    }

    /// Starts the binary with an explicit config file and environment.
    pub fn start_with_config(dir: &Path, config: &Path, env: &[(&str, &str)]) -> Server {
        Server::start_wrapped(dir, config, env, &[])
    }

    /// Like [`Server::start_with_config`], but runs the binary through `wrapper`
    /// (e.g. `["sh", "-c", "...; exec \"$0\" \"$@\""]`), which must `exec` it so
    /// the child's pid is the server's.
    pub fn start_wrapped(
        dir: &Path,
        config: &Path,
        env: &[(&str, &str)],
        wrapper: &[&str],
    ) -> Server {
        let bin = env!("CARGO_BIN_EXE_tracksd");
        let mut cmd = match wrapper {
            [] => tracksd(),
            [program, args @ ..] => {
                let mut c = clean(Command::new(program));
                c.args(args).arg(bin);
                c
            }
        };
        cmd.arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn tracksd");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let addr = line.strip_prefix("tracksd listening on http://");
                if let Some(addr) = addr.and_then(|a| a.parse::<SocketAddr>().ok())
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr);
                }
                log2.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start; log:\n{}", log.lock().unwrap());
            }
        };
        Server {
            child,
            addr,
            dir: dir.to_path_buf(),
            config: config.to_path_buf(),
            log,
            owned_dir: None,
        }
    }

    /// Sends one request on a new connection and reads the whole response.
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        self.request_for_host(&self.addr.to_string(), method, target, headers, body)
    }

    /// Like [`Server::request`], with `Host: host` instead of the server's address.
    pub fn request_for_host(
        &self,
        host: &str,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        self.raw(&request_bytes(host, method, target, headers, body))
    }

    pub fn get(&self, target: &str) -> HttpResponse {
        self.request("GET", target, &[], b"")
    }

    /// Sends raw bytes, reads until the server closes, parses the first response.
    pub fn raw(&self, bytes: &[u8]) -> HttpResponse {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(bytes).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        HttpResponse::parse(&out)
    }

    /// Logs in as john (or `user`/`password`) and returns the `name=value` cookie pair.
    pub fn login(&self, user: &str, password: &str) -> HttpResponse {
        let body = format!("username={user}&password={password}");
        self.request(
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    /// Stops the process (SIGKILL) and waits for it; returns its directory for a
    /// restart, which removes it on drop if this server owned it.
    pub fn kill(mut self) -> TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.owned_dir.take().unwrap_or_else(|| TempDir {
            path: self.dir.clone(),
            remove: false,
        })
    }

    /// Stops the process (SIGKILL) and removes its directory.
    pub fn remove(self) {
        let dir = self.kill();
        let _ = std::fs::remove_dir_all(dir);
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Polls the server's log until `wanted` is in it (a substring, or a test
    /// on the whole log) and returns the log; panics with the log after `deadline`.
    pub fn wait_for_log(&self, wanted: impl LogMatch, deadline: Duration) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if wanted.found_in(&log) {
                return log;
            }
            assert!(
                start.elapsed() < deadline,
                "not in the log after {deadline:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the server process is still running (not exited, not a zombie).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None)) && is_running(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
/// One request with `Connection: close` (and a `Content-Length` when there is
/// a body, or for POST and PUT), as bytes for the wire.
pub fn request_bytes(
    host: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub raw: Vec<u8>,
}

impl HttpResponse {
    pub fn parse(raw: &[u8]) -> HttpResponse {
        Self::try_parse(raw).unwrap_or_else(|| {
            panic!(
                "no complete response head in {:?}",
                String::from_utf8_lossy(raw)
            )
        })
    }

    /// The response in `raw`, if it holds a whole head with a status.
    pub fn try_parse(raw: &[u8]) -> Option<HttpResponse> {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Some(HttpResponse {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
            raw: raw.to_vec(),
        })
    }

    /// The last value of a header (what a client keeping headers in a map sees;
    /// for `set-cookie` after a login: the session cookie).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `name=value` part of the session's Set-Cookie header: the last one
    /// (a login sets the device cookie first).
    pub fn cookie(&self) -> Option<String> {
        self.headers_named("set-cookie")
            .last()
            .map(|c| c.split(';').next().unwrap().to_owned())
    }
}

/// A keep-alive client: one connection, one request at a time, each timed.
pub struct KeepAlive {
    reader: BufReader<TcpStream>,
    host: String,
}

impl KeepAlive {
    pub fn connect(addr: SocketAddr) -> KeepAlive {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_nodelay(true).unwrap();
        KeepAlive {
            reader: BufReader::new(s),
            host: addr.to_string(),
        }
    }

    /// Sends `GET target` and reads the whole response: (status, how long it took).
    pub fn get(&mut self, target: &str) -> (u16, Duration) {
        let t = std::time::Instant::now();
        let raw = format!("GET {target} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.reader.get_mut().write_all(raw.as_bytes()).unwrap();
        let status = read_response(&mut self.reader).0;
        (status, t.elapsed())
    }
}

/// Reads one response with a Content-Length body: (status, body).
pub fn read_response(reader: &mut impl BufRead) -> (u16, Vec<u8>) {
    try_read_response(reader).unwrap_or_else(|| panic!("no complete response"))
}

/// [`read_response`], or `None` when the connection ends or fails first.
pub fn try_read_response(reader: &mut impl BufRead) -> Option<(u16, Vec<u8>)> {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).ok()?;
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((status, body))
}

/// Latencies measured in a test, and their percentiles.
#[derive(Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`th percentile (0–100), in milliseconds.
    pub fn pct_ms(&self, p: f64) -> f64 {
        let mut v = self.0.clone();
        v.sort();
        let i = ((v.len() as f64 - 1.0) * p / 100.0).round() as usize;
        v.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    }

    pub fn summary(&self) -> String {
        format!(
            "n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
            self.len(),
            self.pct_ms(50.0),
            self.pct_ms(99.0),
            self.pct_ms(100.0)
        )
    }
}

/// GETs `target` on one keep-alive connection until `stop` is set.
pub fn measure_gets(
    addr: SocketAddr,
    target: &'static str,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Latencies> {
    std::thread::spawn(move || {
        let mut client = KeepAlive::connect(addr);
        let mut lat = Latencies::default();
        // At least one sample, however soon `stop` comes.
        loop {
            let (status, took) = client.get(target);
            assert_eq!(status, 200, "GET {target}");
            lat.push(took);
            if stop.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        lat
    })
}

/// A number from /proc/PID/status (e.g. "VmRSS", "Threads").
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Open descriptors of a process.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// A TCP connection to `addr` (IPv4) from `source` (any 127/8 address works on
/// loopback; port chosen by the kernel) with a receive buffer of `rcvbuf`
/// bytes, both set before the handshake (a window is agreed on there).
pub fn connect_with(
    addr: SocketAddr,
    source: Option<std::net::Ipv4Addr>,
    rcvbuf: Option<i32>,
) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(to) = addr else {
        panic!("connect_with: IPv4 only, not {addr}");
    };
    fn sockaddr(ip: std::net::Ipv4Addr, port: u16) -> libc::sockaddr_in {
        libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        }
    }
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain libc calls on a socket this function owns (wrapped in a
    // TcpStream, closed on drop) and pointers to live locals of stated length.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        if let Some(bytes) = rcvbuf {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&bytes as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            );
        }
        if let Some(ip) = source {
            let from = sockaddr(ip, 0);
            if libc::bind(fd, (&from as *const libc::sockaddr_in).cast(), len) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        let dest = sockaddr(*to.ip(), to.port());
        if libc::connect(fd, (&dest as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// The memory all TCP sockets hold in the kernel now, in bytes: the "TCP: ...
/// mem N" pages of /proc/net/sockstat. The whole machine's, so other processes'
/// sockets are in it: compare levels measured close together.
pub fn tcp_kernel_memory() -> u64 {
    let stat = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    stat.lines()
        .find_map(|l| l.strip_prefix("TCP:"))
        .and_then(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let i = words.iter().position(|w| *w == "mem")?;
            words.get(i + 1)?.parse::<u64>().ok()
        })
        .map_or(0, |pages| pages * 4096)
}
