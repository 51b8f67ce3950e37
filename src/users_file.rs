//! The users file: `users_file = "/etc/tracksd/users"` in the config names it, and
//! `tracksd user add|passwd|remove` maintain it.
//!
//! One user per line, htpasswd style: `name:$pbkdf2-sha256$…` (the PHC strings
//! `[[users]]` takes, parsed by `passwords`); `#` comments and blank lines are kept
//! as they are when the file is rewritten.
//!
//! Why a file of its own rather than `[[users]]` edited in place: the config is a
//! dpkg conffile (a tool rewriting it would make every upgrade ask the owner about
//! a modified conffile), and editing TOML without losing its comments needs a
//! full-fidelity TOML editor. This file is ours, one line per user, so rewriting it
//! whole is trivial.
//!
//! A users file that does not exist holds no users (a fresh package install has
//! none, and the service still starts). A bad line is named as `file:line` and why;
//! a name listed twice, in the file or also in `[[users]]`, is an error.

use crate::config::{Config, ConfigError, UserConfig};
use crate::passwords::PasswordHash;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of a users file the commands create (the service's group reads it).
pub(crate) const NEW_FILE_MODE: u32 = 0o640;

/// The group a new users file gets when it exists (the package's system user), so
/// that the service, which runs as that user, can read a mode-0640 file.
const SERVICE_GROUP: &str = "tracksd";

/// Why `name` cannot be a user name, if it cannot: the rule of `[[users]]`.
pub(crate) fn username_problem(name: &str) -> Option<&'static str> {
    (name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control))
        .then_some("must be 1-64 characters, no control characters")
}

/// Why `name` cannot be a user name in the users file, if it cannot: the rule of
/// `[[users]]`, and no `:` (which ends the name), nor a leading `#` (a comment).
pub(crate) fn file_username_problem(name: &str) -> Option<&'static str> {
    username_problem(name).or_else(|| {
        if name.contains(':') {
            Some("must not contain ':' (it ends the name in the users file)")
        } else if name.trim_start().starts_with('#') {
            Some("must not start with '#' (a comment in the users file)")
        } else {
            None
        }
    })
}

/// One line of the file, kept as written unless a command changes it.
#[derive(Debug, Clone)]
enum Line {
    /// A comment or a blank line.
    Other(String),
    User {
        name: String,
        hash: PasswordHash,
    },
}

/// A users file as a document: its users, and its comments where they were.
#[derive(Debug, Clone, Default)]
pub(crate) struct UsersFile {
    lines: Vec<Line>,
}

impl UsersFile {
    /// Parses the file's text; `file` names it in errors (`file:line`).
    pub(crate) fn parse(text: &str, file: &str) -> Result<UsersFile, ConfigError> {
        let mut doc = UsersFile::default();
        for (i, raw) in text.lines().enumerate() {
            let error = |reason: String| ConfigError {
                file: format!("{file}:{}", i + 1),
                key: None,
                reason,
            };
            let line = raw.trim_end();
            if line.trim_start().is_empty() || line.trim_start().starts_with('#') {
                doc.lines.push(Line::Other(raw.to_owned()));
                continue;
            }
            let Some((name, phc)) = line.split_once(':') else {
                return Err(error(
                    "expected name:$pbkdf2-sha256$… (make one with `tracksd user add NAME`)".into(),
                ));
            };
            if let Some(reason) = file_username_problem(name) {
                return Err(error(format!("user name {reason}")));
            }
            let hash = PasswordHash::parse(phc)
                .map_err(|reason| error(format!("user {name:?}: {reason}")))?;
            if let Some(first) = doc.line_of(name) {
                return Err(error(format!(
                    "user {name:?} is listed twice (first on line {first})"
                )));
            }
            doc.lines.push(Line::User {
                name: name.to_owned(),
                hash,
            });
        }
        Ok(doc)
    }

