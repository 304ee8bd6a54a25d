//! SSM Automation runbooks (schema 0.3): the engine's rules, without the engine.
//!
//! This module validates runbooks at CreateDocument ([`validate_runbook`]), checks the parameters
//! of StartAutomationExecution ([`resolve_runbook_parameters`]), resolves references in step
//! inputs ([`resolve_step_inputs`]), evaluates branches ([`evaluate_branch`]) and step outputs
//! ([`evaluate_outputs`]), and decides what runs next ([`next_action`]). It does no IO: it runs no
//! process, reads no store and no clock. The server's driver does those and calls in here between
//! them, persisting an [`ExecutionState`] after every change so that it can resume after a restart.
//!
//! Supported actions: `aws:executeScript`, `aws:runCommand`, `aws:branch`, `aws:sleep`,
//! `aws:pause` and `aws:approve`. The rules follow SSM's (`SSM-REFERENCE.md` §2.5, §3.5, §4);
//! where fleetrun had to choose, the item's documentation says so.
//!
//! One step, as the driver runs it:
//! 1. [`next_action`] says [`Decision::Run`]; [`ExecutionState::begin`] records it.
//! 2. [`resolve_step_inputs`] with a [`Context`] (for a branch: [`evaluate_branch`]).
//! 3. The action runs (elsewhere). For a script, [`script_payload`] and [`script_result`] shape
//!    what it returned.
//! 4. [`evaluate_outputs`] over the result; [`ExecutionState::finish`] records the outcome. A
//!    [`StepError`] from any of these becomes [`StepOutcome::Failed`] via [`StepFailure::from_error`].

mod actions;
mod branch;
mod error;
mod failure;
mod flow;
mod model;
mod refs;
mod script;
mod selector;
mod sleep;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::document::{ParameterError, ResolvedParameters, resolve_parameters};

pub use actions::{MAX_APPROVAL_MESSAGE_CHARS, MAX_APPROVERS};
pub use branch::{BranchDecl, BranchOutcome, Choice, Condition, Operator, compare, evaluate_branch};
pub use error::{FlowError, RunbookError, StepError};
pub use failure::{FailureDetails, FailurePoint, FailureStage, FailureType, StepFailure, failure_message};
pub use flow::{
    Because, CANCEL_WORKFLOW_SECONDS, Decision, Ending, ExecutionState, ExecutionStatus, MAX_STEP_RUNS,
    ProgressCounters, RunStep, StepOutcome, StepRun, StepStatus, execution_status, next_action, progress_counters,
};
pub use model::{
    APPROVE_DEFAULT_TIMEOUT_SECONDS, Action, BuiltinOutput, FileDecl, OnCancel, OnFailure, OutputDecl, Runbook,
    RunbookOutput, Step,
};
pub use refs::{AUTOMATION_VARIABLES, Context, GLOBAL_VARIABLES, inputs_to_wire, resolve_step_inputs, resolve_value};
pub use script::{
    ExecuteScriptInputs, MAX_SCRIPT_SECONDS, PAYLOAD_MAX_BYTES, PAYLOAD_MAX_ITEMS, Runtime, RuntimeDecl, ScriptDecl,
    output_payload, script_payload, script_result,
};
pub use selector::{
    NO_OUTPUT_YET, OutputValue, Selector, StepOutputs, convert_output, evaluate_outputs, output_to_wire,
    runbook_outputs,
};
pub use sleep::{MAX_SLEEP_SECONDS, SleepSpec, parse_iso8601_duration};
pub use validate::validate_runbook;

/// Checks the parameters supplied to StartAutomationExecution against `runbook`'s declarations
/// and fills in defaults: the document module's rules, unchanged. An error names the parameter;
/// the server answers it with `InvalidAutomationExecutionParametersException`.
///
/// Defaults of the form `{{ssm:name}}` are returned as written; the server replaces them with
/// Parameter Store values before building a [`Context`]. The API's own length limits on keys and
/// values are the façade's to check (they are `ValidationException`s).
pub fn resolve_runbook_parameters(
    runbook: &Runbook,
    supplied: &BTreeMap<String, Vec<String>>,
) -> Result<ResolvedParameters, ParameterError> {
    resolve_parameters(&runbook.document, supplied)
}
