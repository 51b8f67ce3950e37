//! Password hashing with PBKDF2-HMAC-SHA256 stored as PHC strings:
//! `$pbkdf2-sha256$i=600000,l=32$<salt>$<hash>` (unpadded standard base64).

use std::fmt;
use std::io;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::random;

/// Iteration count for new hashes (OWASP 2023 recommendation for SHA-256).
pub const DEFAULT_ITERATIONS: u32 = 600_000;

/// Fewest iterations [`PasswordHash::parse`] accepts.
pub const MIN_ITERATIONS: u32 = 1_000;

/// Most iterations [`PasswordHash::parse`] accepts, so that a typo in a
/// configured hash cannot make every login take minutes.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// Accepted derived-key lengths in bytes.
const OUTPUT_LEN: std::ops::RangeInclusive<usize> = 16..=64;

/// Accepted salt lengths in bytes.
const SALT_LEN_RANGE: std::ops::RangeInclusive<usize> = 8..=64;

/// Derived-key length for new hashes (SHA-256's output size).
const NEW_OUTPUT_LEN: usize = 32;

/// Salt length for new hashes, as the PHC spec recommends.
const SALT_LEN: usize = 16;

/// The PHC algorithm identifier this module implements.
const ALGORITHM: &str = "pbkdf2-sha256";

/// Hash of a random password that was discarded right after hashing, with
/// the default parameters, so checking against it costs what a real check
/// costs.
const DUMMY_PHC: &str = "$pbkdf2-sha256$i=600000,l=32$u4RJcUgHdAAltcgQjRABng$nG6HcP3vT3cLVSMhq5lT3VkS+ROw1XSogaRX3uFax2Y";

/// A parsed, validated PBKDF2-HMAC-SHA256 PHC hash; `parse` is the only way in.
///
/// Implemented on `hmac` and `sha2` directly (RFC 8018 §5.2, one block per 32
/// bytes of output) rather than with the `pbkdf2` crate, whose PHC support
/// brings SHA-512 and three more crates (about 35 KB of binary).
#[derive(Clone)]
pub struct PasswordHash {
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHash")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl PasswordHash {
    /// Parses `$pbkdf2-sha256$i=<iterations>,l=<bytes>$<salt>$<hash>` (salt and
    /// hash in unpadded standard base64) and checks that `i` and `l` are within
    /// sane bounds ([`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`], 16..=64 bytes), that
    /// the hash is `l` bytes long and the salt 8..=64 bytes.
    ///
    /// # Errors
    /// A short reason, which never quotes the salt or hash.
    pub fn parse(s: &str) -> Result<PasswordHash, String> {
        let not_phc = |why: &str| format!("not a valid PHC string: {why}");
        let mut fields = s.split('$');
        if fields.next() != Some("") {
            return Err(not_phc("it must start with '$'"));
        }
        let algorithm = fields
            .next()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| not_phc("no algorithm"))?;
        if algorithm != ALGORITHM {
            return Err(format!(
                "unsupported algorithm {algorithm:?}, expected {ALGORITHM:?}"
            ));
        }
        let params = fields
            .next()
            .ok_or_else(|| "missing parameters".to_owned())?;
        let salt = fields.next().ok_or_else(|| "missing salt".to_owned())?;
        let hash = fields.next().ok_or_else(|| "missing hash".to_owned())?;
        if fields.next().is_some() {
            return Err(not_phc("too many '$'-separated fields"));
        }
        let (mut iterations, mut length) = (None, None);
        for pair in params.split(',') {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("bad parameters: {pair:?} is not name=value"))?;
            let slot = match name {
                "i" => &mut iterations,
                "l" => &mut length,
                _ => return Err(format!("bad parameters: unknown parameter {name:?}")),
            };
            if slot.is_some() {
                return Err(format!("bad parameters: {name} given twice"));
            }
            let number = (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
                .then(|| value.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| format!("bad parameters: {name}={value:?} is not a number"))?;
            *slot = Some(number);
        }
        let iterations = iterations.ok_or_else(|| "bad parameters: no i".to_owned())?;
        let length = length.ok_or_else(|| "bad parameters: no l".to_owned())?;
        if iterations < u64::from(MIN_ITERATIONS) {
            return Err(format!(
                "bad parameters: i={iterations} is less than the minimum {MIN_ITERATIONS}"
            ));
        }
        if iterations > u64::from(MAX_ITERATIONS) {
            return Err(format!(
                "i={iterations} is more than the maximum {MAX_ITERATIONS}"
            ));
        }
        if !OUTPUT_LEN.contains(&(length as usize)) {
            return Err(format!(
                "l={length} is outside {}..={}",
                OUTPUT_LEN.start(),
                OUTPUT_LEN.end()
            ));
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| "the salt is not unpadded base64".to_owned())?;
        if !SALT_LEN_RANGE.contains(&salt.len()) {
            return Err(format!(
                "the salt is {} bytes, expected {}..={}",
                salt.len(),
                SALT_LEN_RANGE.start(),
                SALT_LEN_RANGE.end()
            ));
        }
        let hash = B64
            .decode(hash)
            .map_err(|_| "the hash is not unpadded base64".to_owned())?;
        if hash.len() as u64 != length {
            return Err(format!("the hash is {} bytes, but l={length}", hash.len()));
        }
        Ok(PasswordHash {
            iterations: iterations as u32,
            salt,
            hash,
        })
    }

    /// The PBKDF2 iteration count, e.g. to warn about hashes weaker than
    /// [`DEFAULT_ITERATIONS`].
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl fmt::Display for PasswordHash {
    /// Writes the PHC string back out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "${ALGORITHM}$i={},l={}${}${}",
            self.iterations,
            self.hash.len(),
            B64.encode(&self.salt),
            B64.encode(&self.hash)
        )
    }
}

