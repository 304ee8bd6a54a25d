//! SigV4 request signing, done the way botocore signs AWS JSON 1.1 calls.
//!
//! `sign_request` adds `X-Amz-Date`, `Authorization` and (with session credentials)
//! `X-Amz-Security-Token` to an `http::Request`, signing the body bytes and every header already
//! on the request except the few botocore never signs. `compute_signature` is the single place
//! in the crate that calls `aws-sigv4`; the server-side verifier reuses it. This module does no
//! IO and knows nothing about SSM operations; it does not do presigned URLs or SigV4a.

use std::borrow::Cow;
use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningError, SigningSettings, sign as aws_sign};
use aws_sigv4::sign::v4;
use http::header::{AUTHORIZATION, HOST, HeaderName, HeaderValue};

use crate::credentials::Credentials;

/// `X-Amz-Date`, which `aws-sigv4` adds itself.
pub(crate) const X_AMZ_DATE: &str = "x-amz-date";
/// `X-Amz-Security-Token`, which `aws-sigv4` adds itself when the credentials carry a token.
pub(crate) const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";

/// Headers botocore (1.43) leaves out of the signature, `SIGNED_HEADERS_BLACKLIST`: hop-by-hop
/// headers a proxy may rewrite, plus `user-agent` and `x-amzn-trace-id`. Also the headers the
/// signer produces itself. Anything else already on the request is signed.
const NEVER_SIGNED: &[&str] = &[
    "authorization",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
    X_AMZ_DATE,
    X_AMZ_SECURITY_TOKEN,
];

/// What a signature is scoped to, besides the credentials.
#[derive(Debug, Clone, Copy)]
pub struct SigningScope<'a> {
    pub region: &'a str,
    /// The signing name: `ssm` for the SSM API, `fleetrun` for the agent API.
    pub service: &'a str,
    /// The request time; becomes `X-Amz-Date` and the credential-scope date.
    pub time: SystemTime,
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("request URI `{uri}` has no host to sign")]
    MissingHost { uri: String },
    #[error("header `{name}` is not visible ASCII and cannot be signed")]
    HeaderNotText { name: String },
    #[error("aws-sigv4 rejected the request")]
    Rejected(#[source] SigningError),
}

/// Signs `request` in place for `credentials` and `scope`.
///
/// Sets a `Host` header from the URI when there is none, so the value that is signed is exactly
/// the value that is sent. Any previous signature headers are replaced.
pub fn sign_request(
    request: &mut http::Request<Vec<u8>>,
    credentials: &Credentials,
    scope: &SigningScope<'_>,
) -> Result<(), SignError> {
    for name in [AUTHORIZATION.as_str(), X_AMZ_DATE, X_AMZ_SECURITY_TOKEN] {
        request.headers_mut().remove(name);
    }
    ensure_host_header(request)?;

    let headers = headers_to_sign(request.headers())?;
    let uri = request.uri().to_string();
    let canonical =
        CanonicalInput { method: request.method().as_str(), uri: &uri, headers: &headers, body: request.body() };
    let signed = compute_signature(&canonical, credentials, scope)?;

    for (name, value, sensitive) in signed.headers {
        let mut value =
            HeaderValue::from_str(&value).map_err(|_| SignError::HeaderNotText { name: name.to_owned() })?;
        value.set_sensitive(sensitive);
        request.headers_mut().insert(HeaderName::from_static(name), value);
    }
    Ok(())
}

/// The parts of a request that go into a SigV4 canonical request.
pub(crate) struct CanonicalInput<'a> {
    pub(crate) method: &'a str,
    /// Absolute URI or origin-form path with query, already percent-encoded.
    pub(crate) uri: &'a str,
    /// Exactly the headers to sign, except `x-amz-date` and `x-amz-security-token`, which
    /// `aws-sigv4` adds from `scope.time` and `credentials.session_token`.
    /// Must contain `host` unless `uri` is absolute.
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) body: &'a [u8],
}

/// What `compute_signature` produces.
pub(crate) struct Signed {
    /// Headers to add to the request: name, value, sensitive.
    pub(crate) headers: Vec<(&'static str, String, bool)>,
    /// Lowercase hex HMAC.
    pub(crate) signature: String,
}

/// Signs `input` with `aws-sigv4`, signing exactly `input.headers` plus the headers it adds itself.
pub(crate) fn compute_signature(
    input: &CanonicalInput<'_>,
    credentials: &Credentials,
    scope: &SigningScope<'_>,
) -> Result<Signed, SignError> {
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
        credentials.session_token.clone(),
        None,
        "fleetrun",
    )
    .into();
    let mut settings = SigningSettings::default();
    // The caller has already chosen the headers; aws-sigv4's own exclusion list (which drops
    // `user-agent` even when a client did sign it) would make verification disagree.
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(scope.region)
        .name(scope.service)
        .time(scope.time)
        .settings(settings)
        .build()
        .expect("every signing parameter is set above")
        .into();
    let signable = SignableRequest::new(
        input.method,
        Cow::Borrowed(input.uri),
        input.headers.iter().copied(),
        SignableBody::Bytes(input.body),
    )
    .map_err(SignError::Rejected)?;
    let (instructions, signature) = aws_sign(signable, &params).map_err(SignError::Rejected)?.into_parts();
    let (headers, _query) = instructions.into_parts();
    let headers =
        headers.into_iter().map(|header| (header.name(), header.value().to_owned(), header.sensitive())).collect();
    Ok(Signed { headers, signature })
}

