//! SendCommand: validate everything, resolve targets, store the command with its invocations in one
//! transaction, then let rate control release the first invocations. Any refusal happens before anything is
//! stored, so a refused command leaves no trace.

use super::commands::command_json;
use super::error::SsmError;
use super::wire::{check_enum, check_len, decode};
use crate::app::{AppState, now_ms};
use crate::dispatch;
use fleetrun_core::document::{self, DocumentKind, ScriptInputs};
use fleetrun_core::rate::Limit;
use fleetrun_core::target::{self, Target};
use fleetrun_proto::AssignedStep;
use fleetrun_store::{NewCommand, Node};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) const MAX_INSTANCE_IDS: usize = 50;
const DEFAULT_TIMEOUT_SECONDS: i64 = 3600;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SendCommandInput {
    pub(crate) document_name: Option<String>,
    #[serde(default)]
    pub(crate) instance_ids: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) targets: Option<Vec<TargetInput>>,
    pub(crate) document_version: Option<String>,
    pub(crate) document_hash: Option<String>,
    pub(crate) document_hash_type: Option<String>,
    pub(crate) timeout_seconds: Option<i64>,
    pub(crate) comment: Option<String>,
    #[serde(default)]
    pub(crate) parameters: BTreeMap<String, Vec<String>>,
    pub(crate) output_s3_region: Option<String>,
    pub(crate) output_s3_bucket_name: Option<String>,
    pub(crate) output_s3_key_prefix: Option<String>,
    pub(crate) max_concurrency: Option<String>,
    pub(crate) max_errors: Option<String>,
    pub(crate) service_role_arn: Option<String>,
    pub(crate) notification_config: Option<Value>,
    pub(crate) cloud_watch_output_config: Option<Value>,
}

#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TargetInput {
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) values: Vec<String>,
}

