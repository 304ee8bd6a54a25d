//! The records of SSM Automation executions (runbook runs) and their step executions as the store takes and
//! gives them back, plus the few rules both engines apply: which statuses count as active (claimable) and as
//! finished (purgeable), and what a stop request may ask for.
//!
//! Plain data: JSON members (parameters, outputs, targets, step inputs) are text the store keeps without
//! reading, and statuses are SSM's `AutomationExecutionStatus` strings. Which status follows which is the
//! automation driver's business, not the store's; the store only offers compare-and-swap on a version
//! and per-execution leases so that one replica at a time drives an execution.

use crate::{Result, StoreError};

/// Statuses of an execution that still needs a driver: [`crate::Store::claim_automation_executions`] takes
/// only these.
pub const AUTOMATION_ACTIVE_STATUSES: [&str; 4] = ["Pending", "InProgress", "Waiting", "Cancelling"];

/// Statuses of an execution that has ended for good: [`crate::Store::purge_automation_executions`] deletes
/// only these. Statuses in neither list (`PendingApproval`, `Scheduled`, …) are kept and never claimed.
pub const AUTOMATION_FINISHED_STATUSES: [&str; 9] = [
    "Success",
    "Failed",
    "TimedOut",
    "Cancelled",
    "CompletedWithSuccess",
    "CompletedWithFailure",
    "Rejected",
    "ChangeCalendarOverrideRejected",
    "Exited",
];

/// [`AUTOMATION_ACTIVE_STATUSES`] as an SQL list, the same text for both engines (a unit test keeps them equal).
pub(crate) const ACTIVE_SQL: &str = "('Pending', 'InProgress', 'Waiting', 'Cancelling')";

/// [`AUTOMATION_FINISHED_STATUSES`] as an SQL list.
pub(crate) const FINISHED_SQL: &str = "('Success', 'Failed', 'TimedOut', 'Cancelled', 'CompletedWithSuccess', \
     'CompletedWithFailure', 'Rejected', 'ChangeCalendarOverrideRejected', 'Exited')";

/// A new execution (StartAutomationExecution, or a parent starting a child), as the façade hands it over.
#[derive(Clone, Debug)]
pub struct NewAutomationExecution {
    /// The execution id (a UUID, 36 characters).
    pub execution_id: String,
    pub document_name: String,
    pub document_version: String,
    /// `Auto` or `Interactive`.
    pub mode: String,
    /// SSM's echo of every parameter, JSON text (`{"name": ["v"]}`).
    pub parameters_json: String,
    /// The request's `Targets`, JSON text (`[]` when none).
    pub targets_json: String,
    /// Empty when the execution has no targets.
    pub target_parameter_name: String,
    pub max_concurrency: String,
    pub max_errors: String,
    pub parent_execution_id: Option<String>,
    /// StartAutomationExecution's `ClientToken`: a second create with the same token is refused with the
    /// first execution's id (see [`crate::Store::create_automation_execution`]).
    pub client_token: Option<String>,
    pub executed_by: String,
    /// Stored in the `tags` table under resource type `Automation`.
    pub tags: Vec<(String, String)>,
    /// The runbook's steps in order; they are stored Pending with step indexes 0, 1, …
    pub steps: Vec<NewStepExecution>,
    /// The execution's start time.
    pub now_ms: i64,
}

/// An execution as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutomationExecution {
    pub execution_id: String,
    pub document_name: String,
    pub document_version: String,
    /// SSM `AutomationExecutionStatus`; `Pending` when created.
    pub status: String,
    pub mode: String,
    pub parameters_json: String,
    /// The document-level outputs, JSON text; `{}` when created.
    pub outputs_json: String,
    /// Empty when there is none.
    pub failure_message: String,
    /// Empty before the first step.
    pub current_step_name: String,
    pub current_action: String,
    pub parent_execution_id: Option<String>,
    pub executed_by: String,
    pub targets_json: String,
    pub target_parameter_name: String,
    pub max_concurrency: String,
    pub max_errors: String,
    pub start_ms: i64,
    /// 0 until the execution ends.
    pub end_ms: i64,
    pub client_token: Option<String>,
    /// `Cancel` or `Complete` once StopAutomationExecution asked; the driver acts on it.
    pub stop_requested: Option<String>,
    /// 1 when created; bumped by every change the driver must notice (update, stop request, a new lease
    /// holder), so writers compare-and-swap on it.
    pub version: i64,
    /// The server process driving the execution, while its lease lasts.
    pub lease_owner: Option<String>,
    /// When the lease ends (epoch ms, the claimers' clocks); 0 when there is no lease.
    pub lease_until_ms: i64,
}

/// A change of an execution by its driver: the mutable fields are rewritten as given, the version bumped.
#[derive(Clone, Debug)]
pub struct AutomationUpdate {
    pub execution_id: String,
    /// The version the driver read; the update fails with Conflict when the row has moved on since.
    pub expected_version: i64,
    pub status: String,
    pub outputs_json: String,
    pub failure_message: String,
    pub current_step_name: String,
    pub current_action: String,
    /// 0 while the execution runs.
    pub end_ms: i64,
}

