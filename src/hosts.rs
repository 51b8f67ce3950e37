//! Which `Host` a request may name: the defence against DNS rebinding.
//!
//! A web page whose name is made to resolve to this device's address can drive
//! the API from a visitor's browser, and the CSRF origin check passes because
//! `Origin` and `Host` both carry the attacker's name. What the attacker cannot
//! choose is a name that public DNS does not resolve for it: an IP literal,
//! `localhost`, a name without a dot (public DNS has none), the machine's own
//! hostname, and names under the suffixes that only a home network resolves
//! ([`HOME_SUFFIXES`]: mDNS's `.local`, RFC 8375's `.home.arpa`, ICANN's
//! reserved `.internal`, and the customary `.lan`). Those are always served
//! (dotless names only while `[server] allowed_hosts` is empty); any other name
//! only if `allowed_hosts` lists it.

/// Domains whose names only a local network resolves, so a rebinding attacker
/// (who needs a name in public DNS) cannot use them: a name under one of these
/// is served without being listed.
pub const HOME_SUFFIXES: &[&str] = &["local", "home.arpa", "internal", "lan"];

/// Longest refused `Host` value quoted in a 421 body or log line: a valid name
/// has at most 253 characters, so only a hostile value is ever cut.
const SHOWN_CHARS: usize = 253;

/// `[server] allowed_hosts`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    /// Lower-case names without a trailing dot; a leading dot means "this
    /// domain and every name under it" (as in Django's `ALLOWED_HOSTS`).
    entries: Vec<String>,
    /// The machine's hostname (lower case, no trailing dot), read at start and
    /// at each reload: the name a LAN's DHCP server or mDNS announces for it.
    hostname: Option<String>,
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
        Ok(AllowedHosts {
            entries: parsed,
            hostname: None,
        })
    }

    /// The same list, also serving `hostname` (the machine's name, see
    /// [`read_hostname`]); a name that is not a host name is ignored.
    pub fn with_hostname(mut self, hostname: Option<&str>) -> AllowedHosts {
        self.hostname = hostname
            .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|h| is_host_name(h));
        self
    }

    /// The hostname served, if one was found.
    pub fn hostname(&self) -> Option<&str> {
        self.hostname.as_deref()
    }

    /// The configured entries, normalised (lower case, a leading `.` kept).
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// The rule in words, for `check-config`: which names are served.
    pub fn describe(&self) -> String {
        let hostname = match &self.hostname {
            Some(h) => format!("this machine's hostname {h:?}, "),
            None => "no hostname (none could be read), ".to_owned(),
        };
        let suffixes: Vec<String> = HOME_SUFFIXES.iter().map(|s| format!("*.{s}")).collect();
        let (dotless, listed) = if self.entries.is_empty() {
            ("names without a dot, ", "none".to_owned())
        } else {
            ("", self.entries.join(", "))
        };
        format!(
            "hosts served: IP literals, localhost, {dotless}{hostname}names under {}; \
             [server] allowed_hosts: {listed}; any other Host gets 421",
            suffixes.join(", ")
        )
    }

    /// Whether a request with these `Host` header values may be served. No
    /// `Host` (HTTP/1.0) is served: browsers always send one. Two different
    /// ones are not.
    pub fn check<'a>(&self, mut hosts: impl Iterator<Item = &'a str>) -> Result<(), Refused> {
        let Some(first) = hosts.next() else {
            return Ok(());
        };
        if hosts.any(|other| !other.trim().eq_ignore_ascii_case(first.trim())) {
            return Err(Refused::Several);
        }
        match host_part(first.trim()) {
            Some(Host::Ip) => Ok(()),
            Some(Host::Name(name)) if self.permits_name(&name) => Ok(()),
            Some(Host::Name(name)) => Err(Refused::Name(shown(&name))),
            None => Err(Refused::Invalid(shown(first.trim()))),
        }
    }

    /// [`AllowedHosts::check`] as a yes or no.
    pub fn permit<'a>(&self, hosts: impl Iterator<Item = &'a str>) -> bool {
        self.check(hosts).is_ok()
    }

    fn permits_name(&self, name: &str) -> bool {
        name == "localhost"
            || (!name.contains('.') && self.entries.is_empty())
            || self.hostname.as_deref() == Some(name)
            || HOME_SUFFIXES.iter().any(|s| is_under(name, s))
            || self.entries.iter().any(|e| match e.strip_prefix('.') {
                Some(domain) => name == domain || is_under(name, domain),
                None => name == e,
            })
    }
}

/// Whether `name` is a name under `domain` (not `domain` itself).
fn is_under(name: &str, domain: &str) -> bool {
    name.strip_suffix(domain)
        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
}

/// Why a request's `Host` was refused, with the value quoted safely (see [`shown`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A well-formed name that is not served (lower case, without port or trailing dot).
    Name(String),
    /// A value that is no host (a bad port, a space, a path…).
    Invalid(String),
    /// Two or more different `Host` headers.
    Several,
}

impl Refused {
    /// The 421 body's `detail`: names the host and, for a name, the key that allows it.
    pub fn detail(&self) -> String {
        match self {
            Refused::Name(name) => format!(
                "Misdirected request: host \"{name}\" is not allowed; \
                 add it to [server] allowed_hosts"
            ),
            Refused::Invalid(value) => {
                format!("Misdirected request: Host \"{value}\" is not a host name")
            }
            Refused::Several => "Misdirected request: different Host headers".to_owned(),
        }
    }

    /// What the access-log line of the 421 adds (one space first, no line break).
    pub fn log_note(&self) -> String {
        match self {
            Refused::Name(name) => format!(" (host \"{name}\" not allowed)"),
            Refused::Invalid(value) => format!(" (Host \"{value}\" invalid)"),
            Refused::Several => " (different Host headers)".to_owned(),
        }
    }
}

/// A `Host` value (attacker input) made safe to quote in JSON and in a log
/// line: the characters of a host and port stay as they are, every other one
/// (a quote, a backslash, a space, a control or non-ASCII character) is
/// written `\u{hex}`, and past [`SHOWN_CHARS`] characters it is cut and `...`
/// follows. So it can neither end the quotes, nor the line, nor fill the log.
fn shown(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == SHOWN_CHARS {
            out.push_str("...");
            break;
        }
        if c.is_ascii_alphanumeric() || "-._:[]".contains(c) {
            out.push(c);
        } else {
            out.extend(c.escape_unicode());
        }
    }
    out
}

/// The machine's hostname, as the kernel reports it. Under the unit's
/// `ProtectHostname=yes` this is still the real name (the service only may not
/// change it). `None` when it cannot be read (not Linux, no /proc).
pub fn read_hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty() && name != "(none)").then(|| name.to_owned())
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
mod tests;
