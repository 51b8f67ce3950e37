//! The application state the router works on, and how it is built at start.

use crate::config::{self, Config};
use crate::errors::{FileError, StartupError};
use crate::revocation::RevocationList;
use crate::session::{SessionCookies, SidGenerator};
use crate::throttle::LoginThrottle;
use crate::track_file::FileStore;
use crate::tracks::TrackStore;
use std::path::PathBuf;

/// Everything a request may read or change. Only the handler loop's thread owns it.
pub struct App {
    pub config: Config,
    pub tracks: Box<dyn TrackStore + Send>,
    pub cookies: SessionCookies,
    /// Each user's credential fingerprint under each session key: made with
    /// `config.users` and the keys of `cookies`, and replaced with them.
    pub fingerprints: crate::fingerprint::Fingerprints,
    pub revoked: RevocationList,
    pub throttle: LoginThrottle,
    pub sids: SidGenerator,
    /// The last `/healthz` probe of the state directory.
    pub health: crate::ops::HealthProbe,
    /// Password hashes computed since start: lets tests prove that a throttled
    /// attempt costs no hashing.
    pub password_checks: u64,
    /// Where the config and the session keys came from, for [`App::reload`].
    pub(crate) sources: Sources,
}

/// Where the config and the session keys were read from at start, so that a
/// reload reads the same places in the same way.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    /// `--config`; `None` is the embedded development config.
    pub config: Option<PathBuf>,
    /// `--listen`, which overrides config and environment.
    pub listen: Option<String>,
    /// `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`), whose `session-key` wins.
    pub credentials: Option<PathBuf>,
    /// The key file of the config at start; a reload keeps reading this one.
    pub key_file: PathBuf,
    /// The address served (known once bound): a reload must not bring the demo
    /// user onto a public one either.
    pub listening_on: Option<std::net::SocketAddr>,
}

impl Sources {
    /// The config: the file (or the embedded default), then the environment
    /// `vars` (`TRACKSD_LISTEN`, `TRACKSD_STATE_DIR`), then `--listen`; the
    /// host rule also serves the machine's hostname as the kernel reports it now.
    pub fn load_config(
        &self,
        vars: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, StartupError> {
        let mut config = match &self.config {
            Some(path) => config::load_file(path)?,
            None => config::parse(config::EMBEDDED_DEFAULT, config::EMBEDDED_NAME)?,
        };
        crate::users_file::load_into(&mut config)?;
        config::apply_env(&mut config, vars)?;
        if let Some(listen) = &self.listen {
            config.listen = config::parse_listen(listen)
                .map_err(|r| StartupError::Usage(format!("--listen: {r}")))?;
        }
        let hosts = std::mem::take(&mut config.server.allowed_hosts);
        config.server.allowed_hosts = hosts.with_hostname(crate::hosts::read_hostname().as_deref());
        Ok(config)
    }
}

/// Creates the state directory if missing and refuses one that others can
/// write to (they could plant symlinks where we write). Idempotent: the command
/// line calls it before the session key is created in it, [`App::open`] again.
pub fn prepare_state_dir(dir: &std::path::Path) -> Result<(), StartupError> {
    let state_error = |reason: String| {
        StartupError::State(FileError {
            path: dir.to_path_buf(),
            reason,
        })
    };
    crate::state_file::ensure_dir(dir).map_err(|e| state_error(format!("cannot create: {e}")))?;
    crate::state_file::check_dir_mode(dir).map_err(state_error)
}

impl App {
    /// Builds the state for `config` with the session `secrets` (oldest first),
    /// opening the stores under `state_dir`. `now_ms` prunes expired revocations.
    pub fn open(config: Config, secrets: &[String], now_ms: u64) -> Result<App, StartupError> {
        let state_error = |reason: String| {
            StartupError::State(FileError {
                path: config.state_dir.clone(),
                reason,
            })
        };
        prepare_state_dir(&config.state_dir)?;
        let revoked = RevocationList::open(&config.state_dir, config.session.max_age_secs, now_ms)
            .map_err(StartupError::State)?;
        let cookies = SessionCookies::new(secrets, config.session.clone())
            .ok_or_else(|| state_error("no session keys".into()))?;
        let key_file = config.key_file();
        let mut seed = [0u8; 32];
        crate::random::fill(&mut seed).map_err(|e| state_error(format!("no random bytes: {e}")))?;
        let tracks = FileStore::open(&config.state_dir, config.tracks.max_tracks)
            .map_err(StartupError::State)?
            .with_max_bytes(config.tracks.max_catalogue_bytes);
        for temp in tracks.removed_temps() {
            eprintln!(
                "tracksd: removed {} left by an interrupted write",
                temp.display()
            );
        }
        let fingerprints = crate::fingerprint::Fingerprints::new(secrets, &config.users);
        Ok(App {
            config,
            tracks: Box::new(tracks),
            cookies,
            fingerprints,
            revoked,
            throttle: LoginThrottle::default(),
            sids: SidGenerator::new(seed),
            health: crate::ops::HealthProbe::default(),
            password_checks: 0,
            sources: Sources {
                key_file,
                ..Sources::default()
            },
        })
    }

