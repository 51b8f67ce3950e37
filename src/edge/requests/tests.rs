//! The request path's state machine, driven without sockets or threads: a
//! [`Fake`] HTTP layer records what the path asks of it, and each test plays
//! the other side (a body read, a hash, a write, a scan) when it chooses.

use super::*;
use crate::edge::peers::{MAX_BACKLOG_BYTES, MAX_PIPELINED};
use crate::http::Method;
use crate::passwords::PasswordCheck;
use crate::router::tests::{NOW_MS, TestApp, app_with, login_cookie};
use crate::track_file::PendingWrite;
use std::os::fd::RawFd;

/// A request as the fake HTTP layer hands it over: its number, and the body
/// it has in memory (what `preread` returns).
struct Rq(u32, Vec<u8>);

/// What the request path asked of the HTTP layer, in order.
#[derive(Debug, PartialEq, Eq)]
enum Did {
    ReadBody(u32),
    Hashing(u32),
    Commit,
    Discarded(u32),
    /// Written on the loop: request, status.
    WroteHere(u32, u16),
    WroteElsewhere(u32, u16),
    Scan,
    Cut(SocketAddr),
}

#[derive(Default)]
struct Fake {
    did: Vec<Did>,
    bodies: Vec<Pending<Rq>>,
    logins: Vec<(PasswordCheck, Box<Pending<Rq>>)>,
    commits: Vec<PendingWrite>,
    /// Writes handed elsewhere and not yet ended, oldest first.
    writing: Vec<Reply<Rq>>,
    /// The bodies of written responses, by request.
    sent: Vec<(u32, String)>,
    readers_busy: bool,
    login_queue_full: bool,
    /// What every socket's send queue says: room for a write, bytes unsent.
    room: bool,
    unsent: usize,
}

impl Io for Fake {
    type Rq = Rq;

    fn preread(&mut self, rq: &mut Rq, _limit: usize) -> Body {
        Body::Bytes(std::mem::take(&mut rq.1))
    }

    fn read_body(&mut self, p: Pending<Rq>, _limit: usize) -> Result<(), Box<Pending<Rq>>> {
        if self.readers_busy {
            return Err(Box::new(p));
        }
        self.did.push(Did::ReadBody(p.rq.0));
        self.bodies.push(p);
        Ok(())
    }

    fn check_password(
        &mut self,
        check: PasswordCheck,
        p: Box<Pending<Rq>>,
    ) -> Result<(), Box<Pending<Rq>>> {
        if self.login_queue_full {
            return Err(p);
        }
        self.did.push(Did::Hashing(p.rq.0));
        self.logins.push((check, p));
        Ok(())
    }

    fn commit(&mut self, write: PendingWrite) {
        self.did.push(Did::Commit);
        self.commits.push(write);
    }

    fn discard(&mut self, rq: Rq) {
        self.did.push(Did::Discarded(rq.0));
    }

    fn write_here(&mut self, rq: Rq, response: Response) -> bool {
        self.did.push(Did::WroteHere(rq.0, response.status));
        self.sent.push((rq.0, response.body_text()));
        true
    }

    fn write_elsewhere(&mut self, reply: Reply<Rq>) {
        let (id, status) = (reply.rq.0, reply.response.status);
        self.did.push(Did::WroteElsewhere(id, status));
        self.sent.push((id, reply.response.body_text()));
        self.writing.push(reply);
    }

    fn scan(&mut self) {
        self.did.push(Did::Scan);
    }

    fn cut(&mut self, peer: SocketAddr) {
        self.did.push(Did::Cut(peer));
    }

    fn new_connection(&mut self) {}

    fn room_to_write(&self, _fd: RawFd, _peer: SocketAddr, _bytes: usize) -> Option<bool> {
        Some(self.room)
    }

    fn unsent(&self, _fd: RawFd, _peer: SocketAddr) -> Option<usize> {
        Some(self.unsent)
    }
}

const IDLE: Duration = Duration::from_secs(5);

/// The request path with an app (john/password) and the fake HTTP layer.
struct Edge {
    app: TestApp,
    io: Fake,
    requests: Requests<Rq>,
    next_id: u32,
}

