//! Cryptographically secure random bytes from the kernel.
//!
//! Reads `/dev/urandom` so the crate needs no RNG dependency. On Linux it
//! never blocks once the pool is initialised at boot, which has long
//! happened by the time a service starts.

use std::fs::File;
use std::io::{self, Read};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Fills `buf` entirely with random bytes from `/dev/urandom`.
///
/// # Errors
/// Any I/O error opening or reading the device; `buf` must then be treated
/// as garbage, never as partially random.
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    // read_exact retries on EINTR and short reads, so a full buffer is
    // guaranteed on success.
    File::open("/dev/urandom")?.read_exact(buf)
}

/// Returns `n_bytes` random bytes encoded as URL-safe base64 without padding.
///
/// # Errors
/// As for [`fill`].
pub fn token_b64url(n_bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; n_bytes];
    fill(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_writes_whole_buffer() {
        // 64 zero bytes surviving a fill has probability 2^-512.
        let mut buf = [0u8; 64];
        fill(&mut buf).unwrap();
        assert_ne!(buf, [0u8; 64]);
    }

    #[test]
    fn fill_empty_is_ok() {
        fill(&mut []).unwrap();
    }

    #[test]
    fn successive_fills_differ() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        fill(&mut a).unwrap();
        fill(&mut b).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn token_has_expected_length_and_alphabet() {
        for (n, len) in [(0, 0), (1, 2), (2, 3), (3, 4), (16, 22), (32, 43)] {
            let t = token_b64url(n).unwrap();
            assert_eq!(t.len(), len, "n = {n}");
            assert!(
                t.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            );
            assert_eq!(URL_SAFE_NO_PAD.decode(&t).unwrap().len(), n);
        }
    }
}
