//! The on-disk format of a sink's buffer and everything that reads it without running
//! a pipeline: the start-up recovery, and `pipectl buffer inspect|verify|repair`.
//!
//! A buffer is a directory of segment files `<id>.seg` (ids increase; the newest is
//! the one written to). A segment starts with the 8-byte header `PIPEWAL1`, followed by
//! frames:
//!
//! ```text
//! magic u32 LE (0x4C415750) | length u32 LE | CRC-32 u32 LE | payload (length bytes)
//! ```
//!
//! The CRC covers the length's four bytes and the payload, so a flipped bit in either
//! is caught. The magic lets a scan find the next frame after a damaged one, so one bad
//! record costs only itself. A frame cut short (a crash in the middle of a write) is a
//! *truncated* record; any other frame that does not check out is *corrupt*.
//!
//! `checkpoint` holds the position (`<segment> <offset>`) up to which the sink's
//! destination has accepted everything; segments wholly before it are deleted.
//! `quarantine/` receives the bytes of bad records, one file per damaged range, named
//! after the segment and offset they came from. `lock` is held by the process that
//! owns the buffer.

use pipectl_core::event::Event;
use pipectl_core::value::Value;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The first bytes of every segment file.
pub const HEADER: &[u8; 8] = b"PIPEWAL1";
/// The size of [`HEADER`], which is also the offset of a segment's first frame.
pub const HEADER_LEN: u64 = HEADER.len() as u64;
/// The first four bytes of every frame.
pub const MAGIC: u32 = 0x4C41_5750;
/// Magic, length and CRC.
pub const FRAME_OVERHEAD: u64 = 12;
/// No record is larger; a length field above it is corruption, not a record.
pub const MAX_RECORD: u64 = 512 << 20;
/// The version byte opening every payload.
const PAYLOAD_VERSION: u8 = 1;

/// Where reading stands: a segment id and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub segment: u64,
    pub offset: u64,
}

/// The file name of segment `id`.
pub fn segment_name(id: u64) -> String {
    format!("{id:020}.seg")
}

/// The segments in `dir`, oldest first, with their paths.
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".seg") else {
            continue;
        };
        if let Ok(id) = stem.parse::<u64>() {
            found.push((id, entry.path()));
        }
    }
    found.sort_by_key(|(id, _)| *id);
    Ok(found)
}

/// Encodes one frame around `payload` onto `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let len_bytes = len.to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len_bytes);
    crc.update(payload);
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

/// Why a frame does not check out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The frame runs past the end of the data: a write cut short.
    Truncated,
    /// Wrong magic, an absurd length or a checksum mismatch.
    Corrupt,
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The payload range of the frame starting at `at`, if it checks out.
pub fn frame_at(bytes: &[u8], at: usize) -> Result<std::ops::Range<usize>, FrameError> {
    let Some(magic) = u32_at(bytes, at) else {
        return Err(FrameError::Truncated);
    };
    if magic != MAGIC {
        return Err(FrameError::Corrupt);
    }
    let (Some(len), Some(crc)) = (u32_at(bytes, at + 4), u32_at(bytes, at + 8)) else {
        return Err(FrameError::Truncated);
    };
    if u64::from(len) > MAX_RECORD {
        return Err(FrameError::Corrupt);
    }
    let start = at + FRAME_OVERHEAD as usize;
    let end = start + len as usize;
    let Some(payload) = bytes.get(start..end) else {
        return Err(FrameError::Truncated);
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len.to_le_bytes());
    hasher.update(payload);
    if hasher.finalize() != crc {
        return Err(FrameError::Corrupt);
    }
    Ok(start..end)
}

/// Encodes an event as a record payload: version, ingest time, source name, and the
/// document's JSON exactly as the pipeline serialises it (so an id derived from that
/// JSON is the same before and after the buffer).
pub fn encode_event(event: &Event, out: &mut Vec<u8>) {
    out.push(PAYLOAD_VERSION);
    out.extend_from_slice(&event.meta.ingest_time_ns.to_le_bytes());
    let source = event.meta.source.as_bytes();
    let source = &source[..source.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(source.len() as u16).to_le_bytes());
    out.extend_from_slice(source);
    pipectl_core::json::write(&event.value, out);
}

