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

use pipectl_core::value::{Map, Str, Value};
use std::collections::HashMap;
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

/// Collects decoded `key → value` pairs into a [`Map`] in linear time: a repeated key
/// keeps its first position and takes the last value (as JSON objects do). Codecs use
/// it rather than [`Map::insert`], which scans the map on every call, so a hostile
/// record of a hundred thousand keys costs a hundred thousand steps, not billions.
pub(crate) struct MapBuilder {
    entries: Vec<(Str, Value)>,
    /// Key → position, built once the map outgrows a linear scan.
    index: HashMap<Str, usize>,
}

impl MapBuilder {
    /// Below this many entries a scan is cheaper than hashing.
    const SCAN: usize = 16;

    pub fn new() -> MapBuilder {
        MapBuilder {
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }

    pub fn insert(&mut self, key: &str, value: Value) {
        if self.entries.len() < Self::SCAN {
            match self.entries.iter_mut().find(|(k, _)| k.as_str() == key) {
                Some(entry) => entry.1 = value,
                None => self.entries.push((Str::from(key), value)),
            }
            return;
        }
        if self.index.is_empty() {
            self.index = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
        }
        match self.index.get(key) {
            Some(&i) => {
                if let Some(entry) = self.entries.get_mut(i) {
                    entry.1 = value;
                }
            }
            None => {
                let key = Str::from(key);
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    pub fn finish(self) -> Map {
        Map::from_entries(self.entries)
    }
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
    fn map_builders_keep_the_first_position_and_the_last_value() {
        let mut b = MapBuilder::new();
        for i in 0..40 {
            b.insert(&format!("k{}", i % 20), Value::Int(i));
        }
        let map = b.finish();
        assert_eq!(map.len(), 20);
        for (i, (k, v)) in map.iter().enumerate() {
            assert_eq!(k.as_str(), format!("k{i}"));
            assert_eq!(v, &Value::Int(i as i64 + 20));
        }
    }

    /// A record of 100,000 distinct keys (a 1 MiB line) decodes in linear time.
    #[test]
    fn wide_records_decode_in_linear_time() {
        let kv_text: String = (0..100_000).map(|i| format!("k{i}=v ")).collect();
        let cef_text = format!("CEF:0|v|p|1|s|n|5|{kv_text}");
        let started = std::time::Instant::now();
        let map = kv::decode(&kv_text, &kv::KvFormat::default()).unwrap();
        assert_eq!(map.len(), 100_000);
        let map = cef::decode(&cef_text).unwrap();
        let Some(Value::Object(cef)) = map.get("cef") else {
            panic!("a cef object")
        };
        let Some(Value::Object(ext)) = cef.get("extensions") else {
            panic!("extensions")
        };
        assert_eq!(ext.len(), 100_000);
        let elapsed = started.elapsed();
        // Quadratic insertion took minutes here; linear takes milliseconds.
        assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
    }

    #[test]
    fn excerpts_cut_on_char_boundaries() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(30);
        let cut = excerpt(&long);
        assert!(cut.ends_with('…'));
        assert!(cut.len() < long.len());
    }

    /// Mutates real-looking records many times (flips, cuts, inserted separators and
    /// escapes) and runs every codec on each: none may panic or hang.
    #[test]
    fn mutated_records_never_panic() {
        let samples = [
            r#"<165>1 2003-10-11T22:14:15.003Z host app 12 ID47 [a@1 x="1" y="\"q\]"] msg"#,
            "<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed",
            r"<134>Feb 12 10:15:01 fw CEF:0|V\|x|P|1.0|100|n\\m|10|src=10.0.0.1 msg=a\=b c=d",
            r#"date=2019-05-10 msg="a \"b\" c" k='v' url=https://x/?a=b"#,
            "2024-05-01,alice,\"a, \"\"b\"\"\",\"x\ny\"",
            r#"{"a":[1,2.5,{"b":"\u00e9"}],"c":null}"#,
        ];
        let specials = [
            b'\\', b'|', b'=', b'"', b'\'', b'[', b']', b'<', b'>', b' ', b'\n', b',', 0xC3,
        ];
        let columns = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let kv_format = kv::KvFormat::default();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for sample in samples {
            for _ in 0..1500 {
                let mut bytes = sample.as_bytes().to_vec();
                for _ in 0..=(next() % 4) {
                    let at = (next() as usize) % (bytes.len() + 1);
                    match next() % 4 {
                        0 => bytes.truncate(at),
                        1 => bytes.insert(at, specials[(next() as usize) % specials.len()]),
                        2 if at < bytes.len() => bytes[at] ^= 1 << (next() % 8),
                        _ if at < bytes.len() => {
                            bytes.remove(at);
                        }
                        _ => {}
                    }
                }
                let text = String::from_utf8_lossy(&bytes);
                let _ = json::decode(&bytes);
                let _ = json::decode_objects(&bytes, json::Framing::Detect);
                let _ = syslog::decode(&text, syslog::Format::Auto);
                let _ = syslog::decode(&text, syslog::Format::Rfc5424);
                let _ = syslog::decode(&text, syslog::Format::Rfc3164);
                let _ = cef::decode(&text);
                let _ = kv::decode(&text, &kv_format);
                let _ = csv::decode(&text, &columns);
            }
        }
    }

    #[test]
    fn errors_say_codec_place_and_reason() {
        let err = CodecError::at("csv", 7, "unclosed quote");
        assert_eq!(err.to_string(), "csv: unclosed quote (at byte 7)");
    }
}
