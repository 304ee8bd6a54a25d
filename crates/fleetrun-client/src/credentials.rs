//! Who the client is (`Credentials`) and where it talks to (`Endpoint`), resolved from the
//! standard AWS environment variables.
//!
//! This module only reads configuration; it does not sign anything (see `sign`) and it does
//! not read `~/.aws/config` or credential files. Every lookup goes through a caller-supplied
//! function so tests can resolve settings without touching the process environment.

use std::fmt;

/// The signature `from_lookup` constructors take: variable name in, value out.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Region used when neither `AWS_REGION` nor `AWS_DEFAULT_REGION` is set, as botocore does for SSM endpoints.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Why configuration could not be resolved from the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("{variable} is not set; export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")]
    MissingCredential { variable: &'static str },
    #[error(
        "no endpoint: set AWS_ENDPOINT_URL_SSM or AWS_ENDPOINT_URL (for a local server, run `source <data-dir>/dev.env`)"
    )]
    MissingEndpoint,
}

/// An AWS-style access key pair, optionally with a session token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Credentials {
    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` from the process environment.
    pub fn from_env() -> Result<Credentials, EnvError> {
        Credentials::from_lookup(&process_env)
    }

    /// Like `from_env`, with every variable read through `lookup`.
    /// Empty values count as unset, as they do for botocore.
    pub fn from_lookup(lookup: EnvLookup<'_>) -> Result<Credentials, EnvError> {
        let required =
            |variable: &'static str| non_empty(lookup, variable).ok_or(EnvError::MissingCredential { variable });
        Ok(Credentials {
            access_key_id: required("AWS_ACCESS_KEY_ID")?,
            secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
            session_token: non_empty(lookup, "AWS_SESSION_TOKEN"),
        })
    }
}

// Hand-written so that secrets never reach logs through `{:?}`.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("session_token", &self.session_token.as_ref().map(|_| "** redacted **"))
            .finish()
    }
}

/// The base URL of an SSM-compatible API and the region requests are signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub region: String,
}

impl Endpoint {
    /// Reads the endpoint and region from the process environment.
    pub fn from_env() -> Result<Endpoint, EnvError> {
        Endpoint::from_lookup(&process_env)
    }

    /// URL from `AWS_ENDPOINT_URL_SSM`, else `AWS_ENDPOINT_URL`; region from `AWS_REGION`,
    /// else `AWS_DEFAULT_REGION`, else `DEFAULT_REGION`.
    pub fn from_lookup(lookup: EnvLookup<'_>) -> Result<Endpoint, EnvError> {
        let url = non_empty(lookup, "AWS_ENDPOINT_URL_SSM")
            .or_else(|| non_empty(lookup, "AWS_ENDPOINT_URL"))
            .ok_or(EnvError::MissingEndpoint)?;
        let region = non_empty(lookup, "AWS_REGION")
            .or_else(|| non_empty(lookup, "AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        Ok(Endpoint { url, region })
    }
}

fn process_env(variable: &str) -> Option<String> {
    std::env::var(variable).ok()
}

fn non_empty(lookup: EnvLookup<'_>, variable: &str) -> Option<String> {
    lookup(variable).filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn credentials_need_key_and_secret() {
        let lookup = env(&[("AWS_ACCESS_KEY_ID", "AKID")]);
        assert_eq!(
            Credentials::from_lookup(&lookup),
            Err(EnvError::MissingCredential { variable: "AWS_SECRET_ACCESS_KEY" })
        );
        let lookup = env(&[("AWS_SECRET_ACCESS_KEY", "s")]);
        assert_eq!(
            Credentials::from_lookup(&lookup),
            Err(EnvError::MissingCredential { variable: "AWS_ACCESS_KEY_ID" })
        );
    }

    #[test]
    fn credentials_read_optional_token() {
        let lookup =
            env(&[("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "secret"), ("AWS_SESSION_TOKEN", "")]);
        let credentials = Credentials::from_lookup(&lookup).unwrap();
        assert_eq!(credentials.session_token, None);

        let lookup =
            env(&[("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "secret"), ("AWS_SESSION_TOKEN", "token")]);
        let credentials = Credentials::from_lookup(&lookup).unwrap();
        assert_eq!(credentials.session_token.as_deref(), Some("token"));
    }

    #[test]
    fn debug_redacts_secret_and_token() {
        let credentials = Credentials {
            access_key_id: "AKIDVISIBLE".into(),
            secret_access_key: "very-secret".into(),
            session_token: Some("session-secret".into()),
        };
        let debug = format!("{credentials:?}");
        assert!(debug.contains("AKIDVISIBLE"), "{debug}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(!debug.contains("session-secret"), "{debug}");
    }

    #[test]
    fn endpoint_prefers_service_specific_url_and_region() {
        let lookup = env(&[
            ("AWS_ENDPOINT_URL", "http://generic"),
            ("AWS_ENDPOINT_URL_SSM", "http://ssm"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_REGION", "eu-central-1"),
        ]);
        let endpoint = Endpoint::from_lookup(&lookup).unwrap();
        assert_eq!(endpoint.url, "http://ssm");
        assert_eq!(endpoint.region, "eu-central-1");
    }

    #[test]
    fn endpoint_falls_back_to_generic_url_and_default_region() {
        let lookup = env(&[("AWS_ENDPOINT_URL", "http://generic")]);
        let endpoint = Endpoint::from_lookup(&lookup).unwrap();
        assert_eq!(endpoint.url, "http://generic");
        assert_eq!(endpoint.region, "us-east-1");

        let lookup = env(&[("AWS_ENDPOINT_URL", "http://generic"), ("AWS_DEFAULT_REGION", "ap-south-1")]);
        assert_eq!(Endpoint::from_lookup(&lookup).unwrap().region, "ap-south-1");
    }

    #[test]
    fn endpoint_missing_points_at_dev_env() {
        let error = Endpoint::from_lookup(&env(&[])).unwrap_err();
        assert_eq!(error, EnvError::MissingEndpoint);
        assert!(error.to_string().contains("source <data-dir>/dev.env"));
    }
}
