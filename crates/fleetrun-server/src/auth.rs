//! Authentication of every request: a SigV4 signature from an access key the store knows.
//!
//! The layer buffers the body (within the configured limit), verifies the signature over it, and hands
//! the request on with a [`Principal`] in its extensions. A request without a valid signature gets the AWS
//! error for its case and reaches no handler. Only agent enrolment (`/agent/v1/register`, which is
//! authenticated by its activation code) and `/healthz` skip this layer.

use crate::app::AppState;
use crate::ssm::error::SsmError;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fleetrun_client::sigv4_verify::{self, AuthError};
use fleetrun_store::{AccessKey, KeyKind};
use std::time::SystemTime;

/// Who is calling.
#[derive(Clone, Debug)]
pub struct Principal {
    key: AccessKey,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.key.kind == KeyKind::Admin
    }

    pub fn access_key_id(&self) -> &str {
        &self.key.access_key_id
    }

    /// The node this principal is, for agent keys.
    pub fn instance_id(&self) -> Option<&str> {
        match self.key.kind {
            KeyKind::Agent => self.key.instance_id.as_deref(),
            KeyKind::Admin => None,
        }
    }
}

/// The request body, already read by the auth layer.
#[derive(Clone)]
pub struct RawBody(pub Bytes);

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let limit = if parts.uri.path().starts_with(fleetrun_proto::PATH_OUTPUT) {
        state.config.max_output_bytes
    } else {
        state.config.max_request_bytes
    };
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let message = format!("The request body is larger than the limit of {limit} bytes.");
            return SsmError { status: StatusCode::PAYLOAD_TOO_LARGE, code: "RequestEntityTooLarge", message }
                .into_response();
        }
    };
    let principal = match authenticate(&state, &parts, &bytes).await {
        Ok(principal) => principal,
        Err(error) => {
            tracing::info!(path = parts.uri.path(), code = error.aws_code(), "Request refused: authentication failed.");
            return SsmError { status: StatusCode::BAD_REQUEST, code: error.aws_code(), message: error.message() }
                .into_response();
        }
    };
    let mut request = Request::from_parts(parts, Body::from(bytes.clone()));
    request.extensions_mut().insert(principal);
    request.extensions_mut().insert(RawBody(bytes));
    next.run(request).await
}

async fn authenticate(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<Principal, AuthError> {
    let header = sigv4_verify::parse_authorization(&parts.headers)?;
    let key = match state.store.get_access_key(&header.access_key_id).await {
        Ok(Some(key)) => key,
        Ok(None) => return Err(AuthError::UnknownAccessKey),
        Err(error) => {
            tracing::error!(error = %error, "Looking up an access key failed.");
            return Err(AuthError::UnknownAccessKey);
        }
    };
    let secret = match state.keys.access_secret(&key) {
        Ok(secret) => secret,
        Err(error) => {
            tracing::error!(access_key_id = %key.access_key_id, error = %error, "Opening an access key's sealed secret failed.");
            return Err(AuthError::UnknownAccessKey);
        }
    };
    sigv4_verify::verify(&parts.method, &parts.uri, &parts.headers, body, &header, &secret, SystemTime::now())?;
    if !key.secret_access_key.starts_with(crate::master_keys::SEALED_SECRET_PREFIX) {
        seal_in_background(state, &key);
    }
    Ok(Principal { key })
}

/// A key stored in clear (made by a tool that had no master keys at hand) is sealed at its first use.
fn seal_in_background(state: &AppState, key: &fleetrun_store::AccessKey) {
    let (store, keys, key) = (state.store.clone(), state.keys.clone(), key.clone());
    tokio::spawn(async move {
        let sealed = match keys.seal_access_key(&key) {
            Ok(sealed) => sealed,
            Err(error) => return tracing::error!(error = %error, "Sealing an access key failed."),
        };
        let replaced =
            store.replace_access_key_secret(&key.access_key_id, &key.secret_access_key, &sealed.secret_access_key);
        if let Err(error) = replaced.await {
            tracing::warn!(access_key_id = %key.access_key_id, error = %error, "Sealing an access key failed; it stays in clear for now.");
        }
    });
}
