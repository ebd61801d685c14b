//! Splitting a byte stream into lines with a hard cap on line length.
//!
//! Line-oriented sources (file, stdin, syslog over TCP) read big chunks and split them
//! here. A line wholly inside a chunk is handed out as a slice of that chunk (no copy);
//! only a line that straddles two chunks is assembled in a carry-over buffer, and that
//! buffer never grows past the maximum line length: a longer line is reported as
//! [`Piece::TooLong`] and skipped up to its newline, so a file without newlines cannot
//! exhaust memory. Of a skipped line only its first [`TOO_LONG_HEAD`] bytes are kept,
//! so that the error record reporting it shows what it was.

use memchr::memchr;
use pipectl_dsl::catalogue::{AttrSpec, AttrType};
use std::borrow::Cow;

/// One result of splitting.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A complete line without its `\n` (nor a `\r` before it). `end` is the stream
    /// offset just past the line's newline: where reading resumes after this line.
    Line { bytes: &'a [u8], end: u64 },
    /// A line longer than the limit, skipped. `start` is the offset of its first byte
    /// and `end` the offset just past its newline; `head` holds its first bytes (at
    /// most [`TOO_LONG_HEAD`], a `\r` before the newline included).
    TooLong {
        start: u64,
        end: u64,
        head: &'a [u8],
    },
}

/// How many bytes of a skipped line [`Piece::TooLong`] keeps.
pub const TOO_LONG_HEAD: usize = 256;

/// Splits a stream fed chunk by chunk. Offsets count bytes from where the stream
/// started (a resume offset may be given).
#[derive(Debug)]
pub struct LineSplitter {
    max: usize,
    /// The start of a line that continues in the next chunk (at most `max + 1` bytes:
    /// a trailing `\r` may still be followed by `\n`).
    partial: Vec<u8>,
    partial_start: u64,
    /// Inside a line already known to be too long: skip to the next newline.
    discarding: bool,
    /// The first bytes of the line being skipped (or just reported as too long).
    head: Vec<u8>,
    /// `partial` was handed out as a complete line; empty it before going on.
    handed_out: bool,
    /// The stream offset of the next chunk's first byte.
    offset: u64,
}

impl LineSplitter {
    /// A splitter for lines of at most `max` bytes, whose stream starts at `offset`.
    pub fn new(max: usize, offset: u64) -> LineSplitter {
        LineSplitter {
            max,
            partial: Vec::new(),
            partial_start: offset,
            discarding: false,
            head: Vec::new(),
            handed_out: false,
            offset,
        }
    }

    /// The offset of the next byte to be fed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether bytes of an unfinished line are held back.
    pub fn has_partial(&self) -> bool {
        (!self.partial.is_empty() && !self.handed_out) || self.discarding
    }

    /// Forgets any unfinished line and restarts the stream at `offset` (after a
    /// truncation or when switching files).
    pub fn reset(&mut self, offset: u64) {
        self.partial.clear();
        self.discarding = false;
        self.head.clear();
        self.handed_out = false;
        self.offset = offset;
        self.partial_start = offset;
    }

    /// Starts splitting `data`, the bytes following everything fed so far. Drive the
    /// returned cursor until it returns `None` so the splitter's state stays exact.
    pub fn feed<'s, 'c>(&'s mut self, data: &'c [u8]) -> Chunk<'s, 'c> {
        self.clear_handed_out();
        let base = self.offset;
        Chunk {
            splitter: self,
            data,
            pos: 0,
            base,
            finished: false,
        }
    }

    /// Ends the stream: a last line without newline is returned (or reported too long).
    pub fn finish(&mut self) -> Option<Piece<'_>> {
        self.clear_handed_out();
        let end = self.offset;
        let start = self.partial_start;
        self.partial_start = end;
        if self.discarding {
            self.discarding = false;
            return Some(Piece::TooLong {
                start,
                end,
                head: &self.head,
            });
        }
        if self.partial.is_empty() {
            return None;
        }
        let len = trim_cr(&self.partial).len();
        self.handed_out = true;
        if len > self.max {
            return Some(Piece::TooLong {
                start,
                end,
                head: head_of(&self.partial),
            });
        }
        Some(Piece::Line {
            bytes: &self.partial[..len],
            end,
        })
    }

    /// Empties the carry-over buffer once the line assembled in it has been used, and
    /// the head of a skipped line once it was reported.
    fn clear_handed_out(&mut self) {
        if self.handed_out {
            self.partial.clear();
            self.handed_out = false;
        }
        if !self.discarding {
            self.head.clear();
        }
    }

    /// Keeps the first bytes of a line being skipped, up to [`TOO_LONG_HEAD`].
    fn keep_head(&mut self, bytes: &[u8]) {
        let room = TOO_LONG_HEAD.saturating_sub(self.head.len());
        self.head
            .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
    }

    /// Starts skipping the line held in `partial`, keeping its head.
    fn skip_partial(&mut self) {
        let room = TOO_LONG_HEAD.saturating_sub(self.head.len());
        let n = room.min(self.partial.len());
        self.head.extend_from_slice(&self.partial[..n]);
        self.partial.clear();
    }
}

