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
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("SYNOPSIS"));
    assert!(
        help.contains("tracksd user add|passwd NAME [--config PATH]"),
        "{help}"
    );
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
    let mut cmd = tracksd();
    cmd.args(["hash-password", "--iterations", "1000"]);
    let out = common::output_with_stdin(cmd, "s3cret pass\n");
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

/// Runs `tracksd user ARGS --config CONFIG --iterations 1000` with `stdin` piped in.
fn user_cmd(args: &[&str], config: &std::path::Path, stdin: &str) -> std::process::Output {
    user_cmd_with(args, config, stdin, &[])
}

fn user_cmd_with(
    args: &[&str],
    config: &std::path::Path,
    stdin: &str,
    env: &[(&str, String)],
) -> std::process::Output {
    let mut cmd = common::user_command(config, args);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    common::output_with_stdin(cmd, stdin)
}

/// A config naming `users` in `dir` as its users file (relative: beside the config).
fn users_config(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("tracksd.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\nstate_dir = \"{}\"\nusers_file = \"users\"\n",
        dir.join("state").display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

fn hash_of(users: &str, name: &str) -> tracksd::passwords::PasswordHash {
    let line = users
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {users:?}"));
    tracksd::passwords::PasswordHash::parse(line).unwrap()
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn user_add_passwd_remove_list_rewrite_the_users_file_in_place() {
    // Arrange
    let dir = common::temp_dir("cli-users");
    let config = users_config(&dir);
    let users = dir.join("users");
    // Act: a new file
    let out = user_cmd(&["add", "alice"], &config, "first pw\n");
    // Assert
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("added user \"alice\" to")
            && said.contains("run `systemctl reload tracksd` to apply"),
        "{said}"
    );
    assert_eq!(mode(&users), 0o640);
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(tracksd::passwords::verify(
        &hash_of(&text, "alice"),
        "first pw"
    ));

    // Comments and the mode are kept; the file is replaced whole (no temp left).
    std::fs::write(&users, format!("# the household\n\n{text}# end\n")).unwrap();
    std::fs::set_permissions(&users, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    assert_eq!(
        user_cmd(&["add", "bob"], &config, "bob pw\n").status.code(),
        Some(0)
    );
    let out = user_cmd(&["passwd", "alice"], &config, "second pw\n");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(
        text.starts_with("# the household\n\nalice:$pbkdf2-sha256$i=1000,"),
        "{text}"
    );
    assert!(text.contains("\n# end\nbob:"), "{text}");
    assert!(tracksd::passwords::verify(
        &hash_of(&text, "alice"),
        "second pw"
    ));
    assert!(!tracksd::passwords::verify(
        &hash_of(&text, "alice"),
        "first pw"
    ));
    assert_eq!(mode(&users), 0o600);
    assert_eq!(entries(&dir), ["tracksd.toml", "users"]);
    // As root (the usual case: /etc/tracksd), the owner and group are kept too.
    if unsafe { libc::geteuid() } == 0 {
        use std::os::unix::fs::MetadataExt;
        std::os::unix::fs::chown(&users, Some(65534), Some(65534)).unwrap();
        let out = user_cmd(&["passwd", "bob"], &config, "bob pw 2\n");
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let m = std::fs::metadata(&users).unwrap();
        assert_eq!((m.uid(), m.gid(), mode(&users)), (65534, 65534, 0o600));
    } else {
        println!("SKIPPED: owner and group kept (needs root)");
    }

    let out = user_cmd(&["list"], &config, "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alice\nbob\n");

    let out = user_cmd(&["remove", "alice"], &config, "");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed user \"alice\" from"));
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(text.starts_with("# the household\n\n# end\nbob:"), "{text}");
    assert_eq!(entries(&dir), ["tracksd.toml", "users"]);
    // The server's own reading of the file: check-config counts it.
    let out = tracksd()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 user(s)"),
        "{out:?}"
    );
}