pub(crate) async fn send_command(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: SendCommandInput = decode(input)?;
    let checked = check_members(&input)?;
    let name = document_name(input.document_name.as_deref())?;
    let version = super::documents::find_version(state, &name, input.document_version.as_deref(), None).await?;
    if version.document_type != "Command" {
        return Err(SsmError::new(
            "InvalidDocument",
            format!("Document {name} is of type {}; SendCommand runs Command documents.", version.document_type),
        ));
    }
    if let Some(hash) = &input.document_hash
        && !hash.eq_ignore_ascii_case(&version.hash)
    {
        return Err(SsmError::new("InvalidDocument", "The DocumentHash does not match the document's content."));
    }
    let format = document::DocumentFormat::parse(&version.format).unwrap_or(document::DocumentFormat::Json);
    let doc = document::parse_document(&version.content, format, DocumentKind::Command)
        .map_err(|e| SsmError::internal(format!("stored document {name} does not parse: {e}")))?;
    let params = document::resolve_parameters(&doc, &input.parameters)
        .map_err(|e| SsmError::new("InvalidParameters", e.to_string()))?;
    let steps = document::render_steps(&doc, &params).map_err(|e| SsmError::new("InvalidParameters", e.to_string()))?;
    let targets = resolve_targets(state, &input).await?;
    let now = now_ms();
    let n = targets.len() as u32;
    let execution_timeout = execution_timeout(&params, &steps);
    let timeout_seconds = input.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    let mut assigned: Vec<AssignedStep> = steps
        .into_iter()
        .map(|s| AssignedStep { name: s.name, action: s.action, inputs: s.inputs, precondition: s.precondition })
        .collect();
    let mut wire_params = serde_json::to_value(params.to_wire()).map_err(SsmError::internal)?;
    {
        let mut values: Vec<&mut Value> = vec![&mut wire_params];
        values.extend(assigned.iter_mut().map(|s| &mut s.inputs));
        super::references::resolve(state, &mut values).await?;
    }
    let extra = json!({
        "NotificationConfig": input.notification_config.clone().unwrap_or_else(|| json!({"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""})),
        "CloudWatchOutputConfig": input.cloud_watch_output_config.clone().unwrap_or_else(|| json!({"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false})),
        "OutputS3Region": input.output_s3_region.clone().unwrap_or_default(),
    });
    let command = NewCommand {
        command_id: uuid::Uuid::new_v4().to_string(),
        document_name: name,
        document_version: version.version.to_string(),
        comment: input.comment.clone().unwrap_or_default(),
        parameters_json: wire_params.to_string(),
        instance_ids_json: serde_json::to_string(&input.instance_ids.clone().unwrap_or_default())
            .map_err(SsmError::internal)?,
        targets_json: serde_json::to_string(&input.targets.clone().unwrap_or_default()).map_err(SsmError::internal)?,
        steps_json: serde_json::to_string(&assigned).map_err(SsmError::internal)?,
        requested_ms: now,
        timeout_seconds,
        delivery_deadline_ms: now + timeout_seconds * 1000,
        expires_ms: now + (timeout_seconds + execution_timeout) * 1000,
        output_s3_bucket: input.output_s3_bucket_name.clone().unwrap_or_default(),
        output_s3_prefix: input.output_s3_key_prefix.clone().unwrap_or_default(),
        max_concurrency: checked.concurrency_text,
        max_errors: checked.errors_text,
        max_concurrency_n: checked.concurrency.concurrency_for(n),
        max_errors_n: checked.errors.errors_for(n),
        service_role: input.service_role_arn.clone().unwrap_or_default(),
        extra_json: extra.to_string(),
        targets: targets.iter().map(|node| (node.instance_id.clone(), node.name.clone())).collect(),
    };
    state.store.create_command(&command).await?;
    tracing::info!(command_id = %command.command_id, document = %command.document_name, targets = n, "Command accepted.");
    dispatch::settle(state.store.as_ref(), &state.dispatch, &command.command_id).await?;
    state.dispatch.rearm_timer();
    let stored = state
        .store
        .get_command(&command.command_id)
        .await?
        .ok_or_else(|| SsmError::internal("the new command vanished"))?;
    // SendCommand answers with the command as accepted: Pending, nothing counted yet.
    let mut out = command_json(&stored);
    out["Status"] = json!("Pending");
    out["StatusDetails"] = json!("Pending");
    Ok(json!({ "Command": out }))
}

struct Checked {
    concurrency: Limit,
    concurrency_text: String,
    errors: Limit,
    errors_text: String,
}

/// The model's constraints that botocore does not check (max, pattern, enum).
fn check_members(input: &SendCommandInput) -> Result<Checked, SsmError> {
    if let Some(t) = input.timeout_seconds
        && !(30..=2_592_000).contains(&t)
    {
        return Err(SsmError::validation("timeoutSeconds", t, "Member must have value between 30 and 2592000"));
    }
    if let Some(comment) = &input.comment {
        check_len("comment", comment, 0, 100)?;
    }
    if let Some(bucket) = &input.output_s3_bucket_name {
        check_len("outputS3BucketName", bucket, 3, 63)?;
    }
    if let Some(prefix) = &input.output_s3_key_prefix {
        check_len("outputS3KeyPrefix", prefix, 0, 500)?;
    }
    if let Some(hash_type) = &input.document_hash_type {
        check_enum("documentHashType", hash_type, &["Sha256", "Sha1"])?;
    }
    if let Some(hash) = &input.document_hash {
        check_len("documentHash", hash, 0, 256)?;
    }
    if let Some(config) = &input.notification_config {
        check_notification(config)?;
    }
    let concurrency_text = input.max_concurrency.clone().unwrap_or_else(|| "50".into());
    let errors_text = input.max_errors.clone().unwrap_or_else(|| "0".into());
    let concurrency = Limit::parse_concurrency(&concurrency_text)
        .map_err(|e| SsmError::validation("maxConcurrency", &concurrency_text, &e.to_string()))?;
    let errors = Limit::parse_errors(&errors_text)
        .map_err(|e| SsmError::validation("maxErrors", &errors_text, &e.to_string()))?;
    Ok(Checked { concurrency, concurrency_text, errors, errors_text })
}

fn check_notification(config: &Value) -> Result<(), SsmError> {
    if let Some(events) = config.get("NotificationEvents").and_then(Value::as_array) {
        for event in events {
            let text = event.as_str().unwrap_or_default();
            check_enum(
                "notificationConfig.notificationEvents",
                text,
                &["All", "InProgress", "Success", "TimedOut", "Cancelled", "Failed"],
            )?;
        }
    }
    if let Some(kind) = config.get("NotificationType").and_then(Value::as_str) {
        check_enum("notificationConfig.notificationType", kind, &["Command", "Invocation"])?;
    }
    Ok(())
}

/// DocumentName may be a name or an ARN (`arn:…:document/Name`).
pub(crate) fn document_name(raw: Option<&str>) -> Result<String, SsmError> {
    let raw = raw.ok_or_else(|| SsmError::validation("documentName", "null", "Member must not be null"))?;
    let pattern_ok =
        (3..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b));
    if !pattern_ok {
        return Err(SsmError::validation(
            "documentName",
            raw,
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-.:/]{3,128}$",
        ));
    }
    Ok(match raw.rsplit_once("document/") {
        Some((_, name)) if raw.starts_with("arn:") => name.to_string(),
        _ => raw.to_string(),
    })
}

/// The nodes the command goes to, in order. Unknown instance ids refuse the command.
async fn resolve_targets(state: &AppState, input: &SendCommandInput) -> Result<Vec<Node>, SsmError> {
    match (&input.instance_ids, &input.targets) {
        (Some(ids), None) if !ids.is_empty() => by_ids(state, ids).await,
        (None, Some(targets)) if !targets.is_empty() => by_targets(state, targets).await,
        (Some(ids), Some(targets)) if !ids.is_empty() && !targets.is_empty() => {
            Err(SsmError::new("InvalidParameters", "Give either InstanceIds or Targets, not both."))
        }
        _ => Err(SsmError::new("InvalidParameters", "Give the nodes to run on with InstanceIds or Targets.")),
    }
}

pub(crate) fn check_instance_ids(ids: &[String]) -> Result<(), SsmError> {
    if ids.len() > MAX_INSTANCE_IDS {
        return Err(SsmError::validation(
            "instanceIds",
            format!("[{} ids]", ids.len()),
            "Member must have length less than or equal to 50",
        ));
    }
    let mut seen = BTreeSet::new();
    for id in ids {
        if !target::is_instance_id(id) {
            return Err(SsmError::new(
                "InvalidInstanceId",
                format!(
                    "Instance id '{id}' is not valid: expected i- followed by 8 or 17 characters, or mi- followed by 17."
                ),
            ));
        }
        if !seen.insert(id.as_str()) {
            return Err(SsmError::new("DuplicateInstanceId", format!("Instance id {id} is given more than once.")));
        }
    }
    Ok(())
}

async fn by_ids(state: &AppState, ids: &[String]) -> Result<Vec<Node>, SsmError> {
    check_instance_ids(ids)?;
    let mut nodes = Vec::with_capacity(ids.len());
    for id in ids {
        match state.store.get_node(id).await? {
            Some(node) => nodes.push(node),
            None => {
                return Err(SsmError::new(
                    "InvalidInstanceId",
                    format!("Instance {id} is not a managed node of this fleetrun."),
                ));
            }
        }
    }
    Ok(nodes)
}

async fn by_targets(state: &AppState, raw: &[TargetInput]) -> Result<Vec<Node>, SsmError> {
    for t in raw {
        check_len("targets.member.key", &t.key, 1, 163)?;
    }
    let pairs: Vec<(String, Vec<String>)> = raw.iter().map(|t| (t.key.clone(), t.values.clone())).collect();
    let targets = target::parse_targets(&pairs).map_err(|e| SsmError::new("InvalidParameters", e.to_string()))?;
    for t in &targets {
        if let Target::InstanceIds(ids) = t {
            check_instance_ids(ids)?;
        }
    }
    let nodes = state.store.list_nodes().await?;
    Ok(nodes
        .into_iter()
        .filter(|node| {
            let tags: BTreeMap<String, String> = node.tags.iter().cloned().collect();
            target::matches(&targets, &node.instance_id, &tags)
        })
        .collect())
}

/// The execution timeout used for ExpiresAfter: the `executionTimeout` parameter when the document has
/// one, else the sum of the script steps' timeouts (steps run one after another), else SSM's default.
fn execution_timeout(params: &document::ResolvedParameters, steps: &[document::RenderedStep]) -> i64 {
    if let Some(value) = params.get("executionTimeout")
        && let Ok(seconds) = value.to_text().parse::<i64>()
    {
        return seconds;
    }
    steps
        .iter()
        .filter_map(|s| ScriptInputs::from_inputs(&s.inputs).ok())
        .map(|i| i.timeout_seconds as i64)
        .reduce(|a, b| a + b)
        .unwrap_or(3600)
}
