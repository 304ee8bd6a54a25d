//! A small S3 client for the agent: get an object (streamed), list a prefix, put an object, create a bucket.
//!
//! It speaks to AWS (`https://s3.<region>.amazonaws.com`) or to an S3-compatible endpoint, always path-style
//! (`ENDPOINT/bucket/key`), signs with SigV4 (`aws-sigv4`) when the node has credentials (see
//! [`credentials`]) and sends anonymous requests when it has none. S3 error documents become [`S3Error`]s that
//! name the object and say what to check.
//!
//! It is not an SDK: no multipart upload, no retries (besides following a bucket's region once), no
//! virtual-hosted addressing, no presigning. The AWS SDK crates would cost minutes of build on every agent
//! build; this is a few hundred lines over reqwest.

pub mod credentials;
mod xml;

pub use credentials::{CredentialChain, CredentialSource, Credentials, node_chain};
pub use xml::ObjectSummary;

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence while reading a response; a download as a whole has no deadline (the step's own timeout
/// bounds it).
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Most of an error body read; S3's are under 1 KiB.
const MAX_ERROR_BODY: usize = 64 << 10;

/// Why an S3 request failed. Messages name the object (`s3://bucket/key`) and never hold credentials.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("the S3 bucket {bucket:?} does not exist (NoSuchBucket)")]
    NoSuchBucket { bucket: String },
    #[error("{location} does not exist (NoSuchKey)")]
    NoSuchKey { location: String },
    /// The request was refused: wrong keys, a bad signature, or no permission.
    #[error("access to {location} was denied ({code}: {message}); {}", access_hint(*.anonymous))]
    AccessDenied { location: String, code: String, message: String, anonymous: bool },
    /// Any other error answer.
    #[error("S3 answered HTTP {status} for {location} ({code}: {message})")]
    Service { location: String, status: u16, code: String, message: String },
    /// The endpoint could not be reached, or the connection broke. `reason` is the whole cause chain: callers
    /// usually flatten this error into a message, and the root cause (refused, DNS, TLS) is what matters.
    #[error("could not reach the S3 endpoint {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    /// The answer could not be read (a broken body, malformed XML).
    #[error("reading the answer for {location} failed: {reason}")]
    Read { location: String, reason: String },
    /// The request cannot be made as asked (a bad endpoint URL, a key the client cannot address).
    #[error("{0}")]
    Invalid(String),
}

fn access_hint(anonymous: bool) -> &'static str {
    if anonymous {
        "the node has no AWS credentials (environment, shared credentials file or instance role), so the request \
         was anonymous"
    } else {
        "check the node's AWS credentials and their permissions"
    }
}

/// An object being downloaded.
pub struct GetObject {
    /// Without the surrounding quotes.
    pub etag: Option<String>,
    /// None for an unversioned bucket (S3 sends `null`, which is left out).
    pub version_id: Option<String>,
    pub content_length: Option<u64>,
    pub body: BoxStream<'static, Result<Bytes, S3Error>>,
}

impl std::fmt::Debug for GetObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetObject")
            .field("etag", &self.etag)
            .field("version_id", &self.version_id)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

/// What S3 says about a stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutObject {
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

/// Where requests go.
#[derive(Clone, Debug)]
enum Endpoint {
    /// An S3-compatible server: `base/bucket/key` (base without a trailing `/`).
    Custom(String),
    /// AWS, at the regional endpoint of the bucket's region.
    Aws,
}

/// An S3 client for one endpoint, region and set of credentials.
#[derive(Debug)]
pub struct S3Client {
    http: reqwest::Client,
    endpoint: Endpoint,
    region: String,
    credentials: Option<Credentials>,
    // Buckets whose region S3 told us differs from `region` (AWS redirects, `AuthorizationHeaderMalformed`).
    bucket_regions: Mutex<HashMap<String, String>>,
}

