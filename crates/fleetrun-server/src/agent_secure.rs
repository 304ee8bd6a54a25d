//! `POST /agent/v1/secure-parameters`: the one place a SecureString's plaintext leaves the server.
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

pub async fn secure_parameters(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: axum::body::Bytes,
) -> Response {
    let Some(instance_id) = agent_of(&principal) else {
        return not_an_agent();
    };
    let Ok(request) = serde_json::from_slice::<SecureParametersRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "InvalidRequest", "the body is not a secure-parameters request");
    };
    let denied = |why: &str| error(StatusCode::FORBIDDEN, "AccessDenied", why.to_string());
    match state.store.get_invocation(&request.command_id, &instance_id).await {
        Ok(Some(inv)) if inv.state == InvocationState::InProgress => {}
        Ok(_) => return denied("this node has no invocation of that command in progress"),
        Err(e) => return internal(e),
    }
    let command = match state.store.get_command(&request.command_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return denied("no such command"),
        Err(e) => return internal(e),
    };
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
