//! Opening a buffer after a start, a crash or a copy: delete what was delivered, move
//! bad records aside, and find where delivery resumes.
//!
//! Nothing here refuses to start because of what the files hold: a corrupt or
//! truncated record is moved to `quarantine/` with a log line naming the segment, the
//! offset and the quarantine file, and the rest is delivered. Only an I/O error on the
//! directory itself (permissions, a full disk) is an error.

use super::wal::{self, FrameError, Pos, HEADER_LEN};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A buffer ready to be written and read.
#[derive(Debug)]
pub struct Recovered {
    /// Segment ids and sizes, oldest first.
    pub segments: BTreeMap<u64, u64>,
    /// Where delivery resumes.
    pub resume: Pos,
    /// The id the writer's new segment takes.
    pub next_id: u64,
    /// Records waiting for delivery.
    pub pending_records: u64,
    /// Quarantine files written by this recovery.
    pub quarantined: Vec<PathBuf>,
    /// The buffer's lock, held while this lives.
    pub lock: File,
}

/// What a repair of one segment did.
#[derive(Debug)]
pub struct Repaired {
    pub segment: PathBuf,
    pub bad: Vec<wal::BadRange>,
    pub quarantined: Vec<PathBuf>,
}

/// Takes the buffer's lock, waiting up to `wait` for a previous owner (an instance
/// being replaced by a reload) to let go.
pub fn lock_within(dir: &Path, wait: Duration) -> Result<File, String> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match wal::lock(dir) {
            Ok(Some(file)) => return Ok(file),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(None) => {
                return Err(format!(
                    "the buffer {} is in use by another process (its `lock` file is held)",
                    dir.display()
                ))
            }
            Err(e) => return Err(format!("cannot lock the buffer {}: {e}", dir.display())),
        }
    }
}

/// Scans every segment from `from` on and quarantines bad records; the caller holds
/// the lock. Returns what was repaired.
pub fn repair_segments(dir: &Path, from: u64) -> Result<Vec<Repaired>, String> {
    let segments = wal::list_segments(dir)
        .map_err(|e| format!("cannot list the buffer {}: {e}", dir.display()))?;
    let mut repaired = Vec::new();
    for (id, path) in segments.into_iter().filter(|(id, _)| *id >= from) {
        let (bytes, scan) =
            wal::scan_file(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if scan.bad.is_empty() {
            continue;
        }
        let quarantined = wal::quarantine(dir, id, &path, &bytes, &scan)
            .map_err(|e| format!("cannot move bad records of {} aside: {e}", path.display()))?;
        for (bad, target) in scan.bad.iter().zip(&quarantined) {
            let what = match bad.kind {
                FrameError::Truncated => "a truncated record (a write cut short by a crash; it was never acknowledged, its source sends it again)",
                FrameError::Corrupt => "corrupt data (checksum or framing mismatch)",
            };
            tracing::error!(
                segment = %path.display(),
                offset = bad.start,
                bytes = bad.end - bad.start,
                quarantine = %target.display(),
                "buffer: {what}; moved aside, the other records are delivered"
            );
        }
        repaired.push(Repaired {
            segment: path,
            bad: scan.bad,
            quarantined,
        });
    }
    Ok(repaired)
}

/// Opens the buffer in `dir` (created if missing) for a sink, waiting up to 10 s for
/// an instance being replaced to let go of it.
pub fn open(dir: &Path) -> Result<Recovered, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the buffer {}: {e}", dir.display()))?;
    open_locked(dir, lock_within(dir, Duration::from_secs(10))?)
}

/// The start-up path on a buffer whose lock is held: delete what was delivered,
/// quarantine bad records, find where delivery resumes. `pipectl buffer repair` runs
/// it too.
pub fn open_locked(dir: &Path, lock: File) -> Result<Recovered, String> {
    let checkpoint = wal::read_checkpoint(dir);
    if checkpoint.is_none() && dir.join("checkpoint").exists() {
        tracing::warn!(buffer = %dir.display(), "buffer: the checkpoint cannot be read; every record in the buffer is delivered again");
    }
    let list = |dir: &Path| {
        wal::list_segments(dir)
            .map_err(|e| format!("cannot list the buffer {}: {e}", dir.display()))
    };
    // Segments wholly before the checkpoint were delivered.
    let mut resume = checkpoint.unwrap_or(Pos {
        segment: 0,
        offset: HEADER_LEN,
    });
    for (id, path) in list(dir)? {
        if id < resume.segment {
            std::fs::remove_file(&path).map_err(|e| {
                format!(
                    "cannot delete the delivered segment {}: {e}",
                    path.display()
                )
            })?;
        }
    }
    let _ = std::fs::remove_file(dir.join("checkpoint.tmp"));
    for entry in list(dir)? {
        let tmp = entry.1.with_extension("seg.tmp");
        let _ = std::fs::remove_file(tmp);
    }
    let repaired = repair_segments(dir, resume.segment)?;
    if repaired
        .iter()
        .any(|r| r.segment.ends_with(wal::segment_name(resume.segment)))
    {
        // Offsets in a rewritten segment moved: deliver it again from its start.
        resume.offset = HEADER_LEN;
    }
    let mut segments = BTreeMap::new();
    let mut pending_records = 0u64;
    for (id, path) in list(dir)? {
        let (_, scan) =
            wal::scan_file(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if id == resume.segment {
            if !scan.is_boundary(resume.offset) {
                tracing::warn!(
                    segment = %path.display(),
                    offset = resume.offset,
                    "buffer: the checkpoint does not fall on a record; the segment is delivered again from its start"
                );
                resume.offset = HEADER_LEN;
            }
            pending_records += scan
                .records
                .iter()
                .filter(|(at, _)| *at >= resume.offset)
                .count() as u64;
        } else {
            pending_records += scan.records.len() as u64;
        }
        segments.insert(id, scan.bytes);
    }
    match segments.keys().next() {
        Some(&first) if first > resume.segment => {
            resume = Pos {
                segment: first,
                offset: HEADER_LEN,
            }
        }
        None => {
            resume = Pos {
                segment: resume.segment.max(1),
                offset: HEADER_LEN,
            }
        }
        _ => {}
    }
    let next_id = segments
        .keys()
        .next_back()
        .map_or(resume.segment, |last| last + 1)
        .max(resume.segment);
    if pending_records > 0 {
        tracing::info!(buffer = %dir.display(), records = pending_records, "buffer: delivering records left from the previous run");
    }
    Ok(Recovered {
        segments,
        resume,
        next_id,
        pending_records,
        quarantined: repaired.into_iter().flat_map(|r| r.quarantined).collect(),
        lock,
    })
}
