//! `App::reload`: users, keys and the per-request settings swapped in from the
//! same sources as at start, every other change named; a mistake changes nothing.

use super::*;
use crate::http::{Method, Request};
use crate::router::handle;
use crate::router::tests::{NOW_MS, cookie_pair};
use crate::test_dir::TestDir;
use std::path::Path;

const HASH: &str =
    "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0c2FsdA$8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA";
const KEY_A: &str = "key-a-key-a-key-a-key-a-key-a-key-a";
const KEY_B: &str = "key-b-key-b-key-b-key-b-key-b-key-b";

/// A config file text with state in `dir/state`, `users` (all with password
/// "password"), and `extra` before them.
fn config_text(dir: &Path, extra: &str, users: &[&str]) -> String {
    let mut text = format!(
        "listen = \"127.0.0.1:8000\"\nstate_dir = {:?}\n{extra}\n",
        dir.join("state").display().to_string()
    );
    for u in users {
        text.push_str(&format!(
            "[[users]]\nusername = \"{u}\"\npassword_hash = \"{HASH}\"\n"
        ));
    }
    text
}

/// An app opened the way `cli` opens it: from `dir/tracksd.toml` and the key file
/// `dir/state/session.key` holding `KEY_A`.
fn started(dir: &Path, users: &[&str]) -> App {
    std::fs::write(dir.join("tracksd.toml"), config_text(dir, "", users)).unwrap();
    std::fs::create_dir_all(dir.join("state")).unwrap();
    write_key(&dir.join("state/session.key"), &format!("{KEY_A}\n"));
    let sources = Sources {
        config: Some(dir.join("tracksd.toml")),
        ..Sources::default()
    };
    let config = sources.load_config(no_env).unwrap();
    let mut app = App::open(config, &[KEY_A.to_owned()], NOW_MS).unwrap();
    app.sources = Sources {
        key_file: app.sources.key_file.clone(),
        ..sources
    };
    app
}

