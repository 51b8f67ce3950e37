//! Our cookies checked by the reference implementation: Python's itsdangerous
//! `TimestampSigner` with SHA-256, as a Starlette peer would configure it.
//! Skipped (with a message) where python3 or itsdangerous is missing; `.ci/run`
//! installs itsdangerous 2.2.0 from PyPI.

mod common;
use common::Server;
use std::process::Command;

const CHECK: &str = r#"
import base64, hashlib, json, sys
from itsdangerous import TimestampSigner
keys, cookie = sys.argv[1].splitlines(), sys.argv[2]
signer = TimestampSigner([k.strip() for k in keys if k.strip()], digest_method=hashlib.sha256)
payload = signer.unsign(cookie.encode(), max_age=1209600)
print(json.dumps(json.loads(base64.b64decode(payload)), sort_keys=True))
"#;

#[test]
fn itsdangerous_verifies_our_session_cookie() {
    let available = Command::new("python3")
        .args(["-c", "import itsdangerous"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        println!("SKIPPED: python3 with itsdangerous is not installed");
        return;
    }
    // Arrange
    let server = Server::start("");
    let cookie = server.login("john", "password").cookie().unwrap();
    let value = cookie.strip_prefix("my_session_id=").unwrap();
    let keys = std::fs::read_to_string(server.dir.join("state/session.key")).unwrap();
    // Act
    let out = Command::new("python3")
        .args(["-c", CHECK, &keys, value])
        .output()
        .unwrap();
    // Assert
    assert!(
        out.status.success(),
        "itsdangerous refused it: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let session: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(session["username"], "john");
    assert_eq!(session["sid"].as_str().unwrap().len(), 22);
    assert!(session["iat"].as_u64().unwrap() > 1_700_000_000_000);
    // The credential fingerprint: 16 bytes of base64url, never the password hash.
    assert_eq!(session["fp"].as_str().unwrap().len(), 22, "{session}");
    assert_eq!(session.as_object().unwrap().len(), 4, "{session}");
    let hash_part = common::FAST_JOHN_HASH.rsplit('$').next().unwrap();
    assert!(!session.to_string().contains(hash_part), "{session}");
    // A forged signature is refused by the reference too.
    // (Not the last character: Python ignores its low two bits, spec §3.4.)
    let i = value.len() - 10;
    let swapped = if &value[i..=i] == "A" { "B" } else { "A" };
    let forged = format!("{}{swapped}{}", &value[..i], &value[i + 1..]);
    let out = Command::new("python3")
        .args(["-c", CHECK, &keys, &forged])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
