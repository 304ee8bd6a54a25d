//! Document attachments (CreateDocument/UpdateDocument `Attachments`, GetDocument `AttachmentsContent`):
//! where their bytes come from, where they are kept, and how an `aws:executeScript` step gets them back.
//!
//! Sources, one per `Attachments` entry:
//! * `SourceUrl` / `S3FileUrl`: `s3://bucket/key`, or an https S3 URL (path or virtual-hosted style, or one
//!   under the S3 endpoint this server is configured with). The object comes from the S3-compatible
//!   endpoint of the *server's* environment (`AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, else AWS; the
//!   credentials and region of the usual `AWS_*` variables). A URL naming a prefix (it ends in `/`, or no
//!   object has that key) takes every object directly under it, as SSM does.
//! * `SourceUrl` with `file:///absolute/path` (a file, or a directory: its files): for an operator with no
//!   S3 at hand. Refused unless the configuration has `allow_file_attachments = true` (`fleetrun dev` sets
//!   it), since it lets whoever holds an admin key read files as the server's user.
//! * `AttachmentReference`: `Document/version/name` (`version` a number, `$LATEST` or `$DEFAULT`), another
//!   stored version's attachment.
//!
//! Layout in the object store: the bytes at `attachments/<document>/<version>/<name>`, and the version's
//! list of `{name, size, sha256}` at `attachments/<document>/<version>.json` (the store's document rows
//! have no column for it, and keeping it next to the bytes means one place to clean up).
//!
//! The runbook's `files` section is the contract: an attachment it declares must match its `sha256` (and
//! `size` when given), or CreateDocument fails. Steps verify the checksum again before running.

use crate::app::AppState;
use crate::auth::Principal;
use crate::ssm::error::SsmError;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fleetrun_core::automation::{FileDecl, validate_runbook};
use fleetrun_core::document::{DocumentFormat, DocumentKind};
use fleetrun_store::{DocumentVersion, VersionSelector};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Most `Attachments` entries one request may have (the API model's limit).
pub const MAX_ENTRIES: usize = 20;
/// Most attachments one document version may have.
pub const MAX_PER_VERSION: usize = 5;
/// Most bytes one attachment may have.
pub const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// One `Attachments` entry as sent.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EntryInput {
    key: Option<String>,
    #[serde(default)]
    values: Vec<String>,
    name: Option<String>,
}

/// An attachment fetched and hashed, not yet stored under its version.
pub(crate) struct Staged {
    name: String,
    bytes: bytes::Bytes,
    sha256: String,
}

