//! The daemon's revisions in the state store: every applied plan with where it came
//! from, who applied it and when, and which revision runs.
//!
//! One table, `daemon/revisions`: a row per revision (key `r` + the zero-padded
//! number, so rows sort by number) and the row `current`. Recording a revision and
//! making it current is one transaction.

use super::api::RevisionSummary;
use pipectl_core::store::{Store, StoreError};
use pipectl_dsl::plan::Plan;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const TABLE: &str = "daemon/revisions";
const CURRENT: &str = "current";

/// A stored revision: its summary and the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revision {
    #[serde(flatten)]
    pub summary: RevisionSummary,
    pub plan: Plan,
}

/// Reading and recording revisions.
pub struct History {
    store: Arc<Store>,
}

/// A failure of the history: the store's, or a row that does not decode.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("revision row `{key}` does not decode: {message}")]
    Decode { key: String, message: String },
}

fn key(revision: u64) -> String {
    format!("r{revision:020}")
}

impl History {
    pub fn new(store: Arc<Store>) -> History {
        History { store }
    }

    /// The number of the revision that runs.
    pub fn current_number(&self) -> Result<Option<u64>, HistoryError> {
        let Some(bytes) = self.store.get(TABLE, CURRENT)? else {
            return Ok(None);
        };
        String::from_utf8_lossy(&bytes)
            .parse()
            .map(Some)
            .map_err(|e: std::num::ParseIntError| HistoryError::Decode {
                key: CURRENT.into(),
                message: e.to_string(),
            })
    }

    /// The revision that runs.
    pub fn current(&self) -> Result<Option<Revision>, HistoryError> {
        match self.current_number()? {
            Some(n) => self.get(n),
            None => Ok(None),
        }
    }

    /// One revision.
    pub fn get(&self, revision: u64) -> Result<Option<Revision>, HistoryError> {
        let key = key(revision);
        match self.store.get(TABLE, &key)? {
            Some(bytes) => decode(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Every revision, oldest first.
    pub fn list(&self) -> Result<Vec<Revision>, HistoryError> {
        self.store
            .scan(TABLE)?
            .into_iter()
            .filter(|(key, _)| key.starts_with('r'))
            .map(|(key, bytes)| decode(&key, &bytes))
            .collect()
    }

    /// The number the next revision gets.
    pub fn next_number(&self) -> Result<u64, HistoryError> {
        Ok(self.list()?.last().map_or(1, |r| r.summary.revision + 1))
    }

    /// Records a revision and makes it current, in one transaction.
    pub fn record(&self, revision: &Revision) -> Result<(), HistoryError> {
        let bytes = serde_json::to_vec(revision).map_err(|e| HistoryError::Decode {
            key: key(revision.summary.revision),
            message: e.to_string(),
        })?;
        self.store.write(
            TABLE,
            vec![
                (key(revision.summary.revision), Some(bytes)),
                (
                    CURRENT.to_string(),
                    Some(revision.summary.revision.to_string().into_bytes()),
                ),
            ],
        )?;
        Ok(())
    }
}

fn decode(key: &str, bytes: &[u8]) -> Result<Revision, HistoryError> {
    serde_json::from_slice(bytes).map_err(|e| HistoryError::Decode {
        key: key.to_string(),
        message: e.to_string(),
    })
}
