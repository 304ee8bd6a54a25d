//! ListCommands, ListCommandInvocations, GetCommandInvocation and CancelCommand, and the SSM shapes of a
//! command, an invocation and a plugin.

use super::error::SsmError;
use super::send::check_instance_ids;
use super::wire::{self, decode, epoch, iso};
use crate::app::AppState;
use crate::output::{output_url, stream_url};
use fleetrun_core::output::{MAX_STDERR_CHARS, MAX_STDOUT_CHARS, head, plugin_output};
use fleetrun_core::state::InvocationState;
use fleetrun_store::{Command, CommandFilter, Invocation, InvocationFilter, Plugin};
use serde::Deserialize;
use serde_json::{Value, json};

/// SSM's `Command` structure.
pub(crate) fn command_json(c: &Command) -> Value {
    let extra: Value = serde_json::from_str(&c.extra_json).unwrap_or_else(|_| json!({}));
    json!({
        "CommandId": c.command_id,
        "DocumentName": c.document_name,
        "DocumentVersion": c.document_version,
        "Comment": c.comment,
        "ExpiresAfter": epoch(c.expires_ms),
        "Parameters": serde_json::from_str::<Value>(&c.parameters_json).unwrap_or_else(|_| json!({})),
        "InstanceIds": serde_json::from_str::<Value>(&c.instance_ids_json).unwrap_or_else(|_| json!([])),
        "Targets": serde_json::from_str::<Value>(&c.targets_json).unwrap_or_else(|_| json!([])),
        "RequestedDateTime": epoch(c.requested_ms),
        "Status": c.status,
        "StatusDetails": c.status_details,
        "OutputS3Region": extra.get("OutputS3Region").cloned().unwrap_or(json!("")),
        "OutputS3BucketName": c.output_s3_bucket,
        "OutputS3KeyPrefix": c.output_s3_prefix,
        "MaxConcurrency": c.max_concurrency,
        "MaxErrors": c.max_errors,
        "TargetCount": c.target_count,
        "CompletedCount": c.completed_count,
        "ErrorCount": c.error_count,
        "DeliveryTimedOutCount": c.delivery_timed_out_count,
        "ServiceRole": c.service_role,
        "NotificationConfig": extra.get("NotificationConfig").cloned().unwrap_or(json!({})),
        "CloudWatchOutputConfig": extra.get("CloudWatchOutputConfig").cloned().unwrap_or(json!({})),
        "TimeoutSeconds": c.timeout_seconds,
        "TriggeredAlarms": [],
    })
}

/// The status of one plugin, in SSM's CommandPluginStatus terms.
fn plugin_json(state: &AppState, c: &Command, inv: &Invocation, p: &Plugin, details_limit: usize) -> Value {
    let (status, details) = plugin_status(p);
    let out = fleetrun_core::output::lossy(p.stdout_head.as_bytes());
    let err = fleetrun_core::output::lossy(p.stderr_head.as_bytes());
    let output = if details_limit > 0 { plugin_output(&out, &err) } else { String::new() };
    let mut plugin = json!({
        "Name": p.name,
        "Status": status,
        "StatusDetails": details,
        "ResponseCode": p.response_code,
        "ResponseStartDateTime": epoch(p.started_ms),
        "ResponseFinishDateTime": epoch(p.ended_ms),
        "Output": output,
        "StandardOutputUrl": stream_url(&state.config, c, &inv.instance_id, p.idx, "stdout"),
        "StandardErrorUrl": stream_url(&state.config, c, &inv.instance_id, p.idx, "stderr"),
        // fleetrun extension: this server's copy, also when the SSM URLs point at OutputS3BucketName.
        "FleetrunStandardOutputUrl": output_url(&state.config, &c.command_id, &inv.instance_id, p.idx, "stdout"),
        "FleetrunStandardErrorUrl": output_url(&state.config, &c.command_id, &inv.instance_id, p.idx, "stderr"),
        "OutputS3Region": "",
        "OutputS3BucketName": c.output_s3_bucket,
        "OutputS3KeyPrefix": c.output_s3_prefix,
    });
    if let Some(provenance) = provenance(p) {
        plugin["Provenance"] = provenance;
    }
    plugin
}

/// A fleetrun extension to SSM's shapes: what an `aws:downloadContent` step fetched (source, location,
/// revision, every file's sha256). The AWS SDKs ignore members their model does not have, so SSM clients
/// are unaffected; fleetrun's CLI and raw JSON clients read it.
fn provenance(p: &Plugin) -> Option<Value> {
    (!p.provenance_json.is_empty()).then(|| serde_json::from_str(&p.provenance_json).ok()).flatten()
}