/// One request, before it is addressed and signed.
struct Call<'a> {
    method: Method,
    bucket: &'a str,
    key: Option<&'a str>,
    /// Already percent-encoded values.
    query: Vec<(&'static str, String)>,
    body: Option<Bytes>,
}

impl Call<'_> {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key.unwrap_or_default())
    }
}

impl S3Client {
    /// A client for `endpoint` (None: AWS) that signs for `region` with `credentials` (None: anonymous).
    pub fn new(endpoint: Option<&str>, region: &str, credentials: Option<Credentials>) -> Result<Self, S3Error> {
        let endpoint = match endpoint {
            None => Endpoint::Aws,
            Some(url) => {
                let parsed = reqwest::Url::parse(url)
                    .map_err(|e| S3Error::Invalid(format!("the S3 endpoint {url:?} is not a URL: {e}")))?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                    return Err(S3Error::Invalid(format!("the S3 endpoint {url:?} is not an http(s) URL")));
                }
                Endpoint::Custom(url.trim_end_matches('/').to_string())
            }
        };
        let http = reqwest::Client::builder()
            // An S3 redirect points at the bucket's region, and must be signed for it: `send` follows it.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| S3Error::Invalid(format!("building the HTTP client failed: {e}")))?;
        Ok(Self { http, endpoint, region: region.to_string(), credentials, bucket_regions: Mutex::default() })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Whether requests are signed.
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// Starts downloading an object; the body streams as it is read.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<GetObject, S3Error> {
        let call = Call { method: Method::GET, bucket, key: Some(key), query: Vec::new(), body: None };
        let location = call.location();
        let response = self.send(call).await?;
        let headers = response.headers();
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_string);
        let etag = header("etag").map(|etag| xml::unquote(&etag).to_string());
        let version_id = header("x-amz-version-id").filter(|version| version != "null");
        let content_length = response.content_length();
        let body = response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| S3Error::Read { location: location.clone(), reason: chain(&e) }))
            .boxed();
        Ok(GetObject { etag, version_id, content_length, body })
    }

    /// Every object whose key starts with `prefix`, in key order, following continuation tokens.
    pub async fn list_objects_v2(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectSummary>, S3Error> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type", "2".to_string()), ("prefix", encode(prefix, false))];
            if let Some(token) = &token {
                query.push(("continuation-token", encode(token, false)));
            }
            let call = Call { method: Method::GET, bucket, key: None, query, body: None };
            let location = format!("s3://{bucket}/{prefix}");
            let response = self.send(call).await?;
            let body =
                response.bytes().await.map_err(|e| S3Error::Read { location: location.clone(), reason: chain(&e) })?;
            let page =
                xml::parse_list_page(&body).map_err(|reason| S3Error::Read { location: location.clone(), reason })?;
            objects.extend(page.objects);
            match (page.truncated, page.next_token) {
                (true, Some(next)) if Some(&next) != token.as_ref() => token = Some(next),
                (true, _) => {
                    return Err(S3Error::Read {
                        location,
                        reason: "the listing is truncated but gives no new continuation token".into(),
                    });
                }
                (false, _) => return Ok(objects),
            }
        }
    }

    /// Stores an object in one request (S3 takes up to 5 GiB this way).
    pub async fn put_object(&self, bucket: &str, key: &str, body: Bytes) -> Result<PutObject, S3Error> {
        let call = Call { method: Method::PUT, bucket, key: Some(key), query: Vec::new(), body: Some(body) };
        let response = self.send(call).await?;
        let header = |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok());
        Ok(PutObject {
            etag: header("etag").map(|etag| xml::unquote(etag).to_string()),
            version_id: header("x-amz-version-id").filter(|version| *version != "null").map(str::to_string),
        })
    }

    /// Creates a bucket (tests and `fleetrun dev` set-up; on AWS outside us-east-1 it names the region).
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        let body = match self.endpoint {
            Endpoint::Aws if self.region != "us-east-1" => Some(Bytes::from(format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                self.region
            ))),
            _ => None,
        };
        let call = Call { method: Method::PUT, bucket, key: None, query: Vec::new(), body };
        self.send(call).await.map(drop)
    }

    /// Sends `call`, following S3 once to the bucket's real region when it names one; an error answer becomes
    /// an [`S3Error`].
    async fn send(&self, call: Call<'_>) -> Result<reqwest::Response, S3Error> {
        let mut redirected = false;
        loop {
            let region = self.bucket_region(call.bucket);
            let request = self.build(&call, &region)?;
            let endpoint = self.base_url(&region);
            let response = self
                .http
                .execute(request)
                .await
                .map_err(|e| S3Error::Connect { endpoint: endpoint.clone(), reason: chain(&e) })?;
            if response.status().is_success() {
                return Ok(response);
            }
            let status = response.status();
            let header_region =
                response.headers().get("x-amz-bucket-region").and_then(|v| v.to_str().ok()).map(str::to_string);
            let body = read_error_body(response).await;
            let error = xml::parse_error(&body);
            if let Some(right) = header_region.or_else(|| error.region.clone())
                && !redirected
                && right != region
                && is_region_error(status, error.code.as_deref())
            {
                tracing::debug!(bucket = %call.bucket, region = %right, "Following the bucket to its region.");
                self.bucket_regions.lock().unwrap_or_else(|e| e.into_inner()).insert(call.bucket.to_string(), right);
                redirected = true;
                continue;
            }
            return Err(map_error(status, &error, &call, self.credentials.is_none()));
        }
    }

    fn bucket_region(&self, bucket: &str) -> String {
        let regions = self.bucket_regions.lock().unwrap_or_else(|e| e.into_inner());
        regions.get(bucket).cloned().unwrap_or_else(|| self.region.clone())
    }

    fn base_url(&self, region: &str) -> String {
        match &self.endpoint {
            Endpoint::Custom(base) => base.clone(),
            Endpoint::Aws if region.starts_with("cn-") => format!("https://s3.{region}.amazonaws.com.cn"),
            Endpoint::Aws => format!("https://s3.{region}.amazonaws.com"),
        }
    }

    /// The request for `call`, addressed for `region` and signed when there are credentials.
    fn build(&self, call: &Call<'_>, region: &str) -> Result<reqwest::Request, S3Error> {
        let url = self.url(call, region)?;
        let mut request = reqwest::Request::new(call.method.clone(), url);
        if let Some(body) = &call.body {
            *request.body_mut() = Some(reqwest::Body::from(body.clone()));
        }
        if let Some(credentials) = &self.credentials {
            let payload = match &call.body {
                // A download's body is not known in advance; S3 accepts an unsigned payload over its own
                // transport integrity (TLS, or the endpoint the operator chose).
                None => SignableBody::UnsignedPayload,
                Some(body) => SignableBody::Precomputed(hex::encode(Sha256::digest(body))),
            };
            sign(&mut request, credentials, region, payload)?;
        }
        Ok(request)
    }

    fn url(&self, call: &Call<'_>, region: &str) -> Result<reqwest::Url, S3Error> {
        if call.bucket.is_empty() || call.bucket.contains('/') {
            return Err(S3Error::Invalid(format!("{:?} is not a bucket name", call.bucket)));
        }
        let mut url = format!("{}/{}", self.base_url(region), encode(call.bucket, false));
        if let Some(key) = call.key {
            // URL parsers resolve `.` and `..` segments (even written %2E), so such a key would silently
            // address another object; refuse it instead.
            if key.is_empty() || key.split('/').any(|segment| segment == "." || segment == "..") {
                return Err(S3Error::Invalid(format!(
                    "{}: the client cannot address an empty key or one with `.` or `..` path segments",
                    call.location()
                )));
            }
            url.push('/');
            url.push_str(&encode(key, true));
        }
        for (i, (name, value)) in call.query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.push_str(value);
        }
        reqwest::Url::parse(&url).map_err(|e| S3Error::Invalid(format!("{} gives a bad URL: {e}", call.location())))
    }
}

