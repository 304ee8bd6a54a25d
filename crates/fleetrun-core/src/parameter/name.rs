//! Parameter names and paths: what PutParameter accepts as a name, what a read accepts, what
//! GetParametersByPath accepts as a path, and which key a name is stored under.
//!
//! Names are case-sensitive, use only `a-zA-Z0-9_.-` plus `/` between hierarchy levels, start with
//! `/` when they have levels, and are at most 1,011 characters and 15 levels deep. `/name` and `name`
//! are the same parameter ([`storage_key`]). Matching names against paths is `filter.rs`.

use super::ParameterError;
use super::error::NameProblem;

/// The longest name a caller may give, in characters. (The model allows 2,048, but AWS keeps
/// 1,037 of those for itself and documents 1,011 as the real limit.)
pub const MAX_NAME_CHARS: usize = 1011;

/// The model's limit for a name, path or name with selector; longer input is a constraint error.
pub const MAX_NAME_MODEL_CHARS: usize = 2048;

/// The deepest hierarchy a name may have: `/l1/l2/.../l14/name` is 15 levels.
pub const MAX_HIERARCHY_LEVELS: usize = 15;

/// The name with leading and trailing spaces removed, as AWS does before checking a name (spaces
/// inside a name are an error).
pub fn trim_name(name: &str) -> &str {
    name.trim_matches(' ')
}

/// Checks a name for PutParameter: the rules of [`validate_reference_name`], plus the limit of
/// [`MAX_NAME_CHARS`] and the reserved prefixes: no name may start with "aws" or "ssm" in any case,
/// with or without a leading `/`. Call [`trim_name`] first.
///
/// The prefix is checked before the characters, as AWS does, so `ssm name` is refused for its prefix.
pub fn validate_name(name: &str) -> Result<(), ParameterError> {
    check_model_length("name", name)?;
    let length = name.chars().count();
    if length > MAX_NAME_CHARS {
        return Err(ParameterError::NameTooLong { length });
    }
    check_reserved(name)?;
    check_structure(name)
}

/// Checks a name used to read, label or delete a parameter: 1 to 2,048 characters, the allowed
/// characters, fully qualified, no empty level or trailing `/`, at most 15 levels. Reserved
/// prefixes are allowed here, because AWS's public parameters live under `/aws`.
pub fn validate_reference_name(name: &str) -> Result<(), ParameterError> {
    check_model_length("name", name)?;
    check_structure(name)
}

/// Checks a GetParametersByPath path: it starts with `/`, uses only the allowed characters and has
/// no empty level; a trailing `/` is allowed (`/a/` is the path `/a`), and so is `/` alone. Reserved
/// prefixes are allowed, as in [`validate_reference_name`].
pub fn validate_path(path: &str) -> Result<(), ParameterError> {
    check_model_length("path", path)?;
    if !path.starts_with('/') || !path.chars().all(allowed_char) || path.contains("//") {
        return Err(ParameterError::InvalidPath { path: path.to_owned() });
    }
    Ok(())
}

/// The number of levels in a name: `name` and `/name` have one, `/a/b/name` three.
pub fn hierarchy_levels(name: &str) -> usize {
    name.split('/').filter(|level| !level.is_empty()).count()
}

/// The key a parameter is stored under. `/name` and `name` are the same parameter in AWS, so a
/// one-level name loses its leading `/`; hierarchical names are kept as they are.
pub fn storage_key(name: &str) -> &str {
    match name.strip_prefix('/') {
        Some(rest) if !rest.contains('/') => rest,
        _ => name,
    }
}

/// Whether `c` may appear in a name or path.
pub(super) fn allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')
}

/// The model's length limits for a name-like member: 1 to 2,048 characters.
fn check_model_length(field: &str, text: &str) -> Result<(), ParameterError> {
    if text.is_empty() {
        return Err(ParameterError::constraint(
            field,
            Some(text),
            "Member must have length greater than or equal to 1",
        ));
    }
    if text.chars().count() > MAX_NAME_MODEL_CHARS {
        return Err(ParameterError::constraint(
            field,
            Some(text),
            format!("Member must have length less than or equal to {MAX_NAME_MODEL_CHARS}"),
        ));
    }
    Ok(())
}

/// The reserved prefixes. AWS answers differently by shape: a one-level name gets the plain
/// prefix message, a path under `/aws` is an access error (that namespace exists and belongs to
/// AWS), and a path under `/ssm` gets the generic invalid-name message.
fn check_reserved(name: &str) -> Result<(), ParameterError> {
    let lower = name.to_ascii_lowercase();
    let unrooted = lower.trim_start_matches('/');
    if !unrooted.starts_with("aws") && !unrooted.starts_with("ssm") {
        return Ok(());
    }
    let is_path = name.matches('/').count() > 1;
    if !is_path {
        Err(ParameterError::ReservedPrefix { name: name.to_owned() })
    } else if lower.starts_with("/aws") {
        Err(ParameterError::ReservedPath { name: name.to_owned() })
    } else {
        Err(ParameterError::InvalidName { name: name.to_owned(), problem: NameProblem::ReservedPrefix })
    }
}

/// Characters, full qualification, empty levels, trailing slash and depth.
fn check_structure(name: &str) -> Result<(), ParameterError> {
    let invalid = |problem| Err(ParameterError::InvalidName { name: name.to_owned(), problem });
    if !name.chars().all(allowed_char) {
        return invalid(NameProblem::Characters);
    }
    if name.contains('/') && !name.starts_with('/') {
        return invalid(NameProblem::NotFullyQualified);
    }
    if name == "/" || name.contains("//") {
        return invalid(NameProblem::EmptyLevel);
    }
    if name.ends_with('/') {
        return invalid(NameProblem::TrailingSlash);
    }
    let levels = hierarchy_levels(name);
    if levels > MAX_HIERARCHY_LEVELS {
        return Err(ParameterError::HierarchyLevelLimitExceeded { name: name.to_owned(), levels });
    }
    Ok(())
}
