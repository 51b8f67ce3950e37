use super::*;
use proptest::prelude::*;
use serde::Deserialize;

const VECTORS: &str = include_str!("../../tests/fixtures/cookie_vectors.json");
const MAX_AGE: Option<u64> = Some(1_209_600);
const V1: &str = "eyJzb21lIjogImRhdGEifQ==.ZVPxAA.FyVX6oin--8EqgbMmRno93pU4bJgq8iCJrbF6EkTuWk";
const V1_PAYLOAD: &str = "eyJzb21lIjogImRhdGEifQ==";
const V1_TS: u64 = 1_700_000_000;

#[derive(Deserialize)]
#[serde(untagged)]
enum Secret {
    One(String),
    Many(Vec<String>),
}

impl Secret {
    fn list(&self) -> Vec<String> {
        match self {
            Secret::One(s) => vec![s.clone()],
            Secret::Many(v) => v.clone(),
        }
    }
}

#[derive(Deserialize)]
struct Positive {
    id: String,
    secret: Secret,
    session: serde_json::Value,
    payload: String,
    ts: u64,
    cookie: String,
}

#[derive(Deserialize)]
struct Negative {
    id: String,
    secret: String,
    now: u64,
    max_age: Option<u64>,
    cookie: String,
    raises: String,
}

#[derive(Deserialize)]
struct Vectors {
    positive: Vec<Positive>,
    negative: Vec<Negative>,
}

fn vectors() -> Vectors {
    serde_json::from_str(VECTORS).unwrap()
}

fn signer(secrets: &[&str]) -> Signer {
    Signer::new(secrets).unwrap()
}

