//! PutParameter, LabelParameterVersion, DeleteParameter and DeleteParameters.

use super::super::documents::{TagInput, check_tags};
use super::super::error::SsmError;
use super::{DEFAULT_KEY_ID, check_names, find, param_type};
use crate::app::{AppState, now_ms};
use crate::auth::Principal;
use fleetrun_core::parameter::{self as rules, DataType, ParameterType, Tier};
use fleetrun_store::{NewParameter, ParamSelector, ParameterVersion, StoreError, StoredValue};
use serde::Deserialize;
use serde_json::{Value, json};

/// How often a write is retried when another write to the same parameter won the race.
const WRITE_ATTEMPTS: usize = 5;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutInput {
    name: Option<String>,
    description: Option<String>,
    value: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    key_id: Option<String>,
    #[serde(default)]
    overwrite: bool,
    allowed_pattern: Option<String>,
    #[serde(default)]
    tags: Vec<TagInput>,
    tier: Option<String>,
    policies: Option<String>,
    data_type: Option<String>,
}

fn required<'a>(member: &str, value: Option<&'a str>) -> Result<&'a str, SsmError> {
    value.ok_or_else(|| SsmError::validation(member, "null", "Member must not be null"))
}

/// Who wrote a version, as `LastModifiedUser` shows it.
fn user(state: &AppState, principal: &Principal) -> String {
    format!("arn:aws:iam::{}:user/{}", state.config.account_id, principal.access_key_id())
}

pub(crate) async fn put_parameter(state: &AppState, principal: &Principal, input: Value) -> Result<Value, SsmError> {
    let input: PutInput = super::super::wire::decode(input)?;
    let name = rules::trim_name(required("name", input.name.as_deref())?);
    let value = required("value", input.value.as_deref())?;
    rules::validate_name(name)?;
    let name = rules::storage_key(name).to_string();
    if input.policies.as_deref().is_some_and(|p| !p.trim().is_empty() && p.trim() != "[]") {
        return Err(SsmError::new("InvalidPolicyTypeException", "Parameter policies are not supported by fleetrun."));
    }
    if !input.tags.is_empty() && input.overwrite {
        return Err(SsmError::new(
            "ValidationException",
            "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
        ));
    }
    let tags = check_tags(&input.tags)?;
    let data_type = DataType::parse(input.data_type.as_deref().unwrap_or("text"))?;
    if let Some(description) = &input.description {
        rules::validate_description(description)?;
    }
    for _ in 0..WRITE_ATTEMPTS {
        let existing = state.store.get_parameter(&name, ParamSelector::Latest).await?;
        let new = prepare(state, &input, &name, value, data_type, &tags, existing.as_ref())?;
        let expected = existing.as_ref().map_or(0, |e| e.version);
        let new = NewParameter { user: user(state, principal), ..seal(state, new, expected + 1, value)? };
        match state.store.put_parameter(&new, input.overwrite, expected).await {
            Ok(written) => return Ok(json!({ "Version": written.version, "Tier": written.tier })),
            Err(StoreError::Conflict(_)) => continue,
            Err(StoreError::AlreadyExists(_)) => return Err(already_exists()),
            Err(StoreError::LimitExceeded(message)) => return Err(limit_error(&message)),
            Err(other) => return Err(other.into()),
        }
    }
    Err(SsmError::new("TooManyUpdates", format!("Parameter {name} is being written concurrently; try again.")))
}

fn already_exists() -> SsmError {
    SsmError::new(
        "ParameterAlreadyExists",
        "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
    )
}

/// Checks a write against the rules and the stored latest version; the value is not sealed yet.
fn prepare(
    state: &AppState,
    input: &PutInput,
    name: &str,
    value: &str,
    data_type: DataType,
    tags: &[(String, String)],
    existing: Option<&ParameterVersion>,
) -> Result<NewParameter, SsmError> {
    if existing.is_some() && !input.overwrite {
        return Err(already_exists());
    }
    let existing_type = existing.map(param_type).transpose()?;
    let kind = match (input.kind.as_deref(), existing_type) {
        (Some(text), _) => ParameterType::parse(text)?,
        (None, Some(kind)) => kind,
        (None, None) => return Err(rules::ParameterError::MissingType.into()),
    };
    if let Some(existing) = existing_type {
        rules::check_type_change(name, existing, kind)?;
    }
    if let Some(key_id) = &input.key_id {
        rules::validate_key_id(key_id, kind)?;
        state.keys.resolve(Some(key_id)).map_err(|e| SsmError::new("InvalidKeyId", e.to_string()))?;
    }
    let existing_tier = existing.map(|e| Tier::parse(&e.tier)).transpose()?;
    let requested_tier = match input.tier.as_deref() {
        Some(text) => Tier::parse(text)?,
        None => existing_tier.unwrap_or(Tier::Standard),
    };
    let tier = rules::resolve_tier(requested_tier, value, existing_tier)?;
    rules::validate_value(value, tier)?;
    // An overwrite that gives no pattern keeps the one in force.
    let pattern = input.allowed_pattern.clone().or_else(|| existing.and_then(|e| e.allowed_pattern.clone()));
    if let Some(pattern) = &pattern {
        rules::check_allowed_pattern(value, pattern)?;
    }
    Ok(NewParameter {
        name: name.to_string(),
        param_type: kind.as_str().to_string(),
        value: StoredValue::Plain(String::new()),
        description: input.description.clone(),
        allowed_pattern: pattern.filter(|p| !p.is_empty()),
        key_id: (kind == ParameterType::SecureString).then(|| input.key_id.clone()).flatten(),
        tier: tier.as_str().to_string(),
        data_type: data_type.as_str().to_string(),
        tags: tags.to_vec(),
        user: String::new(),
        now_ms: now_ms(),
    })
}

