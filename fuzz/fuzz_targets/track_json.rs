//! JSON track validation: `serde_json::from_slice` then `Track::parse`.
//! Never panics; an accepted track is within bounds, taken verbatim and
//! round-trips; a refusal is a non-empty list of errors located in `body`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tracksd::tracks::{MAX_TEXT_CHARS, MAX_YEAR, Track};

fn text_ok(s: &str) -> bool {
    (1..=MAX_TEXT_CHARS).contains(&s.chars().count())
}

fn check(body: &Value) {
    match Track::parse(body) {
        Ok(t) => {
            assert!(text_ok(&t.title) && text_ok(&t.artist), "{t:?}");
            assert!(t.album.as_deref().is_none_or(text_ok), "{t:?}");
            assert!(t.label.as_deref().is_none_or(text_ok), "{t:?}");
            assert!((0..=MAX_YEAR).contains(&t.year), "{t:?}");
            assert_eq!(body["title"].as_str(), Some(t.title.as_str()));
            assert_eq!(body["artist"].as_str(), Some(t.artist.as_str()));
            assert_eq!(body["album"].as_str(), t.album.as_deref());
            assert_eq!(body["label"].as_str(), t.label.as_deref());
            let again = Track::parse(&serde_json::to_value(&t).unwrap());
            assert_eq!(again.as_ref(), Ok(&t));
            let bytes = serde_json::to_vec(&t).unwrap();
            let again = Track::parse(&serde_json::from_slice(&bytes).unwrap());
            assert_eq!(again, Ok(t));
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "no error for {body}");
            for e in &errors {
                assert_eq!(e.loc[0], "body", "{e:?}");
                assert!(e.loc.len() <= 2, "{e:?}");
                serde_json::to_vec(e).unwrap();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    check(&body);
    // As `PUT /tracks/{id}` does: the path's id fills a missing one.
    if let Some(obj) = body.as_object_mut() {
        obj.entry("id").or_insert(Value::from(7));
        check(&body);
    }
});
