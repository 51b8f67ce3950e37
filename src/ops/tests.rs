//! Ops tests: the health probe, and the OpenAPI document against the route table.

use super::*;
use crate::router::ROUTES;
use crate::router::tests::app_with;
use std::collections::BTreeSet;

/// The methods OpenAPI can name in a Path Item, lower case.
const OPERATIONS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every (path, method) operation the document describes.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("path item is an object");
            item.keys()
                .filter(|k| OPERATIONS.contains(&k.as_str()))
                .map(|m| (path.clone(), m.to_ascii_uppercase()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_checked_in_document_is_openapi_3_1_json_with_our_version() {
    let doc: Value = serde_json::from_str(OPENAPI_SOURCE).expect("src/openapi.json is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        openapi_document()["info"]["version"],
        env!("CARGO_PKG_VERSION")
    );
}

/// The openapi ↔ router check. HEAD is not listed in the document: every GET route
/// answers HEAD (the router serves it as GET), which the document's description says.
/// The docs routes themselves are hidden, as FastAPI hides them.
#[test]
fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let documented = documented_operations(openapi_document());
    let mut routed = BTreeSet::new();
    for route in ROUTES.iter().filter(|r| r.documented) {
        for &method in route.methods {
            if method == "HEAD" {
                assert!(
                    route.methods.contains(&"GET"),
                    "{}: HEAD without GET cannot be described implicitly",
                    route.pattern
                );
                continue;
            }
            routed.insert((route.pattern.to_owned(), method.to_owned()));
        }
        if route.methods.contains(&"GET") {
            assert!(
                route.methods.contains(&"HEAD"),
                "{}: GET without HEAD",
                route.pattern
            );
        }
    }
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "openapi.json operations with no route: {unrouted:?}"
    );
    for hidden in ["/openapi.json", "/docs", "/favicon.ico"] {
        assert!(doc_has_no_path(hidden), "{hidden} is listed");
    }
}

fn doc_has_no_path(path: &str) -> bool {
    openapi_document()["paths"].get(path).is_none()
}

/// Each operation documents exactly the statuses the router says it can answer:
/// its handler's and the edge's (`router::handle` asserts in test builds that
/// every answer's status is one of them).
#[test]
fn every_operation_documents_exactly_the_statuses_its_route_can_send() {
    let doc = openapi_document();
    for route in ROUTES.iter().filter(|r| r.documented) {
        for method in route.methods.iter().filter(|m| **m != "HEAD") {
            let op = &doc["paths"][route.pattern][method.to_ascii_lowercase()];
            let documented: Vec<u16> = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .map(|s| s.parse().expect("numeric status"))
                .collect();
            let mut documented_sorted = documented.clone();
            documented_sorted.sort_unstable();
            assert_eq!(
                documented_sorted,
                route.statuses(method),
                "{method} {}",
                route.pattern
            );
        }
    }
}

/// Every response and schema component is used somewhere.
#[test]
fn no_component_is_unused() {
    let doc = openapi_document();
    let mut found = Vec::new();
    refs(doc, &mut found);
    for kind in ["responses", "schemas"] {
        for name in doc["components"][kind].as_object().unwrap().keys() {
            let target = format!("#/components/{kind}/{name}");
            assert!(found.contains(&target), "{target} is unused");
        }
    }
}

/// Collects every `$ref` string in the document.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = openapi_document();
    let mut found = Vec::new();
    refs(doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
}

#[test]
fn operations_have_a_success_status_and_described_responses() {
    let doc = openapi_document();
    for (path, method) in documented_operations(doc) {
        let op = &doc["paths"][&path][method.to_ascii_lowercase()];
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} has no 2xx response"
        );
        for (status, response) in responses {
            assert!(
                status.len() == 3 && status.parse::<u16>().is_ok(),
                "{method} {path}: status {status}"
            );
            assert!(
                response.get("description").is_some() || response.get("$ref").is_some(),
                "{method} {path} {status} has no description"
            );
        }
        assert!(
            op["operationId"].is_string(),
            "{method} {path} has no operationId"
        );
    }
}

#[test]
fn documents_the_cookie_scheme_and_the_login_fields() {
    let doc = openapi_document();
    assert_eq!(
        doc["components"]["securitySchemes"]["APIKeyCookie"],
        json!({
            "type": "apiKey",
            "in": "cookie",
            "name": "my_session_id",
            "description": "The signed session cookie set by `POST /login`."
        })
    );
    let login = &doc["components"]["schemas"]["Body_login_login_post"]["properties"];
    assert_eq!(login["username"]["minLength"], 1);
    assert_eq!(login["password"]["minLength"], 1);
    // openapi-generator turns `const: true` into a check for the string 'true'.
    assert_eq!(
        doc["components"]["schemas"]["Success"]["properties"]["success"],
        json!({"type": "boolean", "title": "Success"})
    );
    let id = &doc["components"]["schemas"]["Track"]["properties"]["id"];
    assert_eq!(
        (id["minimum"].to_string(), id["maximum"].to_string()),
        (i64::MIN.to_string(), i64::MAX.to_string())
    );
}

