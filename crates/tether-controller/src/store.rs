//! The embedded store of file mode: each Application as last reconciled (spec, pending
//! `operation`, `status` with history), and an append-only audit log.
//!
//! It is a [redb] file opened with [`ConcurrencyMode::SingleWriter`]: `tether run` writes it and
//! any number of other processes may open it read-only ([`Store::open_read_only`]) while it runs.
//! Every write is one short transaction.

use std::path::Path;

use redb::{
    ConcurrencyMode, Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableDefinition,
};
use serde::{Deserialize, Serialize};
use tether_model::Application;
use tether_model::application::Operation;

const APPS: TableDefinition<&str, &str> = TableDefinition::new("applications");
const AUDIT: TableDefinition<u64, &str> = TableDefinition::new("audit");

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[error("store `{path}`: {message}")]
pub struct StoreError {
    path: String,
    message: String,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Sequence number, from 1.
    #[serde(default)]
    pub seq: u64,
    /// RFC 3339 time.
    pub time: String,
    /// The Application.
    pub app: String,
    /// `OperationStarted`, `OperationCompleted`, `AutoSync`, `Rollback`, `ComparisonError`, ...
    pub reason: String,
    /// Who: `automated` or a user name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub initiated_by: String,
    pub message: String,
}

enum Db {
    Rw(Database),
    Ro(ReadOnlyDatabase),
}

/// The store.
pub struct Store {
    db: Db,
    path: String,
}

/// redb's page cache (read and write) for the writer.
const CACHE_SIZE: usize = 4 << 20;

