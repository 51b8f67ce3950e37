//! The one way state reaches the disk: whole-file replacement that is durable
//! before it returns.
//!
//! Every state file (tracks, revoked sessions, …) goes through [`write_atomic`], so
//! a crash or power cut leaves either the old file or the new one, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Marks temp files, so leftovers from a crash can be recognised and removed.
const TEMP_MARKER: &str = ".tmp-";

/// Replaces `path` with `bytes`: write a temp file in the same directory, fsync it,
/// rename it over the old file, fsync the directory. On error the old file is
/// untouched and the temp file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "state path has no file name")
    })?;
    let temp = dir.join(format!(
        ".{}{}{}",
        name.to_string_lossy(),
        TEMP_MARKER,
        std::process::id()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode_0600()
            .open(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&temp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Reads a state file; `Ok(None)` when it does not exist yet.
pub fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes temp files a crash left in `dir`; returns their names for the log.
pub fn remove_leftover_temps(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(TEMP_MARKER) && entry.file_type()?.is_file() {
            fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

/// Creates the state directory (mode 0700) if it is missing.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// State files hold nothing for other users to read.
trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> crate::test_dir::TestDir {
        crate::test_dir::TestDir::new(&format!("sf-{tag}"))
    }

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let d = dir("replace");
        let p = d.join("x.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
    }

    #[test]
    fn missing_file_reads_as_none() {
        assert_eq!(read_optional(&dir("none").join("nope")).unwrap(), None);
    }

    #[test]
    fn leftover_temps_are_removed_and_others_kept() {
        let d = dir("leftover");
        fs::write(d.join(".tracks.json.tmp-123"), b"half").unwrap();
        fs::write(d.join("tracks.json"), b"[]").unwrap();
        let removed = remove_leftover_temps(&d).unwrap();
        assert_eq!(removed.len(), 1);
        assert!(d.join("tracks.json").exists());
    }

    #[test]
    fn failed_write_keeps_old_file() {
        let d = dir("fail");
        let p = d.join("x.json");
        write_atomic(&p, b"old").unwrap();
        // A directory in the way of the rename makes the write fail after the temp file exists.
        let blocked = d.join("sub");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("f"), b"").unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert!(remove_leftover_temps(&d).unwrap().is_empty());
    }
}
