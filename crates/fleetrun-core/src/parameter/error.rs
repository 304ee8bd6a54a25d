//! The Parameter Store error type: one variant per broken rule, each mapped to the SSM error code
//! the real service answers with ([`ParameterError::code`]).
//!
//! Messages copy AWS's wording where it is known (from moto's mirror of the service and from
//! public reports of real responses), so that scripts matching on them keep working; the rest are
//! fleetrun's own. User text echoed in a message is escaped and shortened, so an error can neither
//! smuggle line breaks into a log nor echo back a whole value. A parameter's value is never echoed:
//! it may be a secret. This file holds no validation logic itself.

use thiserror::Error;

use super::MAX_NAME_CHARS;

/// Why a parameter request was refused.
///
/// Invariant: no variant holds a parameter's value (a value may be a secret); patterns, names,
/// labels and filter values are not secret.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParameterError {
    /// A member broke a limit of SSM's API model: a length, a count, a pattern or an enum. `value`
    /// is `None` where the member is sensitive and must not be echoed.
    #[error("1 validation error detected: {} at '{field}' failed to satisfy constraint: {constraint}", value_clause(.value))]
    Constraint { field: String, value: Option<String>, constraint: String },

    /// The name breaks the character or hierarchy rules. AWS answers every such case with this
    /// one message (which mentions the "ssm" prefix whatever the actual problem); `problem` says
    /// what it really was, for logs and tests.
    #[error(
        "Parameter name: can't be prefixed with \"ssm\" (case-insensitive). If formed as a path, it can consist of \
         sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the \
         following 3 symbols .-_"
    )]
    InvalidName { name: String, problem: NameProblem },

    /// A one-level name starts with "aws" or "ssm" in any case.
    #[error("Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).")]
    ReservedPrefix { name: String },

    /// A hierarchical name under `/aws`, the namespace of AWS's public parameters.
    #[error("No access to reserved parameter name: {}.", plain(.name))]
    ReservedPath { name: String },

    #[error("Parameter name is {length} characters long; the limit is {MAX_NAME_CHARS}")]
    NameTooLong { length: usize },

    #[error("A hierarchy can have a maximum of 15 levels; {} has {levels}", plain(.name))]
    HierarchyLevelLimitExceeded { name: String, levels: usize },

    /// A GetParametersByPath path or a `Path` filter value that is not a well-formed path.
    #[error(
        "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward \
         slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, \
         numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not \
         allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: \
         /get/parameters2-/by1./path0_."
    )]
    InvalidPath { path: String },

    /// A name given as an ARN that is not a Parameter Store ARN.
    #[error("{} is not a valid parameter ARN: expected arn:<partition>:ssm:<region>:<account>:parameter/<name>", plain(.arn))]
    InvalidArn { arn: String },

    #[error("A parameter type is required when you create a parameter.")]
    MissingType,

    #[error("Parameter Store doesn't support changing a parameter's type: {} is {existing}, not {requested}", plain(.name))]
    TypeMismatch { name: String, existing: &'static str, requested: &'static str },

    #[error("The following data type is not supported: {} (Data type names are all lowercase.)", plain(.data_type))]
    UnsupportedDataType { data_type: String },

    #[error(
        "{tier} tier parameters support a maximum parameter value of {max} bytes; this value has {size}.{}",
        larger_value_hint(.tier)
    )]
    ValueTooLarge { tier: &'static str, size: usize, max: usize },

    /// The value contains a `{{ ... }}` expression: parameters can't be nested in other parameters.
    #[error("Parameter value can't nest another parameter. Do not use \"{{{{}}}}\" in the value.")]
    NestedReference,

    #[error("The allowed pattern {} is not a valid regular expression: {reason}", shown(.pattern))]
    InvalidAllowedPattern { pattern: String, reason: String },

    #[error("Parameter value, cannot be validated against allowedPattern: {pattern}")]
    PatternMismatch { pattern: String },

    #[error("KeyId can only be used with SecureString parameters, not {parameter_type}")]
    KeyIdNotAllowed { parameter_type: &'static str },

    #[error(
        "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the \
         advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced \
         parameter and recreate it as a standard parameter."
    )]
    TierDowngrade,

    #[error("The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")]
    AlreadyExists { name: String },

    #[error("Parameter {} not found.", plain(.name))]
    NotFound { name: String },

    #[error("Systems Manager could not find version {} of {}. Verify the version and try again.", plain(.version), plain(.name))]
    VersionNotFound { name: String, version: String },

    #[error(
        "A parameter version can have maximum {max} labels. Move one or more labels to another version and try again."
    )]
    LabelLimitExceeded { max: usize },

    #[error(
        "You attempted to create a new version of {} by calling the PutParameter API with the overwrite flag. \
         Version {oldest_version}, the oldest version, can't be deleted because it has a label associated with it. \
         Move the label to another version of the parameter, and try again.",
        plain(.name)
    )]
    MaxVersionLimitExceeded { name: String, oldest_version: i64 },

    #[error("You can use either Filters or ParameterFilters in a single request.")]
    MixedFilters,

    #[error("The following filter key is not valid: {}. Valid filter keys include: [{valid}].", shown_bare(.key))]
    InvalidFilterKey { key: String, valid: &'static str },

    #[error(
        "The following filter is duplicated in the request: {}. A request can contain only one occurrence of a \
         specific filter.",
        shown_bare(.key)
    )]
    DuplicateFilter { key: String },

    #[error("The following filter option is not valid: {}. Valid options include: [{valid}].", shown_bare(.option))]
    InvalidFilterOption { option: String, valid: &'static str },

    #[error("The following filter value is not valid: {}. Valid values include: [{valid}].", shown_bare(.value))]
    InvalidFilterValue { value: String, valid: &'static str },

    #[error("The following filter values are missing : null for filter key {}.", shown_bare(.key))]
    MissingFilterValues { key: String },

    #[error(
        "Filters for common parameters can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). When using \
         global parameters, please specify within a global namespace."
    )]
    ReservedPathFilter { path: String },
}

