//! The gzip path of `source file` on arbitrary bytes: decompression in bounded chunks
//! into the line splitter never panics, hands out no chunk larger than asked, counts
//! exactly what it handed out, and reports corruption as an error; and any bytes,
//! compressed, come back unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pipectl_connectors::gzip::{is_gzip, GzipChunks};
use pipectl_connectors::lines::LineSplitter;
use std::io::Write;

/// Stops decompressing a bomb after this much, to keep each run fast.
const CAP: u64 = 4 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(*first) * 64 + 1;
    let _ = is_gzip(rest);
    let mut chunks = GzipChunks::new(rest, chunk);
    let mut splitter = LineSplitter::new(256, 0);
    let mut total = 0u64;
    while total < CAP {
        match chunks.next_chunk() {
            Ok(Some(bytes)) => {
                assert!(!bytes.is_empty() && bytes.len() <= chunk);
                total += bytes.len() as u64;
                let mut cursor = splitter.feed(bytes);
                while cursor.next_piece().is_some() {}
            }
            Ok(None) => break,
            Err(e) => {
                assert_eq!(e.decompressed, total);
                break;
            }
        }
    }
    assert_eq!(chunks.decompressed(), total);
    let _ = splitter.finish();

    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(rest).expect("compressing into memory");
    let compressed = enc.finish().expect("compressing into memory");
    let mut chunks = GzipChunks::new(compressed.as_slice(), chunk);
    let mut back = Vec::new();
    while let Some(bytes) = chunks.next_chunk().expect("our own gzip must decode") {
        back.extend_from_slice(bytes);
    }
    assert_eq!(back, rest);
});
