//! The route table and the pure request → response function.
//!
//! Architecture invariant: nothing here touches a socket, a clock or tiny-http;
//! [`handle`] is a function of the request value and the application state.

use crate::app::App;
use crate::auth;
use crate::http::{Body, Method, Request, Response};
use crate::params::{Params, percent_decode};
use crate::passwords::PasswordCheck;
use crate::tracks::{StoreError, Track, artist_key, search_key};
use crate::validation::{ErrorItem, out_of_bounds, parse_wide_int, saturate, unprocessable};
use serde_json::Value;

/// Which handler a path leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Hello,
    Tracks,
    Track,
    Login,
    Me,
    Logout,
    Healthz,
    OpenApi,
    Docs,
    Favicon,
    Export,
    Ui,
    UiAsset,
    UiBare,
}

/// One row of the route table.
#[derive(Debug)]
pub struct Route {
    /// The path, with `{name}` for a one-segment parameter (OpenAPI style).
    pub pattern: &'static str,
    pub endpoint: Endpoint,
    /// Every method the path accepts, as listed in `Allow`.
    pub methods: &'static [&'static str],
    /// For each method but HEAD (answered as GET), every status its handler can
    /// answer besides [`EDGE_STATUSES`]; `/openapi.json` documents exactly these.
    pub statuses: &'static [(&'static str, &'static [u16])],
    /// Whether `/openapi.json` lists it (FastAPI hides its docs routes too).
    pub documented: bool,
}

/// Statuses any request can get, whatever its route: 400 bad framing, 413 body
/// too large, 421 host not served, 431 headers too large, 500 handler panic,
/// 503 no helper thread or queue slot free.
pub const EDGE_STATUSES: &[u16] = &[400, 413, 421, 431, 500, 503];

// 404 on the tracks, users, login and logout operations mirrors the original
// FastAPI routers' `responses={404: ...}`, which its clients were generated from.

/// The one route table: every path the service answers.
pub const ROUTES: &[Route] = &[
    Route {
        pattern: "/",
        endpoint: Endpoint::Hello,
        methods: &["GET", "HEAD"],
        statuses: &[("GET", &[200, 303])],
        documented: true,
    },
    Route {
        pattern: "/tracks",
        endpoint: Endpoint::Tracks,
        methods: &["GET", "HEAD", "POST", "PUT"],
        statuses: &[
            ("GET", &[200, 401, 404, 422]),
            ("POST", &[200, 401, 403, 404, 409, 422, 507]),
            ("PUT", &[200, 401, 403, 422, 507]),
        ],
        documented: true,
    },
    // Before `/tracks/{track_id}`, which would take `export` as an id.
    Route {
        pattern: "/tracks/export",
        endpoint: Endpoint::Export,
        methods: &["GET", "HEAD"],
        statuses: &[("GET", &[200, 401])],
        documented: true,
    },
    Route {
        pattern: "/tracks/{track_id}",
        endpoint: Endpoint::Track,
        methods: &["GET", "HEAD", "PUT", "DELETE"],
        statuses: &[
            ("GET", &[200, 401, 404, 422]),
            ("PUT", &[200, 401, 403, 404, 422, 507]),
            ("DELETE", &[204, 401, 403, 404, 422]),
        ],
        documented: true,
    },
    Route {
        pattern: "/login",
        endpoint: Endpoint::Login,
        methods: &["POST"],
        statuses: &[("POST", &[200, 401, 403, 404, 422, 429])],
        documented: true,
    },
    Route {
        pattern: "/users/me",
        endpoint: Endpoint::Me,
        methods: &["GET", "HEAD"],
        statuses: &[("GET", &[200, 401, 404])],
        documented: true,
    },
    Route {
        pattern: "/logout",
        endpoint: Endpoint::Logout,
        methods: &["POST"],
        statuses: &[("POST", &[200, 403, 404, 422])],
        documented: true,
    },
    Route {
        pattern: "/healthz",
        endpoint: Endpoint::Healthz,
        methods: &["GET", "HEAD"],
        statuses: &[("GET", &[200])],
        documented: true,
    },
    Route {
        pattern: "/openapi.json",
        endpoint: Endpoint::OpenApi,
        methods: &["GET", "HEAD"],
        statuses: &[("GET", &[200])],
        documented: false,
    },
    Route {
        pattern: "/docs",
        endpoint: Endpoint::Docs,
        methods: &["GET", "HEAD"],
        statuses: &[("GET", &[200])],
        documented: false,
    },
    Route {
        pattern: "/favicon.ico",
        endpoint: Endpoint::Favicon,
        methods: &["GET", "HEAD"],
        statuses: &[("GET", &[200])],
        documented: false,
    },
    Route {
        pattern: "/ui",
        endpoint: Endpoint::UiBare,
        methods: &["GET", "HEAD"],
        statuses: &[("GET", &[301, 404])],
        documented: false,
    },
    Route {
        pattern: "/ui/",
        endpoint: Endpoint::Ui,
        methods: &["GET", "HEAD"],
        statuses: &[("GET", &[200, 404])],
        documented: false,
    },
    Route {
        pattern: "/ui/{asset}",
        endpoint: Endpoint::UiAsset,
        methods: &["GET", "HEAD"],
        statuses: &[("GET", &[200, 404])],
        documented: false,
    },
];

