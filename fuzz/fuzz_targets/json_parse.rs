//! The core JSON parser on arbitrary bytes: it never panics or overflows the stack,
//! and whatever it accepts, written out again, parses to the same value and the same
//! text (the writer's output is a fixed point).

#![no_main]

use libfuzzer_sys::fuzz_target;
use pipectl_core::json;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = json::from_slice(data) else {
        return;
    };
    let text = json::to_string(&value);
    let again = json::from_str(&text).expect("the writer's output must parse");
    assert_eq!(json::to_string(&again), text, "write(parse(write(v))) != write(v)");
});
