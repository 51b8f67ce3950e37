//! The configuration file: parsing, defaults, validation and environment overrides.
//!
//! Every mistake becomes one [`ConfigError`] naming the file, the key and the reason,
//! because on a headless device that one line in the journal is all the user sees.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The development configuration, compiled in so `tracksd` runs with no arguments.
pub const EMBEDDED_DEFAULT: &str = include_str!("../config/tracksd.toml");
/// How the embedded configuration is named in messages.
pub const EMBEDDED_NAME: &str = "<embedded config/tracksd.toml>";
/// The file `check-config` checks when given no `--config` (the package's and
/// the unit's config); `$TRACKSD_CONFIG_DEFAULT` names another (tests).
pub const DEFAULT_PATH: &str = "/etc/tracksd/tracksd.toml";

/// `[tracks] max_catalogue_bytes` by default: sized so that the worst case
/// (docs/limits.md) fits the unit's `MemoryMax=128M` with room.
pub const DEFAULT_MAX_CATALOGUE_BYTES: usize = 8 << 20;

/// The `SameSite` cookie attribute values we allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
}

impl SameSite {
    /// The attribute value as written in `Set-Cookie` (lower case, as Starlette writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "strict",
            SameSite::Lax => "lax",
        }
    }
}

/// `[tracks]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TracksConfig {
    /// `limit` when a `GET /tracks` does not give one.
    pub default_limit: i64,
    /// The most tracks the catalogue may hold.
    pub max_tracks: usize,
    /// The most bytes of JSON the catalogue may hold (about the size of
    /// `tracks.json`): what memory, file size and write time grow with.
    pub max_catalogue_bytes: usize,
    /// Whether `GET` on tracks works without a login.
    pub public_reads: bool,
}

/// `[session]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    pub cookie_name: String,
    pub max_age_secs: u64,
    pub same_site: SameSite,
    pub secure: bool,
    /// Where the signing keys live; `None` means `<state_dir>/session.key`.
    pub key_file: Option<PathBuf>,
}

/// `[server]`: how requests are taken in. Which keys a reload applies is
/// decided per key in `App::reload`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// `trusted_proxies`: peers whose `X-Forwarded-For` last hop is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// `allowed_hosts`: the names (beyond IP literals, `localhost` and,
    /// when the list is empty, dotless names) a request's `Host` may carry.
    pub allowed_hosts: crate::hosts::AllowedHosts,
    /// `idle_timeout_ms`: a connection silent for this long (mid-request
    /// or between keep-alive requests) is closed; also the socket send timeout.
    pub idle_timeout_ms: u64,
    /// `health_probe_interval_ms`: `/healthz` probes the disk at most
    /// this often and answers from the last result in between.
    pub health_probe_interval_ms: u64,
    /// `ballast`: keep tiny-http's pool from queueing bursts of new
    /// connections (see `ballast.rs`).
    pub ballast: bool,
    /// `login_threads`: threads that compute password hashes, at the
    /// lowest priority (default 1: a flood of logins costs at most one core).
    pub login_threads: usize,
    /// `login_queue`: logins that may wait for a hashing thread; one more
    /// is answered 503 with `Retry-After` (default 8).
    pub login_queue: usize,
}

/// `[docs]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocsConfig {
    /// `swagger_ui_url`: the directory URL serving swagger-ui-dist's
    /// `swagger-ui-bundle.js` and `swagger-ui.css` (FastAPI's `swagger_js_url` and
    /// `swagger_css_url`); `None` is the pinned jsDelivr CDN copy.
    pub swagger_ui_url: Option<String>,
}

/// `[ui]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiConfig {
    /// Whether `/ui/` serves the built-in page (and `/` sends browsers there).
    pub enabled: bool,
}