/// Signs an arbitrary `PAYLOAD.TS` string, to build values `sign` never makes.
fn raw_sign(s: &Signer, signed: &str) -> String {
    let mut mac = s.newest().clone();
    mac.update(signed.as_bytes());
    format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn derived_keys_match_spec() {
    let cases = [
        (
            "example",
            "1b497082369950b7d0d2d8093de26b0aa74ba2c9b09e38ef39d3a121ace5f2dc",
        ),
        (
            "k",
            "9b61eb27545a81ec636e2c4a532167e3fe165f91d60a3173a0a2606d6a0cdccd",
        ),
        (
            "🔑-unicode-secret",
            "ea6c20dd09edcf03d89d9d014ac8aeee7433a620af85b0eeaa556b771b1dca66",
        ),
        (
            "new-key-2025",
            "f8968991b6c0b24f6ec01fec21d38c0ec3f45a4fe2ee0184779552cda04b7881",
        ),
    ];
    for (secret, want) in cases {
        assert_eq!(hex(&derive_key(secret.as_bytes())), want, "{secret}");
    }
}

#[test]
fn positive_vectors_verify_and_reproduce() {
    let v = vectors();
    assert_eq!(v.positive.len(), 10);
    for p in &v.positive {
        let secrets = p.secret.list();
        let s = Signer::new(&secrets).unwrap();
        assert_eq!(
            s.unsign(&p.cookie, p.ts, MAX_AGE),
            Ok(p.payload.as_str()),
            "{}",
            p.id
        );
        assert_eq!(
            s.unsign(&p.cookie, p.ts, None),
            Ok(p.payload.as_str()),
            "{}",
            p.id
        );
        assert_eq!(s.sign(&p.payload, p.ts), p.cookie, "{}", p.id);

        let newest = Signer::new(&secrets[secrets.len() - 1..]).unwrap();
        assert_eq!(newest.sign(&p.payload, p.ts), p.cookie, "{}", p.id);

        let json = decode_payload(&p.payload).unwrap();
        let session: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(session, p.session, "{}", p.id);
    }
}

#[test]
fn key_rotation() {
    let v = vectors();
    let find = |id: &str| v.positive.iter().find(|p| p.id == id).unwrap();
    let (v9a, v9b) = (find("V9a"), find("V9b"));
    let both = signer(&["old-key-2024", "new-key-2025"]);
    let new_only = signer(&["new-key-2025"]);
    let old_only = signer(&["old-key-2024"]);

    assert_eq!(
        both.unsign(&v9b.cookie, v9b.ts, MAX_AGE),
        Ok(v9b.payload.as_str())
    );
    assert_eq!(
        new_only.unsign(&v9b.cookie, v9b.ts, MAX_AGE),
        Err(SignError::BadTimeSignature)
    );
    assert_eq!(
        old_only.unsign(&v9a.cookie, v9a.ts, MAX_AGE),
        Err(SignError::BadTimeSignature)
    );
    // Rotation changes only the signature part.
    assert_eq!(
        both.sign(&v9a.payload, v9a.ts),
        new_only.sign(&v9a.payload, v9a.ts)
    );
}

#[test]
fn zero_timestamp_without_max_age() {
    let s = signer(&["example"]);
    let v7 = "eyJzb21lIjogImRhdGEifQ==..xmtEh3ra68dc44c4xIcvC23QAvszuulL9YQq_lzR-ng";
    assert_eq!(s.sign(V1_PAYLOAD, 0), v7);
    assert_eq!(s.unsign(v7, V1_TS, None), Ok(V1_PAYLOAD));
    assert_eq!(
        s.unsign(v7, V1_TS, MAX_AGE),
        Err(SignError::SignatureExpired)
    );
}

#[test]
fn negative_vectors_raise_their_class() {
    let v = vectors();
    assert_eq!(v.negative.len(), 9);
    for n in &v.negative {
        let want = match n.raises.as_str() {
            "BadSignature" => SignError::BadSignature,
            "BadTimeSignature" => SignError::BadTimeSignature,
            "SignatureExpired" => SignError::SignatureExpired,
            other => panic!("{}: unknown class {other}", n.id),
        };
        let s = signer(&[&n.secret]);
        assert_eq!(s.unsign(&n.cookie, n.now, n.max_age), Err(want), "{}", n.id);
    }
}

#[test]
fn boundary_checks_accepted() {
    let s = signer(&["example"]);
    assert_eq!(s.unsign(V1, 1_701_209_600, MAX_AGE), Ok(V1_PAYLOAD));
    assert_eq!(s.unsign(V1, V1_TS, Some(0)), Ok(V1_PAYLOAD));
    assert_eq!(s.unsign(V1, 1_699_990_000, None), Ok(V1_PAYLOAD));
    assert_eq!(s.unsign(V1, 2_700_000_000, None), Ok(V1_PAYLOAD));
    assert_eq!(
        s.unsign(V1, V1_TS + 1, Some(0)),
        Err(SignError::SignatureExpired)
    );
}

#[test]
fn extreme_ages_do_not_overflow() {
    let s = signer(&["example"]);
    let max_ts = s.sign("p", u64::MAX);
    assert_eq!(max_ts.split('.').nth(1), Some("__________8"));
    assert_eq!(
        s.unsign(&max_ts, 0, Some(u64::MAX)),
        Err(SignError::SignatureExpired)
    );
    assert_eq!(s.unsign(&max_ts, u64::MAX, Some(0)), Ok("p"));
    let zero_ts = s.sign("p", 0);
    assert_eq!(s.unsign(&zero_ts, u64::MAX, Some(u64::MAX)), Ok("p"));
    assert_eq!(
        s.unsign(&zero_ts, u64::MAX, Some(u64::MAX - 1)),
        Err(SignError::SignatureExpired)
    );
}

#[test]
fn python_leniency_is_rejected() {
    let s = signer(&["example"]);
    let (head, _) = V1.split_at(V1.len() - 1);
    for last in ['l', 'm', 'n'] {
        let v = format!("{head}{last}");
        assert_eq!(
            s.unsign(&v, V1_TS, MAX_AGE),
            Err(SignError::BadTimeSignature)
        );
    }
    let padded = format!("{V1}=");
    assert_eq!(
        s.unsign(&padded, V1_TS, MAX_AGE),
        Err(SignError::BadTimeSignature)
    );
    let (signed, sig) = V1.rsplit_once('.').unwrap();
    let std_alphabet = format!("{signed}.{}", sig.replace('-', "+"));
    assert_ne!(std_alphabet, V1);
    assert_eq!(
        s.unsign(&std_alphabet, V1_TS, MAX_AGE),
        Err(SignError::BadTimeSignature)
    );
}

#[test]
fn malformed_timestamps_with_valid_signature() {
    let s = signer(&["example"]);
    // 9 bytes, non-canonical trailing bits, bad alphabet, padding.
    for ts in ["AQAAAAAAAAAA", "ZVPxAB", "ZVP!AA", "ZVPxAA==", "A"] {
        let v = raw_sign(&s, &format!("{V1_PAYLOAD}.{ts}"));
        assert_eq!(
            s.unsign(&v, V1_TS, None),
            Err(SignError::BadTimeSignature),
            "{ts}"
        );
    }
    // Redundant leading zero bytes are signed, so Python accepts them too.
    let v = raw_sign(&s, &format!("{V1_PAYLOAD}.AGVT8QA"));
    assert_eq!(s.unsign(&v, V1_TS, Some(0)), Ok(V1_PAYLOAD));
}

#[test]
fn timestamp_missing() {
    let s = signer(&["example"]);
    let v = raw_sign(&s, V1_PAYLOAD);
    assert_eq!(s.unsign(&v, V1_TS, None), Err(SignError::BadTimeSignature));
    let bad = format!("{V1_PAYLOAD}.{}", &V1[V1.len() - 43..]);
    assert_eq!(s.unsign(&bad, V1_TS, None), Err(SignError::BadSignature));
}

#[test]
fn odd_inputs_rejected() {
    let s = signer(&["example"]);
    for v in ["", ".", "..", "...", "null", "a.b.c", "é.é.é", "\0.\0.\0"] {
        assert!(s.unsign(v, V1_TS, None).is_err(), "{v:?}");
    }
    let huge = format!(
        "{}.{}.{}",
        "A".repeat(1 << 20),
        "B".repeat(1 << 16),
        "C".repeat(1 << 16)
    );
    assert_eq!(
        s.unsign(&huge, V1_TS, None),
        Err(SignError::BadTimeSignature)
    );
}

#[test]
fn empty_secret_list_is_none() {
    assert!(Signer::new::<&str>(&[]).is_none());
}

#[test]
fn debug_hides_keys() {
    let dbg = format!("{:?}", signer(&["example-secret"]));
    assert_eq!(dbg, "Signer { keys: 1 }");
}

#[test]
fn payload_codec() {
    assert_eq!(encode_payload(br#"{"some": "data"}"#), V1_PAYLOAD);
    assert_eq!(encode_payload(b"{}"), "e30=");
    assert_eq!(
        decode_payload("eyJuZXh0IjogIj8/Pz8+In0=").unwrap(),
        br#"{"next": "????>"}"#
    );
    for bad in [
        "e30",
        "e31=",
        "e30==",
        "eyJuZXh0IjogIj8_Pz8-In0=",
        "e30= ",
        "e3 0=",
    ] {
        assert_eq!(decode_payload(bad), None, "{bad:?}");
    }
}

fn payload_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+/=]{0,200}"
}

proptest! {
    #[test]
    fn roundtrip(payload in payload_strategy(), ts in any::<u64>()) {
        let s = signer(&["old", "prop-secret"]);
        let v = s.sign(&payload, ts);
        prop_assert_eq!(s.unsign(&v, ts, Some(0)), Ok(payload.as_str()));
        prop_assert_eq!(s.unsign(&v, 0, None), Ok(payload.as_str()));
    }

    #[test]
    fn roundtrip_any_string(payload in any::<String>(), ts in any::<u64>()) {
        let s = signer(&["prop-secret"]);
        let v = s.sign(&payload, ts);
        prop_assert_eq!(s.unsign(&v, ts, None), Ok(payload.as_str()));
    }

    #[test]
    fn single_ascii_byte_change_fails(
        payload in payload_strategy(),
        ts in any::<u64>(),
        pos in any::<prop::sample::Index>(),
        byte in 0u8..128,
    ) {
        let s = signer(&["prop-secret"]);
        let mut v = s.sign(&payload, ts).into_bytes();
        let i = pos.index(v.len());
        prop_assume!(v[i] != byte);
        v[i] = byte;
        let v = String::from_utf8(v).unwrap();
        prop_assert!(s.unsign(&v, ts, None).is_err());
    }

    #[test]
    fn single_char_change_fails(
        payload in payload_strategy(),
        ts in any::<u64>(),
        pos in any::<prop::sample::Index>(),
        c in any::<char>(),
    ) {
        let s = signer(&["prop-secret"]);
        let v = s.sign(&payload, ts);
        // Every byte of a signed base64 payload is ASCII, so byte index = char index.
        let i = pos.index(v.len());
        prop_assume!(char::from(v.as_bytes()[i]) != c);
        let mut changed = String::with_capacity(v.len() + 4);
        changed.push_str(&v[..i]);
        changed.push(c);
        changed.push_str(&v[i + 1..]);
        prop_assert!(s.unsign(&changed, ts, None).is_err());
    }

    #[test]
    fn arbitrary_strings_never_panic(
        v in any::<String>(),
        now in any::<u64>(),
        max_age in any::<Option<u64>>(),
    ) {
        let s = signer(&["prop-secret"]);
        let _ = s.unsign(&v, now, max_age);
        let _ = decode_payload(&v);
    }

    #[test]
    fn cookie_shaped_strings_never_panic(
        v in "[A-Za-z0-9+/=_.-]{0,120}",
        now in any::<u64>(),
        max_age in any::<Option<u64>>(),
    ) {
        let s = signer(&["prop-secret"]);
        // Almost all are rejected; the property is only that nothing panics.
        let _ = s.unsign(&v, now, max_age);
    }
}
