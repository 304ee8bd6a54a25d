//! The agent API (`/agent/v1/...`): enrolment, the long poll, output uploads and results.
//!
//! Every call but enrolment carries the node's own signature, and every call that names an invocation is
//! checked against the caller's instance id: an agent can fetch and report only its own invocations.

use crate::app::{AppState, now_ms};
use crate::auth::Principal;
use crate::identity;
use crate::output::{object_path, stream_ok};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use fleetrun_core::output::{MAX_STDERR_CHARS, MAX_STDOUT_CHARS};
use fleetrun_core::state::Finish;
use fleetrun_proto::*;
use fleetrun_store::{FinishedInvocation, KeyKind, NodeFacts, Plugin, Registration, StoreError};
use object_store::{ObjectStoreExt, PutPayload};
use std::time::Duration;

/// An agent API error: the body names the code, and so does `x-amzn-ErrorType`, where the shared client
/// looks for it.
pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let header = [("x-amzn-errortype", code.to_string())];
    (status, header, Json(ErrorBody { code: code.into(), message: message.into() })).into_response()
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "Agent API failure.");
    error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "internal error; see the server log")
}

fn facts(info: &NodeInfo) -> NodeFacts {
    NodeFacts {
        computer_name: info.computer_name.clone(),
        ip_address: info.ip_address.clone(),
        platform_type: info.platform_type.clone(),
        platform_name: info.platform_name.clone(),
        platform_version: info.platform_version.clone(),
        agent_version: info.agent_version.clone(),
    }
}

/// `POST /agent/v1/register`: unauthenticated; the activation code is the credential.
pub async fn register(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<RegisterRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "InvalidRequest", "the body is not a registration request");
    };
    let instance_id = match &request.instance_id {
        Some(id) if !fleetrun_core::target::is_instance_id(id) => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidInstanceId",
                format!("{id} is not an instance id (i-… or mi-…)"),
            );
        }
        Some(id) => id.clone(),
        None => identity::new_instance_id(),
    };
    if request.tags.len() > 50
        || request.tags.iter().any(|t| t.key.is_empty() || t.key.len() > 128 || t.value.len() > 256)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidTag",
            "tags: at most 50, keys 1..128 and values 0..256 characters",
        );
    }
    let now = now_ms();
    let key = identity::new_access_key(KeyKind::Agent, Some(&instance_id), "agent", now);
    let registration = Registration {
        activation_id: request.activation_id.clone(),
        code_sha256: identity::hash_code(&request.activation_code),
        instance_id: instance_id.clone(),
        facts: facts(&request.info),
        tags: request.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
        agent_key: match state.keys.seal_access_key(&key) {
            Ok(sealed) => sealed,
            Err(e) => return internal(e),
        },
        now_ms: now,
    };
    match state.store.register_node(&registration).await {
        Ok(_) => {
            tracing::info!(instance_id = %instance_id, "Node registered.");
            Json(RegisterResponse {
                instance_id,
                access_key_id: key.access_key_id,
                secret_access_key: key.secret_access_key,
            })
            .into_response()
        }
        Err(StoreError::ActivationRefused(reason)) => error(StatusCode::FORBIDDEN, "ActivationRefused", reason),
        Err(StoreError::AlreadyExists(_)) => {
            error(StatusCode::CONFLICT, "InstanceIdTaken", format!("{instance_id} is already registered"))
        }
        Err(e) => internal(e),
    }
}

pub(crate) fn agent_of(principal: &Principal) -> Option<String> {
    principal.instance_id().map(str::to_string)
}

pub(crate) fn not_an_agent() -> Response {
    error(StatusCode::FORBIDDEN, "AccessDenied", "only node keys may call the agent API")
}

/// `POST /agent/v1/poll`: returns new assignments and cancels, holding the request while there are none.
pub async fn poll(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    peer: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    body: axum::body::Bytes,
) -> Response {
    let Some(instance_id) = agent_of(&principal) else {
        return not_an_agent();
    };
    let Ok(request) = serde_json::from_slice::<PollRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "InvalidRequest", "the body is not a poll request");
    };
    // The node's address as this server sees it, unless the agent reported one.
    let info = request.info.as_ref().map(|info| {
        let mut facts = facts(info);
        if facts.ip_address.is_empty()
            && let Some(Extension(axum::extract::ConnectInfo(addr))) = &peer
        {
            facts.ip_address = addr.ip().to_string();
        }
        facts
    });
    if let Err(e) = state.store.touch_node(&instance_id, now_ms(), info.as_ref()).await {
        return match e {
            StoreError::NotFound(_) => {
                error(StatusCode::FORBIDDEN, "NodeDeregistered", "this node is no longer registered")
            }
            other => internal(other),
        };
    }
    let poll_started = now_ms();
    if let Err(e) = fail_lost(&state, &instance_id, &request.running, poll_started).await {
        return internal(e);
    }
    let wait = Duration::from_secs(request.wait_seconds).min(state.config.poll_wait);
    let deadline = tokio::time::Instant::now() + wait;
    let notify = state.dispatch.node(&instance_id);
    loop {
        let notified = notify.notified();
        let response = match collect_work(&state, &instance_id, &request).await {
            Ok(response) => response,
            Err(e) => return internal(e),
        };
        if !response.assignments.is_empty() || !response.cancel.is_empty() {
            return Json(response).into_response();
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep_until(deadline) => return Json(PollResponse::default()).into_response(),
        }
    }
}

