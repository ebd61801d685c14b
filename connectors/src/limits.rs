//! Input limits: how large, how deep and how wide one record may be.
//!
//! Every record comes from outside and may be hostile: a 50 MB line, JSON nested ten
//! thousand levels, an object of a million keys. Components that decode records take
//! these limits as attributes (with the defaults below) and treat a record over any of
//! them as a bad record, with a reason naming the limit and the attribute to raise:
//! it goes to the `errors` output (transforms) or is emitted as an error record
//! (sources), never dropped silently and never allowed to exhaust memory or time.
//! Line-oriented sources have their own `max_line_length`, enforced before a line is
//! even assembled (see [`crate::lines`]).

use pipectl_core::component::BuildError;
use pipectl_core::config::Attrs;
use pipectl_core::json;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType};
use std::fmt;

/// The default of `max_event_size`: the same as `max_line_length`'s, so a line that
/// was read whole can also be decoded.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 1 << 20;
/// The default of `max_depth`: far deeper than any real log record, well inside the
/// JSON parser's own bound ([`json::MAX_DEPTH`]).
pub const DEFAULT_MAX_DEPTH: usize = 32;
/// The default of `max_fields`: room for the largest real records (a CloudTrail event
/// with big request parameters) while bounding the work one record can cause.
pub const DEFAULT_MAX_FIELDS: usize = 10_000;

/// The `max_event_size` attribute.
pub const MAX_EVENT_SIZE_ATTR: AttrSpec = AttrSpec::with_default(
    "max_event_size",
    AttrType::Size,
    "1MiB",
    "A record whose text is larger is not decoded: it is a bad record with that reason.",
);

/// The `max_depth` attribute.
pub const MAX_DEPTH_ATTR: AttrSpec = AttrSpec::with_default(
    "max_depth",
    AttrType::Int,
    "32",
    "A record nesting objects and arrays deeper (at most 128) is a bad record.",
);

/// The `max_fields` attribute.
pub const MAX_FIELDS_ATTR: AttrSpec = AttrSpec::with_default(
    "max_fields",
    AttrType::Int,
    "10000",
    "A record with more fields (object members at any depth; array elements do not count) is a bad record.",
);

/// The limits one component applies to each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// Bytes of one record's text.
    pub max_event_size: usize,
    /// Levels of nested objects and arrays.
    pub max_depth: usize,
    /// Object members, counted at every depth.
    pub max_fields: usize,
}

impl Default for InputLimits {
    fn default() -> InputLimits {
        InputLimits {
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            max_depth: DEFAULT_MAX_DEPTH,
            max_fields: DEFAULT_MAX_FIELDS,
        }
    }
}

/// Which limit a record broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the record is {size} bytes, more than max_event_size ({max} bytes)")]
    TooLarge { size: usize, max: usize },
    #[error("the record nests deeper than max_depth ({max} levels)")]
    TooDeep { max: usize },
    #[error("the record has more than max_fields ({max}) fields")]
    TooManyFields { max: usize },
}

impl InputLimits {
    /// Reads `max_event_size`, `max_depth` and `max_fields` from a component's
    /// attributes; a depth above [`json::MAX_DEPTH`] is refused, since the parser
    /// could not honour it.
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<InputLimits, BuildError> {
        let max_event_size = match attrs.raw("max_event_size") {
            None => DEFAULT_MAX_EVENT_SIZE,
            Some(_) => crate::settings::size_limit(attrs, "max_event_size")?,
        };
        Ok(InputLimits {
            max_event_size,
            ..InputLimits::from_attrs_without_size(attrs)?
        })
    }

    /// Reads `max_depth` and `max_fields` only, for components whose record size is
    /// bounded another way (`max_body_size`, `max_length`); `max_event_size` is left
    /// at its default. An attribute absent from the plan (a plan built by code rather
    /// than compiled, which fills in defaults) takes its default.
    pub fn from_attrs_without_size(attrs: &Attrs<'_>) -> Result<InputLimits, BuildError> {
        let max_depth = count_or(attrs, "max_depth", DEFAULT_MAX_DEPTH)?;
        if max_depth > json::MAX_DEPTH {
            return Err(attrs.error(format!(
                "attribute `max_depth` must be at most {}, not {max_depth}",
                json::MAX_DEPTH
            )));
        }
        Ok(InputLimits {
            max_depth,
            max_fields: count_or(attrs, "max_fields", DEFAULT_MAX_FIELDS)?,
            ..InputLimits::default()
        })
    }

