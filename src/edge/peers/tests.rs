use super::*;

const IDLE: Duration = Duration::from_secs(5);

fn seq(seq: u64) -> Admit {
    Admit::Seq {
        seq,
        fresh: seq == 0,
    }
}

/// `peer` sends a request at `at`, answered at once: whether it opened a connection.
fn request(c: &mut Peers<(), ()>, peer: SocketAddr, at: Instant) -> bool {
    let Admit::Seq { seq, fresh } = c.admit(peer, at, IDLE) else {
        panic!("not admitted")
    };
    assert_eq!(c.ready(peer, seq, (), 1), Ok(Some(())));
    assert_eq!(c.written(peer), None);
    fresh
}

fn peer(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn responses_go_out_in_request_order_one_at_a_time() {
    let now = Instant::now();
    let mut c: Peers<&str, ()> = Peers::new(Duration::from_secs(1));
    let (a, b) = (peer(1), peer(2));
    assert_eq!(c.admit(a, now, IDLE), seq(0));
    assert_eq!(c.admit(a, now, IDLE), seq(1));
    assert_eq!(c.admit(a, now, IDLE), seq(2));
    assert_eq!(c.admit(b, now, IDLE), seq(0));
    // The second answer is ready first (the first waits for its body): it waits.
    assert_eq!(c.ready(a, 1, "a1", 10), Ok(None));
    assert_eq!(c.ready(a, 0, "a0", 10), Ok(Some("a0")));
    // Another connection is not held up.
    assert_eq!(c.ready(b, 0, "b0", 10), Ok(Some("b0")));
    assert_eq!(c.ready(a, 2, "a2", MAX_BACKLOG_BYTES), Ok(None));
    assert!(c.backlogged(&a, |_| Some(0)) && !c.backlogged(&b, |_| Some(0)));
    assert_eq!(c.written(a), Some("a1"));
    assert!(c.backlogged(&a, |_| Some(0)));
    assert_eq!(c.written(a), Some("a2"));
    assert!(!c.backlogged(&a, |_| Some(0)));
    // What the kernel still holds counts, once the socket is known: a2 plus a
    // full send queue is too much.
    assert!(!c.backlogged(&a, |_| Some(64 * 1024)));
    c.scanned([(a, 7)], now);
    assert!(c.backlogged(&a, |fd| Some(if fd == 7 { 64 * 1024 } else { 0 })));
    assert_eq!(c.written(a), None);
    // Nothing waiting here: a send queue alone never parks a request.
    assert!(!c.backlogged(&a, |_| Some(MAX_BACKLOG_BYTES * 2)));
    assert_eq!(c.written(b), None);
    assert!(c.all_answered());
}

#[test]
fn a_connection_that_pipelines_too_far_is_cut_and_stays_cut_for_a_while() {
    let now = Instant::now();
    let mut c: Peers<u64, u64> = Peers::new(Duration::from_secs(1));
    let a = peer(1);
    for i in 0..MAX_PIPELINED {
        assert_eq!(c.admit(a, now, IDLE), seq(i));
    }
    assert_eq!(c.ready(a, 0, 0, 1), Ok(Some(0)));
    assert_eq!(c.ready(a, 1, 1, 1), Ok(None));
    assert_eq!(c.admit(a, now, IDLE), Admit::CutNow);
    assert_eq!(c.cut(a, now).replies, vec![1]);
    assert_eq!(c.admit(a, now, IDLE), Admit::Cut);
    // A reply still being made when it was cut is handed back to be dropped.
    assert_eq!(c.ready(a, 5, 5, 1), Err(5));
    assert!(c.all_answered());
    let later = now + Duration::from_secs(2);
    c.prune(later);
    assert_eq!(c.admit(a, later, IDLE), seq(0));
}

#[test]
fn a_backlogged_connection_parks_requests_in_order_and_a_cut_forgets_them() {
    let now = Instant::now();
    let mut c: Peers<&str, &str> = Peers::new(Duration::from_secs(1));
    let (a, b) = (peer(1), peer(2));
    for i in 0..4 {
        assert_eq!(c.admit(a, now, IDLE), seq(i));
    }
    // A big first response, being written: the connection is backlogged.
    assert_eq!(c.ready(a, 0, "a0", MAX_BACKLOG_BYTES + 1), Ok(Some("a0")));
    assert!(c.backlogged(&a, |_| Some(0)));
    assert_eq!(c.park(a, "r1"), Ok(()));
    assert_eq!(c.park(a, "r2"), Ok(()));
    // Nothing comes out while the backlog is over its bound.
    assert_eq!(c.unpark(&a, |_| Some(0)), None);
    // A connection with nothing taken in has no record to park in.
    assert_eq!(c.park(b, "b1"), Err("b1"));
    // The write ends: parked requests come out oldest first.
    assert_eq!(c.written(a), None);
    assert_eq!(c.unpark(&a, |_| Some(0)), Some("r1"));
    assert_eq!(c.unpark(&a, |_| Some(0)), Some("r2"));
    assert_eq!(c.unpark(&a, |_| Some(0)), None);
    // Parked again behind another big response, then cut: one place forgets all.
    assert_eq!(c.ready(a, 1, "a1", MAX_BACKLOG_BYTES + 1), Ok(Some("a1")));
    assert_eq!(c.ready(a, 2, "a2", 10), Ok(None));
    assert_eq!(c.park(a, "r3"), Ok(()));
    let dropped = c.cut(a, now);
    assert_eq!((dropped.replies, dropped.parked), (vec!["a2"], vec!["r3"]));
    assert!(c.all_answered());
    assert_eq!(c.park(a, "r4"), Err("r4"));
}

#[test]
fn a_request_opens_a_new_connection_unless_its_address_was_seen_lately() {
    let mut c = Peers::new(IDLE * 2);
    let t0 = Instant::now();
    assert!(request(&mut c, peer(1), t0));
    assert!(!request(&mut c, peer(1), t0 + Duration::from_secs(4)));
    assert_eq!(c.last_request(&peer(1)), Some(t0 + Duration::from_secs(4)));
    // Silent longer than the idle timeout: tiny_http closed it, so the
    // address is a new connection.
    assert!(request(&mut c, peer(1), t0 + Duration::from_secs(10)));
    assert!(request(&mut c, peer(2), t0));
}

#[test]
fn a_scan_gives_descriptors_and_forgets_what_it_did_not_find() {
    let mut c = Peers::new(IDLE * 2);
    let t0 = Instant::now();
    request(&mut c, peer(1), t0);
    request(&mut c, peer(2), t0);
    // One with a request unanswered, one cut: a scan does not forget them.
    assert_eq!(c.admit(peer(5), t0, IDLE), seq(0));
    c.cut(peer(6), t0);
    let began = t0 + Duration::from_millis(10);
    // A request after the scan began: its connection may be newer than the scan.
    request(&mut c, peer(3), began + Duration::from_millis(1));
    // Found: 1 (with a request) and 4 (never sent one); not found: 2 (closed).
    c.scanned([(peer(1), 7), (peer(4), 9)], began);
    assert_eq!(c.fd(&peer(1)), Some(7));
    assert_eq!(c.fd(&peer(4)), Some(9));
    assert_eq!(c.last_request(&peer(4)), None);
    assert_eq!((c.fd(&peer(2)), c.last_request(&peer(2))), (None, None));
    assert_eq!(c.fd(&peer(3)), None);
    assert!(c.last_request(&peer(3)).is_some());
    assert!(c.unanswered(&peer(5)) && c.admit(peer(6), began, IDLE) == Admit::Cut);
    assert_eq!(c.len(), 5);
    // A connection found by a scan and never heard from: its first request opens it.
    assert!(request(&mut c, peer(4), began));
    // A descriptor found stale is dropped; a cut connection is forgotten.
    c.lose_fd(&peer(1));
    assert_eq!(c.fd(&peer(1)), None);
    c.cut(peer(1), began);
    assert_eq!(c.last_request(&peer(1)), None);
    // The next scan does not find 3: it is gone; the cut ones go when their time is up.
    c.scanned([(peer(4), 9)], began + Duration::from_secs(1));
    assert_eq!(c.len(), 4);
    c.prune(began + IDLE * 3);
    assert_eq!(c.len(), 2);
}
