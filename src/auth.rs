//! Login, logout and "who is this": the session handlers and the login check
//! that other handlers call as plain control flow.

use crate::app::App;
use crate::http::{Body, Request, Response};
use crate::params::Params;
use crate::passwords;
use crate::session::{IncomingCookie, Session};
use crate::validation::{ErrorItem, unprocessable};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};

/// The logged-in session of a request, or the 401 to answer with.
///
/// A bad, expired or revoked cookie gets the same 401 as no cookie, plus a
/// `Set-Cookie` that clears it, so the client stops sending it.
pub fn authenticate(app: &App, req: &Request) -> Result<Session, Response> {
    // Built only when needed: most requests that get here are logged in.
    let not_authenticated = || {
        Response::detail(401, "Not authenticated")
            .with_header("WWW-Authenticate", "APIKey")
            .with_header("Vary", "Cookie")
    };
    match app.cookies.read(req) {
        IncomingCookie::Absent => Err(not_authenticated()),
        IncomingCookie::Signed(s) if is_current(app, &s) => Ok(s),
        IncomingCookie::Signed(_) | IncomingCookie::Invalid => {
            Err(not_authenticated().with_header("Set-Cookie", app.cookies.clear_cookie()))
        }
    }
}

/// A well-signed session is current if its user still exists and it is not revoked.
fn is_current(app: &App, s: &Session) -> bool {
    app.config.users.iter().any(|u| u.username == s.username)
        && !app.revoked.is_revoked(&s.sid, &s.username, s.iat)
}

/// `GET /users/me`.
pub fn me(app: &App, req: &Request) -> Response {
    match authenticate(app, req) {
        Ok(s) => {
            #[derive(serde::Serialize)]
            struct Me<'a> {
                username: &'a str,
            }
            Response::json(
                200,
                &Me {
                    username: &s.username,
                },
            )
            .with_header("Vary", "Cookie")
        }
        Err(r) => r,
    }
}

/// `POST /login` with the form fields `username` and `password`.
pub fn login(app: &mut App, req: &Request) -> Response {
    let form = match (&req.body, req.content_type().as_deref()) {
        (Body::Bytes(b), Some("application/x-www-form-urlencoded")) => Params::parse(b),
        // FastAPI reads a JSON (or any other) body as an empty form.
        _ => Params::default(),
    };
    // As in FastAPI, an empty form value counts as missing.
    let field = |name| form.get(name).filter(|v| !v.is_empty());
    let (username, password) = (field("username"), field("password"));
    let missing: Vec<ErrorItem> = [("username", username), ("password", password)]
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(name, _)| ErrorItem::missing(&["body", name], Value::Null))
        .collect();
    let (Some(username), Some(password)) = (username, password) else {
        return unprocessable(&missing);
    };

    let addr = client_addr(app, req);
    if let Some(secs) = app.throttle.refused_for_secs(addr, username, req.now_ms) {
        return Response::detail(429, "Too many login attempts")
            .with_header("Retry-After", secs.to_string());
    }
    let user = app.config.users.iter().find(|u| u.username == username);
    // Unknown users are checked against a dummy hash so the time taken does not
    // tell which usernames exist.
    let hash = user.map_or(passwords::dummy_hash(), |u| &u.password_hash);
    app.password_checks += 1;
    let ok = passwords::verify(hash, password) && user.is_some();
    if !ok {
        app.throttle.failed(addr, username, req.now_ms);
        eprintln!("{}", failed_login_line(addr, username));
        return Response::detail(401, "Incorrect username or password");
    }
    app.throttle.succeeded(addr, username);
    let session = Session {
        username: username.to_owned(),
        sid: app.sids.next_sid(),
        iat: req.now_ms,
    };
    Response::json(200, &json!({ "success": true }))
        .with_header(
            "Set-Cookie",
            app.cookies.set_cookie(&session, req.now_ms / 1000),
        )
        .with_header("Vary", "Cookie")
}

