//! The execution state machine: sequential runs, nextStep, isEnd, retries, onFailure, branches,
//! criticality, cancellation with onCancel, resuming from persisted state, status and counters.

use super::{drive, failed, failure, runbook, success};
use crate::automation::{
    Because, Decision, Ending, ExecutionState, ExecutionStatus, FlowError, ProgressCounters, RunStep, StepOutcome,
    StepOutputs, StepStatus, execution_status, next_action, progress_counters,
};

/// A runbook of `aws:pause` steps (the action does not matter to the flow), one per line of
/// `steps`, each line the step's extra properties, e.g. `"a: {nextStep: c}"`.
fn pauses(steps: &[(&str, &str)]) -> crate::automation::Runbook {
    let mut content = String::from("schemaVersion: '0.3'\nmainSteps:\n");
    for (name, extra) in steps {
        let extra = if extra.is_empty() { String::new() } else { format!(", {extra}") };
        content.push_str(&format!("  - {{name: {name}, action: aws:pause, inputs: {{}}{extra}}}\n"));
    }
    runbook(&content)
}

fn ending(status: ExecutionStatus) -> Ending {
    Ending { status, failure_message: None }
}

#[test]
fn steps_run_in_order_and_the_execution_succeeds() {
    let runbook = pauses(&[("a", ""), ("b", ""), ("c", "")]);
    let mut state = ExecutionState::new();
    assert_eq!(execution_status(&runbook, &state), Ok(ExecutionStatus::Pending));
    let (trace, end) = drive(&runbook, &mut state, |_| success());
    assert_eq!(trace, ["a#1(Start)", "b#1(Next)", "c#1(Next)"]);
    assert_eq!(end, ending(ExecutionStatus::Success));
    assert_eq!(execution_status(&runbook, &state), Ok(ExecutionStatus::Success));
    assert_eq!(
        progress_counters(&state),
        ProgressCounters { total_steps: 3, success_steps: 3, ..ProgressCounters::default() }
    );
}

#[test]
fn next_step_jumps_and_is_end_stops() {
    let runbook = pauses(&[("a", "nextStep: c"), ("b", ""), ("c", "isEnd: true"), ("d", "")]);
    let (trace, end) = drive(&runbook, &mut ExecutionState::new(), |_| success());
    assert_eq!(trace, ["a#1(Start)", "c#1(NextStep)"]);
    assert_eq!(end, ending(ExecutionStatus::Success));
}

#[test]
fn abort_ends_the_execution_failed_with_the_step_message() {
    let runbook = pauses(&[("a", ""), ("b", ""), ("c", "")]);
    let (trace, end) =
        drive(
            &runbook,
            &mut ExecutionState::new(),
            |run| {
                if run.step == "b" { failed("Exit code 1") } else { success() }
            },
        );
    assert_eq!(trace, ["a#1(Start)", "b#1(Next)"]);
    assert_eq!(end.status, ExecutionStatus::Failed);
    assert_eq!(
        end.failure_message.as_deref(),
        Some(
            "Step fails when it is Poll action status for completion. Exit code 1. \
             Please refer to Automation Service Troubleshooting Guide for more diagnosis details."
        )
    );
}

#[test]
fn a_timed_out_step_that_aborts_ends_timed_out() {
    let runbook = pauses(&[("a", "")]);
    let (_, end) = drive(&runbook, &mut ExecutionState::new(), |_| StepOutcome::TimedOut(failure("slow")));
    assert_eq!(end.status, ExecutionStatus::TimedOut);
}

#[test]
fn max_attempts_retries_before_failing() {
    let runbook = pauses(&[("a", "maxAttempts: 3"), ("b", "")]);
    let mut state = ExecutionState::new();
    let (trace, end) =
        drive(&runbook, &mut state, |run| if run.step == "a" && run.attempt < 3 { failed("flaky") } else { success() });
    assert_eq!(trace, ["a#1(Start)", "a#2(Retry)", "a#3(Retry)", "b#1(Next)"]);
    assert_eq!(end.status, ExecutionStatus::Success);
    assert_eq!(state.runs[0].attempts, 3);
    assert_eq!(state.runs[0].failure, None);
    // Every attempt failing: the step fails after the third attempt.
    let mut state = ExecutionState::new();
    let (trace, end) = drive(&runbook, &mut state, |_| StepOutcome::TimedOut(failure("slow")));
    assert_eq!(trace, ["a#1(Start)", "a#2(Retry)", "a#3(Retry)"]);
    assert_eq!(end.status, ExecutionStatus::TimedOut);
    assert_eq!(
        progress_counters(&state),
        ProgressCounters { total_steps: 1, timed_out_steps: 1, ..Default::default() }
    );
}

