//! A source's checkpoint as one JSON file in its data directory.
//!
//! Sources that resume after a restart (`file` in follow mode, the SaaS API sources)
//! keep their position here. Writes go to a temporary file that is synced and then
//! renamed over the old one, so a crash leaves either the old checkpoint or the new
//! one, never a torn file. A checkpoint that cannot be read or decoded is ignored with
//! a warning: the source then starts as if new, which re-reads rather than loses.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// `checkpoint.json` (and its temporary sibling) in one component's data directory.
pub(crate) struct CheckpointFile {
    file: PathBuf,
    temp: PathBuf,
}

impl CheckpointFile {
    pub fn new(data_dir: &Path) -> CheckpointFile {
        CheckpointFile {
            file: data_dir.join("checkpoint.json"),
            temp: data_dir.join("checkpoint.json.tmp"),
        }
    }

    /// Where the checkpoint lives, for messages.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The stored checkpoint; `None` when there is none or it is unreadable (logged).
    pub async fn load<T: DeserializeOwned>(&self) -> Option<T> {
        let bytes = match tokio::fs::read(&self.file).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(checkpoint = %self.file.display(), error = %e, "cannot read the checkpoint; starting without it");
                return None;
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::warn!(checkpoint = %self.file.display(), error = %e, "the checkpoint is corrupt; starting without it");
                None
            }
        }
    }

    /// Writes `value` atomically: temporary file, synced, then renamed.
    pub async fn save<T: Serialize>(&self, value: &T) -> std::io::Result<()> {
        let text = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        {
            let mut temp = tokio::fs::File::create(&self.temp).await?;
            temp.write_all(&text).await?;
            temp.sync_all().await?;
        }
        tokio::fs::rename(&self.temp, &self.file).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TempDir;

    #[tokio::test]
    async fn round_trips_and_ignores_a_corrupt_file() {
        let dir = TempDir::new("checkpoint");
        let file = CheckpointFile::new(dir.path());
        assert_eq!(file.load::<Vec<u32>>().await, None);
        file.save(&vec![1u32, 2]).await.unwrap();
        assert_eq!(file.load::<Vec<u32>>().await, Some(vec![1, 2]));
        assert!(!dir.path().join("checkpoint.json.tmp").exists());
        std::fs::write(file.path(), b"{not json").unwrap();
        assert_eq!(file.load::<Vec<u32>>().await, None);
    }
}
