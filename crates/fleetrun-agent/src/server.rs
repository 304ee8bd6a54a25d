//! The agent's view of the control plane: signed calls to the agent API, with errors sorted into
//! "try again later" (transport, 5xx) and "will never work" (4xx).
//!
//! The control plane may be several replicas: `--server` takes a comma-separated list of URLs (or one
//! load-balanced URL). Calls go to the current one; a transport failure moves the agent to the next, so
//! its retries reach a surviving replica.

use fleetrun_client::{ClientError, Credentials, Endpoint, SsmClient};
use fleetrun_proto::SIGNING_SERVICE;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Clone)]
pub struct Server {
    // Invariant: never empty.
    replicas: std::sync::Arc<Vec<(SsmClient, String)>>,
    current: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// The URLs in a `--server` value (comma-separated), without trailing slashes.
pub fn server_urls(list: &str) -> Vec<String> {
    list.split(',').map(|u| u.trim().trim_end_matches('/').to_string()).filter(|u| !u.is_empty()).collect()
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct CallError(#[from] ClientError);

impl CallError {
    /// A 4xx answer: the request itself is wrong, retrying will not help.
    pub fn is_permanent(&self) -> bool {
        matches!(&self.0, ClientError::Api { status, .. } if (400..500).contains(status) && *status != 408 && *status != 429)
    }

    /// The AWS error code of an API refusal.
    pub fn code(&self) -> Option<&str> {
        match &self.0 {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.0 {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The message of an API refusal, as the server wrote it.
    pub fn message(&self) -> Option<&str> {
        match &self.0 {
            ClientError::Api { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The answer arrived but was not what the call promises. The text of such an error may quote
    /// the answer, so callers whose answers hold secrets must not show it.
    pub fn is_decode(&self) -> bool {
        matches!(self.0, ClientError::Decode(_))
    }
}

impl Server {
    /// A client for the replicas in `list` (comma-separated URLs).
    pub fn new(list: &str, access_key_id: &str, secret_access_key: &str) -> Self {
        let mut urls = server_urls(list);
        if urls.is_empty() {
            urls.push(list.to_string());
        }
        let replicas = urls
            .into_iter()
            .map(|url| {
                let endpoint = Endpoint { url: url.clone(), region: "us-east-1".into() };
                let credentials = Credentials {
                    access_key_id: access_key_id.into(),
                    secret_access_key: secret_access_key.into(),
                    session_token: None,
                };
                (SsmClient::new(endpoint, credentials), url)
            })
            .collect();
        Self { replicas: std::sync::Arc::new(replicas), current: Default::default() }
    }

    fn pick(&self) -> (usize, &(SsmClient, String)) {
        let idx = self.current.load(std::sync::atomic::Ordering::Relaxed) % self.replicas.len();
        (idx, &self.replicas[idx])
    }

    /// After a transport failure on replica `idx`, the next call goes to the following one.
    fn failed<T>(&self, idx: usize, result: Result<T, ClientError>) -> Result<T, CallError> {
        if let Err(ClientError::Transport(_)) = &result
            && self.replicas.len() > 1
        {
            let next = (idx + 1) % self.replicas.len();
            let _ = self.current.compare_exchange(
                idx,
                next,
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
            );
            tracing::warn!(failed = %self.replicas[idx].1, next = %self.replicas[next].1, "A control-plane replica is unreachable; switching.");
        }
        result.map_err(CallError)
    }

    pub async fn post<I: Serialize, O: DeserializeOwned>(&self, path: &str, body: &I) -> Result<O, CallError> {
        let body = serde_json::to_value(body).map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        let (idx, (client, _)) = self.pick();
        let value = self.failed(idx, client.post_json_signed(path, SIGNING_SERVICE, &body).await)?;
        serde_json::from_value(value).map_err(|e| CallError(ClientError::Decode(e.to_string())))
    }

    pub async fn put_bytes(&self, path: &str, body: Vec<u8>) -> Result<(), CallError> {
        let (idx, (client, base)) = self.pick();
        let request = http::Request::put(format!("{base}{path}"))
            .header("content-type", "application/octet-stream")
            .body(body)
            .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        self.failed(idx, client.send_signed(request, SIGNING_SERVICE).await)?;
        Ok(())
    }
}
