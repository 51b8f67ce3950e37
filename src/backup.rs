//! Backup and restore through the service: `GET /tracks/export` sends the whole
//! catalogue as one file, `PUT /tracks` replaces the whole catalogue with one.
//!
//! Architecture invariant: a restore is one store call
//! ([`TrackStore::replace_all`]), so it is one durable write: afterwards the
//! catalogue (in memory and on disk) is the old one or the new one, never a mix.

use crate::app::App;
use crate::auth;
use crate::config::TracksConfig;
use crate::http::{Method, Request, Response};
use crate::track_file::export_bytes;
use crate::tracks::Track;
use crate::validation::{ErrorItem, unprocessable};
use serde_json::Value;
use std::collections::HashMap;

/// `GET /tracks/export`: every track, in catalogue order, as an attachment.
/// Readable by whoever may read tracks.
pub fn export(app: &App, req: &Request) -> Response {
    if let Err(r) = crate::router::require_read_access(app, req) {
        return r;
    }
    Response::json_bytes(200, export_bytes(app.tracks.all()))
        .with_header(
            "Content-Disposition",
            "attachment; filename=\"tracks-backup.json\"",
        )
        .with_header("Cache-Control", "no-store")
}

/// `PUT /tracks`: replaces the catalogue with the body, a JSON array of tracks.
/// The first bad item (or repeated id) is a 422 naming its index; a catalogue
/// beyond `[tracks]` bounds is a 507; either way nothing changes.
pub fn restore(app: &mut App, req: &Request) -> Response {
    if let Err(r) = auth::authenticate(app, req) {
        return r;
    }
    let body = match crate::router::json_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let tracks = match parse_catalogue(&body) {
        Ok(t) => t,
        Err(e) => return unprocessable(&e),
    };
    let count = tracks.len();
    match app.tracks.replace_all(tracks) {
        Ok(()) => Response::json(200, &serde_json::json!({ "restored": count })),
        Err(e) => crate::router::store_error(e),
    }
}

/// How many body bytes the edge reads of `req` when that is more than its usual
/// bound: a logged-in `PUT /tracks` may carry a whole catalogue. Anyone else
/// keeps the edge's 16 KiB, so a stranger cannot make the server hold megabytes
/// (up to 32 bodies are read at once). The session is checked again, with CSRF,
/// when the request is routed.
pub fn body_limit(app: &App, req: &Request) -> Option<usize> {
    let restore = req.method == Method::Put && req.path == "/tracks";
    (restore && auth::authenticate(app, req).is_ok()).then(|| restore_bytes(&app.config.tracks))
}

/// The size of the largest export `[tracks]` allows (`export_bytes`: the tracks'
/// JSON, which `max_catalogue_bytes` bounds, 4 bytes of separator per track and
/// 4 around them), plus a little room for an editor's trailing newline.
pub fn restore_bytes(bounds: &TracksConfig) -> usize {
    bounds
        .max_catalogue_bytes
        .saturating_add(bounds.max_tracks.saturating_mul(4))
        .saturating_add(64)
}

/// The tracks of a restore body, or the errors of its first bad item.
fn parse_catalogue(body: &Value) -> Result<Vec<Track>, Vec<ErrorItem>> {
    let Value::Array(items) = body else {
        return Err(vec![ErrorItem::list_type(&["body"], body.clone())]);
    };
    let mut first_at: HashMap<i64, usize> = HashMap::with_capacity(items.len());
    let mut tracks = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let track = Track::parse(item).map_err(|errors| {
            errors
                .into_iter()
                .map(|e| e.at_index(i))
                .collect::<Vec<_>>()
        })?;
        if let Some(first) = first_at.insert(track.id, i) {
            let reason = format!("duplicate track id {} (first at index {first})", track.id);
            let input = item.get("id").cloned().unwrap_or(Value::Null);
            return Err(vec![
                ErrorItem::value_error(&["body", "id"], input, &reason).at_index(i),
            ]);
        }
        tracks.push(track);
    }
    Ok(tracks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn locs(body: Value) -> Vec<Value> {
        parse_catalogue(&body)
            .unwrap_err()
            .into_iter()
            .map(|e| Value::from(e.loc))
            .collect()
    }

    #[test]
    fn the_first_bad_item_is_named_by_its_index() {
        let good = json!({"id": 1, "title": "T", "artist": "A", "year": 1});
        let bad = json!({"id": 2, "title": "T", "artist": "A", "year": 10000});
        assert_eq!(
            locs(json!([good, good.clone(), bad])),
            [json!(["body", 1, "id"])],
            "a repeated id comes first"
        );
        let other = json!({"id": 3, "title": "T", "artist": "A", "year": 1});
        assert_eq!(
            locs(json!([good, other, bad, 7])),
            [json!(["body", 2, "year"])]
        );
        assert_eq!(locs(json!({"id": 1})), [json!(["body"])]);
        assert_eq!(parse_catalogue(&json!([])).unwrap(), Vec::<Track>::new());
    }
}
