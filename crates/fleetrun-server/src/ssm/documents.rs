//! Document operations: create, update, get, describe, list, versions, default version, delete.
//!
//! Content is parsed and validated by `fleetrun_core::document` before anything is stored; built-in
//! documents (owner `Amazon`) are read-only.

use super::error::SsmError;
use super::send::document_name;
use super::wire::{self, decode, epoch, tags_json};
use crate::app::{AppState, now_ms};
use crate::ssm::attachments;
use fleetrun_core::document::{self, DocumentFormat, DocumentKind, MAX_DOCUMENT_BYTES};
use fleetrun_store::{DocumentVersion, NewDocument, NewDocumentVersion, StoreError, VersionSelector};
use serde::Deserialize;
use serde_json::{Value, json};

pub(crate) const OWNER_AMAZON: &str = "Amazon";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateInput {
    content: Option<String>,
    name: Option<String>,
    document_type: Option<String>,
    document_format: Option<String>,
    version_name: Option<String>,
    display_name: Option<String>,
    target_type: Option<String>,
    document_version: Option<String>,
    #[serde(default)]
    tags: Vec<TagInput>,
    #[serde(default)]
    attachments: Vec<Value>,
    #[serde(default)]
    requires: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TagInput {
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) value: String,
}

fn format_of(text: Option<&str>) -> Result<DocumentFormat, SsmError> {
    match text {
        None => Ok(DocumentFormat::Json),
        Some("TEXT") => Err(SsmError::new(
            "InvalidDocumentContent",
            "DocumentFormat TEXT is not supported for Command or Automation documents.",
        )),
        Some(other) => DocumentFormat::parse(other).ok_or_else(|| {
            SsmError::validation("documentFormat", other, "Member must satisfy enum value set: [YAML, JSON, TEXT]")
        }),
    }
}

fn kind_of(text: Option<&str>) -> Result<DocumentKind, SsmError> {
    let text = text.unwrap_or("Command");
    DocumentKind::parse(text).ok_or_else(|| {
        SsmError::new(
            "InvalidDocumentType",
            format!("DocumentType {text} is not supported by fleetrun; use Command or Automation."),
        )
    })
}

/// Parses and validates content; returns the new version's record.
fn new_version(
    input: &CreateInput,
    content: &str,
    format: DocumentFormat,
    kind: DocumentKind,
) -> Result<NewDocumentVersion, SsmError> {
    if content.len() > MAX_DOCUMENT_BYTES {
        return Err(SsmError::new(
            "MaxDocumentSizeExceeded",
            format!("The document content is {} bytes; the limit is {MAX_DOCUMENT_BYTES}.", content.len()),
        ));
    }
    if content.is_empty() {
        return Err(SsmError::validation("content", "", "Member must have length greater than or equal to 1"));
    }
    if !input.requires.is_empty() {
        return Err(SsmError::new("InvalidDocumentContent", "Requires is not supported yet."));
    }
    document::parse_document(content, format, kind).map_err(|e| match e {
        document::DocumentError::TooLarge { .. } => SsmError::new("MaxDocumentSizeExceeded", e.to_string()),
        document::DocumentError::InvalidSchemaVersion { .. } => {
            SsmError::new("InvalidDocumentSchemaVersion", e.to_string())
        }
        other => SsmError::new("InvalidDocumentContent", other.to_string()),
    })?;
    if kind == DocumentKind::Automation {
        check_runbook(content, format)?;
    }
    if let Some(name) = &input.version_name {
        wire::check_pattern("versionName", name, &regex_version_name(), "^[a-zA-Z0-9_\\-.]{1,128}$")?;
    }
    if let Some(display) = &input.display_name {
        wire::check_len("displayName", display, 0, 1024)?;
    }
    if let Some(target) = &input.target_type {
        wire::check_len("targetType", target, 0, 200)?;
        if !target.starts_with('/') {
            return Err(SsmError::new("InvalidTargetType", format!("TargetType '{target}' must start with '/'.")));
        }
    }
    Ok(NewDocumentVersion {
        content: content.to_string(),
        format: format.as_str().to_string(),
        hash: document::document_hash(content),
        version_name: input.version_name.clone(),
        display_name: input.display_name.clone().unwrap_or_default(),
        target_type: input.target_type.clone().unwrap_or_default(),
        now_ms: now_ms(),
    })
}

