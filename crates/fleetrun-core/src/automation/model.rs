//! The validated shape of a runbook: [`Runbook`], its [`Step`]s and what each step declares
//! (action, failure and cancel handling, outputs), plus the `files` and `outputs` sections.
//!
//! These types are built only by [`validate_runbook`](super::validate_runbook), so code that
//! holds one may rely on what validation checked: step names are unique, every step named by
//! `nextStep`, `onFailure`, `onCancel` or a branch exists, and every output parses. Nothing here
//! runs a step or reads a clock.

use serde_json::Value;

use crate::document::{Document, ParamType};

use super::branch::BranchDecl;
use super::script::ScriptDecl;
use super::selector::Selector;

/// A schema 0.3 document that passed [`validate_runbook`](super::validate_runbook).
#[derive(Debug, Clone)]
pub struct Runbook {
    /// The parsed document: description and parameter declarations (reused for
    /// StartAutomationExecution) and the raw steps.
    pub document: Document,
    /// `assumeRole` as written: a constant ARN or one `{{ Parameter }}` reference.
    pub assume_role: Option<String>,
    /// `mainSteps` in document order. Never empty.
    pub steps: Vec<Step>,
    /// The document's `outputs` section, in order.
    pub outputs: Vec<RunbookOutput>,
    /// The document's `files` section, in order.
    pub files: Vec<FileDecl>,
}

impl Runbook {
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.name == name)
    }

    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.steps.iter().position(|step| step.name == name)
    }

    pub fn file(&self, name: &str) -> Option<&FileDecl> {
        self.files.iter().find(|file| file.name == name)
    }

    /// The lower-case hex SHA-256 the `files` section declares for attachment `name`: what the
    /// server must compare an uploaded attachment's hash with before running a step that uses it.
    pub fn attachment_sha256(&self, name: &str) -> Option<&str> {
        self.file(name).map(|file| file.sha256.as_str())
    }
}

/// One `mainSteps` entry.
#[derive(Debug, Clone)]
pub struct Step {
    /// Matches `^[a-zA-Z0-9_]+$`, at most 128 characters; unique within the runbook.
    pub name: String,
    pub action: Action,
    /// Raw and unresolved; see [`resolve_step_inputs`](super::resolve_step_inputs).
    pub inputs: Value,
    /// Empty when the step has none.
    pub description: String,
    /// At least 1 (SSM's default).
    pub max_attempts: u32,
    /// At least 1 when present. See [`Step::effective_timeout_seconds`] for the limit that applies.
    pub timeout_seconds: Option<u64>,
    pub on_failure: OnFailure,
    pub on_cancel: OnCancel,
    pub is_end: bool,
    /// Names an existing step.
    pub next_step: Option<String>,
    /// As written, or SSM's default: `false` when `onFailure` is `Continue`, otherwise `true`.
    pub is_critical: bool,
    /// Declared outputs; names are unique within the step.
    pub outputs: Vec<OutputDecl>,
}

impl Step {
    /// The timeout the driver should enforce for one attempt, in seconds.
    ///
    /// `aws:executeScript` runs at most 600 seconds and `timeoutSeconds` can only shorten that
    /// (the English user guide; a translated page says "limit or extend", which fleetrun does not
    /// follow). `aws:approve` waits 7 days unless `timeoutSeconds` says otherwise. Other actions
    /// have no limit of their own. An `aws:sleep` step's own delay is not a timeout.
    pub fn effective_timeout_seconds(&self) -> Option<u64> {
        match self.action {
            Action::ExecuteScript(_) => {
                Some(self.timeout_seconds.map_or(super::script::MAX_SCRIPT_SECONDS, |seconds| {
                    seconds.min(super::script::MAX_SCRIPT_SECONDS)
                }))
            }
            Action::Approve => Some(self.timeout_seconds.unwrap_or(APPROVE_DEFAULT_TIMEOUT_SECONDS)),
            _ => self.timeout_seconds,
        }
    }

    /// The declared output `name`.
    pub fn output(&self, name: &str) -> Option<&OutputDecl> {
        self.outputs.iter().find(|output| output.name == name)
    }

    /// Whether `{{ step.name }}` can ever have a value: a declared output or one the action
    /// always produces (see [`Action::builtin_outputs`]).
    pub fn has_output(&self, name: &str) -> bool {
        self.output(name).is_some() || self.action.builtin_outputs().iter().any(|builtin| builtin.name == name)
    }

    /// The steps this one can go to next, as SSM's `StepExecution.ValidNextSteps` lists them:
    /// the branch targets for `aws:branch`, else `nextStep`; the `onFailure` step; and the
    /// following step in `mainSteps` unless the step ends the execution or always jumps.
    pub fn valid_next_steps<'a>(&'a self, runbook: &'a Runbook) -> Vec<&'a str> {
        let mut next: Vec<&str> = Vec::new();
        match &self.action {
            // A branch goes where its choices say; its `nextStep`, if any, is not followed.
            Action::Branch(branch) => {
                next.extend(branch.choices.iter().map(|choice| choice.next_step.as_str()));
                next.extend(branch.default.as_deref());
            }
            _ => next.extend(self.next_step.as_deref()),
        }
        if let OnFailure::Step(target) = &self.on_failure {
            next.push(target);
        }
        let falls_through = match &self.action {
            Action::Branch(branch) => branch.default.is_none() && !self.is_end,
            _ => self.next_step.is_none() && !self.is_end,
        };
        if falls_through
            && let Some(index) = runbook.step_index(&self.name)
            && let Some(following) = runbook.steps.get(index + 1)
        {
            next.push(&following.name);
        }
        let mut seen = std::collections::HashSet::new();
        next.retain(|name| seen.insert(*name));
        next
    }
}

