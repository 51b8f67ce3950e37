//! Session cookie signing compatible with itsdangerous 2.2's
//! `TimestampSigner(secret, digest_method=hashlib.sha256)` as used by
//! Starlette's `SessionMiddleware` (see `session-cookie-spec.md` §2).
//!
//! Wire format: `PAYLOAD "." TS "." SIG`, where PAYLOAD is opaque here
//! (Starlette puts standard, padded base64 of JSON in it), TS is the
//! big-endian timestamp with leading zero bytes stripped and SIG is the
//! HMAC-SHA256 of `PAYLOAD "." TS`, both URL-safe base64 without padding.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// itsdangerous' default salt; Starlette offers no way to change it.
const SALT: &[u8] = b"itsdangerous.Signer";
/// HMAC-SHA256 output size.
const SIG_BYTES: usize = 32;
/// Unpadded base64 length of [`SIG_BYTES`].
const SIG_B64_LEN: usize = 43;
/// Unpadded base64 length of a full `u64`; anything longer cannot decode to
/// at most 8 bytes.
const TS_B64_MAX_LEN: usize = 11;

/// Why [`Signer::unsign`] rejected a value.
///
/// The variants mirror itsdangerous' exception classes so that behaviour can
/// be compared against the Python reference; callers that only need
/// Starlette semantics treat all of them as "no session".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignError {
    /// No `.` at all, or a value without a timestamp field whose signature
    /// does not match (itsdangerous `BadSignature`).
    BadSignature,
    /// The signature does not match, or it matches but the timestamp field
    /// is missing or malformed (itsdangerous `BadTimeSignature`).
    BadTimeSignature,
    /// The signature is valid but the timestamp is older than `max_age` or
    /// lies in the future (itsdangerous `SignatureExpired`).
    SignatureExpired,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignError::BadSignature => "bad signature",
            SignError::BadTimeSignature => "bad time signature",
            SignError::SignatureExpired => "signature expired",
        })
    }
}

impl std::error::Error for SignError {}

/// Signs and verifies timestamped values with one or more secrets.
///
/// Holds HMAC states already keyed with the derived keys, so signing and
/// verifying only clone a state instead of re-deriving anything.
#[derive(Clone)]
pub struct Signer {
    /// Keyed MACs, oldest first; never empty, the last one signs.
    keys: Vec<HmacSha256>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the count: key material must never reach a log.
        f.debug_struct("Signer")
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// itsdangerous' `django-concat` derivation: `SHA256(salt || "signer" || secret)`.
fn derive_key(secret: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(SALT)
        .chain_update(b"signer")
        .chain_update(secret)
        .finalize()
        .into()
}

impl Signer {
    /// Builds a signer from `secrets`, ordered oldest first; the last one
    /// signs and all of them verify. Returns `None` if `secrets` is empty.
    pub fn new<S: AsRef<[u8]>>(secrets: &[S]) -> Option<Signer> {
        if secrets.is_empty() {
            return None;
        }
        let keys = secrets
            .iter()
            .map(|s| {
                HmacSha256::new_from_slice(&derive_key(s.as_ref()))
                    .expect("HMAC accepts keys of any length")
            })
            .collect();
        Some(Signer { keys })
    }

    fn newest(&self) -> &HmacSha256 {
        // `new` guarantees at least one key.
        &self.keys[self.keys.len() - 1]
    }

    /// Signs an already-encoded `payload` at unix time `ts` with the newest
    /// secret and returns the full cookie value.
    ///
    /// Any string round-trips through [`Signer::unsign`], even one that
    /// contains `.`, because verification splits at the last two dots.
    pub fn sign(&self, payload: &str, ts: u64) -> String {
        let ts_bytes = ts.to_be_bytes();
        // ts = 0 strips to nothing, giving an empty TS field, as in Python.
        let ts_bytes = &ts_bytes[(ts.leading_zeros() / 8) as usize..];

        let mut out = String::with_capacity(payload.len() + SIG_B64_LEN + TS_B64_MAX_LEN + 2);
        out.push_str(payload);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(ts_bytes, &mut out);

        let mut mac = self.newest().clone();
        mac.update(out.as_bytes());
        let tag = mac.finalize().into_bytes();

        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut out);
        out
    }

    /// Verifies `value` and returns its PAYLOAD part, still encoded.
    ///
    /// `now` is the current unix time in whole seconds. With `max_age` set,
    /// a value is accepted only if `0 <= now - ts <= max_age`; with `None`
    /// the timestamp is not checked at all. A bad signature is reported in
    /// preference to expiry. Never panics, whatever the input.
    ///
    /// # Errors
    /// See [`SignError`] for which failure maps to which variant.
    pub fn unsign<'a>(
        &self,
        value: &'a str,
        now: u64,
        max_age: Option<u64>,
    ) -> Result<&'a str, SignError> {
        let Some((signed, sig_b64)) = value.rsplit_once('.') else {
            return Err(SignError::BadSignature);
        };
        // itsdangerous' TimestampSigner only re-raises the plain class when
        // there is no timestamp field to blame.
        let mismatch = if signed.contains('.') {
            SignError::BadTimeSignature
        } else {
            SignError::BadSignature
        };

        // Strict decoding rejects the non-canonical spellings Python would
        // accept (spec §5.5); Python never emits them, so interop is kept
        // while the signature stays non-malleable.
        let sig = decode_sig(sig_b64).ok_or(mismatch)?;
        let matched = self.keys.iter().rev().any(|key| {
            let mut mac = key.clone();
            mac.update(signed.as_bytes());
            mac.verify_slice(&sig).is_ok()
        });
        if !matched {
            return Err(mismatch);
        }

        let (payload, ts_b64) = signed.rsplit_once('.').ok_or(SignError::BadTimeSignature)?;
        let ts = decode_ts(ts_b64).ok_or(SignError::BadTimeSignature)?;

        if let Some(max_age) = max_age {
            // Signed arithmetic: a timestamp in the future is a negative age,
            // which itsdangerous also rejects.
            let age = i128::from(now) - i128::from(ts);
            if age < 0 || age > i128::from(max_age) {
                return Err(SignError::SignatureExpired);
            }
        }
        Ok(payload)
    }
}

fn decode_sig(s: &str) -> Option<[u8; SIG_BYTES]> {
    // Length check first so huge garbage is rejected without work.
    if s.len() != SIG_B64_LEN {
        return None;
    }
    // Decoded on the stack: this runs for every request with a cookie (the
    // allocating `decode` zero-fills a heap buffer each time).
    let mut buf = [0u8; SIG_BYTES + 3];
    let n = URL_SAFE_NO_PAD.decode_slice(s, &mut buf).ok()?;
    buf[..n].try_into().ok()
}

fn decode_ts(s: &str) -> Option<u64> {
    if s.len() > TS_B64_MAX_LEN {
        return None;
    }
    let mut buf = [0u8; 12];
    let n = URL_SAFE_NO_PAD.decode_slice(s, &mut buf).ok()?;
    if n > 8 {
        return None;
    }
    // Left-pad to 8 bytes, as itsdangerous does with rjust.
    Some(
        buf[..n]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    )
}

/// Encodes session JSON the way Starlette does: standard base64 with padding.
pub fn encode_payload(json: &[u8]) -> String {
    STANDARD.encode(json)
}

/// Decodes a payload produced by [`encode_payload`] (strict standard base64
/// with canonical padding); `None` if it is not valid.
pub fn decode_payload(p: &str) -> Option<Vec<u8>> {
    STANDARD.decode(p).ok()
}

#[cfg(test)]
mod tests;
