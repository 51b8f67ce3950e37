//! Session handler tests through the router: fake requests, no sockets.

use crate::app::App;
use crate::http::{Method, Request, Response};
use crate::router::handle;
use crate::router::tests::{NOW_MS, app_with, cookie_pair, login_cookie};

fn at(mut req: Request, now_ms: u64) -> Request {
    req.now_ms = now_ms;
    req.peer = Some("192.0.2.1".parse().unwrap());
    req
}

fn login(app: &mut App, form: &str, now_ms: u64) -> Response {
    let req = Request::new(Method::Post, "/login")
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body(form);
    handle(app, &at(req, now_ms))
}

fn me(app: &mut App, cookie: &str, now_ms: u64) -> Response {
    handle(
        app,
        &at(
            Request::new(Method::Get, "/users/me").with_header("cookie", cookie),
            now_ms,
        ),
    )
}

fn logout(app: &mut App, target: &str, cookie: &str) -> Response {
    handle(
        app,
        &at(
            Request::new(Method::Post, target).with_header("cookie", cookie),
            NOW_MS + 10,
        ),
    )
}

const CLEAR: &str =
    "my_session_id=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=strict";

#[test]
fn login_sets_the_originals_cookie() {
    let mut app = app_with("");
    let r = login(&mut app, "username=john&password=password", NOW_MS);
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (200, r#"{"success":true}"#)
    );
    let set = r.header("set-cookie").unwrap();
    assert!(set.starts_with("my_session_id="));
    assert!(
        set.ends_with("; path=/; Max-Age=1209600; httponly; samesite=strict"),
        "{set}"
    );
    assert_eq!(r.header("vary"), Some("Cookie"));
}

#[test]
fn secure_flag_is_appended() {
    let mut app = app_with("[session]\nsecure = true");
    let r = login(&mut app, "username=john&password=password", NOW_MS);
    assert!(
        r.header("set-cookie")
            .unwrap()
            .ends_with("; httponly; samesite=strict; secure")
    );
}

#[test]
fn me_with_valid_cookie_and_without() {
    let mut app = app_with("");
    let cookie = login_cookie(&mut app);
    let r = me(&mut app, &cookie, NOW_MS + 1);
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (200, r#"{"username":"john"}"#)
    );
    assert_eq!(r.header("vary"), Some("Cookie"));
    assert_eq!(r.header("set-cookie"), None);

    let r = handle(
        &mut app,
        &at(Request::new(Method::Get, "/users/me"), NOW_MS),
    );
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (401, r#"{"detail":"Not authenticated"}"#)
    );
    assert_eq!(r.header("www-authenticate"), Some("APIKey"));
    assert_eq!(r.header("set-cookie"), None);
}

