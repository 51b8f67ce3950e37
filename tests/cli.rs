//! Black-box tests of the command line.

mod common;
use common::tracksd;

#[test]
fn check_config_names_the_bad_key_in_one_line() {
    let dir = common::temp_dir("cli");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "listen = \"127.0.0.1:8000\"\n[tracks]\ndefault_limit = \"abc\"\n",
    )
    .unwrap();
    let out = tracksd()
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bad.toml"), "{err}");
    assert!(err.contains("tracks.default_limit"), "{err}");
}

#[test]
fn check_config_unknown_key_and_unreadable_file() {
    let dir = common::temp_dir("cli");
    let bad = dir.join("typo.toml");
    std::fs::write(&bad, "lisen = \"127.0.0.1:8000\"\n").unwrap();
    let out = tracksd()
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("key `lisen`: unknown key"));
    let out = tracksd()
        .args(["check-config", "--config", "/nonexistent/x.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.toml: cannot read"));
}

#[test]
fn check_config_accepts_the_shipped_configs() {
    for file in ["config/tracksd.toml", "config/tracksd.example.toml"] {
        let out = tracksd()
            .args(["check-config", "--config", file])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn bad_environment_override_exits_2() {
    let out = tracksd()
        .arg("check-config")
        .env("TRACKSD_LISTEN", "nowhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TRACKSD_LISTEN"));
}

#[test]
fn help_and_version() {
    let out = tracksd().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("SYNOPSIS"));
    let out = tracksd().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("tracksd {}", env!("CARGO_PKG_VERSION"))
    );
    let out = tracksd().arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn hash_password_prints_a_phc_string_that_config_accepts() {
    use std::io::Write;
    let mut child = tracksd()
        .args(["hash-password", "--iterations", "1000"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret pass\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("tracksd: one hash of 1000 iterations took ") && stderr.contains(" ms "),
        "{stderr}"
    );
    let phc = String::from_utf8(out.stdout).unwrap();
    assert!(phc.starts_with("$pbkdf2-sha256$i=1000,l=32$"), "{phc}");
    let hash = tracksd::passwords::PasswordHash::parse(phc.trim()).unwrap();
    assert!(tracksd::passwords::verify(&hash, "s3cret pass"));
    assert!(!tracksd::passwords::verify(&hash, "s3cret pass\n"));
}

/// The harness's liveness check must see a killed server that nobody has
/// reaped (a zombie, whose /proc entry is still there) as not running; the
/// tests that ask "same process, still serving?" depend on it.
#[test]
fn a_killed_unreaped_server_is_not_running() {
    let mut server = common::Server::start("");
    let pid = server.child.id();
    assert!(server.is_running());
    // SAFETY: kill(2) on our own child's pid, which is not reaped yet.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let t = std::time::Instant::now();
    while common::is_running(pid) {
        assert!(t.elapsed() < std::time::Duration::from_secs(10), "{pid}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(!server.is_running());
}
