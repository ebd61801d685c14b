//! The key/value codec on arbitrary text with arbitrary (valid) separators, including
//! multi-byte ones: never a panic, and every decoded key is non-blank.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pipectl_connectors::codecs::kv::{decode, KvFormat};

const SEPARATORS: [&str; 9] = [" ", "=", ",", ";", ": ", ", ", "|", "\u{e9}", "=>"];

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let field = SEPARATORS[usize::from(first & 0x0f) % SEPARATORS.len()];
    let value = SEPARATORS[usize::from(first >> 4) % SEPARATORS.len()];
    let format = match KvFormat::new(field.to_string(), value.to_string()) {
        Ok(format) => format,
        Err(_) => KvFormat::default(),
    };
    let text = String::from_utf8_lossy(rest);
    if let Ok(map) = decode(&text, &format) {
        assert!(map.iter().all(|(k, _)| !k.as_str().trim().is_empty()));
    }
});
