//! Query strings, url-encoded forms and path segments.

use std::borrow::Cow;

/// Decoded `name=value` pairs of a query string or url-encoded form.
///
/// Invalid UTF-8 in a value decodes lossily to U+FFFD, as Starlette does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses `a=1&b=2` (also a form body), keeping every pair in order.
    pub fn parse(raw: &[u8]) -> Params {
        Params {
            pairs: form_urlencoded::parse(raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// The value of `name`; when repeated, the last one wins (as in Starlette).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes `%XX` escapes in a path segment (`+` stays `+`). `None` if the
/// result is not UTF-8, so the caller can answer 4xx instead of guessing.
pub fn percent_decode(segment: &str) -> Option<Cow<'_, str>> {
    if !segment.contains('%') {
        return Some(Cow::Borrowed(segment));
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_value_wins_and_plus_is_space() {
        let p = Params::parse(b"skip=1&q=Le+Zeppelin&skip=2");
        assert_eq!(p.get("skip"), Some("2"));
        assert_eq!(p.get("q"), Some("Le Zeppelin"));
        assert_eq!(p.get("limit"), None);
    }

    #[test]
    fn invalid_utf8_in_query_is_lossy() {
        assert_eq!(Params::parse(b"q=%FF").get("q"), Some("\u{FFFD}"));
    }

    #[test]
    fn path_segments_decode_strictly() {
        assert_eq!(percent_decode("%31").as_deref(), Some("1"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%zz%4").as_deref(), Some("%zz%4"));
        assert_eq!(percent_decode("%FF"), None);
    }
}
