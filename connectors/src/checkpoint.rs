//! A source's checkpoint, kept in the state store of its data directory.
//!
//! Sources that resume after a restart (`file` in follow mode, the S3 prefix scan, the
//! SaaS API sources) keep their position here, as JSON in the row `position` of the
//! table `checkpoint`: one durable store per data directory (core::store), like model
//! and correlator state, so a backup of the data directory holds everything and a
//! write is atomic (a crash leaves the old checkpoint or the new one, never a torn
//! one). A checkpoint that cannot be read or decoded is ignored with a warning: the
//! source then starts as if new, which re-reads rather than loses.

use pipectl_core::store::Store;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

const TABLE: &str = "checkpoint";
const ROW: &str = "position";

/// The checkpoint of one component, in the store of its data directory.
pub(crate) struct CheckpointStore {
    data_dir: PathBuf,
    store: OnceLock<Arc<Store>>,
}

impl CheckpointStore {
    pub fn new(data_dir: &Path) -> CheckpointStore {
        CheckpointStore {
            data_dir: data_dir.to_path_buf(),
            store: OnceLock::new(),
        }
    }

    /// Where the checkpoint lives, for messages.
    pub fn path(&self) -> PathBuf {
        self.data_dir.join(pipectl_core::store::FILE_NAME)
    }

    /// The store, opened on first use and kept open.
    fn store(&self) -> std::io::Result<Arc<Store>> {
        if let Some(store) = self.store.get() {
            return Ok(Arc::clone(store));
        }
        let store = Store::shared(&self.data_dir).map_err(std::io::Error::other)?;
        Ok(Arc::clone(self.store.get_or_init(|| store)))
    }

    /// The stored checkpoint; `None` when there is none or it is unreadable (logged).
    pub async fn load<T: DeserializeOwned>(&self) -> Option<T> {
        let bytes = match self.read().await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(checkpoint = %self.path().display(), error = %e, "cannot read the checkpoint; starting without it");
                return None;
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::warn!(checkpoint = %self.path().display(), error = %e, "the checkpoint is corrupt; starting without it");
                None
            }
        }
    }

    async fn read(&self) -> std::io::Result<Option<Vec<u8>>> {
        let store = self.store()?;
        tokio::task::spawn_blocking(move || store.get(TABLE, ROW).map_err(std::io::Error::other))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Writes `value` in one durable transaction.
    pub async fn save<T: Serialize>(&self, value: &T) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        let store = self.store()?;
        tokio::task::spawn_blocking(move || {
            store
                .write(TABLE, vec![(ROW.to_string(), Some(bytes))])
                .map_err(std::io::Error::other)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

/// The stored checkpoint of `data_dir` as text, for tests that check what a source
/// saved.
#[cfg(test)]
pub(crate) fn stored_text(data_dir: &Path) -> Option<String> {
    let store = Store::shared(data_dir).ok()?;
    let bytes = store.get(TABLE, ROW).ok()??;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TempDir;

    #[tokio::test]
    async fn round_trips_and_ignores_a_corrupt_row() {
        let dir = TempDir::new("checkpoint");
        let checkpoint = CheckpointStore::new(dir.path());
        assert_eq!(checkpoint.load::<Vec<u32>>().await, None);
        checkpoint.save(&vec![1u32, 2]).await.unwrap();
        assert_eq!(checkpoint.load::<Vec<u32>>().await, Some(vec![1, 2]));
        assert_eq!(stored_text(dir.path()).as_deref(), Some("[1,2]"));
        checkpoint
            .store()
            .unwrap()
            .write(TABLE, vec![(ROW.to_string(), Some(b"{not json".to_vec()))])
            .unwrap();
        assert_eq!(checkpoint.load::<Vec<u32>>().await, None);
        checkpoint.save(&vec![3u32]).await.unwrap();
        assert_eq!(checkpoint.load::<Vec<u32>>().await, Some(vec![3]));
    }

    #[tokio::test]
    async fn a_reopened_store_holds_the_last_checkpoint() {
        let dir = TempDir::new("checkpoint-reopen");
        {
            let checkpoint = CheckpointStore::new(dir.path());
            checkpoint.save(&"after-key-7").await.unwrap();
        }
        let again = CheckpointStore::new(dir.path());
        assert_eq!(again.load::<String>().await.as_deref(), Some("after-key-7"));
    }
}
