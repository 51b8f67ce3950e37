//! The session cookie: what it carries, how it is written and read.
//!
//! The value is Starlette's format (`base64(JSON)` signed by [`Signer`]), so an
//! itsdangerous `TimestampSigner(..., digest_method=sha256)` verifies it. Whether a
//! well-signed session is still *valid* (user exists, not revoked) is `auth`'s call.

use crate::config::SessionConfig;
use crate::http::Request;
use crate::signer::{self, Signer};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a session cookie carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub username: String,
    /// Random 128-bit session id, base64url: what logout revokes.
    pub sid: String,
    /// Issued at, Unix milliseconds: what "log out everywhere" compares with.
    pub iat: u64,
    /// The user's credential fingerprint when the session was made (see
    /// `fingerprint`): a MAC of the password hash, never the hash. A cookie
    /// without one (made before it existed) is not a session.
    pub fp: String,
}

/// What the device cookie carries: proof that this client logged in as
/// `device_of` before (OWASP's "device cookie" against lockout of the owner).
/// Its fields differ from [`Session`]'s, so neither can pass for the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    pub device_of: String,
    /// Random 128-bit id: what the device's own failure counter is keyed by.
    pub device_id: String,
}

/// How long a device stays proven after its last successful login (180 days).
pub const DEVICE_MAX_AGE_SECS: u64 = 180 * 24 * 3600;

/// The session cookie as it arrived with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncomingCookie {
    /// No cookie of our name.
    Absent,
    /// A cookie of our name that is malformed, badly signed, expired, or sent
    /// twice with different values.
    Invalid,
    /// A well-signed, unexpired session.
    Signed(Session),
}

/// Writes and reads session cookies with the configured keys and attributes.
pub struct SessionCookies {
    signer: Signer,
    config: SessionConfig,
    /// The attributes after `path=/`, computed once: they never change.
    flags: String,
    /// `<cookie_name>_device`, so instances told apart by cookie name keep
    /// their device cookies apart too.
    device_cookie_name: String,
}

impl SessionCookies {
    /// `secrets` oldest first; the last one signs. `None` if there is no secret.
    pub fn new(secrets: &[String], config: SessionConfig) -> Option<SessionCookies> {
        let signer = Signer::new(secrets)?;
        let mut flags = format!("httponly; samesite={}", config.same_site.as_str());
        if config.secure {
            flags.push_str("; secure");
        }
        Some(SessionCookies {
            signer,
            device_cookie_name: format!("{}_device", config.cookie_name),
            config,
            flags,
        })
    }

    /// The `Set-Cookie` value that stores `session`, signed at `now_secs`.
    pub fn set_cookie(&self, session: &Session, now_secs: u64) -> String {
        let json = serde_json::to_vec(session).unwrap_or_default();
        let value = self.signer.sign(&signer::encode_payload(&json), now_secs);
        format!(
            "{}={}; path=/; Max-Age={}; {}",
            self.config.cookie_name, value, self.config.max_age_secs, self.flags
        )
    }

    /// The `Set-Cookie` value that makes the browser forget the session (Starlette's).
    pub fn clear_cookie(&self) -> String {
        format!(
            "{}=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; {}",
            self.config.cookie_name, self.flags
        )
    }

    /// The `Set-Cookie` value that stores `device`, signed at `now_secs`. It is
    /// sent to `/login` only: nothing else needs it.
    pub fn set_device_cookie(&self, device: &Device, now_secs: u64) -> String {
        let json = serde_json::to_vec(device).unwrap_or_default();
        let value = self.signer.sign(&signer::encode_payload(&json), now_secs);
        format!(
            "{}={}; path=/login; Max-Age={}; {}",
            self.device_cookie_name, value, DEVICE_MAX_AGE_SECS, self.flags
        )
    }

    /// The device cookie of a request, if there is exactly one and it is
    /// well-signed and unexpired.
    pub fn read_device(&self, req: &Request) -> Option<Device> {
        let value = cookie_value(req, &self.device_cookie_name)?.ok()?;
        let json = self
            .signer
            .unsign(value, req.now_ms / 1000, Some(DEVICE_MAX_AGE_SECS))
            .ok()
            .and_then(signer::decode_payload)?;
        serde_json::from_slice(&json).ok()
    }