#[test]
fn openapi_response_names_the_configured_cookie() {
    let default = openapi(&app_with(""));
    assert_eq!(default.status, 200);
    assert_eq!(default.header("content-type"), Some("application/json"));
    let served: Value = serde_json::from_slice(&default.body).unwrap();
    assert_eq!(&served, openapi_document());

    let custom = openapi(&app_with("[session]\ncookie_name = \"sid\"\n"));
    let served: Value = serde_json::from_slice(&custom.body).unwrap();
    assert_eq!(
        served["components"]["securitySchemes"]["APIKeyCookie"]["name"],
        "sid"
    );
}

#[test]
fn healthz_is_ok_and_leaves_no_probe_behind() {
    let mut app = app_with("");
    let r = healthz(&mut app, NOW);
    assert_eq!(r.status, 200, "{}", r.body_text());
    assert_eq!(r.body_text(), r#"{"status":"ok","checked_ms_ago":0}"#);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let dir = &app.config.state_dir;
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains(HEALTH_PROBE)),
        "probe left behind: {names:?}"
    );
}

/// Root ignores permission bits, so the unwritable state directory is made by
/// putting it under a regular file, which no user can write through.
#[test]
fn healthz_is_503_when_the_state_dir_cannot_be_written() {
    let mut app = app_with("");
    let blocker = app.config.state_dir.join("a-file");
    std::fs::write(&blocker, b"").unwrap();
    app.config.state_dir = blocker.join("state");
    let r = healthz(&mut app, NOW);
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body_text(),
        r#"{"status":"unavailable","detail":"state directory not writable: not a directory","checked_ms_ago":0}"#
    );

    app.config.state_dir = std::env::temp_dir().join("tracksd-no-such-dir/state");
    let r = healthz(&mut app, NOW + 5_000);
    assert_eq!(r.status, 503);
    assert!(
        r.body_text().contains("entity not found"),
        "{}",
        r.body_text()
    );
}

const NOW: u64 = 1_700_000_000_000;

#[test]
fn healthz_probes_at_most_once_per_interval() {
    let mut app = app_with("[server]\nhealth_probe_interval_ms = 2000");
    assert_eq!(healthz(&mut app, NOW).status, 200);
    // The directory going away is seen only once the result is 2 s old.
    let dir = app.config.state_dir.clone();
    let aside = dir.with_extension("aside");
    std::fs::rename(&dir, &aside).unwrap();
    let cached = healthz(&mut app, NOW + 1_999);
    let probed = healthz(&mut app, NOW + 2_000);
    let back = healthz(&mut app, NOW + 1_000);
    std::fs::rename(&aside, &dir).unwrap();
    assert_eq!(
        cached.body_text(),
        r#"{"status":"ok","checked_ms_ago":1999}"#
    );
    assert_eq!(probed.status, 503);
    assert!(probed.body_text().ends_with(r#","checked_ms_ago":0}"#));
    assert_eq!(back.status, 503, "a clock that went back re-probes");
}

#[test]
fn docs_is_a_swagger_ui_page_for_the_document() {
    let r = docs(&app_with(""));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = r.body_text();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("url: '/openapi.json'"));
    assert!(html.contains(
        "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0/swagger-ui-bundle.js\" integrity"
    ));
    assert_eq!(html.matches("integrity=\"sha384-").count(), 2);
}

/// Without the assets the page still says what happened and how to go on, in a
/// few KB and with no request beyond the two assets.
#[test]
fn docs_without_its_assets_still_helps() {
    let app = app_with("[docs]\nswagger_ui_url = \"http://nas.lan/swagger-ui/\"\n");
    let html = docs(&app).body_text();
    assert!(
        html.contains(r#"<script src="http://nas.lan/swagger-ui/swagger-ui-bundle.js"></script>"#)
    );
    assert!(html.contains(r#"href="http://nas.lan/swagger-ui/swagger-ui.css">"#));
    assert!(
        !html.contains("integrity"),
        "a LAN copy may be another version"
    );
    assert!(!html.contains("jsdelivr"));
    let fallback =
        &html[html.find("<main id=\"fallback\">").unwrap()..html.find("</main>").unwrap()];
    for needed in [
        "did not load",
        "href=\"/openapi.json\"",
        "POST /login",
        "curl -c jar",
        "swagger_ui_url",
    ] {
        assert!(fallback.contains(needed), "fallback lacks {needed}");
    }
    assert!(html.len() < 8 * 1024, "{} bytes", html.len());
    let targets: Vec<&str> = ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| html.split(attr).skip(1))
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    let mut external: Vec<_> = targets.iter().filter(|t| !t.starts_with('/')).collect();
    external.sort();
    assert_eq!(
        external,
        [
            &"http://nas.lan/swagger-ui/swagger-ui-bundle.js",
            &"http://nas.lan/swagger-ui/swagger-ui.css"
        ],
        "only the two assets are fetched from elsewhere"
    );
}

#[test]
fn favicon_is_a_cacheable_icon() {
    let r = favicon();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/x-icon"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=604800"));
    assert_eq!(&r.body[..4], &[0, 0, 1, 0], "ICO header");
    assert_eq!(&r.body[22..26], b"\x89PNG");
}
