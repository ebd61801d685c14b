//! `pipectl buffer inspect|verify|repair`: look into sinks' disk buffers (the
//! write-ahead logs of docs/reliability.md) without running a pipeline.
//!
//! PATH is a buffer directory (`<data_dir>/<pipeline>/<sink>/buffer`) or any
//! directory above one, such as the data directory: every buffer under it is handled.

use crate::exit::{Exit, RUNTIME};
use pipectl_connectors::buffer::recover;
use pipectl_connectors::buffer::wal::{self, FrameError, HEADER_LEN};
use pipectl_connectors::sinks::opensearch::time::format_rfc3339;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    sub: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Segments, record counts, sizes, the oldest and newest record, and how many
    /// records wait for delivery.
    Inspect(PathArg),
    /// Check every record's checksum; exit 1 naming the file and offset of each
    /// damaged record.
    Verify(PathArg),
    /// Move damaged records aside to `quarantine/` (as a sink does at start) so the
    /// rest can be delivered; refuses while a running sink holds the buffer.
    Repair(PathArg),
}

#[derive(clap::Args)]
struct PathArg {
    /// A buffer directory, or a directory above buffers (the data directory).
    path: PathBuf,
}

pub fn run(args: Args) -> Result<(), Exit> {
    match args.sub {
        Sub::Inspect(p) => each(&p.path, inspect),
        Sub::Verify(p) => each(&p.path, verify),
        Sub::Repair(p) => each(&p.path, repair),
    }
}

/// Whether `dir` is a buffer: it holds segments or a checkpoint.
fn is_buffer(dir: &Path) -> bool {
    dir.join("checkpoint").is_file()
        || wal::list_segments(dir).is_ok_and(|segments| !segments.is_empty())
}

/// Buffers at or under `root`, sorted.
fn find_buffers(root: &Path) -> Result<Vec<PathBuf>, Exit> {
    if !root.is_dir() {
        return Err(Exit::usage(format!(
            "{} is not a directory",
            root.display()
        )));
    }
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if is_buffer(&dir) {
            found.push(dir);
            continue;
        }
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| Exit::runtime(format!("cannot list {}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) && entry.file_name() != "quarantine" {
                stack.push(entry.path());
            }
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(Exit::runtime(format!(
            "no sink buffer under {} (a buffer holds `*.seg` files)",
            root.display()
        )));
    }
    Ok(found)
}

/// Runs `f` on every buffer; fails if any failed (after doing them all).
fn each(root: &Path, f: fn(&Path) -> Result<bool, Exit>) -> Result<(), Exit> {
    let mut ok = true;
    for dir in find_buffers(root)? {
        ok &= f(&dir)?;
    }
    if ok {
        Ok(())
    } else {
        Err(Exit::silent(RUNTIME))
    }
}

fn time(ns: Option<i64>) -> String {
    ns.map_or_else(|| "-".to_string(), |ns| format_rfc3339(ns / 1_000_000))
}

fn in_use(dir: &Path) -> bool {
    matches!(wal::lock(dir), Ok(None))
}

fn inspect(dir: &Path) -> Result<bool, Exit> {
    let checkpoint = wal::read_checkpoint(dir);
    println!("buffer {}", dir.display());
    if in_use(dir) {
        println!("  in use by a running sink: the newest segment may be mid-write");
    }
    match checkpoint {
        Some(cp) => println!(
            "  delivered up to: segment {} offset {}",
            cp.segment, cp.offset
        ),
        None => println!("  delivered up to: nothing recorded (every record is waiting)"),
    }
    println!(
        "  {:<26} {:>12} {:>9} {:>9} {:>7}  {:<24} {:<24}",
        "segment", "bytes", "records", "waiting", "damaged", "oldest", "newest"
    );
    let segments = wal::list_segments(dir)
        .map_err(|e| Exit::runtime(format!("cannot list {}: {e}", dir.display())))?;
    let (mut bytes, mut records, mut waiting, mut damaged) = (0u64, 0usize, 0usize, 0usize);
    let (mut oldest, mut newest): (Option<i64>, Option<i64>) = (None, None);
    for (id, path) in &segments {
        let (_, scan) = wal::scan_file(path)
            .map_err(|e| Exit::runtime(format!("cannot read {}: {e}", path.display())))?;
        let from = match checkpoint {
            Some(cp) if cp.segment > *id => u64::MAX,
            Some(cp) if cp.segment == *id => cp.offset,
            _ => HEADER_LEN,
        };
        let seg_waiting = scan.records.iter().filter(|(at, _)| *at >= from).count();
        println!(
            "  {:<26} {:>12} {:>9} {:>9} {:>7}  {:<24} {:<24}",
            wal::segment_name(*id),
            scan.bytes,
            scan.records.len(),
            seg_waiting,
            scan.bad.len(),
            time(scan.oldest_ns),
            time(scan.newest_ns)
        );
        bytes += scan.bytes;
        records += scan.records.len();
        waiting += seg_waiting;
        damaged += scan.bad.len();
        oldest = match (oldest, scan.oldest_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        newest = match (newest, scan.newest_ns) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let quarantined = std::fs::read_dir(dir.join("quarantine"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    println!(
        "  total: {} segment(s), {bytes} bytes, {records} record(s), {waiting} waiting for delivery, {damaged} damaged range(s), oldest {}, newest {}, {quarantined} file(s) in quarantine/",
        segments.len(),
        time(oldest),
        time(newest)
    );
    Ok(true)
}

fn verify(dir: &Path) -> Result<bool, Exit> {
    let segments = wal::list_segments(dir)
        .map_err(|e| Exit::runtime(format!("cannot list {}: {e}", dir.display())))?;
    let busy = in_use(dir);
    let mut ok = true;
    let mut records = 0usize;
    for (_, path) in &segments {
        let (_, scan) = wal::scan_file(path)
            .map_err(|e| Exit::runtime(format!("cannot read {}: {e}", path.display())))?;
        records += scan.records.len();
        for bad in &scan.bad {
            ok = false;
            let what = match bad.kind {
                FrameError::Truncated => "truncated record",
                FrameError::Corrupt => "corrupt record (checksum or framing mismatch)",
            };
            println!(
                "{}: offset {}: {what}, {} byte(s)",
                path.display(),
                bad.start,
                bad.end - bad.start
            );
        }
    }
    if ok {
        println!(
            "{}: ok, {} segment(s), {records} record(s), every checksum matches",
            dir.display(),
            segments.len()
        );
    } else {
        println!(
            "{}: damaged; `pipectl buffer repair {}` moves the bad records aside (a sink does so itself at start)",
            dir.display(),
            dir.display()
        );
        if busy {
            println!("{}: note: a running sink holds this buffer; a truncated record at the end of the newest segment may be a write in progress", dir.display());
        }
    }
    Ok(ok)
}

fn repair(dir: &Path) -> Result<bool, Exit> {
    let lock = match wal::lock(dir) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            return Err(Exit::runtime(format!(
                "{} is in use by a running sink; stop it first (a sink repairs its buffer itself at start)",
                dir.display()
            )))
        }
        Err(e) => return Err(Exit::runtime(format!("cannot lock {}: {e}", dir.display()))),
    };
    let recovered = recover::open_locked(dir, lock).map_err(Exit::runtime)?;
    if recovered.quarantined.is_empty() {
        println!("{}: nothing to repair", dir.display());
    }
    for file in &recovered.quarantined {
        println!("{}: moved aside to {}", dir.display(), file.display());
    }
    println!(
        "{}: {} record(s) waiting for delivery",
        dir.display(),
        recovered.pending_records
    );
    Ok(true)
}