/// Writes a key file as an admin should: mode 0600 (else reload warns).
fn write_key(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn login(app: &mut App, user: &str) -> Option<String> {
    let mut req = Request::new(Method::Post, "/login")
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body(format!("username={user}&password=password"));
    req.now_ms = NOW_MS;
    let r = handle(app, &req);
    (r.status == 200).then(|| cookie_pair(&r))
}

fn me(app: &mut App, cookie: &str) -> u16 {
    let mut req = Request::new(Method::Get, "/users/me").with_header("cookie", cookie);
    req.now_ms = NOW_MS + 1;
    handle(app, &req).status
}

#[test]
fn reload_swaps_in_the_users_and_keeps_sessions_of_the_remaining_ones() {
    let dir = TestDir::new("reload-users");
    let mut app = started(&dir, &["john", "ann"]);
    let john = login(&mut app, "john").unwrap();
    let ann = login(&mut app, "ann").unwrap();
    assert!(login(&mut app, "bob").is_none());

    std::fs::write(
        dir.join("tracksd.toml"),
        config_text(&dir, "", &["john", "bob"]),
    )
    .unwrap();
    let summary = app.reload(no_env).unwrap();

    assert_eq!(
        summary,
        format!(
            "tracksd: reloaded {}: 2 user(s) (was 2); session keys: 1 from the key file {}",
            dir.join("tracksd.toml").display(),
            dir.join("state/session.key").display()
        )
    );
    assert_eq!(me(&mut app, &john), 200, "a kept user stays logged in");
    assert_eq!(me(&mut app, &ann), 401, "a removed user's session ends");
    assert!(login(&mut app, "bob").is_some(), "an added user can log in");
}

#[test]
fn reload_reads_the_key_file_of_the_start_again() {
    let dir = TestDir::new("reload-keys");
    let mut app = started(&dir, &["john"]);
    let signed_with_a = login(&mut app, "john").unwrap();

    // Rotation as docs/sessions.md describes it: append a key, reload.
    let key_file = dir.join("state/session.key");
    write_key(&key_file, &format!("{KEY_A}\n{KEY_B}\n"));
    let summary = app.reload(no_env).unwrap();
    assert!(
        summary.ends_with(&format!(
            "session keys: 2 from the key file {} (the last one signs)",
            key_file.display()
        )),
        "{summary}"
    );
    assert!(!summary.contains(KEY_A) && !summary.contains(KEY_B));
    let signed_with_b = login(&mut app, "john").unwrap();
    assert_ne!(signed_with_a, signed_with_b);

    // Dropping the old key ends the sessions it signed, and only those.
    write_key(&key_file, &format!("{KEY_B}\n"));
    app.reload(no_env).unwrap();
    assert_eq!(me(&mut app, &signed_with_a), 401);
    assert_eq!(me(&mut app, &signed_with_b), 200);
}

#[test]
fn reload_applies_the_environment_as_at_start_and_names_what_only_a_restart_changes() {
    let dir = TestDir::new("reload-ignored");
    let mut app = started(&dir, &["john"]);
    // TRACKSD_STATE_DIR names the state_dir in use, so only listen and [tracks] differ.
    let state = dir.join("state").display().to_string();
    std::fs::write(
        dir.join("tracksd.toml"),
        config_text(&dir, "[tracks]\ndefault_limit = 5", &["john"])
            .replace("127.0.0.1:8000", "0.0.0.0:9000")
            .replace(&state, "/elsewhere"),
    )
    .unwrap();

    let summary = app
        .reload(|k| (k == "TRACKSD_STATE_DIR").then(|| state.clone()))
        .unwrap();

    assert!(
        summary.ends_with("; changed but ignored until a restart: listen 0.0.0.0:9000, [tracks]"),
        "{summary}"
    );
    assert_eq!(app.config.listen.to_string(), "127.0.0.1:8000");
    assert_eq!(app.config.tracks.default_limit, 1);
    // Without the override the state_dir counts as changed too.
    let summary = app.reload(no_env).unwrap();
    assert!(summary.contains("state_dir /elsewhere"), "{summary}");
}

#[test]
fn a_bad_config_or_key_file_changes_nothing_and_is_named() {
    let dir = TestDir::new("reload-bad");
    let mut app = started(&dir, &["john"]);
    let cookie = login(&mut app, "john").unwrap();
    let config = dir.join("tracksd.toml");
    let key_file = dir.join("state/session.key");

    std::fs::write(
        &config,
        config_text(&dir, "[tracks]\ndefault_limit = 0", &[]),
    )
    .unwrap();
    let err = app.reload(no_env).unwrap_err().to_string();
    assert!(
        err.contains(&config.display().to_string()) && err.contains("tracks.default_limit"),
        "{err}"
    );

    std::fs::write(&config, config_text(&dir, "", &[])).unwrap();
    write_key(&key_file, "short\n");
    let err = app.reload(no_env).unwrap_err().to_string();
    assert!(
        err.contains(&key_file.display().to_string()) && err.contains("at least 32"),
        "{err}"
    );
    assert!(!err.contains("short\n"));

    std::fs::remove_file(&key_file).unwrap();
    let err = app.reload(no_env).unwrap_err().to_string();
    assert!(err.contains("no such file"), "{err}");
    assert!(!key_file.exists(), "a reload never creates a key file");

    // Still the old users and the old key.
    assert_eq!(app.config.users.len(), 1);
    assert_eq!(me(&mut app, &cookie), 200);
}

#[test]
fn a_credential_stays_the_key_source() {
    let dir = TestDir::new("reload-cred");
    let mut app = started(&dir, &["john"]);
    let creds = dir.join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    write_key(&creds.join("session-key"), &format!("{KEY_B}\n"));
    app.sources.credentials = Some(creds.clone());

    let summary = app.reload(no_env).unwrap();

    assert!(
        summary.ends_with(&format!(
            "session keys: 1 from the credential {}",
            creds.join("session-key").display()
        )),
        "{summary}"
    );
}

#[test]
fn a_changed_hostname_is_applied_and_named() {
    let parsed = |hostname: &str| {
        let mut c = crate::config::parse("", "t.toml").unwrap();
        let hosts = std::mem::take(&mut c.server.allowed_hosts);
        c.server.allowed_hosts = hosts.with_hostname(Some(hostname));
        c
    };
    let changes = Changes::between(&parsed("pi"), &parsed("pi2"));
    assert_eq!(changes.applied, ["hostname pi2"]);
    assert!(changes.ignored.is_empty());
    let same = Changes::between(&parsed("pi"), &parsed("PI"));
    assert!(same.applied.is_empty() && same.ignored.is_empty());
}
