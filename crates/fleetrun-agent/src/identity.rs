//! The node's identity: enrolment with an activation, and the credentials it earns, kept in the state
//! directory (`identity.json`, mode 0600) so a restarted agent is the same node.

use anyhow::Context;
use fleetrun_proto::{NodeInfo, RegisterRequest, RegisterResponse, Tag};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

#[derive(Clone, Serialize, Deserialize)]
pub struct Identity {
    pub instance_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("instance_id", &self.instance_id)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

const FILE: &str = "identity.json";

/// What enrolment needs.
pub struct Enrolment<'a> {
    pub server: &'a str,
    pub activation_id: &'a str,
    pub activation_code: &'a str,
    pub instance_id: Option<&'a str>,
    pub tags: &'a [Tag],
}

/// Loads the saved identity, or enrols and saves a new one.
pub async fn load_or_enrol(state_dir: &Path, enrolment: &Enrolment<'_>) -> anyhow::Result<Identity> {
    let path = state_dir.join(FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let identity: Identity =
            serde_json::from_str(&text).with_context(|| format!("{} is not a valid identity file", path.display()))?;
        return Ok(identity);
    }
    let identity = enrol(enrolment).await?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(serde_json::to_string_pretty(&identity)?.as_bytes())?;
    Ok(identity)
}

async fn enrol(e: &Enrolment<'_>) -> anyhow::Result<Identity> {
    let request = RegisterRequest {
        activation_id: e.activation_id.to_string(),
        activation_code: e.activation_code.to_string(),
        instance_id: e.instance_id.map(Into::into),
        tags: e.tags.to_vec(),
        info: node_info(),
    };
    // With several replicas, any one that answers will do.
    let mut last_error = None;
    for base in crate::server::server_urls(e.server) {
        let url = format!("{base}{}", fleetrun_proto::PATH_REGISTER);
        match reqwest::Client::new().post(&url).json(&request).send().await {
            Ok(response) => return registered(response).await,
            Err(error) => last_error = Some(anyhow::Error::new(error).context(format!("cannot reach {url}"))),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no server URL given")))
}

async fn registered(response: reqwest::Response) -> anyhow::Result<Identity> {
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!("enrolment refused ({status}): {body}");
    }
    let registered: RegisterResponse = response.json().await.context("enrolment answer")?;
    tracing::info!(instance_id = %registered.instance_id, "Enrolled.");
    Ok(Identity {
        instance_id: registered.instance_id,
        access_key_id: registered.access_key_id,
        secret_access_key: registered.secret_access_key,
    })
}

/// Facts about this machine, sent at enrolment and with every poll.
pub fn node_info() -> NodeInfo {
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |name: &str| {
        os_release
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let platform_type = if cfg!(target_os = "macos") { "MacOS" } else { "Linux" };
    NodeInfo {
        computer_name: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default(),
        ip_address: String::new(),
        platform_type: platform_type.into(),
        platform_name: field("NAME"),
        platform_version: field("VERSION_ID"),
        agent_version: env!("CARGO_PKG_VERSION").into(),
    }
}
