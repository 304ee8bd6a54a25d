//! Tests of the automation module, one file per rule set: validation, parameters and references,
//! outputs, branches, the flow, and the `aws:executeScript` and `aws:sleep` helpers. Shared
//! helpers live here: loading runbooks, building a [`Context`], and a scripted driver that runs the
//! state machine the way the server will.

mod branch;
mod flow;
mod outputs;
mod refs;
mod script;
mod validate;

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::macros::datetime;

use super::{
    Context, Decision, Ending, ExecutionState, FailurePoint, FailureType, RunStep, Runbook, StepFailure, StepOutcome,
    StepOutputs, next_action, resolve_runbook_parameters, validate_runbook,
};
use crate::document::{DocumentFormat, ResolvedParameters};

/// Validates a YAML runbook, panicking with the error if it is refused.
#[track_caller]
fn runbook(content: &str) -> Runbook {
    validate_runbook(content, DocumentFormat::Yaml)
        .unwrap_or_else(|error| panic!("runbook refused: {error}\n{content}"))
}

/// The message a YAML runbook is refused with, panicking if it is accepted.
#[track_caller]
fn refused(content: &str) -> String {
    match validate_runbook(content, DocumentFormat::Yaml) {
        Ok(_) => panic!("runbook accepted but should not be:\n{content}"),
        Err(error) => error.to_string(),
    }
}

/// Supplied parameters as `(name, values)` pairs, for tables.
type Pairs = &'static [(&'static str, &'static [&'static str])];

/// Builds SSM's `Parameters` map from `(name, values)` pairs.
fn supplied(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs.iter().map(|(name, values)| (name.to_string(), values.iter().map(|v| v.to_string()).collect())).collect()
}

/// Resolved parameters for `runbook`, panicking if they are refused.
#[track_caller]
fn parameters(runbook: &Runbook, pairs: &[(&str, &[&str])]) -> ResolvedParameters {
    resolve_runbook_parameters(runbook, &supplied(pairs)).unwrap_or_else(|error| panic!("parameters refused: {error}"))
}

/// The fixed "now" of every test context.
const NOW: OffsetDateTime = datetime!(2024-03-05 07:08:09 UTC);

/// A context with fixed execution facts, the given parameters and step outputs.
fn context<'a>(parameters: &'a ResolvedParameters, outputs: &'a BTreeMap<String, StepOutputs>) -> Context<'a> {
    Context {
        parameters,
        step_outputs: outputs.iter().map(|(step, outputs)| (step.as_str(), outputs)).collect(),
        execution_id: "4105a4fc-f944-11e6-9d32-0123456789ab",
        document_name: "MyRunbook",
        account_id: "123456789012",
        region: "eu-west-1",
        partition: "aws",
        now: NOW,
    }
}

/// A step failure with `detail`, as a driver would record for an action that failed.
fn failure(detail: &str) -> StepFailure {
    StepFailure::new(FailurePoint::Polling, FailureType::Action, detail)
}

fn success() -> StepOutcome {
    StepOutcome::Success { outputs: StepOutputs::new(), branch_choice: None }
}

fn failed(detail: &str) -> StepOutcome {
    StepOutcome::Failed(failure(detail))
}

/// One decision the scripted driver acted on: `"step#attempt(Because)"`, or the ending.
type Trace = Vec<String>;

/// Runs the state machine to its end the way the server's driver does: begin, run (here: ask
/// `outcome`), finish, and persist (here: clone and reload the state, to prove it is enough to
/// resume from). Returns the trace of runs and the ending.
#[track_caller]
fn drive(
    runbook: &Runbook,
    state: &mut ExecutionState,
    mut outcome: impl FnMut(&RunStep) -> StepOutcome,
) -> (Trace, Ending) {
    let mut trace = Vec::new();
    for _ in 0..100 {
        match next_action(runbook, state).expect("the state fits the runbook") {
            Decision::Run(run) => {
                trace.push(format!("{}#{}({:?})", run.step, run.attempt, run.because));
                state.begin(runbook, &run).expect("begin what next_action decided");
                let persisted = state.clone();
                *state = persisted;
                state.finish(runbook, outcome(&run)).expect("finish the step in flight");
            }
            Decision::End(ending) => return (trace, ending),
            other => panic!("unexpected decision {other:?} after {trace:?}"),
        }
    }
    panic!("the flow did not end: {trace:?}")
}
