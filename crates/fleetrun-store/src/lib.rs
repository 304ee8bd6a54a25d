//! fleetrun's persistent state behind one trait, [`Store`], so that engines can be swapped without touching callers.
//!
//! The SQLite engine ([`sqlite::SqliteStore`]) is the embedded default; the PostgreSQL engine
//! ([`postgres::PgStore`]) is for several server replicas sharing one database. Both pass the same
//! [`conformance`] suite, and [`open_url`] picks one from a database URL. The store applies invocation changes in transactions
//! and keeps each command's derived status and counters in step with its invocations; *what* to change is
//! decided by `fleetrun-core` (the state machine and rate control). Full command output is not here: it lives
//! in the object store, and only the inline heads SSM returns are kept in rows.

mod automation_model;
pub mod conformance;
mod forward;
mod model;
mod open;
mod parameters_model;
pub mod postgres;
pub mod sqlite;

pub use automation_model::{
    AUTOMATION_ACTIVE_STATUSES, AUTOMATION_FINISHED_STATUSES, AutomationExecution, AutomationFilter, AutomationUpdate,
    NewAutomationExecution, NewStepExecution, StepExecution,
};
pub use model::*;
pub use open::{open_url, redact};
pub use parameters_model::{
    MAX_LABELS_PER_VERSION, MAX_PARAMETER_VERSIONS, NewParameter, ParamSelector, ParameterQuery, ParameterVersion,
    StoredValue,
};

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
    /// A quota of the resource is reached; the message starts with the SSM error code (`Parameter…: …`).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
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

/// This machine's wall clock in milliseconds since the Unix epoch.
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Everything the control plane keeps. Methods are grouped by resource; each is one transaction.
#[async_trait]
pub trait Store: Send + Sync {
    // --- access keys ---
    async fn insert_access_key(&self, key: &AccessKey) -> Result<()>;
    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>>;
    async fn list_access_keys(&self) -> Result<Vec<AccessKey>>;
    async fn delete_access_key(&self, access_key_id: &str) -> Result<()>;
    /// Replaces a key's stored secret when it is still `old` (compare-and-swap); false otherwise. Used to
    /// seal secrets stored in clear by earlier versions, and to re-wrap them when a master key rotates.
    async fn replace_access_key_secret(&self, access_key_id: &str, old: &str, new: &str) -> Result<bool>;

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

    // --- leases and retention ---
    /// Takes the lease `name` for `holder`, or renews it when `holder` already has it, until `ttl_ms` from
    /// now; true when `holder` holds it afterwards. A lease held by another holder is taken only once it
    /// has expired. Leases keep periodic work (timers, retention) to one replica at a time and let a
    /// survivor take it over within one TTL; correctness never rests on them (that work is conditional
    /// transactions, safe to run twice).
    async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool>;
    /// Gives a lease up early (a no-op when `holder` does not hold it).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
    /// Up to `limit` finished commands requested before `before_ms`, oldest first (retention's candidates).
    async fn finished_before(&self, before_ms: i64, limit: u32) -> Result<Vec<String>>;
    /// Deletes these commands, with their invocations and plugin rows, in one short transaction, skipping
    /// any that is not finished. Returns the ids deleted. Output objects are the caller's to delete first.
    async fn delete_commands(&self, command_ids: &[String]) -> Result<Vec<String>>;

