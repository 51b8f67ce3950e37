//! Responses on the wire, written by us through the writer tiny_http hands
//! out (`Request::into_writer`), which keeps a connection's responses in order.
//!
//! tiny_http's own `respond` builds an `AsciiString` per header, formats the
//! status line and every header with `write!`, and formats a `Date` from scratch
//! for each response: about 6k instructions, a tenth of a `GET /users/me`
//! (callgrind, bench/results/2026-12-04-wire.md). Here the head is one buffer with
//! the date formatted once a second, and the bytes are what tiny_http sent:
//! the status line in the request's HTTP version, `Server` and `Date` first,
//! then ours, then `Content-Length`; no body for `HEAD`, 1xx, 204 and 304. One
//! difference: a body of 32 KiB or more keeps its `Content-Length` where
//! tiny_http switched to chunked encoding (on HTTP/1.1), which costs the
//! client nothing and the server a copy per chunk.

use crate::http::Response;
use std::cell::Cell;
use std::io::{ErrorKind, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// The head of `response` for a request of HTTP version `version`: every
/// header whose name and value tiny_http would have accepted (ASCII, without
/// control bytes or tab: none can split a header), and nothing else.
pub(crate) fn head(response: &Response, version: (u8, u8)) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + response.headers.len() * 40);
    out.extend_from_slice(b"HTTP/");
    out.push(b'0' + version.0 % 10);
    out.push(b'.');
    out.push(b'0' + version.1 % 10);
    out.push(b' ');
    push_decimal(&mut out, u64::from(response.status));
    out.push(b' ');
    out.extend_from_slice(
        tiny_http::StatusCode(response.status)
            .default_reason_phrase()
            .as_bytes(),
    );
    out.extend_from_slice(b"\r\nServer: tiny-http (Rust)\r\nDate: ");
    out.extend_from_slice(&http_date());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &response.headers {
        if sendable(name) && sendable(value) && !name.is_empty() {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(&mut out, response.body.len() as u64);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// Whether a response carries its body (not to HEAD; not 1xx, 204, 304).
fn sends_body(head_request: bool, status: u16) -> bool {
    !head_request && !matches!(status, 100..=199 | 204 | 304)
}

/// The head of `response` to `rq`, and whether its body follows.
pub(crate) fn head_for(rq: &tiny_http::Request, response: &Response) -> (Vec<u8>, bool) {
    let version = rq.http_version();
    let head_request = *rq.method() == tiny_http::Method::Head;
    (
        head(response, (version.0, version.1)),
        sends_body(head_request, response.status),
    )
}

/// Writes the response. Blocks until every earlier response on the connection
/// is written and this one is in the socket (or the send timeout): on the loop
/// only when that cannot happen (`requests.rs`). Whether it all went out; a
/// peer gone (reset, broken pipe) counts as out, as it does in tiny_http.
/// `into_writer` drops the request before the head is written (tiny_http's
/// `respond` dropped it after). Only a Content-Length body is drained on drop,
/// and one written here was read whole: a body that may be left unread closes
/// its connection and goes through `tiny::respond_and_close` instead.
pub(crate) fn respond(rq: tiny_http::Request, response: Response) -> bool {
    let (head, body) = head_for(&rq, &response);
    let mut writer = rq.into_writer();
    let written = writer
        .write_all(&head)
        .and_then(|()| match body {
            true => writer.write_all(&response.body),
            false => Ok(()),
        })
        .and_then(|()| writer.flush());
    match written {
        Ok(()) => true,
        Err(e) => matches!(
            e.kind(),
            ErrorKind::BrokenPipe
                | ErrorKind::ConnectionAborted
                | ErrorKind::ConnectionRefused
                | ErrorKind::ConnectionReset
        ),
    }
}

fn sendable(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(super::access_log::decimal(&mut [0; 20], n, 1));
}

thread_local! {
    /// The `Date` of the current second, per writing thread.
    static DATE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
}

/// Now as an IMF-fixdate (`Fri, 04 Dec 2026 18:56:14 GMT`), formatted once a second.
fn http_date() -> [u8; 29] {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|cached| {
        let (at, text) = cached.get();
        if at == secs {
            return text;
        }
        let text = imf_fixdate(secs);
        cached.set((secs, text));
        text
    })
}

/// Seconds since the epoch as an IMF-fixdate (RFC 9110, 5.6.7).
fn imf_fixdate(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days);
    let in_day = secs % 86_400;
    let mut out = [0u8; 29];
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    out[3..5].copy_from_slice(b", ");
    two_digits(&mut out[5..7], day);
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTHS[month as usize - 1]);
    out[11] = b' ';
    two_digits(&mut out[12..14], year / 100);
    two_digits(&mut out[14..16], year % 100);
    out[16] = b' ';
    two_digits(&mut out[17..19], in_day / 3600);
    out[19] = b':';
    two_digits(&mut out[20..22], in_day / 60 % 60);
    out[22] = b':';
    two_digits(&mut out[23..25], in_day % 60);
    out[25..].copy_from_slice(b" GMT");
    out
}

fn two_digits(out: &mut [u8], n: u64) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_imf_fixdates() {
        let cases = [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_796_410_574, "Fri, 04 Dec 2026 18:56:14 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
        ];
        for (secs, text) in cases {
            assert_eq!(std::str::from_utf8(&imf_fixdate(secs)).unwrap(), text);
        }
    }

    #[test]
    fn the_head_is_what_tiny_http_sent_without_unsendable_headers() {
        let response = Response::detail(404, "Track not found")
            .with_header("X-Bad", "a\r\nSet-Cookie: x=1")
            .with_header("X-Tab", "a\tb")
            .with_header("X-Utf8", "é");
        let head = String::from_utf8(head(&response, (1, 0))).unwrap();
        // The date is this second's (checked above): compared by shape.
        let at = head.find("Date: ").unwrap() + 6;
        let date = &head[at..at + 29];
        assert!(date.ends_with(" GMT") && date.as_bytes()[3] == b',');
        assert_eq!(
            head.replace(date, "DATE"),
            "HTTP/1.0 404 Not Found\r\nServer: tiny-http (Rust)\r\nDate: DATE\r\n\
             Content-Type: application/json\r\nContent-Length: 28\r\n\r\n"
        );
        assert!(sends_body(false, 200) && !sends_body(true, 200) && !sends_body(false, 204));
    }
}
