//! Login, logout and "who is this": the session handlers and the login check
//! that other handlers call as plain control flow.

use crate::app::App;
use crate::http::{Body, Request, Response};
use crate::params::Params;
use crate::passwords::{self, PasswordCheck};
use crate::session::{Device, IncomingCookie, Session};
use crate::throttle::Attempt;
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

/// A well-signed session is current if its user still exists with the password
/// hash it logged in with (its fingerprint matches) and it is not revoked.
fn is_current(app: &App, s: &Session) -> bool {
    app.fingerprints.matches(&s.username, &s.fp)
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

/// The form fields of a login, or the 422 for missing ones. As in FastAPI, an
/// empty value counts as missing, and a JSON (or any other) body as an empty form.
fn login_fields(req: &Request) -> Result<(String, String), Response> {
    let form = match (&req.body, req.content_type().as_deref()) {
        (Body::Bytes(b), Some("application/x-www-form-urlencoded")) => Params::parse(b),
        _ => Params::default(),
    };
    let field = |name| form.get(name).filter(|v| !v.is_empty());
    let (username, password) = (field("username"), field("password"));
    let missing: Vec<ErrorItem> = [("username", username), ("password", password)]
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(name, _)| ErrorItem::missing(&["body", name], Value::Null))
        .collect();
    match (username, password) {
        (Some(u), Some(p)) => Ok((u.to_owned(), p.to_owned())),
        _ => Err(unprocessable(&missing)),
    }
}

/// The hash to check a login's password against. Unknown users are checked
/// against a dummy hash so the time taken does not tell which usernames exist.
fn hash_for<'a>(app: &'a App, username: &str) -> &'a passwords::PasswordHash {
    app.config
        .users
        .iter()
        .find(|u| u.username == username)
        .map_or(passwords::dummy_hash(), |u| &u.password_hash)
}

/// The device cookie of `req`, if it proves the client logged in as `username`
/// before: then only that device's own failures can lock it out (see `throttle`).
fn proven_device(app: &App, req: &Request, username: &str) -> Option<Device> {
    app.cookies
        .read_device(req)
        .filter(|d| d.device_of == username)
}

fn attempt<'a>(addr: IpAddr, user: &'a str, device: &'a Option<Device>) -> Attempt<'a> {
    Attempt {
        addr,
        user,
        proven_device: device.as_ref().map(|d| d.device_id.as_str()),
    }
}

/// The slow half of a login, to be run off the handler loop, for a login that
/// gets as far as hashing (fields present, throttle not refusing); `None` when
/// [`login`] answers without a hash. The attempt then counts against the
/// throttle until [`login`] answers it with the verdict attached, or
/// [`abandon_login`] gives it up.
pub fn password_check(app: &mut App, req: &Request) -> Option<PasswordCheck> {
    let (username, password) = login_fields(req).ok()?;
    let device = proven_device(app, req, &username);
    let a = attempt(client_addr(app, req), &username, &device);
    if app.throttle.refused_for_secs(a, req.now_ms).is_some() {
        return None;
    }
    app.throttle.begin(a, req.now_ms);
    Some(
        PasswordCheck::new(hash_for(app, &username).clone(), &password)
            .for_proven_device(device.is_some()),
    )
}

/// A login whose [`password_check`] could not be run (no room to queue it).
pub fn abandon_login(app: &mut App, req: &Request) {
    if let Ok((username, _)) = login_fields(req) {
        let device = proven_device(app, req, &username);
        let a = attempt(client_addr(app, req), &username, &device);
        app.throttle.end(a);
    }
}

