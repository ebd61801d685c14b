//! JSON: one document per record, and the bodies the `http` source accepts (NDJSON or
//! a JSON array).
//!
//! Parsing itself is `pipectl_core::json`, the one fast parser of the project; this
//! module adds the framing and error messages that say which line or element failed.

use super::{a_or_an, excerpt, CodecError};
use pipectl_core::json;
use pipectl_core::value::Value;

const CODEC: &str = "json";

/// Parses one JSON document.
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    json::from_slice(bytes).map_err(|e| CodecError::at(CODEC, e.offset, e.reason))
}

/// Parses one JSON document from text already known to be UTF-8, skipping a second
/// validation on the hot path of the `parse` transform.
pub fn decode_str(text: &str) -> Result<Value, CodecError> {
    json::from_str(text).map_err(|e| CodecError::at(CODEC, e.offset, e.reason))
}

/// How a body of several documents is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One document per line; blank lines are skipped.
    Ndjson,
    /// One JSON document: an array of objects, or a single object.
    Document,
    /// Decide from the first non-blank byte: `[` means a document, anything else
    /// NDJSON.
    Detect,
}

/// Decodes a body into objects, all or nothing: the first bad line or element fails the
/// whole body, with its line number (NDJSON) or index (array) in the message.
pub fn decode_objects(body: &[u8], framing: Framing) -> Result<Vec<Value>, CodecError> {
    let framing = match framing {
        Framing::Detect => match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => Framing::Document,
            _ => Framing::Ndjson,
        },
        other => other,
    };
    match framing {
        Framing::Document => decode_document(body),
        _ => decode_ndjson(body),
    }
}

fn decode_document(body: &[u8]) -> Result<Vec<Value>, CodecError> {
    match decode(body)? {
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                if !matches!(item, Value::Object(_)) {
                    return Err(CodecError::new(
                        CODEC,
                        format!(
                            "array element {index} is {}, not an object",
                            a_or_an(item.type_name())
                        ),
                    ));
                }
            }
            Ok(items)
        }
        object @ Value::Object(_) => Ok(vec![object]),
        other => Err(CodecError::new(
            CODEC,
            format!(
                "the body is {}; expected an object or an array of objects",
                a_or_an(other.type_name())
            ),
        )),
    }
}

fn decode_ndjson(body: &[u8]) -> Result<Vec<Value>, CodecError> {
    let mut objects = Vec::new();
    let mut offset = 0;
    for (index, line) in body.split(|b| *b == b'\n').enumerate() {
        let line_offset = offset;
        offset += line.len() + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let number = index + 1;
        let value = json::from_slice(line).map_err(|e| {
            CodecError::at(
                CODEC,
                line_offset + e.offset,
                format!(
                    "line {number}, column {}: {} in `{}`",
                    e.offset + 1,
                    e.reason,
                    excerpt(&String::from_utf8_lossy(line))
                ),
            )
        })?;
        if !matches!(value, Value::Object(_)) {
            return Err(CodecError::at(
                CODEC,
                line_offset,
                format!(
                    "line {number} is {}, not an object",
                    a_or_an(value.type_name())
                ),
            ));
        }
        objects.push(value);
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(values: &[Value]) -> Vec<String> {
        values.iter().map(json::to_string).collect()
    }

    #[test]
    fn decodes_one_document() {
        let v = decode(br#"{"eventName":"ConsoleLogin","n":1}"#).unwrap();
        assert_eq!(json::to_string(&v), r#"{"eventName":"ConsoleLogin","n":1}"#);
        let err = decode(br#"{"eventName":"#).unwrap_err();
        assert_eq!(err.codec, "json");
    }

    #[test]
    fn ndjson_skips_blank_lines() {
        let body = b"{\"a\":1}\n\n  \n{\"a\":2}\r\n";
        let out = decode_objects(body, Framing::Detect).unwrap();
        assert_eq!(texts(&out), [r#"{"a":1}"#, r#"{"a":2}"#]);
    }

    #[test]
    fn ndjson_errors_name_the_line() {
        let body = b"{\"a\":1}\n{\"a\":\n{\"a\":3}\n";
        let err = decode_objects(body, Framing::Ndjson).unwrap_err();
        assert!(err.message.starts_with("line 2, column 6:"), "{err}");
        assert_eq!(err.offset, Some(13));
        let err = decode_objects(b"{\"a\":1}\n42\n", Framing::Ndjson).unwrap_err();
        assert_eq!(err.message, "line 2 is an integer, not an object");
    }

    #[test]
    fn arrays_are_detected_and_checked() {
        let out = decode_objects(b"  [{\"a\":1},{\"b\":2}]", Framing::Detect).unwrap();
        assert_eq!(texts(&out), [r#"{"a":1}"#, r#"{"b":2}"#]);
        let err = decode_objects(b"[{\"a\":1},\"x\"]", Framing::Detect).unwrap_err();
        assert_eq!(err.message, "array element 1 is a string, not an object");
    }

    #[test]
    fn a_document_may_be_one_pretty_printed_object() {
        let out = decode_objects(b"{\n  \"a\": 1\n}\n", Framing::Document).unwrap();
        assert_eq!(texts(&out), [r#"{"a":1}"#]);
        let err = decode_objects(b"\"text\"", Framing::Document).unwrap_err();
        assert!(err.message.contains("a string"), "{err}");
    }

    #[test]
    fn an_empty_body_holds_no_objects() {
        assert!(decode_objects(b"", Framing::Detect).unwrap().is_empty());
        assert!(decode_objects(b"\n\n", Framing::Ndjson).unwrap().is_empty());
    }
}
