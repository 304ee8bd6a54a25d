//! The SQLite engine: one database file (WAL mode), migrations embedded in the binary.
//!
//! SQLite has one writer at a time, so every lifecycle transaction is `BEGIN IMMEDIATE`: it takes the write
//! lock up front, which makes read-decide-write sequences (rate control, claims) atomic without row locks.

mod automation;
mod commands;
mod documents;
mod inventory;
mod lifecycle;
mod parameters;
mod upkeep;

use crate::{Result, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqlitePool, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// The SQLite implementation of [`crate::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    // Invariant: held for the whole life of every write transaction. SQLite has one writer anyway;
    // queueing writers here wakes them in order instead of letting them race for the database lock and
    // sleep in SQLite's busy handler (which showed up as most of a 100-node fan-out's latency).
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction and this process's writer lock, released together.
pub(crate) struct WriteTx {
    tx: Transaction<'static, sqlx::Sqlite>,
    _writer: tokio::sync::OwnedMutexGuard<()>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::SqliteConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs the migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(db)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options, 8).await
    }

    /// A private in-memory database (one connection, so every query sees the same data). For tests.
    pub async fn memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").map_err(db)?.foreign_keys(true);
        Self::connect(options, 1).await
    }

    async fn connect(options: SqliteConnectOptions, max_connections: u32) -> Result<Self> {
        let pool = SqlitePoolOptions::new().max_connections(max_connections).connect_with(options).await.map_err(db)?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await.map_err(db)?;
        Ok(Self { pool, writer: Default::default() })
    }

    /// Starts a write transaction that holds SQLite's write lock from its first statement.
    async fn write(&self) -> Result<WriteTx> {
        let writer = self.writer.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        Ok(WriteTx { tx, _writer: writer })
    }
}

pub(crate) fn db(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Database(Box::new(error))
}

/// Maps a unique-constraint violation to AlreadyExists, anything else to Database.
pub(crate) fn unique(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |error| match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => StoreError::AlreadyExists(what.to_string()),
        _ => db(error),
    }
}

use crate::*;

crate::forward::impl_store!(SqliteStore, {});
