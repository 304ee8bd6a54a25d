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

mod commands;
mod documents;
mod inventory;
mod lifecycle;

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

#[async_trait::async_trait]
impl Store for PgStore {
    async fn insert_access_key(&self, key: &AccessKey) -> Result<()> {
        self.insert_access_key_impl(key).await
    }
    async fn get_access_key(&self, id: &str) -> Result<Option<AccessKey>> {
        self.get_access_key_impl(id).await
    }
    async fn list_access_keys(&self) -> Result<Vec<AccessKey>> {
        self.list_access_keys_impl().await
    }
    async fn delete_access_key(&self, id: &str) -> Result<()> {
        self.delete_access_key_impl(id).await
    }
    async fn create_activation(&self, a: &Activation) -> Result<()> {
        self.create_activation_impl(a).await
    }
    async fn list_activations(&self) -> Result<Vec<Activation>> {
        self.list_activations_impl().await
    }
    async fn delete_activation(&self, id: &str) -> Result<()> {
        self.delete_activation_impl(id).await
    }
    async fn register_node(&self, r: &Registration) -> Result<Node> {
        self.register_node_impl(r).await
    }
    async fn get_node(&self, id: &str) -> Result<Option<Node>> {
        self.get_node_impl(id).await
    }
    async fn list_nodes(&self) -> Result<Vec<Node>> {
        self.list_nodes_impl().await
    }
    async fn touch_node(&self, id: &str, now_ms: i64, info: Option<&NodeFacts>) -> Result<()> {
        self.touch_node_impl(id, now_ms, info).await
    }
    async fn deregister_node(&self, id: &str, now_ms: i64) -> Result<Vec<String>> {
        self.deregister_node_impl(id, now_ms).await
    }
    async fn add_tags(&self, rtype: &str, rid: &str, tags: &[(String, String)]) -> Result<()> {
        self.add_tags_impl(rtype, rid, tags).await
    }
    async fn remove_tags(&self, rtype: &str, rid: &str, keys: &[String]) -> Result<()> {
        self.remove_tags_impl(rtype, rid, keys).await
    }
    async fn list_tags(&self, rtype: &str, rid: &str) -> Result<Vec<(String, String)>> {
        self.list_tags_impl(rtype, rid).await
    }
    async fn create_document(&self, d: &NewDocument) -> Result<DocumentVersion> {
        self.create_document_impl(d).await
    }
    async fn add_document_version(&self, name: &str, v: &NewDocumentVersion) -> Result<DocumentVersion> {
        self.add_document_version_impl(name, v).await
    }
    async fn upsert_builtin_document(&self, d: &NewDocument) -> Result<()> {
        self.upsert_builtin_document_impl(d).await
    }
    async fn get_document(&self, name: &str, sel: VersionSelector<'_>) -> Result<Option<DocumentVersion>> {
        self.get_document_impl(name, sel).await
    }
    async fn list_documents(&self) -> Result<Vec<DocumentVersion>> {
        self.list_documents_impl().await
    }
    async fn list_document_versions(&self, name: &str) -> Result<Vec<DocumentVersion>> {
        self.list_document_versions_impl(name).await
    }
    async fn set_default_version(&self, name: &str, version: i64) -> Result<DocumentVersion> {
        self.set_default_version_impl(name, version).await
    }
    async fn delete_document(&self, name: &str, version: Option<i64>) -> Result<()> {
        self.delete_document_impl(name, version).await
    }
    async fn create_command(&self, c: &NewCommand) -> Result<()> {
        self.create_command_impl(c).await
    }
    async fn get_command(&self, id: &str) -> Result<Option<Command>> {
        self.get_command_impl(id).await
    }
    async fn list_commands(&self, f: &CommandFilter) -> Result<Vec<Command>> {
        self.list_commands_impl(f).await
    }
    async fn list_invocations(&self, f: &InvocationFilter) -> Result<Vec<Invocation>> {
        self.list_invocations_impl(f).await
    }
    async fn get_invocation(&self, command_id: &str, instance_id: &str) -> Result<Option<Invocation>> {
        self.get_invocation_impl(command_id, instance_id).await
    }
    async fn list_plugins(&self, command_id: &str, instance_id: &str) -> Result<Vec<Plugin>> {
        self.list_plugins_impl(command_id, instance_id).await
    }
    async fn settle(&self, command_id: &str, now_ms: i64) -> Result<Settled> {
        self.settle_impl(command_id, now_ms).await
    }
    async fn claim(&self, instance_id: &str, now_ms: i64, limit: u32) -> Result<Vec<Claimed>> {
        self.claim_impl(instance_id, now_ms, limit).await
    }
    async fn finish(&self, r: &FinishedInvocation) -> Result<Option<Settled>> {
        self.finish_impl(r).await
    }
    async fn cancel(&self, command_id: &str, ids: Option<&[String]>, now_ms: i64) -> Result<Vec<String>> {
        self.cancel_impl(command_id, ids, now_ms).await
    }
    async fn cancels_for(&self, instance_id: &str) -> Result<Vec<String>> {
        self.cancels_for_impl(instance_id).await
    }
    async fn expire_deliveries(&self, now_ms: i64) -> Result<Vec<String>> {
        self.expire_deliveries_impl(now_ms).await
    }
    async fn next_delivery_deadline(&self) -> Result<Option<i64>> {
        self.next_delivery_deadline_impl().await
    }
    async fn abandon_silent(&self, now_ms: i64, silent_since_ms: i64) -> Result<Vec<String>> {
        self.abandon_silent_impl(now_ms, silent_since_ms).await
    }
    async fn expiry_outlook(&self, now_ms: i64) -> Result<ExpiryOutlook> {
        self.expiry_outlook_impl(now_ms).await
    }
    async fn commands_with_pending(&self) -> Result<Vec<String>> {
        self.commands_with_pending_impl().await
    }
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
}
