//! The credential fingerprint a session carries (Django's session auth hash): a
//! session is valid only while its user exists with the password hash it logged
//! in with, so changing or removing a user and reloading ends that user's sessions.
//!
//! The fingerprint is the first 16 bytes (base64url, 22 characters) of
//! HMAC-SHA256 over the user's PHC string, keyed by `SHA256("tracksd.session.fingerprint" || secret)`
//! for a session key `secret`. It is a MAC, never the hash: a cookie is readable by
//! its holder (it is only signed), and a hash in it would be an offline-guessing
//! target. The key's prefix differs from the signer's (`itsdangerous.Signer…`) from
//! the first byte, so no fingerprint key is ever a signing key.
//!
//! Which key: every session key of the current set, not only the one that signed
//! the cookie. A new session's fingerprint is made under the newest key (the one
//! that signs it); a cookie is accepted if its fingerprint equals the user's under
//! any current key. That still verifies under whichever key signed the cookie, so
//! rotation (append a key, reload; old keys still verify) leaves sessions alone,
//! and it needs no word from the signer about which key matched. Accepting the
//! other current keys grants nothing: only this server can make a fingerprint, and
//! each one it accepts is of the user's *current* hash. A key that does not rotate
//! would have needed a second secret to keep; a key that is dropped from the file
//! takes its cookies with it anyway, since they no longer verify.
//!
//! Cost: users × keys HMACs when the config or keys are loaded (at start and on
//! each reload, where [`Fingerprints::new`] is called); per request, a map lookup
//! and at most one constant-time comparison per session key, no HMAC.

use crate::config::UserConfig;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// Bytes of the HMAC a session keeps (128 bits, as the session id).
const FINGERPRINT_BYTES: usize = 16;

/// Separates the fingerprint keys from every other use of the session keys.
const KEY_PREFIX: &[u8] = b"tracksd.session.fingerprint";

/// Each user's fingerprint under each session key, computed once per load.
#[derive(Default)]
pub struct Fingerprints {
    /// Username → fingerprints, in the order of the secrets (the last is the newest).
    by_user: HashMap<String, Vec<String>>,
}

impl std::fmt::Debug for Fingerprints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fingerprints")
            .field("users", &self.by_user.len())
            .finish_non_exhaustive()
    }
}

impl Fingerprints {
    /// The fingerprints of `users` under each of `secrets` (oldest first, as the
    /// signer takes them).
    pub fn new<S: AsRef<[u8]>>(secrets: &[S], users: &[UserConfig]) -> Fingerprints {
        let keys: Vec<Hmac<Sha256>> = secrets
            .iter()
            .map(|s| {
                let key: [u8; 32] = Sha256::new()
                    .chain_update(KEY_PREFIX)
                    .chain_update(s.as_ref())
                    .finalize()
                    .into();
                Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length")
            })
            .collect();
        let by_user = users
            .iter()
            .map(|u| {
                let phc = u.password_hash.to_string();
                let fps = keys
                    .iter()
                    .map(|k| {
                        let mut mac = k.clone();
                        mac.update(phc.as_bytes());
                        let tag = mac.finalize().into_bytes();
                        URL_SAFE_NO_PAD.encode(&tag[..FINGERPRINT_BYTES])
                    })
                    .collect();
                (u.username.clone(), fps)
            })
            .collect();
        Fingerprints { by_user }
    }

    /// The fingerprint a new session of `username` carries (under the newest key);
    /// `None` for a user not configured.
    pub fn for_new_session(&self, username: &str) -> Option<&str> {
        self.by_user.get(username)?.last().map(String::as_str)
    }

    /// Whether `fp` is `username`'s fingerprint of the current hash under one of
    /// the current keys; `false` for a user no longer configured.
    pub fn matches(&self, username: &str, fp: &str) -> bool {
        self.by_user.get(username).is_some_and(|fps| {
            fps.iter()
                .any(|mine| bool::from(mine.as_bytes().ct_eq(fp.as_bytes())))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passwords::PasswordHash;

    const A: &str = "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0c2FsdA$8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA";
    const B: &str = "$pbkdf2-sha256$i=1000,l=32$dHJhY2tzZC1rYXQtc2FsdA$Rmv5j7hu9L7vYs1ETTZwJDXIpzUR4u789RfmySdZV5k";

    fn user(name: &str, phc: &str) -> UserConfig {
        UserConfig {
            username: name.into(),
            password_hash: PasswordHash::parse(phc).unwrap(),
        }
    }

    #[test]
    fn a_changed_hash_or_a_removed_user_no_longer_matches() {
        let keys = ["k".repeat(32)];
        let before = Fingerprints::new(&keys, &[user("alice", A), user("bob", A)]);
        let fp = before.for_new_session("alice").unwrap().to_owned();
        assert_eq!(fp.len(), 22);
        assert!(before.matches("alice", &fp));
        let after = Fingerprints::new(&keys, &[user("alice", B), user("bob", A)]);
        assert!(!after.matches("alice", &fp));
        assert!(after.matches("bob", before.for_new_session("bob").unwrap()));
        let removed = Fingerprints::new(&keys, &[user("bob", A)]);
        assert!(!removed.matches("alice", &fp));
        assert_eq!(removed.for_new_session("alice"), None);
        assert!(!before.matches("alice", ""));
    }

    #[test]
    fn rotation_keeps_old_fingerprints_and_dropping_a_key_ends_them() {
        let old = ["o".repeat(32)];
        let rotated = ["o".repeat(32), "n".repeat(32)];
        let users = [user("alice", A)];
        let fp_old = Fingerprints::new(&old, &users)
            .for_new_session("alice")
            .unwrap()
            .to_owned();
        let now = Fingerprints::new(&rotated, &users);
        assert!(now.matches("alice", &fp_old));
        let fp_new = now.for_new_session("alice").unwrap();
        assert_ne!(fp_new, fp_old);
        let dropped = Fingerprints::new(&rotated[1..], &users);
        assert!(dropped.matches("alice", fp_new));
        assert!(!dropped.matches("alice", &fp_old));
    }

    #[test]
    fn the_fingerprint_is_not_the_hash_and_depends_on_the_key() {
        let users = [user("alice", A)];
        let a = Fingerprints::new(&["a".repeat(32)], &users);
        let b = Fingerprints::new(&["b".repeat(32)], &users);
        let fp = a.for_new_session("alice").unwrap();
        assert_ne!(fp, b.for_new_session("alice").unwrap());
        assert!(!A.contains(fp));
    }
}
