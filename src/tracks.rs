//! The track domain type, its validation, and the store interface.
//!
//! [`Track::parse`] is the only way to build a track from client input, so every
//! track a store holds has passed the same bounds.

use crate::validation::ErrorItem;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest title, artist, album or label, in characters.
pub const MAX_TEXT_CHARS: usize = 200;
/// Latest accepted year.
pub const MAX_YEAR: i64 = 9999;

/// One catalogue entry; field order is the JSON order of the original.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    pub id: i64,
    pub title: String,
    pub artist: String,
    pub album: Option<String>,
    pub year: i64,
    pub label: Option<String>,
}

impl Track {
    /// Validates a JSON body as a track, returning one error per bad field in field
    /// order, as pydantic does. Unknown fields are ignored.
    pub fn parse(body: &Value) -> Result<Track, Vec<ErrorItem>> {
        let Some(obj) = body.as_object() else {
            return Err(vec![ErrorItem::model_attributes_type(body.clone())]);
        };
        let mut errors = Vec::new();
        let id = int_field(obj, body, "id", (i64::MIN, i64::MAX), &mut errors);
        let title = text_field(obj, body, "title", true, &mut errors);
        let artist = text_field(obj, body, "artist", true, &mut errors);
        let album = text_field(obj, body, "album", false, &mut errors);
        let year = int_field(obj, body, "year", (0, MAX_YEAR), &mut errors);
        let label = text_field(obj, body, "label", false, &mut errors);
        match (id, title, artist, album, year, label) {
            (
                Some(id),
                Some(Some(title)),
                Some(Some(artist)),
                Some(album),
                Some(year),
                Some(label),
            ) if errors.is_empty() => Ok(Track {
                id,
                title,
                artist,
                album,
                year,
                label,
            }),
            _ => Err(errors),
        }
    }

    /// The original's four tracks, which a new catalogue starts with.
    pub fn seed() -> Vec<Track> {
        let t = |id, title: &str, artist: &str, album: &str, year, label: &str| Track {
            id,
            title: title.to_owned(),
            artist: artist.to_owned(),
            album: Some(album.to_owned()),
            year,
            label: Some(label.to_owned()),
        };
        vec![
            t(
                1,
                "Here comes the sun",
                "Beatles",
                "Abby Road",
                1969,
                "Apple Records",
            ),
            t(2, "Song 2", "Blur", "Blur", 1997, "Parlophone"),
            t(3, "High & Dry", "Radiohead", "The Bends", 1995, "EMI"),
            t(
                4,
                "The Rain Song",
                "Le Zeppelin",
                "Houses of The Holy",
                1973,
                "Atlantic Records",
            ),
        ]
    }
}

/// Reads an integer field with pydantic's lax JSON rules (an integral number, or a
/// string holding one), then checks the inclusive bounds.
fn int_field(
    obj: &Map<String, Value>,
    whole: &Value,
    name: &'static str,
    bounds: (i64, i64),
    errors: &mut Vec<ErrorItem>,
) -> Option<i64> {
    let loc = ["body", name];
    let value = match obj.get(name) {
        None => {
            errors.push(ErrorItem::missing(&loc, whole.clone()));
            return None;
        }
        Some(v) => v,
    };
    let parsed = match value {
        // An integer literal (serde_json keeps its digits) is exact at any size;
        // beyond 64 bits it is out of range, which the bounds below report.
        Value::Number(n) => match crate::validation::parse_wide_int(&n.to_string()) {
            Some(wide) => Ok(wide),
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i128),
                // An integral float beyond 64 bits: out of range as well.
                Some(f) if f.fract() == 0.0 && f.abs() >= 9.3e18 => Ok(f as i128),
                _ => Err(ErrorItem::int_from_float(&loc, value.clone())),
            },
        },
        Value::String(s) => crate::validation::parse_wide_int(s)
            .ok_or_else(|| ErrorItem::int_parsing(&loc, value.clone())),
        _ => Err(ErrorItem::int_type(&loc, value.clone())),
    };
    let n = match parsed {
        Ok(n) => n,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    if let Some(e) = crate::validation::out_of_bounds(&loc, n, value, bounds) {
        errors.push(e);
        return None;
    }
    Some(crate::validation::saturate(n))
}

