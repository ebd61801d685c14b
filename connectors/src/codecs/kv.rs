//! Key/value text such as `date=2024-05-10 action="login failed" user=alice`
//! (firewalls, proxies, appliance logs).
//!
//! Pairs are separated by a field separator (default a space; runs of it count as
//! one) and split by a value separator (default `=`). A value may be quoted with `"` or
//! `'`, and may then hold separators and the escapes `\"`, `\'`, `\\`, `\n`, `\r`,
//! `\t`. Values stay text; a repeated key keeps its last value. A token without the
//! value separator is an error rather than a guess, so a misconfigured separator is
//! noticed at once.

use super::{excerpt, CodecError, MapBuilder};
use pipectl_core::value::{Map, Value};

const CODEC: &str = "kv";

/// The separators of a key/value format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvFormat {
    pub field_split: String,
    pub value_split: String,
}

impl KvFormat {
    /// Checks that both separators are non-empty and distinct.
    pub fn new(field_split: String, value_split: String) -> Result<KvFormat, String> {
        if field_split.is_empty() || value_split.is_empty() {
            return Err("kv separators must not be empty".into());
        }
        if field_split == value_split {
            return Err(format!(
                "kv_field_split and kv_value_split are both `{field_split}`; they must differ"
            ));
        }
        Ok(KvFormat {
            field_split,
            value_split,
        })
    }
}

impl Default for KvFormat {
    fn default() -> KvFormat {
        KvFormat {
            field_split: " ".into(),
            value_split: "=".into(),
        }
    }
}

/// Decodes one record into an object of text values.
pub fn decode(text: &str, format: &KvFormat) -> Result<Map, CodecError> {
    let fs = format.field_split.as_str();
    let vs = format.value_split.as_str();
    let mut map = MapBuilder::new();
    let mut pos = 0;
    loop {
        while text[pos..].starts_with(fs) {
            pos += fs.len();
        }
        let rest = &text[pos..];
        if rest.trim().is_empty() {
            return Ok(map.finish());
        }
        let key_end = match (rest.find(vs), rest.find(fs)) {
            (Some(v), Some(f)) if f < v => None,
            (Some(v), _) => Some(v),
            (None, _) => None,
        };
        let Some(key_end) = key_end else {
            let token = rest.split(fs).next().unwrap_or(rest);
            return Err(CodecError::at(
                CODEC,
                pos,
                format!("expected `key{vs}value`, found `{}`", excerpt(token)),
            ));
        };
        let key = &rest[..key_end];
        if key.trim().is_empty() {
            return Err(CodecError::at(
                CODEC,
                pos,
                "expected a key before the value separator",
            ));
        }
        let value_start = pos + key_end + vs.len();
        let (value, next) = read_value(text, value_start, fs)?;
        map.insert(key, Value::from(value));
        pos = next;
    }
}

/// Reads a value starting at `start`; returns it and the offset after it.
fn read_value(text: &str, start: usize, fs: &str) -> Result<(String, usize), CodecError> {
    let rest = &text[start..];
    let quote = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => q,
        _ => {
            let len = rest.find(fs).unwrap_or(rest.len());
            return Ok((rest[..len].to_string(), start + len));
        }
    };
    let mut value = String::new();
    let mut chars = rest.char_indices().skip(1);
    while let Some((i, ch)) = chars.next() {
        if ch == quote {
            let after = start + i + ch.len_utf8();
            let tail = &text[after..];
            if !tail.is_empty() && !tail.starts_with(fs) {
                return Err(CodecError::at(
                    CODEC,
                    after,
                    format!(
                        "expected a separator after the closing quote, found `{}`",
                        excerpt(tail)
                    ),
                ));
            }
            return Ok((value, after));
        }
        if ch != '\\' {
            value.push(ch);
            continue;
        }
        match chars.next() {
            Some((_, 'n')) => value.push('\n'),
            Some((_, 'r')) => value.push('\r'),
            Some((_, 't')) => value.push('\t'),
            Some((_, c @ ('"' | '\'' | '\\'))) => value.push(c),
            Some((_, other)) => {
                value.push('\\');
                value.push(other);
            }
            None => value.push('\\'),
        }
    }
    Err(CodecError::at(
        CODEC,
        start,
        format!("unclosed {quote} quote"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipectl_core::json;

    fn decode_json(text: &str, format: &KvFormat) -> String {
        match decode(text, format) {
            Ok(map) => json::to_string(&Value::Object(map)),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn fortigate_style_record() {
        let line = r#"date=2019-05-10 time=11:50:48 logid="0000000013" type="traffic" srcip=10.1.100.11 msg="allowed \"web\" access"  action=accept"#;
        assert_eq!(
            decode_json(line, &KvFormat::default()),
            concat!(
                r#"{"date":"2019-05-10","time":"11:50:48","logid":"0000000013","type":"traffic","#,
                r#""srcip":"10.1.100.11","msg":"allowed \"web\" access","action":"accept"}"#
            )
        );
    }

    #[test]
    fn custom_separators_and_empty_values() {
        let format = KvFormat::new(", ".into(), ": ".into()).unwrap();
        assert_eq!(
            decode_json("user: alice, ip: 10.0.0.1, note: , q: 'a, b'", &format),
            r#"{"user":"alice","ip":"10.0.0.1","note":"","q":"a, b"}"#
        );
        assert_eq!(decode_json("a=1 a=2", &KvFormat::default()), r#"{"a":"2"}"#);
        assert_eq!(decode_json("", &KvFormat::default()), "{}");
    }

    #[test]
    fn values_may_hold_the_value_separator() {
        assert_eq!(
            decode_json("url=https://x/?a=b k=v", &KvFormat::default()),
            r#"{"url":"https://x/?a=b","k":"v"}"#
        );
    }

    #[test]
    fn malformed_records_are_errors() {
        let f = KvFormat::default();
        let cases = [
            ("a=1 flag b=2", "expected `key=value`, found `flag`"),
            ("a=\"open", "unclosed \" quote"),
            (
                "a=\"x\"y b=1",
                "expected a separator after the closing quote",
            ),
            ("=v", "expected a key"),
        ];
        for (line, want) in cases {
            let err = decode(line, &f).unwrap_err();
            assert!(err.message.contains(want), "{line}: {err}");
        }
        assert!(KvFormat::new("=".into(), "=".into()).is_err());
        assert!(KvFormat::new(String::new(), "=".into()).is_err());
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let f = KvFormat::default();
        for input in [
            "=", "==", "a=\\", "a=\"\\", "é=é", "a='é", " = ", "a=\"\" =", "\"=\"",
        ] {
            let _ = decode(input, &f);
        }
    }
}