#[test]
fn invalid_and_expired_cookies_are_401_and_cleared() {
    let mut app = app_with("");
    let cookie = login_cookie(&mut app);
    let fourteen_days_ms = 1_209_600_000;
    for (c, now) in [
        ("my_session_id=garbage", NOW_MS),
        (cookie.as_str(), NOW_MS + fourteen_days_ms + 1000),
        (&format!("{}x", cookie), NOW_MS),
    ] {
        let r = me(&mut app, c, now);
        assert_eq!(
            (r.status, r.body_text().as_str()),
            (401, r#"{"detail":"Not authenticated"}"#)
        );
        assert_eq!(r.header("www-authenticate"), Some("APIKey"));
        assert_eq!(r.header("set-cookie"), Some(CLEAR));
    }
}

#[test]
fn wrong_password_and_unknown_user_are_the_same_401() {
    let mut app = app_with("");
    for form in [
        "username=john&password=nope",
        "username=nobody&password=password",
    ] {
        let r = login(&mut app, form, NOW_MS);
        assert_eq!(
            (r.status, r.body_text().as_str()),
            (401, r#"{"detail":"Incorrect username or password"}"#)
        );
        assert_eq!(r.header("set-cookie"), None);
    }
    // Both were hashed: the unknown user against the dummy hash.
    assert_eq!(app.password_checks, 2);
}

#[test]
fn missing_fields_are_422_username_first() {
    let mut app = app_with("");
    let r = login(&mut app, "username=john", NOW_MS);
    assert_eq!(
        r.body_text(),
        r#"{"detail":[{"type":"missing","loc":["body","password"],"msg":"Field required","input":null}]}"#
    );
    let json = Request::new(Method::Post, "/login")
        .with_header("content-type", "application/json")
        .with_body(r#"{"username":"john","password":"password"}"#);
    let r = handle(&mut app, &at(json, NOW_MS));
    assert_eq!(r.status, 422);
    assert_eq!(
        r.body_text(),
        concat!(
            r#"{"detail":[{"type":"missing","loc":["body","username"],"msg":"Field required","input":null},"#,
            r#"{"type":"missing","loc":["body","password"],"msg":"Field required","input":null}]}"#
        )
    );
    assert_eq!(app.password_checks, 0);
}

#[test]
fn logout_revokes_and_clears() {
    let mut app = app_with("");
    let cookie = login_cookie(&mut app);
    let r = logout(&mut app, "/logout", &cookie);
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (200, r#"{"success":true}"#)
    );
    assert_eq!(r.header("set-cookie"), Some(CLEAR));
    assert_eq!(me(&mut app, &cookie, NOW_MS + 20).status, 401);
    // Logging out again without a valid session succeeds and sets nothing.
    let r = logout(&mut app, "/logout", &cookie);
    assert_eq!((r.status, r.header("set-cookie")), (200, None));
}

#[test]
fn logout_all_revokes_earlier_sessions_only() {
    let mut app = app_with("");
    let first = login_cookie(&mut app);
    let second = cookie_pair(&login(
        &mut app,
        "username=john&password=password",
        NOW_MS + 5,
    ));
    let r = logout(&mut app, "/logout?all=true", &first);
    assert_eq!(r.status, 200);
    assert_eq!(me(&mut app, &second, NOW_MS + 20).status, 401);
    let third = cookie_pair(&login(
        &mut app,
        "username=john&password=password",
        NOW_MS + 11,
    ));
    assert_eq!(me(&mut app, &third, NOW_MS + 20).status, 200);
    assert_eq!(logout(&mut app, "/logout?all=maybe", &third).status, 422);
}

#[test]
fn throttled_attempts_are_429_and_hash_nothing() {
    let mut app = app_with("");
    for _ in 0..5 {
        assert_eq!(
            login(&mut app, "username=john&password=bad", NOW_MS).status,
            401
        );
    }
    assert_eq!(app.password_checks, 5);
    // Locked: even the right password is refused, without hashing or counting.
    for _ in 0..10 {
        let r = login(&mut app, "username=john&password=password", NOW_MS + 10);
        assert_eq!(
            (r.status, r.body_text().as_str()),
            (429, r#"{"detail":"Too many login attempts"}"#)
        );
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    assert_eq!(app.password_checks, 5);
    // After the lock, a success resets the counters.
    assert_eq!(
        login(&mut app, "username=john&password=password", NOW_MS + 1000).status,
        200
    );
    assert_eq!(
        login(&mut app, "username=john&password=bad", NOW_MS + 1001).status,
        401
    );
}

#[test]
fn trusted_proxy_forwarded_address_is_the_client() {
    let mut app = app_with("[server]\ntrusted_proxies = [\"192.0.2.1\"]");
    let attempt = |app: &mut App, xff: &str, user: &str| {
        let req = Request::new(Method::Post, "/login")
            .with_header("content-type", "application/x-www-form-urlencoded")
            .with_header("x-forwarded-for", xff)
            .with_body(format!("username={user}&password=bad"));
        handle(app, &at(req, NOW_MS)).status
    };
    for i in 0..5 {
        attempt(&mut app, "203.0.113.9, 198.51.100.7", &format!("u{i}"));
    }
    assert_eq!(attempt(&mut app, "198.51.100.7", "fresh"), 429);
    assert_eq!(attempt(&mut app, "198.51.100.8", "fresh2"), 401);
}

#[test]
fn cross_origin_writes_are_refused() {
    let mut app = app_with("");
    let req = |origin: &str| {
        at(
            Request::new(Method::Post, "/login")
                .with_header("host", "localhost:8000")
                .with_header("origin", origin)
                .with_header("content-type", "application/x-www-form-urlencoded")
                .with_body("username=john&password=password"),
            NOW_MS,
        )
    };
    let r = handle(&mut app, &req("http://evil.example"));
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (403, r#"{"detail":"Cross-origin request refused"}"#)
    );
    assert_eq!(handle(&mut app, &req("null")).status, 403);
    assert_eq!(handle(&mut app, &req("https://localhost:8000")).status, 403);
    assert_eq!(handle(&mut app, &req("ftp://localhost:8000")).status, 403);
    assert_eq!(
        handle(&mut app, &req("http://localhost:8000/x")).status,
        403
    );
    assert_eq!(handle(&mut app, &req("http://LOCALHOST:8000")).status, 200);
    assert_eq!(app.password_checks, 1);
    let two = req("http://localhost:8000").with_header("origin", "http://evil.example");
    assert_eq!(handle(&mut app, &two).status, 403);
    let same_twice = req("http://localhost:8000").with_header("origin", "http://localhost:8000");
    assert_eq!(handle(&mut app, &same_twice).status, 200);
}

#[test]
fn a_trusted_proxy_names_the_scheme() {
    let mut app =
        app_with("[server]\ntrusted_proxies = [\"10.0.0.1\"]\nallowed_hosts = [\"tracks.lan\"]");
    let req = |peer: [u8; 4], origin: &str| {
        let mut r = at(
            Request::new(Method::Post, "/logout")
                .with_header("host", "tracks.lan")
                .with_header("x-forwarded-proto", "https")
                .with_header("origin", origin),
            NOW_MS,
        );
        r.peer = Some(std::net::IpAddr::from(peer));
        r
    };
    assert_eq!(
        handle(&mut app, &req([10, 0, 0, 1], "https://tracks.lan")).status,
        200
    );
    assert_eq!(
        handle(&mut app, &req([10, 0, 0, 1], "http://tracks.lan")).status,
        403
    );
    // Anyone else's X-Forwarded-Proto is not believed.
    assert_eq!(
        handle(&mut app, &req([10, 0, 0, 2], "https://tracks.lan")).status,
        403
    );
    assert_eq!(
        handle(&mut app, &req([10, 0, 0, 2], "http://tracks.lan")).status,
        200
    );
}

#[test]
fn writes_need_login_and_private_reads_too() {
    let mut app = app_with("[tracks]\npublic_reads = false");
    let body = r#"{"id":9,"title":"T","artist":"A","year":1}"#;
    let post = |cookie: &str| {
        at(
            Request::new(Method::Post, "/tracks")
                .with_header("content-type", "application/json")
                .with_header("cookie", cookie)
                .with_body(body),
            NOW_MS,
        )
    };
    let r = handle(&mut app, &post(""));
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (401, r#"{"detail":"Not authenticated"}"#)
    );
    assert_eq!(
        handle(&mut app, &at(Request::new(Method::Get, "/tracks"), NOW_MS)).status,
        401
    );
    let cookie = login_cookie(&mut app);
    assert_eq!(handle(&mut app, &post(&cookie)).status, 200);
    let get = at(
        Request::new(Method::Get, "/tracks/9").with_header("cookie", &cookie),
        NOW_MS,
    );
    assert_eq!(handle(&mut app, &get).status, 200);
}

/// What `App::reload` does with the users: the fingerprints are made with them.
fn set_users(app: &mut App, users: Vec<crate::config::UserConfig>) {
    app.fingerprints = crate::fingerprint::Fingerprints::new(&["k".repeat(32)], &users);
    app.config.users = users;
}

#[test]
fn a_password_checked_against_a_hash_a_reload_replaced_does_not_log_in() {
    let mut app = app_with("");
    let form = "username=john&password=password";
    let req = at(
        Request::new(Method::Post, "/login")
            .with_header("content-type", "application/x-www-form-urlencoded")
            .with_body(form),
        NOW_MS,
    );
    // The check runs off the loop against the hash of that moment...
    let checked = |app: &mut App| {
        let mut with = req.clone();
        with.password_verdict = Some(crate::auth::password_check(app, &req).unwrap().run());
        with
    };
    let unchanged = checked(&mut app);
    assert_eq!(handle(&mut app, &unchanged).status, 200);
    let stale = checked(&mut app);
    // ...and a reload changes john's password before the verdict comes back.
    let mut users = app.config.users.clone();
    users[0].password_hash = crate::passwords::PasswordHash::parse(
        "$pbkdf2-sha256$i=1000,l=32$dHJhY2tzZC1rYXQtc2FsdA$Rmv5j7hu9L7vYs1ETTZwJDXIpzUR4u789RfmySdZV5k",
    )
    .unwrap();
    set_users(&mut app, users);
    let r = handle(&mut app, &stale);
    assert_eq!(
        (r.status, r.header("set-cookie")),
        (401, None),
        "{}",
        r.body_text()
    );
}

#[test]
fn removed_user_loses_the_session() {
    let mut app = app_with("");
    let cookie = login_cookie(&mut app);
    set_users(&mut app, Vec::new());
    assert_eq!(me(&mut app, &cookie, NOW_MS).status, 401);
}

#[test]
fn a_changed_password_hash_ends_the_session_with_a_clearing_cookie() {
    let mut app = app_with("");
    let cookie = login_cookie(&mut app);
    assert_eq!(me(&mut app, &cookie, NOW_MS).status, 200);
    let before = app.config.users.clone();
    let mut users = before.clone();
    users[0].password_hash = crate::passwords::PasswordHash::parse(
        "$pbkdf2-sha256$i=1000,l=32$dHJhY2tzZC1rYXQtc2FsdA$Rmv5j7hu9L7vYs1ETTZwJDXIpzUR4u789RfmySdZV5k",
    )
    .unwrap();
    set_users(&mut app, users);
    let r = me(&mut app, &cookie, NOW_MS);
    assert_eq!(r.status, 401);
    assert!(r.header("set-cookie").unwrap().contains("=null;"));
    // A reload that changes nothing keeps sessions: the fingerprint is of the hash alone.
    set_users(&mut app, before);
    assert_eq!(me(&mut app, &cookie, NOW_MS).status, 200);
}

mod failed_login_line {
    use crate::auth::failed_login_line;
    use std::net::IpAddr;

    fn line(addr: &str, username: &str) -> String {
        failed_login_line(addr.parse::<IpAddr>().unwrap(), username)
    }

    #[test]
    fn names_the_address_then_the_quoted_username() {
        assert_eq!(
            line("192.0.2.7", "alice"),
            r#"tracksd: failed login from 192.0.2.7 for user "alice""#
        );
        assert_eq!(
            line("2001:db8::1", "bob smith"),
            r#"tracksd: failed login from 2001:db8::1 for user "bob smith""#
        );
    }

    #[test]
    fn an_ipv4_mapped_address_is_written_as_ipv4() {
        assert_eq!(
            line("::ffff:198.51.100.4", "a"),
            r#"tracksd: failed login from 198.51.100.4 for user "a""#
        );
    }

    #[test]
    fn a_username_can_end_neither_the_quotes_nor_the_line() {
        assert_eq!(
            line("192.0.2.7", r#"x" from 10.9.9.9"#),
            r#"tracksd: failed login from 192.0.2.7 for user "x\" from 10.9.9.9""#
        );
        assert_eq!(
            line("192.0.2.7", "a\\\"\nb\r\t\u{7f}é\u{2028}"),
            r#"tracksd: failed login from 192.0.2.7 for user "a\\\"\u{a}b\u{d}\u{9}\u{7f}\u{e9}\u{2028}""#
        );
    }

    #[test]
    fn a_long_username_is_cut_to_64_characters() {
        let l = line("192.0.2.7", &"é".repeat(100));
        assert_eq!(
            l,
            format!(
                "tracksd: failed login from 192.0.2.7 for user \"{}...\"",
                r"\u{e9}".repeat(64)
            )
        );
    }
}
