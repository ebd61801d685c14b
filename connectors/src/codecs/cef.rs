//! ArcSight Common Event Format:
//! `CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension`.
//!
//! The header fields land under `cef.version`, `cef.device_vendor`,
//! `cef.device_product`, `cef.device_version`, `cef.signature_id`, `cef.name` and
//! `cef.severity` (text, as severity may be a number or a word such as `High`); the
//! extension's `key=value` pairs under `cef.extensions` with their keys as written
//! (`src`, `cs1Label`...), so rules written against vendor keys still match. A syslog
//! header before `CEF:` (as devices send it) is decoded with the syslog codec and its
//! fields (`@timestamp`, `host.hostname`, `log.syslog.*`) kept at the root.
//!
//! Escapes: `\|` and `\\` in the header; `\=`, `\\`, `\n` and `\r` in extension values.
//! An unescaped `=` inside a value (a URL query, say) is kept as part of the value when
//! the word before it cannot be a key.

use super::{excerpt, put, syslog, CodecError, MapBuilder};
use pipectl_core::value::{Map, Value};

const CODEC: &str = "cef";

const HEADER_FIELDS: [&str; 7] = [
    "version",
    "device_vendor",
    "device_product",
    "device_version",
    "signature_id",
    "name",
    "severity",
];

/// Decodes one CEF record, with or without a syslog header before `CEF:`.
pub fn decode(text: &str) -> Result<Map, CodecError> {
    let Some(start) = text.find("CEF:") else {
        return Err(CodecError::new(
            CODEC,
            format!(
                "expected a record starting with `CEF:`, found `{}`",
                excerpt(text)
            ),
        ));
    };
    let prefix = text[..start].trim_end();
    let mut root = if prefix.is_empty() {
        Map::with_capacity(1)
    } else {
        let mut header = syslog::decode(prefix, syslog::Format::Auto).map_err(|e| {
            CodecError::new(
                CODEC,
                format!(
                    "the text before `CEF:` is not a syslog header: {}",
                    e.message
                ),
            )
        })?;
        header.remove("message");
        header
    };
    let body_offset = start + "CEF:".len();
    let body = &text[body_offset..];
    let (fields, extension_offset) = split_header(body).map_err(|found| {
        CodecError::at(
            CODEC,
            body_offset,
            format!(
                "expected 8 `|`-separated parts (version, vendor, product, device version, \
                 signature id, name, severity, extension), found {found}"
            ),
        )
    })?;
    let version = &fields[0];
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodecError::at(
            CODEC,
            body_offset,
            format!(
                "expected a version number after `CEF:`, found `{}`",
                excerpt(version)
            ),
        ));
    }
    let mut cef = Map::with_capacity(8);
    for (name, value) in HEADER_FIELDS.iter().zip(fields) {
        cef.push(*name, Value::from(value));
    }
    let extension = body.get(extension_offset..).unwrap_or_default();
    let extensions = parse_extension(extension, body_offset + extension_offset)?;
    cef.push("extensions", Value::Object(extensions));
    put(&mut root, &["cef"], Value::Object(cef));
    Ok(root)
}

/// The seven header fields (unescaped) and where the extension starts; on failure, how
/// many parts were found.
fn split_header(body: &str) -> Result<([String; 7], usize), usize> {
    let mut fields: [String; 7] = Default::default();
    let mut index = 0;
    let mut chars = body.char_indices();
    while let Some((i, ch)) = chars.next() {
        let Some(field) = fields.get_mut(index) else {
            break;
        };
        match ch {
            '|' => {
                index += 1;
                if index == fields.len() {
                    return Ok((fields, i + 1));
                }
            }
            '\\' => match chars.clone().next() {
                Some((_, next @ ('|' | '\\'))) => {
                    field.push(next);
                    chars.next();
                }
                _ => field.push('\\'),
            },
            other => field.push(other),
        }
    }
    Err(index + 1)
}