fn plugin_status(p: &Plugin) -> (&'static str, &'static str) {
    match p.status.as_str() {
        "Success" => ("Success", "Success"),
        "Failed" => ("Failed", "Failed"),
        "TimedOut" => ("TimedOut", "Execution Timed Out"),
        "Cancelled" => ("Cancelled", "Cancelled"),
        // A step whose precondition does not hold: SSM reports it as a successful no-op.
        "Skipped" => ("Success", "Skipped"),
        _ => ("Pending", "Pending"),
    }
}

/// The step shown when no PluginName is given: the last one that ran.
fn main_plugin(plugins: &[Plugin]) -> Option<&Plugin> {
    plugins.iter().rev().find(|p| p.status != "Skipped").or(plugins.last())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    command_id: Option<String>,
    instance_id: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
    #[serde(default)]
    filters: Vec<FilterInput>,
    #[serde(default)]
    details: bool,
}

/// ListCommands' filters use lower-case member names.
#[derive(Deserialize)]
struct FilterInput {
    key: String,
    value: String,
}

struct Filters {
    after: Option<i64>,
    before: Option<i64>,
    statuses: Vec<String>,
    document_name: Option<String>,
    executing: Option<bool>,
}

fn parse_filters(filters: &[FilterInput], status_values: &[&str], allow_stage: bool) -> Result<Filters, SsmError> {
    if filters.len() > 5 {
        return Err(SsmError::validation(
            "filters",
            format!("[{} filters]", filters.len()),
            "Member must have length less than or equal to 5",
        ));
    }
    let mut out = Filters { after: None, before: None, statuses: Vec::new(), document_name: None, executing: None };
    for f in filters {
        wire::check_len("filters.member.value", &f.value, 1, 128)?;
        match f.key.as_str() {
            "InvokedAfter" => out.after = Some(wire::parse_time("InvokedAfter", &f.value)?),
            "InvokedBefore" => out.before = Some(wire::parse_time("InvokedBefore", &f.value)?),
            "DocumentName" => out.document_name = Some(f.value.clone()),
            "Status" => {
                if !status_values.contains(&f.value.as_str()) {
                    return Err(SsmError::new(
                        "InvalidFilterValue",
                        format!("Status filter value '{}' is not one of {}.", f.value, status_values.join(", ")),
                    ));
                }
                out.statuses.push(f.value.clone());
            }
            "ExecutionStage" if allow_stage => match f.value.as_str() {
                "Executing" => out.executing = Some(true),
                "Complete" => out.executing = Some(false),
                other => {
                    return Err(SsmError::new(
                        "InvalidFilterValue",
                        format!("ExecutionStage must be Executing or Complete, not '{other}'."),
                    ));
                }
            },
            _ => {
                return Err(SsmError::new("InvalidFilterKey", format!("Filter key '{}' is not supported.", f.key)));
            }
        }
    }
    Ok(out)
}

const COMMAND_STATUS_VALUES: &[&str] = &[
    "Pending",
    "InProgress",
    "Success",
    "Cancelled",
    "Failed",
    "TimedOut",
    "AccessDenied",
    "DeliveryTimedOut",
    "ExecutionTimedOut",
    "Incomplete",
    "NoInstancesInTag",
    "LimitExceeded",
];
const INVOCATION_STATUS_VALUES: &[&str] = &[
    "Pending",
    "InProgress",
    "Delayed",
    "Success",
    "Cancelled",
    "Failed",
    "TimedOut",
    "AccessDenied",
    "DeliveryTimedOut",
    "ExecutionTimedOut",
    "Undeliverable",
    "InvalidPlatform",
    "Terminated",
];

fn check_ids(input: &ListInput) -> Result<(), SsmError> {
    if let Some(id) = &input.command_id {
        wire::check_len("commandId", id, 36, 36)?;
    }
    if let Some(id) = &input.instance_id {
        check_instance_ids(std::slice::from_ref(id))?;
    }
    Ok(())
}

/// What both list operations share: the decoded input, its page, and its checked filters.
struct ListRequest {
    input: ListInput,
    page: u32,
    offset: u32,
    filters: Filters,
}

async fn list_request(
    state: &AppState,
    input: Value,
    status_values: &[&str],
    commands: bool,
) -> Result<ListRequest, SsmError> {
    let input: ListInput = decode(input)?;
    check_ids(&input)?;
    let page = wire::page_size(input.max_results, 1, 50, 50)?;
    let offset = wire::offset_from_token(input.next_token.as_deref())?;
    let filters = parse_filters(&input.filters, status_values, commands)?;
    if let Some(id) = &input.command_id
        && state.store.get_command(id).await?.is_none()
    {
        return Err(SsmError::new("InvalidCommandId", format!("Command {id} does not exist.")));
    }
    Ok(ListRequest { input, page, offset, filters })
}

