//! Finding the bytes a JSON string cannot hold as they are, shared by parser and
//! writer.

/// `0x0101...01`: multiplying a byte by it repeats the byte in every lane of a word.
const LANES: u64 = u64::from_ne_bytes([1; 8]);
/// The high bit of every lane.
const HIGH: u64 = LANES << 7;

/// Flags (high bit of a lane) the bytes of `word` that are `"`, `\` or a control
/// character. Lanes above the lowest flagged one may be flagged spuriously (borrows
/// propagate upward), so only the lowest flag is meaningful — which is all a search
/// for the first such byte needs.
#[inline]
fn special_lanes(word: u64) -> u64 {
    let quote = word ^ (LANES * u64::from(b'"'));
    let backslash = word ^ (LANES * u64::from(b'\\'));
    let zero = |x: u64| x.wrapping_sub(LANES) & !x;
    let control = word.wrapping_sub(LANES * 0x20) & !word;
    (zero(quote) | zero(backslash) | control) & HIGH
}

/// The index of the first `"`, `\` or control character in `bytes` (its length when
/// there is none), eight bytes at a time.
#[inline]
pub(super) fn find_special(bytes: &[u8]) -> usize {
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut lanes = [0u8; 8];
        lanes.copy_from_slice(chunk);
        let flags = special_lanes(u64::from_le_bytes(lanes));
        if flags != 0 {
            return offset + (flags.trailing_zeros() / 8) as usize;
        }
        offset += 8;
    }
    let tail = chunks.remainder();
    offset
        + tail
            .iter()
            .position(|&b| ESCAPE[b as usize] != 0)
            .unwrap_or(tail.len())
}

/// Which bytes need escaping in a JSON string: 0 none, otherwise the letter of the
/// short escape, or `u` for `\u00XX`.
pub(super) static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};
