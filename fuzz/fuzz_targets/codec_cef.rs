//! The CEF codec (with or without a syslog header) on arbitrary text: never a panic,
//! and an accepted record always has its seven header fields and an extension map.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pipectl_connectors::codecs::cef::decode;
use pipectl_core::value::Value;

const HEADER: [&str; 8] = [
    "version",
    "device_vendor",
    "device_product",
    "device_version",
    "signature_id",
    "name",
    "severity",
    "extensions",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(map) = decode(&text) {
        let Some(Value::Object(cef)) = map.get("cef") else {
            panic!("an accepted record has a `cef` object");
        };
        for field in HEADER {
            assert!(cef.get(field).is_some(), "missing cef.{field}");
        }
    }
});
