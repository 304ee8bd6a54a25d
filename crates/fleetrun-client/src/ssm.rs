//! `SsmClient`: signed HTTP calls to an SSM-compatible endpoint (fleetrun or AWS) and to
//! fleetrun's own agent API on the same server.
//!
//! Requests are SigV4-signed with `sign::sign_request`, exactly as botocore would sign them.
//! The client is untyped on purpose: inputs and outputs are `serde_json::Value` in the SSM wire
//! shape, and typed wrappers live with their callers. It does not retry, cache, or follow
//! redirects with a new signature.

mod error;

use std::time::{Duration, SystemTime};

use http::header::CONTENT_TYPE;
use serde_json::Value;

pub use error::ClientError;

use crate::credentials::{Credentials, Endpoint};
use crate::sign::{SigningScope, sign_request};
use error::api_error;

/// `Content-Type` of AWS JSON 1.1 requests and responses.
pub const AMZ_JSON_1_1: &str = "application/x-amz-json-1.1";
/// `X-Amz-Target` prefix for SSM operations.
pub const SSM_TARGET_PREFIX: &str = "AmazonSSM.";
/// The SigV4 signing name of the SSM API.
pub const SSM_SERVICE: &str = "ssm";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A signed JSON client for one endpoint and one set of credentials.
#[derive(Debug, Clone)]
pub struct SsmClient {
    http: reqwest::Client,
    endpoint: Endpoint,
    credentials: Credentials,
}

impl SsmClient {
    /// Creates a client with a default HTTP client (no request timeout, so long polls work).
    ///
    /// Panics if the TLS backend cannot be initialized, as `reqwest::Client::new` does.
    pub fn new(endpoint: Endpoint, credentials: Credentials) -> Self {
        let http =
            reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build().expect("the TLS backend initializes");
        SsmClient::with_http_client(http, endpoint, credentials)
    }

    /// Creates a client on a caller-configured HTTP client (timeouts, proxies, root certificates).
    pub fn with_http_client(http: reqwest::Client, endpoint: Endpoint, credentials: Credentials) -> Self {
        SsmClient { http, endpoint, credentials }
    }

    /// Creates a client from `Endpoint::from_env` and `Credentials::from_env`.
    pub fn from_env() -> anyhow::Result<Self> {
        let endpoint = Endpoint::from_env()?;
        let credentials = Credentials::from_env()?;
        Ok(SsmClient::new(endpoint, credentials))
    }

    /// The endpoint and region this client signs for.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Calls SSM `operation` (for example `SendCommand`) with `input`, the request object in
    /// its wire shape. Returns the response object (`{}` for an empty body).
    pub async fn call(&self, operation: &str, input: &Value) -> Result<Value, ClientError> {
        let url = with_root_path(&self.endpoint.url);
        let request = http::Request::post(url.as_str())
            .header("x-amz-target", format!("{SSM_TARGET_PREFIX}{operation}"))
            .header(CONTENT_TYPE, AMZ_JSON_1_1)
            .body(to_body(input)?)
            .map_err(|error| ClientError::InvalidRequest(format!("{url}: {error}")))?;
        let response = self.send(request, SSM_SERVICE).await?;
        read_json(operation, response).await
    }

    /// Calls a paginated SSM `operation` until the server stops returning `NextToken`, and
    /// concatenates the arrays found under `items_key` (for example `Commands`).
    pub async fn paginate(&self, operation: &str, input: &Value, items_key: &str) -> Result<Vec<Value>, ClientError> {
        let Value::Object(mut page_input) = input.clone() else {
            return Err(ClientError::InvalidRequest(format!("{operation} input must be a JSON object")));
        };
        let mut items = Vec::new();
        loop {
            let page = self.call(operation, &Value::Object(page_input.clone())).await?;
            match page.get(items_key) {
                Some(Value::Array(page_items)) => items.extend(page_items.iter().cloned()),
                None | Some(Value::Null) => {}
                Some(_) => {
                    return Err(ClientError::Decode(format!("{operation}: `{items_key}` is not an array")));
                }
            }
            let Some(next_token) = next_token(&page) else {
                return Ok(items);
            };
            let previous = page_input.insert("NextToken".to_owned(), next_token.clone());
            if previous.as_ref() == Some(&next_token) {
                return Err(ClientError::Decode(format!("{operation}: the server returned the same NextToken twice")));
            }
        }
    }

