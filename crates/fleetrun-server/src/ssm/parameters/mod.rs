//! Parameter Store operations: PutParameter, GetParameter(s), GetParametersByPath, DescribeParameters,
//! GetParameterHistory, LabelParameterVersion, DeleteParameter(s).
//!
//! The rules (names, values, tiers, labels, filters, selectors) are `fleetrun_core::parameter`; sealing is
//! [`crate::master_keys`]; this module decodes requests, applies the rules in SSM's order, and shapes the
//! responses. A SecureString value is in clear here only between the request body and sealing, or between
//! opening and a `WithDecryption` response; errors never echo a value.

mod read;
mod write;

pub(crate) use read::{
    describe_parameters, get_parameter, get_parameter_history, get_parameters, get_parameters_by_path,
};
pub(crate) use write::{delete_parameter, delete_parameters, label_parameter_version, put_parameter};

use super::error::SsmError;
use super::wire;
use crate::app::AppState;
use fleetrun_core::parameter::{self as rules, ParameterError, ParameterType};
use fleetrun_store::{ParamSelector, ParameterVersion, StoredValue};
use serde_json::{Value, json};

/// The KeyId SSM reports for a SecureString sealed under the default key.
const DEFAULT_KEY_ID: &str = "alias/aws/ssm";

impl From<ParameterError> for SsmError {
    fn from(error: ParameterError) -> Self {
        SsmError::new(error.code(), error.to_string())
    }
}

/// GetParameters' and DeleteParameters' `Names`: 1 to 10 of them.
fn check_names(names: &[String]) -> Result<(), SsmError> {
    if names.is_empty() || names.len() > 10 {
        return Err(SsmError::validation(
            "names",
            format!("[{}]", names.join(", ")),
            "Member must have length less than or equal to 10 and greater than or equal to 1",
        ));
    }
    Ok(())
}

/// The type of a stored version (rows are written by this module, so an unknown type is corruption).
fn param_type(v: &ParameterVersion) -> Result<ParameterType, SsmError> {
    ParameterType::parse(&v.param_type)
        .map_err(|_| SsmError::internal(format!("parameter {} has type {:?}", v.name, v.param_type)))
}

/// The value as a response shows it: in clear for String/StringList; for SecureString the plaintext when
/// `decrypt`, else an opaque ciphertext.
fn shown_value(state: &AppState, v: &ParameterVersion, decrypt: bool) -> Result<String, SsmError> {
    match &v.value {
        StoredValue::Plain(text) => Ok(text.clone()),
        StoredValue::Sealed(bytes) if decrypt => {
            let opened = state.keys.open(&v.name, v.version, bytes).map_err(|e| {
                SsmError::internal(format!("opening SecureString {} version {} failed: {e}", v.name, v.version))
            })?;
            Ok(opened.as_str().to_string())
        }
        StoredValue::Sealed(bytes) => Ok(crate::master_keys::MasterKeys::opaque(bytes)),
    }
}

/// The name a response shows (as stored; see `rules::storage_key`).
fn arn(state: &AppState, name: &str) -> String {
    rules::arn(&state.config.region, &state.config.account_id, name)
}

/// SSM's `Parameter` (GetParameter, GetParameters, GetParametersByPath).
fn parameter_json(state: &AppState, v: &ParameterVersion, decrypt: bool, selector: &str) -> Result<Value, SsmError> {
    let mut out = json!({
        "Name": v.name,
        "Type": v.param_type,
        "Value": shown_value(state, v, decrypt)?,
        "Version": v.version,
        "LastModifiedDate": wire::epoch(v.modified_ms),
        "ARN": arn(state, &v.name),
        "DataType": v.data_type,
    });
    if !selector.is_empty() {
        out["Selector"] = json!(selector);
    }
    Ok(out)
}

/// The KeyId a response shows: the one given at write, else the default alias; none for non-secure types.
fn key_id_shown(v: &ParameterVersion) -> Option<String> {
    (v.param_type == "SecureString").then(|| v.key_id.clone().unwrap_or_else(|| DEFAULT_KEY_ID.to_string()))
}

/// Fields `ParameterMetadata` and `ParameterHistory` share.
fn metadata_json(state: &AppState, v: &ParameterVersion) -> Value {
    let mut out = json!({
        "Name": v.name,
        "ARN": arn(state, &v.name),
        "Type": v.param_type,
        "LastModifiedDate": wire::epoch(v.modified_ms),
        "LastModifiedUser": v.modified_user,
        "Version": v.version,
        "Tier": v.tier,
        "Policies": [],
        "DataType": v.data_type,
    });
    if let Some(key_id) = key_id_shown(v) {
        out["KeyId"] = json!(key_id);
    }
    if let Some(description) = v.description.as_deref().filter(|d| !d.is_empty()) {
        out["Description"] = json!(description);
    }
    if let Some(pattern) = v.allowed_pattern.as_deref().filter(|p| !p.is_empty()) {
        out["AllowedPattern"] = json!(pattern);
    }
    out
}

/// Reads what a `Name` member names (name, `name:version`, `name:label` or an ARN of this server's region
/// and account), or the SSM error for it.
pub(crate) async fn find(state: &AppState, text: &str) -> Result<(ParameterVersion, String), SsmError> {
    let reference = rules::ParameterRef::parse(text)?;
    let not_found = || SsmError::new("ParameterNotFound", format!("Parameter {text} not found."));
    if let Some(scope) = &reference.arn
        && (scope.region != state.config.region || scope.account != state.config.account_id)
    {
        return Err(not_found());
    }
    let name = rules::storage_key(&reference.name);
    let selector = match &reference.selector {
        rules::Selector::Latest => ParamSelector::Latest,
        rules::Selector::Version(n) => ParamSelector::Version(*n),
        rules::Selector::Label(label) => ParamSelector::Label(label),
    };
    match state.store.get_parameter(name, selector).await? {
        Some(v) => Ok((v, reference.selector.to_string())),
        None if matches!(selector, ParamSelector::Latest) => Err(not_found()),
        None if state.store.get_parameter(name, ParamSelector::Latest).await?.is_none() => Err(not_found()),
        None => Err(SsmError::new(
            "ParameterVersionNotFound",
            format!(
                "Systems Manager could not find version {} of {}.",
                reference.selector.to_string().trim_start_matches(':'),
                reference.name
            ),
        )),
    }
}
