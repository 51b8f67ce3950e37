//! The built-in page for people at `/ui/` (HTML, CSS and plain JavaScript,
//! compiled into the binary), and `/` sending a browser there.
//!
//! Architecture invariant: the page is a client of the public API only (the
//! same `/login`, `/tracks`… as curl, through the same CSRF, Host and throttle
//! rules); nothing here reads or changes state. It loads nothing from another
//! origin and runs under a CSP that forbids inline script and style.

use crate::app::App;
use crate::http::{Request, Response};

/// The page's files: name under `/ui/`, content type, bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "",
        "text/html; charset=utf-8",
        include_str!("ui/index.html"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("ui/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("ui/app.js"),
    ),
];

/// Only our own files, no inline code, no framing, no plugins; forms and fetches
/// only to this server.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

/// The total size of everything the page loads (its files and the favicon);
/// `make bench` reports it as served.
#[cfg(test)]
fn page_weight() -> usize {
    ASSETS.iter().map(|(_, _, body)| body.len()).sum::<usize>() + crate::ops::FAVICON.len()
}

/// `GET /ui/` and `GET /ui/{asset}`; 404 when `[ui] enabled = false`.
pub fn asset(app: &App, name: &str) -> Response {
    let found = ASSETS.iter().find(|(n, _, _)| *n == name);
    let Some((_, kind, body)) = found.filter(|_| app.config.ui.enabled) else {
        return Response::detail(404, "Not Found");
    };
    Response {
        status: 200,
        headers: vec![
            ("Content-Type", (*kind).into()),
            ("Content-Security-Policy", CONTENT_SECURITY_POLICY.into()),
            ("X-Content-Type-Options", "nosniff".into()),
            ("Referrer-Policy", "same-origin".into()),
            ("X-Frame-Options", "DENY".into()),
            // Revalidated on each load, so an upgrade shows at once.
            ("Cache-Control", "no-cache".into()),
        ],
        body: body.as_bytes().to_vec(),
    }
}

/// `GET /ui`: the page is a directory, so its relative links need the slash.
pub fn bare(app: &App) -> Response {
    if !app.config.ui.enabled {
        return Response::detail(404, "Not Found");
    }
    Response::empty(301).with_header("Location", "/ui/")
}

/// `GET /`: the original's greeting, or, for a browser's navigation (an
/// `Accept` preferring `text/html`), `303 See Other` to the page.
pub fn hello(app: &App, req: &Request) -> Response {
    if app.config.ui.enabled && prefers_html(req.header("accept").unwrap_or("")) {
        return Response::empty(303)
            .with_header("Location", "/ui/")
            .with_header("Vary", "Accept");
    }
    let r = Response::json(200, &serde_json::json!({ "Hello": "World!" }));
    if app.config.ui.enabled {
        r.with_header("Vary", "Accept")
    } else {
        r
    }
}

/// Whether `accept` names `text/html` itself with a higher quality than JSON
/// gets (from `application/json`, `application/*` or `*/*`, the most specific
/// that is listed). `*/*` alone (curl), `text/*` or a tie keeps JSON.
pub fn prefers_html(accept: &str) -> bool {
    let mut html: Option<f32> = None;
    let mut json: (u8, f32) = (0, 0.0);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let specificity = match media.as_str() {
            "text/html" => {
                html = Some(html.map_or(q, |h| h.max(q)));
                continue;
            }
            "application/json" => 3,
            "application/*" => 2,
            "*/*" => 1,
            _ => continue,
        };
        if specificity > json.0 {
            json = (specificity, q);
        }
    }
    html.is_some_and(|h| h > 0.0 && h > json.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_browser_navigation_prefers_html() {
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,\
                      image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";
        let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(prefers_html(chrome));
        assert!(prefers_html(firefox));
        assert!(prefers_html("text/html"));
        for other in [
            "",
            "*/*",
            "application/json",
            "text/*",
            "application/json, text/html",
            "text/html;q=0.5, */*",
            "text/html;q=0",
            "application/json;q=0.9, text/html;q=0.8",
        ] {
            assert!(!prefers_html(other), "{other:?}");
        }
        assert!(prefers_html("application/json;q=0.5, text/html"));
    }

    #[test]
    fn the_page_stays_small_and_has_no_inline_code_or_remote_asset() {
        assert!(page_weight() < 30 * 1024, "{} bytes", page_weight());
        let (_, _, html) = ASSETS[0];
        assert!(!html.contains("<script>") && !html.contains("<style"));
        assert!(!html.contains(" style=") && !html.contains("onclick") && !html.contains("onload"));
        for (name, _, body) in ASSETS {
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "{name}"
            );
            assert!(!body.contains("innerHTML"), "{name}");
        }
    }
}
