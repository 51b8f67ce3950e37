//! `/docs` in a real headless Chromium (Debian's `chromium`, driven by npm
//! `playwright-core` through tests/browser/docs.mjs): with its Swagger UI assets
//! unreachable the page still helps; with them served on the LAN (npm
//! `swagger-ui-dist` from a static server here), Swagger UI renders and "Try it
//! out" logs in. And the page at `/ui/` used as a person would
//! (tests/browser/ui.mjs: log in, search, page, add, edit, delete, download a
//! backup, restore it into a fresh instance, log out), with its security checks.
//! Screenshots go to target/browser/ as artifacts.
//!
//! Ignored by plain `cargo test`: `make browser-test` runs them after installing
//! the npm packages. Under CI (CI=true) missing tools fail; elsewhere they skip.

mod common;
use common::Server;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One Chromium at a time: the machine is small and both tests are heavy.
static BROWSER: Mutex<()> = Mutex::new(());

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn artifacts() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let dir = target.join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether node, Chromium and the npm packages are here; if not, fails under CI
/// and prints a skip notice elsewhere.
fn tools_present() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let modules = root().join("tests/browser/node_modules");
    let missing: Vec<String> = [
        (
            Command::new("node").arg("--version").output().is_err(),
            "node".to_owned(),
        ),
        (!Path::new(&chromium).exists(), chromium),
        (
            !modules.join("playwright-core").is_dir(),
            "npm playwright-core".into(),
        ),
        (
            !modules.join("swagger-ui-dist").is_dir(),
            "npm swagger-ui-dist".into(),
        ),
    ]
    .into_iter()
    .filter_map(|(gone, what)| gone.then_some(what))
    .collect();
    if missing.is_empty() {
        return true;
    }
    let how = "apt-get install chromium nodejs npm; make browser-deps";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("browser test: missing {missing:?} ({how})");
    }
    eprintln!("skipped: browser test needs {missing:?} ({how})");
    false
}

/// Serves `dir`'s files under `/swagger-ui-dist/` on a loopback port, like a LAN
/// web server would; returns its base URL. The thread ends with the test process.
fn serve_swagger_ui_dist(dir: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/swagger-ui-dist", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = serve_file(stream, &dir);
        }
    });
    url
}

fn serve_file(mut stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut line = String::new();
    let mut reader = BufReader::new(stream.try_clone()?);
    reader.read_line(&mut line)?;
    while reader.read_line(&mut String::new())? > 2 {}
    let name = line
        .split(' ')
        .nth(1)
        .and_then(|p| p.strip_prefix("/swagger-ui-dist/"))
        .filter(|n| {
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && !n.starts_with('.')
        });
    let file = name.and_then(|n| std::fs::read(dir.join(n)).ok().map(|body| (n, body)));
    let (status, kind, body) = match file {
        Some((n, body)) if n.ends_with(".js") => ("200 OK", "text/javascript", body),
        Some((n, body)) if n.ends_with(".css") => ("200 OK", "text/css", body),
        Some((_, body)) => ("200 OK", "application/octet-stream", body),
        None => ("404 Not Found", "text/plain", b"not found".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)
}

/// Runs tests/browser/docs.mjs in `mode` against `server`; returns its output.
fn run_browser(mode: &str, server: &Server) -> (bool, String) {
    let shot = artifacts().join(format!("docs-{mode}.png"));
    let profile = artifacts().join(format!("profile-{mode}-{}", std::process::id()));
    let out = Command::new("node")
        .arg(root().join("tests/browser/docs.mjs"))
        .args([mode, &format!("http://{}", server.addr)])
        .arg(&shot)
        .arg(&profile)
        .output()
        .expect("run node");
    let _ = std::fs::remove_dir_all(&profile);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}screenshot: {}", shot.display());
    (out.status.success(), text)
}

#[test]
#[ignore = "needs Chromium and npm packages: make browser-test"]
fn docs_without_reachable_assets_shows_the_help_text() {
    if !tools_present() {
        return;
    }
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    // Arrange: assets on a port where nothing listens (as a CDN is without internet).
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = Server::start(&format!(
        "[docs]\nswagger_ui_url = \"http://{closed}/swagger-ui\"\n"
    ));
    // Act
    let (passed, output) = run_browser("offline", &server);
    // Assert
    assert!(passed, "{output}");
    assert!(
        output.contains("ok: the fallback text is visible"),
        "{output}"
    );
    assert!(output.contains("ok: it links to /openapi.json"), "{output}");
}

#[test]
#[ignore = "needs Chromium and npm packages: make browser-test"]
fn docs_with_assets_on_the_lan_runs_try_it_out_login_then_me() {
    if !tools_present() {
        return;
    }
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    // Arrange
    let assets = serve_swagger_ui_dist(root().join("tests/browser/node_modules/swagger-ui-dist"));
    let server = Server::start(&format!("[docs]\nswagger_ui_url = \"{assets}\"\n"));
    // Act
    let (passed, output) = run_browser("lan", &server);
    // Assert
    assert!(passed, "{output}");
    assert!(
        output.contains("ok: POST /login via \"Try it out\" logs in"),
        "{output}"
    );
    assert!(
        output.contains("ok: GET /users/me via \"Try it out\" sees the session"),
        "{output}"
    );
}

#[test]
#[ignore = "needs Chromium and npm packages: make browser-test"]
fn the_page_at_ui_as_a_person_uses_it() {
    if !tools_present() {
        return;
    }
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    // Arrange: the demo catalogue plus 21 tracks (three pages), and a fresh
    // instance for the restore.
    let server = Server::start("");
    let cookie = server.login("john", "password").cookie().unwrap();
    for i in 1..=21 {
        let track = format!(
            r#"{{"id":{},"title":"Seeded track {i}","artist":"Seeder","year":{}}}"#,
            100 + i,
            1980 + i
        );
        let r = server.request(
            "POST",
            "/tracks",
            &[("Cookie", &cookie), ("Content-Type", "application/json")],
            track.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let fresh = Server::start("");
    let dir = artifacts();
    // Act
    let out = Command::new("node")
        .arg(root().join("tests/browser/ui.mjs"))
        .arg(format!("http://{}", server.addr))
        .arg(format!("http://{}", fresh.addr))
        .arg(&dir)
        .output()
        .expect("run node");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}screenshots: {}/ui-*.png", dir.display());
    // Assert: the script's checks, and the two instances' exports from outside.
    assert!(out.status.success(), "{text}");
    for line in [
        "ok: the session cookie is HttpOnly",
        "ok: the injected inline script did not run",
        "ok: the markup title is visible as text",
        "ok: the fresh instance exports the same bytes",
        "ok: no request to another origin (0 aborted or refused",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    let backup = std::fs::read(dir.join("ui-backup.json")).unwrap();
    assert!(
        server.get("/tracks/export").body == fresh.get("/tracks/export").body,
        "the two instances export the same"
    );
    assert!(backup.starts_with(b"[\n  {") && backup.ends_with(b"}\n]\n"));
}
