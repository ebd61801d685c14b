//! Reading archived events for `pipectl replay`: NDJSON files (plain or gzip, as the
//! `file` sink writes them) or an OpenSearch index pattern, kept when their event time
//! falls in the window, and put in one deterministic order.
//!
//! The order is event time, ties broken by `event.id` and then by the record's text,
//! so the same archive gives the same sequence however its files are listed or however
//! OpenSearch returns equal timestamps. The window's events are held in memory while
//! they are sorted (about 1 KiB each); replay a long period as several windows.

use pipectl_connectors::sinks::opensearch::client::{Client, Request};
use pipectl_core::detect::sigma::time::millis_of;
use pipectl_core::path::FieldPath;
use pipectl_core::value::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The half-open event-time window `[from, to)`, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

impl Window {
    fn contains(&self, at: i64) -> bool {
        at >= self.from && at < self.to
    }
}

/// One archived event with the keys that order it and the root it is fed as.
pub struct Archived {
    pub at: i64,
    pub(crate) tiebreak: String,
    /// Index of the root it stands for (always 0 for an archive of normalised events).
    pub root: usize,
    pub value: Value,
}

/// What an archive held: the events in the window, in replay order, and counts of what
/// was left out and why (nothing is left out silently).
#[derive(Default)]
pub struct Selection {
    pub events: Vec<Archived>,
    /// Records read.
    pub read: u64,
    /// Records whose time is outside the window.
    pub outside: u64,
    /// Records with no readable time in the time field (left out), or, in raw archives,
    /// with none of their own (placed with their neighbours in the file).
    pub untimed: u64,
    /// Lines that are not a JSON object, with the first few places for the report.
    pub unreadable: u64,
    pub unreadable_examples: Vec<String>,
}

const EXAMPLES: usize = 5;

impl Selection {
    fn offer(&mut self, value: Value, time_field: &FieldPath, window: Window) {
        self.read += 1;
        let Some(at) = value.get_path(time_field).and_then(millis_of) else {
            self.untimed += 1;
            return;
        };
        if !window.contains(at) {
            self.outside += 1;
            return;
        }
        let tiebreak = match value.get_path(&event_id_path()) {
            Some(Value::String(id)) => id.to_string(),
            _ => pipectl_core::json::to_string(&value),
        };
        self.events.push(Archived {
            at,
            tiebreak,
            root: 0,
            value,
        });
    }

    pub(crate) fn unreadable(&mut self, place: String) {
        self.unreadable += 1;
        if self.unreadable_examples.len() < EXAMPLES {
            self.unreadable_examples.push(place);
        }
    }

    /// Puts the events in replay order.
    pub(crate) fn sort(&mut self) {
        self.events
            .sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.tiebreak.cmp(&b.tiebreak)));
    }
}

fn event_id_path() -> FieldPath {
    FieldPath::new(vec![
        pipectl_core::path::PathSegment::Key("event".into()),
        pipectl_core::path::PathSegment::Key("id".into()),
    ])
}

/// The NDJSON files under `paths` (directories are searched recursively for `*.ndjson`,
/// `*.jsonl`, `*.json` and their `.gz`), sorted by path.
pub fn archive_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read archive {}: {e}", path.display()))?;
        if meta.is_dir() {
            collect(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err(format!(
            "no archive files (*.ndjson, *.jsonl, *.json, optionally .gz) under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(files)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if is_archive_name(&path) {
            files.push(path);
        }
    }
    Ok(())
}

fn is_archive_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = name.strip_suffix(".gz").unwrap_or(name);
    [".ndjson", ".jsonl", ".json"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Opens an archive file, decompressing `.gz`.
pub(crate) fn open(path: &Path) -> Result<BufReader<Box<dyn Read>>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open archive {}: {e}", path.display()))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(BufReader::new(reader))
}

/// Reads NDJSON archive files.
pub fn read_files(
    files: &[PathBuf],
    time_field: &FieldPath,
    window: Window,
) -> Result<Selection, String> {
    let mut selection = Selection::default();
    for path in files {
        let mut reader = open(path)?;
        let mut line = Vec::new();
        let mut number = 0u64;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("{}: read error after line {number}: {e}", path.display()))?;
            if n == 0 {
                break;
            }
            number += 1;
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            match pipectl_core::json::from_slice(text) {
                Ok(value @ Value::Object(_)) => selection.offer(value, time_field, window),
                Ok(_) => {
                    selection.unreadable(format!("{}:{number}: not a JSON object", path.display()))
                }
                Err(e) => selection.unreadable(format!("{}:{number}: {e}", path.display())),
            }
        }
    }
    selection.sort();
    Ok(selection)
}

/// How long OpenSearch keeps a scroll open between pages.
const SCROLL_KEEP: &str = "2m";
const PAGE: u32 = 2000;

