//! Router tests: fake requests, no sockets.

use super::*;
use crate::app::App;
use crate::http::{Method, Request};

/// An app whose state directory is removed when it is dropped.
pub(crate) struct TestApp {
    app: App,
    _dir: crate::test_dir::TestDir,
}

impl std::ops::Deref for TestApp {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl std::ops::DerefMut for TestApp {
    fn deref_mut(&mut self) -> &mut App {
        &mut self.app
    }
}

/// An app with state in a fresh temp dir, user john/password (cheap hash), plus `extra` config.
pub(crate) fn app_with(extra: &str) -> TestApp {
    let dir = crate::test_dir::TestDir::new("unit");
    let text = format!(
        "state_dir = {:?}\n{extra}\n[[users]]\nusername = \"john\"\npassword_hash = \"{}\"\n",
        dir.display().to_string(),
        "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0c2FsdA$8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA"
    );
    let config = crate::config::parse(&text, "test").unwrap();
    TestApp {
        app: App::open(config, &["k".repeat(32)], NOW_MS).unwrap(),
        _dir: dir,
    }
}

pub(crate) const NOW_MS: u64 = 1_700_000_000_000;

fn app() -> TestApp {
    app_with("")
}

/// Logs john in and returns the `name=value` cookie pair.
pub(crate) fn login_cookie(app: &mut App) -> String {
    let mut req = Request::new(Method::Post, "/login")
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body("username=john&password=password");
    req.now_ms = NOW_MS;
    let r = handle(app, &req);
    assert_eq!(r.status, 200, "{}", r.body_text());
    cookie_pair(&r)
}

/// The `name=value` part of a response's Set-Cookie.
pub(crate) fn cookie_pair(r: &Response) -> String {
    r.header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn get(app: &mut App, target: &str) -> Response {
    handle(app, &Request::new(Method::Get, target))
}

fn post_json(app: &mut App, body: &str) -> Response {
    authed(app, Method::Post, "/tracks", body)
}

#[test]
fn hello() {
    let r = get(&mut app(), "/");
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (200, r#"{"Hello":"World!"}"#)
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn tracks_default_page_is_the_first_track() {
    let r = get(&mut app(), "/tracks");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body_text(),
        r#"[{"id":1,"title":"Here comes the sun","artist":"Beatles","album":"Abby Road","year":1969,"label":"Apple Records"}]"#
    );
}

#[test]
fn tracks_skip_limit_and_artist_filter() {
    let mut a = app();
    let ids = |r: Response| -> Vec<i64> {
        let v: Vec<Track> = serde_json::from_slice(&r.body).unwrap();
        v.iter().map(|t| t.id).collect()
    };
    assert_eq!(ids(get(&mut a, "/tracks?skip=1&limit=2")), vec![2, 3]);
    assert_eq!(ids(get(&mut a, "/tracks?skip=3&limit=1000")), vec![4]);
    assert_eq!(ids(get(&mut a, "/tracks?skip=10")), Vec::<i64>::new());
    assert_eq!(ids(get(&mut a, "/tracks?q=le+zeppelin&limit=10")), vec![4]);
    assert_eq!(
        ids(get(&mut a, "/tracks?q=zeppelin&limit=10")),
        Vec::<i64>::new()
    );
    assert_eq!(ids(get(&mut a, "/tracks?q=&limit=2")), vec![1, 2]);
    assert_eq!(ids(get(&mut a, "/tracks?limit=1&limit=3")), vec![1, 2, 3]);
}

#[test]
fn tracks_query_422_bodies() {
    let mut a = app();
    let r = get(&mut a, "/tracks?skip=abc");
    assert_eq!(r.status, 422);
    assert_eq!(
        r.body_text(),
        r#"{"detail":[{"type":"int_parsing","loc":["query","skip"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}"#
    );
    let r = get(&mut a, "/tracks?skip=-1");
    assert_eq!(
        r.body_text(),
        r#"{"detail":[{"type":"greater_than_equal","loc":["query","skip"],"msg":"Input should be greater than or equal to 0","input":"-1","ctx":{"ge":0}}]}"#
    );
    let r = get(&mut a, "/tracks?limit=0");
    assert_eq!(
        r.body_text(),
        r#"{"detail":[{"type":"greater_than_equal","loc":["query","limit"],"msg":"Input should be greater than or equal to 1","input":"0","ctx":{"ge":1}}]}"#
    );
    let r = get(&mut a, "/tracks?limit=1001");
    assert_eq!(
        r.body_text(),
        r#"{"detail":[{"type":"less_than_equal","loc":["query","limit"],"msg":"Input should be less than or equal to 1000","input":"1001","ctx":{"le":1000}}]}"#
    );
}

#[test]
fn one_track_404_and_422() {
    let mut a = app();
    let r = get(&mut a, "/tracks/2");
    assert_eq!(r.status, 200);
    assert!(r.body_text().starts_with(r#"{"id":2,"title":"Song 2""#));
    let r = get(&mut a, "/tracks/99");
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (404, r#"{"detail":"Track not found"}"#)
    );
    let r = get(&mut a, "/tracks/abc");
    assert_eq!(
        r.body_text(),
        r#"{"detail":[{"type":"int_parsing","loc":["path","track_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}"#
    );
    assert_eq!(get(&mut a, "/tracks/%FF").status, 422);
}

#[test]
fn unknown_path_and_wrong_method() {
    let mut a = app();
    let r = get(&mut a, "/nope");
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (404, r#"{"detail":"Not Found"}"#)
    );
    assert_eq!(get(&mut a, "/tracks/").status, 404);
    assert_eq!(get(&mut a, "/tracks/1/x").status, 404);
    let r = handle(&mut a, &Request::new(Method::Delete, "/tracks"));
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (405, r#"{"detail":"Method Not Allowed"}"#)
    );
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST, PUT"));
    let r = handle(&mut a, &Request::new(Method::Other("PATCH".into()), "/"));
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let r = handle(&mut a, &Request::new(Method::Post, "/tracks/1"));
    assert_eq!(r.header("allow"), Some("GET, HEAD, PUT, DELETE"));
}

#[test]
fn head_answers_like_get() {
    let mut a = app();
    for path in ["/", "/tracks", "/tracks/1"] {
        let g = get(&mut a, path);
        let h = handle(&mut a, &Request::new(Method::Head, path));
        assert_eq!(g, h, "{path}");
    }
}

#[test]
fn create_track_then_read_it() {
    let mut a = app();
    let r = post_json(
        &mut a,
        r#"{"id":5,"title":"Yellow","artist":"Coldplay","year":2000,"extra":1}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body_text(),
        r#"{"id":5,"title":"Yellow","artist":"Coldplay","album":null,"year":2000,"label":null}"#
    );
    assert_eq!(get(&mut a, "/tracks/5").body, r.body);
    let r = post_json(
        &mut a,
        r#"{"id":5,"title":"Again","artist":"X","year":2000}"#,
    );
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (409, r#"{"detail":"Track id already exists"}"#)
    );
}

#[test]
fn create_track_422s() {
    let mut a = app();
    let r = post_json(&mut a, r#"{"id":5,"#);
    assert_eq!(r.status, 422);
    assert!(r.body_text().starts_with(
        r#"{"detail":[{"type":"json_invalid","loc":["body",8],"msg":"JSON decode error""#
    ));
    let r = post_json(&mut a, r#"{"title":1}"#);
    assert_eq!(
        r.body_text(),
        concat!(
            r#"{"detail":[{"type":"missing","loc":["body","id"],"msg":"Field required","input":{"title":1}},"#,
            r#"{"type":"string_type","loc":["body","title"],"msg":"Input should be a valid string","input":1},"#,
            r#"{"type":"missing","loc":["body","artist"],"msg":"Field required","input":{"title":1}},"#,
            r#"{"type":"missing","loc":["body","year"],"msg":"Field required","input":{"title":1}}]}"#
        )
    );
    let cookie = login_cookie(&mut a);
    let mut empty = Request::new(Method::Post, "/tracks").with_header("cookie", &cookie);
    empty.now_ms = NOW_MS;
    assert_eq!(
        handle(&mut a, &empty).body_text(),
        r#"{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}"#
    );
}

#[test]
fn oversized_body_is_413() {
    let mut a = app();
    let mut req = Request::new(Method::Post, "/tracks");
    req.body = Body::TooLarge;
    let r = handle(&mut a, &req);
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (413, r#"{"detail":"Request body too large"}"#)
    );
}

#[test]
fn route_table_matches_patterns() {
    assert_eq!(
        find_route("/tracks/7").map(|(r, p)| (r.endpoint, p)),
        Some((Endpoint::Track, Some("7")))
    );
    assert_eq!(
        find_route("/users/me").map(|(r, _)| r.endpoint),
        Some(Endpoint::Me)
    );
    assert!(find_route("").is_none());
    assert!(find_route("//").is_none());
}

fn authed(app: &mut App, method: Method, target: &str, body: &str) -> Response {
    let cookie = login_cookie(app);
    let mut req = Request::new(method, target)
        .with_header("content-type", "application/json")
        .with_header("cookie", &cookie)
        .with_body(body);
    req.now_ms = NOW_MS;
    handle(app, &req)
}

#[test]
fn put_replaces_and_checks_the_id() {
    let mut a = app();
    let r = authed(
        &mut a,
        Method::Put,
        "/tracks/2",
        r#"{"title":"Song 3","artist":"Blur","year":1997}"#,
    );
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (
            200,
            r#"{"id":2,"title":"Song 3","artist":"Blur","album":null,"year":1997,"label":null}"#
        )
    );
    assert_eq!(get(&mut a, "/tracks/2").body, r.body);
    let r = authed(
        &mut a,
        Method::Put,
        "/tracks/2",
        r#"{"id":3,"title":"x","artist":"y","year":1}"#,
    );
    assert_eq!(
        r.body_text(),
        r#"{"detail":[{"type":"value_error","loc":["body","id"],"msg":"Value error, the body's id must equal the track_id in the path","input":3,"ctx":{"error":"the body's id must equal the track_id in the path"}}]}"#
    );
    let r = authed(
        &mut a,
        Method::Put,
        "/tracks/77",
        r#"{"title":"x","artist":"y","year":1}"#,
    );
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (404, r#"{"detail":"Track not found"}"#)
    );
    assert_eq!(
        authed(&mut a, Method::Put, "/tracks/2", r#"{"title":""}"#).status,
        422
    );
}

#[test]
fn delete_is_204_then_404() {
    let mut a = app();
    let r = authed(&mut a, Method::Delete, "/tracks/1", "");
    assert_eq!((r.status, r.body.len()), (204, 0));
    assert_eq!(get(&mut a, "/tracks/1").status, 404);
    assert_eq!(authed(&mut a, Method::Delete, "/tracks/1", "").status, 404);
    let anon = handle(&mut a, &Request::new(Method::Delete, "/tracks/2"));
    assert_eq!(anon.status, 401);
}

#[test]
fn ops_routes_answer_get_and_head_only() {
    let mut app = app();
    for (path, endpoint) in [
        ("/healthz", Endpoint::Healthz),
        ("/openapi.json", Endpoint::OpenApi),
        ("/docs", Endpoint::Docs),
    ] {
        assert_eq!(find_route(path).map(|(r, _)| r.endpoint), Some(endpoint));
        let got = get(&mut app, path);
        assert_eq!(got.status, 200, "{path}: {}", got.body_text());
        let head = handle(&mut app, &Request::new(Method::Head, path));
        assert_eq!((head.status, &head.headers), (200, &got.headers), "{path}");
        let mut post = Request::new(Method::Post, path);
        post.now_ms = NOW_MS;
        let r = handle(&mut app, &post);
        assert_eq!(r.status, 405, "{path}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
    assert_eq!(
        get(&mut app, "/healthz").body_text(),
        r#"{"status":"ok","checked_ms_ago":0}"#
    );
    assert_eq!(get(&mut app, "/healthz/").status, 404);
}

#[test]
fn ops_routes_stay_public_when_reads_need_a_login() {
    let mut app = app_with("[tracks]\npublic_reads = false\n");
    assert_eq!(get(&mut app, "/tracks").status, 401);
    for path in ["/healthz", "/openapi.json", "/docs"] {
        assert_eq!(get(&mut app, path).status, 200, "{path}");
    }
}

#[test]
fn openapi_json_is_served_with_every_path() {
    let mut app = app();
    let r = get(&mut app, "/openapi.json");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc: Value = serde_json::from_slice(&r.body).unwrap();
    for route in ROUTES.iter().filter(|r| r.documented) {
        assert!(
            doc["paths"].get(route.pattern).is_some(),
            "{}",
            route.pattern
        );
    }
}
