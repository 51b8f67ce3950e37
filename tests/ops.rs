//! Black-box tests of the operations endpoints: `/healthz`, `/openapi.json`, `/docs`.

mod common;
use common::Server;
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn healthz_is_ok_with_a_writable_state_dir() {
    // Arrange
    let server = Server::start("");
    // Act
    let get = server.get("/healthz");
    let head = server.request("HEAD", "/healthz", &[], b"");
    // Assert
    assert_eq!(
        (get.status, get.text().as_str()),
        (200, r#"{"status":"ok","checked_ms_ago":0}"#)
    );
    assert_eq!(get.header("content-type"), Some("application/json"));
    assert_eq!(get.header("cache-control"), Some("no-store"));
    assert_eq!((head.status, head.body.len()), (200, 0));
    let state = server.dir.join("state");
    assert!(!state.join("healthz.probe").exists());
}

/// Root ignores permission bits, so the state directory is made unwritable by
/// replacing it with a regular file while the server runs; putting it back heals it.
/// Each change is seen once the last probe is older than the interval.
#[test]
fn healthz_is_503_while_the_state_dir_is_unusable_and_recovers() {
    // Arrange
    let server = Server::start("[server]\nhealth_probe_interval_ms = 1000");
    assert_eq!(server.get("/healthz").status, 200);
    let state = server.dir.join("state");
    let aside = server.dir.join("state.aside");
    std::fs::rename(&state, &aside).unwrap();
    std::fs::write(&state, b"not a directory").unwrap();
    // Act: the probe runs again once its interval (1 s) is over; ask until it has.
    let broken = healthz_until(&server, 503);
    std::fs::remove_file(&state).unwrap();
    std::fs::rename(&aside, &state).unwrap();
    let healed = healthz_until(&server, 200);
    // Assert
    assert_eq!(broken.status, 503);
    assert_eq!(
        broken.text(),
        r#"{"status":"unavailable","detail":"state directory not writable: not a directory","checked_ms_ago":0}"#
    );
    assert_eq!(healed.status, 200);
}

/// Asks `/healthz` until it answers `status` (a probe is at most 1 s old here);
/// fails after 10 s.
fn healthz_until(server: &Server, status: u16) -> common::HttpResponse {
    let start = std::time::Instant::now();
    loop {
        let r = server.get("/healthz");
        if r.status == status {
            return r;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "/healthz still {} after 10 s: {}",
            r.status,
            r.text()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Mounts `dir` read-only over itself in a private mount namespace, then execs the server.
const READ_ONLY_WRAPPER: &str =
    r#"mount --bind "$RO_DIR" "$RO_DIR" && mount -o remount,bind,ro "$RO_DIR" && exec "$0" "$@""#;

/// Whether this process may make private read-only mounts (root with CAP_SYS_ADMIN).
fn can_mount_read_only(dir: &Path) -> bool {
    Command::new("unshare")
        .args(["-m", "sh", "-c", READ_ONLY_WRAPPER, "true"])
        .env("RO_DIR", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn healthz_is_503_on_a_read_only_state_dir() {
    // Arrange: state made by a first run, then a server that sees it read-only.
    let first = Server::start("");
    assert_eq!(first.get("/healthz").status, 200);
    let dir = first.kill();
    let state = dir.join("state");
    if !can_mount_read_only(&state) {
        eprintln!("skipped: cannot mount read-only here (needs unshare -m and mount as root)");
        return;
    }
    let config = dir.join("tracksd.toml");
    let state_text = state.to_str().unwrap();
    let wrapper = ["unshare", "-m", "sh", "-c", READ_ONLY_WRAPPER];
    let server = Server::start_wrapped(&dir, &config, &[("RO_DIR", state_text)], &wrapper);
    // Act
    let health = server.get("/healthz");
    let tracks = server.get("/tracks");
    // Assert
    assert_eq!(health.status, 503, "{}", health.text());
    assert_eq!(
        health.text(),
        r#"{"status":"unavailable","detail":"state directory not writable: read-only filesystem or storage medium","checked_ms_ago":0}"#
    );
    assert_eq!(tracks.status, 200, "reads still work");
}

#[test]
fn openapi_json_describes_every_route_but_the_docs_ones() {
    // Arrange
    let server = Server::start("");
    // Act
    let r = server.get("/openapi.json");
    // Assert
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    for route in tracksd::router::ROUTES {
        for method in route.methods.iter().filter(|m| **m != "HEAD") {
            let op = &doc["paths"][route.pattern][method.to_ascii_lowercase()];
            assert_eq!(
                op.is_object(),
                route.documented,
                "{method} {}",
                route.pattern
            );
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["APIKeyCookie"]["name"],
        "my_session_id"
    );
}

#[test]
fn docs_is_swagger_ui_for_openapi_json() {
    // Arrange
    let server = Server::start("");
    // Act
    let r = server.get("/docs");
    // Assert
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = r.text();
    assert!(html.contains("SwaggerUIBundle("), "{html}");
    assert!(html.contains("url: '/openapi.json'"));
    assert!(html.contains("https://cdn.jsdelivr.net/npm/swagger-ui-dist@"));
}

#[test]
fn docs_loads_swagger_ui_from_the_configured_place() {
    // Arrange
    let server = Server::start("[docs]\nswagger_ui_url = \"/static/swagger-ui\"\n");
    // Act
    let html = server.get("/docs").text();
    let favicon = server.get("/favicon.ico");
    // Assert
    assert!(html.contains(r#"<script src="/static/swagger-ui/swagger-ui-bundle.js"></script>"#));
    assert!(
        html.contains("<a href=\"/openapi.json\">"),
        "fallback text: {html}"
    );
    assert_eq!(favicon.status, 200);
    assert_eq!(favicon.header("content-type"), Some("image/x-icon"));
    assert!(
        favicon
            .header("cache-control")
            .unwrap()
            .contains("max-age=")
    );
}
