//! The agent's view of the control plane: signed calls to the agent API, with errors sorted into
//! "try again later" (transport, 5xx) and "will never work" (4xx).

use fleetrun_client::{ClientError, Credentials, Endpoint, SsmClient};
use fleetrun_proto::SIGNING_SERVICE;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Clone)]
pub struct Server {
    client: SsmClient,
    base: String,
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
}

impl Server {
    pub fn new(base: &str, access_key_id: &str, secret_access_key: &str) -> Self {
        let endpoint = Endpoint { url: base.trim_end_matches('/').to_string(), region: "us-east-1".into() };
        let credentials = Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        };
        Self { client: SsmClient::new(endpoint, credentials), base: base.trim_end_matches('/').to_string() }
    }

    pub async fn post<I: Serialize, O: DeserializeOwned>(&self, path: &str, body: &I) -> Result<O, CallError> {
        let body = serde_json::to_value(body).map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        let value = self.client.post_json_signed(path, SIGNING_SERVICE, &body).await?;
        serde_json::from_value(value).map_err(|e| CallError(ClientError::Decode(e.to_string())))
    }

    pub async fn put_bytes(&self, path: &str, body: Vec<u8>) -> Result<(), CallError> {
        let request = http::Request::put(format!("{}{path}", self.base))
            .header("content-type", "application/octet-stream")
            .body(body)
            .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        self.client.send_signed(request, SIGNING_SERVICE).await?;
        Ok(())
    }
}
