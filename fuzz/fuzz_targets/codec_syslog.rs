//! The syslog codec in its three modes on arbitrary text and any "today" (the year an
//! RFC 3164 date is given): never a panic, however absurd the date.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pipectl_connectors::codecs::syslog::{decode_on, Format, Today};

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let today = Today {
        year: 1970 + i64::from(*first) * 40,
        month: u32::from(first % 12) + 1,
    };
    let text = String::from_utf8_lossy(rest);
    for format in [Format::Auto, Format::Rfc5424, Format::Rfc3164] {
        let _ = decode_on(&text, format, today);
    }
});