/// Whether `key` can be an extension key: letters, digits, `_`, `.`, `-`.
fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Splits `k1=v1 k2=value with spaces k3=v3` into pairs; values run up to the space
/// before the next key.
fn parse_extension(ext: &str, base: usize) -> Result<Map, CodecError> {
    // (key start, position of its `=`) for every `=` that follows a valid key.
    let mut keys: Vec<(usize, usize)> = Vec::new();
    let bytes = ext.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' => {
                let floor = keys.last().map(|(_, eq)| eq + 1).unwrap_or(0);
                let start = ext[floor..i]
                    .rfind(' ')
                    .map(|p| floor + p + 1)
                    .unwrap_or(floor);
                let starts_a_word = start == 0 || bytes.get(start - 1) == Some(&b' ');
                if starts_a_word && is_key(&ext[start..i]) {
                    keys.push((start, i));
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    let mut map = MapBuilder::new();
    let Some(&(first_start, _)) = keys.first() else {
        let leftover = ext.trim();
        if leftover.is_empty() {
            return Ok(Map::new());
        }
        return Err(CodecError::at(
            CODEC,
            base,
            format!(
                "expected `key=value` pairs in the extension, found `{}`",
                excerpt(leftover)
            ),
        ));
    };
    let before = ext[..first_start].trim();
    if !before.is_empty() {
        return Err(CodecError::at(
            CODEC,
            base,
            format!("text `{}` before the first extension key", excerpt(before)),
        ));
    }
    for (n, &(start, eq)) in keys.iter().enumerate() {
        let end = keys.get(n + 1).map(|(next, _)| *next).unwrap_or(ext.len());
        let raw = ext[eq + 1..end].trim();
        map.insert(&ext[start..eq], Value::from(unescape_value(raw)));
    }
    Ok(map.finish())
}

fn unescape_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.clone().next() {
            Some('=') => out.push('='),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipectl_core::json;

    fn decode_json(text: &str) -> String {
        match decode(text) {
            Ok(map) => json::to_string(&Value::Object(map)),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn decodes_header_and_extension() {
        let line = "CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232";
        assert_eq!(
            decode_json(line),
            concat!(
                r#"{"cef":{"version":"0","device_vendor":"Security","device_product":"threatmanager","#,
                r#""device_version":"1.0","signature_id":"100","name":"worm successfully stopped","severity":"10","#,
                r#""extensions":{"src":"10.0.0.1","dst":"2.1.2.2","spt":"1232"}}}"#
            )
        );
    }

    #[test]
    fn header_escapes() {
        let out =
            decode_json(r"CEF:0|security|threat\|manager|1.0|100|detected a \\ in packet|10|");
        assert!(
            out.contains(r#""device_product":"threat|manager""#),
            "{out}"
        );
        assert!(out.contains(r#""name":"detected a \\ in packet""#), "{out}");
        assert!(out.contains(r#""extensions":{}"#), "{out}");
    }

    #[test]
    fn extension_values_with_spaces_escapes_and_stray_equals() {
        let line = r"CEF:0|Trend Micro|Deep Security Agent|10.0|4000000|Eicar_test_file|6|cn1=1 cn1Label=Host ID msg=Realtime scan found a\=b\\c\nnext request=https://x.test/a?b=c&d=e cs1Label=Quarantine";
        let map = decode(line).unwrap();
        let ext = map
            .get("cef")
            .and_then(|c| c.as_object())
            .and_then(|c| c.get("extensions"))
            .and_then(|e| e.as_object())
            .unwrap();
        assert_eq!(ext.get("cn1Label").and_then(Value::as_str), Some("Host ID"));
        assert_eq!(
            ext.get("msg").and_then(Value::as_str),
            Some("Realtime scan found a=b\\c\nnext")
        );
        assert_eq!(
            ext.get("request").and_then(Value::as_str),
            Some("https://x.test/a?b=c&d=e")
        );
        assert_eq!(
            ext.get("cs1Label").and_then(Value::as_str),
            Some("Quarantine")
        );
        assert_eq!(ext.len(), 5);
    }

    #[test]
    fn a_syslog_prefix_is_decoded() {
        let line = "<134>Feb 12 10:15:01 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1|THREAT|url|3|src=192.168.1.5 suser=alice";
        let map = decode(line).unwrap();
        let out = json::to_string(&Value::Object(map));
        assert!(out.contains(r#""host":{"hostname":"fw01"}"#), "{out}");
        assert!(out.contains(r#""priority":134"#), "{out}");
        assert!(!out.contains(r#""message""#), "{out}");
        assert!(out.contains(r#""suser":"alice""#), "{out}");
    }

    #[test]
    fn malformed_records_are_errors() {
        let cases = [
            (
                "LEEF:1.0|x|y|1|2|",
                "expected a record starting with `CEF:`",
            ),
            ("CEF:0|a|b|c", "found 4"),
            ("CEF:x|a|b|c|d|e|f|", "expected a version number"),
            (
                "CEF:0|a|b|c|d|e|f|junk src=1",
                "text `junk` before the first extension key",
            ),
            (
                "CEF:0|a|b|c|d|e|f|no pairs here",
                "expected `key=value` pairs",
            ),
            ("garbage CEF:0|a|b|c|d|e|f|", "not a syslog header"),
        ];
        for (line, want) in cases {
            let err = decode(line).unwrap_err();
            assert!(err.to_string().contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn hostile_inputs_never_panic() {
        for input in [
            "CEF:",
            "CEF:|",
            "CEF:0|||||||",
            "CEF:0|a|b|c|d|e|f|=",
            "CEF:0|a|b|c|d|e|f|\\",
            "CEF:0|a|b|c|d|e|f|k=\\",
            "CEF:0|\\",
            "CEF:0|é|é|é|é|é|é|é=é é=",
            "CEF:0|a|b|c|d|e|f|==a=",
        ] {
            let _ = decode(input);
        }
    }
}
