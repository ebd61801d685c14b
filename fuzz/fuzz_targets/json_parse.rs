//! The core JSON parser on arbitrary bytes: it never panics or overflows the stack;
//! whatever it accepts, written out again, parses to the same value and the same text
//! (the writer's output is a fixed point) and holds each object key once; and a parse
//! within limits agrees with the unlimited parse whenever it succeeds.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pipectl_core::json::{self, Limits};
use pipectl_core::value::Value;

fn keys_unique(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
            keys.sort_unstable();
            keys.windows(2).all(|w| w[0] != w[1]) && map.iter().all(|(_, v)| keys_unique(v))
        }
        Value::Array(items) => items.iter().all(keys_unique),
        _ => true,
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = json::from_slice(data);
    let limits = Limits {
        max_depth: data.len() % 12,
        max_fields: data.len() % 40,
    };
    if let Ok(limited) = json::from_slice_limited(data, limits) {
        assert_eq!(
            parsed.as_ref().ok(),
            Some(&limited),
            "limits changed the value"
        );
    }
    let Ok(value) = parsed else {
        return;
    };
    assert!(keys_unique(&value), "a key held twice");
    let text = json::to_string(&value);
    let again = json::from_str(&text).expect("the writer's output must parse");
    assert_eq!(
        json::to_string(&again),
        text,
        "write(parse(write(v))) != write(v)"
    );
});