    /// Re-reads the config and the session keys from where they came from at
    /// start (`self.sources`, with the environment `vars` applied as at start)
    /// and swaps in what can change while serving: the users, the session keys,
    /// and the settings requests read as they come ([`Changes::applied`]).
    /// Connections, sessions, throttle counters and tracks stay as they are.
    /// Settings that only a restart applies are named in the summary when they
    /// changed, and ignored.
    ///
    /// Returns the one line to log. On any error (naming file, key and reason)
    /// nothing is changed; a key file is never created here.
    pub(crate) fn reload(
        &mut self,
        vars: impl Fn(&str) -> Option<String>,
    ) -> Result<String, StartupError> {
        let new = self.sources.load_config(vars)?;
        if let Some(addr) = self.sources.listening_on {
            crate::demo::refuse_public(&new, addr)?;
        }
        let keys =
            crate::keys::load_existing(&self.sources.key_file, self.sources.credentials.as_deref())
                .map_err(StartupError::Keys)?;
        let cookies =
            SessionCookies::new(&keys.secrets, self.config.session.clone()).ok_or_else(|| {
                StartupError::Keys(FileError {
                    path: keys.source.clone(),
                    reason: "no keys".into(),
                })
            })?;

        let changes = Changes::between(&self.config, &new);
        let mut summary = format!(
            "tracksd: reloaded {}: {} user(s) (was {}); {}",
            new.source,
            new.users.len(),
            self.config.users.len(),
            keys.origin_line().trim_start_matches("tracksd: ")
        );
        if !changes.applied.is_empty() {
            summary.push_str(&format!("; applied: {}", changes.applied.join(", ")));
        }
        if !changes.ignored.is_empty() {
            summary.push_str(&format!(
                "; changed but ignored until a restart: {}",
                changes.ignored.join(", ")
            ));
        }
        for warning in &keys.warnings {
            summary.push_str(&format!("; warning: {}: {warning}", keys.source.display()));
        }
        let server = &mut self.config.server;
        server.allowed_hosts = new.server.allowed_hosts;
        server.trusted_proxies = new.server.trusted_proxies;
        server.health_probe_interval_ms = new.server.health_probe_interval_ms;
        self.config.docs = new.docs;
        self.config.ui = new.ui;
        // Users and keys together: every fingerprint is of a current hash under a current key.
        self.fingerprints = crate::fingerprint::Fingerprints::new(&keys.secrets, &new.users);
        self.config.users = new.users;
        self.cookies = cookies;
        Ok(summary)
    }
}

/// What a reload changes, named per key.
struct Changes {
    /// Keys every request reads afresh from `App::config`, so a reload applies
    /// them at once: `[server] allowed_hosts` (and the hostname it serves),
    /// `trusted_proxies`, `health_probe_interval_ms`, `[docs]` and `[ui]`.
    applied: Vec<String>,
    /// Keys the edge or the stores were built from at start (the listener, its
    /// thread pools and timeouts, the state files, the cookie format): only a
    /// restart applies them.
    ignored: Vec<String>,
}

impl Changes {
    fn between(old: &Config, new: &Config) -> Changes {
        let name = |changed: bool, key: &str| changed.then(|| key.to_owned());
        let (o, n) = (&old.server, &new.server);
        let hosts = (&o.allowed_hosts, &n.allowed_hosts);
        let applied = [
            name(
                hosts.0.entries() != hosts.1.entries(),
                "server.allowed_hosts",
            ),
            (hosts.0.hostname() != hosts.1.hostname())
                .then(|| format!("hostname {}", hosts.1.hostname().unwrap_or("(none)"))),
            name(
                o.trusted_proxies != n.trusted_proxies,
                "server.trusted_proxies",
            ),
            name(
                o.health_probe_interval_ms != n.health_probe_interval_ms,
                "server.health_probe_interval_ms",
            ),
            name(
                old.docs.swagger_ui_url != new.docs.swagger_ui_url,
                "docs.swagger_ui_url",
            ),
            name(old.ui != new.ui, "ui.enabled"),
        ];
        let ignored = [
            (old.listen != new.listen).then(|| format!("listen {}", new.listen)),
            (old.state_dir != new.state_dir)
                .then(|| format!("state_dir {}", new.state_dir.display())),
            name(old.tracks != new.tracks, "[tracks]"),
            name(old.session != new.session, "[session]"),
            name(
                o.idle_timeout_ms != n.idle_timeout_ms,
                "server.idle_timeout_ms",
            ),
            name(o.ballast != n.ballast, "server.ballast"),
            name(o.login_threads != n.login_threads, "server.login_threads"),
            name(o.login_queue != n.login_queue, "server.login_queue"),
        ];
        Changes {
            applied: applied.into_iter().flatten().collect(),
            ignored: ignored.into_iter().flatten().collect(),
        }
    }
}

#[cfg(test)]
mod tests;