impl Store {
    /// Opens (creating it if needed) the store for writing. One writer process at a time.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let p = path.display().to_string();
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| err(&p, e))?;
        }
        let db = Database::builder()
            .set_concurrency_mode(ConcurrencyMode::SingleWriter)
            // redb caches up to 1 GiB of pages by default; the store is written a page at a
            // time and read at start, so a few MiB do.
            .set_cache_size(CACHE_SIZE)
            .create(path)
            .map_err(|e| err(&p, e))?;
        let store = Self {
            db: Db::Rw(db),
            path: p,
        };
        // Create the tables so that read-only openers find them.
        store.write(|txn| {
            txn.open_table(APPS)?;
            txn.open_table(AUDIT)?;
            Ok(())
        })?;
        Ok(store)
    }

    /// Opens an existing store read-only, alongside the writer.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let p = path.display().to_string();
        let db = Database::builder()
            .set_concurrency_mode(ConcurrencyMode::SingleWriter)
            .open_read_only(path)
            .map_err(|e| err(&p, e))?;
        Ok(Self {
            db: Db::Ro(db),
            path: p,
        })
    }

    fn write(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), StoreError> {
        let Db::Rw(db) = &self.db else {
            return Err(err(&self.path, "opened read-only"));
        };
        let txn = db.begin_write().map_err(|e| err(&self.path, e))?;
        f(&txn).map_err(|e| err(&self.path, e))?;
        txn.commit().map_err(|e| err(&self.path, e))
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        let txn = match &self.db {
            Db::Rw(db) => db.begin_read(),
            Db::Ro(db) => db.begin_read(),
        }
        .map_err(|e| err(&self.path, e))?;
        f(&txn).map_err(|e| err(&self.path, e))
    }

    /// Saves an Application (spec, operation and status).
    pub fn put_app(&self, app: &Application) -> Result<(), StoreError> {
        let name = app.metadata.name.clone().unwrap_or_default();
        let json = serde_json::to_string(app).map_err(|e| err(&self.path, e))?;
        self.write(|txn| {
            txn.open_table(APPS)?.insert(name.as_str(), json.as_str())?;
            Ok(())
        })
    }

    /// Removes an Application.
    pub fn delete_app(&self, name: &str) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(APPS)?.remove(name)?;
            Ok(())
        })
    }

    /// One Application as last saved.
    pub fn get_app(&self, name: &str) -> Result<Option<Application>, StoreError> {
        let json = self.read(|txn| {
            let t = txn.open_table(APPS)?;
            Ok(t.get(name)?.map(|v| v.value().to_owned()))
        })?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| err(&self.path, e)))
            .transpose()
    }

    /// Every saved Application, by name.
    pub fn apps(&self) -> Result<Vec<Application>, StoreError> {
        let all = self.read(|txn| {
            let t = txn.open_table(APPS)?;
            let mut out = Vec::new();
            for row in t.iter()? {
                let (_, v) = row?;
                out.push(v.value().to_owned());
            }
            Ok(out)
        })?;
        all.iter()
            .map(|j| serde_json::from_str(j).map_err(|e| err(&self.path, e)))
            .collect()
    }

    /// Appends to the audit log; returns the entry's sequence number.
    pub fn audit(&self, mut entry: AuditEntry) -> Result<u64, StoreError> {
        let mut seq = 0;
        self.write(|txn| {
            let mut t = txn.open_table(AUDIT)?;
            seq = t.last()?.map(|(k, _)| k.value()).unwrap_or(0) + 1;
            entry.seq = seq;
            let json = serde_json::to_string(&entry).unwrap_or_default();
            t.insert(seq, json.as_str())?;
            Ok(())
        })?;
        Ok(seq)
    }

    /// The audit log, oldest first, optionally for one app, at most `limit` latest entries.
    pub fn audit_log(
        &self,
        app: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut out = self.read(|txn| {
            let t = txn.open_table(AUDIT)?;
            let mut out = Vec::new();
            for row in t.iter()?.rev() {
                let (_, v) = row?;
                if let Ok(e) = serde_json::from_str::<AuditEntry>(v.value())
                    && app.is_none_or(|a| a == e.app)
                {
                    out.push(e);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })?;
        out.reverse();
        Ok(out)
    }
}

#[async_trait::async_trait]
impl crate::backend::AppWriter for Store {
    fn restore(&self, name: &str) -> Option<Application> {
        self.get_app(name).ok().flatten()
    }
    fn save(&self, app: &Application) {
        if let Err(e) = self.put_app(app) {
            tracing::warn!(app = app.metadata.name.as_deref(), "saving status: {e}");
        }
    }
    async fn write_operation(&self, app: &Application) -> Result<(), String> {
        self.put_app(app).map_err(|e| e.to_string())
    }
    async fn current_operation(&self, app: &Application) -> Result<Option<Operation>, String> {
        Ok(app.operation.clone())
    }
    async fn refreshed(&self, _: &Application) -> bool {
        false
    }
    async fn remove_finalizers(&self, _: &Application, _: &[String]) -> Result<(), String> {
        Ok(())
    }
    fn forget(&self, name: &str) {
        if let Err(e) = self.delete_app(name) {
            tracing::warn!(app = name, "removing from the store: {e}");
        }
    }
    fn audit(&self, entry: AuditEntry) {
        if let Err(e) = Store::audit(self, entry) {
            tracing::warn!("audit log: {e}");
        }
    }
    fn audit_log(&self, app: Option<&str>, limit: usize) -> Vec<AuditEntry> {
        Store::audit_log(self, app, limit).unwrap_or_default()
    }
}

fn err(path: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_model::ApplicationSpec;

    #[test]
    fn apps_and_audit_round_trip_and_read_only_alongside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/tether.redb");
        let store = Store::open(&path).unwrap();
        let mut app = Application::new("guestbook", ApplicationSpec::default());
        app.spec.project = "default".into();
        store.put_app(&app).unwrap();
        for i in 0..3 {
            store
                .audit(AuditEntry {
                    seq: 0,
                    time: "2026-01-01T00:00:00Z".into(),
                    app: if i == 1 { "other" } else { "guestbook" }.into(),
                    reason: "OperationStarted".into(),
                    initiated_by: "automated".into(),
                    message: format!("m{i}"),
                })
                .unwrap();
        }
        // A second handle, read-only, while the writer is open.
        let ro = Store::open_read_only(&path).unwrap();
        assert_eq!(ro.get_app("guestbook").unwrap(), Some(app.clone()));
        assert_eq!(ro.apps().unwrap().len(), 1);
        let log = ro.audit_log(Some("guestbook"), 10).unwrap();
        assert_eq!(
            log.iter()
                .map(|e| (e.seq, e.message.as_str()))
                .collect::<Vec<_>>(),
            [(1, "m0"), (3, "m2")]
        );
        assert_eq!(ro.audit_log(None, 1).unwrap()[0].seq, 3);
        assert!(ro.put_app(&app).is_err());
        // The writer's later commits are visible to the reader.
        store.delete_app("guestbook").unwrap();
        assert_eq!(ro.get_app("guestbook").unwrap(), None);
    }
}