pub(crate) async fn list_commands(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let ListRequest { input, page, offset, filters: f } =
        list_request(state, input, COMMAND_STATUS_VALUES, true).await?;
    let filter = CommandFilter {
        command_id: input.command_id.clone(),
        instance_id: input.instance_id.clone(),
        requested_after_ms: f.after,
        requested_before_ms: f.before,
        document_name: f.document_name,
        statuses: f.statuses,
        executing: f.executing,
        offset,
        limit: Some(page + 1),
    };
    let mut commands = state.store.list_commands(&filter).await?;
    let more = commands.len() > page as usize;
    commands.truncate(page as usize);
    let mut out = json!({ "Commands": commands.iter().map(command_json).collect::<Vec<_>>() });
    if let Some(token) = wire::next_token(offset, page, more) {
        out["NextToken"] = json!(token);
    }
    Ok(out)
}

pub(crate) async fn list_command_invocations(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let ListRequest { input, page, offset, filters: f } =
        list_request(state, input, INVOCATION_STATUS_VALUES, false).await?;
    let filter = InvocationFilter {
        command_id: input.command_id.clone(),
        instance_id: input.instance_id.clone(),
        requested_after_ms: f.after,
        requested_before_ms: f.before,
        document_name: f.document_name,
        statuses: f.statuses,
        offset,
        limit: Some(page + 1),
    };
    let mut invocations = state.store.list_invocations(&filter).await?;
    let more = invocations.len() > page as usize;
    invocations.truncate(page as usize);
    let mut items = Vec::with_capacity(invocations.len());
    let mut command_cache: Option<Command> = None;
    for inv in &invocations {
        let command = match &command_cache {
            Some(c) if c.command_id == inv.command_id => c.clone(),
            _ => state
                .store
                .get_command(&inv.command_id)
                .await?
                .ok_or_else(|| SsmError::internal("invocation without command"))?,
        };
        items.push(invocation_json(state, &command, inv, input.details).await?);
        command_cache = Some(command);
    }
    let mut out = json!({ "CommandInvocations": items });
    if let Some(token) = wire::next_token(offset, page, more) {
        out["NextToken"] = json!(token);
    }
    Ok(out)
}

async fn invocation_json(state: &AppState, c: &Command, inv: &Invocation, details: bool) -> Result<Value, SsmError> {
    let (status, status_details) = inv.state.ssm_status();
    let plugins = if details { state.store.list_plugins(&c.command_id, &inv.instance_id).await? } else { Vec::new() };
    let plugin_values: Vec<Value> = plugins.iter().map(|p| plugin_json(state, c, inv, p, 2500)).collect();
    let extra: Value = serde_json::from_str(&c.extra_json).unwrap_or_else(|_| json!({}));
    let trace = trace_output(inv.state);
    Ok(json!({
        "CommandId": c.command_id,
        "InstanceId": inv.instance_id,
        "InstanceName": inv.instance_name,
        "Comment": c.comment,
        "DocumentName": c.document_name,
        "DocumentVersion": c.document_version,
        "RequestedDateTime": epoch(c.requested_ms),
        "Status": status,
        "StatusDetails": status_details,
        "TraceOutput": trace,
        "StandardOutputUrl": "",
        "StandardErrorUrl": "",
        "CommandPlugins": plugin_values,
        "ServiceRole": c.service_role,
        "NotificationConfig": extra.get("NotificationConfig").cloned().unwrap_or(json!({})),
        "CloudWatchOutputConfig": extra.get("CloudWatchOutputConfig").cloned().unwrap_or(json!({})),
    }))
}