impl Route {
    /// Every status a request with `method` on this route can get, edge ones included.
    pub fn statuses(&self, method: &str) -> Vec<u16> {
        let method = if method == "HEAD" { "GET" } else { method };
        let mut all: Vec<u16> = self
            .statuses
            .iter()
            .filter(|(m, _)| *m == method)
            .flat_map(|(_, s)| s.iter().copied())
            .chain(EDGE_STATUSES.iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// Finds the route for a raw path and the raw text of its parameter, if any.
pub fn find_route(path: &str) -> Option<(&'static Route, Option<&str>)> {
    ROUTES.iter().find_map(|route| {
        // Most patterns have no parameter: one comparison instead of splitting
        // every pattern on every request (that split was a tenth of the
        // instructions of a `GET /users/me`, by callgrind).
        if route.pattern == path {
            return Some((route, None));
        }
        if !route.pattern.ends_with('}') {
            return None;
        }
        let mut param = None;
        let mut want = route.pattern.split('/');
        let mut got = path.split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return Some((route, param)),
                (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => param = Some(g),
                (Some(w), Some(g)) if w == g => {}
                _ => return None,
            }
        }
    })
}

/// The checks every request passes before its handler: the Host, route, method,
/// body size and the CSRF origin rule. HEAD is answered as GET; the edge drops the body.
fn admit<'r>(
    app: &App,
    req: &'r Request,
) -> Result<(&'static Route, Option<&'r str>, Method), Response> {
    // Before anything runs: a request for a name we do not serve may come from
    // a DNS-rebinding page (see `hosts`).
    // The body names the host and the key that allows it (the access log too).
    if let Err(refused) = app
        .config
        .server
        .allowed_hosts
        .check(req.header_values("host"))
    {
        return Err(Response::detail(421, &refused.detail()));
    }
    let Some((route, param)) = find_route(&req.path) else {
        return Err(Response::detail(404, "Not Found"));
    };
    if !route.methods.contains(&req.method.as_str()) {
        return Err(Response::detail(405, "Method Not Allowed")
            .with_header("Allow", route.methods.join(", ")));
    }
    if req.body == Body::TooLarge {
        return Err(Response::detail(413, "Request body too large"));
    }
    if req.method.is_unsafe()
        && let Some(refusal) = auth::cross_origin_refusal(app, req)
    {
        return Err(refusal);
    }
    let method = match req.method {
        Method::Head => Method::Get,
        ref m => m.clone(),
    };
    Ok((route, param, method))
}

/// The slow work `req` needs before [`handle`] can answer it without waiting: a
/// password check for a login that gets that far. The edge runs it off the
/// handler loop and calls `handle` with the verdict in `req.password_verdict`.
pub fn password_check(app: &mut App, req: &Request) -> Option<PasswordCheck> {
    // Only `POST /login` checks a password: every other request is answered
    // without running `admit` a second time (the edge asks this of each one).
    if req.method != Method::Post {
        return None;
    }
    match admit(app, req) {
        Ok((route, _, _)) if route.endpoint == Endpoint::Login => auth::password_check(app, req),
        _ => None,
    }
}

/// A login whose [`password_check`] was made but could not be run.
pub fn abandon_password_check(app: &mut App, req: &Request) {
    auth::abandon_login(app, req);
}

/// Answers one request.
pub fn handle(app: &mut App, req: &Request) -> Response {
    let (route, param, method) = match admit(app, req) {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal,
    };
    let response = answer(app, req, route.endpoint, param, method);
    // Every test build checks that the route table (and so /openapi.json) knows
    // each status a handler really sends.
    debug_assert!(
        route
            .statuses(req.method.as_str())
            .contains(&response.status),
        "{} {}: status {} is missing from ROUTES",
        req.method.as_str(),
        route.pattern,
        response.status
    );
    response
}

/// Answers a request that passed [`admit`].
fn answer(
    app: &mut App,
    req: &Request,
    endpoint: Endpoint,
    param: Option<&str>,
    method: Method,
) -> Response {
    match (endpoint, method) {
        (Endpoint::Hello, _) => crate::ui::hello(app, req),
        (Endpoint::Tracks, Method::Get) => list_tracks(app, req),
        (Endpoint::Tracks, Method::Put) => crate::backup::restore(app, req),
        (Endpoint::Tracks, _) => create_track(app, req),
        (Endpoint::Track, Method::Put) => replace_track(app, req, param.unwrap_or_default()),
        (Endpoint::Track, Method::Delete) => delete_track(app, req, param.unwrap_or_default()),
        (Endpoint::Track, _) => get_track(app, req, param.unwrap_or_default()),
        (Endpoint::Login, _) => auth::login(app, req),
        (Endpoint::Me, _) => auth::me(app, req),
        (Endpoint::Logout, _) => auth::logout(app, req),
        (Endpoint::Healthz, _) => crate::ops::healthz(app, req.now_ms),
        (Endpoint::OpenApi, _) => crate::ops::openapi(app),
        (Endpoint::Docs, _) => crate::ops::docs(app),
        (Endpoint::Favicon, _) => crate::ops::favicon(),
        (Endpoint::Export, _) => crate::backup::export(app, req),
        (Endpoint::Ui, _) => crate::ui::asset(app, ""),
        (Endpoint::UiAsset, _) => crate::ui::asset(app, param.unwrap_or_default()),
        (Endpoint::UiBare, _) => crate::ui::bare(app),
    }
}

/// `GET /tracks?skip=&limit=&q=&search=`: filter by artist (`q`, exact) and by
/// text (`search`, a substring of title, artist or album), then take the page.
/// `X-Total-Count` is the number of matches before paging.
fn list_tracks(app: &App, req: &Request) -> Response {
    if let Err(r) = require_read_access(app, req) {
        return r;
    }
    let params = Params::parse(req.query.as_bytes());
    let mut errors = Vec::new();
    let skip = int_param(&params, "skip", 0, (0, i64::MAX), &mut errors);
    let limit = int_param(
        &params,
        "limit",
        app.config.tracks.default_limit,
        (1, 1000),
        &mut errors,
    );
    if !errors.is_empty() {
        return unprocessable(&errors);
    }
    let artist = params.get("q").filter(|q| !q.is_empty()).map(artist_key);
    let text = params
        .get("search")
        .filter(|s| !s.is_empty())
        .map(search_key);
    let first = usize::try_from(skip).unwrap_or(usize::MAX);
    let matches = app
        .tracks
        .all()
        .iter()
        .filter(|t| artist.as_deref().is_none_or(|a| t.artist_is(a)))
        .filter(|t| text.as_deref().is_none_or(|s| t.contains(s)));
    // One pass: every match is counted, the page's are kept.
    let (mut total, mut page) = (0usize, Vec::new());
    for track in matches {
        if total >= first && page.len() < limit as usize {
            page.push(track.json());
        }
        total += 1;
    }
    let body = json_array(page.into_iter());
    Response::json_bytes(200, body).with_header("X-Total-Count", total.to_string())
}

/// `[a,b,…]` from items that each are JSON already.
fn json_array<'a>(items: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.as_bytes());
    }
    out.push(b']');
    out
}