#[test]
fn on_failure_continue_goes_on_and_the_step_is_not_critical() {
    let runbook = pauses(&[("a", "onFailure: Continue"), ("b", ""), ("c", "")]);
    let mut state = ExecutionState::new();
    let (trace, end) = drive(&runbook, &mut state, |run| if run.step == "a" { failed("x") } else { success() });
    assert_eq!(trace, ["a#1(Start)", "b#1(Continue)", "c#1(Next)"]);
    assert_eq!(end, ending(ExecutionStatus::Success));
    assert_eq!(
        progress_counters(&state),
        ProgressCounters { total_steps: 3, success_steps: 2, failed_steps: 1, ..Default::default() }
    );
}

#[test]
fn on_failure_continue_with_is_critical_ends_failed() {
    let runbook = pauses(&[("a", "onFailure: Continue, isCritical: true"), ("b", "")]);
    let (trace, end) =
        drive(&runbook, &mut ExecutionState::new(), |run| if run.step == "a" { failed("x") } else { success() });
    assert_eq!(trace, ["a#1(Start)", "b#1(Continue)"]);
    assert_eq!(end.status, ExecutionStatus::Failed);
    assert!(end.failure_message.is_some_and(|message| message.contains(" x. ")));
}

#[test]
fn on_failure_continue_follows_next_step_and_is_end() {
    let runbook = pauses(&[
        ("a", "onFailure: Continue, nextStep: c"),
        ("b", ""),
        ("c", "onFailure: Continue, isEnd: true"),
        ("d", ""),
    ]);
    let (trace, end) = drive(&runbook, &mut ExecutionState::new(), |_| failed("x"));
    assert_eq!(trace, ["a#1(Start)", "c#1(Continue)"]);
    assert_eq!(end.status, ExecutionStatus::Success);
}

#[test]
fn on_failure_step_jumps_and_the_failed_step_stays_critical() {
    let runbook = pauses(&[
        ("install", "onFailure: 'step:recover', nextStep: test"),
        ("test", "isEnd: true"),
        ("recover", "isEnd: true"),
    ]);
    let (trace, end) =
        drive(&runbook, &mut ExecutionState::new(), |run| if run.step == "install" { failed("x") } else { success() });
    assert_eq!(trace, ["install#1(Start)", "recover#1(OnFailure)"]);
    assert_eq!(end.status, ExecutionStatus::Failed, "isCritical defaults to true with onFailure step:X");
    // SSM's "defining critical steps" example: the same with isCritical false succeeds.
    let runbook = pauses(&[
        ("install", "onFailure: 'step:recover', isCritical: false, nextStep: test"),
        ("test", "isEnd: true"),
        ("recover", "isEnd: true"),
    ]);
    let (trace, end) =
        drive(&runbook, &mut ExecutionState::new(), |run| if run.step == "install" { failed("x") } else { success() });
    assert_eq!(trace, ["install#1(Start)", "recover#1(OnFailure)"]);
    assert_eq!(end, ending(ExecutionStatus::Success));
    let (trace, _) = drive(&runbook, &mut ExecutionState::new(), |_| success());
    assert_eq!(trace, ["install#1(Start)", "test#1(NextStep)"]);
}

const BRANCHING: &str = r#"
schemaVersion: "0.3"
parameters: {Os: {type: String}}
mainSteps:
  - name: choose
    action: aws:branch
    inputs:
      Choices:
        - {NextStep: windows, Variable: "{{ Os }}", StringEquals: Windows}
      Default: fallback
  - {name: linux, action: aws:pause, inputs: {}, isEnd: true}
  - {name: windows, action: aws:pause, inputs: {}, isEnd: true}
  - {name: fallback, action: aws:pause, inputs: {}}
