//! Server configuration: a TOML file (every field documented here; these comments are the reference) plus
//! command-line overrides, resolved once at start-up into [`Config`]. Nothing reads the environment later.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration file as written (`fleetrun server --config FILE`). Unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Address to listen on for the SSM API, the agent API and output downloads. Default `127.0.0.1:8080`.
    pub listen: Option<String>,
    /// Directory for state: the SQLite database, the local object store, the admin credentials file.
    /// Default `./fleetrun-data`.
    pub data_dir: Option<PathBuf>,
    /// The URL clients use to reach this server, used in `StandardOutputUrl` links.
    /// Default `http://<listen>`.
    pub public_url: Option<String>,
    /// The database: `postgres://user@host:port/database` for PostgreSQL (several server replicas can share
    /// it; access keys and activations live there, so every replica accepts the same credentials), or
    /// `sqlite:///path/file.db`. Default: SQLite at `<data_dir>/fleetrun.db`.
    pub database_url: Option<String>,
    /// Where command output is kept: `file:///dir`, `s3://bucket/prefix`, `gs://…`, `az://…` (credentials for
    /// cloud stores come from the usual environment variables of each cloud). Default `<data_dir>/objects`.
    pub object_store_url: Option<String>,
    /// Largest SSM API request body accepted, in bytes. Default 1 MiB (SSM documents are at most 64 KB).
    pub max_request_bytes: Option<usize>,
    /// Largest output stream an agent may upload for one step, in bytes. Default 64 MiB.
    pub max_output_bytes: Option<usize>,
    /// How long an agent's long poll is held when there is no work, in seconds. Default 20.
    pub poll_wait_seconds: Option<u64>,
    /// A node with no contact for this many seconds shows `ConnectionLost`. Default 60.
    pub ping_timeout_seconds: Option<u64>,
    /// Region reported in ARNs. Default `us-east-1`.
    pub region: Option<String>,
    /// Account id reported in ARNs and as document owner. Default `000000000000`.
    pub account_id: Option<String>,
    /// With several replicas on one PostgreSQL database, each periodic job (the deadline timer, retention)
    /// runs on one replica at a time, under a lease of this many seconds that its holder renews every
    /// third of it; when a replica dies, another takes its jobs over within about 4/3 of this. Default 15.
    pub lease_seconds: Option<u64>,
    /// Finished commands (with their invocations and full output) are deleted this many seconds after
    /// they were sent; 0 keeps them forever. Default 2592000 (30 days, as SSM).
    pub command_retention_seconds: Option<u64>,
    /// The master keys that seal SecureString parameters (JSON; created with mode 0600 and one random key
    /// on first start; must not be readable by group or others). `FLEETRUN_MASTER_KEYS`, when set, holds
    /// the same text instead. Every replica needs the same keys. Default `<data_dir>/master-keys.json`.
    pub master_key_file: Option<PathBuf>,
    /// How many Automation `aws:executeScript` steps may run at once on this replica (each is a process).
    /// Default 4; 0 makes this replica drive no runbooks (other replicas sharing PostgreSQL do).
    pub automation_runners: Option<usize>,
    /// The Python interpreter for `aws:executeScript` when the runtime's exact `python3.N` is not on `PATH`.
    /// Default `python3`.
    pub automation_python: Option<PathBuf>,
    /// PowerShell for `aws:executeScript` PowerShell runtimes. Default `pwsh`.
    pub automation_pwsh: Option<PathBuf>,
    /// Whether CreateDocument/UpdateDocument may take attachments from `file:///…` paths on the server's
    /// machine (they are read as the server's user, so only for single-user setups). Default false;
    /// `fleetrun dev` turns it on.
    pub allow_file_attachments: Option<bool>,
}

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub public_url: String,
    pub database_url: Option<String>,
    pub object_store_url: Option<String>,
    pub max_request_bytes: usize,
    pub max_output_bytes: usize,
    pub poll_wait: Duration,
    pub ping_timeout: Duration,
    pub region: String,
    pub account_id: String,
    pub lease: Duration,
    /// None: keep finished commands forever.
    pub command_retention: Option<Duration>,
    pub master_key_file: PathBuf,
    pub allow_file_attachments: bool,
    /// At least 1.
    pub automation_runners: usize,
    pub automation_python: PathBuf,
    pub automation_pwsh: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("listen address {0:?} is not valid (expected e.g. 127.0.0.1:8080)")]
    Listen(String),
    #[error("{0}")]
    Invalid(String),
}

