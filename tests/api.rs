//! Black-box tests of the tracks API against the real binary.

mod common;
use common::Server;

#[test]
fn hello_and_first_page_of_tracks() {
    // Arrange
    let server = Server::start("");
    // Act
    let hello = server.get("/");
    let tracks = server.get("/tracks");
    // Assert
    assert_eq!(
        (hello.status, hello.text().as_str()),
        (200, r#"{"Hello":"World!"}"#)
    );
    assert_eq!(hello.header("content-type"), Some("application/json"));
    assert_eq!(tracks.status, 200);
    assert_eq!(
        tracks.text(),
        r#"[{"id":1,"title":"Here comes the sun","artist":"Beatles","album":"Abby Road","year":1969,"label":"Apple Records"}]"#
    );
}

#[test]
fn query_errors_are_fastapi_422() {
    let server = Server::start("");
    let r = server.get("/tracks?skip=abc");
    assert_eq!(r.status, 422);
    assert_eq!(
        r.text(),
        r#"{"detail":[{"type":"int_parsing","loc":["query","skip"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}"#
    );
}

#[test]
fn not_found_and_method_not_allowed() {
    let server = Server::start("");
    let missing_track = server.get("/tracks/99");
    let nope = server.get("/nope");
    let delete = server.request("DELETE", "/tracks", &[], b"");
    assert_eq!(
        (missing_track.status, missing_track.text().as_str()),
        (404, r#"{"detail":"Track not found"}"#)
    );
    assert_eq!(
        (nope.status, nope.text().as_str()),
        (404, r#"{"detail":"Not Found"}"#)
    );
    assert_eq!(
        (delete.status, delete.text().as_str()),
        (405, r#"{"detail":"Method Not Allowed"}"#)
    );
    assert_eq!(delete.header("allow"), Some("GET, HEAD, POST, PUT"));
}

#[test]
fn head_on_tracks_has_headers_and_no_body() {
    let server = Server::start("");
    let get = server.get("/tracks");
    let head = server.request("HEAD", "/tracks", &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), get.header("content-length"));
    assert_eq!(head.header("content-type"), Some("application/json"));
}

#[test]
fn declared_oversized_body_gets_413_unread() {
    let server = Server::start("");
    let r = server.raw(b"POST /tracks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20000\r\nConnection: close\r\n\r\n");
    assert_eq!(
        (r.status, r.text().as_str()),
        (413, r#"{"detail":"Request body too large"}"#)
    );
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn default_limit_comes_from_config() {
    let server = Server::start("[tracks]\ndefault_limit = 3");
    let r = server.get("/tracks");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
}

#[test]
fn request_log_has_no_query_strings() {
    let server = Server::start("");
    server.get("/tracks?q=secret-artist");
    let log = server.wait_for_log("GET /tracks 200", std::time::Duration::from_secs(10));
    assert!(!log.contains("secret-artist"), "{log}");
}

/// An id beyond 64 bits gets pydantic's range error for the documented bounds,
/// echoing the number as sent; a path id beyond them too.
#[test]
fn ids_beyond_64_bits_get_the_range_error() {
    // Arrange
    let server = Server::start("");
    let cookie = server.login("john", "password").cookie().unwrap();
    let json = [
        ("Content-Type", "application/json"),
        ("Cookie", cookie.as_str()),
    ];
    let body = br#"{"id":99999999999999999999,"title":"T","artist":"A","year":1}"#;
    // Act
    let post = server.request("POST", "/tracks", &json, body);
    let path = server.get("/tracks/-9223372036854775809");
    let max = server.get("/tracks/9223372036854775807");
    // Assert
    assert_eq!(
        (post.status, post.text().as_str()),
        (
            422,
            r#"{"detail":[{"type":"less_than_equal","loc":["body","id"],"msg":"Input should be less than or equal to 9223372036854775807","input":99999999999999999999,"ctx":{"le":9223372036854775807}}]}"#
        )
    );
    assert_eq!(
        (path.status, path.text().as_str()),
        (
            422,
            r#"{"detail":[{"type":"greater_than_equal","loc":["path","track_id"],"msg":"Input should be greater than or equal to -9223372036854775808","input":"-9223372036854775809","ctx":{"ge":-9223372036854775808}}]}"#
        )
    );
    assert_eq!(max.status, 404, "the largest id is a valid id");
}

/// FastAPI echoes the body of a 422 with the client's key order.
#[test]
fn a_422_echoes_the_body_in_the_order_sent() {
    // Arrange
    let server = Server::start("");
    let cookie = server.login("john", "password").cookie().unwrap();
    let json = [
        ("Content-Type", "application/json"),
        ("Cookie", cookie.as_str()),
    ];
    // Act
    let r = server.request(
        "POST",
        "/tracks",
        &json,
        br#"{"id":7,"title":"x","artist":"y"}"#,
    );
    // Assert
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            422,
            r#"{"detail":[{"type":"missing","loc":["body","year"],"msg":"Field required","input":{"id":7,"title":"x","artist":"y"}}]}"#
        )
    );
}

/// Issue 17 item 4: the names a home network uses are served without being
/// listed; any other name gets a 421 that names it and the key that allows it,
/// and so does its access-log line.
#[test]
fn home_network_names_are_served_and_a_refusal_names_host_and_key() {
    // Arrange: a list, so a dotless name is served only as this machine's hostname.
    let server = Server::start("[server]\nallowed_hosts = [\"tracks.example.org\"]");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let hostname = hostname.trim();
    let status = |host: &str| {
        server
            .request_for_host(host, "GET", "/tracks", &[], b"")
            .status
    };
    // Act + Assert
    for host in [
        "raspberrypi.local",
        "RaspberryPi.local.:8000",
        "x.home.arpa",
        "nas.lan",
        "printer.internal",
        hostname,
        &format!("{hostname}.local"),
        "tracks.example.org",
    ] {
        assert_eq!(status(host), 200, "Host: {host}");
    }
    assert_eq!(status("otherpi"), 421, "a dotless name that is not ours");
    let refused = server.request_for_host("Evil.Example:8000", "GET", "/tracks", &[], b"");
    assert_eq!(
        (refused.status, refused.text().as_str()),
        (
            421,
            r#"{"detail":"Misdirected request: host \"evil.example\" is not allowed; add it to [server] allowed_hosts"}"#
        )
    );
    let log = server.wait_for_log(
        r#"(host "evil.example" not allowed)"#,
        std::time::Duration::from_secs(10),
    );
    let line = log
        .lines()
        .find(|l| l.contains("evil.example"))
        .unwrap_or_else(|| panic!("no 421 line naming the host in:\n{log}"));
    assert!(
        line.starts_with("GET /tracks 421 ")
            && line.ends_with(r#"ms (host "evil.example" not allowed)"#),
        "{line}"
    );
}

/// A hostile `Host` is quoted, escaped and bounded in the 421 body and its log
/// line: it can neither end the quotes nor the line, nor fill the journal.
#[test]
fn a_hostile_host_cannot_break_the_421_body_or_the_log_line() {
    let server = Server::start("");
    let long = "a".repeat(4000);
    for host in [
        r#"x" y\"#,
        "tracksd: failed login from 10.9.9.9",
        long.as_str(),
    ] {
        let r = server.request_for_host(host, "GET", "/", &[], b"");
        assert_eq!(r.status, 421, "{host}");
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let detail = body["detail"].as_str().unwrap();
        assert_eq!(detail.matches('"').count(), 2, "{detail}");
        assert!(detail.len() < 400, "{} bytes", detail.len());
    }
    let log = server.wait_for_log("...\" invalid)", std::time::Duration::from_secs(10));
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("GET / 421 "))
        .collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[0].ends_with(r#" (Host "x\u{22}\u{20}y\u{5c}" invalid)"#),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with(
            r#" (Host "tracksd:\u{20}failed\u{20}login\u{20}from\u{20}10.9.9.9" invalid)"#
        ),
        "{}",
        lines[1]
    );
    assert!(lines[2].len() < 400, "{} bytes", lines[2].len());
    assert!(
        !log.lines().any(|l| l.starts_with("tracksd: failed login")),
        "{log}"
    );
}
