//! The demo user of the embedded development config (john, whose password the
//! README gives to everyone) is served on loopback only: at start, whatever
//! the listener (a socket systemd passes may be public whatever `listen` says),
//! and at reload.

use crate::config::{self, Config, ConfigError, EMBEDDED_DEFAULT, EMBEDDED_NAME};
use std::net::SocketAddr;

/// Why `config` must not be served on `addr`, if it must not: it has a user of
/// the embedded development config with that config's password hash (the demo
/// user john, whose password the README gives to everyone), and `addr` is
/// reachable from beyond this machine. The error names the file, `users` and
/// the way out.
pub(crate) fn refuse_public(config: &Config, addr: SocketAddr) -> Result<(), ConfigError> {
    if addr.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    static DEMO: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    let demo = DEMO.get_or_init(|| {
        let users =
            config::parse(EMBEDDED_DEFAULT, EMBEDDED_NAME).map_or_else(|_| Vec::new(), |c| c.users);
        (users.into_iter())
            .map(|u| (u.username, u.password_hash.to_string()))
            .collect()
    });
    let Some(user) = config.users.iter().find(|u| {
        let hash = u.password_hash.to_string();
        demo.iter()
            .any(|(name, h)| *name == u.username && *h == hash)
    }) else {
        return Ok(());
    };
    let way_out = if config.source == EMBEDDED_NAME {
        "give --config FILE with your own users"
    } else {
        "remove it or give it another password"
    };
    Err(ConfigError {
        file: config.source.clone(),
        key: Some("users".into()),
        reason: format!(
            "the demo user {:?} (its password is in the README) would be served on {addr}, \
             which is not a loopback address; {way_out}, or listen on 127.0.0.1",
            user.username
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_demo_hash_off_loopback_is_refused() {
        let embedded = config::parse(EMBEDDED_DEFAULT, EMBEDDED_NAME).unwrap();
        for ok in [
            "127.0.0.1:8000",
            "[::1]:8000",
            "[::ffff:127.0.0.1]:80",
            "127.1.2.3:1",
        ] {
            assert_eq!(
                refuse_public(&embedded, ok.parse().unwrap()),
                Ok(()),
                "{ok}"
            );
        }
        for public in ["0.0.0.0:8000", "[::]:8000", "192.168.1.5:8000"] {
            let e = refuse_public(&embedded, public.parse().unwrap()).unwrap_err();
            assert_eq!(
                (e.file.as_str(), e.key.as_deref()),
                (EMBEDDED_NAME, Some("users"))
            );
            assert!(e.reason.contains("--config FILE"), "{}", e.reason);
        }
        // john with a password of the owner's own is no demo user.
        let own = EMBEDDED_DEFAULT.replace(
            &embedded.users[0].password_hash.to_string(),
            "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0c2FsdA$8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA",
        );
        let own = config::parse(&own, "own.toml").unwrap();
        assert_eq!(refuse_public(&own, "0.0.0.0:8000".parse().unwrap()), Ok(()));
    }
}
