//! std-only HTTP/1.1 client for `make bench`.
//!
//! `wrk` reports totals over all its connections, so a keep-alive connection that
//! never gets an answer (tiny_http can queue a new connection behind busy threads)
//! stays invisible. `conncheck load` opens N keep-alive connections at once, sends
//! requests on each one until a deadline (or one request each), and reports how many
//! of the N got at least one response before the deadline, with the per-connection
//! first-response latency.
//!
//! `conncheck startup` measures the time from exec to the first `200` of `GET /`.
//!
//! ```text
//! conncheck load ADDR [--conns N] [--secs S] [--method M] [--path P]
//!                     [--header 'Name: value']... [--body TEXT] [--timeout S]
//!     --secs 0 sends one request per connection and waits up to --timeout for it.
//!     Prints: served=K/N first_p50_ms=.. first_p100_ms=.. responses=.. bad_status=.. io_errors=..
//! conncheck startup [--runs R] [--timeout S] -- COMMAND ARGS...
//!     `{addr}` in ARGS becomes a free 127.0.0.1 port; polls GET / every ~1 ms.
//!     Prints: startup_ms_median=.. startup_ms_min=.. startup_ms_max=.. runs=.. all_ms=..
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("load") => load(&args[1..]),
        Some("startup") => startup(&args[1..]),
        _ => Err(usage()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("conncheck: {msg}");
            ExitCode::from(2)
        }
    }
}

fn usage() -> String {
    "usage: conncheck load ADDR [--conns N] [--secs S] [--method M] [--path P] \
     [--header 'N: V']... [--body TEXT] [--timeout S]\n       \
     conncheck startup [--runs R] [--timeout S] -- COMMAND ARGS... ({addr} is replaced)"
        .to_owned()
}

// ---------------------------------------------------------------------------
// load

struct LoadOpts {
    addr: SocketAddr,
    conns: usize,
    secs: f64,
    request: Vec<u8>,
    timeout: Duration,
}

/// What one connection saw.
#[derive(Default)]
struct ConnReport {
    first: Option<Duration>,
    responses: u64,
    bad_status: u64,
    io_errors: u64,
}

fn load(args: &[String]) -> Result<(), String> {
    let opts = parse_load(args)?;
    // Open every connection before any request is sent, so all N are open at once.
    let mut streams = Vec::with_capacity(opts.conns);
    for _ in 0..opts.conns {
        let s = TcpStream::connect(opts.addr).map_err(|e| format!("connect {}: {e}", opts.addr))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        streams.push(s);
    }
    let barrier = Arc::new(Barrier::new(opts.conns + 1));
    let request = Arc::new(opts.request.clone());
    let mut handles = Vec::with_capacity(opts.conns);
    for stream in streams {
        let barrier = barrier.clone();
        let request = request.clone();
        let (addr, secs, timeout) = (opts.addr, opts.secs, opts.timeout);
        handles.push(std::thread::spawn(move || {
            barrier.wait();
            run_conn(stream, addr, &request, secs, timeout)
        }));
    }
    barrier.wait();
    let reports: Vec<ConnReport> = handles
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();

    let mut firsts: Vec<Duration> = reports.iter().filter_map(|r| r.first).collect();
    firsts.sort();
    let ms = |d: Option<&Duration>| {
        d.map_or("-".to_owned(), |d| format!("{:.3}", d.as_secs_f64() * 1e3))
    };
    println!(
        "served={}/{} first_p50_ms={} first_p100_ms={} responses={} bad_status={} io_errors={}",
        firsts.len(),
        opts.conns,
        ms(percentile(&firsts, 50.0)),
        ms(firsts.last()),
        reports.iter().map(|r| r.responses).sum::<u64>(),
        reports.iter().map(|r| r.bad_status).sum::<u64>(),
        reports.iter().map(|r| r.io_errors).sum::<u64>(),
    );
    Ok(())
}

fn parse_load(args: &[String]) -> Result<LoadOpts, String> {
    let mut it = args.iter();
    let addr: SocketAddr = it
        .next()
        .ok_or_else(usage)?
        .parse()
        .map_err(|e| format!("bad ADDR: {e}"))?;
    let (mut conns, mut secs, mut timeout) = (1usize, 2.0f64, 10.0f64);
    let (mut method, mut path, mut body) = ("GET".to_owned(), "/".to_owned(), None::<String>);
    let mut headers = Vec::new();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--conns" => conns = value()?.parse().map_err(|e| format!("--conns: {e}"))?,
            "--secs" => secs = value()?.parse().map_err(|e| format!("--secs: {e}"))?,
            "--timeout" => timeout = value()?.parse().map_err(|e| format!("--timeout: {e}"))?,
            "--method" => method = value()?,
            "--path" => path = value()?,
            "--header" => headers.push(value()?),
            "--body" => body = Some(value()?),
            _ => return Err(format!("unknown option {flag}\n{}", usage())),
        }
    }
    if conns == 0 || secs.is_nan() || secs < 0.0 || timeout.is_nan() || timeout <= 0.0 {
        return Err("--conns must be ≥ 1, --secs ≥ 0, --timeout > 0".to_owned());
    }
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for h in &headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    if let Some(b) = &body {
        request.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    request.push_str("\r\n");
    if let Some(b) = &body {
        request.push_str(b);
    }
    Ok(LoadOpts {
        addr,
        conns,
        secs,
        request: request.into_bytes(),
        timeout: Duration::from_secs_f64(timeout),
    })
}

