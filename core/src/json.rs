//! The JSON codec for [`Value`]: a hand-written byte-level parser and writer.
//!
//! JSON is the format most events arrive and leave in, so this sits on the hot path of
//! almost every pipeline. The parser is a recursive descent over bytes with a fast path
//! for strings without escapes, builds maps in input order and refuses nesting deeper
//! than [`MAX_DEPTH`] instead of overflowing the stack.
//!
//! Duplicate keys in an object: the last value wins, kept at the position of the
//! key's first occurrence, and the map holds the key once (`{"a":1,"b":2,"a":3}` is
//! `{"a":3,"b":2}`), as most JSON parsers resolve them. Keeping both would let a
//! `remove` of the key uncover the earlier value, and OpenSearch refuses a document
//! with a duplicate field. Integers that fit `i64` become [`Value::Int`],
//! every other number a [`Value::Float`].
//!
//! The writer emits compact JSON, escapes what JSON requires and writes non-finite
//! floats (which JSON cannot represent) as `null`.

mod parse;
mod scan;
mod write;

pub use parse::{from_slice, from_slice_limited, from_str, from_str_limited};
pub use write::{to_string, write, write_str};

use crate::value::{Map, Str, Value};

/// How deeply arrays and objects may nest before parsing fails, whatever the caller's
/// [`Limits`]: the parser recurses once per level, and this keeps it far from the end
/// of any thread's stack.
pub const MAX_DEPTH: usize = 128;

/// The reason of a [`JsonError`] for nesting deeper than allowed.
pub const TOO_DEEP: &str = "nesting too deep";

/// The reason of a [`JsonError`] for more object members than allowed.
pub const TOO_MANY_FIELDS: &str = "too many fields";

/// Bounds on one document, checked while parsing so that a hostile document fails
/// fast with a clear reason instead of being built whole first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Nesting levels of arrays and objects allowed (capped at [`MAX_DEPTH`]).
    pub max_depth: usize,
    /// Object members allowed in the whole document, at every level (each key counts,
    /// a repeated one too); array elements do not count.
    pub max_fields: usize,
}

impl Limits {
    /// Only the stack's bound: [`MAX_DEPTH`] levels, any number of fields.
    pub const DEFAULT: Limits = Limits {
        max_depth: MAX_DEPTH,
        max_fields: usize::MAX,
    };
}

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
