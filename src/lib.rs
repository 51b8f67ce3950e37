//! tracksd: a music-tracks catalogue with username/password login and signed
//! session cookies, served by one synchronous tiny-http loop.
//!
//! See ARCHITECTURE.md for the map; `main.rs` only calls [`cli::main`].

pub mod app;
pub(crate) mod auth;
pub(crate) mod backup;
pub mod cli;
pub mod config;
pub(crate) mod demo;
pub(crate) mod edge;
pub(crate) mod errors;
pub(crate) mod fingerprint;
pub(crate) mod hosts;
pub mod http;
pub(crate) mod keys;
pub(crate) mod ops;
pub mod params;
pub mod passwords;
pub(crate) mod random;
pub(crate) mod revocation;
pub mod router;
pub mod session;
pub mod signer;
pub(crate) mod state_file;
#[cfg(test)]
mod test_dir;
pub(crate) mod throttle;
pub(crate) mod track_file;
pub mod tracks;
pub(crate) mod ui;
pub(crate) mod users_file;
pub mod validation;

/// Huge allocations become lazily backed mappings (see `alloc.rs` for why).
#[global_allocator]
static GLOBAL: edge::alloc::LazyHugeAlloc = edge::alloc::LazyHugeAlloc;
