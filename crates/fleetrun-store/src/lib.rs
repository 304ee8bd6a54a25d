//! fleetrun's persistent state behind one trait, [`Store`], so that engines can be swapped without touching callers.
//!
//! The SQLite engine ([`sqlite::SqliteStore`]) is the embedded default; the PostgreSQL engine
//! ([`postgres::PgStore`]) is for several server replicas sharing one database. Both pass the same
//! [`conformance`] suite, and [`open_url`] picks one from a database URL. The store applies invocation changes in transactions
//! and keeps each command's derived status and counters in step with its invocations; *what* to change is
//! decided by `fleetrun-core` (the state machine and rate control). Full command output is not here: it lives
//! in the object store, and only the inline heads SSM returns are kept in rows.

pub mod conformance;
mod forward;
mod model;
mod open;
pub mod postgres;
pub mod sqlite;

pub use model::*;
pub use open::{open_url, redact};

use async_trait::async_trait;

/// Errors of the store, named after what went wrong for the caller.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("activation refused: {0}")]
    ActivationRefused(String),
    #[error("database error")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Everything the control plane keeps. Methods are grouped by resource; each is one transaction.
#[async_trait]
pub trait Store: Send + Sync {
    // --- access keys ---
    async fn insert_access_key(&self, key: &AccessKey) -> Result<()>;
    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>>;
    async fn list_access_keys(&self) -> Result<Vec<AccessKey>>;
    async fn delete_access_key(&self, access_key_id: &str) -> Result<()>;

    // --- activations and nodes ---
    async fn create_activation(&self, activation: &Activation) -> Result<()>;
    async fn list_activations(&self) -> Result<Vec<Activation>>;
    async fn delete_activation(&self, activation_id: &str) -> Result<()>;
    /// Enrols a node: checks the activation (code, expiry, limit), stores the node, its tags and its agent key.
    async fn register_node(&self, registration: &Registration) -> Result<Node>;
    async fn get_node(&self, instance_id: &str) -> Result<Option<Node>>;
    async fn list_nodes(&self) -> Result<Vec<Node>>;
    /// Records a heartbeat (and fresh node facts, when given).
    async fn touch_node(&self, instance_id: &str, now_ms: i64, info: Option<&NodeFacts>) -> Result<()>;
    /// Removes a node and its agent keys; its invocations not yet picked up end Undeliverable.
    /// Returns the commands whose invocations changed.
    async fn deregister_node(&self, instance_id: &str, now_ms: i64) -> Result<Vec<String>>;

    // --- tags ---
    async fn add_tags(&self, resource_type: &str, resource_id: &str, tags: &[(String, String)]) -> Result<()>;
    async fn remove_tags(&self, resource_type: &str, resource_id: &str, keys: &[String]) -> Result<()>;
    async fn list_tags(&self, resource_type: &str, resource_id: &str) -> Result<Vec<(String, String)>>;

    // --- documents ---
    /// Creates a document with version 1. Fails with AlreadyExists when the name is taken.
    async fn create_document(&self, document: &NewDocument) -> Result<DocumentVersion>;
    /// Adds version latest+1. Fails with Conflict when the content equals the latest version's.
    async fn add_document_version(&self, name: &str, version: &NewDocumentVersion) -> Result<DocumentVersion>;
    /// Inserts or refreshes a built-in document (owner `Amazon`), keeping it at version 1.
    async fn upsert_builtin_document(&self, document: &NewDocument) -> Result<()>;
    async fn get_document(&self, name: &str, version: VersionSelector<'_>) -> Result<Option<DocumentVersion>>;
    async fn list_documents(&self) -> Result<Vec<DocumentVersion>>;
    async fn list_document_versions(&self, name: &str) -> Result<Vec<DocumentVersion>>;
    async fn set_default_version(&self, name: &str, version: i64) -> Result<DocumentVersion>;
    /// Deletes one version, or the whole document when `version` is None.
    async fn delete_document(&self, name: &str, version: Option<i64>) -> Result<()>;

    // --- commands ---
    /// Stores a command and one Pending invocation per target, atomically.
    async fn create_command(&self, command: &NewCommand) -> Result<()>;
    async fn get_command(&self, command_id: &str) -> Result<Option<Command>>;
    /// Commands newest first.
    async fn list_commands(&self, filter: &CommandFilter) -> Result<Vec<Command>>;
    async fn list_invocations(&self, filter: &InvocationFilter) -> Result<Vec<Invocation>>;
    async fn get_invocation(&self, command_id: &str, instance_id: &str) -> Result<Option<Invocation>>;
    async fn list_plugins(&self, command_id: &str, instance_id: &str) -> Result<Vec<Plugin>>;

    // --- the invocation lifecycle (each call applies core transitions and re-derives the command) ---
    /// Applies rate control to a command: releases Pending invocations into free slots, or terminates the
    /// unstarted ones when MaxErrors is exceeded. Returns the nodes that got new work.
    async fn settle(&self, command_id: &str, now_ms: i64) -> Result<Settled>;
    /// Hands up to `limit` Queued invocations of this node to its agent (Queued → InProgress), oldest
    /// first. The agent asks only for as many as it can start at once, so InProgress means started.
    async fn claim(&self, instance_id: &str, now_ms: i64, limit: u32) -> Result<Vec<Claimed>>;
    /// Records the agent's result and applies rate control. Returns None (and changes nothing) when the
    /// invocation had already finished: agents resend results they are not sure arrived.
    async fn finish(&self, result: &FinishedInvocation) -> Result<Option<Settled>>;
    /// Cancels some or all invocations of a command. Returns the nodes that must kill a running script.
    async fn cancel(&self, command_id: &str, instance_ids: Option<&[String]>, now_ms: i64) -> Result<Vec<String>>;
    /// Command ids with Cancelling invocations on this node.
    async fn cancels_for(&self, instance_id: &str) -> Result<Vec<String>>;
    /// Invocations still waiting for delivery past their command's deadline end Delivery Timed Out.
    /// Returns the commands that changed.
    async fn expire_deliveries(&self, now_ms: i64) -> Result<Vec<String>>;
    /// The earliest delivery deadline among commands with invocations still waiting for delivery.
    async fn next_delivery_deadline(&self) -> Result<Option<i64>>;
    /// Invocations still held by a node that has been silent since before `silent_since_ms`, of commands
    /// whose ExpiresAfter has passed, end Abandoned (a late result still replaces that). Returns the
    /// commands that changed.
    async fn abandon_silent(&self, now_ms: i64, silent_since_ms: i64) -> Result<Vec<String>>;
    /// When the expiry backstop next has something to look at.
    async fn expiry_outlook(&self, now_ms: i64) -> Result<ExpiryOutlook>;
    /// Commands that have Pending invocations and could release more (used at start-up to resume rate control).
    async fn commands_with_pending(&self) -> Result<Vec<String>>;

    // --- other server processes sharing this store ---
    /// Tells the other server processes sharing this store that these nodes have new work, so that a
    /// node polling another replica is woken at once. A no-op for engines one process owns (SQLite).
    async fn announce(&self, _instance_ids: &[String]) -> Result<()> {
        Ok(())
    }
    /// Node ids announced by other processes, as they arrive; None when the engine has no peers.
    async fn announcements(&self) -> Result<Option<tokio::sync::mpsc::Receiver<String>>> {
        Ok(None)
    }
    /// Whether other processes may share this store (their timers and commands are then only seen in it).
    fn shared(&self) -> bool {
        false
    }
}
