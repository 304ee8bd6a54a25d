//! Wire types of the agent ↔ server protocol (`/agent/v1/...`), versioned by path.
//!
//! Every agent request except `register` is SigV4-signed with the credentials the agent got at enrolment
//! (service name [`SIGNING_SERVICE`]). These types are JSON on the wire and nothing else: the server turns them
//! into core types by hand. Changing a field here changes the protocol; add fields with `#[serde(default)]`.

use serde::{Deserialize, Serialize};

/// SigV4 service name for agent requests.
pub const SIGNING_SERVICE: &str = "fleetrun";

pub const PATH_REGISTER: &str = "/agent/v1/register";
pub const PATH_POLL: &str = "/agent/v1/poll";
pub const PATH_COMPLETE: &str = "/agent/v1/complete";
/// `PUT {PATH_OUTPUT}/{command_id}/{step}/{stdout|stderr}` with the raw bytes as body.
pub const PATH_OUTPUT: &str = "/agent/v1/output";
/// `POST`: a document stored in fleetrun, for a step of a command in progress on this node that names it
/// (`aws:downloadContent` with sourceType SSMDocument, `aws:runDocument` with documentType SSMDocument).
pub const PATH_DOCUMENT: &str = "/agent/v1/document";
/// `POST`: the plaintext of `{{ssm-secure:…}}` parameters an invocation in progress on this node references.
pub const PATH_SECURE_PARAMETERS: &str = "/agent/v1/secure-parameters";

/// Enrolment: an activation id and code buy a node identity and credentials.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub activation_id: String,
    pub activation_code: String,
    /// Ask for this instance id (e.g. `i-abcd1234`) instead of a generated `mi-…` one.
    #[serde(default)]
    pub instance_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub info: NodeInfo,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NodeInfo {
    pub computer_name: String,
    pub ip_address: String,
    pub platform_type: String,
    pub platform_name: String,
    pub platform_version: String,
    pub agent_version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub instance_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Long poll: "give me work, and here is what I am doing". Also the heartbeat.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PollRequest {
    /// Command ids this agent is running right now (lets the server tell it which to cancel).
    #[serde(default)]
    pub running: Vec<String>,
    /// How long the server may hold the request when there is nothing to do.
    #[serde(default)]
    pub wait_seconds: u64,
    #[serde(default)]
    pub info: Option<NodeInfo>,
    /// How many new invocations the agent can start right now (free slots). None: no limit.
    #[serde(default)]
    pub capacity: Option<u32>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PollResponse {
    #[serde(default)]
    pub assignments: Vec<Assignment>,
    /// Command ids whose invocation on this node must be cancelled.
    #[serde(default)]
    pub cancel: Vec<String>,
}

/// One invocation to run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Assignment {
    pub command_id: String,
    pub document_name: String,
    pub steps: Vec<AssignedStep>,
    /// SendCommand's `OutputS3BucketName`/`OutputS3KeyPrefix`: the agent also writes each step's
    /// non-empty stdout/stderr there, with the node's own AWS credentials, in SSM's key layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_s3: Option<OutputS3>,
}

/// Where a command's output goes in S3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputS3 {
    pub bucket: String,
    /// May be empty.
    pub key_prefix: String,
    /// `OutputS3Region`; empty when not given.
    #[serde(default)]
    pub region: String,
}

impl OutputS3 {
    /// SSM's key for one stream of one step: `<prefix>/<command>/<instance>/<plugin>/<step>/<stream>`,
    /// colons removed from the plugin (the action) and step names (`0.aws:runShellScript` →
    /// `0.awsrunShellScript`).
    pub fn key(&self, command_id: &str, instance_id: &str, action: &str, step_name: &str, stream: &str) -> String {
        let clean = |s: &str| s.replace(':', "");
        let prefix = self.key_prefix.trim_matches('/');
        let rest = format!("{command_id}/{instance_id}/{}/{}/{stream}", clean(action), clean(step_name));
        if prefix.is_empty() { rest } else { format!("{prefix}/{rest}") }
    }
}

/// One rendered document step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AssignedStep {
    /// Step name (2.x) or plugin id (1.2, e.g. `0.aws:runShellScript`).
    pub name: String,
    /// The action, e.g. `aws:runShellScript`.
    pub action: String,
    /// The rendered inputs.
    pub inputs: serde_json::Value,
    /// `StringEquals` precondition operands, already rendered.
    #[serde(default)]
    pub precondition: Option<(String, String)>,
}

/// The end of one invocation, with a result per step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompleteRequest {
    pub command_id: String,
    pub steps: Vec<StepResult>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepResult {
    pub name: String,
    pub status: StepStatus,
    /// Exit code; -1 when the step did not run.
    pub exit_code: i32,
    /// Epoch milliseconds; 0 when the step did not run.
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    /// Total bytes of stdout/stderr the agent uploaded for this step.
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// The first bytes of stdout/stderr (enough for SSM's inline views).
    pub stdout_head: String,
    pub stderr_head: String,
    /// What the step fetched (`aws:downloadContent`): source, location, revision and every file's sha256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepStatus {
    Success,
    Failed,
    TimedOut,
    Cancelled,
    /// The precondition did not match this node.
    Skipped,
}

/// Asks for a stored document by `name` or `name:version` (default version when none is given).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DocumentRequest {
    pub command_id: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DocumentResponse {
    pub name: String,
    pub version: i64,
    /// `JSON` or `YAML`.
    pub format: String,
    pub content: String,
}

/// Asks for the values of SecureString parameters referenced (`{{ssm-secure:name}}`) by one invocation that
/// is InProgress on the calling node. The server refuses names the command does not reference.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SecureParametersRequest {
    pub command_id: String,
    /// The references as written, without braces and prefix: `name`, `name:3` or `name:label`.
    pub names: Vec<String>,
}

/// The plaintext of each requested reference, in request order. `Debug` shows names only.
#[derive(Clone, Serialize, Deserialize)]
pub struct SecureParametersResponse {
    pub values: Vec<SecureValue>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct SecureValue {
    pub name: String,
    pub value: String,
}

impl std::fmt::Debug for SecureParametersResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.values.iter().map(|v| &v.name)).finish()
    }
}

impl std::fmt::Debug for SecureValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureValue").field("name", &self.name).field("value", &"<redacted>").finish()
    }
}

/// Error body of every agent endpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}
