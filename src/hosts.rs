//! Which `Host` a request may name: the defence against DNS rebinding.
//!
//! A web page whose name is made to resolve to this device's address can drive
//! the API from a visitor's browser, and the CSRF origin check passes because
//! `Origin` and `Host` both carry the attacker's name. What the attacker cannot
//! choose is a name it does not own: an IP literal, `localhost`, or a name
//! without a dot (public DNS has none). Those are always served; any other name
//! only if `[server] allowed_hosts` lists it.

/// `[server] allowed_hosts`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    /// Lower-case names without a trailing dot; a leading dot means "this
    /// domain and every name under it" (as in Django's `ALLOWED_HOSTS`).
    entries: Vec<String>,
}

impl AllowedHosts {
    /// Parses the configured entries; the error names the entry and the reason.
    pub fn parse(entries: &[String]) -> Result<AllowedHosts, String> {
        let mut parsed = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let name = entry.strip_prefix('.').unwrap_or(entry);
            let name = name.strip_suffix('.').unwrap_or(name);
            if !is_host_name(name) {
                return Err(format!(
                    "entry {}: {entry:?} is not a host name (letters, digits, '-' and '.'; \
                     no scheme, port or path; a leading '.' allows the subdomains too)",
                    i + 1
                ));
            }
            let dot = if entry.starts_with('.') { "." } else { "" };
            parsed.push(format!("{dot}{}", name.to_ascii_lowercase()));
        }
        Ok(AllowedHosts { entries: parsed })
    }

    /// Whether a request with these `Host` header values may be served. No
    /// `Host` (HTTP/1.0) is served: browsers always send one. Two different
    /// ones are not.
    pub fn permit<'a>(&self, mut hosts: impl Iterator<Item = &'a str>) -> bool {
        let Some(first) = hosts.next() else {
            return true;
        };
        if hosts.any(|other| !other.trim().eq_ignore_ascii_case(first.trim())) {
            return false;
        }
        match host_part(first.trim()) {
            Some(Host::Ip) => true,
            Some(Host::Name(name)) => self.permits_name(&name),
            None => false,
        }
    }

    fn permits_name(&self, name: &str) -> bool {
        name == "localhost"
            || (!name.contains('.') && self.entries.is_empty())
            || self.entries.iter().any(|e| match e.strip_prefix('.') {
                Some(domain) => {
                    name == domain
                        || name
                            .strip_suffix(domain)
                            .is_some_and(|sub| sub.ends_with('.'))
                }
                None => name == e,
            })
    }
}

enum Host {
    Ip,
    /// Lower-cased, without port and trailing dot.
    Name(String),
}

/// The host of a `Host` value (`name`, `name:port`, `1.2.3.4:80`, `[::1]:80`).
fn host_part(value: &str) -> Option<Host> {
    if let Some(rest) = value.strip_prefix('[') {
        let (ip, port) = rest.split_once(']')?;
        ip.parse::<std::net::Ipv6Addr>().ok()?;
        return port_ok(port).then_some(Host::Ip);
    }
    let (host, port) = match value.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (value, None),
    };
    if port.is_some_and(|p| !port_ok(&format!(":{p}"))) {
        return None;
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some(Host::Ip);
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    is_host_name(name).then(|| Host::Name(name.to_ascii_lowercase()))
}

/// Empty, or `:` and 1–5 digits.
fn port_ok(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Dot-separated labels of letters, digits and `-` (underscores too, which some
/// LAN names carry), 1–63 characters each, at most 253 in all.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn permits(a: &AllowedHosts, host: &str) -> bool {
        a.permit(std::iter::once(host))
    }

    #[test]
    fn without_a_list_ip_literals_localhost_and_dotless_names_pass() {
        let a = allowed(&[]);
        for ok in [
            "127.0.0.1:8000",
            "192.168.1.5",
            "[::1]:8000",
            "localhost:8000",
            "LOCALHOST",
            "localhost.",
            "raspberrypi",
            "x",
        ] {
            assert!(permits(&a, ok), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:8000",
            "pi.local",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "",
            "a b",
            "host:port",
            "[::1",
            "1.2.3.4:123456",
        ] {
            assert!(!permits(&a, refused), "{refused}");
        }
        assert!(a.permit(std::iter::empty()));
    }

    #[test]
    fn a_list_allows_its_names_and_domains_only() {
        let a = allowed(&["Pi.Local", ".example.org"]);
        for ok in [
            "pi.local:8000",
            "PI.LOCAL.",
            "example.org",
            "tracks.example.org:443",
            "127.0.0.1",
            "localhost",
        ] {
            assert!(permits(&a, ok), "{ok}");
        }
        for refused in ["evil.example", "badexample.org", "raspberrypi", "local"] {
            assert!(!permits(&a, refused), "{refused}");
        }
    }

    #[test]
    fn two_different_hosts_are_refused() {
        let a = allowed(&[]);
        assert!(!a.permit(["localhost", "evil.example"].into_iter()));
        assert!(!a.permit(["localhost", "127.0.0.1"].into_iter()));
        assert!(a.permit(["localhost:8000", "LOCALHOST:8000"].into_iter()));
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in ["http://pi.local", "pi.local:8000", "", ".", "*", "pi/local"] {
            let e = AllowedHosts::parse(&["ok".into(), bad.into()]).unwrap_err();
            assert!(e.starts_with("entry 2: "), "{e}");
        }
    }
}
