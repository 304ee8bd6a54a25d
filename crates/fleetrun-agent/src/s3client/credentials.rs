//! The node's AWS credentials, found the way the AWS SDKs find them: environment variables, then the shared
//! credentials file, then EC2 instance metadata (IMDSv2). None found means anonymous (unsigned) requests.
//!
//! This is not the full SDK chain: no `~/.aws/config` profiles (`role_arn`, `credential_process`, SSO), no web
//! identity, no ECS container credentials. Credentials never appear in logs, errors or `Debug` output.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime};
use zeroize::Zeroizing;

/// The IMDS address the SDKs use unless `AWS_EC2_METADATA_SERVICE_ENDPOINT` names another.
const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// How long the IMDS token request may take. Off EC2 the address is usually unroutable, so this bounds the
/// time a node without credentials spends finding out.
const IMDS_TOKEN_TIMEOUT: Duration = Duration::from_secs(1);
const IMDS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long found credentials are reused before the chain is walked again. Expiring credentials are
/// refreshed this long before they expire.
const STATIC_TTL: Duration = Duration::from_secs(300);
/// How long "no credentials" is remembered, so that each download does not wait on IMDS again.
const ANONYMOUS_TTL: Duration = Duration::from_secs(60);
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The variables the chain reads, captured once when it is built.
const VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_PROFILE",
    "HOME",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
];