fn invalid_input(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, reason)
}

/// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) of `password` into `out`.
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    // Keyed once: each round clones the precomputed inner and outer states.
    let keyed = Hmac::<Sha256>::new_from_slice(password).expect("HMAC takes any key length");
    for (block, chunk) in out.chunks_mut(32).enumerate() {
        let mut mac = keyed.clone();
        mac.update(salt);
        mac.update(&(block as u32 + 1).to_be_bytes());
        let mut u = mac.finalize().into_bytes();
        let mut t = u;
        for _ in 1..iterations {
            let mut mac = keyed.clone();
            mac.update(&u);
            u = mac.finalize().into_bytes();
            for (t, u) in t.iter_mut().zip(u.iter()) {
                *t ^= u;
            }
        }
        chunk.copy_from_slice(&t[..chunk.len()]);
    }
}

fn hash_with_salt(password: &str, salt: &[u8], iterations: u32) -> io::Result<String> {
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(invalid_input(format!(
            "iterations {iterations} is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
        )));
    }
    let mut hash = vec![0u8; NEW_OUTPUT_LEN];
    pbkdf2_sha256(password.as_bytes(), salt, iterations, &mut hash);
    Ok(PasswordHash {
        iterations,
        salt: salt.to_vec(),
        hash,
    }
    .to_string())
}

/// Hashes `password` with a fresh 16-byte random salt and returns the PHC
/// string.
///
/// # Errors
/// `InvalidInput` if `iterations` is outside
/// [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`]; any error reading the RNG.
pub fn hash_password(password: &str, iterations: u32) -> io::Result<String> {
    let mut salt = [0u8; SALT_LEN];
    random::fill(&mut salt)?;
    hash_with_salt(password, &salt, iterations)
}

/// Checks `password` against `hash`; the derived keys are compared in
/// constant time.
pub fn verify(hash: &PasswordHash, password: &str) -> bool {
    let mut derived = vec![0u8; hash.hash.len()];
    pbkdf2_sha256(
        password.as_bytes(),
        &hash.salt,
        hash.iterations,
        &mut derived,
    );
    derived.ct_eq(&hash.hash).into()
}

/// A password to be checked against a hash: the slow part of a login, built on
/// the handler loop and run on a hashing thread.
pub struct PasswordCheck {
    hash: PasswordHash,
    password: String,
    proven_device: bool,
}

