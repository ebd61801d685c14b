//! The correlator's state in the state store, so that a restart (or an apply that
//! restarts the stage) continues open incidents — same id, next version — instead of
//! forgetting their evidence and opening new ones.
//!
//! Table `correlate/<pipeline>/<component>`: one row per entity (`e:<entity key>`, the
//! JSON of its indicators and incident) and one for the clocks (`clock`). A snapshot
//! writes the entities changed since the last one and deletes the forgotten ones, in
//! one transaction. A row that does not decode is skipped with a warning (that entity
//! starts afresh); the rest is restored.

use super::{EntityState, ThreatCorrelator};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// The table of a correlation stage.
pub fn table(pipeline: &str, component: &str) -> String {
    format!("correlate/{pipeline}/{component}")
}

const CLOCK_ROW: &str = "clock";

#[derive(Serialize, Deserialize)]
struct Clock {
    watermark: i64,
    clock: u64,
}

impl ThreatCorrelator {
    /// Loads the rows of `table`; returns how many entities were restored.
    pub fn restore(&mut self, store: &Store, table: &str) -> Result<usize, StoreError> {
        let mut restored = 0;
        for (key, bytes) in store.scan(table)? {
            if key == CLOCK_ROW {
                match serde_json::from_slice::<Clock>(&bytes) {
                    Ok(c) => {
                        self.watermark = c.watermark;
                        self.clock = c.clock;
                    }
                    Err(e) => {
                        tracing::warn!(table, error = %e, "the correlator's clock row does not decode; keeping a fresh clock")
                    }
                }
                continue;
            }
            let Some(entity) = key.strip_prefix("e:") else {
                self.forgotten.insert(key);
                continue;
            };
            match serde_json::from_slice::<EntityState>(&bytes) {
                Ok(state) if self.entities.len() < self.opts.max_entities => {
                    self.entities.insert(entity.to_string(), state);
                    restored += 1;
                }
                Ok(_) => {
                    self.forgotten.insert(entity.to_string());
                }
                Err(e) => {
                    tracing::warn!(table, entity, error = %e, "a correlator row does not decode; that entity starts afresh");
                    self.forgotten.insert(entity.to_string());
                }
            }
        }
        Ok(restored)
    }

    /// Writes what changed since the last snapshot; nothing when nothing did.
    pub fn snapshot(&mut self, store: &Store, table: &str) -> Result<(), StoreError> {
        if self.changed.is_empty() && self.forgotten.is_empty() {
            return Ok(());
        }
        let mut rows: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        for key in &self.changed {
            if let Some(state) = self.entities.get(key) {
                let bytes = serde_json::to_vec(state).map_err(|e| StoreError::Table {
                    path: store.path().to_path_buf(),
                    table: table.to_string(),
                    message: format!("cannot encode the state of {key}: {e}"),
                })?;
                rows.push((format!("e:{key}"), Some(bytes)));
            }
        }
        rows.extend(self.forgotten.iter().map(|k| (format!("e:{k}"), None)));
        let clock = Clock {
            watermark: self.watermark,
            clock: self.clock,
        };
        rows.push((
            CLOCK_ROW.to_string(),
            Some(serde_json::to_vec(&clock).unwrap_or_default()),
        ));
        store.write(table, rows)?;
        self.changed.clear();
        self.forgotten.clear();
        Ok(())
    }
}