/// Where a set of credentials came from (safe to log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// Given by the caller.
    Static,
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`.
    Environment,
    /// A profile of the shared credentials file.
    SharedFile { profile: String },
    /// The EC2 instance's role, through IMDSv2.
    InstanceMetadata { role: String },
}

/// AWS credentials. `Debug` shows only where they came from.
#[derive(Clone)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
    expires_at: Option<SystemTime>,
    source: CredentialSource,
}

impl Credentials {
    pub fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        Self {
            access_key_id: access_key_id.to_string(),
            secret_access_key: Zeroizing::new(secret_access_key.to_string()),
            session_token: session_token.map(|token| Zeroizing::new(token.to_string())),
            expires_at: None,
            source: CredentialSource::Static,
        }
    }

    pub fn source(&self) -> &CredentialSource {
        &self.source
    }

    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    pub(crate) fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub(crate) fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    pub(crate) fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref().map(String::as_str)
    }

    fn with_source(mut self, source: CredentialSource) -> Self {
        self.source = source;
        self
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("source", &self.source).finish_non_exhaustive()
    }
}

/// The credential chain of one process (or of one test, through [`CredentialChain::from_lookup`]).
///
/// Found credentials are cached: static ones for five minutes (so an edited credentials file is picked up),
/// instance-role ones until five minutes before they expire, "none" for a minute.
pub struct CredentialChain {
    // Invariant: holds only names from VARIABLES, with non-empty values.
    variables: HashMap<&'static str, Zeroizing<String>>,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    credentials: Option<Credentials>,
    fresh_until: Instant,
}

impl std::fmt::Debug for CredentialChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.variables.keys().collect();
        names.sort();
        f.debug_struct("CredentialChain").field("variables_set", &names).finish_non_exhaustive()
    }
}

/// The agent process's chain, reading its environment on first use.
pub fn node_chain() -> &'static CredentialChain {
    static CHAIN: LazyLock<CredentialChain> = LazyLock::new(CredentialChain::from_env);
    &CHAIN
}

impl CredentialChain {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// A chain reading its variables from `get` (tests pass a map instead of touching the process
    /// environment). Empty values count as unset, as in the SDKs.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let variables = VARIABLES
            .iter()
            .filter_map(|&name| get(name).filter(|value| !value.is_empty()).map(|value| (name, Zeroizing::new(value))))
            .collect();
        Self { variables, cache: tokio::sync::Mutex::new(None) }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.variables.get(name).map(|value| value.as_str())
    }

    /// The node's credentials, or None for anonymous requests.
    pub async fn credentials(&self) -> Option<Credentials> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref()
            && Instant::now() < cached.fresh_until
        {
            return cached.credentials.clone();
        }
        let credentials = self.resolve().await;
        let ttl = match &credentials {
            None => ANONYMOUS_TTL,
            Some(credentials) => match credentials.expires_at {
                None => STATIC_TTL,
                Some(expires_at) => expires_at
                    .duration_since(SystemTime::now())
                    .unwrap_or_default()
                    .saturating_sub(REFRESH_MARGIN)
                    .min(STATIC_TTL * 12),
            },
        };
        *cache = Some(Cached { credentials: credentials.clone(), fresh_until: Instant::now() + ttl });
        credentials
    }

    /// Walks the chain once, without the cache.
    pub async fn resolve(&self) -> Option<Credentials> {
        let credentials = match self.environment_credentials().or_else(|| self.shared_file_credentials()) {
            Some(credentials) => Some(credentials),
            None => self.instance_metadata_credentials().await,
        };
        match &credentials {
            Some(credentials) => tracing::debug!(source = ?credentials.source, "Found AWS credentials."),
            None => tracing::debug!("No AWS credentials found; S3 requests will be anonymous."),
        }
        credentials
    }

    fn environment_credentials(&self) -> Option<Credentials> {
        match (self.var("AWS_ACCESS_KEY_ID"), self.var("AWS_SECRET_ACCESS_KEY")) {
            (Some(key), Some(secret)) => Some(
                Credentials::new(key, secret, self.var("AWS_SESSION_TOKEN")).with_source(CredentialSource::Environment),
            ),
            (None, None) => None,
            _ => {
                tracing::warn!("Only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set; ignoring them.");
                None
            }
        }
    }

    fn shared_file_credentials(&self) -> Option<Credentials> {
        let path = match self.var("AWS_SHARED_CREDENTIALS_FILE") {
            Some(path) => expand_home(path, self.var("HOME")),
            None => format!("{}/.aws/credentials", self.var("HOME")?),
        };
        let profile = self.var("AWS_PROFILE").unwrap_or("default");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => Zeroizing::new(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => {
                tracing::warn!(path = %path, error = %error, "Reading the shared AWS credentials file failed.");
                return None;
            }
        };
        let credentials = parse_shared_credentials(&text, profile);
        if credentials.is_none() {
            tracing::debug!(path = %path, profile = %profile, "The shared credentials file has no keys for the profile.");
        }
        credentials
    }

    async fn instance_metadata_credentials(&self) -> Option<Credentials> {
        if self.var("AWS_EC2_METADATA_DISABLED").is_some_and(|value| value.eq_ignore_ascii_case("true")) {
            return None;
        }
        let endpoint = self.var("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or(IMDS_ENDPOINT);
        match imds_credentials(endpoint.trim_end_matches('/')).await {
            Ok(credentials) => credentials,
            Err(error) => {
                tracing::debug!(endpoint = %endpoint, error = %error, "Instance metadata gave no credentials.");
                None
            }
        }
    }
}

fn expand_home(path: &str, home: Option<&str>) -> String {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}

/// The keys of `profile` in the text of a shared credentials file (INI: `[profile]` sections, `key = value`
/// lines, `#`/`;` comments; a profile written twice is merged, later keys winning). None when the profile or
/// either key is missing.
pub fn parse_shared_credentials(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_profile = false;
    let mut values: HashMap<String, Zeroizing<String>> = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            let name = section.split(']').next().unwrap_or_default().trim();
            in_profile = name == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            values.insert(key.trim().to_ascii_lowercase(), Zeroizing::new(value.trim().to_string()));
        }
    }
    let get = |key: &str| values.get(key).map(|value| value.as_str()).filter(|value| !value.is_empty());
    let credentials =
        Credentials::new(get("aws_access_key_id")?, get("aws_secret_access_key")?, get("aws_session_token"));
    Some(credentials.with_source(CredentialSource::SharedFile { profile: profile.to_string() }))
}

/// Why instance metadata gave no credentials (for a debug log line; never holds a secret).
#[derive(Debug, thiserror::Error)]
enum ImdsError {
    #[error("{0}")]
    Http(String),
    #[error("the role credentials are malformed: {0}")]
    Malformed(String),
}

