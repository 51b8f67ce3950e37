//! FastAPI/pydantic-style validation errors (`422 {"detail": [...]}`).
//!
//! The original's clients parse these bodies, so field names, order and messages
//! follow pydantic v2 exactly where we produce the same error type.

use crate::http::Response;
use serde::Serialize;
use serde_json::Value;

/// One entry of a 422 `detail` list. Field order is the wire order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorItem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub loc: Vec<Value>,
    pub msg: String,
    pub input: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Value>,
}

impl ErrorItem {
    fn new(kind: &'static str, loc: &[&str], msg: impl Into<String>, input: Value) -> ErrorItem {
        ErrorItem {
            kind,
            loc: loc.iter().map(|s| Value::from(*s)).collect(),
            msg: msg.into(),
            input,
            ctx: None,
        }
    }

    /// A required field is absent; `input` is the whole enclosing value, as pydantic reports it.
    pub fn missing(loc: &[&str], input: Value) -> ErrorItem {
        ErrorItem::new("missing", loc, "Field required", input)
    }

    /// A string that is not an integer.
    pub fn int_parsing(loc: &[&str], input: Value) -> ErrorItem {
        ErrorItem::new(
            "int_parsing",
            loc,
            "Input should be a valid integer, unable to parse string as an integer",
            input,
        )
    }

    /// A JSON value of the wrong type for an integer field.
    pub fn int_type(loc: &[&str], input: Value) -> ErrorItem {
        ErrorItem::new("int_type", loc, "Input should be a valid integer", input)
    }

    /// A number with a fractional part for an integer field.
    pub fn int_from_float(loc: &[&str], input: Value) -> ErrorItem {
        ErrorItem::new(
            "int_from_float",
            loc,
            "Input should be a valid integer, got a number with a fractional part",
            input,
        )
    }

    /// A JSON value of the wrong type for a string field.
    pub fn string_type(loc: &[&str], input: Value) -> ErrorItem {
        ErrorItem::new("string_type", loc, "Input should be a valid string", input)
    }

    /// An integer below its lower bound.
    pub fn greater_than_equal(loc: &[&str], input: Value, ge: i64) -> ErrorItem {
        let mut e = ErrorItem::new(
            "greater_than_equal",
            loc,
            format!("Input should be greater than or equal to {ge}"),
            input,
        );
        e.ctx = Some(serde_json::json!({ "ge": ge }));
        e
    }

    /// An integer above its upper bound.
    pub fn less_than_equal(loc: &[&str], input: Value, le: i64) -> ErrorItem {
        let mut e = ErrorItem::new(
            "less_than_equal",
            loc,
            format!("Input should be less than or equal to {le}"),
            input,
        );
        e.ctx = Some(serde_json::json!({ "le": le }));
        e
    }

    /// A value that has the right type but breaks a rule of ours.
    pub fn value_error(loc: &[&str], input: Value, reason: &str) -> ErrorItem {
        let mut e = ErrorItem::new("value_error", loc, format!("Value error, {reason}"), input);
        e.ctx = Some(serde_json::json!({ "error": reason }));
        e
    }

    /// A JSON value that is not an array where a list is expected.
    pub fn list_type(loc: &[&str], input: Value) -> ErrorItem {
        ErrorItem::new("list_type", loc, "Input should be a valid list", input)
    }

    /// The same error, for the item at `index` of the list at `loc[0]`: pydantic
    /// puts the index after the list's location (`["body", 3, "year"]`).
    pub fn at_index(mut self, index: usize) -> ErrorItem {
        let at = self.loc.len().min(1);
        self.loc.insert(at, Value::from(index));
        self
    }

    /// A string that is not a boolean.
    pub fn bool_parsing(loc: &[&str], input: Value) -> ErrorItem {
        ErrorItem::new(
            "bool_parsing",
            loc,
            "Input should be a valid boolean, unable to interpret input",
            input,
        )
    }

    /// A string shorter than its minimum length (in characters).
    pub fn string_too_short(loc: &[&str], input: Value, min: usize) -> ErrorItem {
        let s = if min == 1 { "" } else { "s" };
        let mut e = ErrorItem::new(
            "string_too_short",
            loc,
            format!("String should have at least {min} character{s}"),
            input,
        );
        e.ctx = Some(serde_json::json!({ "min_length": min }));
        e
    }

    /// A string longer than its maximum length (in characters).
    pub fn string_too_long(loc: &[&str], input: Value, max: usize) -> ErrorItem {
        let mut e = ErrorItem::new(
            "string_too_long",
            loc,
            format!("String should have at most {max} characters"),
            input,
        );
        e.ctx = Some(serde_json::json!({ "max_length": max }));
        e
    }

