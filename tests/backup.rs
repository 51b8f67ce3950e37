//! The page for people, `/` negotiation, search, and export/restore, black-box.

mod common;
use common::Server;

const CHROME: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn put_tracks(server: &Server, cookie: &str, body: &str) -> common::HttpResponse {
    server.request(
        "PUT",
        "/tracks",
        &[("Cookie", cookie), ("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

#[test]
fn a_browser_is_sent_to_the_page_and_curl_keeps_the_json() {
    let server = Server::start("");
    let r = server.request("GET", "/", &[("Accept", CHROME)], b"");
    assert_eq!((r.status, r.header("location")), (303, Some("/ui/")));
    for accept in ["*/*", "application/json"] {
        let r = server.request("GET", "/", &[("Accept", accept)], b"");
        assert_eq!((r.status, r.text()), (200, r#"{"Hello":"World!"}"#.into()));
    }
    let page = server.get("/ui/");
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("same-origin"));
}

#[test]
fn ui_disabled_is_404_and_slash_is_always_json() {
    let server = Server::start("[ui]\nenabled = false\n");
    assert_eq!(server.get("/ui/").status, 404);
    let r = server.request("GET", "/", &[("Accept", CHROME)], b"");
    assert_eq!(r.status, 200);
}

#[test]
fn search_is_a_substring_and_the_total_counts_matches_before_paging() {
    let server = Server::start("");
    let r = server.get("/tracks?search=RADIO&limit=10");
    assert_eq!(r.header("x-total-count"), Some("1"));
    assert!(r.text().contains("High & Dry"));
    let r = server.get("/tracks?search=song&limit=1&skip=1");
    assert_eq!(r.header("x-total-count"), Some("2"));
    assert!(r.text().contains("The Rain Song") && !r.text().contains("Song 2"));
    let r = server.get("/tracks?search=song&q=blur&limit=10");
    assert_eq!(r.header("x-total-count"), Some("1"));
}

#[test]
fn export_restore_export_is_byte_identical_and_bad_restores_change_nothing() {
    let server = Server::start("");
    let cookie = server.login("john", "password").cookie().unwrap();
    let backup = server.get("/tracks/export");
    assert_eq!(backup.status, 200);
    assert!(
        backup
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    // Onto an empty instance.
    let fresh = Server::start("");
    let c2 = fresh.login("john", "password").cookie().unwrap();
    assert_eq!(put_tracks(&fresh, &c2, "[]").status, 200);
    assert_eq!(fresh.get("/tracks/export").text(), "[\n]\n");
    assert_eq!(put_tracks(&fresh, &c2, &backup.text()).status, 200);
    assert_eq!(fresh.get("/tracks/export").body, backup.body);
    // All or nothing.
    let bad = r#"[{"id":9,"title":"T","artist":"A","year":1},{"id":10,"title":"T","artist":"A","year":10000}]"#;
    let r = put_tracks(&server, &cookie, bad);
    assert_eq!(r.status, 422);
    assert!(
        r.text().contains(r#""loc":["body",1,"year"]"#),
        "{}",
        r.text()
    );
    let dup = r#"[{"id":9,"title":"T","artist":"A","year":1},{"id":9,"title":"T","artist":"A","year":1}]"#;
    assert_eq!(put_tracks(&server, &cookie, dup).status, 422);
    assert_eq!(server.get("/tracks/export").body, backup.body);
    let small = Server::start("[tracks]\nmax_tracks = 1\n");
    let c3 = small.login("john", "password").cookie().unwrap();
    let before = small.get("/tracks/export").body;
    assert_eq!(put_tracks(&small, &c3, &backup.text()).status, 507);
    assert_eq!(small.get("/tracks/export").body, before);
    assert_eq!(put_tracks(&server, "", "[]").status, 401);
}