/// The ingest time of a record payload, without decoding the document.
pub fn payload_time_ns(payload: &[u8]) -> Option<i64> {
    if payload.first() != Some(&PAYLOAD_VERSION) {
        return None;
    }
    let b = payload.get(1..9)?;
    Some(i64::from_le_bytes(b.try_into().ok()?))
}

/// Decodes a record payload back into an event (without an acknowledgement).
pub fn decode_event(payload: &[u8]) -> Result<Event, String> {
    let time = payload_time_ns(payload).ok_or("unknown record version")?;
    let len_bytes = payload.get(9..11).ok_or("record too short")?;
    let len = u16::from_le_bytes([len_bytes[0], len_bytes[1]]) as usize;
    let source = payload.get(11..11 + len).ok_or("record too short")?;
    let source = std::str::from_utf8(source).map_err(|_| "source name is not UTF-8")?;
    let json = payload.get(11 + len..).unwrap_or_default();
    let value: Value = pipectl_core::json::from_slice(json).map_err(|e| e.to_string())?;
    let mut event = Event::new(value, Arc::from(source));
    event.meta.ingest_time_ns = time;
    Ok(event)
}

/// A damaged byte range of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRange {
    pub start: u64,
    pub end: u64,
    pub kind: FrameError,
}

/// What a scan of one segment found.
#[derive(Debug, Default)]
pub struct SegmentScan {
    /// Offsets and payload lengths of the good records, in order.
    pub records: Vec<(u64, u32)>,
    pub bad: Vec<BadRange>,
    pub bytes: u64,
    pub oldest_ns: Option<i64>,
    pub newest_ns: Option<i64>,
}

impl SegmentScan {
    /// Whether `offset` is where a record starts, or the end of the last good one.
    pub fn is_boundary(&self, offset: u64) -> bool {
        offset == HEADER_LEN
            || self.records.binary_search_by_key(&offset, |r| r.0).is_ok()
            || self
                .records
                .last()
                .is_some_and(|(at, len)| at + FRAME_OVERHEAD + u64::from(*len) == offset)
    }
}

/// The next position after `from` where a frame that checks out starts.
fn resync(bytes: &[u8], from: usize) -> Option<usize> {
    let magic = MAGIC.to_le_bytes();
    let finder = memchr::memmem::Finder::new(&magic);
    let mut at = from;
    while let Some(found) = bytes.get(at..).and_then(|rest| finder.find(rest)) {
        let candidate = at + found;
        if frame_at(bytes, candidate).is_ok() {
            return Some(candidate);
        }
        at = candidate + 1;
    }
    None
}

/// Checks every frame of a segment's bytes.
pub fn scan_bytes(bytes: &[u8]) -> SegmentScan {
    let mut scan = SegmentScan {
        bytes: bytes.len() as u64,
        ..SegmentScan::default()
    };
    let mut pos = 0usize;
    if bytes.get(..HEADER.len()) == Some(&HEADER[..]) {
        pos = HEADER.len();
    } else if !bytes.is_empty() {
        let next = resync(bytes, 0).unwrap_or(bytes.len());
        let kind = if bytes.len() < HEADER.len() && HEADER.starts_with(bytes) {
            FrameError::Truncated
        } else {
            FrameError::Corrupt
        };
        scan.bad.push(BadRange {
            start: 0,
            end: next as u64,
            kind,
        });
        pos = next;
    }
    while pos < bytes.len() {
        match frame_at(bytes, pos) {
            Ok(range) => {
                let payload = &bytes[range.clone()];
                if let Some(t) = payload_time_ns(payload) {
                    scan.oldest_ns = Some(scan.oldest_ns.map_or(t, |o| o.min(t)));
                    scan.newest_ns = Some(scan.newest_ns.map_or(t, |n| n.max(t)));
                }
                scan.records.push((pos as u64, range.len() as u32));
                pos = range.end;
            }
            Err(kind) => {
                let next = resync(bytes, pos + 1);
                let kind = if next.is_some() {
                    FrameError::Corrupt
                } else {
                    kind
                };
                let end = next.unwrap_or(bytes.len());
                scan.bad.push(BadRange {
                    start: pos as u64,
                    end: end as u64,
                    kind,
                });
                pos = end;
            }
        }
    }
    scan
}

