//! Query and path handling through the router: `GET /tracks?<input>` and
//! `GET /tracks/<input>` on an app with 46 tracks. Never a 500 or a panic; a page is
//! a JSON array of at most `limit` tracks matching `q`; a 422 names query fields.
#![no_main]

use std::sync::{LazyLock, Mutex};

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tracksd::app::App;
use tracksd::http::{Method, Request};
use tracksd::params::Params;
use tracksd::router::handle;
use tracksd::tracks::Track;
use tracksd::validation::parse_int;

const NOW_MS: u64 = 1_700_000_000_000;
const ARTISTS: &[&str] = &[
    "Blur",
    "blur",
    "BLUR",
    "Radiohead",
    "Straße",
    "ÉCOLE",
    "a b",
];

static APP: LazyLock<Mutex<App>> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("tracksd-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "state_dir = {:?}\n[tracks]\nmax_tracks = 100\n[[users]]\nusername = \"john\"\npassword_hash = \"{}\"\n",
        dir.display().to_string(),
        "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0c2FsdA$8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA"
    );
    let config = tracksd::config::parse(&text, "fuzz").unwrap();
    let mut app = App::open(config, &["k".repeat(32)], NOW_MS).unwrap();
    for i in 0..42 {
        let body = json!({
            "id": 100 + i,
            "title": format!("Track {i}"),
            "artist": ARTISTS[i % ARTISTS.len()],
            "year": 1990 + i,
        });
        app.tracks.insert(Track::parse(&body).unwrap()).unwrap();
    }
    // Only GET requests follow, which write nothing.
    let _ = std::fs::remove_dir_all(&dir);
    Mutex::new(app)
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut app = APP.lock().unwrap();

    let mut req = Request::new(Method::Get, &format!("/tracks?{text}"));
    req.now_ms = NOW_MS;
    let r = handle(&mut app, &req);
    assert!(
        r.status == 200 || r.status == 422,
        "{} for {text:?}: {}",
        r.status,
        r.body_text()
    );
    let body: Value = serde_json::from_slice(&r.body).expect("a JSON body");
    let params = Params::parse(req.query.as_bytes());
    if r.status == 200 {
        let limit = params
            .get("limit")
            .and_then(parse_int)
            .unwrap_or(app.config.tracks.default_limit);
        let page: Vec<Track> = serde_json::from_value(body).expect("a list of tracks");
        assert!(
            page.len() as i64 <= limit,
            "{} tracks for {text:?}",
            page.len()
        );
        if let Some(q) = params.get("q").filter(|q| !q.is_empty()) {
            let q = q.to_lowercase();
            assert!(page.iter().all(|t| t.artist.to_lowercase() == q));
        }
    } else {
        let detail = body["detail"].as_array().expect("a detail list");
        assert!(!detail.is_empty());
        for e in detail {
            assert_eq!(e["loc"][0], "query");
            assert!(e["loc"][1] == "skip" || e["loc"][1] == "limit", "{e}");
        }
    }

    let mut req = Request::new(Method::Get, &format!("/tracks/{text}"));
    req.now_ms = NOW_MS;
    let r = handle(&mut app, &req);
    assert!(
        matches!(r.status, 200 | 404 | 422),
        "{} for /tracks/{text:?}: {}",
        r.status,
        r.body_text()
    );
    let body: Value = serde_json::from_slice(&r.body).expect("a JSON body");
    if r.status == 200 {
        serde_json::from_value::<Track>(body).expect("a track");
    } else {
        assert!(body.get("detail").is_some());
    }
});