impl RawConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })
    }

    pub fn resolve(self) -> Result<Config, ConfigError> {
        let listen_text = self.listen.unwrap_or_else(|| "127.0.0.1:8080".to_string());
        let listen: SocketAddr = listen_text.parse().map_err(|_| ConfigError::Listen(listen_text.clone()))?;
        let public_url = self.public_url.unwrap_or_else(|| format!("http://{listen}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!("public_url {public_url:?} must start with http:// or https://")));
        }
        let poll_wait = self.poll_wait_seconds.unwrap_or(20);
        if !(1..=300).contains(&poll_wait) {
            return Err(ConfigError::Invalid("poll_wait_seconds must be between 1 and 300".into()));
        }
        let ping_timeout = self.ping_timeout_seconds.unwrap_or(60);
        if ping_timeout <= poll_wait {
            return Err(ConfigError::Invalid(format!(
                "ping_timeout_seconds ({ping_timeout}) must be longer than poll_wait_seconds ({poll_wait}), or held polls would show nodes as ConnectionLost"
            )));
        }
        let lease = self.lease_seconds.unwrap_or(15);
        if !(3..=300).contains(&lease) {
            return Err(ConfigError::Invalid("lease_seconds must be between 3 and 300".into()));
        }
        let retention = self.command_retention_seconds.unwrap_or(30 * 24 * 3600);
        let automation_runners = self.automation_runners.unwrap_or(4);
        if automation_runners > 256 {
            return Err(ConfigError::Invalid("automation_runners must be between 0 and 256".into()));
        }
        let data_dir = self.data_dir.unwrap_or_else(|| PathBuf::from("fleetrun-data"));
        let master_key_file = self.master_key_file.unwrap_or_else(|| data_dir.join("master-keys.json"));
        Ok(Config {
            listen,
            data_dir,
            master_key_file,
            allow_file_attachments: self.allow_file_attachments.unwrap_or(false),
            public_url: public_url.trim_end_matches('/').to_string(),
            database_url: self.database_url,
            object_store_url: self.object_store_url,
            max_request_bytes: self.max_request_bytes.unwrap_or(1 << 20),
            max_output_bytes: self.max_output_bytes.unwrap_or(64 << 20),
            poll_wait: Duration::from_secs(poll_wait),
            ping_timeout: Duration::from_secs(ping_timeout),
            region: self.region.unwrap_or_else(|| "us-east-1".to_string()),
            account_id: self.account_id.unwrap_or_else(|| "000000000000".to_string()),
            lease: Duration::from_secs(lease),
            command_retention: (retention > 0).then(|| Duration::from_secs(retention)),
            automation_runners,
            automation_python: self.automation_python.unwrap_or_else(|| PathBuf::from("python3")),
            automation_pwsh: self.automation_pwsh.unwrap_or_else(|| PathBuf::from("pwsh")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let config = RawConfig::default().resolve().unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        let bad = RawConfig { listen: Some("nope".into()), ..Default::default() };
        assert!(matches!(bad.resolve(), Err(ConfigError::Listen(_))));
        assert_eq!(config.command_retention, Some(Duration::from_secs(30 * 24 * 3600)));
        let forever = RawConfig { command_retention_seconds: Some(0), ..Default::default() };
        assert_eq!(forever.resolve().unwrap().command_retention, None);
        let bad = RawConfig { lease_seconds: Some(1), ..Default::default() };
        assert!(bad.resolve().is_err());
        let bad = RawConfig { poll_wait_seconds: Some(0), ..Default::default() };
        assert!(bad.resolve().is_err());
        let bad = RawConfig { poll_wait_seconds: Some(90), ..Default::default() };
        assert!(bad.resolve().is_err(), "a poll held longer than the ping timeout is refused");
        let parsed: Result<RawConfig, _> = toml::from_str("listen = \"127.0.0.1:1\"\nbogus = 1\n");
        assert!(parsed.is_err(), "unknown keys are refused");
    }
}