"#;

#[test]
fn a_branch_goes_where_it_chose() {
    let runbook = runbook(BRANCHING);
    let choose = |target: Option<&str>| {
        let target = target.map(str::to_owned);
        move |run: &RunStep| {
            if run.step == "choose" {
                StepOutcome::Success { outputs: StepOutputs::new(), branch_choice: target.clone() }
            } else {
                success()
            }
        }
    };
    let (trace, _) = drive(&runbook, &mut ExecutionState::new(), choose(Some("windows")));
    assert_eq!(trace, ["choose#1(Start)", "windows#1(Branch)"]);
    let (trace, _) = drive(&runbook, &mut ExecutionState::new(), choose(Some("fallback")));
    assert_eq!(trace, ["choose#1(Start)", "fallback#1(Branch)"]);
    // No choice and no Default: the following step.
    let (trace, end) = drive(&runbook, &mut ExecutionState::new(), choose(None));
    assert_eq!(trace, ["choose#1(Start)", "linux#1(Next)"]);
    assert_eq!(end.status, ExecutionStatus::Success);
}

#[test]
fn a_branch_with_is_end_stops_when_nothing_matched() {
    let runbook = runbook(
        r#"
schemaVersion: "0.3"
parameters: {Os: {type: String}}
mainSteps:
  - name: choose
    action: aws:branch
    inputs:
      Choices:
        - NextStep: create
          Not: {Variable: "{{ Os }}", StringEquals: none}
    isEnd: true
  - {name: create, action: aws:pause, inputs: {}}
"#,
    );
    let outcome = |choice: Option<&str>| StepOutcome::Success {
        outputs: StepOutputs::new(),
        branch_choice: choice.map(str::to_owned),
    };
    let (trace, _) = drive(&runbook, &mut ExecutionState::new(), |run| {
        if run.step == "choose" { outcome(Some("create")) } else { success() }
    });
    assert_eq!(trace, ["choose#1(Start)", "create#1(Branch)"]);
    let (trace, end) = drive(&runbook, &mut ExecutionState::new(), |_| outcome(None));
    assert_eq!(trace, ["choose#1(Start)"]);
    assert_eq!(end.status, ExecutionStatus::Success);
}

#[test]
fn only_a_branch_records_a_choice_and_only_of_real_steps() {
    let runbook = runbook(BRANCHING);
    let mut state = ExecutionState::new();
    let Ok(Decision::Run(run)) = next_action(&runbook, &state) else { panic!() };
    state.begin(&runbook, &run).unwrap();
    let bad = StepOutcome::Success { outputs: StepOutputs::new(), branch_choice: Some("nowhere".into()) };
    assert_eq!(state.finish(&runbook, bad), Err(FlowError::UnknownStep { step: "nowhere".into() }));
    let pauses = pauses(&[("a", ""), ("b", "")]);
    let mut state = ExecutionState::new();
    let Ok(Decision::Run(run)) = next_action(&pauses, &state) else { panic!() };
    state.begin(&pauses, &run).unwrap();
    let bad = StepOutcome::Success { outputs: StepOutputs::new(), branch_choice: Some("b".into()) };
    assert_eq!(state.finish(&pauses, bad), Err(FlowError::NotABranch { step: "a".into() }));
}

#[test]
fn cancelling_a_step_runs_its_on_cancel_step_then_ends_cancelled() {
    let runbook =
        pauses(&[("work", "onCancel: 'step:cleanup'"), ("more", "isEnd: true"), ("cleanup", ""), ("notify", "")]);
    let mut state = ExecutionState::new();
    let Ok(Decision::Run(run)) = next_action(&runbook, &state) else { panic!() };
    state.begin(&runbook, &run).unwrap();
    assert_eq!(next_action(&runbook, &state), Ok(Decision::Await { step: "work".into(), attempt: 1 }));
    assert_eq!(execution_status(&runbook, &state), Ok(ExecutionStatus::InProgress));
    state.request_cancel();
    assert_eq!(next_action(&runbook, &state), Ok(Decision::Cancel { step: "work".into() }));
    assert_eq!(execution_status(&runbook, &state), Ok(ExecutionStatus::Cancelling));
    state.finish(&runbook, StepOutcome::Cancelled).unwrap();
    // The cancel workflow: cleanup and what follows it, then Cancelled whatever happens.
    let (trace, end) = drive(&runbook, &mut state, |run| if run.step == "notify" { failed("x") } else { success() });
    assert_eq!(trace, ["cleanup#1(OnCancel)", "notify#1(Next)"]);
    assert_eq!(end, ending(ExecutionStatus::Cancelled));
    assert_eq!(
        progress_counters(&state),
        ProgressCounters {
            total_steps: 3,
            success_steps: 1,
            failed_steps: 1,
            cancelled_steps: 1,
            ..Default::default()
        }
    );
}

