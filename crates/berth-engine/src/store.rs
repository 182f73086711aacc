//! The embedded, crash-safe state store (redb): one table per kind of record, JSON values.
//!
//! Every mutation is one redb write transaction, so a crash leaves either the old or the new
//! record, never a torn one.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

/// The kinds of record berth keeps.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Containers,
    Images,
    Networks,
    Endpoints,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Containers,
        Kind::Images,
        Kind::Networks,
        Kind::Endpoints,
    ];

    fn table(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(match self {
            Kind::Containers => "containers",
            Kind::Images => "images",
            Kind::Networks => "networks",
            Kind::Endpoints => "endpoints",
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("state store: {0}")]
pub struct StoreError(String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

const CACHE_BYTES: usize = 4 << 20;

pub struct Store {
    db: Database,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // redb caches up to 1 GiB by default; berth reads its state once at startup and then
        // only writes, so a small cache keeps berthd's memory from growing with the number of
        // containers it has seen.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| StoreError(format!("open {}: {e}", path.display())))?;
        let tx = db.begin_write().map_err(err)?;
        for k in Kind::ALL {
            tx.open_table(k.table()).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(Store { db })
    }

    pub fn put<T: Serialize>(&self, kind: Kind, key: &str, value: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(err)?;
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut t = tx.open_table(kind.table()).map_err(err)?;
            t.insert(key, bytes.as_slice()).map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    pub fn delete(&self, kind: Kind, key: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut t = tx.open_table(kind.table()).map_err(err)?;
            t.remove(key).map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// All records of a kind. Records that no longer parse are skipped with a warning rather
    /// than failing the whole load.
    pub fn list<T: DeserializeOwned>(&self, kind: Kind) -> Result<Vec<(String, T)>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(kind.table()).map_err(err)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(err)? {
            let (k, v) = row.map_err(err)?;
            match serde_json::from_slice(v.value()) {
                Ok(val) => out.push((k.value().to_string(), val)),
                Err(e) => {
                    tracing::warn!(key = k.value(), "skipping unreadable {kind:?} record: {e}")
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.redb");
        {
            let s = Store::open(&p).unwrap();
            s.put(Kind::Images, "a", &vec![1, 2]).unwrap();
            s.put(Kind::Images, "b", &vec![3]).unwrap();
            s.delete(Kind::Images, "b").unwrap();
        }
        let s = Store::open(&p).unwrap();
        let rows: Vec<(String, Vec<i32>)> = s.list(Kind::Images).unwrap();
        assert_eq!(rows, vec![("a".to_string(), vec![1, 2])]);
    }
}
