use super::*;
use crate::test_dir::TestDir;
use std::fs;

/// A fresh, empty directory for one test, removed on drop.
fn dir(tag: &str) -> TestDir {
    TestDir::new(&format!("tf-{tag}"))
}

fn track(id: i64, title: &str) -> Track {
    Track {
        id,
        title: title.to_owned(),
        artist: "Artist".to_owned(),
        album: None,
        year: 2000,
        label: Some("Label".to_owned()),
    }
}

fn ids(store: &FileStore) -> Vec<i64> {
    store.all().iter().map(|t| t.id).collect()
}

fn file_names(d: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn open_creates_dir_and_seeds_missing_file() {
    // Arrange
    let d = dir("seed");
    let state = d.join("nested").join("state");
    // Act
    let store = FileStore::open(&state, 100).unwrap();
    // Assert
    assert_eq!(store.all(), Track::seed().as_slice());
    assert_eq!(store.path(), state.join("tracks.json"));
    assert!(store.removed_temps().is_empty());
    let on_disk: Vec<Track> = serde_json::from_slice(&fs::read(store.path()).unwrap()).unwrap();
    assert_eq!(on_disk, Track::seed());
    assert_eq!(file_names(&state), ["tracks.json"]);
}

#[test]
fn reopen_sees_every_write() {
    // Arrange
    let d = dir("reopen");
    let mut store = FileStore::open(&d, 100).unwrap();
    // Act
    store.insert(track(10, "ten")).unwrap();
    store.insert(track(11, "eleven")).unwrap();
    store.replace(track(2, "two, again")).unwrap();
    store.remove(1).unwrap();
    store.remove(11).unwrap();
    let reopened = FileStore::open(&d, 100).unwrap();
    // Assert
    assert_eq!(ids(&reopened), [2, 3, 4, 10]);
    assert_eq!(reopened.all(), store.all());
    assert_eq!(reopened.get(2).unwrap().title, "two, again");
    assert_eq!(file_names(&d), ["tracks.json"]);
}

#[test]
fn file_is_one_track_per_line() {
    let d = dir("format");
    let mut store = FileStore::open(&d, 100).unwrap();
    for id in [1, 2, 3, 4] {
        store.remove(id).unwrap();
    }
    assert_eq!(fs::read(store.path()).unwrap(), b"[\n]\n");
    store.insert(track(7, "seven")).unwrap();
    store.insert(track(8, "eight")).unwrap();
    assert_eq!(
        fs::read_to_string(store.path()).unwrap(),
        "[\n  {\"id\":7,\"title\":\"seven\",\"artist\":\"Artist\",\"album\":null,\"year\":2000,\"label\":\"Label\"},\n  {\"id\":8,\"title\":\"eight\",\"artist\":\"Artist\",\"album\":null,\"year\":2000,\"label\":\"Label\"}\n]\n"
    );
}

#[test]
fn emptied_catalogue_is_not_reseeded() {
    let d = dir("empty");
    let mut store = FileStore::open(&d, 100).unwrap();
    for id in [1, 2, 3, 4] {
        store.remove(id).unwrap();
    }
    assert!(FileStore::open(&d, 100).unwrap().all().is_empty());
}

#[test]
fn hand_written_file_with_absent_optionals_loads() {
    let d = dir("handwritten");
    fs::write(
        d.join("tracks.json"),
        r#"[{"id": 5, "title": "T", "artist": "A", "year": 1999}]"#,
    )
    .unwrap();
    let store = FileStore::open(&d, 100).unwrap();
    assert_eq!(store.all()[0].album, None);
    assert_eq!(store.all()[0].year, 1999);
}

#[test]
fn corrupt_file_is_an_error_and_left_byte_identical() {
    let ok = r#""title":"T","artist":"A","album":null,"year":2000,"label":null"#;
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "invalid JSON: EOF while parsing"),
        ("[{\"id\":1,".to_owned(), "invalid JSON"),
        ("\u{0}\u{0}\u{0}".to_owned(), "invalid JSON"),
        (format!("{{\"id\":1,{ok}}}"), "expected a JSON array"),
        ("[1]".to_owned(), "track at index 0: not a JSON object"),
        (
            format!("[{{\"id\":1,{ok}}},{{\"id\":1,{ok}}}]"),
            "duplicate track id 1",
        ),
        (
            format!("[{{\"id\":\"7\",{ok}}}]"),
            "track at index 0: invalid type: string \"7\", expected i64",
        ),
        (
            // serde_json's arbitrary_precision reads 7.0 for an i64 as "invalid number".
            format!("[{{\"id\":7.0,{ok}}}]"),
            "track at index 0: invalid number",
        ),
        (
            format!("[{{\"id\":1,{ok},\"labl\":\"x\"}}]"),
            "track at index 0: unknown field \"labl\"",
        ),
        (
            r#"[{"id":1,"artist":"A","year":1}]"#.to_owned(),
            "missing field `title`",
        ),
        (
            format!(
                "[{{\"id\":1,\"title\":\"{}\",\"artist\":\"A\",\"year\":1}}]",
                "x".repeat(201)
            ),
            "track at index 0: title: String should have at most 200 characters",
        ),
        (
            r#"[{"id":1,"title":"T","artist":"","year":10000}]"#.to_owned(),
            "track at index 0: artist: String should have at least 1 character; year: Input should be less than or equal to 9999",
        ),
    ];
    for (text, want) in cases {
        // Arrange
        let d = dir("corrupt");
        let path = d.join("tracks.json");
        fs::write(&path, &text).unwrap();
        // Act
        let err = FileStore::open(&d, 100).unwrap_err();
        // Assert
        assert_eq!(err.path, path, "{text:?}");
        assert!(
            err.reason.starts_with("does not parse: ") && err.reason.contains(want),
            "{text:?}: {}",
            err.reason
        );
        assert!(!err.to_string().contains('\n'), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", path.display()))
        );
        assert_eq!(fs::read(&path).unwrap(), text.as_bytes());
        assert_eq!(file_names(&d), ["tracks.json"]);
    }
}

