//! Running one step attempt: `aws:executeScript` (a `fleetrun_script` process, bounded by the
//! runner semaphore), `aws:runCommand` (a command created through SendCommand's own code, then
//! watched in the store until it ends), `aws:sleep`, `aws:branch`, and `aws:pause`/`aws:approve`
//! (waiting for SendAutomationSignal, `signals.rs`). Each ends in a [`StepOutcome`]; nothing here
//! touches the execution's state or rows.

use crate::app::{AppState, now_ms};
use fleetrun_core::automation::{
    Action, Context, ExecuteScriptInputs, FailurePoint, FailureType, SleepSpec, Step, StepError, StepFailure,
    StepOutcome, StepOutputs, evaluate_branch, evaluate_outputs, resolve_step_inputs, script_result,
};
use fleetrun_store::InvocationFilter;
use serde_json::{Map, Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A step whose inputs are resolved, ready to run.
pub(super) enum Prepared {
    Inputs(Value),
    /// `aws:branch` is evaluated while preparing: its choice (None: no choice matched, no Default).
    Branch(Option<String>),
}

/// How an attempt ended, with what the step row shows besides the outcome.
pub(super) struct Ran {
    pub outcome: StepOutcome,
    /// `StepExecution.Response`: the script's log, or the command's status.
    pub response: String,
    pub response_code: Option<i64>,
}

impl Ran {
    pub(super) fn outcome(outcome: StepOutcome) -> Ran {
        Ran { outcome, response: String::new(), response_code: None }
    }

    fn failed(point: FailurePoint, detail: &str) -> Ran {
        Ran::outcome(StepOutcome::Failed(StepFailure::new(point, FailureType::Action, detail)))
    }

    fn from_error(error: &StepError) -> Ran {
        Ran::outcome(StepOutcome::Failed(StepFailure::from_error(error)))
    }
}

/// Resolves a step's inputs (for a branch: evaluates it) against what ran so far.
pub(super) fn prepare(step: &Step, ctx: &Context<'_>) -> Result<Prepared, StepError> {
    match &step.action {
        Action::Branch(branch) => Ok(Prepared::Branch(evaluate_branch(branch, ctx)?.next_step().map(str::to_owned))),
        _ => resolve_step_inputs(step, ctx).map(Prepared::Inputs),
    }
}

/// Identifies the execution to the script's `context` argument.
pub(super) struct Execution<'a> {
    pub id: &'a str,
    pub document_name: &'a str,
}

/// Runs one attempt of `step` to its end. `cancel` ends it as Cancelled.
pub(super) async fn execute(
    app: &AppState,
    execution: &Execution<'_>,
    step: &Step,
    prepared: Prepared,
    started_ms: i64,
    cancel: CancellationToken,
) -> Ran {
    let inputs = match prepared {
        Prepared::Branch(choice) => {
            return Ran::outcome(StepOutcome::Success { outputs: StepOutputs::new(), branch_choice: choice });
        }
        Prepared::Inputs(inputs) => inputs,
    };
    let work = async {
        match &step.action {
            Action::ExecuteScript(_) => execute_script(app, execution, step, &inputs, cancel.clone()).await,
            Action::RunCommand => run_command(app, step, &inputs, cancel.clone()).await,
            Action::Sleep => sleep(&inputs, started_ms, cancel.clone()).await,
            Action::Pause | Action::Approve => await_signal(app, execution, step, &inputs, cancel.clone()).await,
            other => Ran::failed(FailurePoint::Executing, &format!("fleetrun does not run {} steps yet", other.name())),
        }
    };
    // aws:executeScript enforces its own limit (the process is killed); the others get it here.
    match step.effective_timeout_seconds().filter(|_| !matches!(step.action, Action::ExecuteScript(_))) {
        None => work.await,
        Some(seconds) => match tokio::time::timeout(Duration::from_secs(seconds), work).await {
            Ok(ran) => ran,
            Err(_) => {
                cancel.cancel();
                Ran::outcome(StepOutcome::TimedOut(StepFailure::timed_out(FailurePoint::Executing, seconds)))
            }
        },
    }
}

