//! The scenario's vendor files, normalised and merged into one stream in event-time
//! order, so the model sees the organisation as it happened and two evaluations of
//! the same data give the same breaches.
//!
//! Each file is read line by line through the normaliser of its format (named by the
//! file name's prefix: `aws_cloudtrail*`, `o365*`, `google_workspace*`, ...); the
//! streams are merged by `@timestamp`, ties broken by file order, so the merge is
//! deterministic. A record that does not normalise is counted, not fatal.

use pipectl_connectors::normalise::{Format, Normaliser};
use pipectl_core::detect::sigma::time::millis_of;
use pipectl_core::value::{Map, Value};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// One vendor file being read.
struct Stream {
    name: String,
    format: &'static str,
    lines: std::io::Lines<BufReader<std::fs::File>>,
    normaliser: Normaliser,
    /// Further events of the last record, when it carried several (Google Workspace).
    queued: std::collections::VecDeque<Value>,
}

impl Stream {
    /// The next normalised event with its time, skipping (and counting) what does not
    /// normalise.
    fn next(&mut self, rejected: &mut u64) -> Result<Option<(i64, Value)>, String> {
        while let Some(event) = self.queued.pop_front() {
            match event
                .as_object()
                .and_then(|m| m.get("@timestamp"))
                .and_then(millis_of)
            {
                Some(at) => return Ok(Some((at, event))),
                None => *rejected += 1,
            }
        }
        for line in self.lines.by_ref() {
            let line = line.map_err(|e| format!("{}: {e}", self.name))?;
            if line.trim().is_empty() {
                continue;
            }
            let mut event = Value::Object({
                let mut m = Map::with_capacity(1);
                m.push("message", Value::from(line.as_str()));
                m
            });
            let mut more = Vec::new();
            match self.normaliser.apply_all(&mut event, &mut more) {
                Ok(true) => self.queued.extend(more),
                Ok(false) => continue,
                Err(e) => {
                    *rejected += 1;
                    tracing::debug!(file = %self.name, error = %e, "record not normalised");
                    continue;
                }
            }
            let at = event
                .as_object()
                .and_then(|m| m.get("@timestamp"))
                .and_then(millis_of);
            match at {
                Some(at) => return Ok(Some((at, event))),
                None => *rejected += 1,
            }
        }
        Ok(None)
    }
}

/// The merged, time-ordered stream of a scenario directory.
pub struct Replay {
    streams: Vec<Stream>,
    /// The next event of each stream, by (time, stream index).
    heads: BinaryHeap<Reverse<(i64, usize)>>,
    pending: Vec<Option<Value>>,
    rejected: u64,
}

impl Replay {
    /// Opens every vendor file of `dir` (files of no known format are ignored).
    pub fn open(dir: &Path) -> Result<Replay, String> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read the scenario directory {}: {e}", dir.display()))?;
        let mut files: Vec<(String, Format)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(format) = Format::ALL.into_iter().find(|f| name.starts_with(f.name())) {
                files.push((name, format));
            }
        }
        if files.is_empty() {
            return Err(format!(
                "{} holds no vendor files (named after their format: {}); generate them with examples/scenario/generate.py",
                dir.display(),
                Format::ALL.iter().map(|f| format!("{}*", f.name())).collect::<Vec<_>>().join(", ")
            ));
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut replay = Replay {
            streams: Vec::with_capacity(files.len()),
            heads: BinaryHeap::new(),
            pending: Vec::new(),
            rejected: 0,
        };
        for (name, format) in files {
            let path = dir.join(&name);
            let file = std::fs::File::open(&path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            replay.streams.push(Stream {
                name,
                format: format.name(),
                lines: BufReader::with_capacity(1 << 16, file).lines(),
                normaliser: Normaliser::new(format),
                queued: std::collections::VecDeque::new(),
            });
            replay.pending.push(None);
        }
        for index in 0..replay.streams.len() {
            replay.refill(index)?;
        }
        Ok(replay)
    }

    fn refill(&mut self, index: usize) -> Result<(), String> {
        if let Some((at, event)) = self.streams[index].next(&mut self.rejected)? {
            self.pending[index] = Some(event);
            self.heads.push(Reverse((at, index)));
        }
        Ok(())
    }

    /// Records that were not vendor records of their file's format.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// The next event in time order with its time and the name of its vendor format.
    pub fn next_event(&mut self) -> Result<Option<(i64, &'static str, Value)>, String> {
        let Some(Reverse((at, index))) = self.heads.pop() else {
            return Ok(None);
        };
        let event = self.pending[index].take();
        let format = self.streams[index].format;
        self.refill(index)?;
        Ok(event.map(|e| (at, format, e)))
    }
}
