//! The query-string / url-encoded form parser (`Params`) and the strict path
//! segment decoder (`percent_decode`) on arbitrary bytes, each checked against a
//! plain model of its format (the URL standard's form parser).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use tracksd::params::{Params, percent_decode};

/// `%XX` decoding that keeps malformed escapes literally.
fn model_unescape(bytes: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// application/x-www-form-urlencoded as the URL standard defines it: split on
/// `&`, skip empty pieces, split at the first `=`, `+` is a space, then unescape
/// and decode UTF-8 lossily.
fn model_pairs(raw: &[u8]) -> Vec<(String, String)> {
    let decode = |b: &[u8]| {
        let plus: Vec<u8> = b
            .iter()
            .map(|&c| if c == b'+' { b' ' } else { c })
            .collect();
        String::from_utf8_lossy(&model_unescape(&plus)).into_owned()
    };
    raw.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(i) => (decode(&p[..i]), decode(&p[i + 1..])),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn encode(s: &str, plus_for_space: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' if plus_for_space => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // Params against the model: the last value of every name, nothing else.
    let params = Params::parse(data);
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for (n, v) in model_pairs(data) {
        last.insert(n, v);
    }
    // `get` is a linear scan: checking every name of a long input would make each
    // run quadratic, so at most 64 names (and the probes below) are checked.
    for (n, v) in last.iter().take(64) {
        assert_eq!(params.get(n), Some(v.as_str()), "name {n:?} in {data:?}");
    }
    for probe in ["skip", "limit", "q", "username", "password", "all", ""] {
        assert_eq!(params.get(probe), last.get(probe).map(String::as_str));
    }

    // Whatever came before, an appended pair wins.
    let text = String::from_utf8_lossy(data);
    let mut raw = data.to_vec();
    raw.push(b'&');
    raw.extend_from_slice(format!("{}={}", encode(&text, true), encode(&text, false)).as_bytes());
    assert_eq!(Params::parse(&raw).get(&text), Some(&*text));

    // percent_decode: strict UTF-8 after the same unescaping, `+` untouched.
    let got = percent_decode(&text);
    let want = String::from_utf8(model_unescape(text.as_bytes())).ok();
    assert_eq!(got.as_deref(), want.as_deref(), "percent_decode({text:?})");
    if !text.contains('%') {
        assert!(matches!(got, Some(std::borrow::Cow::Borrowed(_))));
    }
    assert_eq!(
        percent_decode(&encode(&text, false)).as_deref(),
        Some(&*text)
    );
});
