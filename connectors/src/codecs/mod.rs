//! Codecs: pure functions from text to an event [`Value`], with errors that say what
//! was expected and where.
//!
//! The `parse` transform applies them to a field; the `syslog` and `http` sources use
//! them directly. None of them panics on any input.

pub mod cef;
pub mod csv;
pub mod json;
pub mod kv;
pub mod syslog;

use pipectl_core::value::{Map, Value};
use std::fmt;

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CodecError {
    /// The codec that failed, e.g. `syslog`.
    pub codec: &'static str,
    /// The byte offset in the input where the problem was found, when known.
    pub offset: Option<usize>,
    pub message: String,
}

impl CodecError {
    pub fn new(codec: &'static str, message: impl Into<String>) -> CodecError {
        CodecError {
            codec,
            offset: None,
            message: message.into(),
        }
    }

    pub fn at(codec: &'static str, offset: usize, message: impl Into<String>) -> CodecError {
        CodecError {
            codec,
            offset: Some(offset),
            message: message.into(),
        }
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.codec, self.message)?;
        if let Some(offset) = self.offset {
            write!(f, " (at byte {offset})")?;
        }
        Ok(())
    }
}

/// Sets `value` at the nested key path `keys` of `map`, creating intermediate objects.
/// Codecs build ECS-shaped documents (`log.syslog.priority`) with it. A scalar in the
/// way is replaced by an object: codecs only call this on maps they built themselves.
pub(crate) fn put(map: &mut Map, keys: &[&str], value: Value) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut cur = map;
    for key in parents {
        if !matches!(cur.get(key), Some(Value::Object(_))) {
            cur.insert(*key, Value::object());
        }
        cur = match cur.get_mut(key) {
            Some(Value::Object(inner)) => inner,
            // Just made an object there; nothing else can happen.
            _ => return,
        };
    }
    cur.insert(*last, value);
}

/// A type name with its article, for messages: "an integer", "a string".
pub(crate) fn a_or_an(type_name: &str) -> String {
    match type_name.as_bytes().first() {
        Some(b'a' | b'e' | b'i' | b'o' | b'u') => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

/// Shortens text quoted in an error message so a huge bad field cannot flood logs.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 40;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_builds_nested_objects() {
        let mut map = Map::new();
        put(&mut map, &["log", "syslog", "priority"], Value::Int(34));
        put(&mut map, &["log", "syslog", "version"], Value::Int(1));
        put(&mut map, &["message"], Value::from("hi"));
        assert_eq!(
            pipectl_core::json::to_string(&Value::Object(map)),
            r#"{"log":{"syslog":{"priority":34,"version":1}},"message":"hi"}"#
        );
    }

    #[test]
    fn excerpts_cut_on_char_boundaries() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(30);
        let cut = excerpt(&long);
        assert!(cut.ends_with('…'));
        assert!(cut.len() < long.len());
    }

    #[test]
    fn errors_say_codec_place_and_reason() {
        let err = CodecError::at("csv", 7, "unclosed quote");
        assert_eq!(err.to_string(), "csv: unclosed quote (at byte 7)");
    }
}