    /// The bounds handed to the JSON parser, which enforces them while parsing.
    pub fn json(&self) -> json::Limits {
        json::Limits {
            max_depth: self.max_depth,
            max_fields: self.max_fields,
        }
    }

    /// Checks a record's size before decoding it.
    pub fn check_size(&self, size: usize) -> Result<(), LimitError> {
        if size > self.max_event_size {
            return Err(LimitError::TooLarge {
                size,
                max: self.max_event_size,
            });
        }
        Ok(())
    }

    /// Checks the shape of a decoded value (for codecs other than JSON, whose parser
    /// checks while parsing). Stops at the first breach, so the walk costs at most
    /// `max_fields` steps per level reached.
    pub fn check_value(&self, value: &Value) -> Result<(), LimitError> {
        let mut fields_left = self.max_fields;
        self.walk(value, 0, &mut fields_left)
    }

    fn walk(&self, value: &Value, depth: usize, fields_left: &mut usize) -> Result<(), LimitError> {
        let too_deep = LimitError::TooDeep {
            max: self.max_depth,
        };
        match value {
            Value::Object(map) => {
                if depth >= self.max_depth {
                    return Err(too_deep);
                }
                if map.len() > *fields_left {
                    return Err(LimitError::TooManyFields {
                        max: self.max_fields,
                    });
                }
                *fields_left -= map.len();
                for (_, child) in map.iter() {
                    self.walk(child, depth + 1, fields_left)?;
                }
                Ok(())
            }
            Value::Array(items) => {
                if depth >= self.max_depth {
                    return Err(too_deep);
                }
                for child in items {
                    self.walk(child, depth + 1, fields_left)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The limit error behind a JSON parse failure, if a limit is what failed.
    pub fn json_breach(&self, error: &json::JsonError) -> Option<LimitError> {
        match error.reason {
            json::TOO_DEEP => Some(LimitError::TooDeep {
                max: self.max_depth.min(json::MAX_DEPTH),
            }),
            json::TOO_MANY_FIELDS => Some(LimitError::TooManyFields {
                max: self.max_fields,
            }),
            _ => None,
        }
    }
}

/// A count of at least 1, or `default` when the attribute is absent.
pub(crate) fn count_or(attrs: &Attrs<'_>, key: &str, default: usize) -> Result<usize, BuildError> {
    match attrs.raw(key) {
        None => Ok(default),
        Some(_) => crate::settings::positive(attrs, key),
    }
}

impl fmt::Display for InputLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "max_event_size {} bytes, max_depth {}, max_fields {}",
            self.max_event_size, self.max_depth, self.max_fields
        )
    }
}

/// Where a JSON document keeps its records: an API page (`{"value": [...], ...}`), a
/// CloudTrail log file (`{"Records": [...]}`) or a bare array of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordsAt<'a> {
    /// The document is the array of records.
    Document,
    /// The records are the array under this member of the document's object.
    Member(&'a str),
}

/// How many bytes of a rejected record's text its error record keeps in `message`.
pub const REJECTED_HEAD: usize = 256;

/// A record held back from a document for breaking a limit (or not being JSON): its
/// place, size and first bytes, and why, to be emitted as an error record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its position among the document's records, from 1.
    pub number: usize,
    /// The length of its text in bytes.
    pub size: usize,
    /// Its first [`REJECTED_HEAD`] bytes (invalid UTF-8 replaced).
    pub head: String,
    /// The limit it broke, or why it is not JSON.
    pub reason: String,
}

impl Rejected {
    /// The error record emitted in its place (`message` its first bytes,
    /// `pipectl.error.message` why), `what` saying where it came from
    /// (`okta: GET https://…/api/v1/logs`, `s3://bucket/key`).
    pub fn error_record(&self, component: &str, what: &str) -> Value {
        let reason = format!(
            "{what}: record {} ({} bytes): {}; `message` holds its first {} bytes",
            self.number,
            self.size,
            self.reason,
            self.head.len().min(self.size)
        );
        crate::sources::error_record(component, &self.head, &reason)
    }
}