async fn collect_work(state: &AppState, instance_id: &str, request: &PollRequest) -> Result<PollResponse, StoreError> {
    let running = &request.running;
    let claimed = state.store.claim(instance_id, now_ms(), request.capacity.unwrap_or(u32::MAX)).await?;
    let mut assignments = Vec::with_capacity(claimed.len());
    for c in claimed {
        let steps: Vec<AssignedStep> =
            serde_json::from_str(&c.steps_json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tracing::info!(command_id = %c.command_id, instance_id, "Invocation delivered.");
        let output_s3 = (!c.output_s3_bucket.is_empty()).then(|| OutputS3 {
            bucket: c.output_s3_bucket.clone(),
            key_prefix: c.output_s3_prefix.clone(),
            region: output_s3_region(&c.extra_json),
        });
        assignments.push(Assignment { command_id: c.command_id, document_name: c.document_name, steps, output_s3 });
    }
    let cancel = state.store.cancels_for(instance_id).await?;
    // Cancels the agent cannot act on (it is not running them) are resolved here: the run is gone.
    let (known, unknown): (Vec<String>, Vec<String>) = cancel.into_iter().partition(|id| running.contains(id));
    for command_id in unknown {
        if assignments.iter().all(|a| a.command_id != command_id) {
            let cancelled = cancelled_result(&command_id, instance_id);
            if let Some(settled) = state.store.finish(&cancelled).await? {
                state.dispatch.wake_all(&settled.released);
            }
        }
    }
    Ok(PollResponse { assignments, cancel: known })
}

/// Invocations this node was handed in an earlier poll but does not have: the poll's answer never
/// reached it, or its state directory was wiped. An agent sends every invocation it holds (running,
/// waiting for a slot, or not yet reported) in each poll, and polls only after taking in the previous
/// answer, so an invocation claimed before this poll began and missing from `running` is lost. It ends
/// Failed with an explanation rather than staying InProgress forever.
async fn fail_lost(
    state: &AppState,
    instance_id: &str,
    running: &[String],
    poll_started: i64,
) -> Result<(), StoreError> {
    let filter = fleetrun_store::InvocationFilter {
        instance_id: Some(instance_id.into()),
        statuses: vec!["InProgress".into()],
        ..Default::default()
    };
    for inv in state.store.list_invocations(&filter).await? {
        if inv.started_ms >= poll_started || running.contains(&inv.command_id) {
            continue;
        }
        tracing::warn!(command_id = %inv.command_id, instance_id, "The node no longer has an invocation it was given; it ends Failed.");
        let now = now_ms();
        let note = "fleetrun: the node's agent does not have this invocation (the delivery was lost, or the agent's state directory was reset); it did not run to completion.\n";
        let steps: Vec<AssignedStep> = match state.store.get_command(&inv.command_id).await? {
            Some(command) => serde_json::from_str(&command.steps_json).unwrap_or_default(),
            None => Vec::new(),
        };
        let (name, action) = steps.first().map(|s| (plugin_name(s), s.action.clone())).unwrap_or_default();
        let plugin = Plugin {
            idx: 0,
            name,
            action,
            status: "Failed".into(),
            response_code: -1,
            started_ms: inv.started_ms,
            ended_ms: now,
            stdout_head: String::new(),
            stderr_head: note.into(),
            stdout_bytes: 0,
            stderr_bytes: note.len() as i64,
            provenance_json: String::new(),
        };
        let lost = FinishedInvocation {
            finish: Finish::Failed,
            plugins: vec![plugin],
            ..cancelled_result(&inv.command_id, instance_id)
        };
        if let Some(settled) = state.store.finish(&lost).await? {
            state.dispatch.wake_all(&settled.released);
        }
    }
    Ok(())
}

fn cancelled_result(command_id: &str, instance_id: &str) -> FinishedInvocation {
    let now = now_ms();
    FinishedInvocation {
        command_id: command_id.into(),
        instance_id: instance_id.into(),
        finish: Finish::Cancelled,
        response_code: -1,
        started_ms: 0,
        ended_ms: now,
        plugins: Vec::new(),
        now_ms: now,
    }
}

/// `PUT /agent/v1/output/{command_id}/{step}/{stream}`: the full output of one step.
pub async fn upload_output(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((command_id, step, stream)): Path<(String, i64, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Some(instance_id) = agent_of(&principal) else {
        return not_an_agent();
    };
    if !stream_ok(&stream) || !(0..100).contains(&step) {
        return error(StatusCode::NOT_FOUND, "NotFound", "no such output stream");
    }
    match state.store.get_invocation(&command_id, &instance_id).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return error(StatusCode::FORBIDDEN, "AccessDenied", "that invocation is not this node's");
        }
        Err(e) => return internal(e),
    }
    let path = object_path(&command_id, &instance_id, step, &stream);
    match state.objects.put(&path, PutPayload::from(body)).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => internal(e),
    }
}

