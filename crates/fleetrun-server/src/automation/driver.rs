//! Drives one claimed execution to its end: the loop of the core's flow module
//! (`next_action` → begin → run → finish), persisting the state after every change.
//!
//! Writes go through the row's compare-and-swap version: a stop request bumps it (the driver reads
//! the row again and records the cancel), and so does another replica's claim (the driver finds
//! the lease gone and stops without writing). A step that was in flight when the driving process
//! died is run again if that is harmless (`aws:sleep` sleeps until its original wake-up time,
//! `aws:branch` evaluates again) and otherwise fails with [`RESTARTED`].

use super::state::{self, Persisted, RunExtra};
use super::steps::{self, Execution, Prepared, Ran};
use crate::app::{AppState, now_ms};
use fleetrun_core::automation::{
    Action, CANCEL_WORKFLOW_SECONDS, Context, Decision, Ending, FailurePoint, FailureType, Runbook, StepFailure,
    StepOutcome, StepStatus, execution_status, inputs_to_wire, next_action, resolve_runbook_parameters,
    runbook_outputs, validate_runbook,
};
use fleetrun_core::document::{DocumentFormat, ResolvedParameters};
use fleetrun_store::{AutomationExecution, AutomationUpdate, StepExecution, StoreError, VersionSelector};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The failure of a script or command step that was running when the server driving it stopped.
pub(super) const RESTARTED: &str = "the server restarted while this step ran; fleetrun does not know whether it \
     finished, so it does not run it twice";

/// How often the keeper looks for a stop request stored by another replica.
const STOP_POLL: Duration = Duration::from_secs(1);

pub(super) async fn drive(app: &AppState, execution: AutomationExecution, cancel: CancellationToken) {
    let id = execution.execution_id.clone();
    let lost = CancellationToken::new();
    let keeper = tokio::spawn(keep(app.clone(), id.clone(), cancel.clone(), lost.clone()));
    let result = match load(app, execution, cancel, lost.clone()).await {
        Ok(mut run) => run.run().await,
        Err(error) => Err(error),
    };
    keeper.abort();
    if let Err(error) = result {
        tracing::warn!(execution_id = %id, error = %format!("{error:#}"), "Stopped driving an automation execution.");
        if !lost.is_cancelled() {
            give_up(app, &id, &format!("fleetrun could not drive this execution: {error:#}")).await;
        }
    }
}

/// Ends an execution the driver cannot go on with (a store error, a state it cannot read) as Failed rather than
/// leave it to be claimed again and again. Best effort: a failure here leaves it for the next claim.
pub(super) async fn give_up(app: &AppState, id: &str, message: &str) {
    let Ok(Some(row)) = app.store.get_automation_execution(id).await else {
        return;
    };
    if !fleetrun_store::AUTOMATION_ACTIVE_STATUSES.contains(&row.status.as_str())
        || row.lease_owner.as_deref() != Some(app.automation.owner.as_str())
    {
        return;
    }
    let update = AutomationUpdate {
        execution_id: row.execution_id.clone(),
        expected_version: row.version,
        status: "Failed".into(),
        outputs_json: row.outputs_json.clone(),
        failure_message: message.to_owned(),
        current_step_name: row.current_step_name.clone(),
        current_action: row.current_action.clone(),
        end_ms: now_ms(),
    };
    if let Err(error) = app.store.update_automation_execution(&update).await {
        tracing::warn!(execution_id = %id, error = %error, "Could not mark an execution Failed.");
    }
}

/// Renews the lease and watches for a stop request while the execution is driven.
pub(super) async fn keep(app: AppState, id: String, cancel: CancellationToken, lost: CancellationToken) {
    let lease_ms = super::Driver::lease_ms(&app.config);
    let renew_every = app.config.lease / 3;
    let mut last_renew = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(STOP_POLL).await;
        if let Ok(Some(row)) = app.store.get_automation_execution(&id).await
            && row.stop_requested.is_some()
        {
            cancel.cancel();
        }
        if last_renew.elapsed() >= renew_every {
            match app.store.renew_automation_lease(&id, &app.automation.owner, now_ms(), lease_ms).await {
                Ok(true) => last_renew = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::warn!(execution_id = %id, "Another replica took this automation execution over.");
                    lost.cancel();
                    cancel.cancel();
                    return;
                }
                Err(error) => {
                    tracing::warn!(execution_id = %id, error = %error, "Renewing an automation lease failed.")
                }
            }
        }
    }
}