/// Reads the documents of `index` (a pattern) whose time field is in the window, with
/// an optional `query_string` filter, through the scroll API.
pub async fn read_opensearch(
    client: &Client,
    index: &str,
    query: Option<&str>,
    time_field: &str,
    window: Window,
) -> Result<Selection, String> {
    let path = FieldPath::parse(time_field).map_err(|e| format!("--time-field: {e}"))?;
    let mut filter = vec![serde_json::json!({"range": {time_field: {
        "gte": window.from, "lt": window.to, "format": "epoch_millis"
    }}})];
    if let Some(q) = query {
        filter.push(serde_json::json!({"query_string": {"query": q, "lenient": true}}));
    }
    let body = serde_json::json!({
        "size": PAGE,
        "sort": [{time_field: {"order": "asc", "unmapped_type": "date"}}],
        "query": {"bool": {"filter": filter}},
    });
    let search_path = format!("/{index}/_search");
    let first = Request::post(&search_path)
        .query("scroll", SCROLL_KEEP)
        .query("ignore_unavailable", "true")
        .query("allow_no_indices", "true")
        .json(body.to_string());
    let mut reply = send_json(client, first).await?;
    let mut selection = Selection::default();
    let mut scroll_id: Option<String> = None;
    loop {
        if let Some(id) = reply.get("_scroll_id").and_then(|v| v.as_str()) {
            scroll_id = Some(id.to_string());
        }
        let hits = reply
            .pointer("/hits/hits")
            .and_then(|h| h.as_array())
            .cloned()
            .unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        for hit in hits {
            match hit.get("_source") {
                Some(source @ serde_json::Value::Object(_)) => selection.offer(
                    pipectl_core::json::from_serde(source.clone()),
                    &path,
                    window,
                ),
                _ => selection.unreadable(format!(
                    "{}/{}: no _source",
                    hit.get("_index").and_then(|v| v.as_str()).unwrap_or("?"),
                    hit.get("_id").and_then(|v| v.as_str()).unwrap_or("?")
                )),
            }
        }
        let Some(id) = scroll_id.clone() else { break };
        let next = Request::post("/_search/scroll")
            .json(serde_json::json!({"scroll": SCROLL_KEEP, "scroll_id": id}).to_string());
        reply = send_json(client, next).await?;
    }
    if let Some(id) = scroll_id {
        // Frees the server's scroll context early; it expires by itself otherwise.
        let clear = Request::delete("/_search/scroll")
            .json(serde_json::json!({"scroll_id": [id]}).to_string());
        if let Err(e) = client.send(clear).await {
            tracing::debug!(error = %e, "could not clear the scroll context");
        }
    }
    selection.sort();
    Ok(selection)
}

async fn send_json(client: &Client, request: Request<'_>) -> Result<serde_json::Value, String> {
    let reply = client
        .send(request)
        .await
        .map_err(|e| format!("OpenSearch at {}: {e}", client.url()))?;
    if !reply.is_success() {
        return Err(format!(
            "OpenSearch at {} refused the archive search: {}",
            client.url(),
            reply.error_reason()
        ));
    }
    reply.json()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn window() -> Window {
        Window {
            from: 1_000,
            to: 10_000,
        }
    }

    #[test]
    fn keeps_the_window_in_time_order_and_counts_the_rest() {
        let dir = std::env::temp_dir().join(format!("pipectl-archive-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.ndjson");
        let mut file = std::fs::File::create(&path).unwrap();
        writeln!(file, r#"{{"@timestamp": 5, "event": {{"id": "b"}}}}"#).unwrap();
        writeln!(
            file,
            r#"{{"@timestamp": "1970-01-01T00:00:02Z", "event": {{"id": "z"}}}}"#
        )
        .unwrap();
        writeln!(file, r#"{{"@timestamp": 5, "event": {{"id": "a"}}}}"#).unwrap();
        writeln!(file, r#"{{"@timestamp": 50000}}"#).unwrap();
        writeln!(file, r#"{{"no_time": 1}}"#).unwrap();
        writeln!(file, "not json").unwrap();
        writeln!(file, "[1, 2]").unwrap();
        drop(file);
        let time = FieldPath::parse("@timestamp").unwrap();
        // Integer seconds read as seconds: 5 → 5,000 ms, 50,000 s is outside.
        let selection = read_files(&[path], &time, window()).unwrap();
        let ids: Vec<String> = selection
            .events
            .iter()
            .map(|e| pipectl_core::json::to_string(e.value.get_path(&event_id_path()).unwrap()))
            .collect();
        assert_eq!(ids, [r#""z""#, r#""a""#, r#""b""#]);
        assert_eq!(selection.read, 5);
        assert_eq!(selection.outside, 1);
        assert_eq!(selection.untimed, 1);
        assert_eq!(selection.unreadable, 2);
        assert!(selection.unreadable_examples[0].contains("a.ndjson:6: "));
        assert!(selection.unreadable_examples[1].ends_with("a.ndjson:7: not a JSON object"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn finds_archives_in_directories_and_reads_gzip() {
        let dir = std::env::temp_dir().join(format!("pipectl-archive-gz-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let gz = dir.join("sub/events.ndjson.gz");
        let mut encoder = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        writeln!(encoder, r#"{{"@timestamp": "1970-01-01T00:00:03Z"}}"#).unwrap();
        encoder.finish().unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let files = archive_files(std::slice::from_ref(&dir)).unwrap();
        assert_eq!(files, [gz]);
        let time = FieldPath::parse("@timestamp").unwrap();
        let selection = read_files(&files, &time, window()).unwrap();
        assert_eq!(selection.events.len(), 1);
        assert_eq!(selection.events[0].at, 3_000);
        std::fs::remove_dir_all(&dir).unwrap();
        let empty = archive_files(&[std::env::temp_dir().join("pipectl-no-such-archive")]);
        assert!(empty.unwrap_err().contains("cannot read archive"));
    }
}
