//! Automation operations: StartAutomationExecution, GetAutomationExecution,
//! DescribeAutomationExecutions, DescribeAutomationStepExecutions and StopAutomationExecution.
//!
//! Starting checks the runbook and its parameters, stores the execution Pending with its steps and
//! wakes the driver (`crate::automation`), which runs it. Everything after that is the driver's.
//! With `Targets` or `TargetMaps` the execution is a rate-controlled parent: the targets are
//! resolved here, once, into one planned child per target (`crate::automation::Plan`), and the
//! driver's fan-out (`automation/fanout.rs`) starts the children under `MaxConcurrency`/`MaxErrors`.
//! Not supported yet (refused with a ValidationException that says so): `Mode: Interactive`,
//! `TargetLocations` (cross-account and cross-Region automations).

use super::error::SsmError;
use super::send::document_name;
use super::wire::{self, decode, epoch};
use crate::app::{AppState, now_ms};
use crate::auth::Principal;
use crate::automation::{PersistedOutputs, Plan, PlannedChild};
use fleetrun_core::automation::{Runbook, resolve_runbook_parameters, validate_runbook};
use fleetrun_core::document::DocumentFormat;
use fleetrun_core::rate::Limit;
use fleetrun_core::target;
use fleetrun_store::{AutomationExecution, AutomationFilter, NewAutomationExecution, StepExecution, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const MAX_TAGS: usize = 5;
/// SSM's bounds on `TargetMaps`: at most 300 maps of at most 20 entries.
const MAX_TARGET_MAPS: usize = 300;
const MAX_TARGET_MAP_ENTRIES: usize = 20;
/// SSM's defaults for a rate-controlled execution.
const DEFAULT_MAX_CONCURRENCY: &str = "10";
const DEFAULT_MAX_ERRORS: &str = "0";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartInput {
    document_name: Option<String>,
    document_version: Option<String>,
    #[serde(default)]
    parameters: BTreeMap<String, Vec<String>>,
    client_token: Option<String>,
    mode: Option<String>,
    target_parameter_name: Option<String>,
    #[serde(default)]
    targets: Vec<super::send::TargetInput>,
    #[serde(default)]
    target_maps: Vec<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    target_locations: Vec<Value>,
    max_concurrency: Option<String>,
    max_errors: Option<String>,
    #[serde(default)]
    tags: Vec<super::documents::TagInput>,
}

pub(crate) async fn start_automation_execution(
    state: &AppState,
    principal: &Principal,
    input: Value,
) -> Result<Value, SsmError> {
    let input: StartInput = decode(input)?;
    let name = document_name(input.document_name.as_deref())?;
    let mode = input.mode.as_deref().unwrap_or("Auto");
    wire::check_enum("mode", mode, &["Auto", "Interactive"])?;
    if mode == "Interactive" {
        return Err(SsmError::new("ValidationException", "Mode Interactive is not supported by fleetrun; use Auto."));
    }
    if !input.target_locations.is_empty() {
        return Err(SsmError::new(
            "ValidationException",
            "TargetLocations are not supported by fleetrun yet; start the execution in each account and Region.",
        ));
    }
    if let Some(token) = &input.client_token {
        let uuid = regex::Regex::new(r"^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$")
            .expect("static pattern");
        wire::check_pattern(
            "clientToken",
            token,
            &uuid,
            "[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}",
        )?;
    }
    check_parameters(&input.parameters)?;
    let tags = super::documents::check_tags(&input.tags)?;
    if tags.len() > MAX_TAGS {
        return Err(SsmError::validation(
            "tags",
            format!("[{} tags]", tags.len()),
            "Member must have length less than or equal to 5",
        ));
    }
    let version = super::documents::find_version(state, &name, input.document_version.as_deref(), None).await.map_err(
        |e| match e.code {
            "InvalidDocument" => SsmError::new(
                "AutomationDefinitionNotFoundException",
                format!("Automation definition {name} is not found."),
            ),
            "InvalidDocumentVersion" => SsmError::new(
                "AutomationDefinitionVersionNotFoundException",
                format!(
                    "Automation definition {name} has no version {}.",
                    input.document_version.as_deref().unwrap_or("$DEFAULT")
                ),
            ),
            _ => e,
        },
    )?;
    if version.document_type != "Automation" {
        return Err(SsmError::new(
            "AutomationDefinitionNotFoundException",
            format!(
                "Document {name} is of type {}; StartAutomationExecution runs Automation documents.",
                version.document_type
            ),
        ));
    }
    let format = DocumentFormat::parse(&version.format).unwrap_or(DocumentFormat::Json);
    let runbook = validate_runbook(&version.content, format).map_err(|e| {
        SsmError::new("InvalidAutomationExecutionParametersException", format!("The runbook is not valid: {e}"))
    })?;
    let (parameters_json, targets_json, max_concurrency, max_errors) =
        match plan_fanout(state, &input, &runbook).await? {
            // A parent shows the parameters as given; each child has its own, resolved, in the plan.
            Some(plan) => {
                let max_concurrency = input.max_concurrency.clone().unwrap_or_else(|| DEFAULT_MAX_CONCURRENCY.into());
                let max_errors = input.max_errors.clone().unwrap_or_else(|| DEFAULT_MAX_ERRORS.into());
                Limit::parse_concurrency(&max_concurrency).map_err(|e| SsmError::new("ValidationException", e.0))?;
                Limit::parse_errors(&max_errors).map_err(|e| SsmError::new("ValidationException", e.0))?;
                (json!(input.parameters).to_string(), plan.encode(), max_concurrency, max_errors)
            }
            None => {
                let resolved = resolve_runbook_parameters(&runbook, &input.parameters)
                    .map_err(|e| SsmError::new("InvalidAutomationExecutionParametersException", e.to_string()))?;
                let mut wire_params = serde_json::to_value(resolved.to_wire()).map_err(SsmError::internal)?;
                super::references::resolve(state, &mut [&mut wire_params]).await?;
                (wire_params.to_string(), "[]".to_owned(), String::new(), String::new())
            }
        };
    let parent = !max_concurrency.is_empty();
    let execution = NewAutomationExecution {
        execution_id: uuid::Uuid::new_v4().to_string(),
        document_name: name.clone(),
        document_version: version.version.to_string(),
        mode: mode.to_owned(),
        parameters_json,
        targets_json,
        target_parameter_name: input.target_parameter_name.clone().unwrap_or_default(),
        max_concurrency,
        max_errors,
        parent_execution_id: None,
        client_token: input.client_token.clone(),
        executed_by: executed_by(state, principal),
        tags,
        // A parent runs no steps itself: its children do.
        steps: if parent { Vec::new() } else { runbook.steps.iter().map(crate::automation::new_step_decl).collect() },
        now_ms: now_ms(),
    };
    let stored = match state.store.create_automation_execution(&execution).await {
        Ok(stored) => stored,
        Err(StoreError::AlreadyExists(existing_id)) => {
            let existing = state
                .store
                .get_automation_execution(&existing_id)
                .await?
                .ok_or_else(|| SsmError::internal("the execution of a client token vanished"))?;
            let same = existing.document_name == execution.document_name
                && existing.document_version == execution.document_version
                && existing.parameters_json == execution.parameters_json;
            if !same {
                return Err(SsmError::new(
                    "IdempotentParameterMismatch",
                    "The ClientToken was used by an execution with other parameters.",
                ));
            }
            return Ok(json!({ "AutomationExecutionId": existing.execution_id }));
        }
        Err(other) => return Err(other.into()),
    };
    tracing::info!(execution_id = %stored.execution_id, document = %name, "Automation execution started.");
    state.automation.wake();
    Ok(json!({ "AutomationExecutionId": stored.execution_id }))
}

/// The children of a rate-controlled execution (`Targets` or `TargetMaps`), one per target with its
/// parameters resolved and checked now, so that a bad target is refused before anything starts;
/// `None` for an execution without targets.
async fn plan_fanout(state: &AppState, input: &StartInput, runbook: &Runbook) -> Result<Option<Plan>, SsmError> {
    if input.targets.is_empty() && input.target_maps.is_empty() {
        return Ok(None);
    }
    let invalid = |message: String| SsmError::new("InvalidAutomationExecutionParametersException", message);
    if !input.targets.is_empty() && !input.target_maps.is_empty() {
        return Err(SsmError::new("ValidationException", "Give either Targets or TargetMaps, not both."));
    }
    let target_parameter = input.target_parameter_name.as_deref();
    if let Some(name) = target_parameter {
        wire::check_len("targetParameterName", name, 1, 50)?;
        if runbook.document.parameter(name).is_none() {
            return Err(invalid(format!("TargetParameterName {name} is not a parameter of the runbook.")));
        }
    }
    let (overrides, resolved): (Vec<BTreeMap<String, Vec<String>>>, Vec<String>) = if !input.targets.is_empty() {
        let name = target_parameter.ok_or_else(|| {
            SsmError::new("ValidationException", "TargetParameterName is required when Targets are given.")
        })?;
        let values = target_values(state, &input.targets).await?;
        if values.is_empty() {
            return Err(SsmError::new("ValidationException", "The Targets match no managed node."));
        }
        (values.iter().map(|value| BTreeMap::from([(name.to_owned(), vec![value.clone()])])).collect(), values)
    } else {
        if input.target_maps.len() > MAX_TARGET_MAPS {
            return Err(SsmError::validation(
                "targetMaps",
                format!("[{} maps]", input.target_maps.len()),
                "Member must have length less than or equal to 300",
            ));
        }
        for map in &input.target_maps {
            if map.is_empty() || map.len() > MAX_TARGET_MAP_ENTRIES {
                return Err(SsmError::validation(
                    "targetMaps.member",
                    format!("[{} entries]", map.len()),
                    "Member must have length between 1 and 20",
                ));
            }
            if let Some(key) = map.keys().find(|key| runbook.document.parameter(key).is_none()) {
                return Err(invalid(format!("TargetMaps name {key}, which is not a parameter of the runbook.")));
            }
        }
        let resolved = match target_parameter {
            Some(name) => input.target_maps.iter().filter_map(|map| map.get(name)).flatten().cloned().collect(),
            None => Vec::new(),
        };
        (input.target_maps.clone(), resolved)
    };
    let mut children = Vec::with_capacity(overrides.len());
    for overridden in &overrides {
        check_parameters(overridden)?;
        let mut merged = input.parameters.clone();
        merged.extend(overridden.clone());
        let parameters = resolve_runbook_parameters(runbook, &merged)
            .map_err(|e| invalid(format!("{e} (in the execution for target {})", json!(overridden))))?;
        children.push(serde_json::to_value(parameters.to_wire()).map_err(SsmError::internal)?);
    }
    super::references::resolve(state, &mut children.iter_mut().collect::<Vec<_>>()).await?;
    Ok(Some(Plan {
        targets: input.targets.iter().map(|t| json!({"Key": t.key, "Values": t.values})).collect(),
        target_maps: input.target_maps.clone(),
        resolved,
        children: children
            .into_iter()
            .map(|parameters| PlannedChild { id: uuid::Uuid::new_v4().to_string(), parameters })
            .collect(),
    }))
}

/// The values `Targets` give the target parameter: `ParameterValues` literally, otherwise the
/// instance ids of the managed nodes the targets match (SendCommand's rules: targets AND-ed, values OR-ed).
async fn target_values(state: &AppState, targets: &[super::send::TargetInput]) -> Result<Vec<String>, SsmError> {
    for t in targets {
        wire::check_len("targets.member.key", &t.key, 1, 163)?;
    }
    if targets.iter().any(|t| t.key == "ParameterValues") {
        let [only] = targets else {
            return Err(SsmError::new(
                "InvalidTarget",
                "Target ParameterValues cannot be combined with other targets.",
            ));
        };
        if only.values.is_empty() || only.values.len() > 50 {
            return Err(SsmError::new("InvalidTarget", "Target ParameterValues needs 1 to 50 values."));
        }
        return Ok(only.values.clone());
    }
    let pairs: Vec<(String, Vec<String>)> = targets.iter().map(|t| (t.key.clone(), t.values.clone())).collect();
    let parsed = target::parse_targets(&pairs).map_err(|e| SsmError::new("InvalidTarget", e.to_string()))?;
    for t in &parsed {
        if let target::Target::InstanceIds(ids) = t {
            super::send::check_instance_ids(ids)?;
        }
    }
    let nodes = state.store.list_nodes().await?;
    Ok(nodes
        .into_iter()
        .filter(|node| {
            let tags: BTreeMap<String, String> = node.tags.iter().cloned().collect();
            target::matches(&parsed, &node.instance_id, &tags)
        })
        .map(|node| node.instance_id)
        .collect())
}

fn check_parameters(parameters: &BTreeMap<String, Vec<String>>) -> Result<(), SsmError> {
    if parameters.len() > 200 {
        return Err(SsmError::validation(
            "parameters",
            format!("[{} entries]", parameters.len()),
            "Member must have length less than or equal to 200",
        ));
    }
    for (key, values) in parameters {
        wire::check_len("parameters.key", key, 1, 50)?;
        if values.len() > 50 {
            return Err(SsmError::validation(
                "parameters.value",
                key,
                "Member must have length less than or equal to 50",
            ));
        }
        for value in values {
            wire::check_len("parameters.value.member", value, 1, 512)?;
        }
    }
    Ok(())
}

/// The caller as SSM shows `ExecutedBy`: an ARN naming the access key.
fn executed_by(state: &AppState, principal: &Principal) -> String {
    format!("arn:aws:iam::{}:user/{}", state.config.account_id, principal.access_key_id())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IdInput {
    automation_execution_id: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
}

fn execution_id(raw: Option<String>) -> Result<String, SsmError> {
    let id = raw.ok_or_else(|| SsmError::validation("automationExecutionId", "null", "Member must not be null"))?;
    wire::check_len("automationExecutionId", &id, 36, 36)?;
    Ok(id)
}

async fn find(state: &AppState, id: &str) -> Result<AutomationExecution, SsmError> {
    state.store.get_automation_execution(id).await?.ok_or_else(|| {
        SsmError::new("AutomationExecutionNotFoundException", format!("Automation execution {id} is not found."))
    })
}

pub(crate) async fn get_automation_execution(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: IdInput = decode(input)?;
    let id = execution_id(input.automation_execution_id)?;
    let execution = find(state, &id).await?;
    let steps = sorted_steps(state.store.list_step_executions(&id).await?);
    let mut out = metadata_json(&execution);
    out["StepExecutions"] = Value::Array(steps.iter().map(step_json).collect());
    out["StepExecutionsTruncated"] = json!(false);
    out["Parameters"] = serde_json::from_str(&execution.parameters_json).unwrap_or_else(|_| json!({}));
    out["ProgressCounters"] = progress(&steps);
    Ok(json!({ "AutomationExecution": out }))
}

/// Steps in the order they ran (by start time), those not started yet after them in runbook order.
fn sorted_steps(mut steps: Vec<StepExecution>) -> Vec<StepExecution> {
    steps.sort_by_key(|step| (step.start_ms == 0, step.start_ms, step.step_index));
    steps
}

fn progress(steps: &[StepExecution]) -> Value {
    let count = |status: &str| steps.iter().filter(|step| step.status == status).count();
    json!({
        "TotalSteps": steps.iter().filter(|step| step.start_ms > 0).count(),
        "SuccessSteps": count("Success"),
        "FailedSteps": count("Failed"),
        "CancelledSteps": count("Cancelled"),
        "TimedOutSteps": count("TimedOut"),
    })
}

/// The members GetAutomationExecution and DescribeAutomationExecutions share.
fn metadata_json(execution: &AutomationExecution) -> Value {
    let plan = Plan::of(execution).and_then(Result::ok);
    let targets = match &plan {
        Some(plan) => json!(plan.targets),
        None => serde_json::from_str::<Value>(&execution.targets_json).unwrap_or_else(|_| json!([])),
    };
    let resolved = plan.as_ref().map_or_else(Vec::new, |plan| plan.resolved.clone());
    let mut out = json!({
        "AutomationExecutionId": execution.execution_id,
        "DocumentName": execution.document_name,
        "DocumentVersion": execution.document_version,
        "AutomationExecutionStatus": execution.status,
        "ExecutionStartTime": epoch(execution.start_ms),
        "ExecutedBy": execution.executed_by,
        "Outputs": PersistedOutputs::outputs(&execution.outputs_json),
        "Mode": execution.mode,
        "Targets": targets,
        "ResolvedTargets": {"ParameterValues": resolved, "Truncated": false},
        "AutomationType": "Local",
    });
    if execution.end_ms > 0 {
        out["ExecutionEndTime"] = epoch(execution.end_ms);
    }
    for (key, value) in [
        ("FailureMessage", &execution.failure_message),
        ("CurrentStepName", &execution.current_step_name),
        ("CurrentAction", &execution.current_action),
        ("TargetParameterName", &execution.target_parameter_name),
        ("MaxConcurrency", &execution.max_concurrency),
        ("MaxErrors", &execution.max_errors),
    ] {
        if !value.is_empty() {
            out[key] = json!(value);
        }
    }
    if let Some(plan) = plan.filter(|plan| !plan.target_maps.is_empty()) {
        out["TargetMaps"] = json!(plan.target_maps);
    }
    if let Some(parent) = &execution.parent_execution_id {
        out["ParentAutomationExecutionId"] = json!(parent);
    }
    out
}

fn step_json(step: &StepExecution) -> Value {
    let mut out = json!({
        "StepName": step.step_name,
        "Action": step.action,
        "OnFailure": step.on_failure,
        "MaxAttempts": step.max_attempts,
        "StepStatus": step.status,
        "Inputs": serde_json::from_str::<Value>(&step.inputs_json).unwrap_or_else(|_| json!({})),
        "Outputs": serde_json::from_str::<Value>(&step.outputs_json).unwrap_or_else(|_| json!({})),
        "StepExecutionId": step.step_execution_id,
        "IsEnd": step.is_end,
        "IsCritical": step.is_critical,
        "OverriddenParameters": {},
    });
    if step.timeout_seconds > 0 {
        out["TimeoutSeconds"] = json!(step.timeout_seconds);
    }
    if step.start_ms > 0 {
        out["ExecutionStartTime"] = epoch(step.start_ms);
    }
    if step.end_ms > 0 {
        out["ExecutionEndTime"] = epoch(step.end_ms);
    }
    if !step.next_step.is_empty() {
        out["NextStep"] = json!(step.next_step);
    }
    if !step.response.is_empty() {
        out["Response"] = json!(step.response);
    }
    if let Some(code) = step.response_code {
        out["ResponseCode"] = json!(code.to_string());
    }
    if !step.failure_message.is_empty() {
        out["FailureMessage"] = json!(step.failure_message);
    }
    if let Ok(details) = serde_json::from_str::<Value>(&step.failure_details_json) {
        out["FailureDetails"] = details;
    }
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeInput {
    automation_execution_id: Option<String>,
    #[serde(default)]
    filters: Vec<super::documents::KeyValuesFilter>,
    max_results: Option<i64>,
    next_token: Option<String>,
    #[serde(default)]
    reverse_order: bool,
}

pub(crate) async fn describe_automation_executions(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: DescribeInput = decode(input)?;
    let page = wire::page_size(input.max_results, 1, 50, 50)?;
    let offset = wire::offset_from_token(input.next_token.as_deref())?;
    if input.filters.len() > 10 {
        return Err(SsmError::validation(
            "filters",
            format!("[{} filters]", input.filters.len()),
            "Member must have length less than or equal to 10",
        ));
    }
    let mut filter = AutomationFilter { offset, limit: Some(page + 1), ..Default::default() };
    for f in &input.filters {
        let first = || {
            f.values.first().cloned().ok_or_else(|| {
                SsmError::new("InvalidFilterValue", format!("Filter {} needs at least one value.", f.key))
            })
        };
        match f.key.as_str() {
            "DocumentNamePrefix" => filter.document_name_prefix = Some(first()?),
            "ExecutionStatus" => filter.statuses = f.values.clone(),
            "ExecutionId" => filter.execution_id = Some(first()?),
            "ParentExecutionId" => filter.parent_execution_id = Some(first()?),
            "CurrentAction" => filter.current_action = Some(first()?),
            "StartTimeBefore" => filter.start_before_ms = Some(wire::parse_time("StartTimeBefore", &first()?)?),
            "StartTimeAfter" => filter.start_after_ms = Some(wire::parse_time("StartTimeAfter", &first()?)?),
            "TagKey" => filter.tag = Some(first()?),
            "AutomationType" => {
                if !f.values.iter().any(|v| v == "Local") {
                    return Ok(json!({ "AutomationExecutionMetadataList": [] }));
                }
            }
            other => {
                return Err(SsmError::new("InvalidFilterKey", format!("Filter key '{other}' is not supported.")));
            }
        }
    }
    let mut rows = state.store.list_automation_executions(&filter).await?;
    let more = rows.len() > page as usize;
    rows.truncate(page as usize);
    let mut out = json!({ "AutomationExecutionMetadataList": rows.iter().map(metadata_json).collect::<Vec<_>>() });
    if let Some(token) = wire::next_token(offset, page, more) {
        out["NextToken"] = json!(token);
    }
    Ok(out)
}

pub(crate) async fn describe_automation_step_executions(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: DescribeInput = decode(input)?;
    let id = execution_id(input.automation_execution_id)?;
    find(state, &id).await?;
    let page = wire::page_size(input.max_results, 1, 50, 50)?;
    let offset = wire::offset_from_token(input.next_token.as_deref())?;
    if input.filters.len() > 6 {
        return Err(SsmError::validation(
            "filters",
            format!("[{} filters]", input.filters.len()),
            "Member must have length less than or equal to 6",
        ));
    }
    let mut steps = sorted_steps(state.store.list_step_executions(&id).await?);
    for f in &input.filters {
        let time = |text: &str| wire::parse_time(&f.key, text);
        let mut keep = Vec::with_capacity(steps.len());
        for step in steps {
            let matches = match f.key.as_str() {
                "StepName" => f.values.contains(&step.step_name),
                "StepExecutionStatus" => f.values.contains(&step.status),
                "Action" => f.values.contains(&step.action),
                "StepExecutionId" => f.values.contains(&step.step_execution_id),
                "StartTimeBefore" => {
                    step.start_ms > 0 && step.start_ms <= time(&f.values.first().cloned().unwrap_or_default())?
                }
                "StartTimeAfter" => {
                    step.start_ms > 0 && step.start_ms >= time(&f.values.first().cloned().unwrap_or_default())?
                }
                other => {
                    return Err(SsmError::new("InvalidFilterKey", format!("Filter key '{other}' is not supported.")));
                }
            };
            if matches {
                keep.push(step);
            }
        }
        steps = keep;
    }
    if input.reverse_order {
        steps.reverse();
    }
    let slice: Vec<Value> = steps.iter().skip(offset as usize).take(page as usize).map(step_json).collect();
    let more = (offset as usize + slice.len()) < steps.len();
    let mut out = json!({ "StepExecutions": slice });
    if let Some(token) = wire::next_token(offset, page, more) {
        out["NextToken"] = json!(token);
    }
    Ok(out)
}

pub(crate) async fn stop_automation_execution(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: IdInput = decode(input)?;
    let id = execution_id(input.automation_execution_id)?;
    let kind = input.kind.unwrap_or_else(|| "Cancel".to_owned());
    wire::check_enum("type", &kind, &["Complete", "Cancel"])?;
    let execution = find(state, &id).await?;
    if fleetrun_store::AUTOMATION_FINISHED_STATUSES.contains(&execution.status.as_str()) {
        return Err(SsmError::new(
            "InvalidAutomationStatusUpdateException",
            format!("Automation execution {id} has already ended ({}).", execution.status),
        ));
    }
    state.store.request_stop(&id, &kind).await?;
    state.automation.cancel_local(&id);
    state.automation.wake();
    Ok(json!({}))
}