/// Whether an error answer means "this bucket lives in another region".
fn is_region_error(status: StatusCode, code: Option<&str>) -> bool {
    matches!(code, Some("AuthorizationHeaderMalformed" | "PermanentRedirect" | "IllegalLocationConstraintException"))
        || status == StatusCode::MOVED_PERMANENTLY
        || status == StatusCode::TEMPORARY_REDIRECT
}

/// Signs `request` in place: SigV4, service `s3`, `x-amz-content-sha256` set from `payload`. The path is signed
/// as sent (S3 wants it encoded once and not normalized).
fn sign(
    request: &mut reqwest::Request,
    credentials: &Credentials,
    region: &str,
    payload: SignableBody<'_>,
) -> Result<(), S3Error> {
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        credentials.session_token().map(str::to_string),
        None,
        "fleetrun-agent",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|e| S3Error::Invalid(format!("signing parameters are incomplete: {e}")))?
        .into();
    let headers: Vec<(&str, &str)> =
        request.headers().iter().filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))).collect();
    let signable =
        SignableRequest::new(request.method().as_str(), request.url().as_str(), headers.into_iter(), payload)
            .map_err(|e| S3Error::Invalid(format!("the request cannot be signed: {e}")))?;
    let (instructions, _signature) = aws_sigv4::http_request::sign(signable, &params)
        .map_err(|e| S3Error::Invalid(format!("the request cannot be signed: {e}")))?
        .into_parts();
    let (headers, _query) = instructions.into_parts();
    for header in headers {
        let mut value = reqwest::header::HeaderValue::from_str(header.value())
            .map_err(|_| S3Error::Invalid(format!("the signer produced a bad {} header", header.name())))?;
        value.set_sensitive(header.sensitive());
        request.headers_mut().insert(header.name(), value);
    }
    Ok(())
}