/// Splits a JSON document into its records, decoding each on its own within `limits`:
/// a record over `max_event_size`, nesting past `max_depth`, wider than `max_fields`
/// or not JSON is held back as a [`Rejected`] (never decoded whole), and the others are
/// returned in place, so the document reads as if the rejected records were not in it.
///
/// The rest of the document (next-page links, cursors) is parsed with the parser's
/// own bounds only; a document that is not of the expected shape is parsed whole and
/// returned as it is, for the caller to say what is wrong with it. Finding a record's
/// end takes no recursion, so a record nested ten thousand levels deep costs one
/// linear scan and cannot make a whole page unreadable (which would stop the source
/// at that page for ever). Fails only when the document itself is broken (unbalanced,
/// cut short, not JSON outside its records).
pub fn split_records(
    doc: &[u8],
    at: RecordsAt<'_>,
    limits: &InputLimits,
) -> Result<(Value, Vec<Rejected>), json::JsonError> {
    let start = skip_ws(doc, 0);
    let (value, rejected, end) = match (at, doc.get(start)) {
        (RecordsAt::Document, Some(b'[')) => {
            let (records, rejected, end) = split_array(doc, start, limits)?;
            (Value::Array(records), rejected, end)
        }
        (RecordsAt::Member(name), Some(b'{')) => split_object(doc, start, name, limits)?,
        _ => return json::from_slice(doc).map(|value| (value, Vec::new())),
    };
    let end = skip_ws(doc, end);
    if end < doc.len() {
        return Err(broken(end, "trailing characters"));
    }
    Ok((value, rejected))
}

fn broken(offset: usize, reason: &'static str) -> json::JsonError {
    json::JsonError { offset, reason }
}

