//! `tracksd user add|passwd|remove NAME` and `tracksd user list`: the users file
//! (`users_file` in the config; see `users_file` for why a file of its own) from
//! the command line. The running service applies a change on reload, which these
//! commands do with `--reload` or tell the owner to do.

use super::terminal::{self, PasswordError};
use crate::config;
use crate::passwords::{self, DEFAULT_ITERATIONS, PasswordHash};
use crate::users_file::{self, UsersFile};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The config the commands read without `--config`: the packaged one.
pub(crate) const DEFAULT_CONFIG: &str = "/etc/tracksd/tracksd.toml";

/// The unit `--reload` reloads.
const UNIT: &str = "tracksd.service";

/// What the command line asked for.
pub(crate) struct Request<'a> {
    /// The words after `user`: the action and, except for `list`, the name.
    pub words: &'a [String],
    pub config: Option<&'a Path>,
    pub iterations: Option<u32>,
    pub reload: bool,
}

/// Why a command did nothing: a mistake in how it was called or in the files
/// (exit 2, as everywhere in `tracksd`), or a refusal (exit 1).
enum Failure {
    Usage(String),
    Config(String),
    Refused(String),
}

enum Action {
    Add,
    Passwd,
    Remove,
    List,
}

/// Runs `tracksd user …`; the process exit code.
pub(crate) fn main(req: &Request<'_>) -> ExitCode {
    let (line, code) = match run(req) {
        Ok(code) => return code,
        Err(Failure::Usage(m)) => (format!("usage error: {m} (see tracksd --help)"), 2),
        Err(Failure::Config(m)) => (m, 2),
        Err(Failure::Refused(m)) => (m, 1),
    };
    eprintln!("tracksd: {line}");
    ExitCode::from(code)
}