/// Reads an integer query parameter with a default and inclusive bounds.
fn int_param(
    params: &Params,
    name: &str,
    default: i64,
    bounds: (i64, i64),
    errors: &mut Vec<ErrorItem>,
) -> i64 {
    let Some(text) = params.get(name) else {
        return default;
    };
    let loc = ["query", name];
    let input = Value::from(text);
    let error = match parse_wide_int(text) {
        None => ErrorItem::int_parsing(&loc, input),
        Some(n) => match out_of_bounds(&loc, n, &input, bounds) {
            None => return saturate(n),
            Some(e) => e,
        },
    };
    errors.push(error);
    default
}

/// Parses the `{track_id}` path parameter: a 64-bit integer, as documented.
fn track_id(raw: &str) -> Result<i64, Response> {
    let loc = ["path", "track_id"];
    let text = percent_decode(raw);
    let input = Value::from(text.as_deref().unwrap_or(raw));
    let error = match text.as_deref().and_then(parse_wide_int) {
        None => ErrorItem::int_parsing(&loc, input),
        Some(n) => match out_of_bounds(&loc, n, &input, (i64::MIN, i64::MAX)) {
            None => return Ok(saturate(n)),
            Some(e) => e,
        },
    };
    Err(unprocessable(&[error]))
}

