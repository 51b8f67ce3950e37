use super::*;

const HASH: &str = "$pbkdf2-sha256$i=600000,l=32$J6OVYIFWG0st2Tu4l04zew$BRnO8hg8KV/fmvn24ntOf5Xkt2Y7FBktDSiVD13G52E";

fn err(text: &str) -> String {
    parse(text, "t.toml").unwrap_err().to_string()
}

#[test]
fn embedded_default_is_valid() {
    let c = parse(EMBEDDED_DEFAULT, EMBEDDED_NAME).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8000");
    assert_eq!(c.state_dir, PathBuf::from("./var"));
    assert_eq!(c.tracks.default_limit, 1);
    assert_eq!(c.session.cookie_name, "my_session_id");
    assert_eq!(c.session.max_age_secs, 1_209_600);
    assert_eq!(c.users.len(), 1);
    assert_eq!(c.key_file(), PathBuf::from("./var/session.key"));
}

#[test]
fn empty_file_means_defaults() {
    let c = parse("", "t.toml").unwrap();
    assert_eq!(c.tracks.max_tracks, 10_000);
    assert!(c.tracks.public_reads);
    assert_eq!(c.session.same_site, SameSite::Strict);
    assert!(c.users.is_empty());
}

#[test]
fn unknown_keys_are_named() {
    assert_eq!(err("listne = \"x\""), "t.toml: key `listne`: unknown key");
    assert_eq!(
        err("[tracks]\ndefault_limt = 3"),
        "t.toml: key `tracks.default_limt`: unknown key"
    );
    assert_eq!(err("[bogus]\n"), "t.toml: key `bogus`: unknown key");
}

#[test]
fn bad_values_are_named_with_reason() {
    assert_eq!(
        err("[tracks]\ndefault_limit = \"abc\""),
        "t.toml: key `tracks.default_limit`: expected an integer from 1 to 1000, got \"abc\""
    );
    assert_eq!(
        err("listen = \"localhost\""),
        "t.toml: key `listen`: \"localhost\" is not an IP:PORT address (e.g. \"127.0.0.1:8000\")"
    );
    assert!(err("[session]\nsame_site = \"none\"").contains("key `session.same_site`"));
    assert!(
        err("[server]\ntrusted_proxies = [\"x\"]")
            .contains("key `server.trusted_proxies`: entry 1")
    );
    assert!(
        err("[[users]]\nusername = \"a\"\npassword_hash = \"plain\"")
            .contains("key `users[0].password_hash`")
    );
    assert!(
        err("[[users]]\nusername = \"a\"").contains("key `users[0].password_hash`: is required")
    );
}

#[test]
fn duplicate_users_are_refused() {
    let text = format!(
        "[[users]]\nusername = \"a\"\npassword_hash = \"{HASH}\"\n[[users]]\nusername = \"a\"\npassword_hash = \"{HASH}\"\n"
    );
    assert!(err(&text).contains("key `users[1].username`: \"a\" is listed twice"));
}

#[test]
fn syntax_errors_give_one_line_with_line_number() {
    let e = err("listen = \"127.0.0.1:8000\"\n[tracks\n");
    assert!(e.starts_with("t.toml: line 2: "), "{e}");
    assert!(!e.contains('\n'));
}

#[test]
fn environment_overrides() {
    let mut c = parse("", "t.toml").unwrap();
    apply_env(&mut c, |k| match k {
        "TRACKSD_LISTEN" => Some("127.0.0.1:0".into()),
        "TRACKSD_STATE_DIR" => Some("/tmp/x".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.listen.port(), 0);
    assert_eq!(c.state_dir, PathBuf::from("/tmp/x"));
    let e = apply_env(&mut c, |k| (k == "TRACKSD_LISTEN").then(|| "nope".into())).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("TRACKSD_LISTEN"));
}

#[test]
fn bad_allowed_hosts_entry_is_named() {
    assert_eq!(
        err("[server]\nallowed_hosts = [\"pi.local\", \"http://pi.local:8000\"]"),
        "t.toml: key `server.allowed_hosts`: entry 2: \"http://pi.local:8000\" is not a host name \
         (letters, digits, '-' and '.'; no scheme, port or path; a leading '.' allows the subdomains too)"
    );
    assert!(err("[server]\nallowed_hosts = \"pi.local\"").contains("expected a list of strings"));
    let c = parse(
        "[server]\nallowed_hosts = [\"pi.local\", \".example.org\"]",
        "t.toml",
    )
    .unwrap();
    assert!(
        c.server
            .allowed_hosts
            .permit(std::iter::once("tracks.example.org:8000"))
    );
}

#[test]
fn swagger_ui_url_is_a_plain_url_or_path() {
    assert_eq!(parse("", "t.toml").unwrap().docs.swagger_ui_url, None);
    let ok = |url: &str| {
        parse(&format!("[docs]\nswagger_ui_url = {url:?}"), "t.toml")
            .unwrap()
            .docs
            .swagger_ui_url
            .unwrap()
    };
    assert_eq!(
        ok("http://nas.lan:8080/swagger-ui/"),
        "http://nas.lan:8080/swagger-ui"
    );
    assert_eq!(ok("/static/swagger-ui"), "/static/swagger-ui");
    assert_eq!(
        err("[docs]\nswagger_ui_url = \"nas.lan/x\""),
        "t.toml: key `docs.swagger_ui_url`: must start with http://, https:// or / (a path on this host)"
    );
    assert_eq!(
        err("[docs]\nswagger_ui_url = \"http://x/\\\"><script>\""),
        "t.toml: key `docs.swagger_ui_url`: must be a plain URL (no spaces, quotes or angle brackets)"
    );
}
