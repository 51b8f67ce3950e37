//! The one way state reaches the disk: whole-file replacement that is durable
//! before it returns.
//!
//! Every state file (tracks, revoked sessions, …) goes through [`write_atomic`], so
//! a crash or power cut leaves either the old file or the new one, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Marks temp files, so leftovers from a crash can be recognised and removed.
const TEMP_MARKER: &str = ".tmp-";

/// Numbers temp files within this process, so a taken name costs one retry.
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);
/// How many taken temp names a write skips before it gives up.
const TEMP_NAME_TRIES: usize = 16;

/// Replaces `path` with `bytes`: write a temp file in the same directory, fsync it,
/// rename it over the old file, fsync the directory. On error the old file is
/// untouched and the temp file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (dir, temp) = write_temp(path, bytes)?;
    let result = fs::rename(&temp, path).and_then(|()| File::open(&dir)?.sync_all());
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Like [`write_atomic`], but never replaces: fails with `AlreadyExists` if
/// `path` exists (for a file whose first version must win a race, the session
/// key). `link(2)` makes the complete file appear under its name in one step.
pub fn create_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (dir, temp) = write_temp(path, bytes)?;
    let linked = fs::hard_link(&temp, path);
    let _ = fs::remove_file(&temp);
    linked?;
    File::open(&dir)?.sync_all()
}

/// Writes `bytes` to a new temp file beside `path` and fsyncs it; returns the
/// directory and the temp file's path. Nothing is left behind on error.
fn write_temp(path: &Path, bytes: &[u8]) -> io::Result<(PathBuf, PathBuf)> {
    let dir = parent_dir(path);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "state path has no file name")
    })?;
    let (temp, mut f) = create_temp(&dir, &name.to_string_lossy())?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok((dir, temp))
}

/// Creates a fresh temp file for `name` in `dir`, mode 0600. `O_EXCL` and
/// `O_NOFOLLOW`: a file or symlink someone planted at the name is never opened
/// (a planted symlink would otherwise make us write through it); the next name
/// is tried instead.
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    use std::os::unix::fs::OpenOptionsExt;
    for _ in 0..TEMP_NAME_TRIES {
        let n = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}{TEMP_MARKER}{}-{n}", std::process::id()));
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp);
        match opened {
            Ok(f) => return Ok((temp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "every temp file name tried is taken",
    ))
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

/// Refuses a state directory that every user may write to: anyone could plant
/// files or symlinks in it. The reason names the mode.
pub fn check_dir_mode(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(dir)
        .map_err(|e| format!("cannot read its mode: {e}"))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o002 != 0 {
        return Err(format!(
            "others can write to it (mode {mode:04o}); make it private: chmod 700"
        ));
    }
    Ok(())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
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

    #[test]
    fn a_planted_symlink_at_a_temp_name_is_skipped_not_followed() {
        let d = dir("symlink");
        let target = d.join("target");
        fs::write(&target, b"precious").unwrap();
        let next = TEMP_SEQ.load(Ordering::Relaxed);
        for n in next..next + 4 {
            let name = format!(".x.json{TEMP_MARKER}{}-{n}", std::process::id());
            std::os::unix::fs::symlink(&target, d.join(name)).unwrap();
        }
        write_atomic(&d.join("x.json"), b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        assert_eq!(fs::read(d.join("x.json")).unwrap(), b"new");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("mode");
        write_atomic(&d.join("x.json"), b"1").unwrap();
        let mode = fs::metadata(d.join("x.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn create_atomic_never_replaces() {
        let d = dir("create");
        let p = d.join("k");
        create_atomic(&p, b"first").unwrap();
        let e = create_atomic(&p, b"second").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&p).unwrap(), b"first");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "no temp file left");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn world_writable_dirs_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("perm");
        assert_eq!(check_dir_mode(&d), Ok(()));
        fs::set_permissions(&d, fs::Permissions::from_mode(0o770)).unwrap();
        assert_eq!(check_dir_mode(&d), Ok(()));
        fs::set_permissions(&d, fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(check_dir_mode(&d).unwrap_err().contains("mode 1777"));
        let _ = fs::remove_dir_all(&d);
    }
}