/// `GET /tracks/{track_id}`.
fn get_track(app: &App, req: &Request, raw_id: &str) -> Response {
    if let Err(r) = require_read_access(app, req) {
        return r;
    }
    let id = match track_id(raw_id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    match app.tracks.get(id) {
        Some(t) => Response::json_bytes(200, t.json().as_bytes().to_vec()),
        None => Response::detail(404, "Track not found"),
    }
}

/// `POST /tracks`.
fn create_track(app: &mut App, req: &Request) -> Response {
    if let Err(r) = auth::authenticate(app, req) {
        return r;
    }
    let track = match json_body(req).and_then(|v| Track::parse(&v).map_err(|e| unprocessable(&e))) {
        Ok(t) => t,
        Err(r) => return r,
    };
    match app.tracks.insert(track.clone()) {
        Ok(()) => Response::json(200, &track),
        Err(e) => store_error(e),
    }
}

/// `PUT /tracks/{track_id}`: replaces a track. The body's id may be absent (the
/// path's is used) but must not differ.
fn replace_track(app: &mut App, req: &Request, raw_id: &str) -> Response {
    let id = match logged_in_track_id(app, req, raw_id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let mut body = match json_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(obj) = body.as_object_mut() {
        obj.entry("id").or_insert(Value::from(id));
    }
    let track = match Track::parse(&body) {
        Ok(t) => t,
        Err(errors) => return unprocessable(&errors),
    };
    if track.id != id {
        let reason = "the body's id must equal the track_id in the path";
        return unprocessable(&[ErrorItem::value_error(
            &["body", "id"],
            body["id"].clone(),
            reason,
        )]);
    }
    match app.tracks.replace(track.clone()) {
        Ok(()) => Response::json(200, &track),
        Err(e) => store_error(e),
    }
}

/// For the writes on one track: the login check first (401 before 422), then the id.
fn logged_in_track_id(app: &App, req: &Request, raw_id: &str) -> Result<i64, Response> {
    auth::authenticate(app, req)?;
    track_id(raw_id)
}

/// `DELETE /tracks/{track_id}` → 204.
fn delete_track(app: &mut App, req: &Request, raw_id: &str) -> Response {
    let id = match logged_in_track_id(app, req, raw_id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    match app.tracks.remove(id) {
        Ok(()) => Response::empty(204),
        Err(e) => store_error(e),
    }
}

/// Reads are public unless `[tracks] public_reads = false`.
pub(crate) fn require_read_access(app: &App, req: &Request) -> Result<(), Response> {
    if app.config.tracks.public_reads {
        return Ok(());
    }
    auth::authenticate(app, req).map(|_| ())
}

/// The response for a store refusal.
pub(crate) fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::Duplicate => Response::detail(409, "Track id already exists"),
        StoreError::NotFound => Response::detail(404, "Track not found"),
        StoreError::Full => Response::detail(507, "Track limit reached"),
        StoreError::TooManyBytes => Response::detail(507, "Catalogue size limit reached"),
        StoreError::Unavailable(_) => Response::detail(503, "Storage unavailable"),
    }
}

/// The JSON body, as FastAPI reads it: a missing or non-JSON content type, or an
/// empty body, means the body is missing.
pub(crate) fn json_body(req: &Request) -> Result<Value, Response> {
    let missing = || unprocessable(&[ErrorItem::missing(&["body"], Value::Null)]);
    let bytes = match &req.body {
        Body::Bytes(b) if !b.is_empty() => b,
        _ => return Err(missing()),
    };
    let is_json = match req.content_type() {
        None => true,
        Some(ct) => {
            ct == "application/json" || (ct.starts_with("application/") && ct.ends_with("+json"))
        }
    };
    if !is_json {
        return Err(missing());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        // Python reports an unexpected end at the length of the input.
        let offset = if e.is_eof() {
            bytes.len()
        } else {
            byte_offset(bytes, e.line(), e.column())
        };
        let reason = e.to_string();
        let reason = reason.split(" at line ").next().unwrap_or("invalid JSON");
        unprocessable(&[ErrorItem::json_invalid(offset, reason)])
    })
}

/// Converts serde_json's 1-based line/column into a byte offset.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = bytes
        .split(|&b| b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    (line_start + column.saturating_sub(1)).min(bytes.len())
}

#[cfg(test)]
pub(crate) mod tests;
