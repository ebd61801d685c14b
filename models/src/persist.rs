//! Snapshots of the model in the state store, and restoring them at build.
//!
//! Table `model/<pipeline>/<component>`: one row per entity (`e:<kind>:<id>`), one per
//! peer group (`g:<id>`) and one for the organisation and the model's clock (`o`),
//! each the bincode of its state. A snapshot writes only what changed since the last
//! one (and deletes evicted rows) in one transaction. A row that does not decode, or
//! does not fit the configured features, is skipped with a warning; a changed feature
//! list, or a build that saves its state differently, starts the model afresh (the old
//! rows are deleted at the next snapshot).

use crate::model::Model;
use crate::state::{EntityState, SharedState};
use pipectl_core::store::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// The layout of the saved state: a build that changes it starts afresh rather than
/// reading rows it would misread.
const STATE_VERSION: u32 = 2;

/// The organisation's row: its state and the model's clock.
#[derive(Serialize, Deserialize)]
struct OrgRow {
    fingerprint: String,
    watermark: i64,
    next_sweep: i64,
    next_group: u64,
    org: SharedState,
}

/// The table of a model stage.
pub fn table(pipeline: &str, component: &str) -> String {
    format!("model/{pipeline}/{component}")
}

impl Model {
    /// What the persisted state depends on: the features and where peers come from.
    fn fingerprint(&self) -> String {
        let mut parts: Vec<String> = self.opts.features.iter().map(|f| f.text.clone()).collect();
        parts.push(format!("state={STATE_VERSION}"));
        parts.push(match &self.opts.peers {
            Some(p) => format!("peers={p}"),
            None => "peers=learned".into(),
        });
        parts.join("\u{1f}")
    }

    /// Loads the rows of `table`; returns how many entities were restored.
    pub fn restore(&mut self, store: &Store, table: &str) -> Result<usize, StoreError> {
        let rows = store.scan(table)?;
        let Some((_, org_bytes)) = rows.iter().find(|(k, _)| k == "o") else {
            // Nothing usable without the clock: rows left by an interrupted first run.
            self.deleted.extend(rows.into_iter().map(|(k, _)| k));
            return Ok(0);
        };
        let org: Option<OrgRow> = bincode::deserialize(org_bytes).ok();
        let Some(mut org) = org.filter(|o| o.fingerprint == self.fingerprint()) else {
            tracing::warn!(
                table,
                "model state was saved by another version or for other features (or does not decode); starting afresh"
            );
            self.deleted.extend(rows.into_iter().map(|(k, _)| k));
            return Ok(0);
        };
        if !org.org.restore(&self.opts.features) {
            tracing::warn!(
                table,
                "the organisation's model state does not fit; starting afresh"
            );
            self.deleted.extend(rows.into_iter().map(|(k, _)| k));
            return Ok(0);
        }
        self.watermark = org.watermark;
        self.next_sweep = org.next_sweep;
        self.next_group = org.next_group;
        self.org = org.org;
        let mut restored = 0;
        for (key, bytes) in rows {
            if let Some(entity_key) = key.strip_prefix("e:") {
                match bincode::deserialize::<EntityState>(&bytes) {
                    Ok(e) if e.fits(&self.opts.features) && e.key() == entity_key => {
                        let mut e = e;
                        e.dirty = false;
                        self.insert_entity(e);
                        restored += 1;
                    }
                    _ => {
                        tracing::warn!(table, row = %key, "skipping a model state row that does not decode");
                        self.deleted.push(key);
                    }
                }
            } else if let Some(group) = key.strip_prefix("g:") {
                let decoded = bincode::deserialize::<SharedState>(&bytes)
                    .ok()
                    .and_then(|mut g| g.restore(&self.opts.features).then_some(g));
                match decoded {
                    Some(mut g) => {
                        g.dirty = false;
                        self.groups.insert(group.to_string(), g);
                    }
                    _ => {
                        tracing::warn!(table, row = %key, "skipping a peer group row that does not decode");
                        self.deleted.push(key);
                    }
                }
            }
        }
        self.org.dirty = false;
        self.rebuild_windows();
        Ok(restored)
    }

    /// The mean size of an entity's encoded row, in bytes (for sizing the store).
    pub fn mean_encoded_entity_size(&self) -> usize {
        let sizes: Vec<usize> = self
            .entities
            .values()
            .filter_map(|e| bincode::serialized_size(e).ok())
            .map(|n| n as usize)
            .collect();
        sizes.iter().sum::<usize>() / sizes.len().max(1)
    }

    /// Writes what changed since the last snapshot; returns the rows written.
    pub fn snapshot(&mut self, store: &Store, table: &str) -> Result<usize, StoreError> {
        let mut changes: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        for key in &self.deleted {
            changes.push((key.clone(), None));
        }
        let encode = |what: &str, r: Result<Vec<u8>, bincode::Error>| match r {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::warn!(row = what, error = %e, "cannot encode model state");
                None
            }
        };
        for e in self.entities.values() {
            if e.dirty {
                let row = format!("e:{}", e.key());
                let bytes = encode(&row, bincode::serialize(e));
                changes.push((row, bytes));
            }
        }
        for (id, g) in &self.groups {
            if g.dirty {
                let row = format!("g:{id}");
                let bytes = encode(&row, bincode::serialize(g));
                changes.push((row, bytes));
            }
        }
        let org = OrgRow {
            fingerprint: self.fingerprint(),
            watermark: self.watermark,
            next_sweep: self.next_sweep,
            next_group: self.next_group,
            org: self.org.clone(),
        };
        changes.push(("o".into(), encode("o", bincode::serialize(&org))));
        // A row that failed to encode is left out rather than deleted.
        changes.retain(|(k, v)| v.is_some() || self.deleted.contains(k));
        let written = changes.len();
        store.write(table, changes)?;
        self.deleted.clear();
        self.entities.values_mut().for_each(|e| e.dirty = false);
        self.groups.values_mut().for_each(|g| g.dirty = false);
        self.org.dirty = false;
        Ok(written)
    }
}