#[test]
fn user_commands_refuse_with_exit_1_and_usage_mistakes_exit_2() {
    let dir = common::temp_dir("cli-users");
    let config = users_config(&dir);
    assert_eq!(
        user_cmd(&["add", "alice"], &config, "pw\n").status.code(),
        Some(0)
    );
    let before = std::fs::read_to_string(dir.join("users")).unwrap();
    for (args, stdin, code, says) in [
        (&["add", "alice"][..], "pw\n", 1, "already exists"),
        (&["passwd", "carol"][..], "pw\n", 1, "no user \"carol\""),
        (&["remove", "carol"][..], "", 1, "no user \"carol\""),
        (&["add", "a:b"][..], "pw\n", 2, "must not contain ':'"),
        (&["add", "bob"][..], "\n", 2, "empty password"),
        (&["frob", "bob"][..], "", 2, "expected `user add NAME`"),
        (&["add"][..], "", 2, "expected `user add NAME`"),
    ] {
        let out = user_cmd(args, &config, stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            err.contains(says) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    assert_eq!(std::fs::read_to_string(dir.join("users")).unwrap(), before);
    assert_eq!(entries(&dir), ["tracksd.toml", "users"]);

    // A config without users_file says which key to add.
    let plain = dir.join("plain.toml");
    std::fs::write(&plain, "listen = \"127.0.0.1:0\"\n").unwrap();
    let out = user_cmd(&["add", "bob"], &plain, "pw\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("key `users_file` is not set"));
    // A bad line is named file:line, by the commands and by check-config.
    std::fs::write(dir.join("users"), format!("{before}# ok\nbob\n")).unwrap();
    let out = user_cmd(&["list"], &config, "");
    assert_eq!(out.status.code(), Some(2));
    let wanted = format!("{}:3: expected name:", dir.join("users").display());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&wanted),
        "{out:?}"
    );
    let out = tracksd()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&wanted),
        "{out:?}"
    );
}

#[test]
fn user_reload_runs_systemctl_reload_and_reports_its_result() {
    let dir = common::temp_dir("cli-users");
    let config = users_config(&dir);
    // Symlinks, not scripts written here: an executable this process has just
    // written can be ETXTBSY while another test thread forks.
    for (fake, code, says) in [
        (
            "echo",
            0,
            "reload tracksd.service\ntracksd: added user \"uecho\" to",
        ),
        ("false", 1, "but `systemctl reload tracksd.service` failed"),
    ] {
        let bin = dir.join(fake);
        std::fs::create_dir(&bin).unwrap();
        let target = ["/bin", "/usr/bin"]
            .iter()
            .map(|d| std::path::Path::new(d).join(fake))
            .find(|p| p.exists())
            .unwrap();
        std::os::unix::fs::symlink(target, bin.join("systemctl")).unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let name = format!("u{fake}");
        let out = user_cmd_with(
            &["add", &name, "--reload"],
            &config,
            "pw\n",
            &[("PATH", path)],
        );
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "{all}");
        assert!(
            all.contains(says) && all.contains(&format!("added user \"{name}\"")),
            "{all}"
        );
    }
}

/// Runs ARGV on a pseudo-terminal, answering PROMPT and then `Again: ` with the
/// `|`-separated ANSWERS (a `\x03` answer is Ctrl-C), and prints the transcript, then `ECHO=0|1` (the terminal's echo
/// flag once the process ended); exits with the process's exit code.
const ON_A_TTY: &str = r#"
import os, pty, select, sys, termios, time
answers, first = sys.argv[1].split("|"), sys.argv[2].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[3], sys.argv[3:])
out = b""
def read_some(until):
    global out
    while time.time() < until:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 1024)
            except OSError:
                return False
            if not data:
                return False
            out += data
            return True
    sys.exit("timeout; transcript: %r" % out)
