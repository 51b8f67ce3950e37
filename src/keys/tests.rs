use super::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("tracksd-keys-{}-{name}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn write(path: &Path, body: &[u8], mode: u32) {
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn creates_missing_file_and_parents() {
    let dir = TempDir::new("create");
    let file = dir.join("state/nested/session.key");
    let keys = load_or_create(&file, None).unwrap();
    assert!(keys.created);
    assert_eq!(keys.source, file);
    assert!(keys.warnings.is_empty());
    assert_eq!(keys.secrets.len(), 1);
    let key = &keys.secrets[0];
    assert_eq!(key.len(), 43);
    assert_eq!(URL_SAFE_NO_PAD.decode(key).unwrap().len(), 32);
    assert_eq!(fs::read_to_string(&file).unwrap(), format!("{key}\n"));
    assert_eq!(mode_of(&file), 0o600);
    assert_eq!(mode_of(&dir.join("state/nested")), 0o700);

    let again = load_or_create(&file, None).unwrap();
    assert!(!again.created);
    assert_eq!(&again.secrets, &keys.secrets);
    assert!(again.warnings.is_empty());
}

#[test]
fn generated_keys_differ() {
    let dir = TempDir::new("differ");
    let a = load_or_create(&dir.join("a.key"), None).unwrap();
    let b = load_or_create(&dir.join("b.key"), None).unwrap();
    assert_ne!(a.secrets, b.secrets);
}

#[test]
fn reads_keys_oldest_first_ignoring_blanks_and_whitespace() {
    let dir = TempDir::new("parse");
    let file = dir.join("session.key");
    let body = format!("\n  {KEY_A}\t\r\n\n   \n{KEY_B}\r\n");
    write(&file, body.as_bytes(), 0o600);
    let keys = load_or_create(&file, None).unwrap();
    assert!(!keys.created);
    assert_eq!(keys.secrets, [KEY_A, KEY_B]);
}

#[test]
fn key_without_trailing_newline_and_non_ascii() {
    let dir = TempDir::new("nonascii");
    let file = dir.join("session.key");
    // 32 characters but 64 bytes: the limit counts characters.
    let key = "é".repeat(32);
    write(&file, key.as_bytes(), 0o600);
    assert_eq!(load_or_create(&file, None).unwrap().secrets, [key]);
}

#[test]
fn short_key_names_line() {
    let dir = TempDir::new("short");
    let file = dir.join("session.key");
    write(&file, format!("{KEY_A}\nshort-secret\n").as_bytes(), 0o600);
    let err = load_or_create(&file, None).unwrap_err();
    assert_eq!(err.path, file);
    assert_eq!(
        err.reason,
        "line 2: key is 12 characters, at least 32 required"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: line 2: key is 12 characters, at least 32 required",
            file.display()
        )
    );
    assert!(!err.to_string().contains("short-secret"));
}

#[test]
fn empty_file_has_no_keys() {
    let dir = TempDir::new("empty");
    let file = dir.join("session.key");
    for body in ["", "\n", "  \n\t\n"] {
        write(&file, body.as_bytes(), 0o600);
        assert_eq!(load_or_create(&file, None).unwrap_err().reason, "no keys");
    }
}

#[test]
fn non_utf8_is_rejected() {
    let dir = TempDir::new("utf8");
    let file = dir.join("session.key");
    let mut body = KEY_A.as_bytes().to_vec();
    body.push(0xff);
    write(&file, &body, 0o600);
    assert_eq!(
        load_or_create(&file, None).unwrap_err().reason,
        "not valid UTF-8"
    );
}

#[test]
fn loose_permissions_warn() {
    let dir = TempDir::new("perm");
    let file = dir.join("session.key");
    write(&file, KEY_A.as_bytes(), 0o644);
    let keys = load_or_create(&file, None).unwrap();
    assert_eq!(
        keys.warnings,
        ["key file is accessible by group/other (mode 0644); chmod 600 it"]
    );
    for ok in [0o600, 0o400] {
        fs::set_permissions(&file, fs::Permissions::from_mode(ok)).unwrap();
        assert!(load_or_create(&file, None).unwrap().warnings.is_empty());
    }
}

