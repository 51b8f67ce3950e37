//! The served OpenAPI document against the one FastAPI generates for the original
//! app (tests/fixtures/original-openapi.json), so that clients generated from
//! either are interchangeable: same operationIds, tags, summaries, parameters,
//! request bodies and schema names; our additions named in the same scheme.

mod common;
use common::Server;
use serde_json::Value;

const OPERATIONS: &[&str] = &["get", "put", "post", "delete", "patch"];

fn original() -> Value {
    serde_json::from_str(include_str!("fixtures/original-openapi.json")).unwrap()
}

fn served() -> Value {
    let server = Server::start("");
    let r = server.get("/openapi.json");
    assert_eq!(r.status, 200);
    serde_json::from_slice(&r.body).unwrap()
}

/// Every `(path, method, operation)` of a document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if OPERATIONS.contains(&method.as_str()) {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    out
}

/// `(name, in)` of each parameter.
fn parameters(op: &Value) -> Vec<(String, String)> {
    op["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| (p["name"].to_string(), p["in"].to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// FastAPI's `generate_unique_id`: the function name (its summary, snake-cased)
/// and the path with every non-word character made `_`, then the method.
fn fastapi_operation_id(summary: &str, path: &str, method: &str) -> String {
    let name = summary.to_lowercase().replace(' ', "_");
    let word = |c: char| {
        if c.is_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    };
    format!(
        "{}_{method}",
        format!("{name}{path}")
            .chars()
            .map(word)
            .collect::<String>()
    )
}

#[test]
fn operations_match_the_original_fastapi_document() {
    // Arrange
    let (ours, theirs) = (served(), original());
    // Act + Assert, one original operation at a time
    for (path, method, want) in operations(&theirs) {
        let got = &ours["paths"][&path][&method];
        let at = format!("{method} {path}");
        assert!(got.is_object(), "{at} is missing");
        for key in ["operationId", "tags", "summary"] {
            assert_eq!(got[key], want[key], "{at}: {key}");
        }
        let ours_params = parameters(got);
        for p in parameters(&want) {
            assert!(ours_params.contains(&p), "{at}: parameter {p:?}");
        }
        assert_eq!(
            got["requestBody"]["content"].as_object().map(|c| c
                .iter()
                .map(|(t, m)| (t.clone(), m["schema"].clone()))
                .collect::<Vec<_>>()),
            want["requestBody"]["content"].as_object().map(|c| c
                .iter()
                .map(|(t, m)| (t.clone(), m["schema"].clone()))
                .collect::<Vec<_>>()),
            "{at}: request body"
        );
        for status in want["responses"].as_object().unwrap().keys() {
            assert!(got["responses"].get(status).is_some(), "{at}: no {status}");
        }
    }
}

#[test]
fn every_operation_is_named_in_fastapis_scheme() {
    let ours = served();
    let ops = operations(&ours);
    assert_eq!(
        ops.len(),
        12,
        "the original's 7, plus PUT and DELETE on a track, healthz, and the \
         catalogue's export (GET /tracks/export) and restore (PUT /tracks)"
    );
    for (path, method, op) in ops {
        let summary = op["summary"].as_str().unwrap();
        assert_eq!(
            op["operationId"],
            fastapi_operation_id(summary, &path, &method),
            "{method} {path}"
        );
    }
    let put = &ours["paths"]["/tracks/{track_id}"];
    assert_eq!(
        put["put"]["operationId"],
        "replace_track_tracks__track_id__put"
    );
    assert_eq!(
        put["delete"]["operationId"],
        "delete_track_tracks__track_id__delete"
    );
    assert_eq!(put["put"]["tags"], serde_json::json!(["Tracks"]));
    assert_eq!(
        ours["paths"]["/healthz"]["get"]["operationId"],
        "healthz_healthz_get"
    );
    assert_eq!(
        ours["paths"]["/tracks"]["put"]["operationId"],
        "restore_tracks_tracks_put"
    );
    assert_eq!(
        ours["paths"]["/tracks/export"]["get"]["operationId"],
        "export_tracks_tracks_export_get"
    );
    let list = &ours["paths"]["/tracks"]["get"];
    assert!(
        parameters(list).contains(&("\"search\"".into(), "\"query\"".into())),
        "GET /tracks documents search"
    );
    assert!(list["responses"]["200"]["headers"]["X-Total-Count"].is_object());
}

#[test]
fn schemas_and_security_scheme_keep_the_original_names_and_fields() {
    // Arrange
    let (ours, theirs) = (served(), original());
    // Assert
    for (name, want) in theirs["components"]["schemas"].as_object().unwrap() {
        let got = &ours["components"]["schemas"][name];
        assert!(got.is_object(), "schema {name} is missing");
        let keys = |s: &Value| {
            s["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(got), keys(want), "{name}: properties");
        assert_eq!(got["required"], want["required"], "{name}: required");
        assert_eq!(got["title"], want["title"], "{name}: title");
    }
    let schemes = |d: &Value| {
        d["components"]["securitySchemes"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(schemes(&ours), schemes(&theirs));
    let scheme = &ours["components"]["securitySchemes"]["APIKeyCookie"];
    assert_eq!(
        (&scheme["in"], &scheme["name"]),
        (&Value::from("cookie"), &Value::from("my_session_id"))
    );
}