/// The instance role's credentials through IMDSv2: a session token, the role name, then the role's keys.
/// Ok(None) when the instance has no role.
async fn imds_credentials(endpoint: &str) -> Result<Option<Credentials>, ImdsError> {
    // No proxy: the metadata service is link-local, and a proxy must never see these requests.
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(IMDS_TIMEOUT)
        .build()
        .map_err(|e| ImdsError::Http(e.to_string()))?;
    let token = http
        .put(format!("{endpoint}/latest/api/token"))
        .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
        .timeout(IMDS_TOKEN_TIMEOUT)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| ImdsError::Http(format!("getting a metadata token failed: {e}")))?;
    let token = Zeroizing::new(token.text().await.map_err(|e| ImdsError::Http(e.to_string()))?);
    let get = |path: String| {
        http.get(format!("{endpoint}/latest/meta-data/iam/security-credentials/{path}"))
            .header("x-aws-ec2-metadata-token", token.as_str())
            .send()
    };
    let roles = get(String::new()).await.map_err(|e| ImdsError::Http(e.to_string()))?;
    if roles.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let roles = roles.error_for_status().map_err(|e| ImdsError::Http(e.to_string()))?;
    let roles = roles.text().await.map_err(|e| ImdsError::Http(e.to_string()))?;
    let Some(role) = roles.lines().map(str::trim).find(|line| !line.is_empty()) else { return Ok(None) };
    let response = get(role.to_string())
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| ImdsError::Http(e.to_string()))?;
    let body = Zeroizing::new(response.text().await.map_err(|e| ImdsError::Http(e.to_string()))?);
    parse_imds_credentials(&body, role).map(Some)
}