#[test]
fn unreadable_file_is_an_error() {
    let d = dir("unreadable");
    fs::create_dir(d.join("tracks.json")).unwrap();
    let err = FileStore::open(&d, 100).unwrap_err();
    assert_eq!(err.path, d.join("tracks.json"));
    assert!(err.reason.starts_with("cannot read: "), "{}", err.reason);
}

#[test]
fn state_dir_that_is_a_file_is_an_error() {
    let parent = dir("notadir");
    let d = parent.join("state");
    fs::write(&d, b"").unwrap();
    let err = FileStore::open(&d, 100).unwrap_err();
    assert_eq!(err.path, d);
    assert!(
        err.reason.starts_with("cannot create directory: "),
        "{}",
        err.reason
    );
}

#[test]
fn leftover_temp_files_are_removed_and_reported() {
    // Arrange
    let d = dir("temps");
    FileStore::open(&d, 100).unwrap();
    let before = fs::read(d.join("tracks.json")).unwrap();
    fs::write(d.join(".tracks.json.tmp-4242"), b"[{\"id\":").unwrap();
    // Act
    let store = FileStore::open(&d, 100).unwrap();
    // Assert
    assert_eq!(store.removed_temps(), [d.join(".tracks.json.tmp-4242")]);
    assert_eq!(file_names(&d), ["tracks.json"]);
    assert_eq!(fs::read(d.join("tracks.json")).unwrap(), before);
}

#[test]
fn refusals_change_nothing() {
    // Arrange
    let d = dir("refuse");
    let mut store = FileStore::open(&d, 5).unwrap();
    store.insert(track(5, "five")).unwrap();
    let before = fs::read(store.path()).unwrap();
    // Act + Assert
    assert_eq!(store.insert(track(1, "dup")), Err(StoreError::Duplicate));
    assert_eq!(store.insert(track(6, "six")), Err(StoreError::Full));
    assert_eq!(store.replace(track(99, "x")), Err(StoreError::NotFound));
    assert_eq!(store.remove(99), Err(StoreError::NotFound));
    assert_eq!(ids(&store), [1, 2, 3, 4, 5]);
    assert_eq!(fs::read(store.path()).unwrap(), before);
    // Full is about inserts only: a full store still replaces and removes.
    assert_eq!(store.replace(track(5, "five again")), Ok(()));
    assert_eq!(store.remove(5), Ok(()));
    assert_eq!(store.insert(track(6, "six")), Ok(()));
}

#[test]
fn failed_write_rolls_back_and_keeps_old_file() {
    // Arrange
    let d = dir("rollback");
    let mut store = FileStore::open(&d, 100).unwrap();
    store.insert(track(10, "ten")).unwrap();
    let before_bytes = fs::read(store.path()).unwrap();
    let before = store.all().to_vec();
    store.fail_writes_with(Some(io::ErrorKind::StorageFull));
    // Act
    let results = [
        store.insert(track(11, "eleven")),
        store.replace(track(2, "changed")),
        store.replace(track(10, "changed")),
        store.remove(1),
        store.remove(10),
    ];
    // Assert
    for r in results {
        match r {
            Err(StoreError::Unavailable(why)) => {
                assert!(
                    why.contains("tracks.json") && why.contains("injected"),
                    "{why}"
                )
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    assert_eq!(store.all(), before.as_slice());
    assert_eq!(fs::read(store.path()).unwrap(), before_bytes);
    assert_eq!(FileStore::open(&d, 100).unwrap().all(), before.as_slice());
    // Once writes work again, so does the store.
    store.fail_writes_with(None);
    assert_eq!(store.insert(track(11, "eleven")), Ok(()));
    assert_eq!(
        ids(&FileStore::open(&d, 100).unwrap()),
        [1, 2, 3, 4, 10, 11]
    );
}

#[test]
fn real_write_failure_rolls_back() {
    // Arrange: the directory moved away makes the real write fail (root ignores
    // permission bits, so they cannot be used for this).
    let d = dir("realfail");
    let mut store = FileStore::open(&d, 100).unwrap();
    let before_bytes = fs::read(store.path()).unwrap();
    let aside = d.with_extension("aside");
    fs::rename(&d, &aside).unwrap();
    // Act
    let r = store.insert(track(10, "ten"));
    fs::rename(&aside, &d).unwrap();
    // Assert
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    assert_eq!(ids(&store), [1, 2, 3, 4]);
    assert_eq!(fs::read(store.path()).unwrap(), before_bytes);
}

#[test]
fn open_error_display_is_path_then_reason() {
    let e = FileError {
        path: PathBuf::from("/var/lib/tracksd/tracks.json"),
        reason: "does not parse: duplicate track id 1".to_owned(),
    };
    assert_eq!(
        e.to_string(),
        "/var/lib/tracksd/tracks.json: does not parse: duplicate track id 1"
    );
}
