//! The CSV codec on arbitrary text and column counts: never a panic, and an accepted
//! record has exactly one field per column, under the column names in order.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pipectl_connectors::codecs::csv::decode;

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let columns: Vec<String> = (0..usize::from(first % 8) + 1)
        .map(|i| format!("c{i}"))
        .collect();
    let text = String::from_utf8_lossy(rest);
    if let Ok(map) = decode(&text, &columns) {
        let keys: Vec<&str> = map.iter().map(|(k, _)| k.as_str()).collect();
        let want: Vec<&str> = columns.iter().map(String::as_str).collect();
        assert_eq!(keys, want);
    }
});
