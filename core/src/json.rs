//! The JSON codec for [`Value`]: a hand-written byte-level parser and writer.
//!
//! JSON is the format most events arrive and leave in, so this sits on the hot path of
//! almost every pipeline. The parser is a recursive descent over bytes with a fast path
//! for strings without escapes, builds maps in input order (duplicates resolve to the
//! last on lookup, see [`Map::push`]) and refuses nesting deeper than [`MAX_DEPTH`]
//! instead of overflowing the stack. Integers that fit `i64` become [`Value::Int`],
//! every other number a [`Value::Float`].
//!
//! The writer emits compact JSON, escapes what JSON requires and writes non-finite
//! floats (which JSON cannot represent) as `null`.

mod parse;
mod scan;
mod write;

pub use parse::{from_slice, from_str};
pub use write::{to_string, write, write_str};

use crate::value::{Map, Str, Value};

/// How deeply arrays and objects may nest before parsing fails.
pub const MAX_DEPTH: usize = 128;

/// Why a document is not valid JSON, and where (a byte offset into the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {reason}")]
pub struct JsonError {
    /// Where in the input the problem was found.
    pub offset: usize,
    /// What was wrong, in a few words.
    pub reason: &'static str,
}

/// Converts from `serde_json`'s tree, for code that already has one.
pub fn from_serde(value: serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(Str::from(s)),
        serde_json::Value::Array(items) => {
            Value::Array(items.into_iter().map(from_serde).collect())
        }
        serde_json::Value::Object(obj) => {
            let mut map = Map::with_capacity(obj.len());
            for (k, v) in obj {
                map.push(k, from_serde(v));
            }
            Value::Object(map)
        }
    }
}

/// Converts to `serde_json`'s tree. Non-finite floats become `null`; duplicate keys
/// keep the last value.
pub fn to_serde(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_serde).collect()),
        Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), to_serde(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests;
