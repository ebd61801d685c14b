//! Reading gzip files in bounded memory.
//!
//! Rotated logs are usually compressed (`app.log.1.gz`), so `source file` recognises
//! gzip by its magic bytes rather than by the file name, and decompresses it as it
//! reads: never more than one chunk of decompressed text is held, whatever the
//! compression ratio (a decompression bomb costs time, not memory). Several gzip
//! members one after another (what `cat a.gz b.gz` makes) are one stream, as `zcat`
//! reads them. A stream that is cut short or corrupt ends with a [`GzipError`] that
//! says after how many decompressed bytes it broke; everything before it was already
//! handed out.

use flate2::bufread::MultiGzDecoder;
use std::io::{BufRead, Read};

/// The first two bytes of every gzip member (RFC 1952).
pub const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `head` (the first bytes of a file) starts a gzip stream.
pub fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&MAGIC)
}

/// Why decompression stopped early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt or truncated gzip after {decompressed} decompressed bytes: {reason}")]
pub struct GzipError {
    /// How many decompressed bytes were handed out before the failure.
    pub decompressed: u64,
    /// What the decoder reported.
    pub reason: String,
}

/// Decompressed chunks of a gzip stream read from `R`, at most `chunk` bytes each.
pub struct GzipChunks<R: BufRead> {
    decoder: MultiGzDecoder<R>,
    buf: Vec<u8>,
    decompressed: u64,
    done: bool,
}

impl<R: BufRead> GzipChunks<R> {
    /// Reads the gzip stream `reader` in chunks of at most `chunk` bytes (at least 1).
    pub fn new(reader: R, chunk: usize) -> GzipChunks<R> {
        GzipChunks {
            decoder: MultiGzDecoder::new(reader),
            buf: vec![0; chunk.max(1)],
            decompressed: 0,
            done: false,
        }
    }

    /// The next decompressed chunk; `Ok(None)` at the end of the stream. After an
    /// error, every later call returns `Ok(None)`.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, GzipError> {
        if self.done {
            return Ok(None);
        }
        loop {
            match self.decoder.read(&mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    return Ok(None);
                }
                Ok(n) => {
                    self.decompressed += n as u64;
                    return Ok(self.buf.get(..n));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    let reason = match e.kind() {
                        std::io::ErrorKind::UnexpectedEof => {
                            "the stream ends before its end marker".to_string()
                        }
                        _ => e.to_string(),
                    };
                    return Err(GzipError {
                        decompressed: self.decompressed,
                        reason,
                    });
                }
            }
        }
    }

    /// Decompressed bytes handed out so far.
    pub fn decompressed(&self) -> u64 {
        self.decompressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn read_all(data: &[u8], chunk: usize) -> (Vec<u8>, Option<GzipError>) {
        let mut chunks = GzipChunks::new(data, chunk);
        let mut out = Vec::new();
        loop {
            match chunks.next_chunk() {
                Ok(Some(bytes)) => {
                    assert!(bytes.len() <= chunk);
                    out.extend_from_slice(bytes);
                }
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn members_are_read_one_after_another_in_small_chunks() {
        let mut data = gzip(b"one\ntwo\n");
        data.extend(gzip(b"three\n"));
        assert!(is_gzip(&data));
        assert!(!is_gzip(b"plain"));
        let (out, err) = read_all(&data, 3);
        assert_eq!(out, b"one\ntwo\nthree\n");
        assert_eq!(err, None);
    }

    #[test]
    fn a_cut_stream_is_an_error_after_what_was_readable() {
        let text = "line of text\n".repeat(10_000);
        let data = gzip(text.as_bytes());
        let (out, err) = read_all(&data[..data.len() / 2], 4096);
        let err = err.expect("a truncated stream must fail");
        assert_eq!(err.decompressed, out.len() as u64);
        assert!(text.as_bytes().starts_with(&out));
        assert!(
            err.to_string().starts_with("corrupt or truncated gzip"),
            "{err}"
        );
    }

    #[test]
    fn garbage_after_the_magic_is_an_error_not_a_panic() {
        let (out, err) = read_all(&[0x1f, 0x8b, 8, 0, 0xff, 0xff], 64);
        assert!(out.is_empty());
        assert!(err.is_some());
        let (_, err) = read_all(&[0x1f, 0x8b], 64);
        assert!(err.is_some());
    }

    #[test]
    fn a_bomb_is_read_in_bounded_chunks() {
        // 64 MiB of zeros compress to about 64 KiB.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&zeros).unwrap();
        }
        let data = enc.finish().unwrap();
        assert!(data.len() < 1 << 20);
        let mut chunks = GzipChunks::new(data.as_slice(), 1 << 16);
        let mut total = 0u64;
        while let Some(bytes) = chunks.next_chunk().unwrap() {
            assert!(bytes.len() <= 1 << 16);
            total += bytes.len() as u64;
        }
        assert_eq!(total, 64 << 20);
        assert_eq!(chunks.decompressed(), total);
    }
}
