//! Request framing rules checked before a request reaches the router.
//!
//! tiny-http parses framing loosely (any `Transfer-Encoding` means chunked, the
//! first of two `Content-Length`s wins, `+5` and `abc` are accepted). Anything a
//! front proxy could read differently is refused here, so no second request can
//! be smuggled inside a body.

/// The most header fields a request may carry.
pub const MAX_HEADERS: usize = 100;
/// The most bytes all header names and values together may take.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Bodies up to this size arrive already read by tiny-http's connection thread
/// (when no `Expect` header asks for `100 Continue`).
pub const PREREAD_BODY_BYTES: u64 = 1024;

/// A request answered without routing, with a status and its `detail` text:
/// a framing error here (the connection closes after it), or the edge busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub detail: &'static str,
}

impl Refusal {
    pub const fn new(status: u16, detail: &'static str) -> Refusal {
        Refusal { status, detail }
    }

    /// The response: a FastAPI-style `detail`, and for a 503 when to try again.
    pub fn response(self) -> crate::http::Response {
        let r = crate::http::Response::detail(self.status, self.detail);
        match self.status {
            503 => r.with_header("Retry-After", "1"),
            _ => r,
        }
    }
}

/// How the request's body is to be obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPlan {
    /// No body at all.
    Empty,
    /// tiny-http has already read it into memory: reading cannot block.
    Preread,
    /// It must still come off the socket (up to the limit), which may block.
    Stream,
    /// Declared larger than the limit: never read.
    TooLarge,
}

/// Checks the header section (names in any case).
pub fn check(headers: &[(String, String)]) -> Result<(), Refusal> {
    let bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Err(Refusal::new(431, "Request header fields too large"));
    }
    if headers.iter().any(|(_, v)| has_control_byte(v.as_bytes())) {
        return Err(Refusal::new(400, "Invalid header value"));
    }
    let lengths: Vec<&str> = values(headers, "content-length").collect();
    let encodings: Vec<&str> = values(headers, "transfer-encoding").collect();
    if lengths.len() > 1 {
        return Err(Refusal::new(400, "Conflicting Content-Length headers"));
    }
    if !lengths.is_empty() && !encodings.is_empty() {
        return Err(Refusal::new(400, "Content-Length with Transfer-Encoding"));
    }
    if let Some(len) = lengths.first()
        && (len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(Refusal::new(400, "Invalid Content-Length"));
    }
    if encodings.len() > 1
        || encodings
            .first()
            .is_some_and(|te| !te.trim().eq_ignore_ascii_case("chunked"))
    {
        return Err(Refusal::new(400, "Unsupported Transfer-Encoding"));
    }
    Ok(())
}

/// Whether `value` holds an ASCII control byte other than tab. Folded without an
/// early exit so that it vectorises: a cookie is a few hundred bytes, and a
/// byte-at-a-time scan of it was 4% of a request's instructions.
pub fn has_control_byte(value: &[u8]) -> bool {
    value.iter().fold(false, |seen, &b| {
        seen | ((b < 0x20 && b != b'\t') | (b == 0x7f))
    })
}

/// Decides how to get the body of a request that passed [`check`].
pub fn body_plan(headers: &[(String, String)], limit: u64) -> BodyPlan {
    let expects_continue = values(headers, "expect").next().is_some();
    let chunked = values(headers, "transfer-encoding").next().is_some();
    match values(headers, "content-length").next() {
        // All digits (checked); too many digits for u64 is too large too.
        Some(len) => match len.parse::<u64>() {
            Ok(0) => BodyPlan::Empty,
            Ok(n) if n > limit => BodyPlan::TooLarge,
            Ok(n) if n <= PREREAD_BODY_BYTES && !expects_continue => BodyPlan::Preread,
            Ok(_) => BodyPlan::Stream,
            Err(_) => BodyPlan::TooLarge,
        },
        None if chunked => BodyPlan::Stream,
        None => BodyPlan::Empty,
    }
}

fn values<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn control_bytes_are_the_ascii_controls_but_tab() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_control() && b != b'\t';
            assert_eq!(has_control_byte(&[b'a', b, b'z']), expected, "{b:#x}");
        }
        assert!(!has_control_byte(b""));
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        assert_eq!(
            check(&h(&[("content-length", "5"), ("content-length", "6")]))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            check(&h(&[
                ("content-length", "5"),
                ("transfer-encoding", "chunked")
            ]))
            .unwrap_err()
            .status,
            400
        );
        for bad in ["abc", "+5", "-1", "", "5 5", "0x10"] {
            assert_eq!(
                check(&h(&[("content-length", bad)])).unwrap_err().status,
                400,
                "{bad:?}"
            );
        }
        assert_eq!(
            check(&h(&[("transfer-encoding", "gzip")]))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(check(&h(&[("x", "a\u{0}b")])).unwrap_err().status, 400);
        assert!(check(&h(&[("content-length", "18446744073709551615")])).is_ok());
        assert!(check(&h(&[("transfer-encoding", "Chunked")])).is_ok());
    }

    #[test]
    fn header_floods_are_431() {
        let many: Vec<(String, String)> = (0..=MAX_HEADERS)
            .map(|i| (format!("x-{i}"), "v".into()))
            .collect();
        assert_eq!(check(&many).unwrap_err().status, 431);
        assert_eq!(
            check(&h(&[("x", &"a".repeat(MAX_HEADER_BYTES))]))
                .unwrap_err()
                .status,
            431
        );
    }

    #[test]
    fn body_plans() {
        let plan = |pairs: &[(&str, &str)]| body_plan(&h(pairs), 16 * 1024);
        assert_eq!(plan(&[]), BodyPlan::Empty);
        assert_eq!(plan(&[("content-length", "0")]), BodyPlan::Empty);
        assert_eq!(plan(&[("content-length", "1024")]), BodyPlan::Preread);
        assert_eq!(
            plan(&[("content-length", "10"), ("expect", "100-continue")]),
            BodyPlan::Stream
        );
        assert_eq!(plan(&[("content-length", "1025")]), BodyPlan::Stream);
        assert_eq!(plan(&[("transfer-encoding", "chunked")]), BodyPlan::Stream);
        assert_eq!(plan(&[("content-length", "16385")]), BodyPlan::TooLarge);
        assert_eq!(
            plan(&[("content-length", "1000000000000")]),
            BodyPlan::TooLarge
        );
        assert_eq!(
            plan(&[("content-length", "18446744073709551615")]),
            BodyPlan::TooLarge
        );
        assert_eq!(
            plan(&[("content-length", "99999999999999999999999")]),
            BodyPlan::TooLarge
        );
    }
}