impl PasswordCheck {
    pub fn new(hash: PasswordHash, password: &str) -> PasswordCheck {
        PasswordCheck {
            hash,
            password: password.to_owned(),
            proven_device: false,
        }
    }

    /// Marks a check for a login carrying a valid device cookie for its
    /// username: the hashers keep slots for those (`edge::hashers`).
    pub fn for_proven_device(self, proven_device: bool) -> PasswordCheck {
        PasswordCheck {
            proven_device,
            ..self
        }
    }

    pub fn is_for_proven_device(&self) -> bool {
        self.proven_device
    }

    /// Computes the hash (slow) and compares it in constant time.
    pub fn run(self) -> PasswordVerdict {
        PasswordVerdict {
            matched: verify(&self.hash, &self.password),
            checked: self.hash.id(),
        }
    }
}

impl PasswordHash {
    /// Tells this hash from any other: the first 16 bytes of its derived key
    /// (random-looking and salted, so two hashes share them only by chance of 2^-128).
    fn id(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        // `parse` and `hash_with_salt` guarantee at least 16 bytes.
        id.copy_from_slice(&self.hash[..16]);
        id
    }
}

/// The outcome of a [`PasswordCheck`]. Only [`PasswordCheck::run`] makes one, so
/// a request value cannot claim a password was checked when it was not. It
/// remembers which hash it checked: a reload while the check ran may have
/// replaced the user's hash, and a match against the old one must not log in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PasswordVerdict {
    matched: bool,
    checked: [u8; 16],
}

impl fmt::Debug for PasswordVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the derived-key bytes: nothing of a hash reaches a log.
        f.debug_struct("PasswordVerdict")
            .field("matched", &self.matched)
            .finish_non_exhaustive()
    }
}

impl PasswordVerdict {
    /// Whether the password matched the hash it was checked against.
    pub fn matched(self) -> bool {
        self.matched
    }

    /// Whether the password matched `current`, the user's hash now: `false` if it
    /// was checked against another one (changed by a reload meanwhile).
    pub fn matched_hash(self, current: &PasswordHash) -> bool {
        self.matched && self.checked == current.id()
    }
}

