//! tracksd: a music-tracks catalogue with username/password login and signed
//! session cookies, served by one synchronous tiny-http loop.
//!
//! See ARCHITECTURE.md for the map; `main.rs` only calls [`cli::main`].

pub mod access_log;
pub mod alloc;
pub mod app;
pub mod auth;
pub mod ballast;
pub mod cli;
pub mod config;
pub mod errors;
pub mod framing;
pub mod http;
pub mod keys;
pub mod ops;
pub mod params;
pub mod passwords;
pub mod random;
pub mod revocation;
pub mod router;
pub mod sd_notify;
pub mod server;
pub mod session;
pub mod signals;
pub mod signer;
pub mod sockets;
pub mod state_file;
#[cfg(test)]
mod test_dir;
pub mod throttle;
pub mod track_file;
pub mod tracks;
pub mod validation;

/// Huge allocations become lazily backed mappings (see `alloc.rs` for why).
#[global_allocator]
static GLOBAL: alloc::LazyHugeAlloc = alloc::LazyHugeAlloc;