/// Puts the value in: in clear for String/StringList, sealed for version `version` for SecureString.
fn seal(state: &AppState, new: NewParameter, version: i64, value: &str) -> Result<NewParameter, SsmError> {
    if new.param_type != ParameterType::SecureString.as_str() {
        return Ok(NewParameter { value: StoredValue::Plain(value.to_string()), ..new });
    }
    let key_id = new.key_id.as_deref().filter(|k| *k != DEFAULT_KEY_ID);
    let key_name = state.keys.resolve(key_id).map_err(|e| SsmError::new("InvalidKeyId", e.to_string()))?;
    let sealed = state
        .keys
        .seal(&key_name, &new.name, version, value)
        .map_err(|e| SsmError::internal(format!("sealing a SecureString failed: {e}")))?;
    Ok(NewParameter { value: StoredValue::Sealed(sealed), ..new })
}

/// A store limit as SSM's error (the store's message starts with the code).
fn limit_error(message: &str) -> SsmError {
    let code = if message.starts_with("ParameterVersionLabelLimitExceeded") {
        "ParameterVersionLabelLimitExceeded"
    } else {
        "ParameterMaxVersionLimitExceeded"
    };
    let text = message.split_once(": ").map_or(message, |(_, rest)| rest);
    SsmError::new(code, text.to_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LabelInput {
    name: Option<String>,
    parameter_version: Option<i64>,
    #[serde(default)]
    labels: Vec<String>,
}

pub(crate) async fn label_parameter_version(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: LabelInput = super::super::wire::decode(input)?;
    let text = required("name", input.name.as_deref())?;
    let target = match input.parameter_version {
        Some(v) => format!("{}:{v}", text),
        None => text.to_string(),
    };
    let (version, _) = find(state, &target).await?;
    let plan = rules::plan_labels(&version.labels, &input.labels)?;
    if !plan.attach.is_empty() {
        state
            .store
            .label_parameter_version(&version.name, Some(version.version), &plan.attach, now_ms())
            .await
            .map_err(|e| match e {
                StoreError::LimitExceeded(message) => limit_error(&message),
                StoreError::NotFound(_) => SsmError::new("ParameterNotFound", format!("Parameter {text} not found.")),
                other => other.into(),
            })?;
    }
    Ok(json!({ "InvalidLabels": plan.invalid, "ParameterVersion": version.version }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteInput {
    name: Option<String>,
    names: Option<Vec<String>>,
}

pub(crate) async fn delete_parameter(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: DeleteInput = super::super::wire::decode(input)?;
    let text = required("name", input.name.as_deref())?;
    rules::validate_reference_name(text)?;
    let deleted = state.store.delete_parameters(&[rules::storage_key(text).to_string()]).await?;
    if deleted.is_empty() {
        return Err(SsmError::new("ParameterNotFound", format!("Parameter {text} not found.")));
    }
    Ok(json!({}))
}

pub(crate) async fn delete_parameters(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: DeleteInput = super::super::wire::decode(input)?;
    let names = input.names.unwrap_or_default();
    check_names(&names)?;
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for name in &names {
        match rules::validate_reference_name(name) {
            Ok(()) => valid.push(rules::storage_key(name).to_string()),
            Err(_) => invalid.push(name.clone()),
        }
    }
    let deleted = state.store.delete_parameters(&valid).await?;
    let mut deleted_shown = Vec::new();
    for name in &names {
        let key = rules::storage_key(name);
        if deleted.iter().any(|d| d == key) && !deleted_shown.contains(name) {
            deleted_shown.push(name.clone());
        } else if !invalid.contains(name) && !deleted_shown.contains(name) {
            invalid.push(name.clone());
        }
    }
    Ok(json!({ "DeletedParameters": deleted_shown, "InvalidParameters": invalid }))
}