fn run(req: &Request<'_>) -> Result<ExitCode, Failure> {
    let (action, name) = match req.words {
        [a] if a == "list" => (Action::List, ""),
        [a, name] => match a.as_str() {
            "add" => (Action::Add, name.as_str()),
            "passwd" => (Action::Passwd, name.as_str()),
            "remove" => (Action::Remove, name.as_str()),
            _ => return Err(usage()),
        },
        _ => return Err(usage()),
    };
    let config_path = req.config.unwrap_or(Path::new(DEFAULT_CONFIG));
    let config = config::load_file(config_path).map_err(|e| Failure::Config(e.to_string()))?;
    let Some(path) = config.users_file.clone() else {
        return Err(Failure::Config(format!(
            "{}: key `users_file` is not set: add `users_file = \"/etc/tracksd/users\"` \
             (the file these commands keep the users in)",
            config.source
        )));
    };
    if let Action::List = action {
        for u in &config.users {
            println!("{}", u.username);
        }
        for (name, _) in read(&path)?.users() {
            println!("{name}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(reason) = users_file::file_username_problem(name) {
        return Err(Failure::Usage(format!("user name {name:?} {reason}")));
    }
    if config.users.iter().any(|u| u.username == name) {
        return Err(Failure::Refused(format!(
            "user {name:?} is in [[users]] of {}: change it there, or move it to {}",
            config.source,
            path.display()
        )));
    }
    // Checked before the password is asked for, and again under the lock.
    check(&action, &read(&path)?, name, &path)?;
    let hash = match action {
        Action::Add | Action::Passwd => Some(new_hash(name, req.iterations)?),
        _ => None,
    };
    let created = !path.exists();
    {
        let _lock = lock_dir(&path)?;
        let mut doc = read(&path)?;
        check(&action, &doc, name, &path)?;
        let changed = match (&action, hash) {
            (Action::Add, Some(h)) => doc.add(name, h),
            (Action::Passwd, Some(h)) => doc.set_hash(name, h),
            (Action::Remove, _) => doc.remove(name),
            _ => false,
        };
        debug_assert!(changed, "checked under the lock");
        users_file::write_atomic(&path, &doc.render()).map_err(|e| {
            Failure::Refused(format!(
                "cannot write {}: {e}; nothing changed",
                path.display()
            ))
        })?;
    }
    let done = match action {
        Action::Add => "added user {name} to",
        Action::Passwd => "changed the password of user {name} in",
        _ => "removed user {name} from",
    };
    if created && users_file::service_gid().is_none() {
        // Under DynamicUser= the service is neither the owner nor in the group.
        eprintln!(
            "tracksd: note: created {} with mode 0640 and no `tracksd` group exists here: \
             a service that runs as another user cannot read it (create the group, \
             e.g. with systemd-sysusers, and chgrp the file, or chmod 0644 it)",
            path.display()
        );
    }
    let what = format!(
        "{} {}",
        done.replace("{name}", &format!("{name:?}")),
        path.display()
    );
    if !req.reload {
        println!("tracksd: {what}: run `systemctl reload tracksd` to apply");
        return Ok(ExitCode::SUCCESS);
    }
    reload(&what)
}

fn usage() -> Failure {
    Failure::Usage(
        "expected `user add NAME`, `user passwd NAME`, `user remove NAME` or `user list`".into(),
    )
}

/// The users file, empty if it does not exist yet.
fn read(path: &Path) -> Result<UsersFile, Failure> {
    UsersFile::read(path)
        .map(Option::unwrap_or_default)
        .map_err(|e| Failure::Config(e.to_string()))
}

/// Refuses an add of a listed name and a change or removal of a missing one.
fn check(action: &Action, doc: &UsersFile, name: &str, path: &Path) -> Result<(), Failure> {
    match (action, doc.contains(name)) {
        (Action::Add, true) => Err(Failure::Refused(format!(
            "user {name:?} already exists in {}: use `tracksd user passwd {name}` to change its password",
            path.display()
        ))),
        (Action::Passwd | Action::Remove, false) => Err(Failure::Refused(format!(
            "no user {name:?} in {}",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Asks for (or reads) the password and hashes it.
fn new_hash(name: &str, iterations: Option<u32>) -> Result<PasswordHash, Failure> {
    let iterations = super::check_iterations(iterations.unwrap_or(DEFAULT_ITERATIONS))
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let password =
        terminal::read_password(&format!("New password for {name}: ")).map_err(|e| match e {
            PasswordError::Empty => Failure::Usage(format!("{e} on stdin")),
            e => Failure::Refused(format!("{e}; nothing changed")),
        })?;
    let phc = passwords::hash_password(&password, iterations)
        .map_err(|e| Failure::Refused(format!("cannot hash the password: {e}")))?;
    Ok(PasswordHash::parse(&phc).expect("hash_password writes a valid PHC string"))
}

/// An exclusive lock on the users file's directory while it is read, changed and
/// replaced, so two commands at once cannot lose one change. The directory, not
/// the file: the file is replaced by a rename, and a lock file would be left over.
fn lock_dir(path: &Path) -> Result<File, Failure> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let locked = File::open(&dir).and_then(|f| f.lock().map(|()| f));
    locked.map_err(|e| Failure::Refused(format!("cannot lock {}: {e}", dir.display())))
}

/// `--reload`: `systemctl reload tracksd.service`, and what came of it.
fn reload(what: &str) -> Result<ExitCode, Failure> {
    match super::spawn::run(&["systemctl", "reload", UNIT]) {
        Ok(0) => {
            println!("tracksd: {what}; reloaded {UNIT}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(code) => Err(Failure::Refused(format!(
            "{what}, but `systemctl reload {UNIT}` failed (exit code {code}): the service \
             applies the change on its next reload or restart"
        ))),
        Err(e) => Err(Failure::Refused(format!(
            "{what}, but systemctl could not be run ({e}): run `systemctl reload tracksd` to apply"
        ))),
    }
}
