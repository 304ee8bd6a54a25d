//! Drives a rate-controlled parent execution (StartAutomationExecution with `Targets` or
//! `TargetMaps`): it starts one child execution per target, at most `MaxConcurrency` at once,
//! stops starting them once more than `MaxErrors` have failed, and ends the parent when the
//! children it started have ended.
//!
//! The whole fan-out is decided when the parent is created: StartAutomationExecution stores a
//! [`Plan`] (the request's targets and, per child, its id and parameters) as the parent's
//! `targets_json`, in the same write that creates the row. The progress is not stored at all: it is
//! the children rows themselves (listed by `parent_execution_id`). So a parent survives a restart
//! as a step execution does: it is claimed again under its lease, lists its children, and goes on
//! creating the planned ones that do not exist yet. Children are ordinary executions, driven by
//! the step driver (`driver.rs`); the parent only creates them, watches them and stops them.
//!
//! As SSM does ("the system stops sending the command when the fourth error is received"),
//! children not started when the error allowance is exceeded are never created, children already
//! running finish, and then the parent ends Failed.

use super::driver::{give_up, keep, load_runbook};
use crate::app::{AppState, now_ms};
use fleetrun_core::rate::Limit;
use fleetrun_store::{
    AUTOMATION_ACTIVE_STATUSES, AutomationExecution, AutomationFilter, AutomationUpdate, NewAutomationExecution,
    StoreError,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often a parent looks at its children.
const POLL: Duration = Duration::from_millis(300);

/// What a parent fans out to, stored as its `targets_json` (an object, where an execution without
/// targets stores `[]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Plan {
    /// The request's `Targets`, as given (empty with `TargetMaps`).
    #[serde(default)]
    pub targets: Vec<Value>,
    /// The request's `TargetMaps`, as given (empty with `Targets`).
    #[serde(default)]
    pub target_maps: Vec<BTreeMap<String, Vec<String>>>,
    /// `ResolvedTargets.ParameterValues`: the values of `TargetParameterName`, one per child.
    #[serde(default)]
    pub resolved: Vec<String>,
    /// The children in the order they start.
    pub children: Vec<PlannedChild>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PlannedChild {
    /// The child's execution id, chosen up front so that a restarted parent knows which exist.
    pub id: String,
    /// The child's `Parameters` (SSM's echo of every parameter, `{"name": ["v"]}`).
    pub parameters: Value,
}

impl Plan {
    /// The plan of a parent execution; `None` for an execution without targets.
    pub(crate) fn of(row: &AutomationExecution) -> Option<Result<Plan, String>> {
        if !is_parent(row) {
            return None;
        }
        Some(serde_json::from_str(&row.targets_json).map_err(|e| format!("the stored fan-out plan is not valid: {e}")))
    }

    pub(crate) fn encode(&self) -> String {
        serde_json::to_string(self).expect("a plan is plain JSON")
    }
}

/// Whether an execution is a rate-controlled parent (its `targets_json` holds a [`Plan`]).
pub(crate) fn is_parent(row: &AutomationExecution) -> bool {
    row.targets_json.trim_start().starts_with('{')
}

/// Drives a claimed parent to its end; the counterpart of `driver::drive` for parents.
pub(super) async fn drive(app: &AppState, row: AutomationExecution, cancel: CancellationToken) {
    let id = row.execution_id.clone();
    let lost = CancellationToken::new();
    let keeper = tokio::spawn(keep(app.clone(), id.clone(), cancel.clone(), lost.clone()));
    let result = Parent { app, row, cancel, lost: lost.clone() }.run().await;
    keeper.abort();
    if let Err(error) = result {
        tracing::warn!(execution_id = %id, error = %format!("{error:#}"), "Stopped driving a parent execution.");
        if !lost.is_cancelled() {
            give_up(app, &id, &format!("fleetrun could not drive this execution: {error:#}")).await;
        }
    }
}

struct Parent<'a> {
    app: &'a AppState,
    row: AutomationExecution,
    cancel: CancellationToken,
    lost: CancellationToken,
}

/// The children of a parent as they stand.
#[derive(Default)]
struct Tally {
    created: usize,
    active: usize,
    errors: usize,
}