async fn execute_script(
    app: &AppState,
    execution: &Execution<'_>,
    step: &Step,
    inputs: &Value,
    cancel: CancellationToken,
) -> Ran {
    let script = match ExecuteScriptInputs::from_resolved(inputs) {
        Ok(script) => script,
        Err(error) => return Ran::from_error(&error),
    };
    let attachment = match &script.attachment {
        None => None,
        Some(name) => match crate::ssm::attachments::for_step(app, execution.id, name).await {
            Ok(attachment) => Some(attachment),
            Err(detail) => {
                return Ran::failed(
                    FailurePoint::ResolvingInputs,
                    &format!("Attachment {name} cannot be loaded: {detail}"),
                );
            }
        },
    };
    let runtime = match script.runtime.to_wire().parse::<fleetrun_script::Runtime>() {
        Ok(runtime) => runtime,
        Err(error) => return Ran::failed(FailurePoint::ResolvingInputs, &error.to_string()),
    };
    let timeout = step.effective_timeout_seconds().unwrap_or(fleetrun_core::automation::MAX_SCRIPT_SECONDS);
    let request = fleetrun_script::ScriptRequest {
        runtime,
        handler: script.handler,
        script: script.script,
        attachment,
        input_payload: Value::Object(script.input_payload),
        context: json!({
            "automation:EXECUTION_ID": execution.id,
            "automation:DOCUMENT_NAME": execution.document_name,
        }),
        timeout: Duration::from_secs(timeout),
        env: Vec::new(),
    };
    let driver = &app.automation;
    let _permit = tokio::select! {
        permit = driver.runners.acquire() => match permit {
            Ok(permit) => permit,
            Err(_) => return Ran::failed(FailurePoint::Executing, "the script runners are shut down"),
        },
        () = cancel.cancelled() => return Ran::outcome(StepOutcome::Cancelled),
    };
    let outcome = fleetrun_script::run(&request, &driver.host, cancel).await;
    let response = log_of(&outcome);
    let ran = match outcome.status {
        fleetrun_script::ScriptStatus::Success => {
            let result = script_result(outcome.payload.unwrap_or(Value::Null));
            match evaluate_outputs(step, &result) {
                Ok(outputs) => Ran::outcome(StepOutcome::Success { outputs, branch_choice: None }),
                Err(error) => Ran::from_error(&error),
            }
        }
        fleetrun_script::ScriptStatus::Failed => {
            Ran::failed(FailurePoint::Polling, outcome.failure.as_deref().unwrap_or("the script failed"))
        }
        fleetrun_script::ScriptStatus::TimedOut => {
            Ran::outcome(StepOutcome::TimedOut(StepFailure::timed_out(FailurePoint::Polling, timeout)))
        }
        fleetrun_script::ScriptStatus::Cancelled => Ran::outcome(StepOutcome::Cancelled),
    };
    Ran { response, ..ran }
}

/// The step's log (its `Response`): which interpreter ran, then the script's stdout and stderr.
fn log_of(outcome: &fleetrun_script::ScriptOutcome) -> String {
    let output = match (outcome.stdout.is_empty(), outcome.stderr.is_empty()) {
        (_, true) => outcome.stdout.clone(),
        (true, false) => outcome.stderr.clone(),
        (false, false) => format!("{}\n{}", outcome.stdout, outcome.stderr),
    };
    if outcome.interpreter.is_empty() { output } else { format!("[ran with {}]\n{output}", outcome.interpreter) }
}

/// The SendCommand members an `aws:runCommand` step passes on.
const RUN_COMMAND_INPUTS: [&str; 15] = [
    "DocumentName",
    "DocumentVersion",
    "DocumentHash",
    "DocumentHashType",
    "InstanceIds",
    "Targets",
    "Parameters",
    "TimeoutSeconds",
    "Comment",
    "MaxConcurrency",
    "MaxErrors",
    "OutputS3BucketName",
    "OutputS3KeyPrefix",
    "ServiceRoleArn",
    "NotificationConfig",
];

/// Command statuses after which nothing changes.
const COMMAND_DONE: [&str; 4] = ["Success", "Failed", "TimedOut", "Cancelled"];
/// How often a running command is looked at.
const COMMAND_POLL: Duration = Duration::from_millis(500);