    /// POSTs `body` as `application/json` to `path` on the endpoint (for example
    /// `/agent/v1/poll`), signed for `service` (`fleetrun` for the agent API).
    pub async fn post_json_signed(&self, path: &str, service: &str, body: &Value) -> Result<Value, ClientError> {
        let url = join_url(&self.endpoint.url, path);
        let request = http::Request::post(url.as_str())
            .header(CONTENT_TYPE, "application/json")
            .body(to_body(body)?)
            .map_err(|error| ClientError::InvalidRequest(format!("{url}: {error}")))?;
        let response = self.send(request, service).await?;
        read_json(&format!("POST {path}"), response).await
    }

    /// A signed GET of an absolute `url`, for example a full-output URL the server handed
    /// out. Returns the response when its status is a success, for the caller to stream.
    pub async fn get_signed(&self, url: &str, service: &str) -> Result<reqwest::Response, ClientError> {
        let request = http::Request::get(url)
            .body(Vec::new())
            .map_err(|error| ClientError::InvalidRequest(format!("{url}: {error}")))?;
        let path = request.uri().path().to_owned();
        let response = self.send(request, service).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(error_from(&format!("GET {path}"), response).await)
    }

    /// Signs and sends any request (the agent uploads output with it); non-2xx answers are errors.
    pub async fn send_signed(
        &self,
        request: http::Request<Vec<u8>>,
        service: &str,
    ) -> Result<reqwest::Response, ClientError> {
        let operation = format!("{} {}", request.method(), request.uri().path());
        let response = self.send(request, service).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(error_from(&operation, response).await)
    }

    async fn send(&self, mut request: http::Request<Vec<u8>>, service: &str) -> Result<reqwest::Response, ClientError> {
        let scope = SigningScope { region: &self.endpoint.region, service, time: SystemTime::now() };
        sign_request(&mut request, &self.credentials, &scope)?;
        let request = reqwest::Request::try_from(request)?;
        Ok(self.http.execute(request).await?)
    }
}

/// The request body for a JSON value.
fn to_body(value: &Value) -> Result<Vec<u8>, ClientError> {
    serde_json::to_vec(value).map_err(|error| ClientError::InvalidRequest(error.to_string()))
}

/// Decodes a success body as JSON, or turns an error response into `ClientError::Api`.
async fn read_json(operation: &str, response: reqwest::Response) -> Result<Value, ClientError> {
    if !response.status().is_success() {
        return Err(error_from(operation, response).await);
    }
    let body = response.bytes().await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(&body).map_err(|error| ClientError::Decode(format!("{operation}: {error}")))
}

async fn error_from(operation: &str, response: reqwest::Response) -> ClientError {
    let status = response.status();
    let headers = response.headers().clone();
    match response.bytes().await {
        Ok(body) => api_error(operation, status, &headers, &body),
        Err(error) => ClientError::Transport(error),
    }
}

/// A non-empty `NextToken` from a page, as botocore's paginator treats it.
fn next_token(page: &Value) -> Option<Value> {
    match page.get("NextToken") {
        Some(Value::String(token)) if !token.is_empty() => Some(Value::String(token.clone())),
        _ => None,
    }
}

/// The endpoint URL with `/` as its path when it has none (`http://host:port` → `http://host:port/`).
fn with_root_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    if after_scheme.contains('/') { url.to_owned() } else { format!("{url}/") }
}

/// `base` + `path` with exactly one `/` between them.
fn join_url(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_path_is_added_only_when_missing() {
        assert_eq!(with_root_path("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
        assert_eq!(with_root_path("http://127.0.0.1:8080/"), "http://127.0.0.1:8080/");
        assert_eq!(with_root_path("https://h/ssm"), "https://h/ssm");
    }

    #[test]
    fn join_url_has_one_slash() {
        assert_eq!(join_url("http://h:1/", "/agent/v1/poll"), "http://h:1/agent/v1/poll");
        assert_eq!(join_url("http://h:1", "agent/v1/poll"), "http://h:1/agent/v1/poll");
    }

    #[test]
    fn empty_next_token_ends_pagination() {
        assert_eq!(next_token(&serde_json::json!({"NextToken": ""})), None);
        assert_eq!(next_token(&serde_json::json!({"NextToken": null})), None);
        assert_eq!(next_token(&serde_json::json!({"NextToken": "t"})), Some(Value::String("t".into())));
    }
}