/// What the version's list records about one attachment.
#[derive(Serialize, Deserialize, Clone)]
pub(crate) struct Stored {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

fn invalid(message: impl Into<String>) -> SsmError {
    SsmError::new("InvalidDocumentContent", message)
}

pub(crate) fn object_path(document: &str, version: i64, name: &str) -> ObjectPath {
    ObjectPath::from_iter(["attachments", document, &version.to_string(), name])
}

fn list_path(document: &str, version: i64) -> ObjectPath {
    ObjectPath::from_iter(["attachments", document, &format!("{version}.json")])
}

/// The `files` section of an Automation document's content (nothing for other kinds).
pub(crate) fn declared_files(content: &str, format: DocumentFormat, kind: DocumentKind) -> Vec<FileDecl> {
    if kind != DocumentKind::Automation {
        return Vec::new();
    }
    validate_runbook(content, format).map(|runbook| runbook.files).unwrap_or_default()
}

/// Fetches, hashes and checks every attachment of a CreateDocument/UpdateDocument request, before
/// anything is stored.
pub(crate) async fn stage(state: &AppState, entries: &[Value], files: &[FileDecl]) -> Result<Vec<Staged>, SsmError> {
    if entries.len() > MAX_ENTRIES {
        return Err(SsmError::validation(
            "attachments",
            format!("[{} entries]", entries.len()),
            "Member must have length less than or equal to 20",
        ));
    }
    let mut staged: Vec<Staged> = Vec::new();
    for raw in entries {
        let entry: EntryInput = serde_json::from_value(raw.clone())
            .map_err(|e| SsmError::new("ValidationException", format!("An Attachments entry is malformed: {e}")))?;
        let [value] = entry.values.as_slice() else {
            return Err(SsmError::validation(
                "attachments.member.values",
                format!("[{} values]", entry.values.len()),
                "Member must have length equal to 1",
            ));
        };
        if value.is_empty() || value.len() > 1024 {
            return Err(SsmError::validation(
                "attachments.member.values.member",
                value,
                "Member must have length between 1 and 1024",
            ));
        }
        let name = entry.name.as_deref().filter(|n| !n.is_empty());
        let found = match entry.key.as_deref() {
            Some("SourceUrl" | "S3FileUrl") => from_url(value, name, state.config.allow_file_attachments).await?,
            Some("AttachmentReference") => vec![from_reference(state, value, name).await?],
            other => {
                return Err(SsmError::validation(
                    "attachments.member.key",
                    other.unwrap_or("null"),
                    "Member must satisfy enum value set: [SourceUrl, S3FileUrl, AttachmentReference]",
                ));
            }
        };
        for item in found {
            if staged.iter().any(|s| s.name == item.name) {
                return Err(invalid(format!(
                    "Two attachments are named {}; attachment names must be unique.",
                    item.name
                )));
            }
            staged.push(item);
        }
    }
    if staged.len() > MAX_PER_VERSION {
        return Err(SsmError::new(
            "DocumentLimitExceeded",
            format!(
                "The request gives {} attachments; a document version may have at most {MAX_PER_VERSION}.",
                staged.len()
            ),
        ));
    }
    for item in &staged {
        check_declared(item, files)?;
    }
    Ok(staged)
}

/// The `files` section's checksum and size, when it declares the attachment.
fn check_declared(item: &Staged, files: &[FileDecl]) -> Result<(), SsmError> {
    let Some(decl) = files.iter().find(|f| f.name == item.name) else {
        return Ok(());
    };
    if decl.sha256 != item.sha256 {
        return Err(invalid(format!(
            "attachment {} sha256 {} does not match files.{}.checksums.sha256 {}",
            item.name, item.sha256, item.name, decl.sha256
        )));
    }
    if let Some(size) = decl.size
        && size != item.bytes.len() as u64
    {
        return Err(invalid(format!(
            "attachment {} is {} bytes, but files.{}.size says {size}",
            item.name,
            item.bytes.len(),
            item.name
        )));
    }
    Ok(())
}

fn staged(name: &str, bytes: bytes::Bytes) -> Result<Staged, SsmError> {
    check_name(name)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(SsmError::new(
            "MaxDocumentSizeExceeded",
            format!("Attachment {name} is {} bytes; the limit is {MAX_BYTES} (256 MB).", bytes.len()),
        ));
    }
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Ok(Staged { name: name.to_owned(), bytes, sha256 })
}

/// A plain file name: what a step's `Attachment` names and what is unpacked next to the script.
fn check_name(name: &str) -> Result<(), SsmError> {
    let plain = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if plain { Ok(()) } else { Err(invalid(format!("Attachment name {name:?} is not a plain file name."))) }
}

fn last_segment(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// `SourceUrl` / `S3FileUrl`.
async fn from_url(value: &str, name: Option<&str>, allow_files: bool) -> Result<Vec<Staged>, SsmError> {
    let url = url::Url::parse(value).map_err(|e| invalid(format!("Attachment source {value:?} is not a URL: {e}")))?;
    if url.scheme() == "file" {
        return from_file(value, &url, name, allow_files).await;
    }
    let (bucket, key) = s3_location(&url)
        .ok_or_else(|| invalid(format!("Attachment source {value} is neither an s3:// URL nor an S3 https URL.")))?;
    let s3 = s3_bucket(&bucket)?;
    let failed = |e: object_store::Error| {
        SsmError::new("InvalidDocumentContent", format!("Reading attachment source {value} from S3 failed: {e}"))
    };
    // A prefix first: some S3-compatible servers answer a GET of a "directory" key with an error, not 404.
    let prefix = key.trim_end_matches('/');
    let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
    let listed = s3.list_with_delimiter(prefix.as_ref()).await.map_err(failed)?;
    if listed.objects.is_empty() {
        if key.is_empty() || key.ends_with('/') {
            return Err(invalid(format!("Attachment source {value} names a prefix with no objects.")));
        }
        return match s3.get(&ObjectPath::from(key.as_str())).await {
            Ok(found) => {
                let bytes = found.bytes().await.map_err(failed)?;
                Ok(vec![staged(name.unwrap_or(last_segment(&key)), bytes)?])
            }
            Err(object_store::Error::NotFound { .. }) => {
                Err(invalid(format!("Attachment source {value} names no object and no prefix with objects.")))
            }
            Err(error) => Err(failed(error)),
        };
    }
    if name.is_some() && listed.objects.len() > 1 {
        return Err(invalid(format!(
            "Attachment source {value} is a prefix with {} objects; an entry with a Name must name one object.",
            listed.objects.len()
        )));
    }
    let mut out = Vec::new();
    for meta in listed.objects {
        if meta.size > MAX_BYTES {
            return Err(SsmError::new(
                "MaxDocumentSizeExceeded",
                format!("Attachment {} is {} bytes; the limit is {MAX_BYTES} (256 MB).", meta.location, meta.size),
            ));
        }
        let bytes = s3.get(&meta.location).await.map_err(failed)?.bytes().await.map_err(failed)?;
        let file = meta.location.filename().unwrap_or_default().to_owned();
        out.push(staged(name.unwrap_or(&file), bytes)?);
    }
    Ok(out)
}

/// The S3 endpoint the server's environment names, if any.
fn configured_endpoint() -> Option<String> {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"].iter().find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
}

fn s3_bucket(bucket: &str) -> Result<Arc<dyn ObjectStore>, SsmError> {
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket).with_allow_http(true);
    if let Some(endpoint) = configured_endpoint() {
        builder = builder.with_endpoint(endpoint);
    }
    let store = builder.build().map_err(|e| SsmError::internal(format!("S3 client for bucket {bucket}: {e}")))?;
    Ok(Arc::new(store))
}