for prompt, answer in zip([first, b"Again: "], answers):
    until = time.time() + 10
    while prompt not in out:
        if not read_some(until):
            sys.exit("ended early; transcript: %r" % out)
    os.write(fd, answer.encode() + (b"" if answer == "\x03" else b"\n"))
    if answer == "\x03":
        break
until = time.time() + 10
while read_some(until):
    pass
echo = termios.tcgetattr(fd)[3] & termios.ECHO
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace") + "ECHO=%d\n" % (1 if echo else 0))
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"#;

#[test]
fn passwords_on_a_terminal_are_asked_twice_without_echo_and_echo_comes_back() {
    let available = std::process::Command::new("python3")
        .args(["-c", "import pty, termios"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        println!("SKIPPED: python3 with pty is not installed");
        return;
    }
    let dir = common::temp_dir("cli-tty");
    let config = users_config(&dir);
    let on_a_tty = |answers: &str, prompt: &str, args: &[&std::ffi::OsStr]| {
        let out = common::clean(std::process::Command::new("python3"))
            .args([
                "-c",
                ON_A_TTY,
                answers,
                prompt,
                env!("CARGO_BIN_EXE_tracksd"),
            ])
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.code(),
            text,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let add =
        ["user", "add", "carol", "--iterations", "1000", "--config"].map(std::ffi::OsStr::new);
    let add = [&add[..], &[config.as_os_str()]].concat();
    let run = |answers: &str| on_a_tty(answers, "password for carol: ", &add);
    // Two different entries: refused, nothing written, echo back on.
    let (code, text, err) = run("typed-one|typed-two");
    assert_eq!(code, Some(1), "{text}{err}");
    assert!(
        text.contains("the two passwords differ") && text.ends_with("ECHO=1\n"),
        "{text}"
    );
    assert!(
        !text.contains("typed-one") && !text.contains("typed-two"),
        "{text}"
    );
    assert!(!dir.join("users").exists());
    // Ctrl-C at the second prompt: the process dies of SIGINT with echo restored.
    let (code, text, err) = run("typed-one|\x03");
    // waitstatus_to_exitcode gives -SIGINT, i.e. 254 as an exit code.
    assert_eq!(code, Some(256 - libc::SIGINT), "{text}{err}");
    assert!(text.ends_with("ECHO=1\n"), "{text}{err}");
    assert!(!dir.join("users").exists());
    // The same twice: added, the password never shown.
    let (code, text, err) = run("s3cret-typed|s3cret-typed");
    assert_eq!(code, Some(0), "{text}{err}");
    assert!(
        !text.contains("s3cret-typed") && text.ends_with("ECHO=1\n"),
        "{text}"
    );
    assert!(text.contains("added user \"carol\""), "{text}");
    let users = std::fs::read_to_string(dir.join("users")).unwrap();
    assert!(tracksd::passwords::verify(
        &hash_of(&users, "carol"),
        "s3cret-typed"
    ));
    // hash-password asks the same way, and prints only the hash.
    let args = ["hash-password", "--iterations", "1000"].map(std::ffi::OsStr::new);
    let (code, text, err) = on_a_tty("hashed-typed|hashed-typed", "Password: ", &args);
    assert_eq!(code, Some(0), "{text}{err}");
    assert!(
        !text.contains("hashed-typed") && text.ends_with("ECHO=1\n"),
        "{text}"
    );
    let phc = text
        .lines()
        .find(|l| l.starts_with("$pbkdf2-sha256$"))
        .unwrap();
    let hash = tracksd::passwords::PasswordHash::parse(phc.trim()).unwrap();
    assert!(tracksd::passwords::verify(&hash, "hashed-typed"));
}

/// The harness's liveness check, which the hostile and thread-limit tests
/// assert with: a child that exited and was not waited for keeps its
/// /proc entry (a zombie) and must not count as running.
#[test]
fn an_exited_unreaped_child_is_not_running() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while common::is_running(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "pid {pid} still running"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "reaped too early"
    );
    child.wait().unwrap();
}
