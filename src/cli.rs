//! The command line: `serve` (default), `check-config`, `hash-password`, and
//! `user add|passwd|remove|list` (in `user`).

mod spawn;
mod terminal;
mod user;

use crate::app::{App, Sources};
use crate::config::Config;
use crate::edge;
use crate::errors::StartupError;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
NAME
    tracksd - a music-tracks catalogue with login sessions, over HTTP

SYNOPSIS
    tracksd [serve] [--config PATH] [--listen ADDR]
    tracksd check-config [--config PATH]
    tracksd hash-password [--iterations N]
    tracksd user add|passwd NAME [--config PATH] [--iterations N] [--reload]
    tracksd user remove NAME [--config PATH] [--reload]
    tracksd user list [--config PATH]
    tracksd --help | --version

DESCRIPTION
    serve          Serve the API (the default). Without --config the embedded
                   development config is used (127.0.0.1:8000, state in ./var,
                   demo user john/password, which is refused on an address
                   other than loopback: exit 2).
    check-config   Validate a config file and exit: 0 if valid, 2 with one line
                   naming file, key and reason if not. Without --config it
                   checks /etc/tracksd/tracksd.toml, or the embedded config
                   where that does not exist; it names the file it checked
                   and prints which Host names are served.
    hash-password  Read a password (on a terminal: asked twice, not echoed;
                   otherwise one line of stdin), print its PHC hash for a
                   [[users]] password_hash entry, and on stderr how long
                   one hash took (each login costs about that).
    user add NAME  Add a user to the config's users_file (one
                   name:$pbkdf2-sha256$... line per user; created, mode
                   0640, if missing). The password is read as by
                   hash-password. Refused (exit 1) if NAME exists.
    user passwd NAME
                   Change a user's password; refused if NAME is missing.
    user remove NAME
                   Remove a user; refused if NAME is missing.
    user list      Print the user names, one per line ([[users]], then
                   users_file).
                   The user commands read /etc/tracksd/tracksd.toml unless
                   --config names another, rewrite users_file atomically
                   (mode, owner and comments kept), and tell you to run
                   `systemctl reload tracksd` to apply the change: a reload
                   ends the sessions of a changed or removed user.

OPTIONS
    --config PATH      Configuration file (TOML).
    --listen ADDR      Listen address IP:PORT; overrides config and environment.
    --iterations N     PBKDF2 iterations for hash-password, user add and
                       user passwd (default 600000).
    --reload           After a user change, run `systemctl reload
                       tracksd.service` and report its result.
    -h, --help         This text.
    -V, --version      Version.

ENVIRONMENT
    TRACKSD_LISTEN       Overrides `listen`.
    TRACKSD_STATE_DIR    Overrides `state_dir`.
    TRACKSD_CONFIG_DEFAULT  The file check-config checks without --config
                         (default /etc/tracksd/tracksd.toml).
    CREDENTIALS_DIRECTORY  If it holds `session-key` (systemd LoadCredential=),
                         that file supplies the session keys.

EXIT STATUS
    0 success; 1 runtime failure (restart me), or a user command refused
    (name exists or is missing, passwords differ, file not writable);
    2 bad usage, config or state.
";

