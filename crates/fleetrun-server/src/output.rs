//! Full command output in the object store: where each stream lives, the URL that leads to it, and the
//! authenticated download handler behind that URL.
//!
//! Layout: `commands/<command id>/<instance id>/<step index>/stdout|stderr`. Output is written once by the
//! agent that ran the step and read by people and tools holding an admin key.

use crate::app::AppState;
use crate::auth::Principal;
use crate::config::Config;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

/// Which stream of a step.
pub fn stream_ok(stream: &str) -> bool {
    stream == "stdout" || stream == "stderr"
}

pub fn object_path(command_id: &str, instance_id: &str, step: i64, stream: &str) -> ObjectPath {
    ObjectPath::from(format!("commands/{command_id}/{instance_id}/{step}/{stream}"))
}

/// The prefix holding every output object of a command.
pub fn command_prefix(command_id: &str) -> ObjectPath {
    ObjectPath::from(format!("commands/{command_id}"))
}

/// The `StandardOutputUrl`/`StandardErrorUrl` of a step: this server's download endpoint.
pub fn output_url(config: &Config, command_id: &str, instance_id: &str, step: i64, stream: &str) -> String {
    format!("{}/output/{command_id}/{instance_id}/{step}/{stream}", config.public_url)
}

/// The `StandardOutputUrl`/`StandardErrorUrl` of a step as SSM shows it: the object in the command's
/// `OutputS3BucketName` when it has one (SSM's key layout; the agent uploads it there), else this server's
/// download endpoint. fleetrun keeps the full output either way (`fleetrun output` reads it from here).
pub fn stream_url(
    config: &Config,
    command: &fleetrun_store::Command,
    instance_id: &str,
    step: i64,
    stream: &str,
) -> String {
    if command.output_s3_bucket.is_empty() {
        return output_url(config, &command.command_id, instance_id, step, stream);
    }
    let steps: Vec<fleetrun_proto::AssignedStep> = serde_json::from_str(&command.steps_json).unwrap_or_default();
    let Some(assigned) = usize::try_from(step).ok().and_then(|i| steps.get(i)) else {
        return output_url(config, &command.command_id, instance_id, step, stream);
    };
    let region = crate::agent_api::output_s3_region(&command.extra_json);
    let region = if region.is_empty() { config.region.clone() } else { region };
    let target = fleetrun_proto::OutputS3 {
        bucket: command.output_s3_bucket.clone(),
        key_prefix: command.output_s3_prefix.clone(),
        region: region.clone(),
    };
    let key = target.key(&command.command_id, instance_id, &assigned.action, &assigned.name, stream);
    format!("https://s3.{region}.amazonaws.com/{}/{key}", command.output_s3_bucket)
}

/// `GET /output/{command}/{instance}/{step}/{stream}`: the full output (admin keys only).
pub async fn download(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((command_id, instance_id, step, stream)): Path<(String, String, i64, String)>,
) -> Response {
    if !principal.is_admin() {
        return (StatusCode::FORBIDDEN, "Node keys may not read command output.\n").into_response();
    }
    if !stream_ok(&stream)
        || uuid::Uuid::parse_str(&command_id).is_err()
        || !fleetrun_core::target::is_instance_id(&instance_id)
    {
        return (StatusCode::NOT_FOUND, "No such output.\n").into_response();
    }
    match state.objects.get(&object_path(&command_id, &instance_id, step, &stream)).await {
        Ok(result) => {
            let body = axum::body::Body::from_stream(result.into_stream());
            ([("content-type", "text/plain; charset=utf-8")], body).into_response()
        }
        Err(object_store::Error::NotFound { .. }) => {
            match state.store.get_invocation(&command_id, &instance_id).await {
                // A step that printed nothing has no object: its output is empty.
                Ok(Some(inv)) if inv.state.is_terminal() => {
                    ([("content-type", "text/plain; charset=utf-8")], "").into_response()
                }
                _ => (StatusCode::NOT_FOUND, "No such output (yet).\n").into_response(),
            }
        }
        Err(error) => {
            tracing::error!(error = %error, "Reading output from the object store failed.");
            (StatusCode::INTERNAL_SERVER_ERROR, "The object store failed; see the server log.\n").into_response()
        }
    }
}