    /// The body is not valid JSON; `position` is the byte offset of the error.
    pub fn json_invalid(position: usize, reason: &str) -> ErrorItem {
        ErrorItem {
            kind: "json_invalid",
            loc: vec![Value::from("body"), Value::from(position)],
            msg: "JSON decode error".to_owned(),
            input: serde_json::json!({}),
            ctx: Some(serde_json::json!({ "error": reason })),
        }
    }

    /// The body is JSON but not an object.
    pub fn model_attributes_type(input: Value) -> ErrorItem {
        ErrorItem::new(
            "model_attributes_type",
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
            input,
        )
    }

    /// Replaces the location (for errors whose location is computed, e.g. a path parameter).
    pub fn at(mut self, loc: &[&str]) -> ErrorItem {
        self.loc = loc.iter().map(|s| Value::from(*s)).collect();
        self
    }
}

#[derive(Serialize)]
struct Detail<'a> {
    detail: &'a [ErrorItem],
}

/// The 422 response for a list of errors.
pub fn unprocessable(errors: &[ErrorItem]) -> Response {
    Response::json(422, &Detail { detail: errors })
}

/// Parses an integer the way pydantic's lax mode parses a string: surrounding
/// whitespace allowed, an optional sign, ASCII digits (single `_` between them, as
/// Python allows), optionally `.` and zeros. Values beyond i64 saturate.
pub fn parse_int(text: &str) -> Option<i64> {
    parse_wide_int(text).map(saturate)
}

/// Like [`parse_int`], but wide enough that a value just beyond i64 is still told
/// apart from i64's extremes, so bounds checks report it (as pydantic, whose ints
/// are unbounded, does). Beyond i128 saturates: just as out of range.
pub fn parse_wide_int(text: &str) -> Option<i128> {
    let t = text.trim();
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = match rest.split_once('.') {
        Some((whole, zeros)) if !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') => whole,
        Some(_) => return None,
        None => rest,
    };
    let grouped_ok = !digits.is_empty()
        && digits
            .split('_')
            .all(|group| !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit()));
    if !grouped_ok {
        return None;
    }
    let magnitude = digits.replace('_', "").parse::<i128>().unwrap_or(i128::MAX);
    Some(if negative { -magnitude } else { magnitude })
}

/// Clamps a wide integer into i64 (for values already checked against bounds).
pub fn saturate(n: i128) -> i64 {
    n.clamp(i64::MIN.into(), i64::MAX.into()) as i64
}

/// Checks inclusive bounds: pydantic's error for the side that is broken, if one is.
pub fn out_of_bounds(
    loc: &[&str],
    n: i128,
    input: &Value,
    (lo, hi): (i64, i64),
) -> Option<ErrorItem> {
    if n < i128::from(lo) {
        Some(ErrorItem::greater_than_equal(loc, input.clone(), lo))
    } else if n > i128::from(hi) {
        Some(ErrorItem::less_than_equal(loc, input.clone(), hi))
    } else {
        None
    }
}

/// Parses a boolean the way pydantic parses a query string.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
        "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_parsing_body_is_fastapis() {
        let r = unprocessable(&[ErrorItem::int_parsing(
            &["query", "skip"],
            Value::from("abc"),
        )]);
        assert_eq!(
            r.body_text(),
            r#"{"detail":[{"type":"int_parsing","loc":["query","skip"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}"#
        );
    }

    #[test]
    fn bounds_carry_ctx() {
        let e = ErrorItem::greater_than_equal(&["query", "skip"], Value::from("-1"), 0);
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"greater_than_equal","loc":["query","skip"],"msg":"Input should be greater than or equal to 0","input":"-1","ctx":{"ge":0}}"#
        );
    }

    #[test]
    fn parse_int_accepts_lax_forms() {
        assert_eq!(parse_int(" 42 "), Some(42));
        assert_eq!(parse_int("+5"), Some(5));
        assert_eq!(parse_int("-3"), Some(-3));
        assert_eq!(parse_int("99999999999999999999"), Some(i64::MAX));
        assert_eq!(parse_int("-99999999999999999999"), Some(i64::MIN));
        assert_eq!(parse_wide_int("9223372036854775808"), Some(1 << 63));
        assert_eq!(parse_wide_int("1".repeat(50).as_str()), Some(i128::MAX));
        assert_eq!(parse_int("-1476626449.0"), Some(-1_476_626_449));
        assert_eq!(parse_int("1_0.00"), Some(10));
        for bad in [
            "", "abc", "1.5", "-", "1e3", "0x10", "١", "1.", ".0", "1__0", "_1", "1_", "1.0_0",
            "1.0.0", "+-1", "- 1",
        ] {
            assert_eq!(parse_int(bad), None, "{bad}");
        }
    }
}