/// Reads a text field of 1..=MAX_TEXT_CHARS characters. An optional field may be
/// absent or null (`Some(None)`); `None` means the field had an error.
fn text_field(
    obj: &Map<String, Value>,
    whole: &Value,
    name: &'static str,
    required: bool,
    errors: &mut Vec<ErrorItem>,
) -> Option<Option<String>> {
    let loc = ["body", name];
    let value = match obj.get(name) {
        None if required => {
            errors.push(ErrorItem::missing(&loc, whole.clone()));
            return None;
        }
        None | Some(Value::Null) if !required => return Some(None),
        None => return None,
        Some(v) => v,
    };
    let Value::String(s) = value else {
        errors.push(ErrorItem::string_type(&loc, value.clone()));
        return None;
    };
    let chars = s.chars().count();
    if chars < 1 {
        errors.push(ErrorItem::string_too_short(&loc, value.clone(), 1));
        return None;
    }
    if chars > MAX_TEXT_CHARS {
        errors.push(ErrorItem::string_too_long(
            &loc,
            value.clone(),
            MAX_TEXT_CHARS,
        ));
        return None;
    }
    Some(Some(s.clone()))
}

/// Why a store refused a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A track with this id already exists.
    Duplicate,
    /// No track has this id.
    NotFound,
    /// The catalogue holds `max_tracks` already.
    Full,
    /// The change would take the catalogue's JSON beyond `max_catalogue_bytes`.
    TooManyBytes,
    /// The change could not be made durable; nothing changed.
    Unavailable(String),
}

/// A track as a store holds it, with what reads need computed once, when it is
/// stored: its JSON (a page of tracks is its tracks' JSON joined, so reads never
/// serialise) and its artist lower-cased (the `q` filter). [`StoredTrack::new`]
/// is the only way in, so the JSON always matches the track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTrack {
    track: Track,
    json: Box<str>,
    artist_key: Box<str>,
}

impl StoredTrack {
    pub fn new(track: Track) -> StoredTrack {
        // Serialising our own plain data type cannot fail.
        let json = serde_json::to_string(&track).unwrap_or_default();
        StoredTrack {
            artist_key: artist_key(&track.artist).into(),
            json: json.into(),
            track,
        }
    }

    /// The track's compact JSON, as `GET /tracks/{id}` sends it.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// Whether the artist equals `key`, a value made by [`artist_key`].
    pub fn artist_is(&self, key: &str) -> bool {
        *self.artist_key == *key
    }

    /// Whether the title, artist or album contains `needle`, a value made by
    /// [`search_key`], ignoring case. Folded per call, not stored: only searches
    /// pay for it, and the catalogue's memory stays what `max_catalogue_bytes` says.
    pub fn contains(&self, needle: &str) -> bool {
        let fields = [Some(&self.track.title), Some(&self.track.artist)];
        fields
            .into_iter()
            .chain([self.track.album.as_ref()])
            .flatten()
            .any(|field| search_key(field).contains(needle))
    }
}

impl PartialEq<Track> for StoredTrack {
    fn eq(&self, other: &Track) -> bool {
        self.track == *other
    }
}

impl std::ops::Deref for StoredTrack {
    type Target = Track;
    fn deref(&self) -> &Track {
        &self.track
    }
}

/// What the `q` filter compares: the artist, case folded as the original's
/// `str.lower()` does it (full Unicode lower-casing).
pub fn artist_key(artist: &str) -> String {
    artist.to_lowercase()
}

/// What the `search` filter looks for: the text, case folded like [`artist_key`].
pub fn search_key(text: &str) -> String {
    text.to_lowercase()
}