fn skip_ws(doc: &[u8], mut at: usize) -> usize {
    while matches!(doc.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

fn trim_end(doc: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && matches!(doc[end - 1], b' ' | b'\t' | b'\n' | b'\r') {
        end -= 1;
    }
    end
}

/// Where the value starting at `start` ends: the offset of the `,`, `]` or `}` after
/// it at its own level. Brackets are counted, not matched (a mismatch is found when
/// the value is decoded), and strings skipped, escapes included; no recursion.
fn value_end(doc: &[u8], start: usize) -> Result<usize, json::JsonError> {
    let mut depth: usize = 0;
    let mut in_string = false;
    let mut at = start;
    while let Some(&byte) = doc.get(at) {
        if in_string {
            match byte {
                b'\\' => at += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match byte {
                b'"' => in_string = true,
                b'[' | b'{' => depth += 1,
                b']' | b'}' if depth == 0 => return Ok(at),
                b']' | b'}' => depth -= 1,
                b',' if depth == 0 => return Ok(at),
                _ => {}
            }
        }
        at += 1;
    }
    Err(broken(doc.len(), "the document ends inside a value"))
}

/// The offset after the closing quote of the string opening at `open`.
fn string_end(doc: &[u8], open: usize) -> Result<usize, json::JsonError> {
    let mut at = open + 1;
    while let Some(&byte) = doc.get(at) {
        match byte {
            b'\\' => at += 2,
            b'"' => return Ok(at + 1),
            _ => at += 1,
        }
    }
    Err(broken(open, "unterminated string"))
}

/// The records of the array opening at `open`, and the offset after its `]`.
fn split_array(
    doc: &[u8],
    open: usize,
    limits: &InputLimits,
) -> Result<(Vec<Value>, Vec<Rejected>, usize), json::JsonError> {
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    let mut at = skip_ws(doc, open + 1);
    if doc.get(at) == Some(&b']') {
        return Ok((records, rejected, at + 1));
    }
    loop {
        let end = value_end(doc, at)?;
        let text = &doc[at..trim_end(doc, at, end)];
        let number = records.len() + rejected.len() + 1;
        match decode_record(text, limits) {
            Ok(record) => records.push(record),
            Err(reason) => rejected.push(Rejected {
                number,
                size: text.len(),
                head: String::from_utf8_lossy(&text[..text.len().min(REJECTED_HEAD)]).into_owned(),
                reason,
            }),
        }
        match doc.get(end) {
            Some(b',') => at = skip_ws(doc, end + 1),
            Some(b']') => return Ok((records, rejected, end + 1)),
            _ => return Err(broken(end, "expected `,` or `]` after a record")),
        }
    }
}

/// One record's text decoded within `limits`, or why it is rejected.
fn decode_record(text: &[u8], limits: &InputLimits) -> Result<Value, String> {
    limits.check_size(text.len()).map_err(|e| e.to_string())?;
    json::from_slice_limited(text, limits.json()).map_err(|e| match limits.json_breach(&e) {
        Some(breach) => breach.to_string(),
        None => format!("not JSON ({e})"),
    })
}

/// The object opening at `open`, its `name` member's records split out.
fn split_object(
    doc: &[u8],
    open: usize,
    name: &str,
    limits: &InputLimits,
) -> Result<(Value, Vec<Rejected>, usize), json::JsonError> {
    let mut map = pipectl_core::value::Map::new();
    let mut rejected = Vec::new();
    let mut at = skip_ws(doc, open + 1);
    if doc.get(at) == Some(&b'}') {
        return Ok((Value::Object(map), rejected, at + 1));
    }
    loop {
        if doc.get(at) != Some(&b'"') {
            return Err(broken(at, "expected a member name"));
        }
        let colon = string_end(doc, at)?;
        let key = match json::from_slice(&doc[at..colon]) {
            Ok(Value::String(key)) => key,
            _ => return Err(broken(at, "invalid member name")),
        };
        at = skip_ws(doc, colon);
        if doc.get(at) != Some(&b':') {
            return Err(broken(at, "expected `:` after a member name"));
        }
        at = skip_ws(doc, at + 1);
        let end = if key.as_str() == name && doc.get(at) == Some(&b'[') {
            let (records, held_back, end) = split_array(doc, at, limits)?;
            map.insert(key, Value::Array(records));
            rejected = held_back;
            end
        } else {
            let end = value_end(doc, at)?;
            let value = json::from_slice(&doc[at..trim_end(doc, at, end)])
                .map_err(|e| broken(at + e.offset, e.reason))?;
            map.insert(key, value);
            end
        };
        at = skip_ws(doc, end);
        match doc.get(at) {
            Some(b',') => at = skip_ws(doc, at + 1),
            Some(b'}') => return Ok((Value::Object(map), rejected, at + 1)),
            _ => return Err(broken(at, "expected `,` or `}` after a member")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_depth: usize, max_fields: usize) -> InputLimits {
        InputLimits {
            max_event_size: 10,
            max_depth,
            max_fields,
        }
    }

    fn value(text: &str) -> Value {
        json::from_str(text).unwrap()
    }

    #[test]
    fn sizes_are_checked_before_decoding() {
        let l = limits(4, 4);
        assert_eq!(l.check_size(10), Ok(()));
        assert_eq!(
            l.check_size(11).unwrap_err().to_string(),
            "the record is 11 bytes, more than max_event_size (10 bytes)"
        );
    }

    #[test]
    fn decoded_values_are_checked_like_the_json_parser_checks() {
        let l = limits(2, 3);
        for (text, ok) in [
            (r#"{"a":{"b":1}}"#, true),
            (r#"{"a":{"b":[1]}}"#, false),
            (r#"[[1]]"#, true),
            (r#"[[[1]]]"#, false),
            (r#"{"a":1,"b":2,"c":3}"#, true),
            (r#"{"a":1,"b":{"c":3,"d":4}}"#, false),
            (r#"[1,2,3,4,5,6,7]"#, true),
            ("42", true),
        ] {
            let v = value(text);
            assert_eq!(l.check_value(&v).is_ok(), ok, "{text}");
            // The parser agrees.
            assert_eq!(json::from_str_limited(text, l.json()).is_ok(), ok, "{text}");
        }
        assert_eq!(
            l.check_value(&value(r#"[[[1]]]"#)).unwrap_err().to_string(),
            "the record nests deeper than max_depth (2 levels)"
        );
        assert_eq!(
            l.check_value(&value(r#"{"a":1,"b":{"c":3,"d":4}}"#))
                .unwrap_err()
                .to_string(),
            "the record has more than max_fields (3) fields"
        );
    }

    #[test]
    fn json_breaches_are_recognised() {
        let l = limits(2, 3);
        let err = json::from_str_limited(r#"[[[1]]]"#, l.json()).unwrap_err();
        assert_eq!(l.json_breach(&err), Some(LimitError::TooDeep { max: 2 }));
        let err = json::from_str_limited(r#"{"a":1,"b":2,"c":3,"d":4}"#, l.json()).unwrap_err();
        assert_eq!(
            l.json_breach(&err),
            Some(LimitError::TooManyFields { max: 3 })
        );
        let err = json::from_str_limited("{", l.json()).unwrap_err();
        assert_eq!(l.json_breach(&err), None);
    }

    fn texts(value: &Value) -> String {
        json::to_string(value)
    }

    #[test]
    fn documents_are_split_into_records_and_hostile_ones_held_back() {
        let l = InputLimits {
            max_event_size: 200,
            max_depth: 8,
            max_fields: 5,
        };
        let deep = format!("{}{}", "[".repeat(90), "]".repeat(90));
        let wide = format!(
            "{{{}}}",
            (0..6)
                .map(|i| format!("\"k{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let big = format!("{{\"m\":\"{}\"}}", "x".repeat(300));
        let doc = format!(
            r#" {{"next": "a,]}}\"b", "value" : [ {{"a":"x]}},\"{{"}} , {deep},{wide}, {big} ,NaN,{{"b":[1,{{"c":2}}]}}], "n": {{"d":[1,2]}} }} "#
        );
        let (value, rejected) =
            split_records(doc.as_bytes(), RecordsAt::Member("value"), &l).unwrap();
        assert_eq!(
            texts(&value),
            r#"{"next":"a,]}\"b","value":[{"a":"x]},\"{"},{"b":[1,{"c":2}]}],"n":{"d":[1,2]}}"#
        );
        let reasons: Vec<(usize, usize, &str)> = rejected
            .iter()
            .map(|r| (r.number, r.size, r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (2, 180, "the record nests deeper than max_depth (8 levels)"),
                (
                    3,
                    wide.len(),
                    "the record has more than max_fields (5) fields"
                ),
                (
                    4,
                    big.len(),
                    "the record is 308 bytes, more than max_event_size (200 bytes)"
                ),
                (5, 3, "not JSON (invalid JSON at byte 0: expected a value)"),
            ]
        );
        assert_eq!(rejected[0].head, deep);
        let record = rejected[0].error_record("src", "GET /logs");
        let error = record.as_object().unwrap().get("pipectl").unwrap();
        let error = error.as_object().unwrap().get("error").unwrap();
        assert_eq!(
            json::to_string(error.as_object().unwrap().get("message").unwrap()),
            "\"GET /logs: record 2 (180 bytes): the record nests deeper than max_depth (8 levels); `message` holds its first 180 bytes\""
        );

        assert_eq!(rejected[2].head.len(), REJECTED_HEAD);

        // A bare array, 10,000 levels deep under the default limits, and the empty cases.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let l = InputLimits::default();
        let (value, rejected) = split_records(
            format!("[{deep},{{\"a\":1}}]").as_bytes(),
            RecordsAt::Document,
            &l,
        )
        .unwrap();
        assert_eq!(
            (texts(&value).as_str(), rejected.len()),
            (r#"[{"a":1}]"#, 1)
        );
        for (doc, at, expected) in [
            ("[]", RecordsAt::Document, "[]"),
            ("{}", RecordsAt::Member("value"), "{}"),
            (
                r#"{"value":[]}"#,
                RecordsAt::Member("value"),
                r#"{"value":[]}"#,
            ),
            // Not of the expected shape: parsed whole for the caller to judge.
            (
                r#"{"value":7}"#,
                RecordsAt::Member("value"),
                r#"{"value":7}"#,
            ),
            (r#"[1]"#, RecordsAt::Member("value"), "[1]"),
            (r#"{"a":1}"#, RecordsAt::Document, r#"{"a":1}"#),
        ] {
            let (value, rejected) = split_records(doc.as_bytes(), at, &l).unwrap();
            assert_eq!(
                (texts(&value).as_str(), rejected.len()),
                (expected, 0),
                "{doc}"
            );
        }
    }

    #[test]
    fn broken_documents_are_errors_not_records() {
        let l = InputLimits::default();
        for (doc, at) in [
            (r#"[{"a":1}"#, RecordsAt::Document),
            (r#"[{"a":1}] x"#, RecordsAt::Document),
            (r#"{"value":[{"a":1}]"#, RecordsAt::Member("value")),
            (r#"{"value":[1] "x":2}"#, RecordsAt::Member("value")),
            (r#"{"value":[1], "x":}"#, RecordsAt::Member("value")),
            (r#"{value:[1]}"#, RecordsAt::Member("value")),
            (r#"{"value" [1]}"#, RecordsAt::Member("value")),
            (r#"{"val"#, RecordsAt::Member("value")),
            ("[\"abc", RecordsAt::Document),
        ] {
            assert!(split_records(doc.as_bytes(), at, &l).is_err(), "{doc}");
        }
        // Deep nesting outside the records is the parser's business: refused.
        let deep = format!(
            r#"{{"value":[],"x":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert_eq!(
            split_records(deep.as_bytes(), RecordsAt::Member("value"), &l)
                .unwrap_err()
                .reason,
            json::TOO_DEEP
        );
    }
}