/// `(bucket, key)` of `s3://bucket/key`, an AWS https URL (`s3[.-region].amazonaws.com/bucket/key` or
/// `bucket.s3[.-region].amazonaws.com/key`) or a URL under the configured endpoint (`<endpoint>/bucket/key`).
fn s3_location(url: &url::Url) -> Option<(String, String)> {
    let decoded = |text: &str| percent_decode(text);
    if url.scheme() == "s3" {
        let bucket = url.host_str().filter(|b| !b.is_empty())?;
        return Some((bucket.to_owned(), decoded(url.path().trim_start_matches('/'))?));
    }
    if url.scheme() != "https" && url.scheme() != "http" {
        return None;
    }
    let path = url.path().trim_start_matches('/');
    let path_style = |path: &str| -> Option<(String, String)> {
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        (!bucket.is_empty()).then(|| Some((bucket.to_owned(), decoded(key)?))).flatten()
    };
    if let Some(endpoint) = configured_endpoint().and_then(|e| url::Url::parse(&e).ok())
        && endpoint.host_str() == url.host_str()
        && endpoint.port_or_known_default() == url.port_or_known_default()
    {
        return path_style(path);
    }
    let host = url.host_str()?;
    let aws = |h: &str| {
        h == "s3.amazonaws.com" || (h.starts_with("s3.") || h.starts_with("s3-")) && h.ends_with(".amazonaws.com")
    };
    if url.scheme() == "https" && aws(host) {
        return path_style(path);
    }
    if let Some(at) = host.find(".s3")
        && url.scheme() == "https"
        && aws(&host[at + 1..])
        && at > 0
    {
        return Some((host[..at].to_owned(), decoded(path)?));
    }
    None
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `file:///path` (a file, or a directory's files), when the operator allowed it.
async fn from_file(value: &str, url: &url::Url, name: Option<&str>, allowed: bool) -> Result<Vec<Staged>, SsmError> {
    if !allowed {
        return Err(invalid(format!(
            "Attachment source {value} is a local file; this server refuses file:// sources unless its \
             configuration has allow_file_attachments = true (fleetrun dev allows them). Use an s3:// URL instead."
        )));
    }
    let path =
        url.to_file_path().map_err(|()| invalid(format!("Attachment source {value} is not an absolute path.")))?;
    let unreadable = |e: std::io::Error| invalid(format!("Attachment source {value} cannot be read: {e}"));
    let meta = tokio::fs::metadata(&path).await.map_err(unreadable)?;
    let mut files = Vec::new();
    if meta.is_dir() {
        let mut dir = tokio::fs::read_dir(&path).await.map_err(unreadable)?;
        while let Some(entry) = dir.next_entry().await.map_err(unreadable)? {
            if entry.file_type().await.map_err(unreadable)?.is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
        if name.is_some() && files.len() > 1 {
            return Err(invalid(format!(
                "Attachment source {value} is a directory; an entry with a Name must name one file."
            )));
        }
    } else {
        files.push(path);
    }
    let mut out = Vec::new();
    for file in files {
        let size = tokio::fs::metadata(&file).await.map_err(unreadable)?.len();
        let file_name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if size > MAX_BYTES {
            return Err(SsmError::new(
                "MaxDocumentSizeExceeded",
                format!("Attachment {file_name} is {size} bytes; the limit is {MAX_BYTES} (256 MB)."),
            ));
        }
        let bytes = tokio::fs::read(&file).await.map_err(unreadable)?;
        out.push(staged(name.unwrap_or(&file_name), bytes.into())?);
    }
    if out.is_empty() {
        return Err(invalid(format!("Attachment source {value} is an empty directory.")));
    }
    Ok(out)
}

/// Finds a stored document version by `$LATEST`, `$DEFAULT` or a number.
async fn find_version(state: &AppState, document: &str, version: &str) -> Result<Option<DocumentVersion>, SsmError> {
    let selector = match version {
        "$LATEST" => VersionSelector::Latest,
        "$DEFAULT" => VersionSelector::Default,
        number => match number.parse::<i64>() {
            Ok(n) if n >= 1 => VersionSelector::Number(n),
            _ => return Ok(None),
        },
    };
    Ok(state.store.get_document(document, selector).await?)
}

/// `AttachmentReference`: `Document/version/name`.
async fn from_reference(state: &AppState, value: &str, name: Option<&str>) -> Result<Staged, SsmError> {
    let mut parts = value.rsplitn(3, '/');
    let (Some(file), Some(version), Some(document)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid(format!(
            "AttachmentReference {value:?} must have the form DocumentName/version/attachment-name."
        )));
    };
    let Some(found) = find_version(state, document, version).await? else {
        return Err(invalid(format!(
            "AttachmentReference {value}: document {document} version {version} does not exist."
        )));
    };
    let listed = list(state, &found.name, found.version).await?;
    if !listed.iter().any(|s| s.name == file) {
        return Err(invalid(format!(
            "AttachmentReference {value}: document {document} version {} has no attachment {file}.",
            found.version
        )));
    }
    let bytes = read(state, &found.name, found.version, file).await?;
    staged(name.unwrap_or(file), bytes)
}

/// Stores a new version's attachments and their list. Always writes the list's place, so a version number
/// reused after a deletion does not show the old version's attachments.
pub(crate) async fn store(state: &AppState, document: &str, version: i64, staged: Vec<Staged>) -> Result<(), SsmError> {
    let failed = |e: object_store::Error| SsmError::internal(format!("storing attachments failed: {e}"));
    if staged.is_empty() {
        match state.objects.delete(&list_path(document, version)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => return Ok(()),
            Err(error) => return Err(failed(error)),
        }
    }
    let mut listed = Vec::with_capacity(staged.len());
    for item in staged {
        listed.push(Stored { name: item.name.clone(), size: item.bytes.len() as u64, sha256: item.sha256 });
        state
            .objects
            .put(&object_path(document, version, &item.name), PutPayload::from(item.bytes))
            .await
            .map_err(failed)?;
    }
    let text = serde_json::to_vec(&listed).map_err(SsmError::internal)?;
    state.objects.put(&list_path(document, version), PutPayload::from(text)).await.map_err(failed)?;
    Ok(())
}

/// A version's attachments (none when it has no list).
pub(crate) async fn list(state: &AppState, document: &str, version: i64) -> Result<Vec<Stored>, SsmError> {
    match state.objects.get(&list_path(document, version)).await {
        Ok(found) => {
            let bytes = found.bytes().await.map_err(SsmError::internal)?;
            serde_json::from_slice(&bytes).map_err(|e| SsmError::internal(format!("attachment list: {e}")))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
        Err(error) => Err(SsmError::internal(error)),
    }
}

async fn read(state: &AppState, document: &str, version: i64, name: &str) -> Result<bytes::Bytes, SsmError> {
    let found = state.objects.get(&object_path(document, version, name)).await.map_err(SsmError::internal)?;
    found.bytes().await.map_err(SsmError::internal)
}

/// The download URL of an attachment: this server's `/attachments/...` route.
pub(crate) fn url(state: &AppState, document: &str, version: i64, name: &str) -> String {
    let base = state.config.public_url.trim_end_matches('/');
    let mut url = match url::Url::parse(&format!("{base}/")) {
        Ok(url) => url,
        Err(_) => return format!("{base}/attachments/{document}/{version}/{name}"),
    };
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(["attachments", document, &version.to_string(), name]);
    }
    url.to_string()
}

/// GetDocument's `AttachmentsContent`.
pub(crate) async fn content_json(state: &AppState, document: &str, version: i64) -> Result<Value, SsmError> {
    let listed = list(state, document, version).await?;
    Ok(Value::Array(
        listed
            .iter()
            .map(|s| {
                json!({"Name": s.name, "Size": s.size, "Hash": s.sha256, "HashType": "Sha256",
                       "Url": url(state, document, version, &s.name)})
            })
            .collect(),
    ))
}

/// DescribeDocument's `AttachmentsInformation`.
pub(crate) async fn information_json(state: &AppState, document: &str, version: i64) -> Result<Value, SsmError> {
    let listed = list(state, document, version).await?;
    Ok(Value::Array(listed.iter().map(|s| json!({"Name": s.name})).collect()))
}

/// The attachment an `aws:executeScript` step names, with the checksum its runbook declares: the
/// execution's document version, its `files` entry and the stored bytes.
pub(crate) async fn for_step(
    state: &AppState,
    execution_id: &str,
    name: &str,
) -> Result<fleetrun_script::Attachment, String> {
    let row = state
        .store
        .get_automation_execution(execution_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("execution {execution_id} is gone"))?;
    let number: i64 = row.document_version.parse().map_err(|_| "the execution names no document version")?;
    let version = state
        .store
        .get_document(&row.document_name, VersionSelector::Number(number))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("document {} version {number} was deleted", row.document_name))?;
    let format = DocumentFormat::parse(&version.format).unwrap_or(DocumentFormat::Json);
    let runbook = validate_runbook(&version.content, format).map_err(|e| e.to_string())?;
    let expected = runbook
        .attachment_sha256(name)
        .ok_or_else(|| format!("the runbook's files section does not declare attachment {name}"))?
        .to_owned();
    let listed = list(state, &version.name, number).await.map_err(|e| e.message)?;
    if !listed.iter().any(|s| s.name == name) {
        return Err(format!(
            "document {} version {number} has no attachment {name}; give it in CreateDocument/UpdateDocument Attachments",
            version.name
        ));
    }
    let bytes = read(state, &version.name, number, name).await.map_err(|e| e.message)?;
    Ok(fleetrun_script::Attachment { name: name.to_owned(), bytes: bytes.to_vec(), expected_sha256: expected })
}

/// `GET /attachments/{document}/{version}/{name}`: an attachment's bytes (admin keys only).
pub async fn download(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((document, version, name)): Path<(String, String, String)>,
) -> Response {
    if !principal.is_admin() {
        return (StatusCode::FORBIDDEN, "Node keys may not read document attachments.\n").into_response();
    }
    let found = match find_version(&state, &document, &version).await {
        Ok(Some(found)) => found,
        Ok(None) => return (StatusCode::NOT_FOUND, "No such document version.\n").into_response(),
        Err(error) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{}\n", error.message)).into_response(),
    };
    match list(&state, &found.name, found.version).await {
        Ok(listed) if listed.iter().any(|s| s.name == name) => {}
        Ok(_) => return (StatusCode::NOT_FOUND, "No such attachment.\n").into_response(),
        Err(error) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{}\n", error.message)).into_response(),
    }
    match state.objects.get(&object_path(&found.name, found.version, &name)).await {
        Ok(result) => {
            let body = axum::body::Body::from_stream(result.into_stream());
            ([("content-type", "application/octet-stream")], body).into_response()
        }
        Err(error) => {
            tracing::error!(error = %error, "Reading an attachment from the object store failed.");
            (StatusCode::INTERNAL_SERVER_ERROR, "The object store failed; see the server log.\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_locations() {
        let at = |u: &str| s3_location(&url::Url::parse(u).unwrap());
        let pair = |b: &str, k: &str| Some((b.to_owned(), k.to_owned()));
        assert_eq!(at("s3://bucket/dir/file.py"), pair("bucket", "dir/file.py"));
        assert_eq!(at("s3://bucket/dir/"), pair("bucket", "dir/"));
        assert_eq!(at("https://s3.amazonaws.com/bucket/a%20b.py"), pair("bucket", "a b.py"));
        assert_eq!(at("https://s3.eu-west-1.amazonaws.com/bucket/k"), pair("bucket", "k"));
        assert_eq!(at("https://bucket.s3.us-east-2.amazonaws.com/k/x.zip"), pair("bucket", "k/x.zip"));
        assert_eq!(at("https://s3.amazonaws.com.evil.example/bucket/k"), None);
        assert_eq!(at("ftp://s3.amazonaws.com/bucket/k"), None);
    }

    #[test]
    fn names_are_plain() {
        assert!(check_name("helper.py").is_ok());
        for bad in ["", ".", "..", "a/b.py", "a\\b", "x\n"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
