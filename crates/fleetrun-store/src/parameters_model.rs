//! The records of the Parameter Store (SSM parameters, their versions and labels) as the store takes and
//! gives them back, plus the limits both engines enforce.
//!
//! The store neither encrypts nor validates: callers (the SSM façade) check names, types, patterns and
//! labels, and seal SecureString values before they get here; a sealed value is opaque bytes. The few
//! rules the store itself applies (the write precondition, the limits) are written once here, at the end,
//! for both engines. The `Debug` output of these types never shows a value, so they can be logged.

use crate::{Result, StoreError};

/// How many versions a parameter keeps; a write beyond it drops the oldest (SSM's `PARAMETER_VERSION_LIMIT`).
pub const MAX_PARAMETER_VERSIONS: i64 = 100;

/// How many labels one version of a parameter may carry.
pub const MAX_LABELS_PER_VERSION: i64 = 10;

/// A parameter's value as stored: in clear for String and StringList, sealed (encrypted by the caller)
/// for SecureString.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredValue {
    Plain(String),
    Sealed(Vec<u8>),
}

impl std::fmt::Debug for StoredValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoredValue::Plain(text) => write!(f, "Plain(<{} bytes>)", text.len()),
            StoredValue::Sealed(bytes) => write!(f, "Sealed(<{} bytes>)", bytes.len()),
        }
    }
}

/// One write of a parameter (PutParameter), as the façade hands it to the store.
// `Debug` is derived: the only secret field, `value`, redacts itself.
#[derive(Clone, Debug)]
pub struct NewParameter {
    pub name: String,
    /// `String`, `StringList` or `SecureString`.
    pub param_type: String,
    pub value: StoredValue,
    /// None on an overwrite keeps the previous version's description (as SSM does); `Some("")` clears it.
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    pub key_id: Option<String>,
    pub tier: String,
    pub data_type: String,
    /// Tags of a new parameter (SSM refuses Tags together with Overwrite; the store stores what it gets).
    pub tags: Vec<(String, String)>,
    pub user: String,
    pub now_ms: i64,
}

/// One version of a parameter. Type, description, pattern, key and tier belong to the version, so the
/// history shows how they changed.
// `Debug` is derived: the only secret field, `value`, redacts itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterVersion {
    pub name: String,
    pub version: i64,
    pub param_type: String,
    pub value: StoredValue,
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    pub key_id: Option<String>,
    pub tier: String,
    pub data_type: String,
    /// The labels on this version, sorted.
    pub labels: Vec<String>,
    pub modified_ms: i64,
    pub modified_user: String,
}

/// Which version of a parameter to read: `name`, `name:3` or `name:label` in SSM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamSelector<'a> {
    Latest,
    Version(i64),
    Label(&'a str),
}

/// A page of parameters (their latest versions), in name order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterQuery {
    /// Only names that start with this (compared bytewise; `_` and `%` are plain characters).
    pub prefix: Option<String>,
    /// Keyset pagination: only names after this one, usually the last name of the previous page.
    pub after: Option<String>,
    /// At most this many parameters.
    pub limit: u32,
}

/// The least string greater than every string that starts with `prefix`, or None when there is none
/// (`prefix` is empty or all `char::MAX`). Both engines compare names bytewise, and UTF-8's byte order is
/// code point order, so `prefix <= name < upper` is exactly "name starts with prefix", and an index on
/// the name serves it (unlike `LIKE`, which would need escaping and, in PostgreSQL, a pattern index).
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut upper: Vec<char> = prefix.chars().collect();
    while let Some(last) = upper.pop() {
        // The next code point, skipping the surrogates, which are not chars.
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            _ => char::from_u32(u32::from(last) + 1),
        };
        if let Some(next) = next {
            upper.push(next);
            return Some(upper.into_iter().collect());
        }
    }
    None
}

impl StoredValue {
    /// The value as the two columns `(value_text, value_sealed)`, exactly one of them set.
    pub(crate) fn columns(&self) -> (Option<&str>, Option<&[u8]>) {
        match self {
            StoredValue::Plain(text) => (Some(text), None),
            StoredValue::Sealed(bytes) => (None, Some(bytes)),
        }
    }

    /// The value from its two columns; the schema's CHECK makes exactly one of them non-NULL.
    pub(crate) fn from_columns(
        text: Option<String>,
        sealed: Option<Vec<u8>>,
        name: &str,
        version: i64,
    ) -> Result<Self> {
        match (text, sealed) {
            (Some(text), None) => Ok(StoredValue::Plain(text)),
            (None, Some(bytes)) => Ok(StoredValue::Sealed(bytes)),
            _ => Err(StoreError::Corrupt(format!("parameter {name} version {version} has not exactly one value"))),
        }
    }
}

/// Whether a write may add a version after `latest` (0: the parameter does not exist).
pub(crate) fn check_put(name: &str, latest: i64, overwrite: bool, expected_latest: i64) -> Result<()> {
    if latest > 0 && !overwrite {
        return Err(StoreError::AlreadyExists(format!("parameter {name}")));
    }
    if latest != expected_latest {
        return Err(StoreError::Conflict(format!(
            "parameter {name} is at version {latest}, not {expected_latest}: read it again and retry"
        )));
    }
    Ok(())
}

pub(crate) fn version_limit_exceeded(name: &str, oldest: i64) -> StoreError {
    StoreError::LimitExceeded(format!(
        "ParameterMaxVersionLimitExceeded: parameter {name} has {MAX_PARAMETER_VERSIONS} versions and the oldest, \
         version {oldest}, has a label, so it cannot be deleted to make room; move the label to another version"
    ))
}

pub(crate) fn label_limit_exceeded(name: &str, version: i64) -> StoreError {
    StoreError::LimitExceeded(format!(
        "ParameterVersionLabelLimitExceeded: version {version} of parameter {name} would have more than \
         {MAX_LABELS_PER_VERSION} labels"
    ))
}

pub(crate) fn version_not_found(name: &str, version: i64) -> StoreError {
    StoreError::NotFound(format!("version {version} of parameter {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bound_follows_the_last_char() {
        assert_eq!(prefix_upper_bound("/app/"), Some("/app0".to_string()));
        assert_eq!(prefix_upper_bound("a_b"), Some("a_c".to_string()));
        assert_eq!(prefix_upper_bound("x\u{D7FF}"), Some("x\u{E000}".to_string()));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}"), Some("b".to_string()));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        assert_eq!(prefix_upper_bound(""), None);
    }

    #[test]
    fn debug_hides_values() {
        let version = ParameterVersion {
            name: "/db/password".into(),
            version: 1,
            param_type: "String".into(),
            value: StoredValue::Plain("hunter2".into()),
            description: None,
            allowed_pattern: None,
            key_id: None,
            tier: "Standard".into(),
            data_type: "text".into(),
            labels: Vec::new(),
            modified_ms: 0,
            modified_user: String::new(),
        };
        let printed = format!("{version:?}");
        assert!(!printed.contains("hunter2") && printed.contains("Plain(<7 bytes>)"), "{printed}");
        assert_eq!(format!("{:?}", StoredValue::Sealed(vec![1, 2, 3])), "Sealed(<3 bytes>)");
    }
}