/// Automation content: the runbook rules of `fleetrun_core::automation`.
fn check_runbook(content: &str, format: DocumentFormat) -> Result<(), SsmError> {
    use fleetrun_core::automation::{RunbookError, validate_runbook};
    validate_runbook(content, format).map_err(|e| match e {
        RunbookError::Document(document::DocumentError::TooLarge { .. }) => {
            SsmError::new("MaxDocumentSizeExceeded", e.to_string())
        }
        RunbookError::Document(document::DocumentError::InvalidSchemaVersion { .. }) => {
            SsmError::new("InvalidDocumentSchemaVersion", e.to_string())
        }
        other => SsmError::new("InvalidDocumentContent", other.to_string()),
    })?;
    Ok(())
}

fn regex_version_name() -> regex::Regex {
    regex::Regex::new(r"^[a-zA-Z0-9_\-.]{1,128}$").expect("static pattern")
}

pub(crate) async fn create_document(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: CreateInput = decode(input)?;
    let name = input.name.clone().ok_or_else(|| SsmError::validation("name", "null", "Member must not be null"))?;
    let content =
        input.content.clone().ok_or_else(|| SsmError::validation("content", "null", "Member must not be null"))?;
    document::validate_document_name(&name).map_err(|e| SsmError::new("ValidationException", e.to_string()))?;
    let format = format_of(input.document_format.as_deref())?;
    let kind = kind_of(input.document_type.as_deref())?;
    let version = new_version(&input, &content, format, kind)?;
    let tags = check_tags(&input.tags)?;
    let files = attachments::declared_files(&content, format, kind);
    let staged = attachments::stage(state, &input.attachments, &files).await?;
    let doc = NewDocument {
        name: name.clone(),
        owner: state.config.account_id.clone(),
        document_type: kind.as_str().into(),
        version,
        now_ms: now_ms(),
    };
    let stored = state.store.create_document(&doc).await.map_err(|e| match e {
        StoreError::AlreadyExists(_) => {
            SsmError::new("DocumentAlreadyExists", format!("A document named {name} already exists."))
        }
        other => other.into(),
    })?;
    if let Err(error) = attachments::store(state, &name, stored.version, staged).await {
        let _ = state.store.delete_document(&name, None).await;
        return Err(error);
    }
    if !tags.is_empty() {
        state.store.add_tags("Document", &name, &tags).await?;
    }
    Ok(json!({ "DocumentDescription": description_json(state, &stored).await? }))
}

pub(crate) async fn update_document(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: CreateInput = decode(input)?;
    let name = input.name.clone().ok_or_else(|| SsmError::validation("name", "null", "Member must not be null"))?;
    let content =
        input.content.clone().ok_or_else(|| SsmError::validation("content", "null", "Member must not be null"))?;
    let latest = find_version(state, &name, Some("$LATEST"), None).await?;
    if latest.owner == OWNER_AMAZON {
        return Err(SsmError::new(
            "InvalidDocumentOperation",
            format!("{name} is a built-in document and cannot be changed."),
        ));
    }
    if let Some(v) = input.document_version.as_deref()
        && v != "$LATEST"
        && v != latest.version.to_string()
    {
        return Err(SsmError::new("InvalidDocumentVersion", "UpdateDocument must name the latest version or $LATEST."));
    }
    let format = format_of(input.document_format.as_deref())?;
    let kind = kind_of(Some(&latest.document_type))?;
    let version = new_version(&input, &content, format, kind)?;
    let files = attachments::declared_files(&content, format, kind);
    let staged = attachments::stage(state, &input.attachments, &files).await?;
    let stored = state.store.add_document_version(&name, &version).await.map_err(|e| match e {
        StoreError::Conflict(_) => {
            SsmError::new("DuplicateDocumentContent", "The content is the same as the latest version's.")
        }
        StoreError::AlreadyExists(_) => {
            SsmError::new("DuplicateDocumentVersionName", "That version name is already used by this document.")
        }
        other => other.into(),
    })?;
    if let Err(error) = attachments::store(state, &name, stored.version, staged).await {
        let _ = state.store.delete_document(&name, Some(stored.version)).await;
        return Err(error);
    }
    Ok(json!({ "DocumentDescription": description_json(state, &stored).await? }))
}