    /// Reads `path`; a file that does not exist is `Ok(None)`.
    pub(crate) fn read(path: &Path) -> Result<Option<UsersFile>, ConfigError> {
        let file = path.display().to_string();
        match fs::read_to_string(path) {
            Ok(text) => UsersFile::parse(&text, &file).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ConfigError {
                file,
                key: None,
                reason: format!("cannot read: {e}"),
            }),
        }
    }

    /// The 1-based line of user `name`, if listed.
    fn line_of(&self, name: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|l| matches!(l, Line::User { name: n, .. } if n == name))
            .map(|i| i + 1)
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.line_of(name).is_some()
    }

    /// The users, in file order.
    pub(crate) fn users(&self) -> impl Iterator<Item = (&str, &PasswordHash)> {
        self.lines.iter().filter_map(|l| match l {
            Line::User { name, hash } => Some((name.as_str(), hash)),
            Line::Other(_) => None,
        })
    }

    /// Adds a user at the end; `false` (nothing changed) if the name is listed.
    pub(crate) fn add(&mut self, name: &str, hash: PasswordHash) -> bool {
        if self.contains(name) {
            return false;
        }
        self.lines.push(Line::User {
            name: name.to_owned(),
            hash,
        });
        true
    }

    /// Replaces a user's hash in place; `false` if the name is not listed.
    pub(crate) fn set_hash(&mut self, name: &str, new: PasswordHash) -> bool {
        match self
            .lines
            .iter_mut()
            .find(|l| matches!(l, Line::User { name: n, .. } if n == name))
        {
            Some(Line::User { hash, .. }) => {
                *hash = new;
                true
            }
            _ => false,
        }
    }

    /// Removes a user's line; `false` if the name is not listed.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        match self.line_of(name) {
            Some(line) => {
                self.lines.remove(line - 1);
                true
            }
            None => false,
        }
    }

    /// The file's text: every line as read, changed users rewritten.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Other(text) => out.push_str(text),
                Line::User { name, hash } => {
                    out.push_str(name);
                    out.push(':');
                    out.push_str(&hash.to_string());
                }
            }
            out.push('\n');
        }
        out
    }
}

/// Adds the users of `config.users_file` (if the config names one) to
/// `config.users`. A missing file adds none; a name also in `[[users]]` is an error.
pub(crate) fn load_into(config: &mut Config) -> Result<(), ConfigError> {
    let Some(path) = config.users_file.clone() else {
        return Ok(());
    };
    let Some(doc) = UsersFile::read(&path)? else {
        return Ok(());
    };
    for (name, hash) in doc.users() {
        if config.users.iter().any(|u| u.username == name) {
            return Err(ConfigError {
                file: format!("{}:{}", path.display(), doc.line_of(name).unwrap_or(0)),
                key: None,
                reason: format!(
                    "user {name:?} is also in [[users]] of {}; keep one of them",
                    config.source
                ),
            });
        }
        config.users.push(UserConfig {
            username: name.to_owned(),
            password_hash: hash.clone(),
        });
    }
    Ok(())
}

/// The line for a server that has no users at all, saying how to add the first
/// one; `None` when there are users.
pub(crate) fn no_users_hint(config: &Config) -> Option<String> {
    if !config.users.is_empty() {
        return None;
    }
    let how = "add one with `tracksd user add NAME --config FILE`, then `systemctl reload tracksd`";
    Some(match &config.users_file {
        Some(path) if !path.exists() => format!(
            "tracksd: no users yet ({} does not exist): {how}",
            path.display()
        ),
        Some(path) => format!(
            "tracksd: no users yet ({} lists none): {how}",
            path.display()
        ),
        None => format!(
            "tracksd: no users: {} has no [[users]] and no users_file; set \
             users_file = \"/etc/tracksd/users\" and {how}",
            config.source
        ),
    })
}

/// Replaces `path` with `text` atomically: a temp file in the same directory with
/// the old file's mode, owner and group (a new file: [`NEW_FILE_MODE`], group
/// [`SERVICE_GROUP`] when it exists), fsync, rename, fsync of the directory. On
/// error the old file is untouched and the temp file removed.
pub(crate) fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let (mode, owner) = match fs::metadata(path) {
        Ok(m) => (m.permissions().mode() & 0o7777, Some((m.uid(), m.gid()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (NEW_FILE_MODE, None),
        Err(e) => return Err(e),
    };
    let temp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    // O_EXCL and O_NOFOLLOW: never write through something planted at the name.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp)?;
    let written = (|| {
        let mine = file.metadata()?;
        match owner {
            Some((uid, gid)) if (uid, gid) != (mine.uid(), mine.gid()) => {
                // Owner and group before the mode: chown may clear mode bits.
                std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot keep owner {uid} and group {gid} (run as root?): {e}"),
                    )
                })?;
            }
            Some(_) => {}
            // Best effort: only root (or a member) may hand the file to that group.
            None => {
                if let Some(gid) = service_gid().filter(|&g| g != mine.gid()) {
                    let _ = std::os::unix::fs::fchown(&file, None, Some(gid));
                }
            }
        }
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// The gid of [`SERVICE_GROUP`] from `/etc/group`, if that group exists.
pub(crate) fn service_gid() -> Option<u32> {
    let groups = fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut fields = l.split(':');
        (fields.next()? == SERVICE_GROUP)
            .then(|| fields.nth(1)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests;
