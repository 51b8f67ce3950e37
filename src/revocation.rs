//! Server-side revocation of signed sessions, persisted in `<state_dir>/revoked.json`.
//!
//! A signed cookie cannot be taken back from the client, so logout records the
//! session id here until the cookie would have expired anyway; "log out
//! everywhere" records a per-user cut-off time instead.

use crate::errors::FileError;
use crate::state_file;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The most revoked session ids kept. Past it, a logout revokes the user's older
/// sessions too (a per-user cut-off), which is safe and keeps the file bounded.
pub const MAX_REVOKED_SIDS: usize = 50_000;

/// The persisted form.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Revoked {
    /// Session id → when its cookie expires anyway (Unix ms).
    sids: HashMap<String, u64>,
    /// Username → sessions issued at or before this time (Unix ms) are revoked.
    not_before: HashMap<String, u64>,
}

/// The revocation list, in memory and on disk.
#[derive(Debug)]
pub struct RevocationList {
    path: PathBuf,
    state: Revoked,
    max_age_ms: u64,
}

impl RevocationList {
    /// Loads `<state_dir>/revoked.json` (absent means empty) and prunes expired
    /// entries. A file that does not parse is an error, never silently reset.
    pub fn open(
        state_dir: &Path,
        max_age_secs: u64,
        now_ms: u64,
    ) -> Result<RevocationList, FileError> {
        let path = state_dir.join("revoked.json");
        let error = |reason: String| FileError {
            path: path.clone(),
            reason,
        };
        let state = match state_file::read_optional(&path) {
            Ok(None) => Revoked::default(),
            Ok(Some(bytes)) => {
                serde_json::from_slice(&bytes).map_err(|e| error(format!("does not parse: {e}")))?
            }
            Err(e) => return Err(error(format!("cannot read: {e}"))),
        };
        let mut list = RevocationList {
            path,
            state,
            max_age_ms: max_age_secs * 1000,
        };
        list.prune(now_ms);
        Ok(list)
    }

    /// Whether a session with this id, user and issue time has been revoked.
    pub fn is_revoked(&self, sid: &str, username: &str, iat_ms: u64) -> bool {
        self.state.sids.contains_key(sid)
            || self
                .state
                .not_before
                .get(username)
                .is_some_and(|&nb| iat_ms <= nb)
    }

    /// Revokes one session and persists the list. On a write error the session
    /// stays revoked in memory (the safe side) and the error is returned.
    pub fn revoke(
        &mut self,
        sid: &str,
        username: &str,
        iat_ms: u64,
        now_ms: u64,
    ) -> std::io::Result<()> {
        self.prune(now_ms);
        if self.state.sids.len() < MAX_REVOKED_SIDS {
            self.state
                .sids
                .insert(sid.to_owned(), iat_ms + self.max_age_ms);
        } else {
            self.cut_off(username, iat_ms);
        }
        self.save()
    }

    /// Revokes every session of `username` issued up to `now_ms`, and persists.
    pub fn revoke_all(&mut self, username: &str, now_ms: u64) -> std::io::Result<()> {
        self.prune(now_ms);
        self.cut_off(username, now_ms);
        self.save()
    }

    /// How many session ids are listed (for tests and logs).
    pub fn len(&self) -> usize {
        self.state.sids.len()
    }

    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.state.sids.is_empty() && self.state.not_before.is_empty()
    }

    fn cut_off(&mut self, username: &str, at_ms: u64) {
        let nb = self
            .state
            .not_before
            .entry(username.to_owned())
            .or_default();
        *nb = (*nb).max(at_ms);
    }

    /// Drops what no longer matters: ids whose cookies have expired, and cut-offs
    /// older than any cookie that could still be valid.
    fn prune(&mut self, now_ms: u64) {
        let max_age = self.max_age_ms;
        self.state.sids.retain(|_, exp| *exp >= now_ms);
        self.state
            .not_before
            .retain(|_, nb| nb.saturating_add(max_age) >= now_ms);
    }

    fn save(&self) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(&self.state).map_err(std::io::Error::other)?;
        state_file::write_atomic(&self.path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> crate::test_dir::TestDir {
        crate::test_dir::TestDir::new(&format!("rev-{tag}"))
    }

    #[test]
    fn revoked_sid_survives_reopen_until_it_expires() {
        let d = dir("reopen");
        let mut r = RevocationList::open(&d, 10, 0).unwrap();
        r.revoke("s1", "john", 1_000, 2_000).unwrap();
        assert!(r.is_revoked("s1", "john", 1_000));
        assert!(!r.is_revoked("s2", "john", 1_000));
        let r = RevocationList::open(&d, 10, 5_000).unwrap();
        assert!(r.is_revoked("s1", "john", 1_000));
        let r = RevocationList::open(&d, 10, 11_001).unwrap();
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn revoke_all_is_a_cut_off_in_milliseconds() {
        let d = dir("all");
        let mut r = RevocationList::open(&d, 10, 0).unwrap();
        r.revoke_all("john", 5_000).unwrap();
        assert!(r.is_revoked("x", "john", 5_000));
        assert!(!r.is_revoked("x", "john", 5_001));
        assert!(!r.is_revoked("x", "mary", 1));
        let r = RevocationList::open(&d, 10, 14_000).unwrap();
        assert!(r.is_revoked("x", "john", 4_000));
        let r = RevocationList::open(&d, 10, 15_001).unwrap();
        assert!(r.is_empty());
    }

    #[test]
    fn corrupt_file_is_an_error_and_left_alone() {
        let d = dir("corrupt");
        std::fs::write(d.join("revoked.json"), b"{oops").unwrap();
        let e = RevocationList::open(&d, 10, 0).unwrap_err();
        assert!(
            e.to_string().contains("revoked.json: does not parse"),
            "{e}"
        );
        assert_eq!(std::fs::read(d.join("revoked.json")).unwrap(), b"{oops");
    }
}
