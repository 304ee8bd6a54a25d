//! The execution state machine: what runs next, given a runbook and what has run so far.
//!
//! The state is plain data ([`ExecutionState`]: the step runs in order and whether a cancel was
//! requested) that the driver persists after every change, and [`next_action`] is a pure
//! function of it, so after a restart the driver loads the state, asks again, and gets the same
//! answer. The driver's loop:
//!
//! ```text
//! loop {
//!     match next_action(&runbook, &state)? {
//!         Decision::Run(run) => { state.begin(&runbook, &run)?; persist; run the step; state.finish(&runbook, outcome)?; persist }
//!         Decision::Await { .. } => { after a restart: re-attach to (or re-run) the step in flight, then finish it }
//!         Decision::Cancel { .. } => { cancel the step in flight; state.finish(&runbook, StepOutcome::Cancelled)?; persist }
//!         Decision::End(ending) => { record ending.status and ending.failure_message; break }
//!     }
//! }
//! ```
//!
//! SSM's rules, as implemented here:
//! * A failed or timed-out attempt is retried until `maxAttempts` attempts were made; only then
//!   does the step fail and `onFailure` apply. Cancelled runs are never retried.
//! * `onFailure: Abort` ends the execution: Failed (TimedOut if the step timed out).
//!   `step:X` goes to X. `Continue` goes on the way success would (`nextStep`, else the following
//!   step), ending at `isEnd`.
//! * After success, an `aws:branch` goes to its chosen step, else ends at `isEnd`, else goes to
//!   the following step. Other steps go to `nextStep`, else end at `isEnd`, else go to the
//!   following step. After the last step the execution ends.
//! * An execution that ends normally is Failed if any run of a critical step failed or timed out
//!   (`isCritical` defaults to true, and to false with `onFailure: Continue`), otherwise Success.
//! * A cancel request cancels the step in flight. The cancelled step's `onCancel: step:X` then runs
//!   X and what follows it (the "cancel workflow", which the driver limits to
//!   [`CANCEL_WORKFLOW_SECONDS`]); the execution then ends Cancelled whatever happens.
//!   A cancel request between steps ends the execution Cancelled at once.

use std::collections::BTreeMap;

use super::error::FlowError;
use super::failure::StepFailure;
use super::model::{Action, OnCancel, OnFailure, Runbook, Step};
use super::selector::StepOutputs;

/// The longest SSM lets a cancel workflow (`onCancel: step:X`) run, in seconds.
pub const CANCEL_WORKFLOW_SECONDS: u64 = 120;

/// fleetrun's guard against runbooks that loop through branches without end: after this many step
/// runs the execution fails. (SSM's own limit is not documented.)
pub const MAX_STEP_RUNS: usize = 5_000;

/// A step's status: SSM's `StepStatus`, restricted to the values a step of the supported actions
/// can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepStatus {
    Pending,
    InProgress,
    /// `aws:pause` and `aws:approve` waiting for a signal.
    Waiting,
    Success,
    TimedOut,
    Cancelled,
    Failed,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Waiting => "Waiting",
            Self::Success => "Success",
            Self::TimedOut => "TimedOut",
            Self::Cancelled => "Cancelled",
            Self::Failed => "Failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::InProgress, Self::Waiting, Self::Success, Self::TimedOut, Self::Cancelled, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// Whether the run is over.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::TimedOut | Self::Cancelled | Self::Failed)
    }
}

/// An execution's status: SSM's `AutomationExecutionStatus`, restricted to the values a local
/// execution of the supported actions can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionStatus {
    Pending,
    InProgress,
    Waiting,
    Success,
    TimedOut,
    Cancelling,
    Cancelled,
    Failed,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Waiting => "Waiting",
            Self::Success => "Success",
            Self::TimedOut => "TimedOut",
            Self::Cancelling => "Cancelling",
            Self::Cancelled => "Cancelled",
            Self::Failed => "Failed",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::TimedOut | Self::Cancelled | Self::Failed)
    }
}

/// One run of one step (SSM's `StepExecution`): all its attempts, and how the last one went. A
/// step that runs again after a jump gets a new run.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRun {
    pub step: String,
    /// Attempts started so far (1-based count; at least 1).
    pub attempts: u32,
    pub status: StepStatus,
    /// Set when the run succeeded.
    pub outputs: StepOutputs,
    /// Why the last attempt failed or timed out.
    pub failure: Option<StepFailure>,
    /// `aws:branch` only: the step it chose (a choice's `NextStep` or `Default`), `None` when no
    /// choice was true and there is no `Default`.
    pub branch_choice: Option<String>,
}

