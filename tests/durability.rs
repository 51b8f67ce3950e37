//! Black-box durability tests against the real binary: SIGKILL at random points,
//! a corrupt tracks file at start, a full disk, and the PUT/DELETE write routes.

mod common;
use common::{HttpResponse, Server, config_text, temp_dir};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracksd::tracks::Track;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// xorshift64*: cheap, seedable, good enough to pick operations and kill times.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Logs in as john and returns the `name=value` cookie pair.
fn login(server: &Server) -> String {
    let r = server.login("john", "password");
    r.cookie()
        .unwrap_or_else(|| panic!("login gave no cookie: {} {}", r.status, r.text()))
}

/// A write request with the session cookie (or none) and a JSON body.
fn send(
    server: &Server,
    method: &str,
    target: &str,
    cookie: Option<&str>,
    body: &Value,
) -> HttpResponse {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(c) = cookie {
        headers.push(("Cookie", c));
    }
    let body = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(body).unwrap()
    };
    server.request(method, target, &headers, &body)
}

fn track(id: i64, title: &str) -> Track {
    Track {
        id,
        title: title.to_owned(),
        artist: "Crash".to_owned(),
        album: None,
        year: 2000,
        label: None,
    }
}

fn read_tracks_file(state: &Path) -> Vec<Track> {
    let bytes = fs::read(state.join("tracks.json")).expect("tracks.json exists");
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "tracks.json does not parse ({e}):\n{}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

fn temp_files(state: &Path) -> Vec<String> {
    fs::read_dir(state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

/// One request on a new connection that never panics: `None` when the server is
/// gone before a complete response arrived (the write's fate is then unknown).
fn try_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    cookie: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Option<HttpResponse> {
    let mut raw = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(c) = cookie {
        raw.push_str(&format!("Cookie: {c}\r\n"));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(&bytes).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out); // a reset keeps what was read before it
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    let r = HttpResponse::parse(&out);
    let length: usize = r
        .header("content-length")
        .map_or(Some(0), |v| v.parse().ok())?;
    (out.len() - head_end - 4 >= length).then_some(r)
}

// ---------------------------------------------------------------------------
// Crash test
// ---------------------------------------------------------------------------

/// One write the client sends.
#[derive(Debug, Clone)]
enum Op {
    Post(Track),
    Put(Track),
    Delete(i64),
}

impl Op {
    fn request(&self) -> (&'static str, String, Vec<u8>) {
        match self {
            Op::Post(t) => ("POST", "/tracks".into(), serde_json::to_vec(t).unwrap()),
            Op::Put(t) => (
                "PUT",
                format!("/tracks/{}", t.id),
                serde_json::to_vec(t).unwrap(),
            ),
            Op::Delete(id) => ("DELETE", format!("/tracks/{id}"), Vec::new()),
        }
    }

    fn id(&self) -> i64 {
        match self {
            Op::Post(t) | Op::Put(t) => t.id,
            Op::Delete(id) => *id,
        }
    }

    /// The track's state once this write has been applied.
    fn result(&self) -> Option<Track> {
        match self {
            Op::Post(t) | Op::Put(t) => Some(t.clone()),
            Op::Delete(_) => None,
        }
    }
}

/// What the catalogue may hold after the run: for every id touched, the states
/// it may be in. An acknowledged write leaves one; a write whose response was lost
/// in a kill leaves two (before or after), and that id is not written again.
struct Model {
    allowed: BTreeMap<i64, Vec<Option<Track>>>,
    /// Ids whose state is known exactly, with that state; writes pick from these.
    known: BTreeMap<i64, Track>,
    next_id: i64,
    version: u64,
}

impl Model {
    fn new() -> Model {
        let known: BTreeMap<i64, Track> = Track::seed().into_iter().map(|t| (t.id, t)).collect();
        Model {
            allowed: known
                .iter()
                .map(|(&id, t)| (id, vec![Some(t.clone())]))
                .collect(),
            known,
            next_id: 1000,
            version: 0,
        }
    }

    /// POST a new id (60%), PUT (25%) or DELETE (15%) a known one.
    fn next_op(&mut self, rng: &mut Rng) -> Op {
        self.version += 1;
        let roll = rng.below(100);
        if self.known.is_empty() || roll < 60 {
            self.next_id += 1;
            return Op::Post(track(self.next_id, &format!("v{}", self.version)));
        }
        let ids: Vec<i64> = self.known.keys().copied().collect();
        let id = ids[rng.below(ids.len() as u64) as usize];
        if roll < 85 {
            Op::Put(track(id, &format!("v{}", self.version)))
        } else {
            Op::Delete(id)
        }
    }

    fn acknowledged(&mut self, op: &Op) {
        let after = op.result();
        self.allowed.insert(op.id(), vec![after.clone()]);
        match after {
            Some(t) => self.known.insert(op.id(), t),
            None => self.known.remove(&op.id()),
        };
    }

    fn unknown(&mut self, op: &Op) {
        let before = self.known.remove(&op.id());
        self.allowed.insert(op.id(), vec![before, op.result()]);
    }
}

/// The expected answer to an acknowledged write.
fn check_ack(op: &Op, r: &HttpResponse) {
    match op {
        Op::Post(t) | Op::Put(t) => {
            assert_eq!(r.status, 200, "{op:?}: {}", r.text());
            assert_eq!(r.text(), serde_json::to_string(t).unwrap(), "{op:?}");
        }
        Op::Delete(_) => {
            assert_eq!(r.status, 204, "{op:?}: {}", r.text());
            assert!(r.body.is_empty(), "{op:?}: {}", r.text());
        }
    }
}

/// Replaces a server the killer has killed; returns whether the kill left a temp
/// file behind (it struck inside a file write). A request that failed while the
/// server is still alive is a bug, not a crash: the killer kills and reaps under
/// the lock.
fn restart(slot: &Mutex<Server>, dir: &Path) -> bool {
    let mut server = slot.lock().unwrap();
    if server.child.try_wait().unwrap().is_none() {
        panic!(
            "a request failed but the server is alive; log:\n{}",
            server.log()
        );
    }
    let mid_write = !temp_files(&dir.join("state")).is_empty();
    *server = Server::start_in(dir, "");
    mid_write
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    // Arrange
    // Aims; the asserts below are the issue's floor (200 writes, 10 kills).
    const MIN_ACKED: usize = 300;
    const MIN_KILLS: usize = 25;
    let seed = std::env::var("TRACKSD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash test seed {seed} (rerun with TRACKSD_CRASH_SEED={seed})");
    let started = Instant::now();
    let dir = temp_dir("crash");
    let slot = Arc::new(Mutex::new(Server::start_in(&dir, "")));
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    // Writes acknowledged since the last kill: the killer lets 1..=20 through, then
    // strikes 0-5 ms later, somewhere inside the next write(s). Tying kills to
    // progress keeps the run's length proportional to the disk's speed.
    let acked_since_kill = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (slot, stop, kills, acked_since_kill) = (
            slot.clone(),
            stop.clone(),
            kills.clone(),
            acked_since_kill.clone(),
        );
        std::thread::spawn(move || {
            let mut rng = Rng::new(seed ^ 0x9E37_79B9_7F4A_7C15);
            while !stop.load(Ordering::SeqCst) {
                let quota = 1 + rng.below(20) as usize;
                while !stop.load(Ordering::SeqCst)
                    && acked_since_kill.load(Ordering::SeqCst) < quota
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_micros(rng.below(5_000)));
                let mut server = slot.lock().unwrap();
                if !stop.load(Ordering::SeqCst) && server.child.try_wait().unwrap().is_none() {
                    server.child.kill().unwrap();
                    server.child.wait().unwrap();
                    kills.fetch_add(1, Ordering::SeqCst);
                    acked_since_kill.store(0, Ordering::SeqCst);
                }
            }
        })
    };
    let mut rng = Rng::new(seed);
    let mut model = Model::new();
    let (mut sent, mut acked, mut lost, mut restarts, mut mid_write) = (0, 0, 0, 0, 0);
    let mut cookie: Option<String> = None;
    let mut retry: Option<Op> = None;
    let deadline = started + Duration::from_secs(45);

    // Act: sequential writes over short connections while the killer strikes.
    while (acked < MIN_ACKED || kills.load(Ordering::SeqCst) < MIN_KILLS)
        && Instant::now() < deadline
    {
        let addr = slot.lock().unwrap().addr;
        let Some(c) = cookie.clone().or_else(|| {
            let form = b"username=john&password=password";
            let ct = "application/x-www-form-urlencoded";
            try_request(addr, "POST", "/login", None, ct, form).map(|r| {
                r.cookie()
                    .unwrap_or_else(|| panic!("login: {} {}", r.status, r.text()))
            })
        }) else {
            mid_write += usize::from(restart(&slot, &dir));
            restarts += 1;
            continue;
        };
        cookie = Some(c.clone());
        let op = retry.take().unwrap_or_else(|| model.next_op(&mut rng));
        let (method, target, body) = op.request();
        sent += 1;
        match try_request(addr, method, &target, Some(&c), "application/json", &body) {
            None => {
                model.unknown(&op);
                lost += 1;
                mid_write += usize::from(restart(&slot, &dir));
                restarts += 1;
            }
            Some(r) if r.status == 401 => {
                // The session is not valid (any more): log in again, same write.
                cookie = None;
                retry = Some(op);
            }
            Some(r) => {
                check_ack(&op, &r);
                model.acknowledged(&op);
                acked += 1;
                acked_since_kill.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    killer.join().unwrap();
    let kills = kills.load(Ordering::SeqCst);
    let mut server = slot.lock().unwrap();
    let _ = server.child.kill();
    let _ = server.child.wait();
    *server = Server::start_in(&dir, "");

    // Assert: every acknowledged write is there, and nothing else is.
    let elapsed = started.elapsed();
    println!(
        "crash test: {sent} writes sent, {acked} acknowledged, {lost} unanswered, \
         {kills} kills ({mid_write} left a temp file), {restarts} restarts, \
         {} ids checked, {:.1} s",
        model.allowed.len(),
        elapsed.as_secs_f64()
    );
    assert!(acked >= 200, "only {acked} writes acknowledged");
    assert!(kills >= MIN_KILLS, "only {kills} kills");
    let on_disk = read_tracks_file(&dir.join("state"));
    let mut listed: Vec<Track> = Vec::new();
    loop {
        let r = server.get(&format!("/tracks?skip={}&limit=1000", listed.len()));
        assert_eq!(r.status, 200);
        let page: Vec<Track> = serde_json::from_slice(&r.body).unwrap();
        if page.is_empty() {
            break;
        }
        listed.extend(page);
    }
    assert_eq!(listed, on_disk, "the server serves what the file holds");
    for t in &on_disk {
        assert!(
            model.allowed.contains_key(&t.id),
            "track {} was never written: {t:?}",
            t.id
        );
    }
    for (id, allowed) in &model.allowed {
        let actual = on_disk.iter().find(|t| t.id == *id).cloned();
        assert!(
            allowed.contains(&actual),
            "id {id}: found {actual:?}, expected one of {allowed:?} (seed {seed})"
        );
        let r = server.get(&format!("/tracks/{id}"));
        match &actual {
            Some(t) => assert_eq!(r.text(), serde_json::to_string(t).unwrap()),
            None => assert_eq!(r.status, 404),
        }
    }
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}

// ---------------------------------------------------------------------------
// Corrupt file at start
// ---------------------------------------------------------------------------

/// Runs the binary with `config` until it exits (20 s at most): exit code and stderr.
fn run_to_exit(config: &Path) -> (Option<i32>, String) {
    let mut child = common::tracksd()
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server started despite the corrupt file");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

#[test]
fn corrupt_tracks_file_stops_start_with_exit_2_and_is_kept() {
    let cases: [(&[u8], &str); 3] = [
        (br#"[{"id":1,"title":"T","artist":"A","year":1},{"id":2"#, "EOF"),
        (
            br#"[{"id":1,"title":"T","artist":"A","year":1},{"id":1,"title":"U","artist":"B","year":2}]"#,
            "duplicate track id 1",
        ),
        (br#"{"tracks":[]}"#, "expected a JSON array"),
    ];
    for (bytes, reason) in cases {
        // Arrange: an installation that has run (session key and all), whose
        // tracks file was then damaged.
        let dir = Server::start("").kill();
        let state = dir.join("state");
        let file = state.join("tracks.json");
        fs::write(&file, bytes).unwrap();
        let config = dir.join("tracksd.toml");
        // Act
        let (code, stderr) = run_to_exit(&config);
        // Assert
        assert_eq!(code, Some(2), "stderr: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line expected: {stderr}");
        let line = lines[0];
        assert!(
            line.contains(&file.display().to_string()) && line.contains(reason),
            "{line}"
        );
        assert_eq!(fs::read(&file).unwrap(), bytes, "the file was changed");
        assert!(temp_files(&state).is_empty());
    }
}

// ---------------------------------------------------------------------------
// Full disk
// ---------------------------------------------------------------------------

/// How the test takes the disk away from the server.
enum Squeeze {
    /// The state dir is a 64 KiB tmpfs; a filler file takes the rest of it.
    Tmpfs,
    /// The server's RLIMIT_FSIZE soft limit is lowered with `prlimit --pid`
    /// (it runs under `sh` with SIGXFSZ ignored, so writes fail with EFBIG).
    Rlimit,
}

/// Unmounts the tmpfs on drop (after the server, declared later, is gone).
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

fn run_quiet(program: &str, args: &[&str]) -> Result<(), String> {
    match Command::new(program).args(args).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{program} {}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("{program}: {e}")),
    }
}

fn prlimit_fsize(pid: u32, soft: &str) -> Result<(), String> {
    let pid = pid.to_string();
    let limit = format!("--fsize={soft}:unlimited");
    run_quiet("prlimit", &["--pid", &pid, &limit])
}

/// Fills the filesystem of `dir` with one file until it is full.
fn fill_up(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = fs::File::create(&path).unwrap();
    let chunk = [0u8; 4096];
    loop {
        if let Err(e) = f.write_all(&chunk) {
            assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
            break;
        }
    }
    let _ = f.sync_all();
    path
}

#[test]
fn full_disk_write_is_503_keeps_the_file_and_reads_go_on() {
    // Arrange: a state dir on a tiny tmpfs, or failing that a low RLIMIT_FSIZE.
    let want = std::env::var("TRACKSD_FULL_DISK").unwrap_or_default();
    let dir = temp_dir("full");
    let state = dir.join("state");
    fs::create_dir_all(&state).unwrap();
    let config = dir.join("tracksd.toml");
    fs::write(&config, config_text(&dir, "")).unwrap();
    let mut why_not = Vec::new();
    let mut squeeze = None;
    let mut _unmount = None;
    if want != "rlimit" {
        let s = state.to_str().unwrap();
        match run_quiet(
            "mount",
            &["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", s],
        ) {
            Ok(()) => {
                _unmount = Some(Unmount(state.clone()));
                squeeze = Some(Squeeze::Tmpfs);
            }
            Err(e) => why_not.push(format!("tmpfs: {e}")),
        }
    }
    if squeeze.is_none() && want != "tmpfs" {
        match run_quiet("prlimit", &["--version"]).and(run_quiet("sh", &["-c", "trap '' XFSZ"])) {
            Ok(()) => squeeze = Some(Squeeze::Rlimit),
            Err(e) => why_not.push(format!("rlimit: {e}")),
        }
    }
    let Some(squeeze) = squeeze else {
        println!(
            "SKIPPED full-disk test: no way to fill the disk here ({})",
            why_not.join("; ")
        );
        return;
    };
    let server = match squeeze {
        Squeeze::Tmpfs => {
            println!("full-disk test: 64 KiB tmpfs");
            Server::start_with_config(&dir, &config, &[])
        }
        Squeeze::Rlimit => {
            println!(
                "full-disk test: RLIMIT_FSIZE via prlimit {}",
                why_not.join("; ")
            );
            let wrapper = ["sh", "-c", "trap '' XFSZ; exec \"$0\" \"$@\""];
            Server::start_wrapped(&dir, &config, &[], &wrapper)
        }
    };
    let pid = server.child.id();
    let cookie = login(&server);
    let c = Some(cookie.as_str());
    let kept = json!({"id": 50, "title": "Kept", "artist": "A", "year": 2000});
    assert_eq!(send(&server, "POST", "/tracks", c, &kept).status, 200);
    let before = fs::read(state.join("tracks.json")).unwrap();
    let filler = match squeeze {
        Squeeze::Tmpfs => Some(fill_up(&state)),
        Squeeze::Rlimit => {
            prlimit_fsize(pid, "64").unwrap();
            None
        }
    };

    // Act
    let new = json!({"id": 60, "title": "New", "artist": "A", "year": 2000});
    let changed = json!({"id": 50, "title": "Changed", "artist": "A", "year": 2000});
    let post = send(&server, "POST", "/tracks", c, &new);
    let put = send(&server, "PUT", "/tracks/50", c, &changed);
    let delete = send(&server, "DELETE", "/tracks/50", c, &Value::Null);

    // Assert: refused, nothing changed on disk or in memory, reads still served.
    for r in [&post, &put, &delete] {
        assert_eq!(
            (r.status, r.text().as_str()),
            (503, r#"{"detail":"Storage unavailable"}"#)
        );
    }
    assert_eq!(fs::read(state.join("tracks.json")).unwrap(), before);
    assert!(temp_files(&state).is_empty(), "{:?}", temp_files(&state));
    let kept_read = server.get("/tracks/50");
    assert_eq!(
        (kept_read.status, kept_read.text().contains("Kept")),
        (200, true)
    );
    assert_eq!(server.get("/tracks/60").status, 404);
    assert_eq!(server.get("/tracks?limit=10").status, 200);

    // Once there is space again, writes work again.
    match filler {
        Some(f) => fs::remove_file(f).unwrap(),
        None => prlimit_fsize(pid, "unlimited").unwrap(),
    }
    assert_eq!(send(&server, "POST", "/tracks", c, &new).status, 200);
    assert_eq!(send(&server, "PUT", "/tracks/50", c, &changed).status, 200);
    let ids: Vec<(i64, String)> = read_tracks_file(&state)
        .into_iter()
        .map(|t| (t.id, t.title))
        .filter(|(id, _)| *id >= 50)
        .collect();
    assert_eq!(ids, [(50, "Changed".to_owned()), (60, "New".to_owned())]);
    drop(server);
}

// ---------------------------------------------------------------------------
// PUT and DELETE
// ---------------------------------------------------------------------------

#[test]
fn put_and_delete_need_a_login() {
    // Arrange
    let server = Server::start("");
    let body = json!({"id": 2, "title": "X", "artist": "Y", "year": 2001});
    // Act
    let put = send(&server, "PUT", "/tracks/2", None, &body);
    let delete = send(&server, "DELETE", "/tracks/2", None, &Value::Null);
    let bad_cookie = send(
        &server,
        "DELETE",
        "/tracks/2",
        Some("my_session_id=forged.value.sig"),
        &Value::Null,
    );
    // Assert
    assert_eq!(put.status, 401, "{}", put.text());
    assert_eq!(delete.status, 401, "{}", delete.text());
    assert_eq!(bad_cookie.status, 401, "{}", bad_cookie.text());
    assert_eq!(
        server.get("/tracks/2").text(),
        r#"{"id":2,"title":"Song 2","artist":"Blur","album":"Blur","year":1997,"label":"Parlophone"}"#
    );
}

#[test]
fn put_and_delete_of_a_missing_track_are_404() {
    let server = Server::start("");
    let cookie = login(&server);
    let c = Some(cookie.as_str());
    let body = json!({"id": 99, "title": "X", "artist": "Y", "year": 2001});
    let put = send(&server, "PUT", "/tracks/99", c, &body);
    let delete = send(&server, "DELETE", "/tracks/99", c, &Value::Null);
    for r in [put, delete] {
        assert_eq!(
            (r.status, r.text().as_str()),
            (404, r#"{"detail":"Track not found"}"#)
        );
    }
    assert_eq!(server.get("/tracks/99").status, 404);
}

#[test]
fn put_with_another_body_id_is_422_and_changes_nothing() {
    // Arrange
    let server = Server::start("");
    let cookie = login(&server);
    let c = Some(cookie.as_str());
    let before = server.get("/tracks?limit=10").text();
    // Act
    let other = send(
        &server,
        "PUT",
        "/tracks/2",
        c,
        &json!({"id": 3, "title": "X", "artist": "Y", "year": 2001}),
    );
    let invalid = send(
        &server,
        "PUT",
        "/tracks/2",
        c,
        &json!({"id": 2, "title": "X", "artist": "Y", "year": 10000}),
    );
    // Assert
    assert_eq!(other.status, 422, "{}", other.text());
    let detail: Value = serde_json::from_slice(&other.body).unwrap();
    assert_eq!(
        detail["detail"][0]["loc"],
        json!(["body", "id"]),
        "{detail}"
    );
    assert_eq!(invalid.status, 422, "{}", invalid.text());
    let detail: Value = serde_json::from_slice(&invalid.body).unwrap();
    assert_eq!(
        detail["detail"][0]["loc"],
        json!(["body", "year"]),
        "{detail}"
    );
    assert_eq!(server.get("/tracks?limit=10").text(), before);
}

#[test]
fn put_replaces_and_delete_removes_durably() {
    // Arrange
    let dir = temp_dir("putdel");
    let server = Server::start_in(&dir, "");
    let cookie = login(&server);
    let c = Some(cookie.as_str());
    // Act
    let with_id = send(
        &server,
        "PUT",
        "/tracks/2",
        c,
        &json!({"id": 2, "title": "Song 2 (live)", "artist": "Blur", "year": 1998}),
    );
    let without_id = send(
        &server,
        "PUT",
        "/tracks/3",
        c,
        &json!({"title": "Fake Plastic Trees", "artist": "Radiohead", "album": "The Bends", "year": 1995}),
    );
    let delete = send(&server, "DELETE", "/tracks/1", c, &Value::Null);
    let delete_again = send(&server, "DELETE", "/tracks/1", c, &Value::Null);
    // Assert
    let song2 =
        r#"{"id":2,"title":"Song 2 (live)","artist":"Blur","album":null,"year":1998,"label":null}"#;
    let trees = r#"{"id":3,"title":"Fake Plastic Trees","artist":"Radiohead","album":"The Bends","year":1995,"label":null}"#;
    assert_eq!((with_id.status, with_id.text().as_str()), (200, song2));
    assert_eq!(
        (without_id.status, without_id.text().as_str()),
        (200, trees)
    );
    assert_eq!(delete.status, 204, "{}", delete.text());
    assert!(delete.body.is_empty());
    assert_eq!(delete_again.status, 404);
    // After a SIGKILL and restart, the changes are still there, in place.
    let dir = server.kill();
    let server = Server::start_in(&dir, "");
    let all = server.get("/tracks?limit=10").text();
    assert!(
        all.starts_with(&format!("[{song2},{trees},{{\"id\":4,")),
        "{all}"
    );
    assert_eq!(server.get("/tracks/1").status, 404);
}