/// Finds a document version by `DocumentVersion` (`$DEFAULT`, `$LATEST`, a number) or `VersionName`.
pub(crate) async fn find_version(
    state: &AppState,
    name: &str,
    version: Option<&str>,
    version_name: Option<&str>,
) -> Result<DocumentVersion, SsmError> {
    let selector = match (version, version_name) {
        (None | Some("$DEFAULT"), None) => VersionSelector::Default,
        (Some("$LATEST"), _) => VersionSelector::Latest,
        (None, Some(v)) => VersionSelector::Named(v),
        (Some(v), _) => match v.parse::<i64>() {
            Ok(n) if n >= 1 && !v.starts_with('0') => VersionSelector::Number(n),
            _ => {
                return Err(SsmError::validation(
                    "documentVersion",
                    v,
                    "Member must satisfy regular expression pattern: ([$]LATEST|[$]DEFAULT|^[1-9][0-9]*$)",
                ));
            }
        },
    };
    if let Some(found) = state.store.get_document(name, selector).await? {
        return Ok(found);
    }
    if state.store.get_document(name, VersionSelector::Default).await?.is_none() {
        return Err(SsmError::new("InvalidDocument", "The specified document does not exist."));
    }
    Err(SsmError::new("InvalidDocumentVersion", "The document version is not valid or does not exist."))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetInput {
    name: Option<String>,
    document_version: Option<String>,
    version_name: Option<String>,
    document_format: Option<String>,
}

pub(crate) async fn get_document(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: GetInput = decode(input)?;
    let name = document_name(input.name.as_deref())?;
    let v = find_version(state, &name, input.document_version.as_deref(), input.version_name.as_deref()).await?;
    let stored_format = DocumentFormat::parse(&v.format).unwrap_or(DocumentFormat::Json);
    let (content, format) = match input.document_format.as_deref() {
        None => (v.content.clone(), stored_format),
        Some(wanted) => {
            let wanted = format_of(Some(wanted))?;
            let converted = document::convert(&v.content, stored_format, wanted).map_err(SsmError::internal)?;
            (converted, wanted)
        }
    };
    Ok(json!({
        "Name": v.name,
        "CreatedDate": epoch(v.created_ms),
        "DisplayName": v.display_name,
        "VersionName": v.version_name,
        "DocumentVersion": v.version.to_string(),
        "Status": "Active",
        "StatusInformation": "",
        "Content": content,
        "DocumentType": v.document_type,
        "DocumentFormat": format.as_str(),
        "Requires": [],
        "AttachmentsContent": attachments::content_json(state, &v.name, v.version).await?,
    }))
}

pub(crate) async fn describe_document(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: GetInput = decode(input)?;
    let name = document_name(input.name.as_deref())?;
    let v = find_version(state, &name, input.document_version.as_deref(), input.version_name.as_deref()).await?;
    Ok(json!({ "Document": description_json(state, &v).await? }))
}

/// SSM's `DocumentDescription`.
async fn description_json(state: &AppState, v: &DocumentVersion) -> Result<Value, SsmError> {
    let format = DocumentFormat::parse(&v.format).unwrap_or(DocumentFormat::Json);
    let kind = DocumentKind::parse(&v.document_type).unwrap_or(DocumentKind::Command);
    let parsed = document::parse_document(&v.content, format, kind).map_err(SsmError::internal)?;
    let parameters: Vec<Value> = parsed
        .parameters
        .iter()
        .map(|p| {
            let mut param = json!({ "Name": p.name, "Type": p.kind.as_str(), "Description": p.description });
            if let Some(default) = &p.default {
                param["DefaultValue"] = json!(match default {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            }
            param
        })
        .collect();
    let tags = state.store.list_tags("Document", &v.name).await?;
    Ok(json!({
        "Sha1": "",
        "Hash": v.hash,
        "HashType": "Sha256",
        "Name": v.name,
        "DisplayName": v.display_name,
        "VersionName": v.version_name,
        "Owner": v.owner,
        "CreatedDate": epoch(v.created_ms),
        "Status": "Active",
        "StatusInformation": "",
        "DocumentVersion": v.version.to_string(),
        "Description": parsed.description,
        "Parameters": parameters,
        "PlatformTypes": document::platform_types(&parsed),
        "DocumentType": v.document_type,
        "SchemaVersion": parsed.schema_version,
        "LatestVersion": v.latest_version.to_string(),
        "DefaultVersion": v.default_version.to_string(),
        "DocumentFormat": v.format,
        "TargetType": v.target_type,
        "Tags": tags_json(&tags),
        "AttachmentsInformation": attachments::information_json(state, &v.name, v.version).await?,
        "Requires": [],
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    #[serde(default)]
    filters: Vec<KeyValuesFilter>,
    #[serde(default)]
    document_filter_list: Vec<LegacyFilter>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct KeyValuesFilter {
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) values: Vec<String>,
}

#[derive(Deserialize)]
struct LegacyFilter {
    key: String,
    value: String,
}

pub(crate) async fn list_documents(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: ListInput = decode(input)?;
    let page = wire::page_size(input.max_results, 1, 50, 50)?;
    let offset = wire::offset_from_token(input.next_token.as_deref())?;
    let mut filters: Vec<KeyValuesFilter> = input.filters;
    for legacy in input.document_filter_list {
        let key = match legacy.key.as_str() {
            "Name" | "Owner" | "PlatformTypes" | "DocumentType" => legacy.key.clone(),
            other => {
                return Err(SsmError::new("InvalidFilterKey", format!("Filter key '{other}' is not supported.")));
            }
        };
        filters.push(KeyValuesFilter { key, values: vec![legacy.value] });
    }
    if filters.len() > 6 {
        return Err(SsmError::validation(
            "filters",
            format!("[{} filters]", filters.len()),
            "Member must have length less than or equal to 6",
        ));
    }
    let mut matched = Vec::new();
    for v in state.store.list_documents().await? {
        if document_matches(state, &v, &filters).await? {
            matched.push(v);
        }
    }
    let slice: Vec<&DocumentVersion> = matched.iter().skip(offset as usize).take(page as usize).collect();
    let mut items = Vec::with_capacity(slice.len());
    for v in &slice {
        items.push(identifier_json(state, v).await?);
    }
    let mut out = json!({ "DocumentIdentifiers": items });
    if (offset as usize + slice.len()) < matched.len() {
        out["NextToken"] = json!(wire::next_token(offset, page, true));
    }
    Ok(out)
}

async fn document_matches(
    state: &AppState,
    v: &DocumentVersion,
    filters: &[KeyValuesFilter],
) -> Result<bool, SsmError> {
    for f in filters {
        let ok = match f.key.as_str() {
            "Owner" => f.values.iter().any(|o| match o.as_str() {
                "Amazon" => v.owner == OWNER_AMAZON,
                "Self" | "Private" => v.owner != OWNER_AMAZON,
                "All" => true,
                _ => false,
            }),
            "Name" => f.values.iter().any(|prefix| v.name.starts_with(prefix.as_str())),
            "DocumentType" => f.values.contains(&v.document_type),
            "PlatformTypes" => {
                let parsed = parse_stored(v)?;
                let platforms = document::platform_types(&parsed);
                f.values.iter().any(|p| platforms.contains(&p.as_str()))
            }
            "TargetType" => f.values.contains(&v.target_type),
            key if key.starts_with("tag:") || key == "tag-key" => {
                let tags = state.store.list_tags("Document", &v.name).await?;
                match key.strip_prefix("tag:") {
                    Some(tag) => tags.iter().any(|(k, val)| k == tag && f.values.contains(val)),
                    None => tags.iter().any(|(k, _)| f.values.contains(k)),
                }
            }
            other => {
                return Err(SsmError::new("InvalidFilterKey", format!("Filter key '{other}' is not supported.")));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn parse_stored(v: &DocumentVersion) -> Result<document::Document, SsmError> {
    let format = DocumentFormat::parse(&v.format).unwrap_or(DocumentFormat::Json);
    let kind = DocumentKind::parse(&v.document_type).unwrap_or(DocumentKind::Command);
    document::parse_document(&v.content, format, kind).map_err(SsmError::internal)
}

async fn identifier_json(state: &AppState, v: &DocumentVersion) -> Result<Value, SsmError> {
    let parsed = parse_stored(v)?;
    let tags = state.store.list_tags("Document", &v.name).await?;
    Ok(json!({
        "Name": v.name,
        "CreatedDate": epoch(v.document_created_ms),
        "DisplayName": v.display_name,
        "Owner": v.owner,
        "VersionName": v.version_name,
        "PlatformTypes": document::platform_types(&parsed),
        "DocumentVersion": v.version.to_string(),
        "DocumentType": v.document_type,
        "SchemaVersion": parsed.schema_version,
        "DocumentFormat": v.format,
        "TargetType": v.target_type,
        "Tags": tags_json(&tags),
        "Requires": [],
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameInput {
    name: Option<String>,
    document_version: Option<String>,
    version_name: Option<String>,
    #[serde(default)]
    force: bool,
    max_results: Option<i64>,
    next_token: Option<String>,
}

pub(crate) async fn list_document_versions(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: NameInput = decode(input)?;
    let name = document_name(input.name.as_deref())?;
    find_version(state, &name, None, None).await?;
    let page = wire::page_size(input.max_results, 1, 50, 50)?;
    let offset = wire::offset_from_token(input.next_token.as_deref())?;
    let versions = state.store.list_document_versions(&name).await?;
    let items: Vec<Value> = versions
        .iter()
        .skip(offset as usize)
        .take(page as usize)
        .map(|v| {
            json!({
                "Name": v.name, "DisplayName": v.display_name, "DocumentVersion": v.version.to_string(), "VersionName": v.version_name,
                "CreatedDate": epoch(v.created_ms), "IsDefaultVersion": v.version == v.default_version, "DocumentFormat": v.format, "Status": "Active",
            })
        })
        .collect();
    let mut out = json!({ "DocumentVersions": items });
    if (offset as usize + page as usize) < versions.len() {
        out["NextToken"] = json!(wire::next_token(offset, page, true));
    }
    Ok(out)
}

pub(crate) async fn update_default_version(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: NameInput = decode(input)?;
    let name = document_name(input.name.as_deref())?;
    let version = input
        .document_version
        .ok_or_else(|| SsmError::validation("documentVersion", "null", "Member must not be null"))?;
    let target = find_version(state, &name, Some(&version), None).await?;
    if target.owner == OWNER_AMAZON {
        return Err(SsmError::new(
            "InvalidDocumentOperation",
            format!("{name} is a built-in document and cannot be changed."),
        ));
    }
    let v = state.store.set_default_version(&name, target.version).await?;
    Ok(
        json!({ "Description": { "Name": v.name, "DefaultVersion": v.default_version.to_string(), "DefaultVersionName": v.version_name } }),
    )
}

pub(crate) async fn delete_document(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: NameInput = decode(input)?;
    let name = document_name(input.name.as_deref())?;
    let _ = input.force;
    let existing = find_version(state, &name, None, None).await?;
    if existing.owner == OWNER_AMAZON {
        return Err(SsmError::new(
            "InvalidDocumentOperation",
            format!("{name} is a built-in document and cannot be deleted."),
        ));
    }
    let number = match (input.document_version.as_deref(), input.version_name.as_deref()) {
        (None, None) => None,
        (v, n) => Some(find_version(state, &name, v, n).await?.version),
    };
    state.store.delete_document(&name, number).await.map_err(|e| match e {
        StoreError::Conflict(m) => SsmError::new("InvalidDocumentOperation", m),
        other => other.into(),
    })?;
    if number.is_none() {
        let keys: Vec<String> = state.store.list_tags("Document", &name).await?.into_iter().map(|(k, _)| k).collect();
        state.store.remove_tags("Document", &name, &keys).await?;
    }
    Ok(json!({}))
}

/// Checks tags against the model: ≤ 1000, key 1..128, value 0..256, SSM's character set.
pub(crate) fn check_tags(tags: &[TagInput]) -> Result<Vec<(String, String)>, SsmError> {
    if tags.len() > 1000 {
        return Err(SsmError::new("TooManyTagsError", "At most 1000 tags may be given."));
    }
    let allowed = |s: &str| s.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c));
    tags.iter()
        .map(|t| {
            wire::check_len("tags.member.key", &t.key, 1, 128)?;
            wire::check_len("tags.member.value", &t.value, 0, 256)?;
            if !allowed(&t.key) || !allowed(&t.value) {
                return Err(SsmError::validation(
                    "tags.member",
                    &t.key,
                    "Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$",
                ));
            }
            Ok((t.key.clone(), t.value.clone()))
        })
        .collect()
}