/// Everything the state machine needs to know about an execution. Plain data so that the store
/// can persist it field by field; change it only through the methods, which keep it consistent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecutionState {
    /// Step runs in the order they started.
    pub runs: Vec<StepRun>,
    /// StopAutomationExecution (`Type: Cancel`) was called.
    pub cancel_requested: bool,
}

/// Why a step is to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Because {
    /// The first step of the execution.
    Start,
    /// Another attempt of a step that failed or timed out (`maxAttempts`).
    Retry,
    /// The following step in `mainSteps`.
    Next,
    /// The finished step's `nextStep`.
    NextStep,
    /// The choice (or `Default`) an `aws:branch` took.
    Branch,
    /// The failed step's `onFailure: step:X`.
    OnFailure,
    /// The failed step has `onFailure: Continue`; this is where it goes on.
    Continue,
    /// The cancelled step's `onCancel: step:X`.
    OnCancel,
}

/// A step attempt to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStep {
    pub step: String,
    /// Position in `mainSteps`.
    pub index: usize,
    /// 1-based.
    pub attempt: u32,
    pub because: Because,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub status: ExecutionStatus,
    /// SSM's execution `FailureMessage`: the message of the step failure that decided the status.
    pub failure_message: Option<String>,
}

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Run(RunStep),
    /// A step attempt is in flight: wait for its outcome (after a restart, re-attach to it or run
    /// it again).
    Await {
        step: String,
        attempt: u32,
    },
    /// A cancel was requested while a step is in flight: cancel it, then record
    /// [`StepOutcome::Cancelled`].
    Cancel {
        step: String,
    },
    End(Ending),
}

/// How a step attempt finished.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// `branch_choice` is for `aws:branch` steps only (see [`BranchOutcome::next_step`](super::BranchOutcome::next_step)).
    Success {
        outputs: StepOutputs,
        branch_choice: Option<String>,
    },
    Failed(StepFailure),
    TimedOut(StepFailure),
    Cancelled,
}

/// Decides what happens next. Pure: the same runbook and state always give the same decision.
/// Fails only when the state names a step the runbook does not have.
pub fn next_action(runbook: &Runbook, state: &ExecutionState) -> Result<Decision, FlowError> {
    let Some(last) = state.runs.last() else {
        if state.cancel_requested {
            return Ok(end(ExecutionStatus::Cancelled, None));
        }
        return Ok(Decision::Run(RunStep {
            step: runbook.steps[0].name.clone(),
            index: 0,
            attempt: 1,
            because: Because::Start,
        }));
    };
    let step = runbook.step(&last.step).ok_or_else(|| FlowError::UnknownStep { step: last.step.clone() })?;
    let trigger = state.cancel_trigger();
    let cancelling = trigger.is_some();
    if !last.status.is_terminal() {
        return Ok(if state.cancel_requested && !cancelling {
            Decision::Cancel { step: last.step.clone() }
        } else {
            Decision::Await { step: last.step.clone(), attempt: last.attempts }
        });
    }
    if state.runs.len() >= MAX_STEP_RUNS {
        if cancelling {
            return Ok(end(ExecutionStatus::Cancelled, None));
        }
        let message = format!("The execution ran {MAX_STEP_RUNS} steps, the most fleetrun allows; it may loop forever");
        return Ok(end(ExecutionStatus::Failed, Some(message)));
    }
    // A cancel between steps (not yet acted on) ends the execution at once.
    let cancel_pending = state.cancel_requested && !cancelling;
    match last.status {
        StepStatus::Cancelled => {
            let is_trigger = trigger == Some(state.runs.len() - 1);
            match (&step.on_cancel, is_trigger) {
                (OnCancel::Step(target), true) => go(runbook, target, Because::OnCancel),
                _ => Ok(end(ExecutionStatus::Cancelled, None)),
            }
        }
        _ if cancel_pending => Ok(end(ExecutionStatus::Cancelled, None)),
        StepStatus::Success => after_success(runbook, state, step, last),
        StepStatus::Failed | StepStatus::TimedOut if last.attempts < step.max_attempts => Ok(Decision::Run(RunStep {
            step: step.name.clone(),
            index: index_of(runbook, step),
            attempt: last.attempts + 1,
            because: Because::Retry,
        })),
        _ => after_failure(runbook, state, step, last),
    }
}

