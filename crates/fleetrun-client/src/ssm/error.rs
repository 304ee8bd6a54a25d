//! `ClientError` and the botocore-compatible decoding of AWS JSON error bodies.
//!
//! Decoding follows botocore's `BaseJSONParser._do_error_parse` so that a code or message the aws
//! CLI would show is exactly what `ClientError::Api` holds. This module does not retry or
//! classify errors as retryable.

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::sign::SignError;

/// Longest piece of a non-JSON error body kept in `ClientError::Api::message`.
const MAX_RAW_MESSAGE: usize = 512;

/// Why a call did not produce a decoded response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a non-success status. Displays like the aws CLI.
    #[error("An error occurred ({code}) when calling the {operation} operation: {message}")]
    Api {
        /// The SSM operation (`SendCommand`), or `METHOD /path` for non-SSM calls.
        operation: String,
        status: u16,
        code: String,
        message: String,
    },
    /// Connecting, sending, or reading the response failed.
    #[error("the request could not be sent or its response read")]
    Transport(#[from] reqwest::Error),
    /// A success response whose body is not what the operation promises.
    #[error("could not decode the response: {0}")]
    Decode(String),
    /// The request could not be built from the given URL or input.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The request could not be signed.
    #[error("the request could not be signed")]
    Sign(#[from] SignError),
}

impl ClientError {
    /// The AWS error code when the server answered with one.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Builds `ClientError::Api` from an error response the way botocore does: the code is `__type`
/// (else the `x-amzn-ErrorType` header, else the status number) with any namespace before `#`
/// and any suffix after `:` removed; the message is `message`, else `Message`.
pub(crate) fn api_error(operation: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ClientError {
    let json = serde_json::from_slice::<Value>(body).ok();
    let field = |name: &str| json.as_ref().and_then(|json| json.get(name)).and_then(Value::as_str);
    let header_code = headers.get("x-amzn-errortype").and_then(|value| value.to_str().ok());
    let code = field("__type").or(header_code).map(clean_error_code).unwrap_or_else(|| status.as_u16().to_string());
    let message = match &json {
        Some(_) => field("message").or_else(|| field("Message")).unwrap_or_default().to_owned(),
        None if body.is_empty() => status.canonical_reason().unwrap_or_default().to_owned(),
        None => raw_message(body),
    };
    ClientError::Api { operation: operation.to_owned(), status: status.as_u16(), code, message }
}

/// `com.amazonaws.ssm#InvalidDocument:http://…` → `InvalidDocument`.
fn clean_error_code(code: &str) -> String {
    let code = code.split_once(':').map_or(code, |(before, _)| before);
    let code = code.rsplit_once('#').map_or(code, |(_, after)| after);
    code.to_owned()
}

fn raw_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX_RAW_MESSAGE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> ClientError {
        api_error("GetParameter", StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes())
    }

    #[track_caller]
    fn assert_api(error: ClientError, expected_code: &str, expected_message: &str) {
        let ClientError::Api { code, message, .. } = error else { panic!("not an Api error: {error:?}") };
        assert_eq!((code.as_str(), message.as_str()), (expected_code, expected_message));
    }

    #[test]
    fn code_is_stripped_like_botocore() {
        assert_api(
            parse(r#"{"__type":"com.amazonaws.ssm#ParameterNotFound","message":"Parameter /x not found."}"#),
            "ParameterNotFound",
            "Parameter /x not found.",
        );
        assert_api(
            parse(r#"{"__type":"InvalidDocument:http://internal.amazon.com/coral/","Message":"x"}"#),
            "InvalidDocument",
            "x",
        );
        assert_api(parse(r#"{"__type":"InvocationDoesNotExist"}"#), "InvocationDoesNotExist", "");
    }

    #[test]
    fn lowercase_message_wins_over_capitalized() {
        assert_api(parse(r#"{"__type":"X","message":"lower","Message":"upper"}"#), "X", "lower");
    }

    #[test]
    fn code_falls_back_to_header_then_status() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amzn-ErrorType", "ThrottlingException:http://x".parse().unwrap());
        assert_api(api_error("ListCommands", StatusCode::BAD_REQUEST, &headers, b"{}"), "ThrottlingException", "");
        assert_api(api_error("ListCommands", StatusCode::BAD_GATEWAY, &HeaderMap::new(), b""), "502", "Bad Gateway");
        assert_api(
            api_error("ListCommands", StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"<html>oops</html>"),
            "502",
            "<html>oops</html>",
        );
    }

    #[test]
    fn displays_like_the_aws_cli() {
        let error = parse(r#"{"__type":"com.amazonaws.ssm#ParameterNotFound","message":"Parameter /x not found."}"#);
        assert_eq!(
            error.to_string(),
            "An error occurred (ParameterNotFound) when calling the GetParameter operation: Parameter /x not found."
        );
        assert_eq!(error.aws_code(), Some("ParameterNotFound"));
    }

    #[test]
    fn long_raw_bodies_are_truncated() {
        let body = "é".repeat(2 * MAX_RAW_MESSAGE);
        let ClientError::Api { message, .. } =
            api_error("X", StatusCode::INTERNAL_SERVER_ERROR, &HeaderMap::new(), body.as_bytes())
        else {
            panic!()
        };
        assert_eq!(message.chars().count(), MAX_RAW_MESSAGE + 1);
    }
}
