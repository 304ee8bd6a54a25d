//! `aws:pause` and `aws:approve`: the steps that wait for SendAutomationSignal.
//!
//! While such a step waits, the driver has marked its run `Waiting` (so the execution shows
//! `Waiting`) and its task polls the step row here ([`decide`]). SendAutomationSignal
//! ([`send_automation_signal`]) appends each accepted signal to that same row, so a signal is durable
//! before the call returns and survives a restart: the waiting step row's `Response` holds
//!
//! ```json
//! {"Signals": [{"Type": "Approve", "Principal": "AKIA…", "Comment": "looks good", "Time": 1700000000000}]}
//! ```
//!
//! until the step ends and the driver writes its own response there. The rules:
//! * `Resume` ends a waiting `aws:pause` with Success.
//! * `Approve`/`Reject` decide a waiting `aws:approve`. The caller (its access key id) must be one
//!   of the step's `Approvers` (an entry equal to the key id, or an ARN whose last `/` segment is
//!   it) and may decide once. One `Reject` fails the step; `MinRequiredApprovals` (default 1)
//!   distinct approvals make it succeed with `ApprovalStatus` and `ApproverDecisions`.
//! * `StartStep`/`StopStep` belong to `Mode: Interactive`, which fleetrun does not run: refused.
//!
//! Within one process the read-modify-write of the row is serialized by [`SIGNAL_LOCK`]; two
//! replicas taking signals for the same step at the same instant could lose one (not guarded yet).

use super::steps::Ran;
use crate::app::{AppState, now_ms};
use crate::auth::Principal;
use crate::ssm::error::SsmError;
use fleetrun_core::automation::{
    Action, FailurePoint, FailureType, Step, StepFailure, StepOutcome, StepOutputs, evaluate_outputs,
};
use fleetrun_store::StepExecution;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Serializes signal writes in this process.
static SIGNAL_LOCK: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

const SIGNAL_TYPES: [&str; 5] = ["Approve", "Reject", "StartStep", "StopStep", "Resume"];

/// One accepted signal, as stored in the waiting step row.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Signal {
    pub kind: String,
    pub principal: String,
    pub comment: String,
    pub time_ms: i64,
}

impl Signal {
    fn to_json(&self) -> Value {
        json!({"Type": self.kind, "Principal": self.principal, "Comment": self.comment, "Time": self.time_ms})
    }

    fn from_json(value: &Value) -> Option<Signal> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        Some(Signal {
            kind: text("Type")?,
            principal: text("Principal").unwrap_or_default(),
            comment: text("Comment").unwrap_or_default(),
            time_ms: value.get("Time").and_then(Value::as_i64).unwrap_or(0),
        })
    }
}

/// The signals stored in a waiting step row's `response` (none when it holds anything else).
pub(super) fn stored_signals(response: &str) -> Vec<Signal> {
    serde_json::from_str::<Value>(response)
        .ok()
        .and_then(|value| value.get("Signals").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(Signal::from_json)
        .collect()
}

fn encode_signals(signals: &[Signal]) -> String {
    json!({"Signals": signals.iter().map(Signal::to_json).collect::<Vec<_>>()}).to_string()
}

/// What the signals so far decide for a waiting step; `None`: keep waiting.
pub(super) fn outcome(step: &Step, inputs: &Value, signals: &[Signal]) -> Option<Ran> {
    match step.action {
        Action::Pause => signals.iter().find(|signal| signal.kind == "Resume").map(|signal| Ran {
            outcome: StepOutcome::Success { outputs: StepOutputs::new(), branch_choice: None },
            response: format!("Resumed by {}", signal.principal),
            response_code: None,
        }),
        Action::Approve => approval(step, inputs, signals),
        _ => None,
    }
}

fn approval(step: &Step, inputs: &Value, signals: &[Signal]) -> Option<Ran> {
    let decisions: Vec<Value> = signals
        .iter()
        .filter(|signal| signal.kind == "Approve" || signal.kind == "Reject")
        .map(|signal| {
            let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(signal.time_ms) * 1_000_000)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_default();
            json!({"Approver": signal.principal, "Decision": signal.kind, "Comment": signal.comment, "DecisionTime": time})
        })
        .collect();
    if let Some(reject) = signals.iter().find(|signal| signal.kind == "Reject") {
        let mut message = format!("Step {} was rejected by approver {}", step.name, reject.principal);
        if !reject.comment.is_empty() {
            message.push_str(&format!(": {}", reject.comment));
        }
        let failure = StepFailure::new(FailurePoint::Executing, FailureType::Action, &message);
        return Some(Ran {
            outcome: StepOutcome::Failed(failure),
            response: format!("Rejected by {}", reject.principal),
            response_code: None,
        });
    }
    let approvers: Vec<&str> = signals.iter().filter(|s| s.kind == "Approve").map(|s| s.principal.as_str()).collect();
    if approvers.is_empty() || approvers.len() < min_required_approvals(inputs) {
        return None;
    }
    let result = json!({"ApprovalStatus": "Approved", "ApproverDecisions": decisions});
    let ran = match evaluate_outputs(step, &result) {
        Ok(outputs) => Ran::outcome(StepOutcome::Success { outputs, branch_choice: None }),
        Err(error) => Ran::outcome(StepOutcome::Failed(StepFailure::from_error(&error))),
    };
    Some(Ran { response: format!("Approved by {}", approvers.join(", ")), ..ran })
}

