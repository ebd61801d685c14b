//! The line splitter against a model: a stream fed in arbitrary chunks must split
//! exactly as splitting the whole stream at each `\n` would (a `\r` before it
//! dropped), every line longer than the cap reported as too long with its offsets and
//! its first bytes, and nothing lost or invented.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pipectl_connectors::lines::{LineSplitter, Piece, TOO_LONG_HEAD};

#[derive(Debug, PartialEq, Eq)]
enum Out {
    Line(Vec<u8>, u64),
    TooLong(u64, u64, Vec<u8>),
}

fn out(piece: Piece<'_>) -> Out {
    match piece {
        Piece::Line { bytes, end } => Out::Line(bytes.to_vec(), end),
        Piece::TooLong { start, end, head } => Out::TooLong(start, end, head.to_vec()),
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn model(stream: &[u8], max: usize) -> Vec<Out> {
    let mut outs = Vec::new();
    let mut start = 0usize;
    while start < stream.len() {
        let (segment, end) = match stream[start..].iter().position(|b| *b == b'\n') {
            Some(i) => (&stream[start..start + i], start + i + 1),
            None => (&stream[start..], stream.len()),
        };
        let line = trim_cr(segment);
        outs.push(if line.len() > max {
            Out::TooLong(
                start as u64,
                end as u64,
                segment[..segment.len().min(TOO_LONG_HEAD)].to_vec(),
            )
        } else {
            Out::Line(line.to_vec(), end as u64)
        });
        start = end;
    }
    outs
}

fuzz_target!(|data: &[u8]| {
    let [max, cuts @ ..] = data else {
        return;
    };
    // Mostly small caps; sometimes one above the head's size.
    let max = if max & 0x80 != 0 {
        usize::from(max % 32) + 250
    } else {
        usize::from(max % 32) + 1
    };
    // The next 8 bytes choose chunk lengths; the rest is the stream.
    let (cuts, stream) = cuts.split_at(cuts.len().min(8));
    let mut splitter = LineSplitter::new(max, 0);
    let mut got = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < stream.len() {
        let len = cuts
            .get(i % cuts.len().max(1))
            .map_or(stream.len(), |c| usize::from(*c % 64) * 5 + 1);
        i += 1;
        let chunk = &stream[pos..(pos + len).min(stream.len())];
        pos += chunk.len();
        let mut cursor = splitter.feed(chunk);
        while let Some(piece) = cursor.next_piece() {
            got.push(out(piece));
        }
        assert_eq!(splitter.offset(), pos as u64);
    }
    if let Some(piece) = splitter.finish() {
        got.push(out(piece));
    }
    assert!(!splitter.has_partial());
    assert_eq!(got, model(stream, max));
});
