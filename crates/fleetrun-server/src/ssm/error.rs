//! The one place where the SSM façade's errors become HTTP responses (`__type` + `Message`, as botocore reads them).
//!
//! Client mistakes are HTTP 400 with SSM's error code; a store or object-store failure is a 500
//! `InternalServerError` and is logged with its cause (botocore retries 500s, so never use it for a
//! deterministic refusal).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fleetrun_store::StoreError;

#[derive(Debug)]
pub struct SsmError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl SsmError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code, message: message.into() }
    }

    /// AWS's wording for a constraint the model declares (max length, pattern, enum, range).
    pub fn validation(member: &str, value: impl std::fmt::Display, constraint: &str) -> Self {
        Self::new(
            "ValidationException",
            format!(
                "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
            ),
        )
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "Internal error while handling an SSM request.");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalServerError",
            message: "An internal error occurred; the server log has the details.".into(),
        }
    }
}

impl From<StoreError> for SsmError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Database(_) | StoreError::Corrupt(_) => {
                Self::internal(format!("{error}: {:?}", std::error::Error::source(&error)))
            }
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for SsmError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::debug!(code = self.code, message = %self.message, "SSM request refused.");
        }
        let body = serde_json::json!({ "__type": self.code, "Message": self.message, "message": self.message });
        super::json_response(self.status, &body)
    }
}