impl Parent<'_> {
    async fn run(&mut self) -> anyhow::Result<()> {
        let plan = match Plan::of(&self.row) {
            Some(Ok(plan)) => plan,
            Some(Err(message)) => return self.finish("Failed", &message).await,
            None => anyhow::bail!("the execution has no targets"),
        };
        let runbook = match load_runbook(self.app, &self.row).await {
            Ok(runbook) => runbook,
            Err(message) => return self.finish("Failed", &message).await,
        };
        let steps: Vec<_> = runbook.steps.iter().map(super::new_step_decl).collect();
        let total = plan.children.len();
        let concurrency = Limit::parse_concurrency(&self.row.max_concurrency)
            .map_or(10, |limit| limit.concurrency_for(total as u32)) as usize;
        let max_errors = Limit::parse_errors(&self.row.max_errors).map_or(0, |limit| limit.errors_for(total as u32));
        let max_errors = max_errors as usize;
        if self.row.stop_requested.is_some() {
            self.cancel.cancel();
        }
        if self.row.status == "Pending" {
            self.save("InProgress", "", 0).await?;
        }
        loop {
            if self.lost.is_cancelled() {
                anyhow::bail!("the lease was lost");
            }
            let children = self.children().await?;
            let mut tally = Tally::default();
            for child in plan.children.iter().filter_map(|planned| children.get(&planned.id)) {
                tally.created += 1;
                if AUTOMATION_ACTIVE_STATUSES.contains(&child.status.as_str()) {
                    tally.active += 1;
                    if self.cancel.is_cancelled() && child.stop_requested.is_none() {
                        self.app.store.request_stop(&child.execution_id, "Cancel").await?;
                        self.app.automation.cancel_local(&child.execution_id);
                        self.app.automation.wake();
                    }
                } else if child.status != "Success" && child.status != "CompletedWithSuccess" {
                    tally.errors += 1;
                }
            }
            let halted = self.cancel.is_cancelled() || tally.errors > max_errors;
            if !halted && tally.active < concurrency && tally.created < total {
                let mut room = concurrency - tally.active;
                for planned in plan.children.iter().filter(|planned| !children.contains_key(&planned.id)) {
                    if room == 0 {
                        break;
                    }
                    self.create_child(planned, &steps).await?;
                    tally.created += 1;
                    tally.active += 1;
                    room -= 1;
                }
                self.app.automation.wake();
            }
            if tally.active == 0 && (halted || tally.created == total) {
                let (status, message) = if self.cancel.is_cancelled() {
                    ("Cancelled", String::new())
                } else if tally.errors > max_errors {
                    let unstarted = total - tally.created;
                    let message = format!(
                        "{} of {total} child executions failed, more than MaxErrors ({}) allows; {unstarted} were not \
                         started.",
                        tally.errors, self.row.max_errors
                    );
                    ("Failed", message)
                } else if tally.errors > 0 {
                    ("Failed", format!("{} of {total} child executions failed.", tally.errors))
                } else {
                    ("Success", String::new())
                };
                return self.finish(status, &message).await;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = self.cancel.cancelled() => {}
            }
        }
    }

    /// The children of this parent by execution id.
    async fn children(&self) -> anyhow::Result<HashMap<String, AutomationExecution>> {
        let filter =
            AutomationFilter { parent_execution_id: Some(self.row.execution_id.clone()), ..Default::default() };
        let rows = self.app.store.list_automation_executions(&filter).await?;
        Ok(rows.into_iter().map(|row| (row.execution_id.clone(), row)).collect())
    }

    async fn create_child(
        &self,
        planned: &PlannedChild,
        steps: &[fleetrun_store::NewStepExecution],
    ) -> anyhow::Result<()> {
        let child = NewAutomationExecution {
            execution_id: planned.id.clone(),
            document_name: self.row.document_name.clone(),
            document_version: self.row.document_version.clone(),
            mode: "Auto".into(),
            parameters_json: planned.parameters.to_string(),
            targets_json: "[]".into(),
            target_parameter_name: String::new(),
            max_concurrency: String::new(),
            max_errors: String::new(),
            parent_execution_id: Some(self.row.execution_id.clone()),
            client_token: None,
            executed_by: self.row.executed_by.clone(),
            tags: Vec::new(),
            // Fresh step execution ids for every child.
            steps: steps
                .iter()
                .map(|step| fleetrun_store::NewStepExecution {
                    step_execution_id: uuid::Uuid::new_v4().to_string(),
                    ..step.clone()
                })
                .collect(),
            now_ms: now_ms(),
        };
        self.app.store.create_automation_execution(&child).await?;
        tracing::info!(execution_id = %planned.id, parent = %self.row.execution_id, "Child automation execution started.");
        Ok(())
    }

    async fn finish(&mut self, status: &str, message: &str) -> anyhow::Result<()> {
        self.save(status, message, now_ms()).await?;
        tracing::info!(execution_id = %self.row.execution_id, status, "Parent automation execution ended.");
        Ok(())
    }

    /// Writes the parent's status, retrying a compare-and-swap lost to a stop request; fails when
    /// another replica holds the lease now.
    async fn save(&mut self, status: &str, message: &str, end_ms: i64) -> anyhow::Result<()> {
        loop {
            let update = AutomationUpdate {
                execution_id: self.row.execution_id.clone(),
                expected_version: self.row.version,
                status: status.to_owned(),
                outputs_json: self.row.outputs_json.clone(),
                failure_message: message.to_owned(),
                current_step_name: String::new(),
                current_action: String::new(),
                end_ms,
            };
            match self.app.store.update_automation_execution(&update).await {
                Ok(row) => {
                    self.row = row;
                    return Ok(());
                }
                Err(StoreError::Conflict(_)) => {
                    let fresh = self
                        .app
                        .store
                        .get_automation_execution(&self.row.execution_id)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("the execution was deleted"))?;
                    if fresh.lease_owner.as_deref() != Some(self.app.automation.owner.as_str()) {
                        self.lost.cancel();
                        anyhow::bail!("another replica holds the lease now");
                    }
                    if fresh.stop_requested.is_some() {
                        self.cancel.cancel();
                    }
                    self.row = fresh;
                }
                Err(other) => return Err(other.into()),
            }
        }
    }
}
