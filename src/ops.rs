//! Operations endpoints: `/healthz` for supervisors and probes, `/openapi.json`
//! describing the API, `/docs`, a Swagger UI page for it (as FastAPI serves), and
//! `/favicon.ico`.

use crate::app::App;
use crate::http::Response;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::OnceLock;

/// Name of the file `/healthz` writes and removes in the state directory.
pub const HEALTH_PROBE: &str = "healthz.probe";

/// The cookie name `src/openapi.json` names in its `APIKeyCookie` security scheme.
const DOCUMENTED_COOKIE: &str = "my_session_id";

/// The checked-in OpenAPI document (its `info.version` is filled in at run
/// time), without the whitespace between its tokens: the readable file stays in
/// the repository, the binary carries half the bytes.
const OPENAPI_SOURCE: &str = {
    const PRETTY: &[u8] = include_bytes!("openapi.json");
    // Used once, through the `&'static str` below: never copied.
    #[allow(clippy::large_const_arrays)]
    const COMPACT: [u8; compact_json_len(PRETTY)] = compact_json(PRETTY);
    match std::str::from_utf8(&COMPACT) {
        Ok(text) => text,
        Err(_) => panic!("src/openapi.json is not UTF-8"),
    }
};

/// How long `json` is without whitespace outside its strings.
const fn compact_json_len(json: &[u8]) -> usize {
    let (mut i, mut n, mut in_string, mut escaped) = (0, 0, false, false);
    while i < json.len() {
        let b = json[i];
        if in_string || !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            n += 1;
        }
        (in_string, escaped) = string_state(b, in_string, escaped);
        i += 1;
    }
    n
}

/// `json` without whitespace outside its strings (`N` from [`compact_json_len`]).
const fn compact_json<const N: usize>(json: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let (mut i, mut n, mut in_string, mut escaped) = (0, 0, false, false);
    while i < json.len() {
        let b = json[i];
        if in_string || !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            out[n] = b;
            n += 1;
        }
        (in_string, escaped) = string_state(b, in_string, escaped);
        i += 1;
    }
    out
}

/// Whether the byte after `b` is inside a JSON string, and escaped.
const fn string_state(b: u8, in_string: bool, escaped: bool) -> (bool, bool) {
    match (in_string, escaped, b) {
        (true, true, _) => (true, false),
        (true, false, b'\\') => (true, true),
        (true, false, b'"') => (false, false),
        (false, _, b'"') => (true, false),
        _ => (in_string, false),
    }
}

/// The `/healthz` body; fields in this order on the wire.
#[derive(serde::Serialize)]
struct Health<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    /// How old the probe result is: the disk is probed at most every
    /// `[server] health_probe_interval_ms`.
    checked_ms_ago: u64,
}

/// The last probe of the state directory. Probing writes and fsyncs a file, and
/// `/healthz` needs no login, so on an SD card probing on every call would be
/// wear that anyone could cause; between probes the last result is the answer.
#[derive(Debug, Default)]
pub struct HealthProbe {
    /// When the last probe ran (Unix ms), and its error, if any.
    last: Option<(u64, Result<(), String>)>,
}

impl HealthProbe {
    /// The result of a probe at most `interval_ms` old (probing now if needed),
    /// and its age in milliseconds.
    fn check(&mut self, dir: &Path, interval_ms: u64, now_ms: u64) -> (&Result<(), String>, u64) {
        // A clock that went back also makes the result stale.
        let stale = self
            .last
            .as_ref()
            .is_none_or(|(at, _)| now_ms < *at || now_ms - *at >= interval_ms);
        if stale {
            let probe = dir.join(HEALTH_PROBE);
            let result = crate::state_file::write_atomic(&probe, b"ok\n")
                .and_then(|()| std::fs::remove_file(&probe))
                .map_err(|e| format!("state directory not writable: {}", e.kind()));
            self.last = Some((now_ms, result));
        }
        let (at, result) = self.last.as_ref().expect("set above");
        (result, now_ms.saturating_sub(*at))
    }
}

/// `GET /healthz`: 200 `{"status":"ok",…}` if a probe file could be written durably
/// to the state directory and removed again, else 503 with the reason's error
/// kind. This catches a read-only, full or vanished state directory.
pub fn healthz(app: &mut App, now_ms: u64) -> Response {
    let interval = app.config.server.health_probe_interval_ms;
    let (result, age) = app.health.check(&app.config.state_dir, interval, now_ms);
    let (status, body) = match result {
        Ok(()) => (
            200,
            Health {
                status: "ok",
                detail: None,
                checked_ms_ago: age,
            },
        ),
        Err(reason) => (
            503,
            Health {
                status: "unavailable",
                detail: Some(reason),
                checked_ms_ago: age,
            },
        ),
    };
    Response::json(status, &body).with_header("Cache-Control", "no-store")
}

/// The OpenAPI document as a value, with this build's version.
pub fn openapi_document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        // A unit test proves the checked-in file parses.
        let mut doc: Value = serde_json::from_str(OPENAPI_SOURCE).unwrap_or_else(|_| json!({}));
        doc["info"]["version"] = Value::from(env!("CARGO_PKG_VERSION"));
        doc
    })
}

/// `GET /openapi.json`: the OpenAPI 3.1 description of every route. The document
/// is serialized once; only a non-default `[session] cookie_name` makes a copy
/// that names the configured cookie.
pub fn openapi(app: &App) -> Response {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    let cookie = &app.config.session.cookie_name;
    let body = if cookie == DOCUMENTED_COOKIE {
        BYTES
            .get_or_init(|| serde_json::to_vec(openapi_document()).unwrap_or_default())
            .clone()
    } else {
        let mut doc = openapi_document().clone();
        doc["components"]["securitySchemes"]["APIKeyCookie"]["name"] = Value::from(cookie.as_str());
        serde_json::to_vec(&doc).unwrap_or_default()
    };
    Response {
        status: 200,
        headers: vec![("Content-Type", "application/json".into())],
        body,
    }
}

