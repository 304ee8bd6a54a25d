//! The error types of the document module: one enum per stage (parsing a document, resolving the
//! parameters a caller supplied, rendering steps), each variant named after the rule that was broken.
//!
//! Messages are meant to be shown to the user as they are, so they name the offending field or
//! parameter. Values taken from user input are quoted with escapes (a newline shows as `\n`) and
//! shortened, so an error can neither smuggle line breaks into a log nor echo back a whole script.
//! This file holds no validation logic itself.

use thiserror::Error;

/// Why a document's content (or a document name) was refused.
#[derive(Debug, Error)]
pub enum DocumentError {
    #[error("Document content is {size} bytes; the limit is {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("Document content is not valid JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    #[error("Document content is not valid YAML: {0}")]
    InvalidYaml(#[source] yaml_serde::Error),
    #[error(
        "Document content expands to more than {limit} values and characters; \
         YAML anchors and aliases may not be used to inflate a document"
    )]
    TooComplex { limit: usize },
    #[error("Key {} appears more than once in the same mapping", shown(.key))]
    DuplicateKey { key: String },
    #[error("Mapping key must be a string, number or boolean, not {found}")]
    InvalidKey { found: &'static str },
    #[error("Document content must be a mapping (an object) at the top level")]
    NotAMapping,
    #[error("Document field \"{field}\" is required")]
    MissingField { field: String },
    #[error("Document field \"{field}\" must be {expected}")]
    WrongFieldType { field: String, expected: &'static str },
    #[error(
        "Schema version {} is not supported for {kind} documents (supported: {supported})",
        shown(.version)
    )]
    InvalidSchemaVersion { version: String, kind: &'static str, supported: &'static str },
    #[error("Document field \"{field}\" must contain at least one step")]
    NoSteps { field: String },
    #[error(
        "Step name {} is invalid: it must be 1 to 128 letters, digits, '_', '-' or '.'",
        shown(.name)
    )]
    InvalidStepName { name: String },
    #[error("Step name {} is used more than once", shown(.name))]
    DuplicateStepName { name: String },
    #[error(
        "Step {} has invalid action {}: an action is \"aws:\" followed by 3 to 25 letters",
        shown(.step),
        shown(.action)
    )]
    InvalidAction { step: String, action: String },
    #[error(
        "Step {} has a precondition, which schema version {schema_version} does not support (use 2.2)",
        shown(.step)
    )]
    PreconditionNotSupported { step: String, schema_version: String },
    #[error(
        "Step {} has an invalid precondition: {reason}",
        shown(.step)
    )]
    InvalidPrecondition { step: String, reason: &'static str },
    #[error(
        "Parameter name {} is invalid: it must be one or more ASCII letters or digits",
        shown(.name)
    )]
    InvalidParameterName { name: String },
    #[error(
        "Parameter \"{name}\" has type {}; the supported types are String, StringList, \
         Integer, Boolean, StringMap and MapList",
        shown(.type_name)
    )]
    UnknownParameterType { name: String, type_name: String },
    #[error("Parameter \"{name}\" has a default that is not {expected}")]
    DefaultTypeMismatch { name: String, expected: &'static str },
    #[error("Parameter \"{name}\" has a default that breaks its own constraints: {source}")]
    DefaultViolatesConstraint {
        name: String,
        #[source]
        source: ParameterError,
    },
    #[error(
        "Parameter \"{name}\" allowedPattern \"{pattern}\" is not a valid regular expression: {}",
        regex_reason(.source)
    )]
    InvalidAllowedPattern {
        name: String,
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
    #[error("Parameter \"{name}\" field \"{field}\" must be a non-negative integer")]
    InvalidLimit { name: String, field: &'static str },
    #[error("Parameter \"{name}\" has {min_field} {min} greater than {max_field} {max}")]
    LimitsReversed { name: String, min_field: &'static str, min: u64, max_field: &'static str, max: u64 },
    #[error("Parameter \"{name}\" displayType {} is not one of textfield, textarea", shown(.display_type))]
    InvalidDisplayType { name: String, display_type: String },
    #[error(
        "Document name {} is invalid: it must be 3 to 128 letters, digits, '_', '-' or '.'",
        shown(.name)
    )]
    InvalidDocumentName { name: String },
    #[error(
        "Document name {} starts with the reserved prefix \"{prefix}\"",
        shown(.name)
    )]
    ReservedDocumentName { name: String, prefix: &'static str },
    #[error("Document could not be written as {format}: {reason}")]
    ConversionFailed { format: &'static str, reason: String },
}

/// Why the parameters supplied for a command were refused.
///
/// `name` is the parameter's name; for declared parameters it is known to be plain ASCII
/// alphanumerics, for undeclared ones it is user input and therefore quoted with escapes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParameterError {
    #[error("Parameter {} is not declared by the document", shown(.name))]
    NotDeclared { name: String },
    #[error("Parameter \"{name}\" is required")]
    Required { name: String },
    #[error("Parameter \"{name}\" takes exactly one value, got {count}")]
    NotSingleValue { name: String, count: usize },
    #[error("Parameter \"{name}\" needs at least {min} items, got {count}")]
    TooFewItems { name: String, min: u64, count: usize },
    #[error("Parameter \"{name}\" allows at most {max} items, got {count}")]
    TooManyItems { name: String, max: u64, count: usize },
    #[error("Parameter \"{name}\" value {} is not an integer", shown(.value))]
    NotAnInteger { name: String, value: String },
    #[error("Parameter \"{name}\" value {} is not a boolean (true or false)", shown(.value))]
    NotABoolean { name: String, value: String },
    #[error("Parameter \"{name}\" value {} is not a JSON object", shown(.value))]
    NotAStringMap { name: String, value: String },
    #[error("Parameter \"{name}\" value {} is not a JSON array of objects", shown(.value))]
    NotAMapList { name: String, value: String },
    #[error(
        "Parameter \"{name}\" value {} is not one of the allowed values: {}",
        shown(.value),
        .allowed.join(", ")
    )]
    NotAllowedValue { name: String, value: String, allowed: Vec<String> },
    #[error(
        "Parameter \"{name}\" value {} does not match the allowed pattern \"{pattern}\"",
        shown(.value)
    )]
    PatternMismatch { name: String, value: String, pattern: String },
    #[error("Parameter \"{name}\" value {} is shorter than {min} characters", shown(.value))]
    TooShort { name: String, value: String, min: u64 },
    #[error("Parameter \"{name}\" value {} is longer than {max} characters", shown(.value))]
    TooLong { name: String, value: String, max: u64 },
    #[error("Parameter \"{name}\" allowedPattern \"{pattern}\" is not a valid regular expression")]
    InvalidPattern { name: String, pattern: String },
    #[error("Parameter \"{name}\" has a default that is not {expected}")]
    InvalidDefault { name: String, expected: &'static str },
}

