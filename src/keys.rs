//! Session signing keys: read from a systemd credential or a key file, and
//! generated into the key file on first start so a fresh install works
//! without manual setup.

use std::fmt;
use std::fs::{self, DirBuilder, File};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::errors::FileError;
use crate::random;

/// Shortest accepted key, in characters; a generated key has 43.
pub const MIN_KEY_CHARS: usize = 32;

/// File name looked up in `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`).
pub const CREDENTIAL_NAME: &str = "session-key";

/// Loaded session keys plus where they came from, for the startup log line
/// (log `source`, `created` and `warnings`; never the keys).
pub struct SessionKeys {
    /// Secrets, oldest first; the last one signs new cookies.
    pub secrets: Vec<String>,
    /// File the keys were read from or written to.
    pub source: PathBuf,
    /// True if the key file did not exist and a new key was generated.
    pub created: bool,
    /// True if `source` is the systemd credential, not the key file.
    pub from_credential: bool,
    /// Problems worth logging that do not stop startup.
    pub warnings: Vec<String>,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hand-written so a stray `{:?}` cannot leak the secrets.
        f.debug_struct("SessionKeys")
            .field(
                "secrets",
                &format_args!("<{} redacted>", self.secrets.len()),
            )
            .field("source", &self.source)
            .field("created", &self.created)
            .field("from_credential", &self.from_credential)
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl SessionKeys {
    /// The startup line saying where the keys came from and how many there are,
    /// so that a journal reader can tell a credential from a forgotten key file:
    /// `tracksd: session keys: 2 from the credential /run/credentials/tracksd.service/session-key (the last one signs)`,
    /// `… 1 from the key file /var/lib/tracksd/session.key`, or
    /// `… 1 newly created in the key file ./var/session.key`. Never a key.
    pub fn origin_line(&self) -> String {
        let n = self.secrets.len();
        let what = match (self.from_credential, self.created) {
            (true, _) => "from the credential",
            (false, true) => "newly created in the key file",
            (false, false) => "from the key file",
        };
        let signs = if n > 1 { " (the last one signs)" } else { "" };
        format!(
            "tracksd: session keys: {n} {what} {}{signs}",
            self.source.display()
        )
    }
}

/// Why the keys could not be loaded or created (the reason never contains key material).
fn key_error(path: &Path, reason: impl Into<String>) -> FileError {
    FileError {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Loads the session keys.
///
/// `<credentials_dir>/session-key`, if it exists, wins over `key_file`.
/// Otherwise `key_file` is read, or created with one fresh random key (mode
/// 0600, parent directories 0700) if it does not exist. The file holds one
/// key per line, oldest first; surrounding whitespace and blank lines are
/// ignored.
///
/// # Errors
/// The file cannot be read or created, is not UTF-8, holds no key, or holds
/// a key shorter than [`MIN_KEY_CHARS`].
pub fn load_or_create(
    key_file: &Path,
    credentials_dir: Option<&Path>,
) -> Result<SessionKeys, FileError> {
    if let Some(keys) = read_existing(key_file, credentials_dir)? {
        return Ok(keys);
    }
    match create_key_file(key_file) {
        Ok(secret) => Ok(SessionKeys {
            secrets: vec![secret],
            source: key_file.to_path_buf(),
            created: true,
            from_credential: false,
            warnings: Vec::new(),
        }),
        // Another process won the race to create it; use its key.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_keys(key_file),
        Err(e) => Err(key_error(key_file, format!("cannot create key file: {e}"))),
    }
}

/// Loads the session keys from the same places as [`load_or_create`], but never
/// creates a key file: on a reload a missing file is a mistake (a new key would
/// log everybody out), not a first start.
///
/// # Errors
/// As [`load_or_create`], and the key file does not exist.
pub fn load_existing(
    key_file: &Path,
    credentials_dir: Option<&Path>,
) -> Result<SessionKeys, FileError> {
    read_existing(key_file, credentials_dir)?
        .ok_or_else(|| key_error(key_file, "no such file (a reload never creates one)"))
}

/// The credential if it exists, else the key file if it exists, else `None`.
fn read_existing(
    key_file: &Path,
    credentials_dir: Option<&Path>,
) -> Result<Option<SessionKeys>, FileError> {
    if let Some(dir) = credentials_dir {
        let cred = dir.join(CREDENTIAL_NAME);
        match fs::metadata(&cred) {
            Ok(_) => {
                return read_keys(&cred).map(|keys| {
                    Some(SessionKeys {
                        from_credential: true,
                        ..keys
                    })
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(key_error(&cred, e.to_string())),
        }
    }
    match fs::metadata(key_file) {
        Ok(_) => read_keys(key_file).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(key_error(key_file, e.to_string())),
    }
}

fn read_keys(path: &Path) -> Result<SessionKeys, FileError> {
    let mut file = File::open(path).map_err(|e| key_error(path, e.to_string()))?;
    // Mode from the open handle, so it describes the file actually read.
    let mode = file
        .metadata()
        .map_err(|e| key_error(path, e.to_string()))?
        .permissions()
        .mode()
        & 0o777;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| key_error(path, e.to_string()))?;

    let text = String::from_utf8(bytes).map_err(|_| key_error(path, "not valid UTF-8"))?;
    let secrets = parse_keys(&text).map_err(|reason| key_error(path, reason))?;

    let mut warnings = Vec::new();
    if mode & 0o077 != 0 {
        warnings.push(format!(
            "key file is accessible by group/other (mode {mode:04o}); chmod 600 it"
        ));
    }
    Ok(SessionKeys {
        secrets,
        source: path.to_path_buf(),
        created: false,
        from_credential: false,
        warnings,
    })
}

/// Parses the key file body; the error never quotes a key.
fn parse_keys(text: &str) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let key = line.trim();
        if key.is_empty() {
            continue;
        }
        let chars = key.chars().count();
        if chars < MIN_KEY_CHARS {
            return Err(format!(
                "line {}: key is {chars} characters, at least {MIN_KEY_CHARS} required",
                index + 1
            ));
        }
        keys.push(key.to_owned());
    }
    if keys.is_empty() {
        return Err("no keys".to_owned());
    }
    Ok(keys)
}

/// Writes a new random key to `path`, failing with `AlreadyExists` if the
/// file appeared meanwhile.
fn create_key_file(path: &Path) -> io::Result<String> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)?;

    let key = random::token_b64url(32)?;
    // create_atomic: never replace a key someone else just wrote, and never
    // show a half-written one (0600 from the start, so never world-readable).
    crate::state_file::create_atomic(path, format!("{key}\n").as_bytes())?;
    Ok(key)
}

#[cfg(test)]
mod tests;
