//! The PostgreSQL engine: one database shared by every server replica, migrations embedded in the binary.
//!
//! Unlike SQLite there are many writers, in many processes, so the read-decide-write sequences (rate
//! control, claims, registration limits) are made atomic with row locks, not a process-wide writer lock.
//! Every write is one transaction at PostgreSQL's default READ COMMITTED isolation. The lock order, which
//! keeps these transactions free of deadlocks, is:
//!
//! 1. `commands` rows, `SELECT … FOR UPDATE`, in `command_id` order when a transaction takes several;
//! 2. then the `invocations` rows of those commands (by updating them, or `FOR UPDATE`).
//!
//! The one exception is `claim`, which locks invocations with `SKIP LOCKED` and then never waits for a
//! command row it does not already hold (see `lifecycle.rs`). Connections are plain TCP: sqlx's TLS
//! features are not enabled, so the database is expected on loopback or a private network.
//! This is not a place for business rules: those are `fleetrun-core`'s, as in the SQLite engine.

mod automation;
mod commands;
mod documents;
mod inventory;
mod lifecycle;
mod parameters;
mod upkeep;

use crate::{Result, StoreError};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

/// The PostgreSQL implementation of [`crate::Store`]. Cloning shares the pool.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    // Identifies this process's announcements, so that it ignores its own notifications.
    origin: String,
}

/// The LISTEN/NOTIFY channel of wake-ups between replicas; payload `<origin>:<instance id>`.
const WAKE_CHANNEL: &str = "fleetrun_wake";

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/database`) with a pool of connections and runs the
    /// migrations. Replicas starting together are safe: sqlx holds an advisory lock while it migrates.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, 16).await
    }

    /// Like [`PgStore::connect`], with a chosen pool size.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(db)?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await.map_err(db)?;
        let origin = format!(
            "{:016x}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
                ^ u128::from(std::process::id())
        );
        Ok(Self { pool, origin })
    }

    /// Closes the pool's connections (waiting for the ones in use to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
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

crate::forward::impl_store!(PgStore, {
    async fn announce(&self, instance_ids: &[String]) -> Result<()> {
        for id in instance_ids {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(WAKE_CHANNEL)
                .bind(format!("{}:{id}", self.origin))
                .execute(&self.pool)
                .await
                .map_err(db)?;
        }
        Ok(())
    }
    async fn announcements(&self) -> Result<Option<tokio::sync::mpsc::Receiver<String>>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await.map_err(db)?;
        listener.listen(WAKE_CHANNEL).await.map_err(db)?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let own = format!("{}:", self.origin);
        tokio::spawn(async move {
            loop {
                // `recv` reconnects by itself after a lost connection; notifications sent meanwhile are
                // lost, which costs at most one poll interval (agents re-poll at least every poll wait).
                match listener.recv().await {
                    Ok(notification) => {
                        let payload = notification.payload();
                        if payload.starts_with(&own) {
                            continue;
                        }
                        let Some((_, id)) = payload.split_once(':') else { continue };
                        if tx.send(id.to_string()).await.is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "The wake-up listener lost its connection; reconnecting.");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Some(rx))
    }
    fn shared(&self) -> bool {
        true
    }
});
