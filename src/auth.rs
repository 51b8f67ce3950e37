//! Login, logout and "who is this": the session handlers and the login check
//! that other handlers call as plain control flow.

use crate::app::App;
use crate::http::{Body, Request, Response};
use crate::params::Params;
use crate::passwords;
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

    // Throttle check, before any hashing. A client whose device cookie proves it
    // logged in as this user before is judged by its own failures only, so
    // failures from elsewhere cannot lock the owner out (see `throttle`).
    let device = app
        .cookies
        .read_device(req)
        .filter(|d| d.device_of == username);
    let attempt = Attempt {
        addr: client_addr(app, req),
        user: username,
        proven_device: device.as_ref().map(|d| d.device_id.as_str()),
    };
    if let Some(secs) = app.throttle.refused_for_secs(attempt, req.now_ms) {
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
        app.throttle.failed(attempt, req.now_ms);
        return Response::detail(401, "Incorrect username or password");
    }
    app.throttle.succeeded(attempt);
    let session = Session {
        username: username.to_owned(),
        sid: app.sids.next_sid(),
        iat: req.now_ms,
    };
    // The device cookie, (re)issued on every success so a device in use stays
    // proven; a known device keeps its id (and so its own failure counter).
    let device = device.unwrap_or_else(|| Device {
        device_of: username.to_owned(),
        device_id: app.sids.next_sid(),
    });
    let now_secs = req.now_ms / 1000;
    Response::json(200, &json!({ "success": true }))
        .with_header("Set-Cookie", app.cookies.set_cookie(&session, now_secs))
        .with_header(
            "Set-Cookie",
            app.cookies.set_device_cookie(&device, now_secs),
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

/// The scheme the client used: `http` (tiny_http speaks nothing else), or the
/// last `X-Forwarded-Proto` hop when the peer is a trusted proxy.
fn client_scheme(app: &App, req: &Request) -> String {
    let from_proxy = req
        .peer
        .is_some_and(|p| app.config.trusted_proxies.contains(&p));
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

#[cfg(test)]
mod tests;
