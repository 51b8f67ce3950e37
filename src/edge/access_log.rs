//! The access log: one line per request on stderr.
//!
//! Lines are formatted into a buffer that the handler loop flushes with one
//! `write(2)` whenever no request is waiting (so an idle or lightly loaded
//! server logs each request at once) and whenever the next line would take it
//! past [`ATOMIC_WRITE`] bytes. Under load that is one system call per ~60
//! lines instead of one per line: writing each line was a tenth of the CPU a
//! request cost (ext4 or journald on the other end). Each write stays within
//! `PIPE_BUF`, so lines logged by other threads never land inside one.
//! Architecture invariant: only method, path (no query), status, size, duration
//! and a note (fixed text, or a 421's refused host escaped by `hosts`) are
//! logged — never query strings, bodies, cookies or keys.

use std::io::Write as _;
use std::time::Duration;

/// Largest batch written at once: `PIPE_BUF` on Linux, so a write to a pipe
/// (journald's stdout stream, `| logger`) is never interleaved with another.
const ATOMIC_WRITE: usize = 4096;

/// Lines not yet written, formatted into a reused buffer.
pub struct AccessLog {
    pending: String,
    line: String,
    out: Box<dyn std::io::Write>,
}

impl Default for AccessLog {
    /// A log on stderr.
    fn default() -> AccessLog {
        AccessLog::to(Box::new(std::io::stderr()))
    }
}

impl AccessLog {
    /// A log written to `out`, one `write_all` per batch.
    pub fn to(out: Box<dyn std::io::Write>) -> AccessLog {
        AccessLog {
            pending: String::new(),
            line: String::new(),
            out,
        }
    }

    /// Logs `METHOD PATH STATUS BYTESB MS.mmmms[ NOTE]` (written by the next
    /// [`AccessLog::flush`], or now if the batch is full).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        status: u16,
        bytes: usize,
        took: Duration,
        note: &str,
    ) {
        self.line.clear();
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.line.push_str(method);
        self.line.push(' ');
        push_printable(&mut self.line, path);
        // By hand rather than `writeln!`: core::fmt was a tenth of the handler
        // loop's own instructions per request.
        let line = &mut self.line;
        line.push(' ');
        push_decimal(line, u64::from(status), 1);
        line.push(' ');
        push_decimal(line, bytes as u64, 1);
        line.push_str("B ");
        push_decimal(line, micros / 1000, 1);
        line.push('.');
        push_decimal(line, micros % 1000, 3);
        line.push_str("ms");
        line.push_str(note);
        line.push('\n');
        if self.pending.len() + self.line.len() > ATOMIC_WRITE {
            self.flush();
        }
        self.pending.push_str(&self.line);
    }

    /// Writes the pending lines, if any.
    pub fn flush(&mut self) {
        if !self.pending.is_empty() {
            let _ = self.out.write_all(self.pending.as_bytes());
            self.pending.clear();
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Appends `n` in decimal, zero-padded to at least `width` digits.
fn push_decimal(out: &mut String, n: u64, width: usize) {
    let mut buf = [0u8; 20];
    // ASCII digits only.
    out.push_str(std::str::from_utf8(decimal(&mut buf, n, width)).unwrap_or_default());
}

/// `n` in decimal ASCII digits, zero-padded to at least `width` (at most 20),
/// written into the end of `buf`: by hand, as core::fmt costs more than the rest.
pub(crate) fn decimal(buf: &mut [u8; 20], mut n: u64, width: usize) -> &[u8] {
    let mut start = buf.len();
    while n > 0 || buf.len() - start < width.clamp(1, 20) {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    &buf[start..]
}

/// Appends `text` with control and non-ASCII characters escaped, so that
/// nothing a client sends can start a new log line or hide in one.
pub fn push_printable(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_ascii_graphic() {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
}

/// `text` made printable (see [`push_printable`]).
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_printable(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records each `write` call separately.
    #[derive(Clone, Default)]
    struct Writes(std::rc::Rc<std::cell::RefCell<Vec<Vec<u8>>>>);

    impl std::io::Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log_to(writes: &Writes) -> AccessLog {
        AccessLog::to(Box::new(writes.clone()))
    }

    #[test]
    fn lines_are_written_together_at_flush() {
        let writes = Writes::default();
        let mut log = log_to(&writes);
        log.request("GET", "/tracks", 200, 95, Duration::from_micros(1234), "");
        log.request(
            "POST",
            "/login",
            401,
            40,
            Duration::from_micros(5),
            " throttled",
        );
        assert!(writes.0.borrow().is_empty());
        log.flush();
        log.flush();
        assert_eq!(
            *writes.0.borrow(),
            vec![b"GET /tracks 200 95B 1.234ms\nPOST /login 401 40B 0.005ms throttled\n".to_vec()]
        );
    }

    #[test]
    fn a_full_batch_is_written_whole_lines_at_most_pipe_buf_at_a_time() {
        let writes = Writes::default();
        let mut log = log_to(&writes);
        for i in 0..1000 {
            log.request("GET", &format!("/tracks/{i}"), 200, 1, Duration::ZERO, "");
        }
        assert!(
            writes.0.borrow().len() > 1,
            "batches are written before the flush"
        );
        drop(log);
        let batches = writes.0.borrow();
        assert!(
            batches
                .iter()
                .all(|b| b.len() <= ATOMIC_WRITE && b.ends_with(b"\n"))
        );
        let all = String::from_utf8(batches.concat()).unwrap();
        let expected: String = (0..1000)
            .map(|i| format!("GET /tracks/{i} 200 1B 0.000ms\n"))
            .collect();
        assert_eq!(
            all, expected,
            "every line, in order, written by the time the log is dropped"
        );
    }

    #[test]
    fn numbers_are_decimal_and_padded() {
        let mut out = String::new();
        for (n, width) in [(0, 1), (7, 3), (42, 3), (999, 3), (1000, 1), (u64::MAX, 1)] {
            push_decimal(&mut out, n, width);
            out.push(' ');
        }
        assert_eq!(out, format!("0 007 042 999 1000 {} ", u64::MAX));
    }

    #[test]
    fn paths_stay_on_one_line() {
        assert_eq!(printable("/a\r\nb\u{e9}\u{0}"), "/a\\r\\nb\\u{e9}\\u{0}");
        assert!(!printable("/x\n").contains('\n'));
    }
}