/// Where tracks live. The router only talks to this trait, so the in-memory and the
/// on-disk store are interchangeable.
pub trait TrackStore {
    /// Every track, in insertion order.
    fn all(&self) -> &[StoredTrack];
    /// The track with this id.
    fn get(&self, id: i64) -> Option<&StoredTrack> {
        self.all().iter().find(|t| t.id == id)
    }
    /// Adds a new track; its id must be unused (`Duplicate`) and the store not
    /// full (`Full`).
    fn insert(&mut self, track: Track) -> Result<(), StoreError>;
    /// Replaces the track with `track.id`, keeping its position (`NotFound` if none).
    fn replace(&mut self, track: Track) -> Result<(), StoreError>;
    /// Removes the track with this id (`NotFound` if none).
    fn remove(&mut self, id: i64) -> Result<(), StoreError>;
    /// Replaces the whole catalogue with `tracks` (a restore), all or nothing:
    /// their ids must be unique (`Duplicate`, checked by the caller, which names
    /// the index) and they must fit the bounds (`Full`, `TooManyBytes`).
    fn replace_all(&mut self, tracks: Vec<Track>) -> Result<(), StoreError>;

    /// Changes applied so far, for a store that writes in the background: the
    /// edge holds a change's response until [`TrackStore::written`] says its
    /// version is durable. A store that writes before it returns stays at 0.
    fn version(&self) -> u64 {
        0
    }
    /// From now on, write in the background (`track_file/group_commit.rs`).
    fn write_in_background(&mut self) {}
    /// The next background write, if changes wait and none is under way.
    fn next_write(&mut self) -> Option<crate::track_file::PendingWrite> {
        None
    }
    /// A background write ended. `Err` (the reason) when it failed: memory is
    /// then back to the durable catalogue, and no change after it was made.
    fn written(&mut self, _version: u64, _result: std::io::Result<()>) -> Result<(), String> {
        Ok(())
    }
}

/// A store that keeps tracks in memory only (tests), and the in-memory half of
/// the on-disk store.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    tracks: Vec<StoredTrack>,
    max_tracks: usize,
    /// The total of the tracks' JSON, kept in step with `tracks`.
    bytes: usize,
    max_bytes: usize,
}

/// How to take back a change [`MemoryStore`] applied (when it could not be made
/// durable).
#[derive(Debug)]
pub(crate) enum Undo {
    Pop,
    Put(usize, StoredTrack),
    Reinsert(usize, StoredTrack),
    /// The whole catalogue before a [`TrackStore::replace_all`].
    Restore(Vec<StoredTrack>),
}

impl MemoryStore {
    /// A store holding `tracks`, refusing inserts beyond `max_tracks`.
    pub fn new(tracks: Vec<Track>, max_tracks: usize) -> MemoryStore {
        let tracks: Vec<StoredTrack> = tracks.into_iter().map(StoredTrack::new).collect();
        MemoryStore {
            bytes: tracks.iter().map(|t| t.json.len()).sum(),
            tracks,
            max_tracks,
            max_bytes: usize::MAX,
        }
    }

    /// A store with the same bounds holding `tracks` (a write failed: memory
    /// goes back to what is on disk).
    pub(crate) fn with_tracks(&self, tracks: Vec<StoredTrack>) -> MemoryStore {
        MemoryStore {
            bytes: tracks.iter().map(|t| t.json.len()).sum(),
            tracks,
            ..*self
        }
    }

    /// Also refuses a change that takes the total of the tracks' JSON beyond
    /// `max_bytes` (memory, file size and write time grow with bytes, not count).
    pub fn with_max_bytes(self, max_bytes: usize) -> MemoryStore {
        MemoryStore { max_bytes, ..self }
    }

    /// The total of the tracks' JSON (what `max_bytes` bounds).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a change from `old` to `new` bytes may be made: within the bound,
    /// or at least not growing (so a catalogue above a lowered bound can shrink).
    fn fits(&self, old: usize, new: usize) -> bool {
        let total = self.bytes - old + new;
        total <= self.max_bytes || new <= old
    }

    fn position(&self, id: i64) -> Result<usize, StoreError> {
        self.tracks
            .iter()
            .position(|t| t.id == id)
            .ok_or(StoreError::NotFound)
    }