#[test]
fn cancelling_without_on_cancel_ends_cancelled() {
    let runbook = pauses(&[("a", ""), ("b", "")]);
    let mut state = ExecutionState::new();
    let Ok(Decision::Run(run)) = next_action(&runbook, &state) else { panic!() };
    state.begin(&runbook, &run).unwrap();
    state.request_cancel();
    state.finish(&runbook, StepOutcome::Cancelled).unwrap();
    assert_eq!(next_action(&runbook, &state), Ok(Decision::End(ending(ExecutionStatus::Cancelled))));
}

#[test]
fn a_cancel_between_steps_ends_at_once() {
    let runbook = pauses(&[("a", "maxAttempts: 2"), ("b", "")]);
    let mut state = ExecutionState::new();
    state.request_cancel();
    assert_eq!(next_action(&runbook, &state), Ok(Decision::End(ending(ExecutionStatus::Cancelled))));
    // Even with attempts left, a cancel request is not followed by a retry.
    let mut state = ExecutionState::new();
    let Ok(Decision::Run(run)) = next_action(&runbook, &state) else { panic!() };
    state.begin(&runbook, &run).unwrap();
    state.finish(&runbook, failed("x")).unwrap();
    state.request_cancel();
    assert_eq!(next_action(&runbook, &state), Ok(Decision::End(ending(ExecutionStatus::Cancelled))));
}

#[test]
fn waiting_steps_show_as_waiting() {
    let runbook = pauses(&[("hold", "")]);
    let mut state = ExecutionState::new();
    let Ok(Decision::Run(run)) = next_action(&runbook, &state) else { panic!() };
    state.begin(&runbook, &run).unwrap();
    state.wait().unwrap();
    assert_eq!(state.in_flight().map(|run| run.status), Some(StepStatus::Waiting));
    assert_eq!(execution_status(&runbook, &state), Ok(ExecutionStatus::Waiting));
    state.finish(&runbook, success()).unwrap();
    assert_eq!(execution_status(&runbook, &state), Ok(ExecutionStatus::Success));
    assert_eq!(state.wait(), Err(FlowError::NothingInProgress));
}

#[test]
fn begin_only_accepts_what_next_action_decided() {
    let runbook = pauses(&[("a", ""), ("b", "")]);
    let mut state = ExecutionState::new();
    let wrong = RunStep { step: "b".into(), index: 1, attempt: 1, because: Because::Start };
    assert_eq!(state.begin(&runbook, &wrong), Err(FlowError::AttemptOutOfOrder { step: "b".into(), attempt: 1 }));
    let Ok(Decision::Run(run)) = next_action(&runbook, &state) else { panic!() };
    state.begin(&runbook, &run).unwrap();
    assert_eq!(state.begin(&runbook, &run), Err(FlowError::StepInProgress { step: "a".into() }));
    state.finish(&runbook, success()).unwrap();
    drive(&runbook, &mut state, |_| success());
    assert_eq!(state.begin(&runbook, &run), Err(FlowError::Ended));
    assert_eq!(state.finish(&runbook, success()), Err(FlowError::NothingInProgress));
}

#[test]
fn a_state_that_names_unknown_steps_is_an_error() {
    let runbook = pauses(&[("a", "")]);
    let mut state = ExecutionState::new();
    let Ok(Decision::Run(run)) = next_action(&runbook, &state) else { panic!() };
    state.begin(&runbook, &run).unwrap();
    let other = pauses(&[("z", "")]);
    assert_eq!(next_action(&other, &state), Err(FlowError::UnknownStep { step: "a".into() }));
}

