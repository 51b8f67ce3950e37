//! Operations endpoints: `/healthz` for supervisors and probes, `/openapi.json`
//! describing the API, and `/docs`, a Swagger UI page for it (as FastAPI serves).

use crate::app::App;
use crate::http::Response;
use serde_json::{Value, json};
use std::sync::OnceLock;

/// Name of the file `/healthz` writes and removes in the state directory.
pub const HEALTH_PROBE: &str = "healthz.probe";

/// The cookie name `src/openapi.json` names in its `APIKey` security scheme.
const DOCUMENTED_COOKIE: &str = "my_session_id";

/// The checked-in OpenAPI document (its `info.version` is filled in at run time).
const OPENAPI_SOURCE: &str = include_str!("openapi.json");

/// The `/healthz` body; fields in this order on the wire.
#[derive(serde::Serialize)]
struct Health {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// `GET /healthz`: 200 `{"status":"ok"}` if a probe file can be written durably to
/// the state directory and removed again, else 503 with the reason's error kind.
/// This catches a read-only, full or vanished state directory.
pub fn healthz(app: &App) -> Response {
    let probe = app.config.state_dir.join(HEALTH_PROBE);
    let result = crate::state_file::write_atomic(&probe, b"ok\n")
        .and_then(|()| std::fs::remove_file(&probe));
    let response = match result {
        Ok(()) => Response::json(
            200,
            &Health {
                status: "ok",
                detail: None,
            },
        ),
        Err(e) => Response::json(
            503,
            &Health {
                status: "unavailable",
                detail: Some(format!("state directory not writable: {}", e.kind())),
            },
        ),
    };
    response.with_header("Cache-Control", "no-store")
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
