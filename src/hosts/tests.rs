use super::*;

fn allowed(entries: &[&str]) -> AllowedHosts {
    AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

fn permits(a: &AllowedHosts, host: &str) -> bool {
    a.permit(std::iter::once(host))
}

#[test]
fn without_a_list_ip_literals_localhost_dotless_and_home_names_pass() {
    let a = allowed(&[]);
    for ok in [
        "127.0.0.1:8000",
        "192.168.1.5",
        "[::1]:8000",
        "localhost:8000",
        "LOCALHOST",
        "localhost.",
        "raspberrypi",
        "x",
        "raspberrypi.local",
        "Pi.Local.:8000",
        "x.home.arpa",
        "a.b.HOME.ARPA",
        "nas.lan",
        "printer.internal:631",
    ] {
        assert!(permits(&a, ok), "{ok}");
    }
    for refused in [
        "evil.example",
        "evil.example:8000",
        "home.arpa",
        "evil.local.example",
        "evil.lan.example",
        "evil.xlan",
        "evil.notlocal",
        "localhost.evil.example",
        "127.0.0.1.evil.example",
        "",
        "a b",
        "host:port",
        "[::1",
        "1.2.3.4:123456",
    ] {
        assert!(!permits(&a, refused), "{refused}");
    }
    assert!(a.permit(std::iter::empty()));
}

#[test]
fn a_list_allows_its_names_and_domains_only() {
    let a = allowed(&["Pi.Local", ".example.org"]);
    for ok in [
        "pi.local:8000",
        "PI.LOCAL.",
        "other.local",
        "nas.lan",
        "example.org",
        "tracks.example.org:443",
        "127.0.0.1",
        "localhost",
    ] {
        assert!(permits(&a, ok), "{ok}");
    }
    for refused in [
        "evil.example",
        "badexample.org",
        "raspberrypi",
        "local",
        "lan",
    ] {
        assert!(!permits(&a, refused), "{refused}");
    }
}

#[test]
fn two_different_hosts_are_refused() {
    let a = allowed(&[]);
    assert!(!a.permit(["localhost", "evil.example"].into_iter()));
    assert!(!a.permit(["localhost", "127.0.0.1"].into_iter()));
    assert!(a.permit(["localhost:8000", "LOCALHOST:8000"].into_iter()));
}

#[test]
fn bad_entries_are_named() {
    for bad in ["http://pi.local", "pi.local:8000", "", ".", "*", "pi/local"] {
        let e = AllowedHosts::parse(&["ok".into(), bad.into()]).unwrap_err();
        assert!(e.starts_with("entry 2: "), "{e}");
    }
}

#[test]
fn the_machines_hostname_is_served_even_with_a_list() {
    let a = allowed(&["tracks.example.org"]).with_hostname(Some("RaspberryPi\n"));
    assert_eq!(a.hostname(), Some("raspberrypi"));
    for ok in [
        "raspberrypi",
        "RASPBERRYPI:8000",
        "raspberrypi.",
        "raspberrypi.local",
    ] {
        assert!(permits(&a, ok), "{ok}");
    }
    assert!(!permits(&a, "otherpi"));
    // A dotted hostname is served as itself, nothing under it.
    let a = allowed(&["x.example"]).with_hostname(Some("pi.example.com."));
    assert!(permits(&a, "pi.example.com"));
    assert!(!permits(&a, "evil.pi.example.com"));
    assert!(!permits(&a, "example.com"));
    // Garbage from the kernel is ignored, not served.
    assert_eq!(allowed(&[]).with_hostname(Some("a b")).hostname(), None);
    assert_eq!(allowed(&[]).with_hostname(None).hostname(), None);
}

#[test]
fn a_refusal_names_the_host_and_the_key() {
    let a = allowed(&[]);
    let refused = a.check(std::iter::once("Evil.Example.:8000")).unwrap_err();
    assert_eq!(refused, Refused::Name("evil.example".into()));
    assert_eq!(
        refused.detail(),
        "Misdirected request: host \"evil.example\" is not allowed; add it to [server] allowed_hosts"
    );
    assert_eq!(refused.log_note(), " (host \"evil.example\" not allowed)");
    let several = a.check(["a.example", "b.example"].into_iter()).unwrap_err();
    assert_eq!(several, Refused::Several);
}

#[test]
fn a_hostile_host_is_quoted_safely_and_bounded() {
    let a = allowed(&[]);
    let refused = a
        .check(std::iter::once("x\" y\\\r\n\u{e9}:80/"))
        .unwrap_err();
    let Refused::Invalid(shown) = &refused else {
        panic!("{refused:?}")
    };
    assert_eq!(shown, r"x\u{22}\u{20}y\u{5c}\u{d}\u{a}\u{e9}:80\u{2f}");
    for text in [refused.detail(), refused.log_note()] {
        assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
        assert_eq!(text.matches('"').count(), 2, "{text}");
    }
    let long = "a".repeat(100_000);
    let Err(Refused::Invalid(shown)) = a.check(std::iter::once(long.as_str())) else {
        panic!("a 100,000-character label is no host name")
    };
    assert_eq!(shown, format!("{}...", "a".repeat(SHOWN_CHARS)));
}

#[test]
fn the_rule_is_described_for_check_config() {
    let text = allowed(&[]).with_hostname(Some("pi")).describe();
    assert!(text.contains("names without a dot"), "{text}");
    assert!(text.contains("hostname \"pi\""), "{text}");
    assert!(
        text.contains("*.local, *.home.arpa, *.internal, *.lan"),
        "{text}"
    );
    assert!(text.contains("allowed_hosts: none"), "{text}");
    let text = allowed(&["a.example", ".b.example"]).describe();
    assert!(!text.contains("without a dot"), "{text}");
    assert!(text.contains("no hostname"), "{text}");
    assert!(
        text.contains("allowed_hosts: a.example, .b.example"),
        "{text}"
    );
}
