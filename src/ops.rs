//! Operations endpoints: `/healthz` for supervisors and probes, `/openapi.json`
//! describing the API, and `/docs`, a Swagger UI page for it (as FastAPI serves).

use crate::app::App;
use crate::http::Response;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::OnceLock;

/// Name of the file `/healthz` writes and removes in the state directory.
pub const HEALTH_PROBE: &str = "healthz.probe";

/// The cookie name `src/openapi.json` names in its `APIKey` security scheme.
const DOCUMENTED_COOKIE: &str = "my_session_id";

/// The checked-in OpenAPI document (its `info.version` is filled in at run time).
const OPENAPI_SOURCE: &str = include_str!("openapi.json");

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
    let interval = app.config.health_probe_interval_ms;
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
        doc["components"]["securitySchemes"]["APIKey"]["name"] = Value::from(cookie.as_str());
        serde_json::to_vec(&doc).unwrap_or_default()
    };
    Response {
        status: 200,
        headers: vec![("Content-Type", "application/json".into())],
        body,
    }
}

/// The Swagger UI page, as FastAPI's `get_swagger_ui_html` writes it, with the
/// swagger-ui-dist version pinned and its files checked by Subresource Integrity
/// (hashes of the files in the npm package, which jsDelivr serves unchanged).
const DOCS_HTML: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link type="text/css" rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0/swagger-ui.css" integrity="sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I" crossorigin="anonymous">
<title>tracksd - Swagger UI</title>
</head>
<body>
<div id="swagger-ui">
</div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0/swagger-ui-bundle.js" integrity="sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9" crossorigin="anonymous"></script>
<script>
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
</script>
</body>
</html>
"##;

/// `GET /docs`: the Swagger UI page for `/openapi.json` (scripts from the jsDelivr CDN).
pub fn docs() -> Response {
    Response {
        status: 200,
        headers: vec![("Content-Type", "text/html; charset=utf-8".into())],
        body: DOCS_HTML.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests;