async fn read_error_body(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ERROR_BODY {
            break;
        }
    }
    body
}

/// The error codes that mean "these credentials may not do this": wrong, unknown, expired or unauthorized keys.
const ACCESS_CODES: &[&str] = &[
    "AccessDenied",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "AllAccessDisabled",
    "InvalidSecurity",
    "RequestTimeTooSkewed",
    // What s3s-fs (and S3, for an account without S3) answers for an unknown access key.
    "NotSignedUp",
];

/// The error for an S3 error answer.
fn map_error(status: StatusCode, error: &xml::ErrorBody, call: &Call<'_>, anonymous: bool) -> S3Error {
    let location = call.location();
    let code = error.code.clone().unwrap_or_else(|| match status {
        // A HEAD or an empty body: name the condition from the status alone.
        StatusCode::NOT_FOUND if call.key.is_some() => "NoSuchKey".into(),
        StatusCode::FORBIDDEN => "AccessDenied".into(),
        _ => status.canonical_reason().unwrap_or("Unknown").replace(' ', ""),
    });
    let message = error.message.clone().unwrap_or_else(|| "no message".into());
    match code.as_str() {
        "NoSuchBucket" => S3Error::NoSuchBucket { bucket: call.bucket.to_string() },
        "NoSuchKey" => S3Error::NoSuchKey { location },
        _ if ACCESS_CODES.contains(&code.as_str()) => S3Error::AccessDenied { location, code, message, anonymous },
        _ => S3Error::Service { location, status: status.as_u16(), code, message },
    }
}

/// An error and its causes, joined: reqwest's own message ("error sending request") says little.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

/// Percent-encodes as S3 and SigV4 expect: everything but `A-Z a-z 0-9 - _ . ~` (and `/` when `keep_slash`).
fn encode(text: &str, keep_slash: bool) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => encoded.push(byte as char),
            b'/' if keep_slash => encoded.push('/'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests;