fn after_success(
    runbook: &Runbook,
    state: &ExecutionState,
    step: &Step,
    last: &StepRun,
) -> Result<Decision, FlowError> {
    let jump = match step.action {
        Action::Branch(_) => last.branch_choice.as_deref().map(|choice| (choice, Because::Branch)),
        _ => step.next_step.as_deref().map(|next| (next, Because::NextStep)),
    };
    match jump {
        Some((target, because)) => go(runbook, target, because),
        None => Ok(following(runbook, state, step, Because::Next)),
    }
}

fn after_failure(
    runbook: &Runbook,
    state: &ExecutionState,
    step: &Step,
    last: &StepRun,
) -> Result<Decision, FlowError> {
    match &step.on_failure {
        // In a cancel workflow the execution ends Cancelled, which carries no failure message.
        OnFailure::Abort if state.cancel_trigger().is_some() => Ok(end(ExecutionStatus::Cancelled, None)),
        OnFailure::Abort => {
            let status =
                if last.status == StepStatus::TimedOut { ExecutionStatus::TimedOut } else { ExecutionStatus::Failed };
            Ok(end(status, last.failure.as_ref().map(|failure| failure.message.clone())))
        }
        OnFailure::Step(target) => go(runbook, target, Because::OnFailure),
        OnFailure::Continue => {
            if !matches!(step.action, Action::Branch(_))
                && let Some(next) = &step.next_step
            {
                return go(runbook, next, Because::Continue);
            }
            Ok(following(runbook, state, step, Because::Continue))
        }
    }
}

/// The step after `step` in `mainSteps`, or the end when `step` has `isEnd` or is the last.
fn following(runbook: &Runbook, state: &ExecutionState, step: &Step, because: Because) -> Decision {
    let index = index_of(runbook, step) + 1;
    match runbook.steps.get(index) {
        Some(next) if !step.is_end => Decision::Run(RunStep { step: next.name.clone(), index, attempt: 1, because }),
        _ => end_normally(runbook, state),
    }
}

fn go(runbook: &Runbook, target: &str, because: Because) -> Result<Decision, FlowError> {
    let index = runbook.step_index(target).ok_or_else(|| FlowError::UnknownStep { step: target.to_owned() })?;
    Ok(Decision::Run(RunStep { step: target.to_owned(), index, attempt: 1, because }))
}

/// The end of a flow that was not aborted: Cancelled in a cancel workflow, Failed when a critical
/// step failed, otherwise Success.
fn end_normally(runbook: &Runbook, state: &ExecutionState) -> Decision {
    if state.cancel_trigger().is_some() {
        return end(ExecutionStatus::Cancelled, None);
    }
    let critical_failure = state.runs.iter().find(|run| {
        matches!(run.status, StepStatus::Failed | StepStatus::TimedOut)
            && runbook.step(&run.step).is_some_and(|step| step.is_critical)
    });
    match critical_failure {
        Some(run) => end(ExecutionStatus::Failed, run.failure.as_ref().map(|failure| failure.message.clone())),
        None => end(ExecutionStatus::Success, None),
    }
}

fn end(status: ExecutionStatus, failure_message: Option<String>) -> Decision {
    Decision::End(Ending { status, failure_message })
}

fn index_of(runbook: &Runbook, step: &Step) -> usize {
    runbook.step_index(&step.name).expect("the step was found in this runbook")
}

