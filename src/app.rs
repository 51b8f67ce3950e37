//! The application state the router works on, and how it is built at start.

use crate::config::Config;
use crate::errors::{FileError, StartupError};
use crate::revocation::RevocationList;
use crate::session::{SessionCookies, SidGenerator};
use crate::throttle::LoginThrottle;
use crate::track_file::FileStore;
use crate::tracks::TrackStore;

/// Everything a request may read or change. Only the handler loop's thread owns it.
pub struct App {
    pub config: Config,
    pub tracks: Box<dyn TrackStore + Send>,
    pub cookies: SessionCookies,
    pub revoked: RevocationList,
    pub throttle: LoginThrottle,
    pub sids: SidGenerator,
    /// The last `/healthz` probe of the state directory.
    pub health: crate::ops::HealthProbe,
    /// Password hashes computed since start: lets tests prove that a throttled
    /// attempt costs no hashing.
    pub password_checks: u64,
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
        Ok(App {
            config,
            tracks: Box::new(tracks),
            cookies,
            revoked,
            throttle: LoginThrottle::default(),
            sids: SidGenerator::new(seed),
            health: crate::ops::HealthProbe::default(),
            password_checks: 0,
        })
    }
}