/// `[[users]]`: one account.
#[derive(Debug, Clone)]
pub struct UserConfig {
    pub username: String,
    pub password_hash: crate::passwords::PasswordHash,
}

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from (a path, or [`EMBEDDED_NAME`]), for messages.
    pub source: String,
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    pub tracks: TracksConfig,
    pub session: SessionConfig,
    pub server: ServerConfig,
    pub docs: DocsConfig,
    pub ui: UiConfig,
    /// `[[users]]`, then (once `users_file::load_into` ran) the users file's.
    pub users: Vec<UserConfig>,
    /// `users_file`: the htpasswd-style file `tracksd user` maintains; a relative
    /// path is relative to the config file's directory (resolved by [`load_file`]).
    pub users_file: Option<PathBuf>,
}

impl Config {
    /// The key file actually used.
    pub fn key_file(&self) -> PathBuf {
        self.session
            .key_file
            .clone()
            .unwrap_or_else(|| self.state_dir.join("session.key"))
    }
}

/// A configuration mistake: which file, which key, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// The dotted key (`tracks.default_limit`), when the mistake is about one key.
    pub key: Option<String>,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{}: key `{}`: {}", self.file, key, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads and validates a configuration file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        key: None,
        reason: format!("cannot read: {e}"),
    })?;
    let mut config = parse(&text, &file)?;
    // Relative to the config's directory, so the file is found whatever the
    // working directory of the service or of `tracksd user`.
    if let Some(users_file) = config.users_file.as_mut().filter(|p| p.is_relative()) {
        *users_file = path.parent().unwrap_or(Path::new("")).join(&*users_file);
    }
    Ok(config)
}

/// Parses configuration text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    let table: Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
        file: file.to_owned(),
        key: None,
        reason: syntax_reason(text, &e),
    })?;
    let mut root = Section::new(file, "", &table);
    let listen = root
        .string("listen")?
        .unwrap_or_else(|| "127.0.0.1:8000".into());
    let listen = parse_listen(&listen).map_err(|r| root.error("listen", r))?;
    let state_dir = PathBuf::from(root.string("state_dir")?.unwrap_or_else(|| "./var".into()));
    if state_dir.as_os_str().is_empty() {
        return Err(root.error("state_dir", "must not be empty".into()));
    }

    let tracks = {
        let mut s = root.section("tracks")?;
        let t = TracksConfig {
            default_limit: s.integer("default_limit", 1, 1000)?.unwrap_or(1),
            max_tracks: s.integer("max_tracks", 0, 10_000_000)?.unwrap_or(10_000) as usize,
            max_catalogue_bytes: s
                .integer("max_catalogue_bytes", 4_096, 1 << 30)?
                .unwrap_or(DEFAULT_MAX_CATALOGUE_BYTES as i64)
                as usize,
            public_reads: s.boolean("public_reads")?.unwrap_or(true),
        };
        s.finish()?;
        t
    };

    let session = {
        let mut s = root.section("session")?;
        let cookie_name = s
            .string("cookie_name")?
            .unwrap_or_else(|| "my_session_id".into());
        if cookie_name.is_empty() || !cookie_name.bytes().all(is_cookie_name_byte) {
            return Err(s.error(
                "cookie_name",
                "must be a non-empty cookie token (letters, digits, !#$%&'*+-.^_`|~)".into(),
            ));
        }
        let same_site = match s.string("same_site")?.as_deref() {
            None | Some("strict") => SameSite::Strict,
            Some("lax") => SameSite::Lax,
            Some(other) => {
                return Err(s.error(
                    "same_site",
                    format!("expected \"strict\" or \"lax\", got {other:?}"),
                ));
            }
        };
        let c = SessionConfig {
            cookie_name,
            max_age_secs: s
                .integer("max_age_secs", 1, 400 * 24 * 3600)?
                .unwrap_or(1_209_600) as u64,
            same_site,
            secure: s.boolean("secure")?.unwrap_or(false),
            key_file: s.string("key_file")?.map(PathBuf::from),
        };
        s.finish()?;
        c
    };

    let server = {
        let mut s = root.section("server")?;
        let mut proxies = Vec::new();
        for (i, text) in s.string_list("trusted_proxies")?.into_iter().enumerate() {
            let ip = text.parse::<IpAddr>().map_err(|_| {
                s.error(
                    "trusted_proxies",
                    format!("entry {}: {text:?} is not an IP address", i + 1),
                )
            })?;
            proxies.push(ip);
        }
        let hosts = s.string_list("allowed_hosts")?;
        let hosts = crate::hosts::AllowedHosts::parse(&hosts)
            .map_err(|reason| s.error("allowed_hosts", reason))?;
        let server = ServerConfig {
            trusted_proxies: proxies,
            allowed_hosts: hosts,
            idle_timeout_ms: s.integer("idle_timeout_ms", 100, 300_000)?.unwrap_or(5_000) as u64,
            health_probe_interval_ms: s
                .integer("health_probe_interval_ms", 1_000, 3_600_000)?
                .unwrap_or(5_000) as u64,
            ballast: s.boolean("ballast")?.unwrap_or(true),
            login_threads: s.integer("login_threads", 1, 64)?.unwrap_or(1) as usize,
            login_queue: s.integer("login_queue", 0, 1024)?.unwrap_or(8) as usize,
        };
        s.finish()?;
        server
    };

    let docs = {
        let mut s = root.section("docs")?;
        let url = s.string("swagger_ui_url")?;
        if let Some(reason) = url.as_deref().and_then(swagger_ui_url_problem) {
            return Err(s.error("swagger_ui_url", reason.into()));
        }
        s.finish()?;
        DocsConfig {
            swagger_ui_url: url.map(|u| u.trim_end_matches('/').to_owned()),
        }
    };

    let ui = {
        let mut s = root.section("ui")?;
        let enabled = s.boolean("enabled")?.unwrap_or(true);
        s.finish()?;
        UiConfig { enabled }
    };

    let users = parse_users(&mut root)?;
    let users_file = root.string("users_file")?.map(PathBuf::from);
    if users_file
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        return Err(root.error("users_file", "must not be empty".into()));
    }
    root.finish()?;
    Ok(Config {
        source: file.to_owned(),
        listen,
        state_dir,
        tracks,
        session,
        server,
        docs,
        ui,
        users,
        users_file,
    })
}