fn edge() -> Edge {
    let mut app = app_with("");
    app.tracks.write_in_background();
    Edge {
        app,
        io: Fake::default(),
        requests: Requests::new(
            IDLE,
            Instant::now() - Duration::from_secs(1),
            AccessLog::to(Box::new(std::io::sink())),
        ),
        next_id: 0,
    }
}

fn peer(port: u16) -> SocketAddr {
    SocketAddr::from(([192, 168, 1, 9], port))
}

fn get(target: &str) -> (Request, Vec<u8>) {
    (Request::new(Method::Get, target), Vec::new())
}

fn post(target: &str, content_type: &str, body: &str) -> (Request, Vec<u8>) {
    let req = Request::new(Method::Post, target)
        .with_header("content-type", content_type)
        .with_header("content-length", &body.len().to_string());
    (req, body.as_bytes().to_vec())
}

fn login() -> (Request, Vec<u8>) {
    let form = "application/x-www-form-urlencoded";
    post("/login", form, "username=john&password=password")
}

impl Edge {
    /// `peer` sends a request (at `now`); returns its number.
    fn send_at(
        &mut self,
        from: SocketAddr,
        (mut req, body): (Request, Vec<u8>),
        now: Instant,
    ) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        req.now_ms = NOW_MS;
        let on = (&mut *self.app, &mut self.io);
        self.requests.take(on, (Rq(id, body), req, from), now);
        id
    }

    fn send(&mut self, from: SocketAddr, request: (Request, Vec<u8>)) -> u32 {
        self.send_at(from, request, Instant::now())
    }

    /// What the path did since the last look.
    fn did(&mut self) -> Vec<Did> {
        std::mem::take(&mut self.io.did)
    }

    /// The oldest password check runs; its verdict comes back.
    fn finish_login(&mut self) {
        let (check, mut p) = self.io.logins.remove(0);
        p.req.password_verdict = Some(check.run());
        self.requests.answer((&mut *self.app, &mut self.io), *p);
    }

    /// The oldest write handed elsewhere ends; `ok`: all of it went out.
    fn finish_write(&mut self, ok: bool) {
        let reply = self.io.writing.remove(0);
        let w = Written {
            peer: reply.peer,
            ok,
            closed: !ok || reply.after == After::Close,
            log: reply.log,
        };
        self.requests.written((&mut *self.app, &mut self.io), w);
    }

    /// The oldest catalogue write ends (it runs, or fails without running).
    fn finish_commit(&mut self, fail: bool) {
        let write = self.io.commits.remove(0);
        let result = if fail {
            Err(std::io::Error::other("disk gone"))
        } else {
            write.run()
        };
        let on = (&mut *self.app, &mut self.io);
        self.requests.durable(on, write.version(), result);
    }

    /// A scan found `peer`'s socket (so its descriptor is known).
    fn found(&mut self, open: &[(SocketAddr, Duration)]) -> usize {
        let found = open
            .iter()
            .map(|&(peer, silent)| Connection {
                peer,
                fd: 7,
                silent,
            })
            .collect();
        self.requests.scanned(found, Instant::now())
    }

    /// A logged-in `POST /tracks` of track 7 from `peer`; returns its number.
    fn add_track_7(&mut self, from: SocketAddr) -> u32 {
        let cookie = login_cookie(&mut self.app);
        let track = r#"{"id":7,"title":"Song 7","artist":"Blur","year":1997}"#;
        let (req, body) = post("/tracks", "application/json", track);
        self.send(from, (req.with_header("cookie", &cookie), body))
    }

    fn sent(&self, id: u32) -> &str {
        let (_, body) = self.io.sent.iter().find(|(i, _)| *i == id).expect("sent");
        body
    }
}