#[test]
fn credential_wins_over_key_file() {
    let dir = TempDir::new("cred");
    let creds = dir.join("creds");
    fs::create_dir(&creds).unwrap();
    write(&creds.join(CREDENTIAL_NAME), KEY_B.as_bytes(), 0o400);
    let file = dir.join("session.key");
    write(&file, KEY_A.as_bytes(), 0o600);

    let keys = load_or_create(&file, Some(&creds)).unwrap();
    assert_eq!(keys.secrets, [KEY_B]);
    assert_eq!(keys.source, creds.join(CREDENTIAL_NAME));
    assert!(!keys.created);

    // The key file is not consulted, let alone created, when a credential exists.
    let missing = dir.join("never/session.key");
    assert_eq!(
        load_or_create(&missing, Some(&creds)).unwrap().secrets,
        [KEY_B]
    );
    assert!(!dir.join("never").exists());
}

#[test]
fn credential_errors_are_reported_against_it() {
    let dir = TempDir::new("credbad");
    let creds = dir.join("creds");
    fs::create_dir(&creds).unwrap();
    let cred = creds.join(CREDENTIAL_NAME);
    write(&cred, b"too-short\n", 0o400);
    let err = load_or_create(&dir.join("session.key"), Some(&creds)).unwrap_err();
    assert_eq!(err.path, cred);
    assert!(!dir.join("session.key").exists());
}

#[test]
fn missing_credential_falls_back_to_key_file() {
    let dir = TempDir::new("credmissing");
    let creds = dir.join("creds");
    fs::create_dir(&creds).unwrap();
    let file = dir.join("session.key");
    let keys = load_or_create(&file, Some(&creds)).unwrap();
    assert!(keys.created);
    assert_eq!(keys.source, file);
}

#[test]
fn directory_as_key_file_is_an_error() {
    let dir = TempDir::new("isdir");
    let err = load_or_create(&dir.0, None).unwrap_err();
    assert_eq!(err.path, dir.0);
}

#[test]
fn debug_redacts_secrets() {
    let keys = SessionKeys {
        secrets: vec![KEY_A.to_owned(), KEY_B.to_owned()],
        source: PathBuf::from("/x"),
        created: false,
        from_credential: false,
        warnings: Vec::new(),
    };
    let dbg = format!("{keys:?}");
    assert!(!dbg.contains(KEY_A) && !dbg.contains(KEY_B), "{dbg}");
    assert!(dbg.contains("<2 redacted>"), "{dbg}");
}

#[test]
fn the_origin_line_names_the_source_and_count_but_no_key() {
    let dir = TempDir::new("origin");
    let creds = dir.join("creds");
    fs::create_dir(&creds).unwrap();
    let file = dir.join("session.key");

    let created = load_or_create(&file, Some(&creds)).unwrap();
    assert_eq!(
        created.origin_line(),
        format!(
            "tracksd: session keys: 1 newly created in the key file {}",
            file.display()
        )
    );
    write(&file, format!("{KEY_A}\n{KEY_B}\n").as_bytes(), 0o600);
    let from_file = load_or_create(&file, None).unwrap();
    assert_eq!(
        from_file.origin_line(),
        format!(
            "tracksd: session keys: 2 from the key file {} (the last one signs)",
            file.display()
        )
    );
    write(&creds.join(CREDENTIAL_NAME), KEY_B.as_bytes(), 0o400);
    let from_cred = load_or_create(&file, Some(&creds)).unwrap();
    assert_eq!(
        from_cred.origin_line(),
        format!(
            "tracksd: session keys: 1 from the credential {}",
            creds.join(CREDENTIAL_NAME).display()
        )
    );
    for keys in [&created, &from_file, &from_cred] {
        let line = keys.origin_line();
        assert!(
            keys.secrets.iter().all(|k| !line.contains(k.as_str())),
            "{line}"
        );
    }
}