fn parse_imds_credentials(body: &str, role: &str) -> Result<Credentials, ImdsError> {
    #[derive(serde::Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
    #[serde(rename_all = "PascalCase")]
    struct RoleCredentials {
        code: Option<String>,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        token: Option<String>,
        expiration: Option<String>,
    }
    // serde_json's error names a position, never the content, so it is safe to show.
    let parsed: RoleCredentials = serde_json::from_str(body).map_err(|e| ImdsError::Malformed(e.to_string()))?;
    if let Some(code) = parsed.code.as_deref().filter(|code| *code != "Success") {
        return Err(ImdsError::Malformed(format!("Code is {code:?}")));
    }
    let (Some(key), Some(secret)) = (&parsed.access_key_id, &parsed.secret_access_key) else {
        return Err(ImdsError::Malformed("AccessKeyId or SecretAccessKey is missing".into()));
    };
    let mut credentials = Credentials::new(key, secret, parsed.token.as_deref())
        .with_source(CredentialSource::InstanceMetadata { role: role.to_string() });
    credentials.expires_at = parsed.expiration.as_deref().and_then(|text| {
        let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
        Some(SystemTime::from(parsed))
    });
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    const FILE: &str = "\
# a comment
[default]
aws_access_key_id = AKDEFAULT
aws_secret_access_key = secret-default

; another comment
[work]
aws_access_key_id=AKWORK
aws_secret_access_key=secret-work
aws_session_token = token-work

[broken]
aws_access_key_id = AKBROKEN

[default]
aws_secret_access_key = secret-default-2
";

    #[test]
    fn shared_file_profiles_are_parsed_and_merged() {
        let default = parse_shared_credentials(FILE, "default").unwrap();
        assert_eq!(default.access_key_id(), "AKDEFAULT");
        assert_eq!(default.secret_access_key(), "secret-default-2");
        assert_eq!(default.session_token(), None);
        assert_eq!(default.source(), &CredentialSource::SharedFile { profile: "default".into() });

        let work = parse_shared_credentials(FILE, "work").unwrap();
        assert_eq!(work.access_key_id(), "AKWORK");
        assert_eq!(work.secret_access_key(), "secret-work");
        assert_eq!(work.session_token(), Some("token-work"));

        assert!(parse_shared_credentials(FILE, "broken").is_none());
        assert!(parse_shared_credentials(FILE, "missing").is_none());
        assert!(parse_shared_credentials("", "default").is_none());
    }

    #[tokio::test]
    async fn environment_comes_before_the_shared_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(&file, FILE).unwrap();
        let file = file.to_str().unwrap();
        let no_imds = ("AWS_EC2_METADATA_DISABLED", "true");

        let chain = CredentialChain::from_lookup(lookup(&[
            ("AWS_ACCESS_KEY_ID", "AKENV"),
            ("AWS_SECRET_ACCESS_KEY", "secret-env"),
            ("AWS_SESSION_TOKEN", "token-env"),
            ("AWS_SHARED_CREDENTIALS_FILE", file),
            no_imds,
        ]));
        let credentials = chain.credentials().await.unwrap();
        assert_eq!(credentials.source(), &CredentialSource::Environment);
        assert_eq!(credentials.access_key_id(), "AKENV");
        assert_eq!(credentials.session_token(), Some("token-env"));

        // Half of an environment pair is ignored; the file's profile is used.
        let chain = CredentialChain::from_lookup(lookup(&[
            ("AWS_ACCESS_KEY_ID", "AKENV"),
            ("AWS_SHARED_CREDENTIALS_FILE", file),
            ("AWS_PROFILE", "work"),
            no_imds,
        ]));
        assert_eq!(chain.credentials().await.unwrap().access_key_id(), "AKWORK");

        // The default location is under HOME.
        std::fs::create_dir(dir.path().join(".aws")).unwrap();
        std::fs::write(dir.path().join(".aws/credentials"), FILE).unwrap();
        let home = dir.path().to_str().unwrap();
        let chain = CredentialChain::from_lookup(lookup(&[("HOME", home), no_imds]));
        assert_eq!(chain.credentials().await.unwrap().access_key_id(), "AKDEFAULT");

        // Empty values count as unset; nothing found means anonymous.
        let chain = CredentialChain::from_lookup(lookup(&[
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("HOME", "/nonexistent"),
            no_imds,
        ]));
        assert!(chain.credentials().await.is_none());
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let credentials = Credentials::new("AKSHOWN", "very-secret", Some("secret-token"));
        let chain = CredentialChain::from_lookup(lookup(&[("AWS_SECRET_ACCESS_KEY", "very-secret")]));
        for text in [format!("{credentials:?}"), format!("{chain:?}")] {
            assert!(
                !text.contains("very-secret") && !text.contains("secret-token") && !text.contains("AKSHOWN"),
                "{text}"
            );
        }
    }

    /// A fake instance metadata service answering IMDSv2 for the role `node-role`; it refuses requests
    /// without the token, as the real one does.
    async fn fake_imds() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                tokio::spawn(async move {
                    let mut buffer = vec![0; 4096];
                    let n = stream.read(&mut buffer).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buffer[..n]).to_ascii_lowercase();
                    let has_token = request.contains("x-aws-ec2-metadata-token: imds-token");
                    let (status, body) = if request.starts_with("put /latest/api/token") {
                        ("200 OK", "IMDS-TOKEN".to_string())
                    } else if !has_token {
                        ("401 Unauthorized", String::new())
                    } else if request.starts_with("get /latest/meta-data/iam/security-credentials/ ") {
                        ("200 OK", "node-role\n".to_string())
                    } else if request.starts_with("get /latest/meta-data/iam/security-credentials/node-role ") {
                        let body = r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS",
                            "SecretAccessKey":"secret-imds","Token":"token-imds","Expiration":"2099-01-01T00:00:00Z"}"#;
                        ("200 OK", body.to_string())
                    } else {
                        ("404 Not Found", String::new())
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn instance_metadata_comes_last() {
        let endpoint = fake_imds().await;
        let chain = CredentialChain::from_lookup(lookup(&[
            ("HOME", "/nonexistent"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint),
        ]));
        let credentials = chain.credentials().await.unwrap();
        assert_eq!(credentials.source(), &CredentialSource::InstanceMetadata { role: "node-role".into() });
        assert_eq!(credentials.access_key_id(), "ASIAIMDS");
        assert_eq!(credentials.secret_access_key(), "secret-imds");
        assert_eq!(credentials.session_token(), Some("token-imds"));
        assert!(credentials.expires_at().is_some());

        let chain = CredentialChain::from_lookup(lookup(&[
            ("HOME", "/nonexistent"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint),
            ("AWS_EC2_METADATA_DISABLED", "TRUE"),
        ]));
        assert!(chain.credentials().await.is_none());
    }

    #[tokio::test]
    async fn unreachable_instance_metadata_is_skipped_quickly() {
        // A port nothing listens on: refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let chain = CredentialChain::from_lookup(lookup(&[
            ("HOME", "/nonexistent"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &format!("http://127.0.0.1:{port}")),
        ]));
        let started = Instant::now();
        assert!(chain.credentials().await.is_none());
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[test]
    fn malformed_role_credentials_are_refused_without_echoing_them() {
        let error = parse_imds_credentials(r#"{"Code":"Success","SecretAccessKey":"leak"}"#, "r").unwrap_err();
        assert!(error.to_string().contains("missing"), "{error}");
        let error =
            parse_imds_credentials(r#"{"Code":"Failed","AccessKeyId":"a","SecretAccessKey":"leak"}"#, "r").unwrap_err();
        assert!(!error.to_string().contains("leak"), "{error}");
        let error = parse_imds_credentials("not json leak", "r").unwrap_err();
        assert!(!error.to_string().contains("leak"), "{error}");
    }
}