/// `POST /agent/v1/complete`: the result of an invocation.
pub async fn complete(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: axum::body::Bytes,
) -> Response {
    let Some(instance_id) = agent_of(&principal) else {
        return not_an_agent();
    };
    let Ok(request) = serde_json::from_slice::<CompleteRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "InvalidRequest", "the body is not a completion");
    };
    let command = match state.store.get_command(&request.command_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return error(StatusCode::NOT_FOUND, "NotFound", "no such command"),
        Err(e) => return internal(e),
    };
    match state.store.get_invocation(&request.command_id, &instance_id).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return error(StatusCode::FORBIDDEN, "AccessDenied", "that invocation is not this node's");
        }
        Err(e) => return internal(e),
    }
    let steps: Vec<AssignedStep> = serde_json::from_str(&command.steps_json).unwrap_or_default();
    let finished = finished_invocation(&request, &instance_id, &steps);
    match state.store.finish(&finished).await {
        Ok(Some(settled)) => {
            tracing::info!(command_id = %request.command_id, instance_id, finish = ?finished.finish, "Invocation finished.");
            state.dispatch.wake_all(&settled.released);
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(StoreError::Conflict(m)) => error(StatusCode::CONFLICT, "Conflict", m),
        Err(e) => internal(e),
    }
}

/// SendCommand's `OutputS3Region`, kept with the command's extra members.
pub(crate) fn output_s3_region(extra_json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(extra_json)
        .ok()
        .and_then(|v| v.get("OutputS3Region").and_then(|r| r.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// The most provenance kept per step; beyond it the file list is dropped and only its length kept.
const MAX_PROVENANCE_BYTES: usize = 256 * 1024;

/// A step's provenance as stored: JSON, bounded in size.
fn provenance_json(provenance: Option<&serde_json::Value>) -> String {
    let Some(value) = provenance else { return String::new() };
    let text = value.to_string();
    if text.len() <= MAX_PROVENANCE_BYTES {
        return text;
    }
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        let count = object.get("files").and_then(|f| f.as_array()).map_or(0, Vec::len);
        object.insert("files".into(), serde_json::json!([]));
        object.insert("files_omitted".into(), serde_json::json!(count));
    }
    value.to_string()
}

/// The name SSM shows for a step's plugin: the action for schema 1.2 steps (whose ids, like
/// `0.aws:runShellScript`, contain a colon), the step name for 2.x.
pub fn plugin_name(step: &AssignedStep) -> String {
    if step.name.contains(':') { step.action.clone() } else { step.name.clone() }
}

/// Turns the agent's per-step results into the stored invocation result.
fn finished_invocation(request: &CompleteRequest, instance_id: &str, steps: &[AssignedStep]) -> FinishedInvocation {
    let plugins: Vec<Plugin> = request
        .steps
        .iter()
        .enumerate()
        .map(|(idx, r)| {
            let step = steps.iter().find(|s| s.name == r.name);
            let action = step.map(|s| s.action.clone()).unwrap_or_default();
            let name = step.map(plugin_name).unwrap_or_else(|| r.name.clone());
            Plugin {
                idx: idx as i64,
                name,
                action,
                status: format!("{:?}", r.status),
                response_code: i64::from(r.exit_code),
                started_ms: r.started_at_ms,
                ended_ms: r.ended_at_ms,
                stdout_head: r.stdout_head.chars().take(MAX_STDOUT_CHARS + 1).collect(),
                stderr_head: r.stderr_head.chars().take(MAX_STDERR_CHARS + 1).collect(),
                stdout_bytes: r.stdout_bytes as i64,
                stderr_bytes: r.stderr_bytes as i64,
                provenance_json: provenance_json(r.provenance.as_ref()),
            }
        })
        .collect();
    let statuses: Vec<StepStatus> = request.steps.iter().map(|s| s.status).collect();
    let finish = if statuses.contains(&StepStatus::Cancelled) {
        Finish::Cancelled
    } else if statuses.contains(&StepStatus::TimedOut) {
        Finish::TimedOut
    } else if statuses.contains(&StepStatus::Failed) {
        Finish::Failed
    } else {
        Finish::Success
    };
    let ran: Vec<&StepResult> = request.steps.iter().filter(|s| s.status != StepStatus::Skipped).collect();
    let response_code = ran.last().map(|s| i64::from(s.exit_code)).unwrap_or(0);
    let started = ran.iter().map(|s| s.started_at_ms).filter(|t| *t > 0).min().unwrap_or(0);
    let ended = ran.iter().map(|s| s.ended_at_ms).max().unwrap_or(0);
    FinishedInvocation {
        command_id: request.command_id.clone(),
        instance_id: instance_id.to_string(),
        finish,
        response_code,
        started_ms: started,
        ended_ms: ended,
        plugins,
        now_ms: now_ms(),
    }
}
