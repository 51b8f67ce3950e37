//! The throughput ceiling for `make bench`: a bare `tiny_http` server with one
//! `recv()` loop that answers `{"Hello":"World!"}` to every request.
//!
//! Usage: `hello [ADDR]` (default `127.0.0.1:0`); prints
//! `listening on http://ADDR` with the real port on stderr.

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let server = match tiny_http::Server::http(&addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hello: cannot listen on {addr}: {e}");
            std::process::exit(2);
        }
    };
    match server.server_addr().to_ip() {
        Some(a) => eprintln!("listening on http://{a}"),
        None => eprintln!("listening on http://{addr}"),
    }
    let content_type =
        tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
            .expect("static header");
    loop {
        let rq = match server.recv() {
            Ok(rq) => rq,
            Err(e) => {
                eprintln!("hello: listener failed: {e}");
                std::process::exit(1);
            }
        };
        let response = tiny_http::Response::from_string(r#"{"Hello":"World!"}"#)
            .with_header(content_type.clone());
        let _ = rq.respond(response);
    }
}