#[test]
fn replies_leave_in_request_order_whatever_order_they_are_made_in() {
    let mut e = edge();
    let a = peer(1);
    let first = e.send(a, login());
    let second = e.send(a, get("/tracks"));
    let third = e.send(a, get("/nowhere"));
    // The later two are answered at once, but wait for the login's hash.
    assert_eq!(e.did(), [Did::Hashing(first)]);
    e.finish_login();
    // The first reply of a new connection is small: written on the loop; the
    // next goes elsewhere (its socket's queue is unknown), which asks for a scan.
    assert_eq!(
        e.did(),
        [
            Did::WroteHere(first, 200),
            Did::WroteElsewhere(second, 200),
            Did::Scan
        ]
    );
    e.finish_write(true);
    assert_eq!(e.did(), [Did::WroteElsewhere(third, 404)]);
    e.finish_write(true);
    assert!(e.did().is_empty() && e.requests.all_answered());
}

#[test]
fn pipelining_past_the_bound_cuts_the_connection_and_only_it() {
    let mut e = edge();
    let (a, b) = (peer(1), peer(2));
    let stalled = e.send(a, login());
    let queued: Vec<u32> = (1..MAX_PIPELINED)
        .map(|_| e.send(a, get("/tracks")))
        .collect();
    assert_eq!(e.did(), [Did::Hashing(stalled)]);
    let one_too_many = e.send(a, get("/tracks"));
    let mut expected = vec![Did::Discarded(one_too_many)];
    expected.extend(queued.iter().map(|&id| Did::Discarded(id)));
    expected.push(Did::Cut(a));
    assert_eq!(e.did(), expected);
    // Another connection is served as ever.
    let other = e.send(b, get("/tracks"));
    assert_eq!(e.did(), [Did::WroteHere(other, 200)]);
    // What the cut connection still had coming is dropped when it comes.
    e.finish_login();
    let late = e.send(a, get("/tracks"));
    assert_eq!(e.did(), [Did::Discarded(stalled), Did::Discarded(late)]);
    // Once a cut connection's time is up, its address is a new connection.
    let later = Instant::now() + IDLE * 2 + Duration::from_secs(1);
    e.requests.prune(later);
    let again = e.send_at(a, get("/tracks"), later);
    assert_eq!(e.did(), [Did::WroteHere(again, 200)]);
}

#[test]
fn a_backlog_over_its_bound_holds_requests_unrouted_until_writes_catch_up() {
    let mut e = edge();
    let a = peer(1);
    let first = e.send(a, get("/tracks"));
    e.found(&[(a, Duration::ZERO)]);
    e.io.room = false;
    let second = e.send(a, get("/tracks"));
    assert_eq!(
        e.did(),
        [Did::WroteHere(first, 200), Did::WroteElsewhere(second, 200)]
    );
    // The socket holds the bound's worth unsent: a login (whose routing shows,
    // as a hash) waits unrouted.
    e.io.unsent = MAX_BACKLOG_BYTES;
    let third = e.send(a, login());
    assert!(e.did().is_empty());
    e.io.unsent = 0;
    e.finish_write(true);
    assert_eq!(e.did(), [Did::Hashing(third)]);
}

#[test]
fn a_change_is_answered_once_durable_and_a_later_request_of_its_connection_waits() {
    let mut e = edge();
    let (a, b) = (peer(1), peer(2));
    let change = e.add_track_7(a);
    let after = e.send(a, get("/tracks/7"));
    assert_eq!(e.did(), [Did::Commit]);
    // A read on another connection never waits for the write.
    let read = e.send(b, get("/tracks"));
    assert_eq!(e.did(), [Did::WroteHere(read, 200)]);
    e.finish_commit(false);
    let did = e.did();
    assert_eq!(did[0], Did::WroteHere(change, 200));
    assert_eq!(did[1], Did::WroteElsewhere(after, 200));
    assert!(e.sent(after).contains("Song 7"));
}

#[test]
fn a_failed_catalogue_write_refuses_its_changes_and_what_waited_sees_none() {
    let mut e = edge();
    let a = peer(1);
    let change = e.add_track_7(a);
    let after = e.send(a, get("/tracks/7"));
    e.finish_commit(true);
    let did = e.did();
    assert_eq!(did[..2], [Did::Commit, Did::WroteHere(change, 503)]);
    // Routed only once the change was undone: it never saw it.
    assert_eq!(did[2], Did::WroteElsewhere(after, 404));
}