/// A fixed hash with [`DEFAULT_ITERATIONS`] that no password is known to
/// match. Verify against it when the username is unknown, so response time
/// does not reveal which usernames exist.
pub fn dummy_hash() -> &'static PasswordHash {
    static DUMMY: OnceLock<PasswordHash> = OnceLock::new();
    DUMMY.get_or_init(|| PasswordHash::parse(DUMMY_PHC).expect("DUMMY_PHC is a valid hash"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From Python: base64 of hashlib.pbkdf2_hmac("sha256", b"password",
    /// b"tracksd-kat-salt", 1000, 32), unpadded.
    const KAT: &str = "$pbkdf2-sha256$i=1000,l=32$dHJhY2tzZC1rYXQtc2FsdA$Rmv5j7hu9L7vYs1ETTZwJDXIpzUR4u789RfmySdZV5k";
    /// As above with `l=64`: `l` is honoured when verifying.
    const KAT_64: &str = "$pbkdf2-sha256$i=1000,l=64$dHJhY2tzZC1rYXQtc2FsdA$Rmv5j7hu9L7vYs1ETTZwJDXIpzUR4u789RfmySdZV5liASLoh0WStULS/BeGe0IrZyPA0MrRHt7JtP69I+fmLw";
    /// Non-ASCII password "pässwörd" (UTF-8) with salt bytes 0..16.
    const KAT_UTF8: &str = "$pbkdf2-sha256$i=1000,l=32$AAECAwQFBgcICQoLDA0ODw$L1aYbGjzdoPwxPhGrTdCzJAIXgv98gXX9F7Efjyq3Og";

    #[test]
    fn known_answer_matches_python() {
        assert_eq!(
            hash_with_salt("password", b"tracksd-kat-salt", 1000).unwrap(),
            KAT
        );
        let salt: Vec<u8> = (0..16).collect();
        assert_eq!(hash_with_salt("pässwörd", &salt, 1000).unwrap(), KAT_UTF8);
        for (phc, pw) in [
            (KAT, "password"),
            (KAT_64, "password"),
            (KAT_UTF8, "pässwörd"),
        ] {
            let h = PasswordHash::parse(phc).unwrap();
            assert!(verify(&h, pw), "{phc}");
            assert!(!verify(&h, "Password"), "{phc}");
            assert_eq!(h.to_string(), phc);
        }
    }

    #[test]
    fn roundtrip_and_wrong_password() {
        let s = hash_password("correct horse", 1000).unwrap();
        assert!(s.starts_with("$pbkdf2-sha256$i=1000,l=32$"), "{s}");
        let h = PasswordHash::parse(&s).unwrap();
        assert_eq!(h.iterations(), 1000);
        assert!(verify(&h, "correct horse"));
        for wrong in ["correct horsE", "correct horse ", "", "correct"] {
            assert!(!verify(&h, wrong), "{wrong:?}");
        }
    }

    #[test]
    fn salts_are_random() {
        let a = hash_password("same", 1000).unwrap();
        let b = hash_password("same", 1000).unwrap();
        assert_ne!(a, b);
        // 16 bytes of salt encode to 22 characters.
        assert_eq!(a.split('$').nth(3).unwrap().len(), 22);
    }

    #[test]
    fn hash_password_rejects_bad_iterations() {
        for i in [0, 999, MAX_ITERATIONS + 1] {
            let e = hash_password("x", i).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{i}");
        }
    }

    #[test]
    fn parse_rejects_garbage_and_bad_params() {
        let salt = "dHJhY2tzZC1rYXQtc2FsdA";
        let hash = "Rmv5j7hu9L7vYs1ETTZwJDXIpzUR4u789RfmySdZV5k";
        let bad = [
            String::new(),
            "password".into(),
            "$".into(),
            "$$$".into(),
            "pbkdf2-sha256$i=1000,l=32$x$y".into(),
            format!("$pbkdf2-sha512$i=1000,l=32${salt}${hash}"),
            format!("$pbkdf2-sha1$i=1000,l=32${salt}${hash}"),
            format!("$argon2id$v=19$m=65536,t=3,p=4${salt}${hash}"),
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".into(),
            format!("$pbkdf2-sha256$v=1$i=1000,l=32${salt}${hash}"),
            format!("$pbkdf2-sha256$i=999,l=32${salt}${hash}"),
            format!("$pbkdf2-sha256$i=0,l=32${salt}${hash}"),
            format!("$pbkdf2-sha256$i=-5,l=32${salt}${hash}"),
            format!("$pbkdf2-sha256$i=abc,l=32${salt}${hash}"),
            format!("$pbkdf2-sha256$i=10000001,l=32${salt}${hash}"),
            format!("$pbkdf2-sha256$i=1000,l=31${salt}${hash}"),
            format!("$pbkdf2-sha256$i=1000,l=12${salt}$Rmv5j7hu9L7vYs1E"),
            format!("$pbkdf2-sha256$i=1000,l=65${salt}${hash}"),
            format!("$pbkdf2-sha256$i=1000,l=32,x=1${salt}${hash}"),
            format!("$pbkdf2-sha256$i=1000,l=32${salt}"),
            "$pbkdf2-sha256$i=1000,l=32".into(),
            format!("$pbkdf2-sha256$i=1000,l=32$!!!!!!!!!!!!${hash}"),
            format!("$pbkdf2-sha256$i=1000,l=32${salt}${hash}$extra"),
            format!("$pbkdf2-sha256$i=1000,l=32${salt}${hash}="),
            format!("$pbkdf2-sha256$i=1000,l=32$c2FsdA${hash}"),
        ];
        for s in &bad {
            let r = PasswordHash::parse(s);
            assert!(r.is_err(), "accepted {s:?}");
            assert!(!r.unwrap_err().contains(hash));
        }
        assert!(PasswordHash::parse(KAT).is_ok());
    }

    #[test]
    fn dummy_hash_is_default_strength() {
        let d = dummy_hash();
        assert_eq!(d.iterations(), DEFAULT_ITERATIONS);
        assert_eq!(d.to_string(), DUMMY_PHC);
        assert!(std::ptr::eq(d, dummy_hash()));
    }
}