/// Where `/docs` loads Swagger UI from unless `[docs] swagger_ui_url` says otherwise.
pub const DEFAULT_SWAGGER_UI_URL: &str = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0";

/// Subresource Integrity for the default CDN's files (hashes of the npm package's
/// files, which jsDelivr serves unchanged). A LAN copy may be another version, so
/// it is loaded without them.
const DEFAULT_CSS_SRI: &str =
    "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I";
const DEFAULT_JS_SRI: &str =
    "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9";

/// The `/docs` page: FastAPI's `get_swagger_ui_html`, plus a plain-HTML help text
/// inside the Swagger UI element. Swagger UI replaces it once its script runs; when
/// the script cannot load (a LAN without internet), the help text is what the
/// browser shows. It makes no request of its own.
const DOCS_HTML: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/favicon.ico">
<link type="text/css" rel="stylesheet" href="{base}/swagger-ui.css"{css_sri}>
<title>tracksd - Swagger UI</title>
<style>
#fallback { font: 16px/1.5 system-ui, sans-serif; max-width: 46em; margin: 2em auto; padding: 0 1em; color: #222 }
#fallback pre { background: #f3f3f3; padding: .6em; overflow-x: auto }
#fallback .what { border-left: 4px solid #c60; padding-left: .8em }
</style>
</head>
<body>
<div id="swagger-ui">
<main id="fallback">
<h1>tracksd API documentation</h1>
<p class="what"><strong>The interactive documentation (Swagger UI) did not load.</strong>
Its script and stylesheet come from <code>{base}</code>, which this browser could not
reach &mdash; typically because this network has no internet access. The API itself works.
The owner can serve Swagger UI from the LAN instead: set <code>[docs] swagger_ui_url</code>
in the server's configuration (docs/api.md, &ldquo;Docs and generated clients&rdquo;, says how).</p>
<p>The full description of every route is <a href="/openapi.json">/openapi.json</a>
(OpenAPI 3.1; any OpenAPI tool or client generator reads it).</p>
<h2>Log in</h2>
<p><code>POST /login</code> takes a form with <code>username</code> and <code>password</code>
and answers <code>{"success":true}</code> with a session cookie; requests that carry the
cookie are logged in. <code>POST /logout</code> ends the session.</p>
<h2>With curl</h2>
<pre>
curl <span class="origin">http://HOST:PORT</span>/tracks
curl -c jar -d username=USER -d password=PASSWORD <span class="origin">http://HOST:PORT</span>/login
curl -b jar <span class="origin">http://HOST:PORT</span>/users/me
curl -b jar -X POST <span class="origin">http://HOST:PORT</span>/tracks -H 'Content-Type: application/json' \
     -d '{"id":5,"title":"Yellow","artist":"Coldplay","year":2000}'
curl -b jar -c jar -X POST <span class="origin">http://HOST:PORT</span>/logout
</pre>
<p><code>-c jar</code> stores the cookie in the file <code>jar</code>; <code>-b jar</code> sends it.</p>
</main>
</div>
<script src="{base}/swagger-ui-bundle.js"{js_sri}></script>
<script>
document.querySelectorAll('.origin').forEach(function (e) { e.textContent = location.origin; });
if (typeof SwaggerUIBundle === 'function') {
    document.getElementById('fallback').remove();
    const ui = SwaggerUIBundle({
        url: '/openapi.json',
        dom_id: '#swagger-ui',
        layout: 'BaseLayout',
        deepLinking: true,
        showExtensions: true,
        showCommonExtensions: true,
        presets: [
            SwaggerUIBundle.presets.apis,
            SwaggerUIBundle.SwaggerUIStandalonePreset
        ],
    })
}
</script>
</body>
</html>
"##;

/// `GET /docs`: the Swagger UI page for `/openapi.json`, its assets from
/// `[docs] swagger_ui_url` (default: the jsDelivr CDN).
pub fn docs(app: &App) -> Response {
    let (base, css_sri, js_sri) = match &app.config.docs.swagger_ui_url {
        Some(url) => (url.as_str(), String::new(), String::new()),
        None => (
            DEFAULT_SWAGGER_UI_URL,
            format!(r#" integrity="{DEFAULT_CSS_SRI}" crossorigin="anonymous""#),
            format!(r#" integrity="{DEFAULT_JS_SRI}" crossorigin="anonymous""#),
        ),
    };
    // The URL was checked at config load to hold no HTML-special characters.
    let html = DOCS_HTML
        .replace("{base}", base)
        .replace("{css_sri}", &css_sri)
        .replace("{js_sri}", &js_sri);
    Response {
        status: 200,
        headers: vec![("Content-Type", "text/html; charset=utf-8".into())],
        body: html.into_bytes(),
    }
}

/// A 16×16 icon (a PNG inside an ICO container, which every browser reads), so
/// that browsers' automatic `/favicon.ico` request is not a 404.
pub(crate) const FAVICON: &[u8] = include_bytes!("favicon.ico");

/// `GET /favicon.ico`: the icon, cacheable for a week.
pub fn favicon() -> Response {
    Response {
        status: 200,
        headers: vec![
            ("Content-Type", "image/x-icon".into()),
            ("Cache-Control", "public, max-age=604800".into()),
        ],
        body: FAVICON.to_vec(),
    }
}

#[cfg(test)]
mod tests;
