//! The application state the router works on, and how it is built at start.

use crate::config::Config;
use crate::errors::StartupError;
use crate::tracks::{MemoryStore, Track, TrackStore};

/// Everything a request may read or change.
pub struct App {
    pub config: Config,
    pub tracks: Box<dyn TrackStore + Send>,
}

impl App {
    /// Builds the state for `config`: opens the stores under `state_dir`.
    pub fn open(config: Config) -> Result<App, StartupError> {
        let tracks = MemoryStore::new(Track::seed(), config.tracks.max_tracks);
        Ok(App {
            config,
            tracks: Box::new(tracks),
        })
    }
}
