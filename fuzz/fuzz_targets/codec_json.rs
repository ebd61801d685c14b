//! The JSON codec's framings (one document, NDJSON, detected) on arbitrary bytes:
//! never a panic; an accepted body yields only objects, and NDJSON yields at most one
//! object per line.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pipectl_connectors::codecs::json::{decode, decode_objects, Framing};
use pipectl_core::value::Value;

fuzz_target!(|data: &[u8]| {
    let _ = decode(data);
    for framing in [Framing::Ndjson, Framing::Document, Framing::Detect] {
        if let Ok(objects) = decode_objects(data, framing) {
            assert!(objects.iter().all(|v| matches!(v, Value::Object(_))));
            if framing == Framing::Ndjson {
                let lines = data.split(|b| *b == b'\n').count();
                assert!(objects.len() <= lines);
            }
        }
    }
});