fn ensure_host_header(request: &mut http::Request<Vec<u8>>) -> Result<(), SignError> {
    if request.headers().contains_key(HOST) {
        return Ok(());
    }
    let host = host_from_uri(request.uri()).ok_or_else(|| SignError::MissingHost { uri: request.uri().to_string() })?;
    let value = HeaderValue::from_str(&host).map_err(|_| SignError::MissingHost { uri: request.uri().to_string() })?;
    request.headers_mut().insert(HOST, value);
    Ok(())
}

/// `host[:port]` as HTTP clients send it: the port only when it is not the scheme's default.
fn host_from_uri(uri: &http::Uri) -> Option<String> {
    let host = uri.host()?;
    let default_port = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    Some(match uri.port_u16() {
        Some(port) if Some(port) != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    })
}

fn headers_to_sign(headers: &http::HeaderMap) -> Result<Vec<(&str, &str)>, SignError> {
    headers
        .iter()
        .filter(|(name, _)| !NEVER_SIGNED.contains(&name.as_str()))
        .map(|(name, value)| {
            let value = value.to_str().map_err(|_| SignError::HeaderNotText { name: name.to_string() })?;
            Ok((name.as_str(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn credentials(session_token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: session_token.map(str::to_owned),
        }
    }

    fn scope() -> SigningScope<'static> {
        SigningScope {
            region: "us-east-1",
            service: "ssm",
            // 2026-11-26T03:18:19Z
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_663_099),
        }
    }

    fn ssm_request(uri: &str) -> http::Request<Vec<u8>> {
        http::Request::post(uri)
            .header("X-Amz-Target", "AmazonSSM.ListCommands")
            .header("Content-Type", "application/x-amz-json-1.1")
            .header("User-Agent", "fleetrun-test")
            .body(b"{}".to_vec())
            .unwrap()
    }

    fn authorization(request: &http::Request<Vec<u8>>) -> &str {
        request.headers()[AUTHORIZATION].to_str().unwrap()
    }

    #[test]
    fn signs_like_botocore_for_json_1_1() {
        let mut request = ssm_request("http://127.0.0.1:18555/");
        sign_request(&mut request, &credentials(None), &scope()).unwrap();

        assert_eq!(request.headers()[HOST], "127.0.0.1:18555");
        assert_eq!(request.headers()[X_AMZ_DATE], "20261126T031819Z");
        let authorization = authorization(&request);
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/ssm/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
            ),
            "{authorization}"
        );
        assert!(!request.headers().contains_key(X_AMZ_SECURITY_TOKEN));
    }

    #[test]
    fn session_token_is_sent_and_signed() {
        let mut request = ssm_request("https://ssm.example.com/");
        sign_request(&mut request, &credentials(Some("TOKEN")), &scope()).unwrap();

        assert_eq!(request.headers()[HOST], "ssm.example.com");
        assert_eq!(request.headers()[X_AMZ_SECURITY_TOKEN], "TOKEN");
        assert!(request.headers()[X_AMZ_SECURITY_TOKEN].is_sensitive());
        assert!(
            authorization(&request)
                .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,")
        );
    }

    #[test]
    fn re_signing_replaces_the_old_signature() {
        let mut request = ssm_request("http://localhost:8080/");
        sign_request(&mut request, &credentials(Some("TOKEN")), &scope()).unwrap();
        let first = authorization(&request).to_owned();
        sign_request(&mut request, &credentials(None), &scope()).unwrap();

        assert_eq!(request.headers().get_all(AUTHORIZATION).iter().count(), 1);
        assert!(!request.headers().contains_key(X_AMZ_SECURITY_TOKEN));
        assert_ne!(authorization(&request), first);
    }

    #[test]
    fn default_port_is_left_out_of_host() {
        let uri: http::Uri = "http://example.com:80/x".parse().unwrap();
        assert_eq!(host_from_uri(&uri).as_deref(), Some("example.com"));
        let uri: http::Uri = "https://example.com:8443/x".parse().unwrap();
        assert_eq!(host_from_uri(&uri).as_deref(), Some("example.com:8443"));
    }

    #[test]
    fn relative_uri_without_host_header_is_an_error() {
        let mut request = ssm_request("/");
        let error = sign_request(&mut request, &credentials(None), &scope()).unwrap_err();
        assert!(matches!(error, SignError::MissingHost { .. }), "{error:?}");
    }
}