/// Sends requests on one connection until the deadline (or once, when `secs` is 0).
/// A response counts only if it arrives before the deadline: a connection starved
/// while the others are busy would otherwise be served once they stop.
fn run_conn(
    stream: TcpStream,
    addr: SocketAddr,
    request: &[u8],
    secs: f64,
    timeout: Duration,
) -> ConnReport {
    let start = Instant::now();
    let once = secs == 0.0;
    let deadline = start
        + if once {
            timeout
        } else {
            Duration::from_secs_f64(secs)
        };
    let mut report = ConnReport::default();
    let mut stream = Some(BufReader::new(stream));
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let mut s = match stream.take() {
            Some(s) => s,
            None => match TcpStream::connect_timeout(&addr, deadline - now) {
                Ok(s) => BufReader::new(s),
                Err(_) => {
                    report.io_errors += 1;
                    break;
                }
            },
        };
        match exchange(&mut s, request, deadline) {
            // Late by the timer's slack: others stopped at the deadline, which may
            // be what let this one through, so it does not count.
            Ok(_) if Instant::now() > deadline => break,
            Ok((status, keep_alive)) => {
                report.first.get_or_insert_with(|| start.elapsed());
                report.responses += 1;
                if !(200..400).contains(&status) {
                    report.bad_status += 1;
                }
                if keep_alive {
                    stream = Some(s);
                }
            }
            Err(e) => {
                // Running out of time at the deadline is not an error of the server.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) || Instant::now() < deadline
                {
                    report.io_errors += 1;
                }
                break;
            }
        }
        if once {
            break;
        }
    }
    report
}

/// Writes one request and reads one whole response; returns the status and whether
/// the connection may be reused.
fn exchange(
    s: &mut BufReader<TcpStream>,
    request: &[u8],
    deadline: Instant,
) -> std::io::Result<(u16, bool)> {
    let remaining = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or(std::io::ErrorKind::TimedOut)?;
    s.get_ref().set_read_timeout(Some(remaining))?;
    s.get_mut().write_all(request)?;
    read_response(s)
}

fn read_response(r: &mut impl BufRead) -> std::io::Result<(u16, bool)> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let (mut length, mut chunked, mut keep_alive) = (0usize, false, true);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().map_err(|_| bad("bad content-length"))?,
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad("bad chunk size"))?;
            skip(r, size + 2)?;
            if size == 0 {
                break;
            }
        }
    } else {
        skip(r, length)?;
    }
    Ok((status, keep_alive))
}

fn skip(r: &mut impl Read, n: usize) -> std::io::Result<()> {
    let copied = std::io::copy(&mut r.take(n as u64), &mut std::io::sink())?;
    if copied as usize == n {
        Ok(())
    } else {
        Err(std::io::ErrorKind::UnexpectedEof.into())
    }
}

// ---------------------------------------------------------------------------
// startup

fn startup(args: &[String]) -> Result<(), String> {
    let (mut runs, mut timeout) = (10usize, 10.0f64);
    let mut it = args.iter();
    let mut command = Vec::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => runs = it.next().and_then(|v| v.parse().ok()).ok_or("--runs N")?,
            "--timeout" => {
                timeout = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--timeout S")?
            }
            "--" => {
                command.extend(it.by_ref().cloned());
            }
            _ => return Err(format!("unknown option {a}\n{}", usage())),
        }
    }
    if command.is_empty() || runs == 0 {
        return Err(usage());
    }
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs {
        all.push(one_start(&command, Duration::from_secs_f64(timeout))?);
    }
    let mut sorted = all.clone();
    sorted.sort();
    let ms = |d: &Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
    println!(
        "startup_ms_median={} startup_ms_min={} startup_ms_max={} runs={} all_ms={}",
        ms(percentile(&sorted, 50.0).unwrap()),
        ms(&sorted[0]),
        ms(sorted.last().unwrap()),
        runs,
        all.iter().map(ms).collect::<Vec<_>>().join(",")
    );
    Ok(())
}

/// Starts the command on a free port and polls `GET /` until it answers 200.
fn one_start(command: &[String], timeout: Duration) -> Result<Duration, String> {
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?;
    let args: Vec<String> = command[1..]
        .iter()
        .map(|a| a.replace("{addr}", &addr.to_string()))
        .collect();
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let start = Instant::now();
    let mut child = Command::new(&command[0])
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", command[0]))?;
    let result = loop {
        if start.elapsed() > timeout {
            break Err(format!("{} gave no 200 within {timeout:?}", command[0]));
        }
        if let Ok(Some(st)) = child.try_wait() {
            break Err(format!("{} exited early: {st}", command[0]));
        }
        if let Ok(s) = TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let ok = (&s).write_all(request.as_bytes()).is_ok()
                && matches!(read_response(&mut BufReader::new(&s)), Ok((200, _)));
            if ok {
                break Ok(start.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

// ---------------------------------------------------------------------------

/// Nearest-rank percentile of a sorted slice.
fn percentile<T>(sorted: &[T], p: f64) -> Option<&T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1)
}