struct Run<'a> {
    app: &'a AppState,
    row: AutomationExecution,
    steps: Vec<StepExecution>,
    persisted: Persisted,
    runbook: Runbook,
    parameters: ResolvedParameters,
    cancel: CancellationToken,
    lost: CancellationToken,
}

async fn load<'a>(
    app: &'a AppState,
    row: AutomationExecution,
    cancel: CancellationToken,
    lost: CancellationToken,
) -> anyhow::Result<Run<'a>> {
    let steps = app.store.list_step_executions(&row.execution_id).await?;
    let runbook = match load_runbook(app, &row).await {
        Ok(runbook) => runbook,
        Err(message) => return Err(fail_early(app, row, &message).await),
    };
    let supplied: BTreeMap<String, Vec<String>> = serde_json::from_str(&row.parameters_json).unwrap_or_default();
    let parameters = match resolve_runbook_parameters(&runbook, &supplied) {
        Ok(parameters) => parameters,
        Err(error) => return Err(fail_early(app, row, &error.to_string()).await),
    };
    let persisted = match state::decode(&row.outputs_json) {
        Ok(persisted) => persisted,
        Err(message) => return Err(fail_early(app, row, &message).await),
    };
    if row.stop_requested.is_some() {
        cancel.cancel();
    }
    Ok(Run { app, row, steps, persisted, runbook, parameters, cancel, lost })
}

pub(super) async fn load_runbook(app: &AppState, row: &AutomationExecution) -> Result<Runbook, String> {
    let number: i64 = row.document_version.parse().map_err(|_| "the execution names no document version")?;
    let version = app
        .store
        .get_document(&row.document_name, VersionSelector::Number(number))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("document {} version {number} was deleted", row.document_name))?;
    let format = DocumentFormat::parse(&version.format).unwrap_or(DocumentFormat::Json);
    validate_runbook(&version.content, format).map_err(|e| e.to_string())
}

/// Ends an execution that cannot even start (its document is gone) as Failed.
async fn fail_early(app: &AppState, row: AutomationExecution, message: &str) -> anyhow::Error {
    let update = AutomationUpdate {
        execution_id: row.execution_id.clone(),
        expected_version: row.version,
        status: "Failed".into(),
        outputs_json: row.outputs_json.clone(),
        failure_message: message.to_owned(),
        current_step_name: row.current_step_name.clone(),
        current_action: row.current_action.clone(),
        end_ms: now_ms(),
    };
    match app.store.update_automation_execution(&update).await {
        Ok(_) => anyhow::anyhow!("the execution failed before its first step: {message}"),
        Err(error) => error.into(),
    }
}

