//! One CSV record (RFC 4180) into an object keyed by configured column names.
//!
//! Fields are separated by `,`; a field may be quoted with `"`, and then holds commas,
//! line breaks and `""` for a quote. A quote inside an unquoted field, text after a
//! closing quote, or a record whose field count differs from the column count is an
//! error: silently shifting columns would put values under the wrong names.

use super::{excerpt, CodecError};
use pipectl_core::value::{Map, Value};

const CODEC: &str = "csv";

/// Decodes `text` (one record; a trailing line break is ignored) into `columns`.
pub fn decode(text: &str, columns: &[String]) -> Result<Map, CodecError> {
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    // One field past the columns is enough to refuse the record: a hostile row of a
    // million commas costs no more than a short one.
    let (fields, cut) = split_fields(text, columns.len() + 1)?;
    if fields.len() != columns.len() {
        return Err(CodecError::new(
            CODEC,
            format!(
                "expected {} fields ({}), found {}{}",
                columns.len(),
                columns.join(", "),
                fields.len(),
                if cut { " or more" } else { "" }
            ),
        ));
    }
    let mut map = Map::with_capacity(columns.len());
    for (column, field) in columns.iter().zip(fields) {
        map.push(column.as_str(), Value::from(field));
    }
    Ok(map)
}

/// The fields of one record (no line break at its end), unnamed: for a header row.
pub(crate) fn split_record(text: &str) -> Result<Vec<String>, CodecError> {
    split_fields(text, usize::MAX).map(|(fields, _)| fields)
}

/// The fields of one record, stopping once `max` are read with text left (then the
/// flag is set).
fn split_fields(text: &str, max: usize) -> Result<(Vec<String>, bool), CodecError> {
    let mut fields = Vec::new();
    let mut pos = 0;
    loop {
        if fields.len() >= max {
            return Ok((fields, true));
        }
        let rest = &text[pos..];
        if let Some(quoted) = rest.strip_prefix('"') {
            let (field, used) = read_quoted(quoted, pos + 1)?;
            fields.push(field);
            pos += 1 + used;
            match text[pos..].chars().next() {
                None => return Ok((fields, false)),
                Some(',') => pos += 1,
                Some(_) => {
                    return Err(CodecError::at(
                        CODEC,
                        pos,
                        format!(
                            "expected `,` after the closing quote, found `{}`",
                            excerpt(&text[pos..])
                        ),
                    ))
                }
            }
        } else {
            let len = rest.find(',').unwrap_or(rest.len());
            let field = &rest[..len];
            if let Some(q) = field.find('"') {
                return Err(CodecError::at(
                    CODEC,
                    pos + q,
                    "a quote inside an unquoted field (quote the whole field and double the quote)",
                ));
            }
            fields.push(field.to_string());
            pos += len;
            if pos >= text.len() {
                return Ok((fields, false));
            }
            pos += 1;
        }
    }
}

/// Reads a quoted field's content (after its opening quote); returns the field and the
/// bytes used including the closing quote.
fn read_quoted(rest: &str, offset: usize) -> Result<(String, usize), CodecError> {
    let mut field = String::new();
    let mut start = 0;
    loop {
        let Some(q) = rest[start..].find('"') else {
            return Err(CodecError::at(CODEC, offset - 1, "unclosed quoted field"));
        };
        field.push_str(&rest[start..start + q]);
        let after = start + q + 1;
        if rest[after..].starts_with('"') {
            field.push('"');
            start = after + 1;
        } else {
            return Ok((field, after));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipectl_core::json;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn decode_json(text: &str, columns: &[&str]) -> String {
        match decode(text, &cols(columns)) {
            Ok(map) => json::to_string(&Value::Object(map)),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn plain_and_quoted_fields() {
        let line = "2024-05-01T10:00:00Z,alice,\"Login, from \"\"home\"\"\",\"line1\nline2\",\r\n";
        assert_eq!(
            decode_json(line, &["time", "user", "action", "note", "empty"]),
            r#"{"time":"2024-05-01T10:00:00Z","user":"alice","action":"Login, from \"home\"","note":"line1\nline2","empty":""}"#
        );
        assert_eq!(decode_json("\"\"", &["a"]), r#"{"a":""}"#);
        assert_eq!(decode_json("", &["a"]), r#"{"a":""}"#);
    }

    #[test]
    fn wrong_field_counts_are_errors() {
        assert_eq!(
            decode_json("a,b,c", &["x", "y"]),
            "error: csv: expected 2 fields (x, y), found 3"
        );
        let wide = ",".repeat(1_000_000);
        assert_eq!(
            decode_json(&wide, &["x", "y"]),
            "error: csv: expected 2 fields (x, y), found 3 or more"
        );
        assert_eq!(
            decode_json("a", &["x", "y"]),
            "error: csv: expected 2 fields (x, y), found 1"
        );
    }

    #[test]
    fn malformed_quoting_is_an_error() {
        let c = cols(&["a", "b"]);
        let err = decode("\"open,b", &c).unwrap_err();
        assert_eq!(err.message, "unclosed quoted field");
        assert_eq!(err.offset, Some(0));
        let err = decode("\"a\"x,b", &c).unwrap_err();
        assert!(
            err.message
                .starts_with("expected `,` after the closing quote"),
            "{err}"
        );
        let err = decode("ab\"c,d", &c).unwrap_err();
        assert_eq!(err.offset, Some(2));
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let c = cols(&["a"]);
        for input in ["\"", "\"\"\"", ",", "é\"", "\"é\"é", "\r\n", "\"\n"] {
            let _ = decode(input, &c);
        }
    }
}