/// `MinRequiredApprovals` of resolved inputs (a number, or digits after a reference), at least 1.
fn min_required_approvals(inputs: &Value) -> usize {
    match inputs.get("MinRequiredApprovals") {
        Some(Value::Number(number)) => number.as_u64().unwrap_or(1) as usize,
        Some(Value::String(text)) => text.trim().parse().unwrap_or(1),
        _ => 1,
    }
    .max(1)
}

/// Whether `principal` (an access key id) is one of `approvers`.
fn is_approver(approvers: &[String], principal: &str) -> bool {
    approvers.iter().any(|entry| entry == principal || entry.rsplit('/').next() == Some(principal))
}

/// The waiting step row of an execution, if any (a step that ran before has a terminal row).
pub(super) async fn waiting_row(app: &AppState, execution_id: &str, step: &str) -> Option<StepExecution> {
    let rows = app.store.list_step_executions(execution_id).await.ok()?;
    rows.into_iter().find(|row| row.status == "Waiting" && row.step_name == step)
}

/// Looks at the waiting step's signals: `Some` when they end the step.
pub(super) async fn decide(app: &AppState, execution_id: &str, step: &Step, inputs: &Value) -> Option<Ran> {
    let row = waiting_row(app, execution_id, &step.name).await?;
    outcome(step, inputs, &stored_signals(&row.response))
}

fn invalid_signal(message: impl Into<String>) -> SsmError {
    SsmError::new("InvalidAutomationSignalException", message)
}

