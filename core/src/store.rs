//! The embedded state store: one ACID key-value file (redb) under the data directory,
//! shared by every component of the process.
//!
//! Components keep what must survive a restart here — model state, correlator state,
//! checkpoints — so a restart resumes where the last run stopped. Each component writes
//! its own table (named after the pipeline and component), keys are text and values are
//! bytes the component encodes itself.
//!
//! redb lets one process open a database file once, so [`Store::shared`] hands every
//! caller with the same data directory the same open store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use redb::{Database, ReadableTable, TableDefinition, TableError};

/// The file name of the store inside the data directory.
pub const FILE_NAME: &str = "state.redb";

/// A failure of the state store; says which file and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the state store {path}: {message} (is another pipectl process using this data directory?)")]
    Open { path: PathBuf, message: String },
    #[error("state store {path}, table `{table}`: {message}")]
    Table {
        path: PathBuf,
        table: String,
        message: String,
    },
}

/// An open state store.
pub struct Store {
    path: PathBuf,
    db: Database,
}

type Row<'a> = TableDefinition<'a, &'static str, &'static [u8]>;

fn open_stores() -> &'static Mutex<HashMap<PathBuf, Weak<Store>>> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<Store>>>> = OnceLock::new();
    OPEN.get_or_init(|| Mutex::new(HashMap::new()))
}

impl Store {
    /// The store of `data_dir`, opened (and created) on first use and shared by every
    /// component of the process until the last handle is dropped.
    pub fn shared(data_dir: &Path) -> Result<Arc<Store>, StoreError> {
        let mut open = open_stores()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = data_dir.to_path_buf();
        if let Some(store) = open.get(&key).and_then(Weak::upgrade) {
            return Ok(store);
        }
        let store = Arc::new(Store::open(data_dir)?);
        open.retain(|_, weak| weak.strong_count() > 0);
        open.insert(key, Arc::downgrade(&store));
        Ok(store)
    }

    fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|e| StoreError::Open {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(Store { path, db })
    }

    /// Where the store lives on disk.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, table: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Table {
            path: self.path.clone(),
            table: table.to_string(),
            message: e.to_string(),
        }
    }

    /// One row of a table, if present.
    pub fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.error(table, e))?;
        let rows = match txn.open_table(Row::new(table)) {
            Ok(rows) => rows,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.error(table, e)),
        };
        let value = rows.get(key).map_err(|e| self.error(table, e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// Every row of a table in key order; an absent table is empty.
    pub fn scan(&self, table: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.error(table, e))?;
        let rows = match txn.open_table(Row::new(table)) {
            Ok(rows) => rows,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.error(table, e)),
        };
        let mut out = Vec::new();
        for row in rows.iter().map_err(|e| self.error(table, e))? {
            let (key, value) = row.map_err(|e| self.error(table, e))?;
            out.push((key.value().to_string(), value.value().to_vec()));
        }
        Ok(out)
    }

    /// Applies a set of changes to a table in one durable transaction: `Some` writes
    /// the row, `None` deletes it. Either every change lands or none does.
    pub fn write(
        &self,
        table: &str,
        changes: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.error(table, e))?;
        {
            let mut rows = txn
                .open_table(Row::new(table))
                .map_err(|e| self.error(table, e))?;
            for (key, value) in &changes {
                match value {
                    Some(bytes) => {
                        rows.insert(key.as_str(), bytes.as_slice())
                            .map_err(|e| self.error(table, e))?;
                    }
                    None => {
                        rows.remove(key.as_str())
                            .map_err(|e| self.error(table, e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| self.error(table, e))
    }

    /// Removes a whole table (a component that was deleted from the plan).
    pub fn drop_table(&self, table: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.error(table, e))?;
        txn.delete_table(Row::new(table))
            .map_err(|e| self.error(table, e))?;
        txn.commit().map_err(|e| self.error(table, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "pipectl-store-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn rows_survive_reopening() {
        let dir = temp_dir("reopen");
        {
            let store = Store::shared(&dir).unwrap();
            store
                .write(
                    "model/p/m",
                    vec![
                        ("user:a".into(), Some(vec![1, 2, 3])),
                        ("user:b".into(), Some(vec![4])),
                    ],
                )
                .unwrap();
            store
                .write("model/p/m", vec![("user:b".into(), None)])
                .unwrap();
        }
        let store = Store::shared(&dir).unwrap();
        assert_eq!(
            store.scan("model/p/m").unwrap(),
            vec![("user:a".to_string(), vec![1, 2, 3])]
        );
        assert_eq!(
            store.get("model/p/m", "user:a").unwrap(),
            Some(vec![1, 2, 3])
        );
        assert_eq!(store.get("model/p/m", "user:b").unwrap(), None);
        assert!(store.scan("absent").unwrap().is_empty());
        assert_eq!(store.get("absent", "x").unwrap(), None);
        store.drop_table("model/p/m").unwrap();
        assert!(store.scan("model/p/m").unwrap().is_empty());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn one_directory_is_one_shared_store() {
        let dir = temp_dir("shared");
        let a = Store::shared(&dir).unwrap();
        let b = Store::shared(&dir).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        a.write("t", vec![("k".into(), Some(b"v".to_vec()))])
            .unwrap();
        assert_eq!(b.get("t", "k").unwrap(), Some(b"v".to_vec()));
        drop((a, b));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_that_is_not_a_store_is_a_clear_error() {
        let dir = temp_dir("garbage");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE_NAME), b"not a database at all").unwrap();
        let err = Store::shared(&dir).err().unwrap().to_string();
        assert!(err.contains("cannot open the state store"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
