//! The error types of the automation module: [`RunbookError`] for a runbook refused at
//! CreateDocument, [`StepError`] for a rule that makes one step fail while an execution runs, and
//! [`FlowError`] for a driver that asks the state machine for something impossible.
//!
//! Messages are shown to users as they are (the server answers `InvalidDocumentContent` with a
//! [`RunbookError`]'s text), so every message names the step and the field. User-supplied text is
//! quoted with escapes and shortened, as in the document module. No validation logic lives here.

use thiserror::Error;

use crate::document::DocumentError;

use super::failure::FailurePoint;

/// Why a runbook's content was refused (SSM: `InvalidDocumentContent`).
#[derive(Debug, Error)]
pub enum RunbookError {
    /// The content is not a valid schema 0.3 document at all (syntax, top level, parameters).
    #[error(transparent)]
    Document(#[from] DocumentError),
    #[error("Document field \"{field}\" must be {expected}")]
    InvalidTopField { field: &'static str, expected: &'static str },
    #[error("Step name {} is invalid: it must be one or more letters, digits or '_'", shown(.step))]
    InvalidStepName { step: String },
    #[error(
        "Step \"{step}\" uses action {}, which fleetrun does not support \
         (supported: aws:executeScript, aws:runCommand, aws:branch, aws:sleep, aws:pause, aws:approve)",
        shown(.action)
    )]
    UnsupportedAction { step: String, action: String },
    #[error("Step \"{step}\" field \"{field}\" must be {expected}")]
    InvalidStepField { step: String, field: &'static str, expected: &'static str },
    #[error("Step \"{step}\" field \"{field}\" names step {}, which does not exist", shown(.target))]
    UnknownStep { step: String, field: String, target: String },
    #[error("Step \"{step}\" input \"{field}\" is required")]
    MissingInput { step: String, field: String },
    #[error("Step \"{step}\" input \"{field}\" is not supported by {action}")]
    UnknownInput { step: String, field: String, action: &'static str },
    #[error("Step \"{step}\" input \"{field}\" is invalid: {reason}")]
    InvalidInput { step: String, field: String, reason: String },
    #[error(
        "Step \"{step}\" input \"Runtime\" {} is not supported \
         (python3.6 or later, PowerShell Core 6.0, PowerShell 7.x, or a {{{{ parameter }}}} reference)",
        shown(.runtime)
    )]
    UnsupportedRuntime { step: String, runtime: String },
    #[error("Step \"{step}\" needs input \"Script\" or \"Attachment\"")]
    NoScript { step: String },
    #[error(
        "Step \"{step}\" input \"Attachment\" names {}, which the document's \"files\" section does not declare",
        shown(.attachment)
    )]
    UndeclaredAttachment { step: String, attachment: String },
    #[error("Document field \"files.{}\" is invalid: {reason}", shown_bare(.name))]
    InvalidFile { name: String, reason: &'static str },
    #[error("Step \"{step}\" output {} field \"{field}\" is invalid: {reason}", shown(.output))]
    InvalidOutput { step: String, output: String, field: &'static str, reason: String },
    #[error("Step \"{step}\" declares output \"{output}\" more than once")]
    DuplicateOutput { step: String, output: String },
    #[error("Document output {} is invalid: {reason}", shown(.entry))]
    InvalidRunbookOutput { entry: String, reason: String },
    #[error("Step \"{step}\" input \"{field}\" refers to {}: {reason}", shown(.reference))]
    InvalidReference { step: String, field: String, reference: String, reason: &'static str },
    #[error("Document field \"assumeRole\" is invalid: {reason}")]
    InvalidAssumeRole { reason: &'static str },
    #[error("Steps loop forever when every step succeeds: {}", .cycle.join(" -> "))]
    EndlessLoop { cycle: Vec<String> },
}

/// Why a step fails under the engine's own rules: its inputs could not be resolved, its result
/// could not be turned into its outputs, a branch could not be evaluated, and so on.
///
/// The driver turns one into a [`StepFailure`](super::StepFailure) with
/// [`StepFailure::from_error`](super::StepFailure::from_error); [`StepError::failure_point`] says
/// where SSM would report it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StepError {
    #[error("{reference} is not defined in the Automation Document or its execution")]
    UnknownReference { reference: String },
    #[error("Output \"{output}\" of step \"{step}\" is not available: the step has not run successfully")]
    OutputNotAvailable { step: String, output: String },
    #[error("Output \"{output}\" selector {selector} selected {found}, which is not a {expected}")]
    OutputTypeMismatch { output: String, selector: String, expected: &'static str, found: String },
    #[error("Input \"{field}\" is invalid: {reason}")]
    InvalidInput { field: String, reason: String },
    #[error("Choice {choice} operator {operator} needs {expected}, got {found}")]
    BranchOperand { choice: usize, operator: &'static str, expected: &'static str, found: String },
    #[error("The script's return value is not valid JSON: {reason}")]
    PayloadNotJson { reason: String },
    #[error("The script's return value is {size} bytes of JSON; the limit is {max} bytes")]
    PayloadTooLarge { size: usize, max: usize },
    #[error("The sleep would end {requested_seconds} seconds after it started; the limit is {max_seconds} seconds")]
    SleepTooLong { requested_seconds: i64, max_seconds: u64 },
}

impl StepError {
    /// Where SSM would report this failure, which decides the message's phrase and stage.
    pub fn failure_point(&self) -> FailurePoint {
        match self {
            Self::UnknownReference { .. }
            | Self::OutputNotAvailable { .. }
            | Self::InvalidInput { .. }
            | Self::SleepTooLong { .. } => FailurePoint::ResolvingInputs,
            Self::BranchOperand { .. } => FailurePoint::Executing,
            Self::PayloadNotJson { .. } | Self::PayloadTooLarge { .. } => FailurePoint::Polling,
            Self::OutputTypeMismatch { .. } => FailurePoint::CollectingOutputs,
        }
    }
}

/// A driver asked the state machine for a transition the persisted state does not allow, or the
/// state names steps the runbook does not have (for example after the runbook was replaced).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FlowError {
    #[error("The execution state names step \"{step}\", which the runbook does not have")]
    UnknownStep { step: String },
    #[error("No step is in progress")]
    NothingInProgress,
    #[error("Step \"{step}\" is still in progress; record its outcome first")]
    StepInProgress { step: String },
    #[error("Attempt {attempt} of step \"{step}\" does not follow the recorded attempts")]
    AttemptOutOfOrder { step: String, attempt: u32 },
    #[error("Step \"{step}\" is not an aws:branch step, so it cannot record a branch choice")]
    NotABranch { step: String },
    #[error("The execution has already ended")]
    Ended,
}

/// Longest user-supplied text echoed in an error message, in characters.
const SHOWN_CHARS: usize = 80;

/// Quotes `value` for an error message: escaped like a Rust string literal and cut to
/// [`SHOWN_CHARS`] characters, with an ellipsis when something was left out.
pub(super) fn shown(value: &str) -> String {
    if value.chars().count() <= SHOWN_CHARS {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(SHOWN_CHARS).collect();
        format!("{head:?}…")
    }
}

/// [`shown`] without the surrounding quotes, for text that sits inside a quoted path.
fn shown_bare(value: &str) -> String {
    let quoted = shown(value);
    let inner = quoted.strip_prefix('"').unwrap_or(&quoted);
    match inner.strip_suffix('"') {
        Some(inner) => inner.to_owned(),
        None => inner.replacen("\"…", "…", 1),
    }
}
