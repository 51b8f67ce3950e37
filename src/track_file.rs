//! The on-disk track store: `<state_dir>/tracks.json`, a JSON array of tracks.
//!
//! Every change is made durable before it returns `Ok`: the whole catalogue is
//! written through [`state_file::write_atomic`] (temp file, fsync, rename, fsync
//! dir). If that write fails, the in-memory catalogue is put back as it was, so it
//! matches the file on disk, and the caller gets [`StoreError::Unavailable`].
//!
//! The file is never repaired: one that does not parse at start is an
//! [`FileError`], and the file is left exactly as it was for a person to look at.

mod group_commit;
pub use group_commit::PendingWrite;

use crate::errors::FileError;
use crate::state_file;
use crate::tracks::{MemoryStore, StoreError, StoredTrack, Track, TrackStore, Undo};
use serde_json::Value;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

/// The tracks file's name inside the state directory.
pub const TRACKS_FILE: &str = "tracks.json";

/// The keys a stored track may have; anything else is a hand edit gone wrong.
const FIELDS: [&str; 6] = ["id", "title", "artist", "album", "year", "label"];

/// Tracks kept in memory and mirrored, whole, to `tracks.json`.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    /// What is on disk, in memory.
    mem: MemoryStore,
    removed_temps: Vec<PathBuf>,
    /// Set once the edge writes in the background: what is durable, and the
    /// write under way.
    background: Option<group_commit::GroupCommit>,
    /// Test seam: when set, every write fails with this error kind.
    #[cfg(test)]
    fail_writes: Option<io::ErrorKind>,
}

impl FileStore {
    /// Opens the store in `state_dir`, creating the directory if missing and
    /// removing temp files a crash left there. A missing `tracks.json` is created
    /// with [`Track::seed`]; one that does not parse is an error and is not touched.
    pub fn open(state_dir: &Path, max_tracks: usize) -> Result<FileStore, FileError> {
        let dir_error = |what: &str, e: io::Error| FileError {
            path: state_dir.to_path_buf(),
            reason: format!("{what}: {e}"),
        };
        state_file::ensure_dir(state_dir).map_err(|e| dir_error("cannot create directory", e))?;
        let removed_temps = state_file::remove_leftover_temps(state_dir)
            .map_err(|e| dir_error("cannot remove leftover temp files", e))?;
        let path = state_dir.join(TRACKS_FILE);
        let file_error = |reason: String| FileError {
            path: path.clone(),
            reason,
        };
        let bytes = state_file::read_optional(&path)
            .map_err(|e| file_error(format!("cannot read: {e}")))?;
        let store = FileStore {
            mem: MemoryStore::new(Vec::new(), max_tracks),
            path: path.clone(),
            removed_temps,
            background: None,
            #[cfg(test)]
            fail_writes: None,
        };
        match bytes {
            Some(bytes) => {
                let tracks = parse_file(&bytes)
                    .map_err(|why| file_error(format!("does not parse: {why}")))?;
                Ok(FileStore {
                    mem: MemoryStore::new(tracks, max_tracks),
                    ..store
                })
            }
            None => {
                let store = FileStore {
                    mem: MemoryStore::new(Track::seed(), max_tracks),
                    ..store
                };
                store
                    .write(store.mem.all())
                    .map_err(|e| file_error(format!("cannot write: {e}")))?;
                Ok(store)
            }
        }
    }

    /// Bounds the total of the tracks' JSON (see [`MemoryStore::with_max_bytes`]).
    pub fn with_max_bytes(self, max_bytes: usize) -> FileStore {
        FileStore {
            mem: self.mem.with_max_bytes(max_bytes),
            ..self
        }
    }

    /// The file the tracks live in.
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The leftover temp files [`FileStore::open`] removed, for the startup log.
    pub fn removed_temps(&self) -> &[PathBuf] {
        &self.removed_temps
    }

    /// Test seam: makes every later write fail with `kind` (`None` heals it).
    #[cfg(test)]
    pub fn fail_writes_with(&mut self, kind: Option<io::ErrorKind>) {
        self.fail_writes = kind;
    }

    /// Writes `tracks` as the whole file.
    fn write(&self, tracks: &[StoredTrack]) -> io::Result<()> {
        #[cfg(test)]
        if let Some(kind) = self.fail_writes {
            return Err(io::Error::new(kind, "injected write failure"));
        }
        state_file::write_atomic(&self.path, &to_bytes(tracks))
    }

