//! Dead letters (docs/schema.md §10): what OpenSearch refused for good, kept with the
//! reason and the original document as a string, first in the dead-letter index and,
//! where that cannot take it, in a local NDJSON file.
//!
//! The local file receives the same records when
//! - the dead-letter index itself refuses a record (a blocked index, a record larger
//!   than `http.max_content_length`), or
//! - the input has ended (a finite run finished, or shutdown was requested) and
//!   OpenSearch stayed unreachable or overloaded for `drain_timeout`: the rest is
//!   written here rather than held forever or dropped, and the sink ends with an
//!   error naming the file.
//!
//! Each write is appended and synced to disk before the events are acknowledged, and
//! an error names the file; if even that write fails, the events are failed back to
//! their sources (which then do not advance past them) and the sink stops. Nothing is
//! ever acknowledged without being in OpenSearch or on disk.

use super::encode::{content_id, Item, Rejection};
use super::time::format_rfc3339;
use pipectl_core::value::{Map, Str, Value};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Who writes the records: the sink's pipeline and component names.
#[derive(Debug, Clone)]
pub struct Origin {
    pub pipeline: Arc<str>,
    pub component: Arc<str>,
}

impl Rejection {
    /// An item of a sent batch, refused with `reason`.
    pub fn from_item(
        item: Item,
        document: &[u8],
        status: Option<u16>,
        error_type: &str,
        reason: String,
        now_ms: i64,
    ) -> Rejection {
        Rejection {
            first_failed: item.first_failed.unwrap_or(now_ms),
            ack: item.ack,
            source: item.source,
            index: item.index.to_string(),
            kind: item.kind,
            id: item.id,
            document: document.to_vec(),
            reason,
            error_type: error_type.to_string(),
            status,
            attempts: item.attempts,
        }
    }
}

/// The `_id` of a dead-letter record: SHA-256 of `deadletter`, the index and the
/// original id, so a record written twice stays one.
pub fn record_id(rejection: &Rejection) -> Str {
    content_id(&[
        b"deadletter",
        rejection.index.as_bytes(),
        rejection.id.as_bytes(),
    ])
}

/// The dead-letter record of a rejection, as JSON.
pub fn record(rejection: &Rejection, origin: &Origin, id: &str, now_ms: i64) -> Vec<u8> {
    let mut event = Map::with_capacity(3);
    event.push("id", Value::from(id));
    event.push("kind", Value::from("pipeline_error"));
    event.push("dataset", Value::from("pipectl.deadletter"));

    let mut dead = Map::with_capacity(9);
    dead.push("reason", Value::from(rejection.reason.as_str()));
    dead.push("error_type", Value::from(rejection.error_type.as_str()));
    if let Some(status) = rejection.status {
        dead.push("status", Value::Int(i64::from(status)));
    }
    dead.push("index", Value::from(rejection.index.as_str()));
    dead.push("id", Value::String(rejection.id.clone()));
    dead.push("kind", Value::from(rejection.kind));
    dead.push("attempts", Value::Int(i64::from(rejection.attempts)));
    dead.push(
        "first_failed",
        Value::from(format_rfc3339(rejection.first_failed).as_str()),
    );
    dead.push(
        "document",
        Value::from(String::from_utf8_lossy(&rejection.document).as_ref()),
    );

    // Sources are named `pipeline.component`; the schema wants the component.
    let source = rejection
        .source
        .strip_prefix(&*origin.pipeline)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(&rejection.source);
    let mut pipectl = Map::with_capacity(4);
    pipectl.push("pipeline", Value::from(&*origin.pipeline));
    pipectl.push("source", Value::from(source));
    pipectl.push("component", Value::from(&*origin.component));
    pipectl.push("deadletter", Value::Object(dead));

    let mut root = Map::with_capacity(3);
    root.push("@timestamp", Value::from(format_rfc3339(now_ms).as_str()));
    root.push("event", Value::Object(event));
    root.push("pipectl", Value::Object(pipectl));
    let mut out = Vec::with_capacity(rejection.document.len() + 512);
    pipectl_core::json::write(&Value::Object(root), &mut out);
    out
}

/// The local dead-letter file, appended to and synced by one writer at a time.
#[derive(Debug, Clone)]
pub struct DeadLetterFile {
    path: Arc<PathBuf>,
    lock: Arc<Mutex<()>>,
}

impl DeadLetterFile {
    pub fn new(path: PathBuf) -> DeadLetterFile {
        DeadLetterFile {
            path: Arc::new(path),
            lock: Arc::new(Mutex::new(())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends NDJSON `lines` (each ending in a newline) and syncs them to disk.
    pub async fn append(&self, lines: Vec<u8>) -> std::io::Result<()> {
        let path = Arc::clone(&self.path);
        let lock = Arc::clone(&self.lock);
        let written = tokio::task::spawn_blocking(move || {
            let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = OpenOptions::new().create(true).append(true).open(&*path)?;
            file.write_all(&lines)?;
            file.sync_data()
        })
        .await;
        written.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::opensearch::encode::Pending;

    fn rejection() -> Rejection {
        Rejection {
            ack: Pending::new(None),
            source: Arc::from("estate.trail"),
            index: "pipectl-events-2026.10.03".into(),
            kind: "events",
            id: Str::from("9b8c"),
            document: br#"{"source":{"ip":"unknown"}}"#.to_vec(),
            reason: "failed to parse field [source.ip]".into(),
            error_type: "mapper_parsing_exception".into(),
            status: Some(400),
            attempts: 1,
            first_failed: 1_759_529_983_000,
        }
    }

    #[test]
    fn records_follow_the_schema() {
        let origin = Origin {
            pipeline: Arc::from("estate"),
            component: Arc::from("search"),
        };
        let r = rejection();
        let id = record_id(&r);
        assert_eq!(id.len(), 32);
        let json = record(&r, &origin, &id, 1_759_529_983_000);
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["@timestamp"], "2025-10-03T22:19:43.000Z");
        assert_eq!(v["event"]["id"], id.as_str());
        assert_eq!(v["event"]["kind"], "pipeline_error");
        assert_eq!(v["event"]["dataset"], "pipectl.deadletter");
        assert_eq!(v["pipectl"]["source"], "trail");
        assert_eq!(v["pipectl"]["component"], "search");
        let d = &v["pipectl"]["deadletter"];
        assert_eq!(d["reason"], "failed to parse field [source.ip]");
        assert_eq!(d["error_type"], "mapper_parsing_exception");
        assert_eq!(d["status"], 400);
        assert_eq!(d["index"], "pipectl-events-2026.10.03");
        assert_eq!(d["id"], "9b8c");
        assert_eq!(d["kind"], "events");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["first_failed"], "2025-10-03T22:19:43.000Z");
        assert_eq!(d["document"], r#"{"source":{"ip":"unknown"}}"#);
    }

    #[tokio::test]
    async fn the_file_is_appended_and_created_with_its_directory() {
        let dir = std::env::temp_dir().join(format!("pipectl-dl-{}", std::process::id()));
        let path = dir.join("a/b/deadletter.ndjson");
        let file = DeadLetterFile::new(path.clone());
        file.append(b"{\"a\":1}\n".to_vec()).await.unwrap();
        file.append(b"{\"b\":2}\n".to_vec()).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
        let full = DeadLetterFile::new(PathBuf::from("/dev/full"));
        assert!(full.append(b"x\n".to_vec()).await.is_err());
    }
}
