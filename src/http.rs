//! The owned request and response values that the router works on.
//!
//! These types know nothing about sockets or tiny-http: the server loop builds a
//! [`Request`] from the wire and writes a [`Response`] back, so the whole of the
//! application logic can be exercised in unit tests with plain values.

use std::borrow::Cow;
use std::net::IpAddr;

/// The HTTP methods the service distinguishes; everything else is `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Other(String),
}

impl Method {
    /// Maps a method token as it appeared on the wire.
    pub fn parse(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The method token, for logs and `Allow` headers.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Other(s) => s,
        }
    }

    /// Whether the method changes state (and so is subject to the CSRF origin check).
    pub fn is_unsafe(&self) -> bool {
        !matches!(self, Method::Get | Method::Head)
    }
}

/// The request body as the edge delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The complete body (empty when the request had none).
    Bytes(Vec<u8>),
    /// The body was larger than the limit; it was never read into memory.
    TooLarge,
}

/// One HTTP request, fully owned, as the router sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The raw path, without the query string, still percent-encoded.
    pub path: String,
    /// The raw query string (without `?`), empty when absent.
    pub query: String,
    /// Headers in arrival order, names lower-cased by the edge (look them up with
    /// [`Request::header`], which ignores case all the same).
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// The TCP peer's address, if known.
    pub peer: Option<IpAddr>,
    /// When the request was received, in Unix milliseconds; the router's only clock.
    pub now_ms: u64,
    /// For a login: the password check the edge ran off the handler loop. Without
    /// it, `POST /login` hashes where it is called (tests, in-process callers).
    pub password_verdict: Option<crate::passwords::PasswordVerdict>,
}

impl Request {
    /// Builds a request from a target such as `/tracks?skip=1`, for tests and the edge.
    pub fn new(method: Method, target: &str) -> Request {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, q),
            None => (target, ""),
        };
        Request {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
            peer: None,
            now_ms: 0,
            password_verdict: None,
        }
    }

    /// Adds a header (builder style, mainly for tests).
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Sets the body (builder style, mainly for tests).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = Body::Bytes(body.into());
        self
    }

    /// The last value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header, by case-insensitive name, in arrival order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type of the body, lower-cased, without parameters.
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
}

/// One HTTP response, as the router produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Names and values; most values are fixed text, so they are not copied.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response from anything serde can write; compact, as FastAPI sends it.
    pub fn json<T: serde::Serialize + ?Sized>(status: u16, value: &T) -> Response {
        // Serialising our own plain data types cannot fail.
        Response::json_bytes(status, serde_json::to_vec(value).unwrap_or_default())
    }

    /// A JSON response from bytes that already are JSON (stored tracks).
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", Cow::Borrowed("application/json"))],
            body,
        }
    }

    /// The original's error shape: `{"detail": "..."}`.
    pub fn detail(status: u16, message: &str) -> Response {
        #[derive(serde::Serialize)]
        struct Detail<'a> {
            detail: &'a str,
        }
        Response::json(status, &Detail { detail: message })
    }

    /// A response with no body (e.g. 204).
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header (builder style).
    pub fn with_header(
        mut self,
        name: &'static str,
        value: impl Into<Cow<'static, str>>,
    ) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// The last value of a header, by case-insensitive name: what a client that
    /// keeps headers in a map sees (for `Set-Cookie` after a login: the session).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// The body as text, for tests and logs.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}
