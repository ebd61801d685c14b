//! The action journal and the operator channel, both plain files in the responder's
//! data directory (`<data_dir>/<pipeline>/<component>/`):
//!
//! - `actions/<id>.json`: one record per action, rewritten (write to a temporary file,
//!   fsync, rename) at every transition. It holds the state captured for the undo, so it
//!   is on disk before the provider is called.
//! - `decisions/<time>-<id>-<verb>.json`: what a person decided (`approve`, `deny`,
//!   `revert`, `keep`), written by `pipectl actions` and taken by the running responder,
//!   which applies and deletes it.
//!
//! Files rather than the embedded store: redb lets one process open a database, and
//! `pipectl actions` must read the journal and leave decisions while `pipectl run`
//! holds the store. A daemon can keep the same layout (or serve it over its API).

use super::provider::Target;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The journal's directory under a responder's data directory.
pub const ACTIONS_DIR: &str = "actions";
/// The decisions' directory under a responder's data directory.
pub const DECISIONS_DIR: &str = "decisions";

/// The entity the incident was about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityRef {
    pub key: String,
    pub kind: String,
    pub id: String,
}

/// Who approved or denied, when, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// How the action is undone and where the undo stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revert {
    /// The undo action's name, `None` when irreversible.
    pub action: Option<String>,
    pub reversible: bool,
    /// `not_applicable`, `scheduled`, `reverted`, `failed`, `permanent`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    /// What the provider had before the action, captured before acting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<serde_json::Value>,
}

/// One step of an action's life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub at: i64,
    pub status: String,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An action as the journal keeps it: the fields of docs/schema.md §9 (times in
/// milliseconds since the epoch) plus what the audit document needs around them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub id: String,
    pub pipeline: String,
    pub responder: String,
    pub provider: String,
    pub name: String,
    pub mode: String,
    /// `observe`, `queue`, `act`, `suppress`.
    pub decision: String,
    pub status: String,
    pub reason: String,
    pub target: Target,
    pub entity: EntityRef,
    pub incident_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_score: Option<f64>,
    pub requested_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executed_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub permanent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    pub revert: Revert,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub history: Vec<Transition>,
    /// Transitions so far (`pipectl.version`).
    pub version: u64,
}

impl ActionRecord {
    /// Moves to `status`, remembering who did it.
    pub fn transition(&mut self, at: i64, status: &str, by: &str, note: Option<String>) {
        self.status = status.to_string();
        self.version += 1;
        self.history.push(Transition {
            at,
            status: status.to_string(),
            by: by.to_string(),
            note,
        });
    }

    /// The time of the latest transition.
    pub fn updated_at(&self) -> i64 {
        self.history.last().map_or(self.requested_at, |t| t.at)
    }
}

/// A person's decision about one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub action_id: String,
    /// `approve`, `deny`, `revert` (undo now) or `keep` (make permanent: never
    /// reverted on expiry).
    pub verb: String,
    pub by: String,
    /// Milliseconds since the epoch (wall clock of the person's machine).
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The verbs a decision may carry.
pub const VERBS: [&str; 4] = ["approve", "deny", "revert", "keep"];

/// A failure to read or write the journal. The responder stops on it: acting without
/// a durable record of the state to restore is not allowed.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct JournalError {
    pub path: String,
    pub message: String,
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> JournalError {
    JournalError {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The journal of one responder.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

/// Writes `bytes` to `path` so that a reader sees the old or the new content, never a
/// part, and the new content survives a crash once this returns.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(|e| io_error(&tmp, e))?;
    file.write_all(bytes).map_err(|e| io_error(&tmp, e))?;
    file.sync_all().map_err(|e| io_error(&tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))?;
    if let Some(parent) = path.parent() {
        // The rename itself is durable once the directory is synced (Unix).
        if let Ok(dir) = std::fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// Whether `id` can name a file: the ids pipectl makes are 32 hex digits.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

impl Journal {
    /// The journal under a responder's data directory; creates its directories.
    pub fn open(data_dir: &Path) -> Result<Journal, JournalError> {
        for sub in [ACTIONS_DIR, DECISIONS_DIR] {
            let dir = data_dir.join(sub);
            std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        }
        Ok(Journal {
            dir: data_dir.to_path_buf(),
        })
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join(ACTIONS_DIR).join(format!("{id}.json"))
    }

    /// Writes a record durably.
    pub fn save(&self, record: &ActionRecord) -> Result<(), JournalError> {
        let path = self.record_path(&record.id);
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| io_error(&path, e))?;
        write_atomically(&path, &bytes)
    }

    /// Every record, oldest request first. A file that does not parse is an error
    /// (someone edited the journal): better stop than forget an action to undo.
    pub fn load_all(&self) -> Result<Vec<ActionRecord>, JournalError> {
        let dir = self.dir.join(ACTIONS_DIR);
        let mut records = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(records),
            Err(e) => return Err(io_error(&dir, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| io_error(&dir, e))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| io_error(&path, e))?;
            let record: ActionRecord =
                serde_json::from_slice(&bytes).map_err(|e| io_error(&path, e))?;
            records.push(record);
        }
        records.sort_by(|a, b| (a.requested_at, &a.id).cmp(&(b.requested_at, &b.id)));
        Ok(records)
    }

    /// Leaves a decision for the responder (what `pipectl actions` does).
    pub fn submit(&self, decision: &Decision) -> Result<PathBuf, JournalError> {
        let dir = self.dir.join(DECISIONS_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        if !valid_id(&decision.action_id) || !VERBS.contains(&decision.verb.as_str()) {
            return Err(io_error(&dir, "not a valid decision"));
        }
        let path = dir.join(format!(
            "{:020}-{}-{}.json",
            pipectl_core::event::now_ns(),
            decision.action_id,
            decision.verb
        ));
        let bytes = serde_json::to_vec_pretty(decision).map_err(|e| io_error(&path, e))?;
        write_atomically(&path, &bytes)?;
        Ok(path)
    }

    /// The decisions waiting, oldest first, each with its file (to remove once
    /// applied). A file that does not parse is reported and set aside as `.rejected`.
    pub fn pending_decisions(&self) -> Result<Vec<(PathBuf, Decision)>, JournalError> {
        let dir = self.dir.join(DECISIONS_DIR);
        let mut found = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(io_error(&dir, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| io_error(&dir, e))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let parsed = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Decision>(&b).map_err(|e| e.to_string()));
            match parsed {
                Ok(decision) => found.push((path, decision)),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "unreadable decision set aside");
                    let _ = std::fs::rename(&path, path.with_extension("rejected"));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    /// Removes an applied (or refused) decision.
    pub fn done(&self, path: &Path) -> Result<(), JournalError> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(path, e)),
        }
    }
}

/// Every responder journal under a `pipectl run` data directory:
/// `(pipeline dir, component dir, journal)`, sorted.
pub fn discover(data_dir: &Path) -> Vec<(String, String, Journal)> {
    let mut found = Vec::new();
    let Ok(pipelines) = std::fs::read_dir(data_dir) else {
        return found;
    };
    for pipeline in pipelines.flatten() {
        let Ok(components) = std::fs::read_dir(pipeline.path()) else {
            continue;
        };
        for component in components.flatten() {
            if component.path().join(ACTIONS_DIR).is_dir() {
                found.push((
                    pipeline.file_name().to_string_lossy().into_owned(),
                    component.file_name().to_string_lossy().into_owned(),
                    Journal {
                        dir: component.path(),
                    },
                ));
            }
        }
    }
    found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    found
}