/// Reads and scans one segment file.
pub fn scan_file(path: &Path) -> std::io::Result<(Vec<u8>, SegmentScan)> {
    let bytes = std::fs::read(path)?;
    let scan = scan_bytes(&bytes);
    Ok((bytes, scan))
}

/// Syncs a directory so a file created or renamed in it survives a power loss.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The quarantine file for a bad range of segment `id`.
pub fn quarantine_path(dir: &Path, id: u64, start: u64) -> PathBuf {
    dir.join("quarantine")
        .join(format!("{id:020}.seg-at-{start}.bad"))
}

/// Moves the bad ranges of segment `id` aside: each range's bytes go to its own file
/// under `quarantine/`, and the segment is rewritten (atomically: a temporary file,
/// synced, renamed over it) with its good records only. Returns the quarantine files.
pub fn quarantine(
    dir: &Path,
    id: u64,
    path: &Path,
    bytes: &[u8],
    scan: &SegmentScan,
) -> std::io::Result<Vec<PathBuf>> {
    let qdir = dir.join("quarantine");
    std::fs::create_dir_all(&qdir)?;
    let mut written = Vec::new();
    for bad in &scan.bad {
        let target = quarantine_path(dir, id, bad.start);
        let mut file = File::create(&target)?;
        file.write_all(
            bytes
                .get(bad.start as usize..bad.end as usize)
                .unwrap_or_default(),
        )?;
        file.sync_all()?;
        written.push(target);
    }
    sync_dir(&qdir)?;
    let mut clean = Vec::with_capacity(bytes.len());
    clean.extend_from_slice(HEADER);
    for (at, len) in &scan.records {
        let end = *at as usize + FRAME_OVERHEAD as usize + *len as usize;
        clean.extend_from_slice(bytes.get(*at as usize..end).unwrap_or_default());
    }
    let tmp = path.with_extension("seg.tmp");
    {
        let mut file = File::create(&tmp)?;
        file.write_all(&clean)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)?;
    Ok(written)
}

/// Reads the checkpoint file: `None` when there is none or it cannot be understood
/// (then everything in the buffer is sent again: at least once).
pub fn read_checkpoint(dir: &Path) -> Option<Pos> {
    let text = std::fs::read_to_string(dir.join("checkpoint")).ok()?;
    let mut parts = text.split_whitespace();
    let segment = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    Some(Pos { segment, offset })
}

/// Writes the checkpoint atomically (temporary file, sync, rename).
pub fn write_checkpoint(dir: &Path, pos: Pos) -> std::io::Result<()> {
    let tmp = dir.join("checkpoint.tmp");
    {
        let mut file = File::create(&tmp)?;
        writeln!(file, "{} {}", pos.segment, pos.offset)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join("checkpoint"))
}

/// Takes the buffer's lock, so two processes (or a running sink and `pipectl buffer
/// repair`) never change it at once. Held until the file is dropped.
pub fn lock(dir: &Path) -> std::io::Result<Option<File>> {
    use std::os::unix::io::AsRawFd;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    // SAFETY: flock(2) only reads the descriptor, which `file` keeps open for the call;
    // the lock is released when `file` is closed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(Some(file));
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(None)
    } else {
        Err(err)
    }
}

/// Appends frames to the newest segment, starting a new one when it is full.
pub struct SegmentWriter {
    dir: PathBuf,
    segment_size: u64,
    file: File,
    /// The segment being written and its size.
    pub id: u64,
    pub size: u64,
}