/// A cursor over the lines completed by one chunk; see [`LineSplitter::feed`].
pub struct Chunk<'s, 'c> {
    splitter: &'s mut LineSplitter,
    data: &'c [u8],
    pos: usize,
    base: u64,
    finished: bool,
}

impl Chunk<'_, '_> {
    /// The next complete (or too long) line, or `None` when the chunk is used up; the
    /// chunk's unfinished tail is then kept for the next chunk.
    pub fn next_piece(&mut self) -> Option<Piece<'_>> {
        let sp = &mut *self.splitter;
        sp.clear_handed_out();
        if self.finished {
            return None;
        }
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let Some(i) = memchr(b'\n', rest) else {
            // The tail: keep it for the next chunk, within the cap.
            self.finished = true;
            sp.offset = self.base + self.data.len() as u64;
            if sp.discarding {
                sp.keep_head(rest);
                return None;
            }
            if rest.is_empty() {
                return None;
            }
            if sp.partial.is_empty() {
                sp.partial_start = self.base + self.pos as u64;
            }
            if sp.partial.len() + rest.len() > sp.max + 1 {
                sp.skip_partial();
                sp.keep_head(rest);
                sp.discarding = true;
            } else {
                sp.partial.extend_from_slice(rest);
            }
            return None;
        };
        let segment = &rest[..i];
        let line_start = self.base + self.pos as u64;
        let end = line_start + i as u64 + 1;
        self.pos += i + 1;
        if sp.discarding {
            sp.keep_head(segment);
            sp.discarding = false;
            return Some(Piece::TooLong {
                start: sp.partial_start,
                end,
                head: &sp.head,
            });
        }
        if sp.partial.is_empty() {
            let line = trim_cr(segment);
            if line.len() > sp.max {
                return Some(Piece::TooLong {
                    start: line_start,
                    end,
                    head: head_of(segment),
                });
            }
            return Some(Piece::Line { bytes: line, end });
        }
        if sp.partial.len() + segment.len() > sp.max + 1 {
            sp.skip_partial();
            sp.keep_head(segment);
            return Some(Piece::TooLong {
                start: sp.partial_start,
                end,
                head: &sp.head,
            });
        }
        sp.partial.extend_from_slice(segment);
        sp.handed_out = true;
        let len = trim_cr(&sp.partial).len();
        if len > sp.max {
            return Some(Piece::TooLong {
                start: sp.partial_start,
                end,
                head: head_of(&sp.partial),
            });
        }
        Some(Piece::Line {
            bytes: &sp.partial[..len],
            end,
        })
    }
}

/// The `max_line_length` attribute every line-oriented source shares.
pub const MAX_LINE_LENGTH_ATTR: AttrSpec = AttrSpec::with_default(
    "max_line_length",
    AttrType::Size,
    "1MiB",
    "Longer lines are skipped without being held (memory stays bounded) and emitted as error records holding their first 256 bytes.",
);

/// The `batch_size` attribute every line-oriented source shares.
pub const BATCH_SIZE_ATTR: AttrSpec = AttrSpec::with_default(
    "batch_size",
    AttrType::Int,
    "256",
    "Lines per batch sent downstream.",
);

/// The first bytes of a too-long line, as [`Piece::TooLong`] reports them.
fn head_of(line: &[u8]) -> &[u8] {
    line.get(..TOO_LONG_HEAD.min(line.len()))
        .unwrap_or_default()
}

fn trim_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}

