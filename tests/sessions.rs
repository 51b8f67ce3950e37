//! Black-box tests of login sessions against the real binary.

mod common;
use common::{HttpResponse, Server};
use std::time::{Duration, Instant};

const CLEAR: &str =
    "my_session_id=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=strict";

fn me(server: &Server, cookie: &str) -> HttpResponse {
    server.request("GET", "/users/me", &[("Cookie", cookie)], b"")
}

fn logout(server: &Server, target: &str, cookie: &str) -> HttpResponse {
    server.request("POST", target, &[("Cookie", cookie)], b"")
}

fn login_cookie(server: &Server) -> String {
    let r = server.login("john", "password");
    assert_eq!(r.status, 200, "{}", r.text());
    r.cookie().unwrap()
}

#[test]
fn login_me_logout_flow_with_exact_headers() {
    // Arrange
    let server = Server::start("");
    // Act
    let login = server.login("john", "password");
    let cookie = login.cookie().unwrap();
    let who = me(&server, &cookie);
    let out = logout(&server, "/logout", &cookie);
    // Assert
    assert_eq!(
        (login.status, login.text().as_str()),
        (200, r#"{"success":true}"#)
    );
    let set = login.header("set-cookie").unwrap();
    let value = cookie.strip_prefix("my_session_id=").unwrap();
    assert_eq!(
        set,
        format!("my_session_id={value}; path=/; Max-Age=1209600; httponly; samesite=strict")
    );
    assert_eq!(value.split('.').count(), 3);
    assert_eq!(login.header("vary"), Some("Cookie"));
    assert_eq!(
        (who.status, who.text().as_str()),
        (200, r#"{"username":"john"}"#)
    );
    assert_eq!(who.header("vary"), Some("Cookie"));
    assert_eq!(who.header("set-cookie"), None);
    assert_eq!(
        (out.status, out.text().as_str()),
        (200, r#"{"success":true}"#)
    );
    assert_eq!(out.header("set-cookie"), Some(CLEAR));
}

#[test]
fn unauthenticated_and_bad_input_bodies() {
    let server = Server::start("");
    let none = server.get("/users/me");
    assert_eq!(
        (none.status, none.text().as_str()),
        (401, r#"{"detail":"Not authenticated"}"#)
    );
    assert_eq!(none.header("www-authenticate"), Some("APIKey"));
    assert_eq!(none.header("set-cookie"), None);

    let bad = me(&server, "my_session_id=forged.value.sig");
    assert_eq!(
        (bad.status, bad.text().as_str()),
        (401, r#"{"detail":"Not authenticated"}"#)
    );
    assert_eq!(bad.header("www-authenticate"), Some("APIKey"));
    assert_eq!(bad.header("set-cookie"), Some(CLEAR));

    let wrong = server.login("john", "wrong");
    assert_eq!(
        (wrong.status, wrong.text().as_str()),
        (401, r#"{"detail":"Incorrect username or password"}"#)
    );
    assert_eq!(wrong.header("set-cookie"), None);

    let missing = server.request(
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"username=john",
    );
    assert_eq!(
        (missing.status, missing.text().as_str()),
        (
            422,
            r#"{"detail":[{"type":"missing","loc":["body","password"],"msg":"Field required","input":null}]}"#
        )
    );
}

#[test]
fn replay_after_logout_is_refused_also_after_restart() {
    let server = Server::start("");
    let cookie = login_cookie(&server);
    assert_eq!(logout(&server, "/logout", &cookie).status, 200);
    assert_eq!(me(&server, &cookie).status, 401);
    let dir = server.kill();
    let server = Server::start_in(&dir, "");
    let replay = me(&server, &cookie);
    assert_eq!(
        (replay.status, replay.header("set-cookie")),
        (401, Some(CLEAR))
    );
    assert_eq!(me(&server, &login_cookie(&server)).status, 200);
}

#[test]
fn logout_all_revokes_every_earlier_session() {
    let server = Server::start("");
    let a = login_cookie(&server);
    let b = login_cookie(&server);
    assert_eq!(logout(&server, "/logout?all=true", &a).status, 200);
    assert_eq!(me(&server, &a).status, 401);
    assert_eq!(me(&server, &b).status, 401);
    let c = login_cookie(&server);
    assert_eq!(me(&server, &c).status, 200);
    let dir = server.kill();
    let server = Server::start_in(&dir, "");
    assert_eq!(me(&server, &b).status, 401);
    assert_eq!(me(&server, &c).status, 200);
}

#[test]
fn key_rotation_keeps_old_cookies_and_signs_with_the_new_key() {
    // Arrange: a session signed by the generated key.
    let server = Server::start("");
    let old_cookie = login_cookie(&server);
    let dir = server.kill();
    let key_file = dir.join("state/session.key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(old_key.trim().len(), 43, "32 random bytes, base64url");
    // Act: append a new key and restart.
    let new_key = "a-new-key-that-is-long-enough-0123456789";
    std::fs::write(&key_file, format!("{old_key}{new_key}\n")).unwrap();
    let server = Server::start_in(&dir, "");
    let new_cookie = login_cookie(&server);
    // Assert: both verify; then with only the new key, only the new cookie does.
    assert_eq!(me(&server, &old_cookie).status, 200);
    assert_eq!(me(&server, &new_cookie).status, 200);
    let dir = server.kill();
    std::fs::write(&key_file, format!("{new_key}\n")).unwrap();
    let server = Server::start_in(&dir, "");
    assert_eq!(me(&server, &old_cookie).status, 401);
    assert_eq!(me(&server, &new_cookie).status, 200);
}

#[test]
fn short_key_refuses_to_start() {
    let dir = common::temp_dir("shortkey");
    std::fs::create_dir_all(dir.join("state")).unwrap();
    std::fs::write(dir.join("state/session.key"), "too-short\n").unwrap();
    let config = dir.join("tracksd.toml");
    std::fs::write(&config, common::config_text(&dir, "")).unwrap();
    let out = common::tracksd()
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("session.key") && err.contains("at least 32"),
        "{err}"
    );
    assert!(
        !err.contains("too-short"),
        "the key must not be logged: {err}"
    );
}

#[test]
fn credentials_directory_key_takes_precedence() {
    let dir = common::temp_dir("cred");
    let creds = dir.join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(
        creds.join("session-key"),
        "credential-key-credential-key-0123456789\n",
    )
    .unwrap();
    let config = dir.join("tracksd.toml");
    std::fs::write(&config, common::config_text(&dir, "")).unwrap();
    let server = Server::start_with_config(
        &dir,
        &config,
        &[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())],
    );
    let cookie = login_cookie(&server);
    assert_eq!(me(&server, &cookie).status, 200);
    assert!(!dir.join("state/session.key").exists());
    let line = format!(
        "tracksd: session keys: 1 from the credential {}\n",
        creds.join("session-key").display()
    );
    assert!(server.log().contains(&line), "{}", server.log());
    assert!(!server.log().contains("credential-key-credential"));
}

#[test]
fn the_start_log_says_where_the_session_keys_came_from() {
    let dir = common::temp_dir("keylog");
    let key_file = dir.join("state/session.key");
    let first = Server::start_in(&dir, "");
    let created = format!(
        "tracksd: session keys: 1 newly created in the key file {}\n",
        key_file.display()
    );
    assert!(first.log().contains(&created), "{}", first.log());
    drop(first);
    let old = std::fs::read_to_string(&key_file).unwrap();
    let new = "new-key-new-key-new-key-new-key-0123456789";
    std::fs::write(&key_file, format!("{old}{new}\n")).unwrap();
    let second = Server::start_in(&dir, "");
    let read = format!(
        "tracksd: session keys: 2 from the key file {} (the last one signs)\n",
        key_file.display()
    );
    assert!(second.log().contains(&read), "{}", second.log());
    assert!(!second.log().contains(old.trim()) && !second.log().contains(new));
}

#[test]
fn throttling_refuses_with_retry_after_and_without_hashing() {
    // A deliberately slow hash (about 2M iterations) makes hashing visible in time.
    let slow = "$pbkdf2-sha256$i=2000000,l=32$c2FsdHNhbHRzYWx0c2FsdA$FytfIKHur3VKL8TB8wsh2ZOmnCIB72N2zirA5uKQkkc";
    let dir = common::temp_dir("throttle");
    let config = dir.join("tracksd.toml");
    let text = common::config_text(&dir, "").replace(common::FAST_JOHN_HASH, slow);
    std::fs::write(&config, text).unwrap();
    let server = Server::start_with_config(&dir, &config, &[]);

    let mut hashed = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(server.login("john", "bad").status, 401);
        hashed = hashed.min(t.elapsed());
    }
    let mut refused = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        let r = server.login("john", "password");
        refused = refused.max(t.elapsed());
        assert_eq!(
            (r.status, r.text().as_str()),
            (429, r#"{"detail":"Too many login attempts"}"#)
        );
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=1).contains(&retry), "retry-after {retry}");
    }
    println!("fastest hashed attempt {hashed:?}, slowest refused attempt {refused:?}");
    assert!(
        refused * 4 < hashed,
        "a refused attempt must not hash: {refused:?} vs {hashed:?}"
    );
}

#[test]
fn cross_origin_post_is_refused() {
    let server = Server::start("");
    let r = server.request(
        "POST",
        "/login",
        &[
            ("Origin", "http://evil.example"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"username=john&password=password",
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (403, r#"{"detail":"Cross-origin request refused"}"#)
    );
    let same = format!("http://{}", server.addr);
    let r = server.request(
        "POST",
        "/login",
        &[
            ("Origin", &same),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"username=john&password=password",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn post_tracks_needs_login() {
    let server = Server::start("");
    let body = br#"{"id":7,"title":"Yellow","artist":"Coldplay","year":2000}"#;
    let json = ("Content-Type", "application/json");
    let anon = server.request("POST", "/tracks", &[json], body);
    assert_eq!(
        (anon.status, anon.text().as_str()),
        (401, r#"{"detail":"Not authenticated"}"#)
    );
    let cookie = login_cookie(&server);
    let ok = server.request("POST", "/tracks", &[json, ("Cookie", &cookie)], body);
    assert_eq!(ok.status, 200);
    assert_eq!(server.get("/tracks/7").status, 200);
}

#[test]
fn logs_hold_no_secrets() {
    let server = Server::start("");
    let cookie = login_cookie(&server);
    me(&server, &cookie);
    server.login("john", "hunter2-wrong");
    // The log must hold the lines these requests make, or there is nothing to check.
    let log = server.wait_for_log(
        |log: &str| {
            ["POST /login 200", "GET /users/me 200", "POST /login 401"]
                .iter()
                .all(|line| log.contains(line))
        },
        Duration::from_secs(10),
    );
    let key = std::fs::read_to_string(server.dir.join("state/session.key")).unwrap();
    for secret in [cookie.as_str(), "hunter2", "password", key.trim(), "pbkdf2"] {
        assert!(!log.contains(secret), "log contains {secret:?}:\n{log}");
    }
}

/// `tracksd user ARGS --config CONFIG` (fast hashes), `stdin` piped in; must succeed.
fn user_cmd(config: &std::path::Path, args: &[&str], stdin: &str) {
    let out = common::output_with_stdin(common::user_command(config, args), stdin);
    assert!(out.status.success(), "user {args:?}: {out:?}");
}

/// A server whose users are all in `dir/users` (none in the TOML).
fn start_with_users_file(dir: common::TempDir) -> Server {
    let config = dir.join("tracksd.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\nstate_dir = \"{}\"\nusers_file = \"{}\"\n",
        dir.join("state").display(),
        dir.join("users").display()
    );
    std::fs::write(&config, text).unwrap();
    Server::start_with_config(&dir, &config, &[]).owning(dir)
}

/// SIGHUP, then waits until the log shows reload number `n` done.
fn reload(server: &Server, n: usize) {
    unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) };
    server.wait_for_log(
        move |log: &str| log.matches("tracksd: reloaded").count() >= n,
        Duration::from_secs(10),
    );
}

fn logged_in(server: &Server, user: &str, password: &str) -> String {
    let r = server.login(user, password);
    assert_eq!(r.status, 200, "{user}: {}", r.text());
    r.cookie().unwrap()
}

#[test]
fn a_password_change_or_removal_and_a_reload_end_that_users_sessions_only() {
    // Arrange: alice and bob from the users file, both logged in.
    let dir = common::temp_dir("users-file");
    let config = dir.join("tracksd.toml");
    let server = start_with_users_file(dir);
    user_cmd(&config, &["add", "alice"], "alice-1\n");
    user_cmd(&config, &["add", "bob"], "bob-1\n");
    reload(&server, 1);
    let alice_old = logged_in(&server, "alice", "alice-1");
    let bob = logged_in(&server, "bob", "bob-1");
    assert_eq!(me(&server, &alice_old).text(), r#"{"username":"alice"}"#);

    // Act: alice's password changes.
    user_cmd(&config, &["passwd", "alice"], "alice-2\n");
    reload(&server, 2);

    // Assert: her old cookie is refused and cleared, the new password works,
    // bob's session is untouched.
    let old = me(&server, &alice_old);
    assert_eq!((old.status, old.header("set-cookie")), (401, Some(CLEAR)));
    assert_eq!(server.login("alice", "alice-1").status, 401);
    let alice_new = logged_in(&server, "alice", "alice-2");
    let who = me(&server, &alice_new);
    assert_eq!(
        (who.status, who.text().as_str()),
        (200, r#"{"username":"alice"}"#)
    );
    assert_eq!(me(&server, &bob).status, 200);

    // Act: bob is removed.
    user_cmd(&config, &["remove", "bob"], "");
    reload(&server, 3);
    // Assert
    let gone = me(&server, &bob);
    assert_eq!((gone.status, gone.header("set-cookie")), (401, Some(CLEAR)));
    assert_eq!(me(&server, &alice_new).status, 200);
}

#[test]
fn a_missing_users_file_starts_with_no_users_and_says_how_to_add_one() {
    // Arrange, Act
    let dir = common::temp_dir("users-file");
    let config = dir.join("tracksd.toml");
    let users = dir.join("users");
    let server = start_with_users_file(dir);
    // Assert
    let log = server.wait_for_log("no users yet", Duration::from_secs(10));
    assert!(
        log.contains(&format!("({} does not exist)", users.display()))
            && log
                .contains("`tracksd user add NAME --config FILE`, then `systemctl reload tracksd`"),
        "{log}"
    );
    assert_eq!(server.login("alice", "pw").status, 401);
    // The first user, added while it runs, can log in after a reload.
    user_cmd(&config, &["add", "alice"], "pw\n");
    reload(&server, 1);
    assert_eq!(me(&server, &logged_in(&server, "alice", "pw")).status, 200);
}