/// Parsed command line.
#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    command: String,
    config: Option<PathBuf>,
    listen: Option<String>,
    iterations: Option<u32>,
    /// `user`'s words: the action and the name.
    words: Vec<String>,
    /// `user … --reload`.
    reload: bool,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        command: "serve".into(),
        ..Args::default()
    };
    let mut first = true;
    while let Some(arg) = argv.next() {
        let mut value = |flag: &str| argv.next().ok_or_else(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => args.command = "help".into(),
            "-V" | "--version" => args.command = "version".into(),
            "--config" => args.config = Some(PathBuf::from(value("--config")?)),
            "--listen" => args.listen = Some(value("--listen")?),
            "--iterations" => {
                let v = value("--iterations")?;
                args.iterations = Some(
                    v.parse()
                        .map_err(|_| format!("--iterations: {v:?} is not a number"))?,
                );
            }
            "--reload" => args.reload = true,
            "serve" | "check-config" | "hash-password" | "user" if first => args.command = arg,
            word if args.command == "user" && !word.starts_with('-') && args.words.len() < 2 => {
                args.words.push(arg)
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
        first = false;
    }
    if args.reload && args.command != "user" {
        return Err("--reload goes with the user commands only".into());
    }
    Ok(args)
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => return fail(&StartupError::Usage(msg)),
    };
    let result = match args.command.as_str() {
        "help" => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        "version" => {
            println!("tracksd {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        "check-config" => check_config(&args),
        "hash-password" => hash_password(&args),
        "user" => {
            return user::main(&user::Request {
                words: &args.words,
                config: args.config.as_deref(),
                iterations: args.iterations,
                reload: args.reload,
            });
        }
        _ => return serve(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &StartupError) -> ExitCode {
    eprintln!("tracksd: {e}");
    ExitCode::from(e.exit_code())
}

/// Where the config and keys come from: `--config`, `--listen` and
/// `$CREDENTIALS_DIRECTORY` (the key file is added once the config is read).
fn sources(args: &Args) -> Sources {
    Sources {
        config: args.config.clone(),
        listen: args.listen.clone(),
        credentials: std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
        key_file: PathBuf::new(),
        listening_on: None,
    }
}

/// The config from `--config` or the embedded default, then environment, then `--listen`.
fn load_config(args: &Args) -> Result<Config, StartupError> {
    sources(args).load_config(|k| std::env::var(k).ok())
}

/// `check-config`: the `--config` file, else the installed one where it exists,
/// else the embedded one (and it says so); the rule for `Host` names; and the
/// refusal `serve` would give for the demo user on a public address.
fn check_config(args: &Args) -> Result<(), StartupError> {
    let mut sources = sources(args);
    let mut fallback = None;
    if sources.config.is_none() {
        let default = std::env::var_os("TRACKSD_CONFIG_DEFAULT")
            .map_or_else(|| PathBuf::from(crate::config::DEFAULT_PATH), PathBuf::from);
        if default.exists() {
            sources.config = Some(default);
        } else {
            fallback = Some(default);
        }
    }
    let c = sources.load_config(|k| std::env::var(k).ok())?;
    crate::demo::refuse_public(&c, c.listen)?;
    println!(
        "{}: ok (listen {}, state_dir {}, {} user(s))",
        c.source,
        c.listen,
        c.state_dir.display(),
        c.users.len()
    );
    if let Some(missing) = fallback {
        println!(
            "note: {} does not exist, so the embedded development config was checked \
             (check another with --config FILE)",
            missing.display()
        );
    }
    println!("{}", c.server.allowed_hosts.describe());
    Ok(())
}

fn serve(args: &Args) -> ExitCode {
    let started = match load_config(args).and_then(|config| {
        let activated = edge::activated_listener().map_err(|source| StartupError::Bind {
            addr: config.listen,
            source,
        })?;
        let idle = std::time::Duration::from_millis(config.server.idle_timeout_ms);
        let listener = edge::bind(config.listen, activated, idle)?;
        // After binding: a socket systemd passed may be public whatever the config says.
        crate::demo::refuse_public(&config, listener.addr)?;
        let mut sources = sources(args);
        sources.listening_on = Some(listener.addr);
        let app = open_app(config, sources)?;
        Ok((listener, app))
    }) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let (listener, mut app) = started;
    let how = if listener.activated {
        " (socket activation)"
    } else {
        ""
    };
    eprintln!("tracksd listening on http://{}{how}", listener.addr);
    match edge::run(listener, &mut app) {
        Ok(()) => {
            eprintln!("tracksd: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tracksd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the session keys (creating one on first start) and opens the state,
/// keeping `sources` (with the key file) for a reload.
fn open_app(config: Config, mut sources: Sources) -> Result<App, StartupError> {
    crate::app::prepare_state_dir(&config.state_dir)?;
    sources.key_file = config.key_file();
    let keys = crate::keys::load_or_create(&sources.key_file, sources.credentials.as_deref())
        .map_err(StartupError::Keys)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut app = App::open(config, &keys.secrets, now_ms)?;
    // Only once the state opened: a failed start stays the one line naming its cause.
    eprintln!("{}", keys.origin_line());
    if let Some(hint) = crate::users_file::no_users_hint(&app.config) {
        eprintln!("{hint}");
    }
    for warning in &keys.warnings {
        eprintln!("tracksd: warning: {}: {warning}", keys.source.display());
    }
    app.sources = sources;
    Ok(app)
}

/// `--iterations`, if within what a hash may have.
fn check_iterations(iterations: u32) -> Result<u32, StartupError> {
    use crate::passwords::{MAX_ITERATIONS, MIN_ITERATIONS};
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(StartupError::Usage(format!(
            "--iterations must be from {MIN_ITERATIONS} to {MAX_ITERATIONS}"
        )));
    }
    Ok(iterations)
}

fn hash_password(args: &Args) -> Result<(), StartupError> {
    let iterations = check_iterations(
        args.iterations
            .unwrap_or(crate::passwords::DEFAULT_ITERATIONS),
    )?;
    let password = terminal::read_password("Password: ").map_err(|e| match e {
        terminal::PasswordError::Empty => StartupError::Usage("empty password on stdin".into()),
        e => StartupError::Usage(e.to_string()),
    })?;
    let started = std::time::Instant::now();
    let phc = crate::passwords::hash_password(&password, iterations)
        .map_err(|e| StartupError::Usage(format!("cannot read random bytes: {e}")))?;
    let took = started.elapsed();
    println!("{phc}");
    // On stderr, so that `$(… | tracksd hash-password)` still captures the hash alone.
    // Every login costs about this much of the server's CPU, so the owner picks
    // --iterations from it (README: "Users and passwords").
    eprintln!(
        "tracksd: one hash of {iterations} iterations took {} ms on this machine \
         (each login costs about that; keep it under 1000 ms)",
        took.as_millis()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn serve_is_the_default() {
        let a = parse(&["--config", "x.toml", "--listen", "127.0.0.1:0"]).unwrap();
        assert_eq!(a.command, "serve");
        assert_eq!(a.config, Some(PathBuf::from("x.toml")));
        assert_eq!(a.listen.as_deref(), Some("127.0.0.1:0"));
    }

    #[test]
    fn subcommands_and_errors() {
        assert_eq!(
            parse(&["check-config", "--config", "a"]).unwrap().command,
            "check-config"
        );
        assert_eq!(
            parse(&["hash-password", "--iterations", "2000"])
                .unwrap()
                .iterations,
            Some(2000)
        );
        assert!(parse(&["--config"]).is_err());
        assert!(parse(&["bogus"]).is_err());
        assert!(parse(&["serve", "serve"]).is_err());
    }
}