/// A page of executions, newest first (DescribeAutomationExecutions). Every filter given must match.
#[derive(Clone, Debug, Default)]
pub struct AutomationFilter {
    /// Only documents whose name starts with this (compared bytewise).
    pub document_name_prefix: Option<String>,
    /// Any of these statuses; empty: every status.
    pub statuses: Vec<String>,
    pub execution_id: Option<String>,
    pub parent_execution_id: Option<String>,
    pub current_action: Option<String>,
    /// Only executions started at or before this time.
    pub start_before_ms: Option<i64>,
    /// Only executions started at or after this time.
    pub start_after_ms: Option<i64>,
    /// Only executions with a tag of this key.
    pub tag: Option<String>,
    /// Rows to skip (pagination).
    pub offset: u32,
    pub limit: Option<u32>,
}

/// A runbook step as created with its execution: Pending, not attempted.
#[derive(Clone, Debug)]
pub struct NewStepExecution {
    pub step_execution_id: String,
    pub step_name: String,
    /// `aws:…`.
    pub action: String,
    pub timeout_seconds: i64,
    /// `Abort` (SSM's default), `Continue` or `step:<name>`.
    pub on_failure: String,
    pub max_attempts: i64,
    pub is_end: bool,
    /// Empty when the step has none.
    pub next_step: String,
    pub is_critical: bool,
    /// The step's inputs, JSON text.
    pub inputs_json: String,
}

/// One step execution of an execution. Identified by (`execution_id`, `step_index`): the runbook's steps
/// come first, in order; a driver may add more (a step run again, a loop's iterations) after them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepExecution {
    pub execution_id: String,
    pub step_index: i64,
    pub step_execution_id: String,
    pub step_name: String,
    pub action: String,
    /// SSM `StepStatus` (the `AutomationExecutionStatus` values).
    pub status: String,
    /// How many times the step has been attempted.
    pub attempts: i64,
    pub timeout_seconds: i64,
    pub on_failure: String,
    pub max_attempts: i64,
    pub is_end: bool,
    pub next_step: String,
    pub is_critical: bool,
    pub inputs_json: String,
    /// JSON text; `{}` when created.
    pub outputs_json: String,
    pub response: String,
    pub failure_message: String,
    /// SSM `FailureDetails`, JSON text; empty when there is none.
    pub failure_details_json: String,
    /// 0 until the step starts.
    pub start_ms: i64,
    /// 0 until the step ends.
    pub end_ms: i64,
    pub response_code: Option<i64>,
}

impl StepExecution {
    /// The stored form of the `step_index`th step of a new execution.
    pub(crate) fn pending(execution_id: &str, step_index: usize, step: &NewStepExecution) -> StepExecution {
        StepExecution {
            execution_id: execution_id.to_string(),
            step_index: step_index as i64,
            step_execution_id: step.step_execution_id.clone(),
            step_name: step.step_name.clone(),
            action: step.action.clone(),
            status: "Pending".to_string(),
            attempts: 0,
            timeout_seconds: step.timeout_seconds,
            on_failure: step.on_failure.clone(),
            max_attempts: step.max_attempts,
            is_end: step.is_end,
            next_step: step.next_step.clone(),
            is_critical: step.is_critical,
            inputs_json: step.inputs_json.clone(),
            outputs_json: "{}".to_string(),
            response: String::new(),
            failure_message: String::new(),
            failure_details_json: String::new(),
            start_ms: 0,
            end_ms: 0,
            response_code: None,
        }
    }
}

/// Checks the type of a stop request (StopAutomationExecution's `Type`).
pub(crate) fn check_stop_kind(kind: &str) -> Result<()> {
    match kind {
        "Cancel" | "Complete" => Ok(()),
        _ => Err(StoreError::Unsupported(format!("stop type {kind:?} (expected Cancel or Complete)"))),
    }
}

pub(crate) fn execution_not_found(execution_id: &str) -> StoreError {
    StoreError::NotFound(format!("automation execution {execution_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_list(statuses: &[&str]) -> String {
        let quoted: Vec<String> = statuses.iter().map(|s| format!("'{s}'")).collect();
        format!("({})", quoted.join(", "))
    }

    #[test]
    fn sql_lists_match_the_status_lists() {
        assert_eq!(ACTIVE_SQL, sql_list(&AUTOMATION_ACTIVE_STATUSES));
        assert_eq!(FINISHED_SQL, sql_list(&AUTOMATION_FINISHED_STATUSES));
        assert!(AUTOMATION_ACTIVE_STATUSES.iter().all(|s| !AUTOMATION_FINISHED_STATUSES.contains(s)));
    }

    #[test]
    fn stop_kinds() {
        assert!(check_stop_kind("Cancel").is_ok() && check_stop_kind("Complete").is_ok());
        assert!(matches!(check_stop_kind("cancel"), Err(StoreError::Unsupported(_))));
    }
}