#[test]
fn a_failed_write_forgets_the_connection_and_drops_what_it_had_queued() {
    let mut e = edge();
    let a = peer(1);
    let stalled = e.send(a, login());
    let queued = e.send(a, get("/tracks"));
    let third = e.send(a, get("/tracks"));
    e.finish_login();
    assert_eq!(
        e.did(),
        [
            Did::Hashing(stalled),
            Did::WroteHere(stalled, 200),
            Did::WroteElsewhere(queued, 200),
            Did::Scan
        ]
    );
    e.finish_write(false);
    let late = e.send(a, get("/tracks"));
    assert_eq!(e.did(), [Did::Discarded(third), Did::Discarded(late)]);
    assert!(e.requests.all_answered());
}

#[test]
fn a_refusal_closes_its_connection_and_is_never_written_on_the_loop() {
    let mut e = edge();
    let a = peer(1);
    let (req, body) = get("/tracks");
    let smuggled = req
        .with_header("content-length", "3")
        .with_header("transfer-encoding", "chunked");
    let refused = e.send(a, (smuggled, body));
    let after = e.send(a, get("/tracks"));
    // Small and first on its connection, but it closes it: written elsewhere,
    // and what follows it (perhaps its body) is never answered.
    assert_eq!(
        e.did(),
        [Did::WroteElsewhere(refused, 400), Did::Discarded(after)]
    );
    e.finish_write(true);
    assert!(e.requests.all_answered());
}

#[test]
fn busy_readers_and_a_full_login_queue_are_503s_with_retry_after() {
    let mut e = edge();
    let (a, b) = (peer(1), peer(2));
    e.io.readers_busy = true;
    let big = "x".repeat(framing::PREREAD_BODY_BYTES as usize + 1);
    let streamed = e.send(a, post("/tracks", "application/json", &big));
    assert_eq!(e.did(), [Did::WroteElsewhere(streamed, 503)]);
    assert!(e.io.writing[0].response.header("retry-after").is_some());
    e.io.login_queue_full = true;
    let turned_away = e.send(b, login());
    assert_eq!(e.did(), [Did::WroteHere(turned_away, 503)]);
    assert!(e.sent(turned_away).contains("Login queue full"));
}

#[test]
fn a_streamed_body_is_read_elsewhere_then_answered() {
    let mut e = edge();
    let a = peer(1);
    let big = "x".repeat(framing::PREREAD_BODY_BYTES as usize + 1);
    let streamed = e.send(a, post("/tracks", "application/json", &big));
    assert_eq!(e.did(), [Did::ReadBody(streamed)]);
    let mut p = e.io.bodies.remove(0);
    p.req.body = Body::Bytes(big.into_bytes());
    e.requests.answer((&mut *e.app, &mut e.io), p);
    // Not logged in; and its body may be unread: never written on the loop.
    assert_eq!(e.did(), [Did::WroteElsewhere(streamed, 401), Did::Scan]);
}

#[test]
fn connections_silent_past_the_idle_timeout_without_a_request_count_as_stuck() {
    let mut e = edge();
    let silent = IDLE + Duration::from_secs(2);
    let (busy, talked, quiet) = (peer(1), peer(2), peer(3));
    e.send(busy, login());
    e.send(talked, get("/tracks"));
    let mut open = vec![(busy, silent), (talked, silent), (quiet, Duration::ZERO)];
    open.extend((10..20).map(|port| (peer(port), silent)));
    // Only the ten that never sent a request: one has a request in flight,
    // one sent one just now, one is not silent.
    assert_eq!(e.found(&open), 10);
}

fn boom(_: &mut App, _: &Request) -> Response {
    panic!("a bug in a handler")
}

#[test]
fn a_panicking_handler_is_a_500_and_the_app_lives_on() {
    let mut app = crate::router::tests::app_with("");
    let req = Request::new(Method::Get, "/tracks");
    let r = answer_with(&mut app, &req, boom);
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (500, r#"{"detail":"Internal Server Error"}"#)
    );
    assert_eq!(route(&mut app, &req).status, 200);
}