    pub(crate) fn apply_insert(&mut self, track: Track) -> Result<Undo, StoreError> {
        if self.get(track.id).is_some() {
            return Err(StoreError::Duplicate);
        }
        if self.tracks.len() >= self.max_tracks {
            return Err(StoreError::Full);
        }
        let stored = StoredTrack::new(track);
        if !self.fits(0, stored.json.len()) {
            return Err(StoreError::TooManyBytes);
        }
        self.bytes += stored.json.len();
        self.tracks.push(stored);
        Ok(Undo::Pop)
    }

    pub(crate) fn apply_replace(&mut self, track: Track) -> Result<Undo, StoreError> {
        let i = self.position(track.id)?;
        let stored = StoredTrack::new(track);
        let (old, new) = (self.tracks[i].json.len(), stored.json.len());
        if !self.fits(old, new) {
            return Err(StoreError::TooManyBytes);
        }
        self.bytes = self.bytes - old + new;
        Ok(Undo::Put(i, std::mem::replace(&mut self.tracks[i], stored)))
    }

    pub(crate) fn apply_remove(&mut self, id: i64) -> Result<Undo, StoreError> {
        let i = self.position(id)?;
        let old = self.tracks.remove(i);
        self.bytes -= old.json.len();
        Ok(Undo::Reinsert(i, old))
    }

    pub(crate) fn apply_replace_all(&mut self, tracks: Vec<Track>) -> Result<Undo, StoreError> {
        let mut ids = std::collections::HashSet::with_capacity(tracks.len());
        if !tracks.iter().all(|t| ids.insert(t.id)) {
            return Err(StoreError::Duplicate);
        }
        if tracks.len() > self.max_tracks {
            return Err(StoreError::Full);
        }
        let stored: Vec<StoredTrack> = tracks.into_iter().map(StoredTrack::new).collect();
        let bytes = stored.iter().map(|t| t.json.len()).sum();
        if !self.fits(self.bytes, bytes) {
            return Err(StoreError::TooManyBytes);
        }
        self.bytes = bytes;
        Ok(Undo::Restore(std::mem::replace(&mut self.tracks, stored)))
    }

    pub(crate) fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::Restore(old) => {
                self.bytes = old.iter().map(|t| t.json.len()).sum();
                self.tracks = old;
            }
            Undo::Pop => {
                if let Some(t) = self.tracks.pop() {
                    self.bytes -= t.json.len();
                }
            }
            Undo::Put(i, old) => {
                self.bytes = self.bytes - self.tracks[i].json.len() + old.json.len();
                self.tracks[i] = old;
            }
            Undo::Reinsert(i, old) => {
                self.bytes += old.json.len();
                self.tracks.insert(i, old);
            }
        }
    }
}

impl TrackStore for MemoryStore {
    fn all(&self) -> &[StoredTrack] {
        &self.tracks
    }

    fn insert(&mut self, track: Track) -> Result<(), StoreError> {
        self.apply_insert(track).map(drop)
    }

    fn replace(&mut self, track: Track) -> Result<(), StoreError> {
        self.apply_replace(track).map(drop)
    }

    fn remove(&mut self, id: i64) -> Result<(), StoreError> {
        self.apply_remove(id).map(drop)
    }