async fn run_command(app: &AppState, step: &Step, inputs: &Value, cancel: CancellationToken) -> Ran {
    let mut request = Map::new();
    for name in RUN_COMMAND_INPUTS {
        if let Some(value) = inputs.get(name).filter(|v| !v.is_null()) {
            request.insert(name.to_owned(), value.clone());
        }
    }
    // A runbook writes parameter values as it likes (a string, a number, a list); SendCommand takes lists.
    if let Some(Value::Object(parameters)) = request.get_mut("Parameters") {
        for value in parameters.values_mut() {
            *value = match value.take() {
                Value::Array(items) => Value::Array(items.into_iter().map(as_text).collect()),
                other => Value::Array(vec![as_text(other)]),
            };
        }
    }
    if let Some(Value::String(text)) = request.get("TimeoutSeconds")
        && let Ok(n) = text.parse::<i64>()
    {
        request.insert("TimeoutSeconds".into(), json!(n));
    }
    let sent = match crate::ssm::send_command(app, Value::Object(request)).await {
        Ok(sent) => sent,
        Err(error) => {
            return Ran::failed(
                FailurePoint::Executing,
                &format!("SendCommand failed: {}: {}", error.code, error.message),
            );
        }
    };
    let command_id = sent["Command"]["CommandId"].as_str().unwrap_or_default().to_owned();
    tracing::info!(command_id = %command_id, step = %step.name, "aws:runCommand sent its command.");
    let status = loop {
        match app.store.get_command(&command_id).await {
            Ok(Some(command)) if COMMAND_DONE.contains(&command.status.as_str()) => break command.status,
            Ok(_) => {}
            Err(error) => tracing::warn!(command_id = %command_id, error = %error, "Reading a command failed."),
        }
        tokio::select! {
            () = tokio::time::sleep(COMMAND_POLL) => {}
            () = cancel.cancelled() => {
                if let Err(error) = crate::ssm::cancel_command(app, json!({"CommandId": command_id})).await {
                    tracing::warn!(command_id = %command_id, error = %error.message, "Cancelling a step's command failed.");
                }
                return Ran::outcome(StepOutcome::Cancelled);
            }
        }
    };
    let (response_code, output) = command_output(app, &command_id).await;
    let result = json!({"CommandId": command_id, "Status": status, "ResponseCode": response_code, "Output": output});
    let response = format!("Command {command_id} ended {status}");
    if status != "Success" {
        let detail = format!("Command {command_id} ended {status} (response code {response_code}). {output}");
        let ran = Ran::failed(FailurePoint::VerifyingCommand, detail.trim());
        return Ran { response, response_code: Some(response_code), ..ran };
    }
    let ran = match evaluate_outputs(step, &result) {
        Ok(outputs) => Ran::outcome(StepOutcome::Success { outputs, branch_choice: None }),
        Err(error) => Ran::from_error(&error),
    };
    Ran { response, response_code: Some(response_code), ..ran }
}

fn as_text(value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(text),
        other => Value::String(other.to_string()),
    }
}

/// The first invocation's response code and the inline output of its steps, one after another.
async fn command_output(app: &AppState, command_id: &str) -> (i64, String) {
    let filter = InvocationFilter { command_id: Some(command_id.to_owned()), ..Default::default() };
    let Ok(invocations) = app.store.list_invocations(&filter).await else {
        return (-1, String::new());
    };
    let Some(first) = invocations.first() else {
        return (-1, String::new());
    };
    let plugins = app.store.list_plugins(command_id, &first.instance_id).await.unwrap_or_default();
    let output: String = plugins.iter().map(|plugin| plugin.stdout_head.as_str()).collect();
    (first.response_code, output)
}

async fn sleep(inputs: &Value, started_ms: i64, cancel: CancellationToken) -> Ran {
    let started = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(started_ms) * 1_000_000)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let wake = match SleepSpec::from_inputs(inputs).and_then(|spec| spec.wake_at(started)) {
        Ok(wake) => wake,
        Err(error) => return Ran::from_error(&error),
    };
    let left_ms = ((wake - started).whole_milliseconds() as i64 - (now_ms() - started_ms)).max(0);
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(left_ms as u64)) => {
            Ran::outcome(StepOutcome::Success { outputs: StepOutputs::new(), branch_choice: None })
        }
        () = cancel.cancelled() => Ran::outcome(StepOutcome::Cancelled),
    }
}

/// How often a waiting `aws:pause`/`aws:approve` looks for a stored signal.
const SIGNAL_POLL: Duration = Duration::from_millis(250);

/// Waits until the signals stored for the step (the driver has marked it `Waiting`) end it.
async fn await_signal(
    app: &AppState,
    execution: &Execution<'_>,
    step: &Step,
    inputs: &Value,
    cancel: CancellationToken,
) -> Ran {
    loop {
        if let Some(ran) = super::signals::decide(app, execution.id, step, inputs).await {
            return ran;
        }
        tokio::select! {
            () = tokio::time::sleep(SIGNAL_POLL) => {}
            () = cancel.cancelled() => return Ran::outcome(StepOutcome::Cancelled),
        }
    }
}
