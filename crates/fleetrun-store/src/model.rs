//! The records the store takes and gives back. Plain data; conversions to wire formats live in the façades.

use fleetrun_core::state::InvocationState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// A person's or tool's key: may call the SSM API.
    Admin,
    /// A managed node's key: may call only the agent API, for its own invocations.
    Agent,
}

impl KeyKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyKind::Admin => "admin",
            KeyKind::Agent => "agent",
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub kind: KeyKind,
    pub instance_id: Option<String>,
    pub description: String,
    pub created_ms: i64,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("kind", &self.kind)
            .field("instance_id", &self.instance_id)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activation {
    pub activation_id: String,
    pub code_sha256: String,
    pub description: String,
    pub default_instance_name: String,
    pub iam_role: String,
    pub registration_limit: i64,
    pub registrations_count: i64,
    pub expiration_ms: i64,
    pub created_ms: i64,
}

/// What an agent says about its node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFacts {
    pub computer_name: String,
    pub ip_address: String,
    pub platform_type: String,
    pub platform_name: String,
    pub platform_version: String,
    pub agent_version: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub instance_id: String,
    pub activation_id: String,
    pub name: String,
    pub iam_role: String,
    pub facts: NodeFacts,
    pub registration_ms: i64,
    pub last_ping_ms: i64,
    pub tags: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct Registration {
    pub activation_id: String,
    pub code_sha256: String,
    pub instance_id: String,
    pub facts: NodeFacts,
    pub tags: Vec<(String, String)>,
    pub agent_key: AccessKey,
    pub now_ms: i64,
}

#[derive(Clone, Debug)]
pub struct NewDocument {
    pub name: String,
    pub owner: String,
    pub document_type: String,
    pub version: NewDocumentVersion,
    pub now_ms: i64,
}

#[derive(Clone, Debug)]
pub struct NewDocumentVersion {
    pub content: String,
    pub format: String,
    pub hash: String,
    pub version_name: Option<String>,
    pub display_name: String,
    pub target_type: String,
    pub now_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentVersion {
    pub name: String,
    pub owner: String,
    pub document_type: String,
    pub version: i64,
    pub default_version: i64,
    pub latest_version: i64,
    pub version_name: Option<String>,
    pub display_name: String,
    pub content: String,
    pub format: String,
    pub hash: String,
    pub target_type: String,
    pub created_ms: i64,
    pub document_created_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionSelector<'a> {
    Default,
    Latest,
    Number(i64),
    Named(&'a str),
}

/// A command as the façade hands it to the store.
#[derive(Clone, Debug)]
pub struct NewCommand {
    pub command_id: String,
    pub document_name: String,
    pub document_version: String,
    pub comment: String,
    /// SSM's echo of every parameter, as JSON text (`{"name": ["v"]}`).
    pub parameters_json: String,
    pub instance_ids_json: String,
    pub targets_json: String,
    /// The rendered steps the agents run, as JSON text.
    pub steps_json: String,
    pub requested_ms: i64,
    pub timeout_seconds: i64,
    pub delivery_deadline_ms: i64,
    pub expires_ms: i64,
    pub output_s3_bucket: String,
    pub output_s3_prefix: String,
    pub max_concurrency: String,
    pub max_errors: String,
    pub max_concurrency_n: u32,
    pub max_errors_n: u32,
    pub service_role: String,
    /// Other request members echoed back verbatim (NotificationConfig, CloudWatchOutputConfig, …), JSON text.
    pub extra_json: String,
    /// (instance id, instance name) in target order.
    pub targets: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub command_id: String,
    pub document_name: String,
    pub document_version: String,
    pub comment: String,
    pub parameters_json: String,
    pub instance_ids_json: String,
    pub targets_json: String,
    pub steps_json: String,
    pub requested_ms: i64,
    pub timeout_seconds: i64,
    pub delivery_deadline_ms: i64,
    pub expires_ms: i64,
    pub output_s3_bucket: String,
    pub output_s3_prefix: String,
    pub max_concurrency: String,
    pub max_errors: String,
    pub max_concurrency_n: u32,
    pub max_errors_n: u32,
    pub service_role: String,
    pub extra_json: String,
    pub cancel_requested: bool,
    pub status: String,
    pub status_details: String,
    pub target_count: i64,
    pub completed_count: i64,
    pub error_count: i64,
    pub delivery_timed_out_count: i64,
}

#[derive(Clone, Debug, Default)]
pub struct CommandFilter {
    pub command_id: Option<String>,
    /// Only commands with an invocation on this node.
    pub instance_id: Option<String>,
    pub requested_after_ms: Option<i64>,
    pub requested_before_ms: Option<i64>,
    pub document_name: Option<String>,
    /// SSM `Status` or `StatusDetails` (without spaces) values; any matches.
    pub statuses: Vec<String>,
    /// true: only unfinished commands; false: only finished; None: all.
    pub executing: Option<bool>,
    /// Rows to skip (pagination).
    pub offset: u32,
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub command_id: String,
    pub instance_id: String,
    pub instance_name: String,
    pub seq: i64,
    pub state: InvocationState,
    pub response_code: i64,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub updated_ms: i64,
}

#[derive(Clone, Debug, Default)]
pub struct InvocationFilter {
    pub command_id: Option<String>,
    pub instance_id: Option<String>,
    /// Only invocations whose command was requested in this window.
    pub requested_after_ms: Option<i64>,
    pub requested_before_ms: Option<i64>,
    pub document_name: Option<String>,
    pub statuses: Vec<String>,
    /// Rows to skip (pagination). Rows come newest command first, then in target order.
    pub offset: u32,
    pub limit: Option<u32>,
}

/// The result of one document step on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plugin {
    pub idx: i64,
    pub name: String,
    pub action: String,
    /// SSM CommandPluginStatus: Pending, InProgress, Success, TimedOut, Cancelled, Failed (or Skipped).
    pub status: String,
    pub response_code: i64,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub stdout_head: String,
    pub stderr_head: String,
    pub stdout_bytes: i64,
    pub stderr_bytes: i64,
    /// What the step fetched, as JSON (`aws:downloadContent`); empty for other steps.
    pub provenance_json: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Nodes that got newly released work.
    pub released: Vec<String>,
    pub status: String,
}

/// What the expiry backstop has ahead of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpiryOutlook {
    /// The earliest ExpiresAfter, still in the future, of an unfinished command.
    pub next_ms: Option<i64>,
    /// Whether some unfinished command is already past its ExpiresAfter.
    pub overdue: bool,
}

/// An invocation handed to an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub command_id: String,
    pub document_name: String,
    pub steps_json: String,
    /// SendCommand's `OutputS3BucketName` and `OutputS3KeyPrefix` (empty when not given).
    pub output_s3_bucket: String,
    pub output_s3_prefix: String,
    pub extra_json: String,
}

/// The agent's report of how an invocation ended.
#[derive(Clone, Debug)]
pub struct FinishedInvocation {
    pub command_id: String,
    pub instance_id: String,
    pub finish: fleetrun_core::state::Finish,
    pub response_code: i64,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub plugins: Vec<Plugin>,
    pub now_ms: i64,
}