#[test]
fn a_restarted_driver_resumes_from_the_persisted_state() {
    let runbook = pauses(&[("a", ""), ("b", "maxAttempts: 2"), ("c", "")]);
    let mut state = ExecutionState::new();
    // The first driver runs a and starts b, then dies.
    let (mut trace, mut outcomes) = (Vec::new(), vec![success()].into_iter());
    while let Ok(Decision::Run(run)) = next_action(&runbook, &state) {
        trace.push(run.step.clone());
        state.begin(&runbook, &run).unwrap();
        let Some(outcome) = outcomes.next() else { break };
        state.finish(&runbook, outcome).unwrap();
    }
    assert_eq!(trace, ["a", "b"]);
    let persisted = state.clone();
    // A new driver loads the state and is told to re-attach to b.
    let mut state = persisted;
    assert_eq!(next_action(&runbook, &state), Ok(Decision::Await { step: "b".into(), attempt: 1 }));
    state.finish(&runbook, failed("lost")).unwrap();
    let (trace, end) = drive(&runbook, &mut state, |_| success());
    assert_eq!(trace, ["b#2(Retry)", "c#1(Next)"]);
    assert_eq!(end.status, ExecutionStatus::Success);
}

#[test]
fn outputs_so_far_are_those_of_each_step_latest_successful_run() {
    let runbook = pauses(&[("a", "onFailure: Continue"), ("b", "")]);
    let mut state = ExecutionState::new();
    let mut outputs = StepOutputs::new();
    outputs.insert("x", crate::document::ParamValue::Integer(1));
    let (_, _) = drive(&runbook, &mut state, |run| {
        if run.step == "b" {
            StepOutcome::Success { outputs: outputs.clone(), branch_choice: None }
        } else {
            failed("x")
        }
    });
    let so_far = state.outputs_so_far();
    assert_eq!(so_far.keys().copied().collect::<Vec<_>>(), ["b"]);
    assert_eq!(so_far["b"].get("x"), Some(&crate::document::ParamValue::Integer(1)));
}

#[test]
fn status_names_are_ssms() {
    let names: Vec<_> = [
        ExecutionStatus::Pending,
        ExecutionStatus::InProgress,
        ExecutionStatus::Waiting,
        ExecutionStatus::Success,
        ExecutionStatus::TimedOut,
        ExecutionStatus::Cancelling,
        ExecutionStatus::Cancelled,
        ExecutionStatus::Failed,
    ]
    .iter()
    .map(|status| status.as_str())
    .collect();
    assert_eq!(names, ["Pending", "InProgress", "Waiting", "Success", "TimedOut", "Cancelling", "Cancelled", "Failed"]);
    for status in ["Pending", "InProgress", "Waiting", "Success", "TimedOut", "Cancelled", "Failed"] {
        assert_eq!(StepStatus::parse(status).map(StepStatus::as_str), Some(status));
    }
    assert_eq!(StepStatus::parse("Cancelling"), None);
}