/// Why a document's steps could not be rendered, or a rendered step's inputs are unusable.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RenderError {
    #[error(
        "Step {} refers to parameter \"{name}\", which has no resolved value",
        shown(.step)
    )]
    UnresolvedParameter { step: String, name: String },
    #[error("Script inputs must be an object")]
    InputsNotAnObject,
    #[error("Script input \"runCommand\" is required")]
    MissingRunCommand,
    #[error("Script input \"runCommand\" must be a string or a list of strings")]
    InvalidRunCommand,
    #[error("Script input \"workingDirectory\" must be a string")]
    InvalidWorkingDirectory,
}

/// The gist of a regex error on one line: the `regex` crate's syntax errors span several lines
/// (the pattern, a caret, then "error: ..."), which reads badly in an API error message.
fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or_default();
    last.trim().trim_start_matches("error: ").to_owned()
}

/// Longest user-supplied text echoed in an error message, in characters.
const SHOWN_CHARS: usize = 80;

/// Quotes `value` for an error message: escaped like a Rust string literal and cut to
/// [`SHOWN_CHARS`] characters, with an ellipsis when something was left out.
fn shown(value: &str) -> String {
    if value.chars().count() <= SHOWN_CHARS {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(SHOWN_CHARS).collect();
        format!("{head:?}…")
    }
}