impl SegmentWriter {
    /// Starts segment `id` (a new file with its header, synced with its directory).
    pub fn create(dir: &Path, id: u64, segment_size: u64) -> std::io::Result<SegmentWriter> {
        let path = dir.join(segment_name(id));
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        file.write_all(HEADER)?;
        file.sync_all()?;
        sync_dir(dir)?;
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            segment_size,
            file,
            id,
            size: HEADER_LEN,
        })
    }

    /// Whether a frame of `frame_len` bytes goes into a new segment.
    pub fn must_roll(&self, frame_len: u64) -> bool {
        self.size > HEADER_LEN && self.size + frame_len > self.segment_size
    }

    /// Syncs the current segment and starts the next one.
    pub fn roll(&mut self) -> std::io::Result<()> {
        self.file.sync_data()?;
        *self = SegmentWriter::create(&self.dir, self.id + 1, self.segment_size)?;
        Ok(())
    }

    /// Appends already framed bytes (whole frames) to the current segment.
    pub fn write(&mut self, frames: &[u8]) -> std::io::Result<()> {
        self.file.write_all(frames)?;
        self.size += frames.len() as u64;
        Ok(())
    }

    /// Makes what was written durable.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}

/// Reads frames of one segment from an offset, in chunks, up to a limit.
pub struct SegmentReader {
    file: File,
    pub id: u64,
    buf: Vec<u8>,
    /// The file offset of `buf[0]`.
    buf_at: u64,
}

/// One record read back, or a record whose payload could not be decoded.
pub enum ReadRecord {
    Event(Event),
    Undecodable {
        at: Pos,
        payload: Vec<u8>,
        reason: String,
    },
}

impl SegmentReader {
    pub fn open(dir: &Path, id: u64) -> std::io::Result<SegmentReader> {
        Ok(SegmentReader {
            file: File::open(dir.join(segment_name(id)))?,
            id,
            buf: Vec::new(),
            buf_at: 0,
        })
    }

    /// Reads records starting at `offset`, stopping before `limit` (the end of what
    /// was written), after `max_records` or once `max_bytes` of payload are read.
    /// Returns the records and the offset after the last one.
    pub fn read(
        &mut self,
        offset: u64,
        limit: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> std::io::Result<(Vec<ReadRecord>, u64)> {
        let mut out = Vec::new();
        let mut pos = offset;
        let mut bytes = 0usize;
        while pos < limit && out.len() < max_records && bytes < max_bytes {
            // Make sure the frame header, then the whole frame, is in the buffer.
            let rel = pos.checked_sub(self.buf_at).map(|r| r as usize);
            let have = |need: u64, buf: &Vec<u8>, rel: Option<usize>| {
                rel.is_some_and(|r| r as u64 + need <= buf.len() as u64)
            };
            if !have(FRAME_OVERHEAD, &self.buf, rel) {
                self.fill(pos, limit, FRAME_OVERHEAD)?;
                continue;
            }
            let r = rel.unwrap_or(0);
            let len = u64::from(u32_at(&self.buf, r + 4).unwrap_or(0));
            if !have(FRAME_OVERHEAD + len, &self.buf, rel) {
                if pos + FRAME_OVERHEAD + len > limit {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "segment {} offset {pos}: a record runs past the written end",
                            self.id
                        ),
                    ));
                }
                self.fill(pos, limit, FRAME_OVERHEAD + len)?;
                continue;
            }
            let range = frame_at(&self.buf, r).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("segment {} offset {pos}: {e:?} record", self.id),
                )
            })?;
            let payload = &self.buf[range.clone()];
            bytes += payload.len();
            out.push(match decode_event(payload) {
                Ok(event) => ReadRecord::Event(event),
                Err(reason) => ReadRecord::Undecodable {
                    at: Pos {
                        segment: self.id,
                        offset: pos,
                    },
                    payload: payload.to_vec(),
                    reason,
                },
            });
            pos += FRAME_OVERHEAD + len;
        }
        Ok((out, pos))
    }

    /// Loads at least `need` bytes from `pos` (up to 1 MiB more, not past `limit`).
    fn fill(&mut self, pos: u64, limit: u64, need: u64) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let want = need.max(1 << 20).min(limit.saturating_sub(pos)).max(need);
        self.buf.clear();
        self.buf.resize(want as usize, 0);
        self.file.read_exact_at(&mut self.buf, pos)?;
        self.buf_at = pos;
        Ok(())
    }
}