/// Why a `[docs] swagger_ui_url` cannot be used, if it cannot: it goes into the
/// `/docs` page's HTML attributes unescaped, so only plain URL characters pass.
fn swagger_ui_url_problem(url: &str) -> Option<&'static str> {
    let scheme_ok =
        url.starts_with("http://") || url.starts_with("https://") || url.starts_with('/');
    if !scheme_ok {
        return Some("must start with http://, https:// or / (a path on this host)");
    }
    let plain =
        |b: u8| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\');
    if !url.bytes().all(plain) {
        return Some("must be a plain URL (no spaces, quotes or angle brackets)");
    }
    None
}

fn parse_users(root: &mut Section<'_>) -> Result<Vec<UserConfig>, ConfigError> {
    let Some(value) = root.take("users") else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = value else {
        return Err(root.error("users", "expected [[users]] tables".into()));
    };
    let mut users: Vec<UserConfig> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("users[{i}]");
        let Value::Table(t) = item else {
            return Err(root.error(&prefix, "expected a table".into()));
        };
        let mut s = Section::new(root.file, &prefix, t);
        let username = s
            .string("username")?
            .ok_or_else(|| s.error("username", "is required".into()))?;
        if let Some(reason) = crate::users_file::username_problem(&username) {
            return Err(s.error("username", reason.into()));
        }
        if users.iter().any(|u| u.username == username) {
            return Err(s.error("username", format!("{username:?} is listed twice")));
        }
        let hash = s.string("password_hash")?.ok_or_else(|| {
            s.error(
                "password_hash",
                "is required (make one with `tracksd hash-password`)".into(),
            )
        })?;
        let password_hash = crate::passwords::PasswordHash::parse(&hash)
            .map_err(|r| s.error("password_hash", r))?;
        s.finish()?;
        users.push(UserConfig {
            username,
            password_hash,
        });
    }
    Ok(users)
}