    // --- parameters ---
    /// Writes version latest+1 of a parameter (creating it at version 1), with its tags when given, and
    /// returns it. `expected_latest` is the latest version the caller read (0: none); the caller sealed
    /// the value for the version that follows it. Fails with AlreadyExists when the parameter exists and
    /// not `overwrite`, with Conflict when the latest version is no longer `expected_latest` (read again,
    /// re-seal, retry). At [`MAX_PARAMETER_VERSIONS`] versions the oldest is deleted first, or, when it has
    /// a label, the write fails with LimitExceeded. Type, pattern, key and tier are the version's own, as
    /// given; a None description keeps the previous version's.
    async fn put_parameter(
        &self,
        parameter: &NewParameter,
        overwrite: bool,
        expected_latest: i64,
    ) -> Result<ParameterVersion>;
    async fn get_parameter(&self, name: &str, selector: ParamSelector<'_>) -> Result<Option<ParameterVersion>>;
    /// The latest version of each parameter the query selects, in name order.
    async fn list_parameters(&self, query: &ParameterQuery) -> Result<Vec<ParameterVersion>>;
    /// Every version kept of a parameter, oldest first, each with its labels; empty when there is none.
    async fn parameter_history(&self, name: &str) -> Result<Vec<ParameterVersion>>;
    /// Attaches labels to a version (None: the latest), moving each from whatever version of the parameter
    /// had it, and returns the version. All or nothing: fails with LimitExceeded when the version would
    /// carry more than [`MAX_LABELS_PER_VERSION`], NotFound for an unknown parameter or version.
    async fn label_parameter_version(
        &self,
        name: &str,
        version: Option<i64>,
        labels: &[String],
        now_ms: i64,
    ) -> Result<i64>;
    /// Deletes parameters with all their versions, labels and tags. Returns the names that existed.
    async fn delete_parameters(&self, names: &[String]) -> Result<Vec<String>>;
    /// Sealed values `(name, version, bytes)` after `after` in (name, version) order, for re-sealing under
    /// a new master key.
    async fn sealed_values(&self, after: Option<(&str, i64)>, limit: u32) -> Result<Vec<(String, i64, Vec<u8>)>>;
    /// Replaces a sealed value if it still is `old`; false (and no change) otherwise.
    async fn replace_sealed(&self, name: &str, version: i64, old: &[u8], new: &[u8]) -> Result<bool>;
    /// The stored master key check values `(key name, key version, check)`.
    async fn master_key_checks(&self) -> Result<Vec<(String, u32, Vec<u8>)>>;
    /// Stores a master key's check value unless one is stored for that key already (which is kept);
    /// true when this call stored it.
    async fn put_master_key_check(&self, name: &str, version: u32, check: &[u8]) -> Result<bool>;
    /// Forgets a master key's check value (a no-op when there is none).
    async fn delete_master_key_check(&self, name: &str, version: u32) -> Result<()>;

    // --- automation executions ---
    /// Stores a new execution (status Pending, version 1), its steps (Pending, in order) and its tags.
    /// When another execution already has its `client_token`, fails with AlreadyExists carrying exactly that
    /// execution's id, so the caller can answer idempotently or with IdempotentParameterMismatch. An
    /// execution id that is taken fails with Conflict.
    async fn create_automation_execution(&self, execution: &NewAutomationExecution) -> Result<AutomationExecution>;
    async fn get_automation_execution(&self, execution_id: &str) -> Result<Option<AutomationExecution>>;
    /// Executions newest first (by creation).
    async fn list_automation_executions(&self, filter: &AutomationFilter) -> Result<Vec<AutomationExecution>>;
    /// Rewrites an execution's mutable fields if its version still is `expected_version`, bumping it, and
    /// returns the new row. Fails with Conflict when the version moved on (a stop request, a new lease
    /// holder, another writer: read again and decide again), NotFound for an unknown execution.
    async fn update_automation_execution(&self, update: &AutomationUpdate) -> Result<AutomationExecution>;
    /// Records StopAutomationExecution (`kind` `Cancel` or `Complete`; a later request replaces an earlier
    /// one) and bumps the version, whatever the status; the driver acts on it. NotFound for an unknown
    /// execution, Unsupported for another `kind`.
    async fn request_stop(&self, execution_id: &str, kind: &str) -> Result<AutomationExecution>;
    /// Inserts a step execution, or rewrites everything but the identity (`execution_id`, `step_index`) of
    /// the one stored. NotFound for an unknown execution. Does not change the execution's version.
    async fn put_step_execution(&self, step: &StepExecution) -> Result<()>;
    /// An execution's steps in step order; empty for an unknown execution.
    async fn list_step_executions(&self, execution_id: &str) -> Result<Vec<StepExecution>>;
    /// Takes up to `limit` active executions ([`AUTOMATION_ACTIVE_STATUSES`]) whose lease is free or has
    /// ended (`lease_until_ms <= now_ms`), oldest first, leasing them to `owner` until `now_ms + lease_ms`
    /// and bumping their version (so a replica that lost a lease fails its next update). Executions whose
    /// lease is still running, `owner`'s own included, are not returned. Replicas never get the same
    /// execution from concurrent calls; lease times are the claimers' clocks, so `lease_ms` must dwarf
    /// their skew.
    async fn claim_automation_executions(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<AutomationExecution>>;
    /// Extends `owner`'s lease on an execution to `now_ms + lease_ms`, also one that has ended but was not
    /// claimed since; false (and no change) when `owner` does not hold it (another replica took it over, or
    /// it was released).
    async fn renew_automation_lease(&self, execution_id: &str, owner: &str, now_ms: i64, lease_ms: i64)
    -> Result<bool>;
    /// Gives a lease up (a no-op when `owner` does not hold it), so another replica may claim at once.
    async fn release_automation_lease(&self, execution_id: &str, owner: &str) -> Result<()>;
    /// Deletes up to `limit` finished executions ([`AUTOMATION_FINISHED_STATUSES`]) that ended before
    /// `before_ms`, oldest end first, with their steps and tags. Returns the ids deleted, in that order.
    async fn purge_automation_executions(&self, before_ms: i64, limit: u32) -> Result<Vec<String>>;

    // --- other server processes sharing this store ---
    /// Tells the other server processes sharing this store that these nodes have new work, so that a
    /// node polling another replica is woken at once; the empty id says "a new deadline" to whichever
    /// replica runs the timer. A no-op for engines one process owns (SQLite).
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