impl ParameterError {
    /// The SSM error code (the JSON `__type`) AWS answers this error with.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Constraint { .. }
            | Self::InvalidName { .. }
            | Self::ReservedPrefix { .. }
            | Self::NameTooLong { .. }
            | Self::InvalidPath { .. }
            | Self::InvalidArn { .. }
            | Self::MissingType
            | Self::UnsupportedDataType { .. }
            | Self::ValueTooLarge { .. }
            | Self::NestedReference
            | Self::KeyIdNotAllowed { .. }
            | Self::TierDowngrade
            | Self::MixedFilters
            | Self::ReservedPathFilter { .. } => "ValidationException",
            Self::ReservedPath { .. } => "AccessDeniedException",
            Self::HierarchyLevelLimitExceeded { .. } => "HierarchyLevelLimitExceededException",
            Self::TypeMismatch { .. } => "HierarchyTypeMismatchException",
            Self::InvalidAllowedPattern { .. } => "InvalidAllowedPatternException",
            Self::PatternMismatch { .. } => "ParameterPatternMismatchException",
            Self::AlreadyExists { .. } => "ParameterAlreadyExists",
            Self::NotFound { .. } => "ParameterNotFound",
            Self::VersionNotFound { .. } => "ParameterVersionNotFound",
            Self::LabelLimitExceeded { .. } => "ParameterVersionLabelLimitExceeded",
            Self::MaxVersionLimitExceeded { .. } => "ParameterMaxVersionLimitExceeded",
            Self::InvalidFilterKey { .. } | Self::DuplicateFilter { .. } => "InvalidFilterKey",
            Self::InvalidFilterOption { .. } => "InvalidFilterOption",
            Self::InvalidFilterValue { .. } | Self::MissingFilterValues { .. } => "InvalidFilterValue",
        }
    }

    /// A [`ParameterError::Constraint`] on `field`, echoing `value` unless it is `None`.
    pub(super) fn constraint(field: impl Into<String>, value: Option<&str>, constraint: impl Into<String>) -> Self {
        Self::Constraint { field: field.into(), value: value.map(str::to_owned), constraint: constraint.into() }
    }
}

/// What exactly is wrong with a name that [`ParameterError::InvalidName`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// A character other than `a-zA-Z0-9_.-/`, spaces included.
    Characters,
    /// A name with a `/` that does not start with one (`a/b` instead of `/a/b`).
    NotFullyQualified,
    /// An empty level: `//` inside the name, or the name `/` alone.
    EmptyLevel,
    /// A name ending in `/`.
    TrailingSlash,
    /// A hierarchical name under `/ssm`.
    ReservedPrefix,
}

/// How to store a value too large for `tier`, if there is a way.
fn larger_value_hint(tier: &str) -> &'static str {
    if tier == "Standard" { " To store a larger value, use the advanced-parameter tier." } else { "" }
}

/// `Value 'text'`, or just `Value` for a member that must not be echoed.
fn value_clause(value: &Option<String>) -> String {
    match value {
        Some(text) => format!("Value '{}'", escaped(text, SHOWN_CHARS)),
        None => "Value".to_owned(),
    }
}

/// Longest user-supplied text echoed in an error message, in characters, apart from names.
const SHOWN_CHARS: usize = 80;

/// A name as AWS writes it, unquoted. Valid names need no escaping, so they read exactly as AWS's
/// messages do; anything else a caller sent is escaped and cut at the longest name the model allows.
fn plain(name: &str) -> String {
    escaped(name, 2048)
}

/// Quoted, escaped and shortened: for text that may be long, such as a pattern.
fn shown(text: &str) -> String {
    format!("\"{}\"", escaped(text, SHOWN_CHARS))
}

/// Escaped and shortened but unquoted, as AWS writes filter keys, options and values.
fn shown_bare(text: &str) -> String {
    escaped(text, SHOWN_CHARS)
}

/// `text` with control characters, quotes and backslashes escaped as in a Rust string literal,
/// cut to `max_chars` characters with an ellipsis when something was left out.
fn escaped(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).flat_map(char::escape_debug).collect();
    if text.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}
