//! What PutParameter accepts besides the name: the value and its size per tier, the description,
//! the allowed pattern, the KMS key id, tier changes, type changes and the version limit.
//!
//! The allowed pattern must match the whole value, as Java's `String.matches` (which the service
//! uses) does: AWS's own example refuses `10,000` under `\d{1,4}`, which a search would accept.
//! Encryption of SecureString values is `fleetrun-secrets`; merging an overwrite with the stored
//! parameter (an omitted type, pattern or tier keeps the old one) is the store's.

use std::sync::LazyLock;

use regex::Regex;

use super::label::MAX_LABELS_PER_VERSION;
use super::{MAX_VERSIONS, ParameterError, ParameterType, Tier};

/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// The longest allowed pattern, in characters.
pub const MAX_ALLOWED_PATTERN_CHARS: usize = 1024;

/// The longest KMS key id, in characters.
pub const MAX_KEY_ID_CHARS: usize = 256;

/// The model's pattern for `KeyId`.
static KEY_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^([a-zA-Z0-9:/_-]+)$").expect("valid regex"));

/// A `{{ ... }}` expression anywhere in a value: an opening pair of braces with a closing pair
/// somewhere after it.
static NESTED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)\{\{.*\}\}").expect("valid regex"));

/// Checks a value for a parameter stored in `tier` (already [resolved](Tier::resolve)): at least one
/// character, at most the tier's size in bytes, and no `{{ ... }}` in it, because parameters can't
/// be nested in other parameters. The value is never echoed in the error.
pub fn validate_value(value: &str, tier: Tier) -> Result<(), ParameterError> {
    if value.is_empty() {
        return Err(ParameterError::constraint(
            "value",
            Some(""),
            "Member must have length greater than or equal to 1",
        ));
    }
    let max = tier.max_value_bytes();
    if value.len() > max {
        return Err(ParameterError::ValueTooLarge { tier: tier.as_str(), size: value.len(), max });
    }
    if NESTED.is_match(value) {
        return Err(ParameterError::NestedReference);
    }
    Ok(())
}

/// Checks a description: at most [`MAX_DESCRIPTION_CHARS`] characters.
pub fn validate_description(description: &str) -> Result<(), ParameterError> {
    check_max_chars("description", description, MAX_DESCRIPTION_CHARS)
}

/// Checks a `KeyId`: 1 to 256 characters of `a-zA-Z0-9:/_-`, and only on a SecureString.
///
/// Whether the key exists (AWS's `InvalidKeyId`) is for whoever holds the keys to say.
pub fn validate_key_id(key_id: &str, parameter_type: ParameterType) -> Result<(), ParameterError> {
    if key_id.is_empty() {
        return Err(ParameterError::constraint(
            "keyId",
            Some(key_id),
            "Member must have length greater than or equal to 1",
        ));
    }
    check_max_chars("keyId", key_id, MAX_KEY_ID_CHARS)?;
    if !KEY_ID.is_match(key_id) {
        return Err(ParameterError::constraint(
            "keyId",
            Some(key_id),
            "Member must satisfy regular expression pattern: ^([a-zA-Z0-9:/_-]+)$",
        ));
    }
    if parameter_type != ParameterType::SecureString {
        return Err(ParameterError::KeyIdNotAllowed { parameter_type: parameter_type.as_str() });
    }
    Ok(())
}

/// Compiles an allowed pattern so that it must match a whole value. `Ok(None)` for an empty
/// pattern, which (as in moto) means no pattern.
///
/// The pattern must also compile on its own: `a)|(b` would otherwise escape the anchoring group.
/// The `regex` crate stands in for Java's engine, so `\d` and `\w` are Unicode-aware where Java's
/// are ASCII-only, and look-around and back-references are refused as invalid patterns.
pub fn compile_allowed_pattern(pattern: &str) -> Result<Option<Regex>, ParameterError> {
    check_max_chars("allowedPattern", pattern, MAX_ALLOWED_PATTERN_CHARS)?;
    if pattern.is_empty() {
        return Ok(None);
    }
    let invalid = |error: regex::Error| ParameterError::InvalidAllowedPattern {
        pattern: pattern.to_owned(),
        reason: regex_reason(&error),
    };
    Regex::new(pattern).map_err(invalid)?;
    Regex::new(&format!("^(?:{pattern})$")).map(Some).map_err(invalid)
}

/// Checks `value` against an allowed pattern (compiling it with [`compile_allowed_pattern`]).
pub fn check_allowed_pattern(value: &str, pattern: &str) -> Result<(), ParameterError> {
    match compile_allowed_pattern(pattern)? {
        Some(regex) if !regex.is_match(value) => Err(ParameterError::PatternMismatch { pattern: pattern.to_owned() }),
        _ => Ok(()),
    }
}

/// The tier to store a write in: `requested` [resolved](Tier::resolve) for `value`, except that a
/// parameter already in Advanced stays there. Intelligent-Tiering keeps it in Advanced; asking
/// for Standard is an error, since AWS never moves a parameter back down.
///
/// `requested` is the request's tier, else (on an overwrite) the stored one, else the configured
/// default tier.
pub fn resolve_tier(requested: Tier, value: &str, existing: Option<Tier>) -> Result<Tier, ParameterError> {
    let resolved = requested.resolve(value);
    match (existing, requested) {
        (Some(Tier::Advanced), Tier::Standard) => Err(ParameterError::TierDowngrade),
        (Some(Tier::Advanced), _) => Ok(Tier::Advanced),
        _ => Ok(resolved),
    }
}

/// Refuses an overwrite that changes a parameter's type (`HierarchyTypeMismatchException`), as the
/// service model documents. An overwrite that gives no type keeps the stored one and needs no check.
pub fn check_type_change(name: &str, existing: ParameterType, requested: ParameterType) -> Result<(), ParameterError> {
    if existing == requested {
        return Ok(());
    }
    Err(ParameterError::TypeMismatch {
        name: name.to_owned(),
        existing: existing.as_str(),
        requested: requested.as_str(),
    })
}

/// Before a parameter that has `n_versions` versions gets a new one: `Ok(Some(v))` when the oldest
/// version `v` must be deleted first to stay within [`MAX_VERSIONS`], `Ok(None)` when there is room,
/// and `ParameterMaxVersionLimitExceeded` when the oldest version would have to go but has labels.
pub fn version_to_evict(
    name: &str,
    n_versions: usize,
    oldest_version: i64,
    oldest_n_labels: usize,
) -> Result<Option<i64>, ParameterError> {
    debug_assert!(oldest_n_labels <= MAX_LABELS_PER_VERSION, "a version has at most 10 labels");
    if n_versions < MAX_VERSIONS {
        return Ok(None);
    }
    if oldest_n_labels > 0 {
        return Err(ParameterError::MaxVersionLimitExceeded { name: name.to_owned(), oldest_version });
    }
    Ok(Some(oldest_version))
}

/// A model length limit, counted in characters; the text is echoed shortened.
fn check_max_chars(field: &str, text: &str, max: usize) -> Result<(), ParameterError> {
    if text.chars().count() > max {
        return Err(ParameterError::constraint(
            field,
            Some(text),
            format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// The gist of a regex error on one line: the `regex` crate's syntax errors span several lines
/// (the pattern, a caret, then "error: ..."), which reads badly in an API error message.
fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or_default();
    last.trim().trim_start_matches("error: ").to_owned()
}