/// What fleetrun knows about an invocation that never produced a result of its own.
fn trace_output(state: InvocationState) -> &'static str {
    match state {
        InvocationState::Undeliverable => "The node was deregistered before the command reached it.",
        InvocationState::Abandoned => {
            "No result from the node by the command's ExpiresAfter: the node stopped answering while it had this invocation. A result it reports later replaces this status."
        }
        _ => "",
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetInput {
    command_id: Option<String>,
    instance_id: Option<String>,
    plugin_name: Option<String>,
}

pub(crate) async fn get_command_invocation(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: GetInput = decode(input)?;
    let command_id =
        input.command_id.ok_or_else(|| SsmError::validation("commandId", "null", "Member must not be null"))?;
    let instance_id =
        input.instance_id.ok_or_else(|| SsmError::validation("instanceId", "null", "Member must not be null"))?;
    wire::check_len("commandId", &command_id, 36, 36)?;
    check_instance_ids(std::slice::from_ref(&instance_id))?;
    if let Some(name) = &input.plugin_name {
        wire::check_len("pluginName", name, 4, 256)?;
    }
    let missing = || SsmError::new("InvocationDoesNotExist", "The command invocation does not exist.");
    let command = state.store.get_command(&command_id).await?.ok_or_else(missing)?;
    let inv = state.store.get_invocation(&command_id, &instance_id).await?.ok_or_else(missing)?;
    let plugins = state.store.list_plugins(&command_id, &instance_id).await?;
    let steps: Vec<fleetrun_proto::AssignedStep> = serde_json::from_str(&command.steps_json).unwrap_or_default();
    let plugin_name = match &input.plugin_name {
        Some(name) => {
            if !steps.iter().any(|s| crate::agent_api::plugin_name(s) == *name) {
                return Err(SsmError::new("InvalidPluginName", format!("The document has no plugin named {name}.")));
            }
            name.clone()
        }
        None => steps.last().map(crate::agent_api::plugin_name).unwrap_or_default(),
    };
    let plugin = match &input.plugin_name {
        Some(name) => plugins.iter().find(|p| p.name == *name),
        None => main_plugin(&plugins),
    };
    let (status, details) = match (plugin, &input.plugin_name) {
        (Some(p), Some(_)) => plugin_status(p),
        _ => inv.state.ssm_status(),
    };
    let (out, err, url_idx) = match plugin {
        Some(p) => (head(&p.stdout_head, MAX_STDOUT_CHARS), head(&p.stderr_head, MAX_STDERR_CHARS), Some(p.idx)),
        None => (String::new(), trace_output(inv.state).to_string(), None),
    };
    let url =
        |stream| url_idx.map(|i| stream_url(&state.config, &command, &instance_id, i, stream)).unwrap_or_default();
    let own_url =
        |stream| url_idx.map(|i| output_url(&state.config, &command_id, &instance_id, i, stream)).unwrap_or_default();
    let (start, end) = plugin.map(|p| (p.started_ms, p.ended_ms)).unwrap_or((inv.started_ms, inv.ended_ms));
    let response_code = match (plugin, &input.plugin_name) {
        (Some(p), Some(_)) => p.response_code,
        _ => inv.response_code,
    };
    let extra: Value = serde_json::from_str(&command.extra_json).unwrap_or_else(|_| json!({}));
    let fetched: Vec<Value> = plugins
        .iter()
        .filter_map(|p| {
            provenance(p).map(|mut v| {
                v["PluginName"] = json!(p.name);
                v
            })
        })
        .collect();
    let mut out_json = json!({
        "CommandId": command_id,
        "InstanceId": instance_id,
        "Comment": command.comment,
        "DocumentName": command.document_name,
        "DocumentVersion": command.document_version,
        "PluginName": plugin_name,
        "ResponseCode": response_code,
        "ExecutionStartDateTime": iso(start),
        "ExecutionElapsedTime": wire::elapsed(start, end),
        "ExecutionEndDateTime": iso(end),
        "Status": status,
        "StatusDetails": details,
        "StandardOutputContent": out,
        "StandardOutputUrl": url("stdout"),
        "StandardErrorContent": err,
        "StandardErrorUrl": url("stderr"),
        "FleetrunStandardOutputUrl": own_url("stdout"),
        "FleetrunStandardErrorUrl": own_url("stderr"),
        "CloudWatchOutputConfig": extra.get("CloudWatchOutputConfig").cloned().unwrap_or(json!({})),
    });
    if !fetched.is_empty() {
        out_json["Provenance"] = json!(fetched);
    }
    Ok(out_json)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CancelInput {
    command_id: Option<String>,
    instance_ids: Option<Vec<String>>,
}

pub(crate) async fn cancel_command(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: CancelInput = decode(input)?;
    let command_id =
        input.command_id.ok_or_else(|| SsmError::validation("commandId", "null", "Member must not be null"))?;
    wire::check_len("commandId", &command_id, 36, 36)?;
    let ids = input.instance_ids.filter(|ids| !ids.is_empty());
    if let Some(ids) = &ids {
        check_instance_ids(ids)?;
    }
    if state.store.get_command(&command_id).await?.is_none() {
        return Err(SsmError::new("InvalidCommandId", format!("Command {command_id} does not exist.")));
    }
    if let Some(ids) = &ids {
        for id in ids {
            if state.store.get_invocation(&command_id, id).await?.is_none() {
                return Err(SsmError::new("InvalidInstanceId", format!("Command {command_id} was not sent to {id}.")));
            }
        }
    }
    let running = state.store.cancel(&command_id, ids.as_deref(), crate::app::now_ms()).await?;
    tracing::info!(command_id = %command_id, running = running.len(), "Cancel requested.");
    state.dispatch.wake_all(&running);
    Ok(json!({}))
}