/// How long an `aws:approve` step waits for decisions unless `timeoutSeconds` says otherwise.
pub const APPROVE_DEFAULT_TIMEOUT_SECONDS: u64 = 604_800;

/// The action a step runs, with what validation learned about its inputs.
#[derive(Debug, Clone)]
pub enum Action {
    ExecuteScript(ScriptDecl),
    RunCommand,
    Branch(BranchDecl),
    Sleep,
    Pause,
    Approve,
}

impl Action {
    /// SSM's name, e.g. `"aws:executeScript"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ExecuteScript(_) => "aws:executeScript",
            Self::RunCommand => "aws:runCommand",
            Self::Branch(_) => "aws:branch",
            Self::Sleep => "aws:sleep",
            Self::Pause => "aws:pause",
            Self::Approve => "aws:approve",
        }
    }

    /// The outputs the action produces without declaring them (SSM: "the outputs are
    /// predetermined by the action"). `OutputPayload` is the whole step result as JSON text.
    pub fn builtin_outputs(&self) -> &'static [BuiltinOutput] {
        const RUN_COMMAND: &[BuiltinOutput] = &[
            BuiltinOutput { name: "CommandId", selector: Some("$.CommandId"), kind: ParamType::String },
            BuiltinOutput { name: "Status", selector: Some("$.Status"), kind: ParamType::String },
            BuiltinOutput { name: "ResponseCode", selector: Some("$.ResponseCode"), kind: ParamType::Integer },
            BuiltinOutput { name: "Output", selector: Some("$.Output"), kind: ParamType::String },
            BuiltinOutput { name: "OutputPayload", selector: None, kind: ParamType::String },
        ];
        const EXECUTE_SCRIPT: &[BuiltinOutput] =
            &[BuiltinOutput { name: "OutputPayload", selector: None, kind: ParamType::String }];
        const APPROVE: &[BuiltinOutput] = &[
            BuiltinOutput { name: "ApprovalStatus", selector: Some("$.ApprovalStatus"), kind: ParamType::String },
            BuiltinOutput {
                name: "ApproverDecisions",
                selector: Some("$.ApproverDecisions"),
                kind: ParamType::MapList,
            },
        ];
        match self {
            Self::RunCommand => RUN_COMMAND,
            Self::ExecuteScript(_) => EXECUTE_SCRIPT,
            Self::Approve => APPROVE,
            Self::Branch(_) | Self::Sleep | Self::Pause => &[],
        }
    }

    /// Whether the action produces a result that declared outputs can select from.
    pub(super) fn has_result(&self) -> bool {
        matches!(self, Self::ExecuteScript(_) | Self::RunCommand | Self::Approve)
    }
}

/// An output an action always has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinOutput {
    pub name: &'static str,
    /// `None` for `OutputPayload`, which is the whole result as JSON text.
    pub selector: Option<&'static str>,
    pub kind: ParamType,
}

/// A step's `onFailure`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Stop the execution (the default).
    #[default]
    Abort,
    /// Go on as if the step had finished; see [`next_action`](super::next_action).
    Continue,
    /// `step:<name>`: go to that step.
    Step(String),
}

impl OnFailure {
    /// SSM's spelling, as `StepExecution.OnFailure` shows it.
    pub fn to_wire(&self) -> String {
        match self {
            Self::Abort => "Abort".to_owned(),
            Self::Continue => "Continue".to_owned(),
            Self::Step(step) => format!("step:{step}"),
        }
    }
}

/// A step's `onCancel`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OnCancel {
    /// End the execution as Cancelled (the default).
    #[default]
    Abort,
    /// `step:<name>`: run that step (and what follows it) before ending as Cancelled.
    Step(String),
}

/// One entry of a step's `outputs`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputDecl {
    /// Matches `^[a-zA-Z0-9_]+$`.
    pub name: String,
    pub selector: Selector,
    /// SSM's output `Type`; the six types are the same as the parameter types.
    pub kind: ParamType,
}

/// One entry of the document's `outputs` section: `"step.Output"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookOutput {
    pub step: String,
    pub output: String,
}

impl RunbookOutput {
    /// `"step.Output"`, the key of `AutomationExecution.Outputs`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.step, self.output)
    }
}

/// One entry of the document's `files` section: an attachment steps may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDecl {
    /// The attachment's name, as steps' `Attachment` inputs name it.
    pub name: String,
    /// `checksums.sha256`, lower-case hex (64 characters).
    pub sha256: String,
    /// `size` in bytes, when declared.
    pub size: Option<u64>,
}