/// SendAutomationSignal: checks the signal against the step that waits and stores it there. The
/// waiting step's task notices it within a poll period and ends the step.
pub(crate) async fn send_automation_signal(
    state: &AppState,
    principal: &Principal,
    input: Value,
) -> Result<Value, SsmError> {
    let text = |key: &str| input.get(key).and_then(Value::as_str).map(str::to_owned);
    let id = text("AutomationExecutionId")
        .ok_or_else(|| SsmError::validation("automationExecutionId", "null", "Member must not be null"))?;
    if id.len() != 36 {
        return Err(SsmError::validation(
            "automationExecutionId",
            &id,
            "Member must have length less than or equal to 36 and greater than or equal to 36",
        ));
    }
    let kind =
        text("SignalType").ok_or_else(|| SsmError::validation("signalType", "null", "Member must not be null"))?;
    if !SIGNAL_TYPES.contains(&kind.as_str()) {
        return Err(SsmError::validation(
            "signalType",
            &kind,
            &format!("Member must satisfy enum value set: [{}]", SIGNAL_TYPES.join(", ")),
        ));
    }
    let payload: BTreeMap<String, Vec<String>> = match input.get("Payload") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|_| SsmError::new("SerializationException", "Payload must map names to lists of strings."))?,
    };
    let first = |key: &str| payload.get(key).and_then(|values| values.first()).cloned();
    let _guard = SIGNAL_LOCK.lock().await;
    let execution = state.store.get_automation_execution(&id).await?.ok_or_else(|| {
        SsmError::new("AutomationExecutionNotFoundException", format!("Automation execution {id} is not found."))
    })?;
    if matches!(kind.as_str(), "StartStep" | "StopStep") {
        return Err(invalid_signal(format!(
            "Signal {kind} is for executions in Interactive mode, which fleetrun does not run."
        )));
    }
    let rows = state.store.list_step_executions(&id).await?;
    if let Some(name) = first("StepName")
        && !rows.iter().any(|row| row.step_name == name)
    {
        return Err(SsmError::new(
            "AutomationStepNotFoundException",
            format!("Step {name} is not found in automation execution {id}."),
        ));
    }
    let wanted = if kind == "Resume" { "aws:pause" } else { "aws:approve" };
    let not_waiting = || {
        invalid_signal(format!(
            "Signal {kind} is not valid for automation execution {id}: it is {} and no {wanted} step waits for a signal.",
            execution.status
        ))
    };
    if execution.status != "Waiting" {
        return Err(not_waiting());
    }
    let mut row =
        rows.into_iter().find(|row| row.status == "Waiting" && row.action == wanted).ok_or_else(not_waiting)?;
    if let Some(name) = first("StepName")
        && name != row.step_name
    {
        return Err(invalid_signal(format!("Step {name} is not waiting for a signal; step {} is.", row.step_name)));
    }
    let mut signals = stored_signals(&row.response);
    let caller = principal.access_key_id().to_owned();
    if wanted == "aws:approve" {
        let inputs: BTreeMap<String, String> = serde_json::from_str(&row.inputs_json).unwrap_or_default();
        let approvers: Vec<String> =
            inputs.get("Approvers").and_then(|raw| serde_json::from_str(raw).ok()).unwrap_or_default();
        if !is_approver(&approvers, &caller) {
            return Err(invalid_signal(format!(
                "{caller} is not one of the approvers of step {}: {}.",
                row.step_name,
                approvers.join(", ")
            )));
        }
        if signals.iter().any(|signal| signal.principal == caller) {
            return Err(invalid_signal(format!("{caller} already decided step {}.", row.step_name)));
        }
    } else if signals.iter().any(|signal| signal.kind == "Resume") {
        return Err(invalid_signal(format!("Step {} was already resumed.", row.step_name)));
    }
    let comment = payload.get("Comment").map(|lines| lines.join("\n")).unwrap_or_default();
    signals.push(Signal { kind: kind.clone(), principal: caller, comment, time_ms: now_ms() });
    row.response = encode_signals(&signals);
    state.store.put_step_execution(&row).await?;
    tracing::info!(execution_id = %id, step = %row.step_name, signal = %kind, "Automation signal stored.");
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetrun_core::automation::validate_runbook;
    use fleetrun_core::document::DocumentFormat;

    fn step(action: &str, inputs: &str) -> Step {
        let content =
            format!("schemaVersion: '0.3'\nmainSteps:\n  - {{name: s, action: {action}, inputs: {inputs}}}\n");
        validate_runbook(&content, DocumentFormat::Yaml).unwrap().steps.remove(0)
    }

    fn signal(kind: &str, principal: &str) -> Signal {
        Signal { kind: kind.into(), principal: principal.into(), comment: "c".into(), time_ms: 1 }
    }

    #[test]
    fn pause_ends_on_resume_only() {
        let pause = step("aws:pause", "{}");
        assert!(outcome(&pause, &json!({}), &[]).is_none());
        assert!(outcome(&pause, &json!({}), &[signal("Approve", "a")]).is_none());
        let ran = outcome(&pause, &json!({}), &[signal("Resume", "a")]).unwrap();
        assert!(matches!(ran.outcome, StepOutcome::Success { .. }));
    }

    #[test]
    fn approval_counts_distinct_approvers_and_a_reject_fails() {
        let approve = step("aws:approve", "{Approvers: [a, b], MinRequiredApprovals: 2}");
        let inputs = json!({"Approvers": ["a", "b"], "MinRequiredApprovals": 2});
        assert!(outcome(&approve, &inputs, &[signal("Approve", "a")]).is_none());
        let ran = outcome(&approve, &inputs, &[signal("Approve", "a"), signal("Approve", "b")]).unwrap();
        let StepOutcome::Success { outputs, .. } = ran.outcome else { panic!("approved") };
        assert_eq!(outputs.to_wire()["ApprovalStatus"], ["Approved"]);
        assert_eq!(outputs.to_wire()["ApproverDecisions"].len(), 2);
        let ran = outcome(&approve, &inputs, &[signal("Approve", "a"), signal("Reject", "b")]).unwrap();
        let StepOutcome::Failed(failure) = ran.outcome else { panic!("rejected") };
        assert!(failure.message.contains("rejected by approver b: c"), "{}", failure.message);
        assert_eq!(min_required_approvals(&json!({})), 1);
    }

    #[test]
    fn approvers_match_key_ids_and_arn_tails() {
        let approvers = vec!["AKIA1".to_owned(), "arn:aws:iam::1:user/AKIA2".to_owned()];
        assert!(is_approver(&approvers, "AKIA1"));
        assert!(is_approver(&approvers, "AKIA2"));
        assert!(!is_approver(&approvers, "AKIA3"));
    }

    #[test]
    fn signals_round_trip_and_other_responses_hold_none() {
        let signals = vec![signal("Approve", "a"), signal("Reject", "b")];
        assert_eq!(stored_signals(&encode_signals(&signals)), signals);
        assert!(stored_signals("Command 1 ended Success").is_empty());
    }
}
