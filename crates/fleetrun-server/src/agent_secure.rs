//! What a running step may fetch from the server besides its assignment: SecureString values and documents.
//!
//! `POST /agent/v1/secure-parameters` is the one place a SecureString's plaintext leaves the server.
//!
//! A node gets a value only while it holds an invocation of a command (InProgress on that node) whose
//! steps reference that parameter as `{{ssm-secure:…}}`; anything else is refused. Values are opened
//! for the response and dropped with it; the log records names, never values.

use crate::agent_api::{agent_of, error, internal, not_an_agent};
use crate::app::AppState;
use crate::auth::Principal;
use crate::ssm::references::secure_targets;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use fleetrun_core::state::InvocationState;
use fleetrun_proto::{SecureParametersRequest, SecureParametersResponse, SecureValue};
use fleetrun_store::StoredValue;

/// The calling node and the command, when the node holds an invocation of it that is InProgress; else the
/// refusal to send.
async fn running_command(
    state: &AppState,
    principal: &Principal,
    command_id: &str,
) -> Result<(String, fleetrun_store::Command), Response> {
    let Some(instance_id) = agent_of(principal) else {
        return Err(not_an_agent());
    };
    let denied = |why: &str| error(StatusCode::FORBIDDEN, "AccessDenied", why.to_string());
    match state.store.get_invocation(command_id, &instance_id).await {
        Ok(Some(inv)) if inv.state == InvocationState::InProgress => {}
        Ok(_) => return Err(denied("this node has no invocation of that command in progress")),
        Err(e) => return Err(internal(e)),
    }
    match state.store.get_command(command_id).await {
        Ok(Some(command)) => Ok((instance_id, command)),
        Ok(None) => Err(denied("no such command")),
        Err(e) => Err(internal(e)),
    }
}

pub async fn secure_parameters(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<SecureParametersRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "InvalidRequest", "the body is not a secure-parameters request");
    };
    let (instance_id, command) = match running_command(&state, &principal, &request.command_id).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let denied = |why: &str| error(StatusCode::FORBIDDEN, "AccessDenied", why.to_string());
    let steps: serde_json::Value = serde_json::from_str(&command.steps_json).unwrap_or_default();
    let referenced = secure_targets(&steps);
    if let Some(name) = request.names.iter().find(|n| !referenced.contains(*n)) {
        return denied(&format!("the command does not reference {{{{ssm-secure:{name}}}}}"));
    }
    let mut values = Vec::with_capacity(request.names.len());
    for name in &request.names {
        let version = match crate::ssm::find_parameter(&state, name).await {
            Ok((version, _)) => version,
            Err(e) if e.status.is_client_error() => {
                return error(StatusCode::NOT_FOUND, e.code, format!("{{{{ssm-secure:{name}}}}}: {}", e.message));
            }
            Err(e) => return error(e.status, e.code, e.message),
        };
        let StoredValue::Sealed(bytes) = &version.value else {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterType",
                format!("{{{{ssm-secure:{name}}}}}: parameter {} is no longer a SecureString", version.name),
            );
        };
        match state.keys.open(&version.name, version.version, bytes) {
            Ok(value) => values.push(SecureValue { name: name.clone(), value: value.as_str().to_string() }),
            Err(e) => return internal(format!("opening SecureString {} failed: {e}", version.name)),
        }
    }
    tracing::info!(command_id = %request.command_id, instance_id, names = ?request.names, "SecureString values released to the node running the command.");
    (StatusCode::OK, Json(SecureParametersResponse { values })).into_response()
}

/// `POST /agent/v1/document`: a stored document, for a node running a command whose steps name it.
pub async fn document(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<fleetrun_proto::DocumentRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "InvalidRequest", "the body is not a document request");
    };
    let (_, command) = match running_command(&state, &principal, &request.command_id).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let denied = |why: &str| error(StatusCode::FORBIDDEN, "AccessDenied", why.to_string());
    let (name, version) = match request.name.split_once(':') {
        Some((name, version)) => (name, Some(version)),
        None => (request.name.as_str(), None),
    };
    // Document names have no quotes or backslashes, so finding one in the steps' JSON is finding it in a
    // step input (directly, or inside a sourceInfo string).
    if name.is_empty() || !command.steps_json.contains(name) {
        return denied(&format!("the command's steps do not name the document {name}"));
    }
    let selector = match version {
        None | Some("") | Some("$DEFAULT") => fleetrun_store::VersionSelector::Default,
        Some("$LATEST") => fleetrun_store::VersionSelector::Latest,
        Some(v) => match v.parse() {
            Ok(n) => fleetrun_store::VersionSelector::Number(n),
            Err(_) => fleetrun_store::VersionSelector::Named(v),
        },
    };
    match state.store.get_document(name, selector).await {
        Ok(Some(doc)) => {
            let response = fleetrun_proto::DocumentResponse {
                name: doc.name,
                version: doc.version,
                format: doc.format,
                content: doc.content,
            };
            (StatusCode::OK, Json(response)).into_response()
        }
        Ok(None) => {
            error(StatusCode::NOT_FOUND, "InvalidDocument", format!("document {} does not exist", request.name))
        }
        Err(e) => internal(e),
    }
}