/// Applies `TRACKSD_LISTEN` and `TRACKSD_STATE_DIR` from `vars` (the environment).
pub fn apply_env(
    config: &mut Config,
    vars: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    if let Some(listen) = vars("TRACKSD_LISTEN") {
        config.listen = parse_listen(&listen).map_err(|reason| ConfigError {
            file: "environment".into(),
            key: Some("TRACKSD_LISTEN".into()),
            reason,
        })?;
    }
    if let Some(dir) = vars("TRACKSD_STATE_DIR") {
        if dir.is_empty() {
            return Err(ConfigError {
                file: "environment".into(),
                key: Some("TRACKSD_STATE_DIR".into()),
                reason: "must not be empty".into(),
            });
        }
        config.state_dir = PathBuf::from(dir);
    }
    Ok(())
}

/// Parses `IP:PORT` (IPv6 as `[::1]:8000`).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>()
        .map_err(|_| format!("{text:?} is not an IP:PORT address (e.g. \"127.0.0.1:8000\")"))
}

fn is_cookie_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// One line out of toml's multi-line error: the line number and its message.
fn syntax_reason(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", message.trim())
        }
        None => message.trim().to_owned(),
    }
}

/// One TOML table being read: remembers which keys were consumed so that
/// unknown ones can be reported.
struct Section<'a> {
    file: &'a str,
    prefix: String,
    table: &'a Table,
    used: BTreeSet<&'a str>,
}

impl<'a> Section<'a> {
    fn new(file: &'a str, prefix: &str, table: &'a Table) -> Section<'a> {
        Section {
            file,
            prefix: prefix.to_owned(),
            table,
            used: BTreeSet::new(),
        }
    }

    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{}", self.prefix, key)
        }
    }

    fn error(&self, key: &str, reason: String) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            key: Some(self.path(key)),
            reason,
        }
    }

    fn take(&mut self, key: &'a str) -> Option<&'a Value> {
        let v = self.table.get(key)?;
        self.used.insert(key);
        Some(v)
    }

    fn type_error(&self, key: &str, expected: &str, got: &Value) -> ConfigError {
        let shown = match got {
            Value::String(s) => format!("{s:?}"),
            Value::Integer(i) => i.to_string(),
            Value::Float(x) => x.to_string(),
            Value::Boolean(b) => b.to_string(),
            other => format!("a {}", other.type_str()),
        };
        self.error(key, format!("expected {expected}, got {shown}"))
    }

    fn string(&mut self, key: &'a str) -> Result<Option<String>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.type_error(key, "a string", v)),
        }
    }

    fn boolean(&mut self, key: &'a str) -> Result<Option<bool>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(v) => Err(self.type_error(key, "true or false", v)),
        }
    }

    fn integer(&mut self, key: &'a str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Integer(i)) if (min..=max).contains(i) => Ok(Some(*i)),
            Some(v) => Err(self.type_error(key, &format!("an integer from {min} to {max}"), v)),
        }
    }

    fn string_list(&mut self, key: &'a str) -> Result<Vec<String>, ConfigError> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.type_error(key, "a list of strings", other)),
                })
                .collect(),
            Some(v) => Err(self.type_error(key, "a list of strings", v)),
        }
    }

    /// A sub-table; absent means all defaults.
    fn section(&mut self, key: &'a str) -> Result<Section<'a>, ConfigError> {
        static EMPTY: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
        let prefix = self.path(key);
        match self.take(key) {
            None => Ok(Section::new(
                self.file,
                &prefix,
                EMPTY.get_or_init(Table::new),
            )),
            Some(Value::Table(t)) => Ok(Section::new(self.file, &prefix, t)),
            Some(v) => Err(self.type_error(key, "a table", v)),
        }
    }

    /// Fails on the first key that no reader asked for.
    fn finish(&self) -> Result<(), ConfigError> {
        match self.table.keys().find(|k| !self.used.contains(k.as_str())) {
            Some(k) => Err(self.error(k, "unknown key".into())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