impl Run<'_> {
    async fn run(&mut self) -> anyhow::Result<()> {
        loop {
            if self.lost.is_cancelled() {
                anyhow::bail!("the lease was lost");
            }
            if self.cancel.is_cancelled() {
                self.persisted.state.request_cancel();
            }
            match next_action(&self.runbook, &self.persisted.state)? {
                Decision::End(ending) => return self.end(ending).await,
                Decision::Cancel { .. } => self.record(Ran::outcome(StepOutcome::Cancelled)).await?,
                Decision::Await { step, .. } => {
                    let action = &self.runbook.step(&step).expect("next_action checked the step").action;
                    if matches!(action, Action::Sleep | Action::Branch(_) | Action::Pause | Action::Approve) {
                        self.run_in_flight().await?;
                    } else {
                        let failure = StepFailure::new(FailurePoint::Executing, FailureType::Internal, RESTARTED);
                        self.record(Ran::outcome(StepOutcome::Failed(failure))).await?;
                    }
                }
                Decision::Run(run) => {
                    let retry = self.persisted.state.in_flight().is_none()
                        && self.persisted.state.runs.last().is_some_and(|last| last.step == run.step)
                        && run.because == fleetrun_core::automation::Because::Retry;
                    self.persisted.state.begin(&self.runbook, &run)?;
                    let now = now_ms();
                    if retry {
                        let extra = self.persisted.extras.last_mut().expect("a retry follows a run");
                        extra.start_ms = now;
                        extra.end_ms = 0;
                    } else {
                        let row = self.assign_row(&run.step);
                        self.persisted.extras.push(RunExtra { row, start_ms: now, end_ms: 0 });
                    }
                    self.run_in_flight().await?;
                }
            }
        }
    }

    /// Resolves, records as InProgress, runs and records the step in flight.
    async fn run_in_flight(&mut self) -> anyhow::Result<()> {
        let run = self.persisted.state.in_flight().expect("a step is in flight").clone();
        let step = self.runbook.step(&run.step).expect("the flow names runbook steps").clone();
        let started_ms = self.persisted.extras.last().map_or_else(now_ms, |extra| extra.start_ms);
        let prepared = {
            let ctx = Context {
                parameters: &self.parameters,
                step_outputs: self.persisted.state.outputs_so_far(),
                execution_id: &self.row.execution_id,
                document_name: &self.row.document_name,
                account_id: &self.app.config.account_id,
                region: &self.app.config.region,
                partition: "aws",
                now: time::OffsetDateTime::now_utc(),
            };
            steps::prepare(&step, &ctx)
        };
        let shown = match &prepared {
            Ok(Prepared::Inputs(inputs)) => inputs_to_wire(inputs),
            _ => inputs_to_wire(&step.inputs),
        };
        if prepared.is_ok() && matches!(step.action, Action::Pause | Action::Approve) {
            self.persisted.state.wait()?; // signals.rs: shown Waiting until SendAutomationSignal ends it
        }
        let index = self.persisted.extras.len() - 1;
        self.step_row_mut(index).inputs_json = json!(shown).to_string();
        self.save(None).await?;
        self.put_step_row(index).await?;
        let ran = match prepared {
            Err(error) => Ran::outcome(StepOutcome::Failed(StepFailure::from_error(&error))),
            Ok(prepared) => {
                // In a cancel workflow the steps run with their own token, limited as SSM limits it.
                let in_cancel_workflow = self.persisted.state.cancel_requested;
                let token = if in_cancel_workflow { CancellationToken::new() } else { self.cancel.child_token() };
                let execution = Execution { id: &self.row.execution_id, document_name: &self.row.document_name };
                let work = steps::execute(self.app, &execution, &step, prepared, started_ms, token.clone());
                if in_cancel_workflow {
                    let limit = Duration::from_secs(CANCEL_WORKFLOW_SECONDS);
                    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
                        token.cancel();
                        Ran::outcome(StepOutcome::Cancelled)
                    })
                } else {
                    work.await
                }
            }
        };
        self.record(ran).await
    }

    /// Records how the step in flight ended.
    async fn record(&mut self, ran: Ran) -> anyhow::Result<()> {
        if self.cancel.is_cancelled() {
            self.persisted.state.request_cancel();
        }
        self.persisted.state.finish(&self.runbook, ran.outcome)?;
        let index = self.persisted.extras.len() - 1;
        self.persisted.extras[index].end_ms = now_ms();
        let row = self.step_row_mut(index);
        row.response = ran.response;
        row.response_code = ran.response_code;
        self.save(None).await?;
        self.put_step_row(index).await
    }

    async fn end(&mut self, ending: Ending) -> anyhow::Result<()> {
        self.save(Some(&ending)).await?;
        tracing::info!(
            execution_id = %self.row.execution_id, status = ending.status.as_str(), "Automation execution ended."
        );
        Ok(())
    }

    /// Writes the execution row (state, status, outputs, current step), retrying a compare-and-swap
    /// lost to a stop request; fails when another replica holds the lease now.
    async fn save(&mut self, ending: Option<&Ending>) -> anyhow::Result<()> {
        loop {
            // Only the End decision makes an execution final, together with its failure message: a
            // status derived between steps (a critical step just failed) shows InProgress until then.
            let status = match ending {
                Some(ending) => ending.status,
                None => match execution_status(&self.runbook, &self.persisted.state)? {
                    derived if derived.is_terminal() => fleetrun_core::automation::ExecutionStatus::InProgress,
                    derived => derived,
                },
            };
            let outputs = runbook_outputs(&self.runbook, &self.persisted.state);
            let (current_step, current_action) = match self.persisted.state.runs.last() {
                Some(run) => {
                    let action = self.runbook.step(&run.step).map(|step| step.action.name()).unwrap_or_default();
                    (run.step.clone(), action.to_owned())
                }
                None => (String::new(), String::new()),
            };
            let update = AutomationUpdate {
                execution_id: self.row.execution_id.clone(),
                expected_version: self.row.version,
                status: status.as_str().to_owned(),
                outputs_json: state::encode(&self.persisted, &outputs),
                failure_message: ending.and_then(|e| e.failure_message.clone()).unwrap_or_default(),
                current_step_name: current_step,
                current_action,
                end_ms: if ending.is_some() { now_ms() } else { 0 },
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
                        if ending.is_none() {
                            self.persisted.state.request_cancel();
                        }
                    }
                    self.row = fresh;
                }
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// The step row that shows a new run of `step`: the runbook's own row while it is unused,
    /// else a new row after the others.
    fn assign_row(&mut self, step: &str) -> i64 {
        let used: Vec<i64> = self.persisted.extras.iter().map(|extra| extra.row).collect();
        if let Some(row) = self.steps.iter().find(|row| row.step_name == step && !used.contains(&row.step_index)) {
            return row.step_index;
        }
        let index = self.steps.iter().map(|row| row.step_index + 1).max().unwrap_or(0);
        let decl = self.runbook.step(step).expect("the flow names runbook steps");
        self.steps.push(new_step_row(&self.row.execution_id, index, decl));
        index
    }

    fn step_row_mut(&mut self, run_index: usize) -> &mut StepExecution {
        let row = self.persisted.extras[run_index].row;
        self.steps.iter_mut().find(|step| step.step_index == row).expect("assign_row created the row")
    }

    async fn put_step_row(&mut self, run_index: usize) -> anyhow::Result<()> {
        let run = self.persisted.state.runs[run_index].clone();
        let extra = self.persisted.extras[run_index].clone();
        let row = self.step_row_mut(run_index);
        row.status = run.status.as_str().to_owned();
        row.attempts = i64::from(run.attempts);
        row.start_ms = extra.start_ms;
        row.end_ms = extra.end_ms;
        row.outputs_json =
            if run.status == StepStatus::Success { json!(run.outputs.to_wire()).to_string() } else { "{}".to_owned() };
        match &run.failure {
            Some(failure) => {
                row.failure_message = failure.message.clone();
                row.failure_details_json = state::failure_details_wire(failure).to_string();
            }
            None => {
                row.failure_message.clear();
                row.failure_details_json.clear();
            }
        }
        let row = row.clone();
        self.app.store.put_step_execution(&row).await?;
        Ok(())
    }
}

