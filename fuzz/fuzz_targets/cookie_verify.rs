//! The session cookie verifier (`Signer::unsign`, `SessionCookies::read`) on
//! arbitrary input.
//!
//! Input: one mode byte, then
//! - mode 0: any text, as a `Cookie` header (each line one header) and as a raw
//!   signed value. Never panics; never accepted under keys the harness never signs
//!   with; under the harness's key, accepted only in the exact form `sign` writes.
//! - mode 1: 8 bytes timestamp, 8 bytes position, 1 byte, then a payload. The
//!   payload signed at that time verifies (also through a rotated key list) and
//!   expires on both sides of the window; with the byte at the position replaced,
//!   the value never verifies.
//! - mode 2: 8 bytes timestamp, 8 bytes age, then session JSON. A genuinely signed
//!   cookie carrying it reads as `Signed` exactly when the JSON is a session and the
//!   age is within `max_age`, else `Invalid`.
#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use tracksd::config::{SameSite, SessionConfig};
use tracksd::http::{Method, Request};
use tracksd::session::{IncomingCookie, Session, SessionCookies};
use tracksd::signer::{self, SignError, Signer};

const MAX_AGE: u64 = 1_209_600;
const NOW_SECS: u64 = 1_700_000_000;
const COOKIE: &str = "my_session_id";

fn secret() -> String {
    "k".repeat(32)
}

static SIGNER: LazyLock<Signer> = LazyLock::new(|| Signer::new(&[secret()]).unwrap());
/// `secret()` demoted to an old key: it still verifies, it no longer signs.
static ROTATED: LazyLock<Signer> =
    LazyLock::new(|| Signer::new(&[secret(), "n".repeat(32)]).unwrap());
static COOKIES: LazyLock<SessionCookies> = LazyLock::new(|| cookies(&secret()));
/// Verify with keys that nothing in this harness ever signs with.
static UNUSED_SIGNER: LazyLock<Signer> =
    LazyLock::new(|| Signer::new(&["u".repeat(32), "v".repeat(32)]).unwrap());
static UNUSED_COOKIES: LazyLock<SessionCookies> = LazyLock::new(|| cookies(&"v".repeat(32)));

fn cookies(secret: &str) -> SessionCookies {
    let config = SessionConfig {
        cookie_name: COOKIE.into(),
        max_age_secs: MAX_AGE,
        same_site: SameSite::Strict,
        secure: false,
        key_file: None,
    };
    SessionCookies::new(&[secret.to_owned()], config).unwrap()
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[at..at + 8]);
    u64::from_le_bytes(b)
}

fn request(now_ms: u64) -> Request {
    let mut req = Request::new(Method::Get, "/users/me");
    req.now_ms = now_ms;
    req
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => arbitrary_text(rest),
        1 => sign_and_mutate(rest),
        _ => genuine_cookie(rest),
    }
});

fn arbitrary_text(rest: &[u8]) {
    let text = String::from_utf8_lossy(rest);
    let mut req = request(NOW_SECS * 1000);
    for line in text.split('\n') {
        req = req.with_header("cookie", line);
    }

    // Keys the harness never signs with: nothing can verify.
    for max_age in [Some(MAX_AGE), None] {
        let got = UNUSED_SIGNER.unsign(&text, NOW_SECS, max_age);
        assert!(got.is_err(), "unsign accepted {text:?}: {got:?}");
    }
    let got = UNUSED_COOKIES.read(&req);
    assert!(
        !matches!(got, IncomingCookie::Signed(_)),
        "forged session from {text:?}: {got:?}"
    );
    if tracksd::session::cookie_value(&req, COOKIE).is_none() {
        assert_eq!(got, IncomingCookie::Absent);
    }

    // The harness's own key: libFuzzer's comparison tracing can carry values that
    // modes 1 and 2 signed into this input, so acceptance is possible here. What
    // is accepted must be exactly what `sign` writes (no second spelling).
    for max_age in [Some(MAX_AGE), None] {
        if let Ok(payload) = SIGNER.unsign(&text, NOW_SECS, max_age) {
            let ts_b64 = text[payload.len() + 1..].split('.').next().unwrap();
            let ts = URL_SAFE_NO_PAD
                .decode(ts_b64)
                .unwrap()
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            assert_eq!(SIGNER.sign(payload, ts), text, "second spelling accepted");
        }
    }
    let _ = COOKIES.read(&req);
}

fn sign_and_mutate(rest: &[u8]) {
    if rest.len() < 17 {
        return;
    }
    let ts = u64_at(rest, 0);
    let pos = u64_at(rest, 8) as usize;
    let byte = rest[16];
    let payload = String::from_utf8_lossy(&rest[17..]);

    let value = SIGNER.sign(&payload, ts);
    assert_eq!(SIGNER.unsign(&value, ts, Some(MAX_AGE)), Ok(&*payload));
    assert_eq!(SIGNER.unsign(&value, ts, None), Ok(&*payload));
    assert_eq!(ROTATED.unsign(&value, ts, Some(0)), Ok(&*payload));
    if let Some(later) = ts.checked_add(MAX_AGE + 1) {
        assert_eq!(
            SIGNER.unsign(&value, later, Some(MAX_AGE)),
            Err(SignError::SignatureExpired)
        );
    }
    if ts > 0 {
        assert_eq!(
            SIGNER.unsign(&value, ts - 1, Some(MAX_AGE)),
            Err(SignError::SignatureExpired)
        );
    }
    // Values signed by the rotated list's newest key are not ours.
    let other = ROTATED.sign(&payload, ts);
    assert!(SIGNER.unsign(&other, ts, None).is_err());

    let mut bytes = value.clone().into_bytes();
    let at = pos % bytes.len();
    bytes[at] = byte;
    let mutated = String::from_utf8_lossy(&bytes);
    if mutated != value {
        let got = SIGNER.unsign(&mutated, ts, None);
        assert!(
            got.is_err(),
            "{value:?} with byte {at} set to {byte:#04x} still verifies: {got:?}"
        );
    }
}

fn genuine_cookie(rest: &[u8]) {
    if rest.len() < 16 {
        return;
    }
    // Keep `now` in milliseconds within u64.
    let ts = u64_at(rest, 0) % 4_000_000_000_000;
    let age = i128::from(u64_at(rest, 8) % (3 * MAX_AGE)) - i128::from(MAX_AGE);
    let json = &rest[16..];
    let now = (i128::from(ts) + age).max(0) as u64;
    let age = i128::from(now) - i128::from(ts);

    let value = SIGNER.sign(&signer::encode_payload(json), ts);
    let req = request(now * 1000 + 999).with_header("cookie", &format!("{COOKIE}={value}"));
    let expected = match serde_json::from_slice::<Session>(json) {
        Ok(s) if (0..=i128::from(MAX_AGE)).contains(&age) => IncomingCookie::Signed(s),
        _ => IncomingCookie::Invalid,
    };
    assert_eq!(COOKIES.read(&req), expected);

    // What set_cookie writes for that session reads back the same.
    if let IncomingCookie::Signed(s) = &expected {
        let set = COOKIES.set_cookie(s, ts);
        let pair = set.split(';').next().unwrap();
        let req = request(now * 1000).with_header("cookie", pair);
        assert_eq!(COOKIES.read(&req), expected);
    }
}