    fn replace_all(&mut self, tracks: Vec<Track>) -> Result<(), StoreError> {
        self.apply_replace_all(tracks).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_minimal_track_with_null_defaults() {
        let t = Track::parse(&json!({"id": 5, "title": "T", "artist": "A", "year": 2000, "x": 1}))
            .unwrap();
        assert_eq!(t.album, None);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"id":5,"title":"T","artist":"A","album":null,"year":2000,"label":null}"#
        );
    }

    #[test]
    fn reports_each_bad_field_in_order() {
        let errs =
            Track::parse(&json!({"id": "x", "artist": 3, "year": 10000, "label": ""})).unwrap_err();
        let kinds: Vec<_> = errs
            .iter()
            .map(|e| (e.kind, e.loc[1].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("int_parsing", "id".into()),
                ("missing", "title".into()),
                ("string_type", "artist".into()),
                ("less_than_equal", "year".into()),
                ("string_too_short", "label".into()),
            ]
        );
    }

    #[test]
    fn lax_ints_and_fractional_numbers() {
        let base = |id: Value| json!({"id": id, "title": "T", "artist": "A", "year": 1});
        assert_eq!(Track::parse(&base(json!("7"))).unwrap().id, 7);
        assert_eq!(Track::parse(&base(json!(7.0))).unwrap().id, 7);
        assert_eq!(
            Track::parse(&base(json!(7.5))).unwrap_err()[0].kind,
            "int_from_float"
        );
        assert_eq!(
            Track::parse(&base(json!(null))).unwrap_err()[0].kind,
            "int_type"
        );
    }

    #[test]
    fn text_bounds_count_characters() {
        let t = |s: String| json!({"id": 1, "title": s, "artist": "A", "year": 1});
        assert!(Track::parse(&t("é".repeat(200))).is_ok());
        assert_eq!(
            Track::parse(&t("é".repeat(201))).unwrap_err()[0].kind,
            "string_too_long"
        );
    }

    #[test]
    fn ids_beyond_64_bits_are_refused_not_aliased() {
        let t = |id: Value| json!({"id": id, "title": "T", "artist": "A", "year": 1});
        for huge in [
            json!(18446744073709551615u64),
            json!("99999999999999999999"),
            json!("-99999999999999999999"),
        ] {
            let errs = Track::parse(&t(huge.clone())).unwrap_err();
            assert_eq!(errs[0].loc[1], "id", "{huge}");
        }
        assert!(Track::parse(&t(json!(9_007_199_254_740_993i64))).is_ok());
        assert_eq!(Track::parse(&t(json!(i64::MAX))).unwrap().id, i64::MAX);
        assert_eq!(Track::parse(&t(json!(i64::MIN))).unwrap().id, i64::MIN);
    }

    /// pydantic's answer for an `int` field declared `ge=-2**63, le=2**63-1`: the
    /// range error, echoing the number as sent (not as a float).
    #[test]
    fn an_integer_literal_beyond_64_bits_gets_the_range_error() {
        let body: Value = serde_json::from_str(
            r#"{"id":99999999999999999999,"title":"T","artist":"A","year":1}"#,
        )
        .unwrap();
        let errs = Track::parse(&body).unwrap_err();
        assert_eq!(
            serde_json::to_string(&errs).unwrap(),
            r#"[{"type":"less_than_equal","loc":["body","id"],"msg":"Input should be less than or equal to 9223372036854775807","input":99999999999999999999,"ctx":{"le":9223372036854775807}}]"#
        );
        let below: Value = serde_json::from_str(
            r#"{"id":-9223372036854775809,"title":"T","artist":"A","year":1}"#,
        )
        .unwrap();
        assert_eq!(
            Track::parse(&below).unwrap_err()[0].kind,
            "greater_than_equal"
        );
    }

    /// FastAPI echoes a body in a 422 with the client's key order.
    #[test]
    fn a_missing_field_echoes_the_body_in_the_order_sent() {
        let body: Value = serde_json::from_str(r#"{"id":7,"title":"x","artist":"y"}"#).unwrap();
        let errs = Track::parse(&body).unwrap_err();
        assert_eq!(
            serde_json::to_string(&errs[0].input).unwrap(),
            r#"{"id":7,"title":"x","artist":"y"}"#
        );
    }

    #[test]
    fn not_an_object() {
        assert_eq!(
            Track::parse(&json!([])).unwrap_err()[0].kind,
            "model_attributes_type"
        );
    }

    #[test]
    fn memory_store_refuses_duplicates_and_overflow() {
        let mut s = MemoryStore::new(Track::seed(), 5);
        let mut t = Track::seed()[0].clone();
        assert_eq!(s.insert(t.clone()), Err(StoreError::Duplicate));
        t.id = 10;
        assert_eq!(s.insert(t.clone()), Ok(()));
        t.id = 11;
        assert_eq!(s.insert(t), Err(StoreError::Full));
    }

    #[test]
    fn memory_store_bounds_the_bytes_and_lets_an_oversized_one_shrink() {
        let seed = MemoryStore::new(Track::seed(), 100);
        let mut s = seed.clone().with_max_bytes(seed.bytes() + 200);
        let mut t = Track::seed()[0].clone();
        t.id = 10;
        t.title = "x".repeat(10);
        assert_eq!(s.insert(t.clone()), Ok(()));
        t.title = "x".repeat(150);
        assert_eq!(s.replace(t.clone()), Err(StoreError::TooManyBytes));
        t.id = 11;
        assert_eq!(s.insert(t.clone()), Err(StoreError::TooManyBytes));
        assert_eq!(s.all().len(), 5);
        // A bound lowered below the catalogue: it may shrink, not grow.
        let mut s = seed.clone().with_max_bytes(10);
        let mut shorter = Track::seed()[0].clone();
        shorter.title = "Sun".into();
        assert_eq!(s.replace(shorter), Ok(()));
        assert_eq!(s.remove(2), Ok(()));
        let total: usize = s.all().iter().map(|t| t.json().len()).sum();
        assert_eq!(s.bytes(), total);
    }

    #[test]
    fn replace_all_is_all_or_nothing_within_the_bounds() {
        let seed = MemoryStore::new(Track::seed(), 3);
        let mut s = seed.clone();
        let mut twice = Track::seed()[..2].to_vec();
        twice[1].id = twice[0].id;
        assert_eq!(s.replace_all(twice), Err(StoreError::Duplicate));
        assert_eq!(s.replace_all(Track::seed()), Err(StoreError::Full));
        let mut small = MemoryStore::new(Track::seed(), 10).with_max_bytes(seed.bytes() - 1);
        let mut longer = Track::seed();
        longer[0].title.push('!');
        assert_eq!(small.replace_all(longer), Err(StoreError::TooManyBytes));
        assert_eq!(s.all(), seed.all());
        assert_eq!(s.replace_all(Track::seed()[1..3].to_vec()), Ok(()));
        assert_eq!(s.all().iter().map(|t| t.id).collect::<Vec<_>>(), [2, 3]);
        let total: usize = s.all().iter().map(|t| t.json().len()).sum();
        assert_eq!(s.bytes(), total);
    }

    #[test]
    fn search_looks_in_title_artist_and_album_ignoring_case() {
        let s = MemoryStore::new(Track::seed(), 5);
        let ids = |needle: &str| {
            let key = search_key(needle);
            s.all()
                .iter()
                .filter(|t| t.contains(&key))
                .map(|t| t.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("RADIO"), [3]);
        assert_eq!(ids("song"), [2, 4]);
        assert_eq!(ids("bends"), [3]);
        assert_eq!(ids("apple"), Vec::<i64>::new(), "the label is not searched");
    }

    #[test]
    fn memory_store_replaces_in_place_and_removes() {
        let mut s = MemoryStore::new(Track::seed(), 5);
        let mut t = Track::seed()[1].clone();
        t.title = "Song 2 (remastered)".into();
        assert_eq!(s.replace(t.clone()), Ok(()));
        assert_eq!(s.all()[1], t);
        assert_eq!(s.remove(1), Ok(()));
        assert_eq!(s.all().iter().map(|t| t.id).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(s.remove(1), Err(StoreError::NotFound));
        t.id = 99;
        assert_eq!(s.replace(t), Err(StoreError::NotFound));
        assert_eq!(s.all().len(), 3);
    }

    #[test]
    fn a_stored_track_keeps_json_and_artist_key_in_step_with_the_track() {
        let mut s = MemoryStore::new(Track::seed(), 5);
        let mut t = Track::seed()[0].clone();
        t.artist = "ÉDITH Piaf".into();
        t.title = "La \"Vie\" en rose".into();
        assert_eq!(s.replace(t.clone()), Ok(()));
        let stored = s.get(t.id).unwrap();
        assert_eq!(stored.json(), serde_json::to_string(&t).unwrap());
        assert!(stored.artist_is(&artist_key("édith PIAF")));
        assert!(!stored.artist_is(&artist_key("Édith")));
        assert_eq!(s.remove(t.id), Ok(()));
        assert!(
            s.all()
                .iter()
                .all(|t| t.json() == serde_json::to_string(&**t).unwrap())
        );
    }
}