/// `POST /login` with the form fields `username` and `password`. With
/// `req.password_verdict` set, the hash was already checked off the loop (and the
/// attempt counted in flight); without it, it is checked here.
pub fn login(app: &mut App, req: &Request) -> Response {
    let (username, password) = match login_fields(req) {
        Ok(fields) => fields,
        Err(r) => return r,
    };
    let device = proven_device(app, req, &username);
    let a = attempt(client_addr(app, req), &username, &device);
    let verdict = match req.password_verdict {
        Some(v) => {
            app.throttle.end(a);
            v
        }
        None => {
            // Before any hashing.
            if let Some(secs) = app.throttle.refused_for_secs(a, req.now_ms) {
                return Response::detail(429, "Too many login attempts")
                    .with_header("Retry-After", secs.to_string());
            }
            PasswordCheck::new(hash_for(app, &username).clone(), &password).run()
        }
    };
    app.password_checks += 1;
    // A known user's fingerprint; `None` (a 401 like a wrong password) for an unknown one.
    let fp = app
        .fingerprints
        .for_new_session(&username)
        .map(str::to_owned);
    // Against the hash the user has now: a reload during an off-loop check may have
    // changed it, and the old password must not open a session of the new one.
    let matched = verdict.matched_hash(hash_for(app, &username));
    let (true, Some(fp)) = (matched, fp) else {
        app.throttle.failed(a, req.now_ms);
        eprintln!("{}", failed_login_line(a.addr, &username));
        return Response::detail(401, "Incorrect username or password");
    };
    app.throttle.succeeded(a);
    let session = Session {
        username: username.clone(),
        sid: app.sids.next_sid(),
        iat: req.now_ms,
        fp,
    };
    // The device cookie, (re)issued on every success so a device in use stays
    // proven; a known device keeps its id (and so its own failure counter).
    let device = device.unwrap_or_else(|| Device {
        device_of: username.to_owned(),
        device_id: app.sids.next_sid(),
    });
    let now_secs = req.now_ms / 1000;
    // The session cookie last: clients that keep headers in a map (a generated
    // OpenAPI client does) keep the last Set-Cookie, and it is the one they need.
    Response::json(200, &json!({ "success": true }))
        .with_header(
            "Set-Cookie",
            app.cookies.set_device_cookie(&device, now_secs),
        )
        .with_header("Set-Cookie", app.cookies.set_cookie(&session, now_secs))
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
    if !app.config.server.trusted_proxies.contains(&peer) {
        return peer;
    }
    req.header("x-forwarded-for")
        .and_then(|h| h.rsplit(',').next())
        .and_then(|hop| hop.trim().parse().ok())
        .unwrap_or(peer)
}

/// The scheme the client used: `http` (the server speaks nothing else), or the
/// last `X-Forwarded-Proto` hop when the peer is a trusted proxy.
fn client_scheme(app: &App, req: &Request) -> String {
    let from_proxy = req
        .peer
        .is_some_and(|p| app.config.server.trusted_proxies.contains(&p));
    from_proxy
        .then(|| req.header("x-forwarded-proto"))
        .flatten()
        .and_then(|h| h.rsplit(',').next())
        .map_or_else(|| "http".to_owned(), |s| s.trim().to_ascii_lowercase())
}

/// The CSRF rule for state-changing requests: the `Origin` must name the scheme,
/// host and port the request arrived on; two different `Origin`s are refused.
/// Requests without `Origin` (curl) pass.
pub fn cross_origin_refusal(app: &App, req: &Request) -> Option<Response> {
    let mut origins = req.header_values("origin");
    let origin = origins.next()?;
    let same = origins.all(|other| other == origin)
        && is_same_origin(origin.trim(), &client_scheme(app, req), req.header("host"));
    (!same).then(|| Response::detail(403, "Cross-origin request refused"))
}

fn is_same_origin(origin: &str, scheme: &str, host: Option<&str>) -> bool {
    let (Some((origin_scheme, authority)), Some(host)) = (origin.split_once("://"), host) else {
        return false;
    };
    origin_scheme.eq_ignore_ascii_case(scheme)
        && !authority.contains('/')
        && normalise(scheme, authority).eq_ignore_ascii_case(normalise(scheme, host.trim()))
}

/// Drops the scheme's default port, so `http://h` and `Host: h:80` match.
fn normalise<'a>(scheme: &str, authority: &'a str) -> &'a str {
    let default = match scheme {
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
