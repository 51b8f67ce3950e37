//! Issue 17 item 5, against the real binary: the demo user is never served
//! beyond this machine, `check-config` says which file it checked, and a reload
//! applies each `[server]`/`[docs]`/`[ui]` change or names it as ignored.

mod common;
use common::{Server, tracksd};
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Runs `tracksd` with `args` and `env`, state in `dir`, until it exits (killed
/// after 10 s: a server that started instead is a failure, not a hang); its exit
/// code and stderr.
fn refused_start(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = tracksd();
    cmd.args(args)
        .env("TRACKSD_STATE_DIR", dir.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), err)
}

#[test]
fn the_demo_user_is_refused_on_a_public_address_and_served_on_loopback() {
    // Arrange: the embedded config, and the shipped development file copied.
    let dir = common::temp_dir("demo");
    let copy = dir.join("tracksd.toml");
    std::fs::copy("config/tracksd.toml", &copy).unwrap();
    let copy = copy.to_str().unwrap();
    // Act
    let refusals = [
        refused_start(&dir, &["--listen", "0.0.0.0:0"], &[]),
        refused_start(&dir, &["serve"], &[("TRACKSD_LISTEN", "[::]:0")]),
        refused_start(&dir, &["--config", copy, "--listen", "0.0.0.0:0"], &[]),
    ];
    // Assert: exit 2, one line naming the file, the key, the user and the address.
    for (i, (code, err)) in refusals.iter().enumerate() {
        assert_eq!(*code, 2, "run {i}: {err}");
        assert_eq!(err.lines().count(), 1, "run {i}: {err}");
        assert!(err.contains("key `users`: the demo user \"john\""), "{err}");
        assert!(err.contains("which is not a loopback address"), "{err}");
    }
    assert!(refusals[0].1.contains("<embedded config/tracksd.toml>"));
    assert!(refusals[0].1.contains("served on 0.0.0.0:"));
    assert!(refusals[1].1.contains("served on [::]:"));
    assert!(refusals[2].1.contains(copy), "{}", refusals[2].1);
    assert!(
        !dir.join("state/tracks.json").exists(),
        "nothing was opened"
    );

    // On loopback the demo starts as before.
    let mut child = tracksd()
        .args(["--listen", "127.0.0.1:0"])
        .env("TRACKSD_STATE_DIR", dir.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let listening = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("tracksd listening on http://127.0.0.1:"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening.is_some(), "the loopback demo did not start");
}

#[test]
fn check_config_without_config_checks_the_installed_file_and_names_it() {
    // Arrange
    let dir = common::temp_dir("default-config");
    let installed = dir.join("tracksd.toml");
    std::fs::write(
        &installed,
        format!(
            "listen = \"0.0.0.0:8000\"\nstate_dir = \"{}\"\n[server]\nallowed_hosts = [\"Tracks.Example.org\", \".example.net\"]\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    let check = |default: &std::path::Path| {
        let out = tracksd()
            .arg("check-config")
            .env("TRACKSD_CONFIG_DEFAULT", default)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap();
        (out.status.code(), text)
    };
    // Act
    let (found_code, found) = check(&installed);
    let missing = dir.join("absent.toml");
    let (fallback_code, fallback) = check(&missing);
    std::fs::write(&installed, "lisen = 1\n").unwrap();
    let (bad_code, bad) = check(&installed);
    // Assert
    assert_eq!(found_code, Some(0), "{found}");
    let first = found.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "{}: ok (listen 0.0.0.0:8000, state_dir {}, 0 user(s))",
            installed.display(),
            dir.join("state").display()
        )
    );
    assert!(
        found.contains("names under *.local, *.home.arpa, *.internal, *.lan")
            && found.contains("[server] allowed_hosts: tracks.example.org, .example.net")
            && found.contains("this machine's hostname"),
        "{found}"
    );
    assert_eq!(fallback_code, Some(0), "{fallback}");
    assert!(
        fallback.starts_with("<embedded config/tracksd.toml>: ok (")
            && fallback.contains(&format!(
                "note: {} does not exist, so the embedded development config was checked",
                missing.display()
            )),
        "{fallback}"
    );
    assert_eq!(bad_code, Some(2), "{bad}");
    assert!(
        bad.contains(&format!(
            "{}: key `lisen`: unknown key",
            installed.display()
        )),
        "{bad}"
    );
}

/// Rewrites the server's config with `extra` and sends SIGHUP; the reload line.
fn reload_with(server: &Server, extra: &str, nth: usize) -> String {
    std::fs::write(&server.config, common::config_text(&server.dir, extra)).unwrap();
    unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) };
    let log = server.wait_for_log(
        |log: &str| log.matches("tracksd: reloaded").count() >= nth,
        Duration::from_secs(10),
    );
    let line = log
        .lines()
        .filter(|l| l.starts_with("tracksd: reloaded"))
        .nth(nth - 1);
    line.unwrap().to_owned()
}

#[test]
fn a_reload_applies_or_names_each_changed_server_docs_and_ui_key() {
    // Arrange
    let server = Server::start("");
    let host = |h: &str| {
        server
            .request_for_host(h, "GET", "/tracks", &[], b"")
            .status
    };
    assert_eq!(host("tracks.example.org"), 421);
    assert!(server.get("/docs").text().contains("cdn.jsdelivr.net"));
    assert_eq!(server.get("/ui/").status, 200);

    // Act: every [server] key, [docs] and [ui] changed at once.
    let line = reload_with(
        &server,
        "[server]\nallowed_hosts = [\"tracks.example.org\"]\ntrusted_proxies = [\"10.0.0.1\"]\n\
         health_probe_interval_ms = 2000\nidle_timeout_ms = 3000\nballast = false\n\
         login_threads = 2\nlogin_queue = 4\n\
         [docs]\nswagger_ui_url = \"http://192.168.1.2/swagger\"\n[ui]\nenabled = false\n",
        1,
    );

    // Assert: the line says per key which, and the applied ones are in force.
    assert!(
        line.contains(
            "; applied: server.allowed_hosts, server.trusted_proxies, \
             server.health_probe_interval_ms, docs.swagger_ui_url, ui.enabled"
        ),
        "{line}"
    );
    assert!(
        line.ends_with(
            "; changed but ignored until a restart: server.idle_timeout_ms, server.ballast, \
             server.login_threads, server.login_queue"
        ),
        "{line}"
    );
    assert_eq!(host("tracks.example.org"), 200);
    assert_eq!(host("evil.example"), 421);
    assert!(
        server
            .get("/docs")
            .text()
            .contains("http://192.168.1.2/swagger/swagger-ui.css")
    );
    assert_eq!(server.get("/ui/").status, 404);

    // The applied keys as they are, the ignored ones back to what runs:
    // nothing is named.
    let again = reload_with(
        &server,
        "[server]\nallowed_hosts = [\"tracks.example.org\"]\ntrusted_proxies = [\"10.0.0.1\"]\n\
         health_probe_interval_ms = 2000\n\
         [docs]\nswagger_ui_url = \"http://192.168.1.2/swagger\"\n[ui]\nenabled = false\n",
        2,
    );
    assert!(
        !again.contains("applied") && !again.contains("ignored"),
        "{again}"
    );

    // A mistake changes nothing, and the line names file and key.
    let bad = {
        std::fs::write(&server.config, "[server]\nlogin_threads = 0\n").unwrap();
        unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) };
        server.wait_for_log("reload failed, nothing changed", Duration::from_secs(10))
    };
    assert!(bad.contains("key `server.login_threads`"), "{bad}");
    assert_eq!(host("tracks.example.org"), 200, "the old config stays");
}