    /// Reads and verifies the session cookie of a request.
    pub fn read(&self, req: &Request) -> IncomingCookie {
        let value = match cookie_value(req, &self.config.cookie_name) {
            None => return IncomingCookie::Absent,
            Some(Err(Ambiguous)) => return IncomingCookie::Invalid,
            Some(Ok(value)) => value,
        };
        let now_secs = req.now_ms / 1000;
        let session = self
            .signer
            .unsign(value, now_secs, Some(self.config.max_age_secs))
            .ok()
            .and_then(signer::decode_payload)
            .and_then(|json| serde_json::from_slice::<Session>(&json).ok());
        match session {
            Some(s) => IncomingCookie::Signed(s),
            None => IncomingCookie::Invalid,
        }
    }
}

/// A cookie name sent with two different values. A sibling subdomain can set a
/// cookie for the parent domain and so put a session of its choosing before or
/// after ours; which one the client meant cannot be told, so neither is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ambiguous;

/// The value of cookie `name` across all `Cookie` headers, parsed as Starlette
/// does: split on `;`, then on the first `=`, trim, drop surrounding quotes.
/// Unlike Starlette (last one wins), a name sent twice with different values is
/// [`Ambiguous`]; the same value twice is that value.
pub fn cookie_value<'a>(req: &'a Request, name: &str) -> Option<Result<&'a str, Ambiguous>> {
    let mut values = req
        .header_values("cookie")
        .flat_map(|h| h.split(';'))
        .filter_map(|part| part.split_once('='))
        .filter(|(k, _)| k.trim() == name)
        .map(|(_, v)| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        });
    let first = values.next()?;
    Some(if values.all(|v| v == first) {
        Ok(first)
    } else {
        Err(Ambiguous)
    })
}

/// Makes unpredictable session ids without a syscall per login: HMAC-SHA256 of a
/// counter under a key drawn from the OS at start (a PRF in counter mode).
pub struct SidGenerator {
    key: Hmac<Sha256>,
    counter: u64,
}

impl SidGenerator {
    /// A generator keyed with 32 bytes that must come from a CSPRNG.
    pub fn new(seed: [u8; 32]) -> SidGenerator {
        SidGenerator {
            key: <Hmac<Sha256> as KeyInit>::new_from_slice(&seed)
                .expect("HMAC takes any key length"),
            counter: 0,
        }
    }