impl ExecutionState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the driver starts `run`, which must be what [`next_action`] decided.
    pub fn begin(&mut self, runbook: &Runbook, run: &RunStep) -> Result<(), FlowError> {
        match next_action(runbook, self)? {
            Decision::Run(expected) if expected == *run => {}
            Decision::End(_) => return Err(FlowError::Ended),
            Decision::Await { step, .. } | Decision::Cancel { step } => return Err(FlowError::StepInProgress { step }),
            Decision::Run(_) => {
                return Err(FlowError::AttemptOutOfOrder { step: run.step.clone(), attempt: run.attempt });
            }
        }
        if run.because == Because::Retry {
            let last = self.runs.last_mut().expect("a retry follows a run of the same step");
            last.attempts = run.attempt;
            last.status = StepStatus::InProgress;
            last.failure = None;
        } else {
            self.runs.push(StepRun {
                step: run.step.clone(),
                attempts: 1,
                status: StepStatus::InProgress,
                outputs: StepOutputs::new(),
                failure: None,
                branch_choice: None,
            });
        }
        Ok(())
    }

    /// Records that the step in flight (`aws:pause`, `aws:approve`) now waits for a signal.
    pub fn wait(&mut self) -> Result<(), FlowError> {
        let last = self.in_flight_mut()?;
        last.status = StepStatus::Waiting;
        Ok(())
    }

    /// Records how the step in flight finished.
    pub fn finish(&mut self, runbook: &Runbook, outcome: StepOutcome) -> Result<(), FlowError> {
        let last = self.in_flight_mut()?;
        let step = runbook.step(&last.step).ok_or_else(|| FlowError::UnknownStep { step: last.step.clone() })?;
        match outcome {
            StepOutcome::Success { outputs, branch_choice } => {
                if let Some(choice) = &branch_choice {
                    if !matches!(step.action, Action::Branch(_)) {
                        return Err(FlowError::NotABranch { step: step.name.clone() });
                    }
                    if runbook.step(choice).is_none() {
                        return Err(FlowError::UnknownStep { step: choice.clone() });
                    }
                }
                last.status = StepStatus::Success;
                last.outputs = outputs;
                last.branch_choice = branch_choice;
                last.failure = None;
            }
            StepOutcome::Failed(failure) => {
                last.status = StepStatus::Failed;
                last.failure = Some(failure);
            }
            StepOutcome::TimedOut(failure) => {
                last.status = StepStatus::TimedOut;
                last.failure = Some(failure);
            }
            StepOutcome::Cancelled => last.status = StepStatus::Cancelled,
        }
        Ok(())
    }

    /// Records a cancel request (StopAutomationExecution with `Type: Cancel`). Idempotent.
    pub fn request_cancel(&mut self) {
        self.cancel_requested = true;
    }

    /// The run in flight, if any.
    pub fn in_flight(&self) -> Option<&StepRun> {
        self.runs.last().filter(|run| !run.status.is_terminal())
    }

    /// The outputs of every step whose latest run succeeded, for [`Context::step_outputs`](super::Context::step_outputs).
    pub fn outputs_so_far(&self) -> BTreeMap<&str, &StepOutputs> {
        let mut outputs = BTreeMap::new();
        for run in &self.runs {
            if run.status == StepStatus::Success {
                outputs.insert(run.step.as_str(), &run.outputs);
            } else if run.status.is_terminal() {
                outputs.remove(run.step.as_str());
            }
        }
        outputs
    }

    /// The index of the run whose cancellation started the cancel workflow.
    fn cancel_trigger(&self) -> Option<usize> {
        self.runs.iter().position(|run| run.status == StepStatus::Cancelled)
    }

    fn in_flight_mut(&mut self) -> Result<&mut StepRun, FlowError> {
        self.runs.last_mut().filter(|run| !run.status.is_terminal()).ok_or(FlowError::NothingInProgress)
    }
}

/// The execution's status as GetAutomationExecution shows it.
pub fn execution_status(runbook: &Runbook, state: &ExecutionState) -> Result<ExecutionStatus, FlowError> {
    let cancelling = state.cancel_requested || state.cancel_trigger().is_some();
    Ok(match next_action(runbook, state)? {
        Decision::End(ending) => ending.status,
        Decision::Cancel { .. } => ExecutionStatus::Cancelling,
        _ if cancelling => ExecutionStatus::Cancelling,
        Decision::Await { .. } if state.runs.last().is_some_and(|run| run.status == StepStatus::Waiting) => {
            ExecutionStatus::Waiting
        }
        Decision::Run(_) if state.runs.is_empty() => ExecutionStatus::Pending,
        _ => ExecutionStatus::InProgress,
    })
}

/// SSM's `ProgressCounters`: step runs by status. `total_steps` counts every run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProgressCounters {
    pub total_steps: u64,
    pub success_steps: u64,
    pub failed_steps: u64,
    pub cancelled_steps: u64,
    pub timed_out_steps: u64,
}

pub fn progress_counters(state: &ExecutionState) -> ProgressCounters {
    let mut counters = ProgressCounters { total_steps: state.runs.len() as u64, ..ProgressCounters::default() };
    for run in &state.runs {
        match run.status {
            StepStatus::Success => counters.success_steps += 1,
            StepStatus::Failed => counters.failed_steps += 1,
            StepStatus::Cancelled => counters.cancelled_steps += 1,
            StepStatus::TimedOut => counters.timed_out_steps += 1,
            _ => {}
        }
    }
    counters
}