/// A line as text: borrowed when it is valid UTF-8, otherwise converted with
/// replacement characters. The flag says whether a replacement happened, so sources
/// can count it.
pub fn decode_line(bytes: &[u8]) -> (Cow<'_, str>, bool) {
    // The strict check is several times faster than the lossy one on valid input,
    // which is nearly all input.
    match std::str::from_utf8(bytes) {
        Ok(text) => (Cow::Borrowed(text), false),
        Err(_) => (String::from_utf8_lossy(bytes), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` and renders every piece as text, for compact assertions.
    fn split(max: usize, chunks: &[&[u8]], finish: bool) -> Vec<String> {
        let mut sp = LineSplitter::new(max, 0);
        let mut out = Vec::new();
        for chunk in chunks {
            let mut c = sp.feed(chunk);
            while let Some(piece) = c.next_piece() {
                out.push(render(&piece));
            }
        }
        if finish {
            if let Some(piece) = sp.finish() {
                out.push(render(&piece));
            }
        }
        out
    }

    fn render(piece: &Piece<'_>) -> String {
        match piece {
            Piece::Line { bytes, end } => format!("{}@{end}", String::from_utf8_lossy(bytes)),
            Piece::TooLong { start, end, head } => {
                format!("too long {start}..{end} {}", String::from_utf8_lossy(head))
            }
        }
    }

    #[test]
    fn splits_lines_within_and_across_chunks() {
        assert_eq!(
            split(100, &[b"ab\ncd", b"ef\r\ng\n", b"h"], true),
            ["ab@3", "cdef@9", "g@11", "h@12"]
        );
    }

    #[test]
    fn a_last_line_is_kept_until_finish() {
        assert_eq!(split(100, &[b"a\nb"], false), ["a@2"]);
        let mut sp = LineSplitter::new(100, 0);
        let mut c = sp.feed(b"a\nb");
        while c.next_piece().is_some() {}
        assert!(sp.has_partial());
        assert_eq!(sp.offset(), 3);
    }

    #[test]
    fn long_lines_are_reported_and_skipped() {
        // Within one chunk.
        assert_eq!(
            split(3, &[b"abcd\nxyz\n"], true),
            ["too long 0..5 abcd", "xyz@9"]
        );
        // Across chunks: the carry-over never exceeds the cap.
        assert_eq!(
            split(3, &[b"ab", b"cdefgh", b"ij\nok\n"], true),
            ["too long 0..11 abcdefghij", "ok@14"]
        );
        // Completed by the next chunk's first segment.
        assert_eq!(
            split(3, &[b"ab", b"cd\nok\n"], true),
            ["too long 0..5 abcd", "ok@8"]
        );
        // At end of stream.
        assert_eq!(
            split(3, &[b"x\nabcdef"], true),
            ["x@2", "too long 2..8 abcdef"]
        );
    }

    #[test]
    fn a_skipped_line_keeps_only_its_head() {
        let mut stream = vec![b'x'; 10_000];
        stream[0] = b'<';
        stream.extend_from_slice(b"\nok\n");
        for chunk_len in [1, 7, 300, 4096, 20_000] {
            let chunks: Vec<&[u8]> = stream.chunks(chunk_len).collect();
            let out = split(100, &chunks, true);
            let mut want = String::from("too long 0..10001 <");
            want.push_str(&"x".repeat(TOO_LONG_HEAD - 1));
            assert_eq!(out, [want, "ok@10004".to_string()], "chunks of {chunk_len}");
        }
    }

    #[test]
    fn the_cap_counts_without_the_carriage_return() {
        assert_eq!(split(3, &[b"abc\r\n"], true), ["abc@5"]);
        assert_eq!(split(3, &[b"ab", b"c\r", b"\n"], true), ["abc@5"]);
        assert_eq!(
            split(3, &[b"ab", b"cd\r\n"], true),
            ["too long 0..6 abcd\r"]
        );
    }

    #[test]
    fn empty_lines_are_lines() {
        assert_eq!(split(10, &[b"\n\na\n"], true), ["@1", "@2", "a@4"]);
    }

    #[test]
    fn resets_forget_partial_lines() {
        let mut sp = LineSplitter::new(10, 0);
        let mut c = sp.feed(b"abc");
        while c.next_piece().is_some() {}
        sp.reset(0);
        assert!(!sp.has_partial());
        let mut c = sp.feed(b"x\n");
        assert_eq!(
            c.next_piece(),
            Some(Piece::Line {
                bytes: b"x",
                end: 2
            })
        );
    }

    #[test]
    fn offsets_continue_from_a_resume_point() {
        let mut sp = LineSplitter::new(10, 100);
        let mut c = sp.feed(b"a\n");
        assert_eq!(
            c.next_piece(),
            Some(Piece::Line {
                bytes: b"a",
                end: 102
            })
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_and_flagged() {
        let (text, replaced) = decode_line(b"ok \xff end");
        assert_eq!(text, "ok \u{fffd} end");
        assert!(replaced);
        let (text, replaced) = decode_line("caf\u{e9}".as_bytes());
        assert_eq!(text, "caf\u{e9}");
        assert!(!replaced);
    }
}