    /// The next 128-bit id, base64url without padding (22 characters).
    pub fn next_sid(&mut self) -> String {
        use base64::Engine;
        self.counter += 1;
        let mut mac = self.key.clone();
        mac.update(&self.counter.to_be_bytes());
        let out = mac.finalize().into_bytes();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&out[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SameSite;
    use crate::http::Method;

    fn config() -> SessionConfig {
        SessionConfig {
            cookie_name: "my_session_id".into(),
            max_age_secs: 1_209_600,
            same_site: SameSite::Strict,
            secure: false,
            key_file: None,
        }
    }

    fn cookies() -> SessionCookies {
        SessionCookies::new(&["k".repeat(32)], config()).unwrap()
    }

    fn with_cookie(header: &str, now_ms: u64) -> Request {
        let mut r = Request::new(Method::Get, "/users/me").with_header("cookie", header);
        r.now_ms = now_ms;
        r
    }

    fn session() -> Session {
        Session {
            username: "john".into(),
            sid: "abc".into(),
            iat: 1_700_000_000_123,
            fp: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        }
    }

    #[test]
    fn set_cookie_has_the_originals_attributes_in_order() {
        let c = cookies().set_cookie(&session(), 1_700_000_000);
        let (pair, attrs) = c.split_once("; ").unwrap();
        assert!(pair.starts_with("my_session_id="));
        assert_eq!(attrs, "path=/; Max-Age=1209600; httponly; samesite=strict");
        assert_eq!(
            cookies().clear_cookie(),
            "my_session_id=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=strict"
        );
        let mut secure = config();
        secure.secure = true;
        secure.same_site = SameSite::Lax;
        let c = SessionCookies::new(&["k".repeat(32)], secure).unwrap();
        assert!(
            c.clear_cookie()
                .ends_with("; httponly; samesite=lax; secure")
        );
    }

    #[test]
    fn round_trip_and_expiry() {
        let c = cookies();
        let set = c.set_cookie(&session(), 1_700_000_000);
        let pair = set.split(';').next().unwrap();
        assert_eq!(
            c.read(&with_cookie(pair, 1_700_000_000_000)),
            IncomingCookie::Signed(session())
        );
        assert_eq!(
            c.read(&with_cookie(pair, (1_700_000_000 + 1_209_601) * 1000)),
            IncomingCookie::Invalid
        );
        assert_eq!(c.read(&with_cookie("other=1", 0)), IncomingCookie::Absent);
        assert_eq!(
            c.read(&with_cookie("my_session_id=null", 0)),
            IncomingCookie::Invalid
        );
    }

    #[test]
    fn cookie_parsing_follows_starlette_but_refuses_ambiguity() {
        let r = with_cookie(" a=1 ; my_session_id = \"x\" ", 0);
        assert_eq!(cookie_value(&r, "my_session_id"), Some(Ok("x")));
        let r = r.with_header("cookie", "my_session_id=y");
        assert_eq!(cookie_value(&r, "my_session_id"), Some(Err(Ambiguous)));
        let r = with_cookie("my_session_id=x; my_session_id=\"x\"", 0);
        assert_eq!(cookie_value(&r, "my_session_id"), Some(Ok("x")));
        assert_eq!(cookie_value(&r, "other"), None);
    }

    #[test]
    fn two_different_sessions_read_as_invalid() {
        let c = cookies();
        let set = c.set_cookie(&session(), 1_700_000_000);
        let pair = set.split(';').next().unwrap();
        let mut other = session();
        other.username = "mallory".into();
        let other_set = c.set_cookie(&other, 1_700_000_000);
        let other_pair = other_set.split(';').next().unwrap();
        for header in [
            format!("{pair}; {other_pair}"),
            format!("{other_pair}; {pair}"),
        ] {
            assert_eq!(
                c.read(&with_cookie(&header, 1_700_000_000_000)),
                IncomingCookie::Invalid
            );
        }
        assert_eq!(
            c.read(&with_cookie(&format!("{pair}; {pair}"), 1_700_000_000_000)),
            IncomingCookie::Signed(session())
        );
    }

    #[test]
    fn signed_non_session_payload_is_invalid() {
        let signer = Signer::new(&["k".repeat(32)]).unwrap();
        let value = signer.sign(
            &signer::encode_payload(br#"{"some":"data"}"#),
            1_700_000_000,
        );
        let r = with_cookie(&format!("my_session_id={value}"), 1_700_000_000_000);
        assert_eq!(cookies().read(&r), IncomingCookie::Invalid);
    }

    #[test]
    fn device_cookies_round_trip_and_never_pass_for_sessions() {
        let c = cookies();
        let device = Device {
            device_of: "john".into(),
            device_id: "d1".into(),
        };
        let set = c.set_device_cookie(&device, 1_700_000_000);
        let (pair, attrs) = set.split_once("; ").unwrap();
        assert!(pair.starts_with("my_session_id_device="), "{pair}");
        assert_eq!(
            attrs,
            "path=/login; Max-Age=15552000; httponly; samesite=strict"
        );
        let now_ms = 1_700_000_000_000;
        assert_eq!(c.read_device(&with_cookie(pair, now_ms)), Some(device));
        let expired = (1_700_000_000 + DEVICE_MAX_AGE_SECS + 1) * 1000;
        assert_eq!(c.read_device(&with_cookie(pair, expired)), None);
        // A device cookie under the session's name is no session, and back.
        let value = pair.split_once('=').unwrap().1;
        let as_session = with_cookie(&format!("my_session_id={value}"), now_ms);
        assert_eq!(c.read(&as_session), IncomingCookie::Invalid);
        let session_set = c.set_cookie(&session(), 1_700_000_000);
        let session_value = session_set
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1;
        let as_device = with_cookie(&format!("my_session_id_device={session_value}"), now_ms);
        assert_eq!(c.read_device(&as_device), None);
    }

    #[test]
    fn sids_are_distinct_128_bit_tokens() {
        let mut g = SidGenerator::new([7; 32]);
        let a = g.next_sid();
        let b = g.next_sid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
    }
}