/// A step row as StartAutomationExecution stores it (and as the driver adds one for a step that runs again).
pub(crate) fn new_step_row(execution_id: &str, index: i64, step: &fleetrun_core::automation::Step) -> StepExecution {
    let fresh = new_step_decl(step);
    StepExecution {
        execution_id: execution_id.to_owned(),
        step_index: index,
        step_execution_id: fresh.step_execution_id,
        step_name: fresh.step_name,
        action: fresh.action,
        status: "Pending".into(),
        attempts: 0,
        timeout_seconds: fresh.timeout_seconds,
        on_failure: fresh.on_failure,
        max_attempts: fresh.max_attempts,
        is_end: fresh.is_end,
        next_step: fresh.next_step,
        is_critical: fresh.is_critical,
        inputs_json: fresh.inputs_json,
        outputs_json: "{}".into(),
        response: String::new(),
        failure_message: String::new(),
        failure_details_json: String::new(),
        start_ms: 0,
        end_ms: 0,
        response_code: None,
    }
}

/// The stored declaration of a runbook step.
pub(crate) fn new_step_decl(step: &fleetrun_core::automation::Step) -> fleetrun_store::NewStepExecution {
    fleetrun_store::NewStepExecution {
        step_execution_id: uuid::Uuid::new_v4().to_string(),
        step_name: step.name.clone(),
        action: step.action.name().to_owned(),
        timeout_seconds: step.effective_timeout_seconds().map_or(0, |s| s as i64),
        on_failure: step.on_failure.to_wire(),
        max_attempts: i64::from(step.max_attempts),
        is_end: step.is_end,
        next_step: step.next_step.clone().unwrap_or_default(),
        is_critical: step.is_critical,
        inputs_json: json!(inputs_to_wire(&step.inputs)).to_string(),
    }
}