    /// Makes the change just applied in memory durable, or takes it back so
    /// memory matches the file again.
    ///
    /// If the write fails after its rename (only the directory fsync is left), the
    /// new file may be on disk while memory holds the old catalogue; the next
    /// successful write replaces the file with memory's view again.
    fn commit(&mut self, applied: Result<Undo, StoreError>) -> Result<(), StoreError> {
        let undo = applied?;
        if let Some(background) = &mut self.background {
            background.applied();
            return Ok(());
        }
        self.write(self.mem.all()).map_err(|e| {
            self.mem.undo(undo);
            StoreError::Unavailable(format!("{}: {e}", self.path.display()))
        })
    }
}

impl TrackStore for FileStore {
    /// What is durable: in the background, memory may be ahead of it.
    fn all(&self) -> &[StoredTrack] {
        match &self.background {
            Some(background) => background.durable(),
            None => self.mem.all(),
        }
    }

    fn insert(&mut self, track: Track) -> Result<(), StoreError> {
        let applied = self.mem.apply_insert(track);
        self.commit(applied)
    }

    fn replace(&mut self, track: Track) -> Result<(), StoreError> {
        let applied = self.mem.apply_replace(track);
        self.commit(applied)
    }

    fn remove(&mut self, id: i64) -> Result<(), StoreError> {
        let applied = self.mem.apply_remove(id);
        self.commit(applied)
    }

    /// One durable write of the new catalogue: a crash leaves the old file or
    /// the new one, never a mix (see [`state_file::write_atomic`]).
    fn replace_all(&mut self, tracks: Vec<Track>) -> Result<(), StoreError> {
        let applied = self.mem.apply_replace_all(tracks);
        self.commit(applied)
    }

    fn version(&self) -> u64 {
        self.background.as_ref().map_or(0, |b| b.version())
    }

    fn write_in_background(&mut self) {
        self.background
            .get_or_insert_with(|| group_commit::GroupCommit::new(&self.mem));
    }

    fn next_write(&mut self) -> Option<PendingWrite> {
        self.background.as_mut()?.next_write(
            &self.mem,
            &self.path,
            #[cfg(test)]
            self.fail_writes,
        )
    }

    fn written(&mut self, version: u64, result: io::Result<()>) -> Result<(), String> {
        let Some(background) = &mut self.background else {
            return Ok(());
        };
        background.written(version, result.is_ok());
        result.map_err(|e| {
            self.mem = self.mem.with_tracks(background.durable().to_vec());
            format!("{}: {e}", self.path.display())
        })
    }
}

/// The whole catalogue as `GET /tracks/export` sends it: the file's format, so a
/// backup reads and diffs like `tracks.json`, and a restored one exports the same.
pub fn export_bytes(tracks: &[StoredTrack]) -> Vec<u8> {
    to_bytes(tracks)
}

/// The file format: a JSON array with one compact track per line, so a person can
/// read and diff it.
fn to_bytes(tracks: &[StoredTrack]) -> Vec<u8> {
    let mut out = b"[".to_vec();
    for (i, track) in tracks.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n  " } else { b",\n  " });
        out.extend_from_slice(track.json().as_bytes());
    }
    out.extend_from_slice(b"\n]\n");
    out
}

/// Reads the file strictly: a JSON array of objects with only track fields, exact
/// JSON types, the bounds of [`Track::parse`], and unique ids.
fn parse_file(bytes: &[u8]) -> Result<Vec<Track>, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Array(items) = value else {
        return Err("expected a JSON array of tracks".to_owned());
    };
    let mut ids = HashSet::with_capacity(items.len());
    let mut tracks = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let track = parse_stored(item).map_err(|why| format!("track at index {i}: {why}"))?;
        if !ids.insert(track.id) {
            return Err(format!("duplicate track id {}", track.id));
        }
        tracks.push(track);
    }
    Ok(tracks)
}

/// One stored track: serde checks the exact types (no lax `"7"` ids), then the
/// value goes through [`Track::parse`] again so a hand edit cannot bypass its bounds.
fn parse_stored(item: &Value) -> Result<Track, String> {
    let Some(obj) = item.as_object() else {
        return Err("not a JSON object".to_owned());
    };
    if let Some(key) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field {key:?}"));
    }
    let track: Track = serde_json::from_value(item.clone()).map_err(|e| e.to_string())?;
    let again = serde_json::to_value(&track).map_err(|e| e.to_string())?;
    Track::parse(&again).map_err(|errors| {
        errors
            .iter()
            .map(|e| {
                let field = e.loc.last().and_then(Value::as_str).unwrap_or("track");
                format!("{field}: {}", e.msg)
            })
            .collect::<Vec<_>>()
            .join("; ")
    })
}

#[cfg(test)]
mod tests;
