//! Writing the catalogue off the handler loop, with group commit.
//!
//! On an SD card one fsync takes tens of milliseconds. Done on the loop, every
//! write delayed every read behind it. In the background, a change is applied in
//! memory at once (so the next change is checked against it: a second insert of
//! the same id is a 409), and the edge holds its response until the writer thread
//! reports that a file containing it is durable. Reads see only the catalogue as
//! last made durable, so nobody is shown what a crash could still take back.
//!
//! One write is in flight at a time. Changes made meanwhile wait, and the next
//! write carries all of them: concurrent writes share one fsync. If a write
//! fails, memory goes back to the durable catalogue and every change not yet
//! durable is refused (503), as a synchronous write would have been.

use crate::state_file;
use crate::tracks::{MemoryStore, StoredTrack, TrackStore};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// The durable half of a store that writes in the background.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    /// What reads see: the catalogue as last made durable.
    durable: Arc<Vec<StoredTrack>>,
    /// How many changes memory has had applied, and how many are durable.
    applied: u64,
    durable_version: u64,
    /// The write under way: its version and what it writes.
    in_flight: Option<(u64, Arc<Vec<StoredTrack>>)>,
}

/// One whole-file write for the writer thread.
pub struct PendingWrite {
    version: u64,
    path: PathBuf,
    tracks: Arc<Vec<StoredTrack>>,
    #[cfg(test)]
    fail_with: Option<io::ErrorKind>,
}

impl PendingWrite {
    /// The version a success makes durable.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Writes the file (temp, fsync, rename, fsync dir): the slow part, off the loop.
    pub fn run(&self) -> io::Result<()> {
        #[cfg(test)]
        if let Some(kind) = self.fail_with {
            return Err(io::Error::new(kind, "injected write failure"));
        }
        state_file::write_atomic(&self.path, &super::to_bytes(&self.tracks))
    }
}

impl GroupCommit {
    /// Starts from `mem`, which is on disk as it is.
    pub(crate) fn new(mem: &MemoryStore) -> GroupCommit {
        GroupCommit {
            durable: Arc::new(mem.all().to_vec()),
            applied: 0,
            durable_version: 0,
            in_flight: None,
        }
    }

    pub(crate) fn durable(&self) -> &[StoredTrack] {
        &self.durable
    }

    /// A change was applied to memory; returns its version.
    pub(crate) fn applied(&mut self) -> u64 {
        self.applied += 1;
        self.applied
    }

    pub(crate) fn version(&self) -> u64 {
        self.applied
    }

    /// The next write, if changes wait and none is in flight: `mem` as it is now.
    pub(crate) fn next_write(
        &mut self,
        mem: &MemoryStore,
        path: &std::path::Path,
        #[cfg(test)] fail_with: Option<io::ErrorKind>,
    ) -> Option<PendingWrite> {
        if self.in_flight.is_some() || self.applied == self.durable_version {
            return None;
        }
        let tracks = Arc::new(mem.all().to_vec());
        self.in_flight = Some((self.applied, tracks.clone()));
        Some(PendingWrite {
            version: self.applied,
            path: path.to_path_buf(),
            tracks,
            #[cfg(test)]
            fail_with,
        })
    }

    /// The write of `version` ended. On success what it wrote is what reads see;
    /// on failure memory must go back to [`Self::durable`] (the caller rebuilds
    /// it), and the versions after the durable one are void.
    pub(crate) fn written(&mut self, version: u64, ok: bool) {
        let Some((v, tracks)) = self.in_flight.take() else {
            return;
        };
        debug_assert_eq!(v, version);
        if ok {
            self.durable = tracks;
            self.durable_version = v;
        } else {
            self.applied = self.durable_version;
        }
    }
}