/// The whole engine the way the server will drive it: resolve inputs, run (simulated), shape the
/// script payload, evaluate outputs and branches, and let the state machine pick the next step.
#[test]
fn a_driver_runs_scripts_sleeps_and_branches_end_to_end() {
    use crate::automation::{
        Action, ExecuteScriptInputs, SleepSpec, evaluate_branch, evaluate_outputs, resolve_runbook_parameters,
        resolve_step_inputs, script_payload, script_result,
    };

    let runbook = runbook(
        r#"
schemaVersion: "0.3"
parameters:
  Wanted: {type: String, default: Linux}
mainSteps:
  - name: inspect
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: "def handler(events, context):\n  return {'platform': 'Linux', 'count': 3}"
      InputPayload: {wanted: "{{ Wanted }}", run: "{{ automation:EXECUTION_ID }}"}
    outputs:
      - {Name: platform, Selector: $.Payload.platform, Type: String}
      - {Name: count, Selector: $.Payload.count, Type: Integer}
  - name: choose
    action: aws:branch
    inputs:
      Choices:
        - NextStep: few
          Or:
            - {Variable: "{{ inspect.count }}", NumericEquals: 1}
            - {Variable: "{{ inspect.platform }}", StartsWith: Win}
        - NextStep: many
          And:
            - {Variable: "{{ inspect.platform }}", StringEquals: "{{ Wanted }}"}
            - Not: {Variable: "{{ inspect.count }}", NumericLesser: 2}
      Default: done
  - {name: few, action: aws:sleep, inputs: {Duration: PT1S}, isEnd: true}
  - {name: many, action: aws:sleep, inputs: {Duration: PT2S}, nextStep: done}
  - {name: done, action: aws:pause, inputs: {}}
"#,
    );
    let parameters = resolve_runbook_parameters(&runbook, &Default::default()).unwrap();
    let no_outputs = Default::default();
    let mut state = ExecutionState::new();
    let mut trace = Vec::new();
    let mut payloads = Vec::new();
    let mut sleeps = Vec::new();
    let ending = loop {
        let run = match next_action(&runbook, &state).unwrap() {
            Decision::Run(run) => run,
            Decision::End(ending) => break ending,
            other => panic!("unexpected {other:?}"),
        };
        state.begin(&runbook, &run).unwrap();
        trace.push(run.step.clone());
        let step = &runbook.steps[run.index];
        let outcome = {
            let ctx =
                super::Context { step_outputs: state.outputs_so_far(), ..super::context(&parameters, &no_outputs) };
            match &step.action {
                Action::ExecuteScript(_) => {
                    let inputs = ExecuteScriptInputs::from_resolved(&resolve_step_inputs(step, &ctx).unwrap()).unwrap();
                    payloads.push(serde_json::Value::Object(inputs.input_payload));
                    let payload = script_payload(r#"{"platform": "Linux", "count": 3}"#).unwrap();
                    let outputs = evaluate_outputs(step, &script_result(payload)).unwrap();
                    StepOutcome::Success { outputs, branch_choice: None }
                }
                Action::Branch(branch) => {
                    let outcome = evaluate_branch(branch, &ctx).unwrap();
                    StepOutcome::Success {
                        outputs: StepOutputs::new(),
                        branch_choice: outcome.next_step().map(str::to_owned),
                    }
                }
                Action::Sleep => {
                    let spec = SleepSpec::from_inputs(&resolve_step_inputs(step, &ctx).unwrap()).unwrap();
                    sleeps.push(spec.wake_at(super::NOW).unwrap() - super::NOW);
                    success()
                }
                _ => success(),
            }
        };
        state.finish(&runbook, outcome).unwrap();
    };
    assert_eq!(trace, ["inspect", "choose", "many", "done"]);
    assert_eq!(payloads, [serde_json::json!({"wanted": "Linux", "run": "4105a4fc-f944-11e6-9d32-0123456789ab"})]);
    assert_eq!(sleeps, [time::Duration::seconds(2)]);
    assert_eq!(ending, Ending { status: ExecutionStatus::Success, failure_message: None });
    assert_eq!(state.runs[1].branch_choice.as_deref(), Some("many"));
}

#[test]
fn a_waiting_step_shows_waiting_then_resumes_or_is_cancelled() {
    let runbook = pauses(&[("a", ""), ("b", "")]);
    let mut state = ExecutionState::new();
    let Decision::Run(run) = next_action(&runbook, &state).unwrap() else { panic!("runs a") };
    state.begin(&runbook, &run).unwrap();
    state.wait().unwrap();
    assert_eq!(execution_status(&runbook, &state), Ok(ExecutionStatus::Waiting));
    assert_eq!(next_action(&runbook, &state), Ok(Decision::Await { step: "a".into(), attempt: 1 }));
    let mut cancelled = state.clone();
    cancelled.request_cancel();
    assert_eq!(next_action(&runbook, &cancelled), Ok(Decision::Cancel { step: "a".into() }));
    cancelled.finish(&runbook, StepOutcome::Cancelled).unwrap();
    assert_eq!(execution_status(&runbook, &cancelled), Ok(ExecutionStatus::Cancelled));
    state.finish(&runbook, StepOutcome::Success { outputs: StepOutputs::new(), branch_choice: None }).unwrap();
    assert!(matches!(next_action(&runbook, &state), Ok(Decision::Run(RunStep { ref step, .. })) if step == "b"));
}