/// `POST /logout[?all=true]`: revokes this session (or all of the user's) and
/// clears the cookie. Without a valid session it is a no-op that still succeeds.
pub fn logout(app: &mut App, req: &Request) -> Response {
    let all = match Params::parse(req.query.as_bytes()).get("all") {
        None => false,
        Some(v) => match crate::validation::parse_bool(v) {
            Some(b) => b,
            None => {
                return unprocessable(&[ErrorItem::bool_parsing(
                    &["query", "all"],
                    Value::from(v),
                )]);
            }
        },
    };
    let success = Response::json(200, &json!({ "success": true })).with_header("Vary", "Cookie");
    let Ok(session) = authenticate(app, req) else {
        return success;
    };
    let saved = if all {
        app.revoked.revoke_all(&session.username, req.now_ms)
    } else {
        app.revoked
            .revoke(&session.sid, &session.username, session.iat, req.now_ms)
    };
    match saved {
        Ok(()) => success.with_header("Set-Cookie", app.cookies.clear_cookie()),
        // The session stays revoked in memory; the client learns it was not made durable.
        Err(e) => {
            eprintln!("error: cannot save revoked sessions: {e}");
            Response::detail(503, "Storage unavailable")
        }
    }
}

/// The client's address: the TCP peer, or the last `X-Forwarded-For` hop when the
/// peer is a trusted proxy.
pub fn client_addr(app: &App, req: &Request) -> IpAddr {
    let peer = req.peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if !app.config.trusted_proxies.contains(&peer) {
        return peer;
    }
    req.header("x-forwarded-for")
        .and_then(|h| h.rsplit(',').next())
        .and_then(|hop| hop.trim().parse().ok())
        .unwrap_or(peer)
}

/// The CSRF rule for state-changing requests: an `Origin` that names another
/// host[:port] than `Host` is refused. Requests without `Origin` (curl) pass.
pub fn cross_origin_refusal(req: &Request) -> Option<Response> {
    let origin = req.header("origin")?;
    let origin_authority = origin
        .split_once("://")
        .map(|(scheme, rest)| (scheme, rest.split('/').next().unwrap_or("")));
    let same = match (origin_authority, req.header("host")) {
        (Some((scheme, authority)), Some(host)) => {
            normalise(scheme, authority).eq_ignore_ascii_case(normalise(scheme, host.trim()))
        }
        _ => false,
    };
    (!same).then(|| Response::detail(403, "Cross-origin request refused"))
}

/// Drops the scheme's default port, so `http://h` and `Host: h:80` match.
fn normalise<'a>(scheme: &str, authority: &'a str) -> &'a str {
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return authority,
    };
    authority.strip_suffix(default).unwrap_or(authority)
}

/// Longest username (in characters) quoted in a failed-login line; the rest is cut
/// so that a 16 KiB form cannot make a journal entry that journald splits in two.
const LOGGED_USERNAME_CHARS: usize = 64;

/// The log line for a failed login (wrong password or unknown user), for fail2ban:
///
/// ```text
/// tracksd: failed login from 192.0.2.7 for user "alice"
/// ```
///
/// The address comes first and is the client address (`client_addr`, IPv4-mapped
/// IPv6 written as IPv4, so a firewall bans the address the client really uses).
/// The username follows in double quotes, escaped so that it can neither end the
/// quotes nor the line: `"` is written `\"`, `\` is `\\`, printable ASCII and the
/// space stay as they are, and every other character (control characters such as a
/// newline, non-ASCII) is written `\u{hex}`. A username longer than 64 characters
/// is cut to 64 and followed by `...` inside the quotes. No password, cookie or hash
/// is ever part of it. `config/fail2ban/filter.d/tracksd.conf` matches exactly this.
pub(crate) fn failed_login_line(addr: IpAddr, username: &str) -> String {
    let mut line = format!(
        "tracksd: failed login from {} for user \"",
        addr.to_canonical()
    );
    for (i, c) in username.chars().enumerate() {
        if i == LOGGED_USERNAME_CHARS {
            line.push_str("...");
            break;
        }
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            ' '..='~' => line.push(c),
            _ => line.extend(c.escape_unicode()),
        }
    }
    line.push('"');
    line
}

#[cfg(test)]
mod tests;
