//! `aws:downloadContent`: fetch a file or a directory from a source into a destination directory on the node.
//!
//! One module per `sourceType` (`s3`, `github`, `git`, `http`, and `SSMDocument`, which the step runner
//! handles through the agent API); each turns its `sourceInfo` into requests and hands every file to a
//! [`Sink`]. The sink is the one place files land: it refuses paths that would leave the destination
//! (`..`, absolute paths, symlinks pointing out), enforces the size and file-count limits, writes files with
//! mode 0700, and hashes each one (sha256) for the invocation's provenance. Sources never create files by
//! themselves.
//!
//! What a source needs of the node (S3 endpoint, GitHub API base, limits) is in [`NodeConfig`], read once from
//! the agent's environment; secrets (`tokenInfo`, passwords, SSH keys written as `{{ssm-secure:…}}`) arrive
//! already resolved in [`Request::secrets`] and must never be logged or put in an error message.

pub mod git;
pub mod github;
pub mod http;
pub mod s3;
mod sink;

#[cfg(test)]
mod tests;

pub use sink::{FileRecord, Sink};

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// The `sourceType`s `aws:downloadContent` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceType {
    GitHub,
    Git,
    Http,
    S3,
    SsmDocument,
}

impl SourceType {
    /// SSM's spelling, which is case-sensitive.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "GitHub" => Self::GitHub,
            "Git" => Self::Git,
            "HTTP" => Self::Http,
            "S3" => Self::S3,
            "SSMDocument" => Self::SsmDocument,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GitHub => "GitHub",
            Self::Git => "Git",
            Self::Http => "HTTP",
            Self::S3 => "S3",
            Self::SsmDocument => "SSMDocument",
        }
    }
}

/// Bounds on one download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of all files.
    pub max_bytes: u64,
    /// Number of files.
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_bytes: 512 << 20, max_files: 5_000 }
    }
}

/// How this node reaches download sources. Read once when the agent starts (see [`NodeConfig::from_env`]);
/// the local agent of `fleetrun dev` therefore takes it from the environment `fleetrun dev` was started in.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The S3-compatible endpoint (`AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, as the AWS SDKs read
    /// them); None means AWS itself (`https://s3.<region>.amazonaws.com`).
    pub s3_endpoint: Option<String>,
    /// The region for S3 signing when a URL names none (`AWS_REGION`, else `AWS_DEFAULT_REGION`, else
    /// `us-east-1`).
    pub region: String,
    /// The GitHub REST API base (`FLEETRUN_GITHUB_API_URL`, default `https://api.github.com`; GitHub
    /// Enterprise: `https://HOST/api/v3`).
    pub github_api: String,
    pub limits: Limits,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            s3_endpoint: None,
            region: "us-east-1".into(),
            github_api: "https://api.github.com".into(),
            limits: Limits::default(),
        }
    }
}

impl NodeConfig {
    /// The configuration from the agent's environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// The configuration from any variable lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let defaults = Self::default();
        Self {
            s3_endpoint: get("AWS_ENDPOINT_URL_S3").or_else(|| get("AWS_ENDPOINT_URL")),
            region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")).unwrap_or(defaults.region),
            github_api: get("FLEETRUN_GITHUB_API_URL")
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or(defaults.github_api),
            limits: defaults.limits,
        }
    }
}

/// One download, as a source module gets it.
pub struct Request<'a> {
    /// `sourceInfo`, parsed (SSM accepts a JSON string or an object).
    pub source_info: &'a Map<String, Value>,
    /// The plaintext of every `{{ssm-secure:…}}` in `sourceInfo`, by the reference as written in it
    /// (for example `"{{ssm-secure:github-token}}"`). Never log these, never put them in an error.
    pub secrets: &'a HashMap<String, Zeroizing<String>>,
    pub config: &'a NodeConfig,
}

impl Request<'_> {
    /// A `sourceInfo` member as text (absent → None; a non-string value is an error).
    pub fn text(&self, member: &str) -> Result<Option<&str>, DownloadError> {
        match self.source_info.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(DownloadError::Invalid(format!("sourceInfo.{member} must be a string"))),
        }
    }

    /// A required `sourceInfo` member as non-empty text.
    pub fn required(&self, member: &str) -> Result<&str, DownloadError> {
        match self.text(member)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(DownloadError::Invalid(format!("sourceInfo.{member} is required"))),
        }
    }

    /// A member that may hold a secret: `{{ssm-secure:…}}` resolved to its value, anything else as written.
    pub fn secret_or_text(&self, member: &str) -> Result<Option<Zeroizing<String>>, DownloadError> {
        let Some(text) = self.text(member)? else { return Ok(None) };
        let trimmed = text.trim();
        Ok(Some(match self.secrets.get(trimmed) {
            Some(value) => value.clone(),
            None => Zeroizing::new(text.to_string()),
        }))
    }
}

/// What was downloaded: every file (for the invocation's provenance) and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Downloaded {
    pub source_type: String,
    /// The source as a person would name it: `s3://bucket/key`, `github.com/owner/repo/path@ref`, the git or
    /// HTTP URL (never with credentials in it).
    pub location: String,
    /// The exact revision fetched when the source has one: a git commit SHA, an S3 ETag or version id.
    pub revision: Option<String>,
    pub files: Vec<FileRecord>,
}

/// Why a download failed. Messages are for people, name the source, and never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The step's inputs are wrong (missing or malformed `sourceInfo` members).
    #[error("{0}")]
    Invalid(String),
    /// The download would write outside the destination, or exceed a limit.
    #[error("{0}")]
    Refused(String),
    /// The source answered with an error, or could not be reached.
    #[error("{0}")]
    Source(String),
    #[error("writing the downloaded files failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Where downloaded content goes for a step: SSM's rule for `destinationPath` (absolute → as is; relative
/// or empty → under the invocation's `downloads` directory).
pub fn destination(destination_path: &str, downloads: &std::path::Path) -> PathBuf {
    let path = std::path::Path::new(destination_path);
    if path.is_absolute() { path.to_path_buf() } else { downloads.join(path) }
}
