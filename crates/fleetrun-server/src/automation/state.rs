//! Where an execution's [`ExecutionState`] is kept between steps and across restarts: in the
//! execution row's `outputs_json`, next to the runbook-level outputs the API shows.
//!
//! ```json
//! {"Outputs": {"step.Output": ["value"]},
//!  "State": {"CancelRequested": false,
//!            "Runs": [{"Step": "s", "Attempts": 1, "Status": "Success", "Row": 0, "StartMs": 1, "EndMs": 2,
//!                      "Outputs": {"Name": {"Type": "String", "Value": "v"}}, "BranchChoice": null,
//!                      "Failure": {"Message": "…", "Stage": "Invocation", "Type": "Action", "Details": {…}}}]}}
//! ```
//!
//! `Row` is the step execution row (`step_index`) that shows the run. The core types carry no
//! serde (serialization belongs at the boundaries), so the conversion is written out here. The
//! whole document is rewritten with every compare-and-swap update of the row, so the state and
//! the status the API shows never disagree.

use fleetrun_core::automation::{
    ExecutionState, FailureDetails, FailureStage, FailureType, StepFailure, StepOutputs, StepRun, StepStatus,
};
use fleetrun_core::document::ParamValue;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// What the driver keeps for each run besides the core's [`StepRun`].
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct RunExtra {
    pub row: i64,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// The state with the driver's extras, run by run.
#[derive(Clone, Debug, Default)]
pub(super) struct Persisted {
    pub state: ExecutionState,
    pub extras: Vec<RunExtra>,
}

/// Reads `outputs_json`'s `Outputs` for the API.
pub(crate) struct PersistedOutputs;

impl PersistedOutputs {
    pub(crate) fn outputs(outputs_json: &str) -> Value {
        serde_json::from_str::<Value>(outputs_json)
            .ok()
            .and_then(|value| value.get("Outputs").cloned())
            .unwrap_or_else(|| json!({}))
    }
}

pub(super) fn encode(persisted: &Persisted, outputs: &BTreeMap<String, Vec<String>>) -> String {
    let runs: Vec<Value> = persisted
        .state
        .runs
        .iter()
        .zip(&persisted.extras)
        .map(|(run, extra)| {
            let step_outputs: Map<String, Value> = run
                .outputs
                .iter()
                .map(|(name, value)| (name.to_owned(), json!({"Type": kind(value), "Value": value.to_json()})))
                .collect();
            json!({
                "Step": run.step,
                "Attempts": run.attempts,
                "Status": run.status.as_str(),
                "Outputs": step_outputs,
                "Failure": run.failure.as_ref().map(failure_json),
                "BranchChoice": run.branch_choice,
                "Row": extra.row,
                "StartMs": extra.start_ms,
                "EndMs": extra.end_ms,
            })
        })
        .collect();
    json!({
        "Outputs": outputs,
        "State": {"CancelRequested": persisted.state.cancel_requested, "Runs": runs},
    })
    .to_string()
}

/// Reads what [`encode`] wrote; a row without a state (a new execution) gives the empty state.
pub(super) fn decode(outputs_json: &str) -> Result<Persisted, String> {
    let value: Value = serde_json::from_str(outputs_json).map_err(|e| format!("outputs_json is not JSON: {e}"))?;
    let Some(state) = value.get("State") else {
        return Ok(Persisted::default());
    };
    let mut persisted = Persisted::default();
    persisted.state.cancel_requested = state.get("CancelRequested").and_then(Value::as_bool).unwrap_or(false);
    for run in state.get("Runs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        let text = |key: &str| run.get(key).and_then(Value::as_str).map(str::to_owned);
        let number = |key: &str| run.get(key).and_then(Value::as_i64).unwrap_or(0);
        let status = text("Status").and_then(|s| StepStatus::parse(&s)).ok_or("a run has no valid Status")?;
        let mut outputs = StepOutputs::new();
        for (name, typed) in run.get("Outputs").and_then(Value::as_object).into_iter().flatten() {
            let value = param_value(typed).ok_or_else(|| format!("output {name} is not a typed value"))?;
            outputs.insert(name.clone(), value);
        }
        persisted.state.runs.push(StepRun {
            step: text("Step").ok_or("a run has no Step")?,
            attempts: number("Attempts").max(1) as u32,
            status,
            outputs,
            failure: run.get("Failure").filter(|f| !f.is_null()).map(failure_from_json),
            branch_choice: text("BranchChoice"),
        });
        persisted.extras.push(RunExtra { row: number("Row"), start_ms: number("StartMs"), end_ms: number("EndMs") });
    }
    Ok(persisted)
}

pub(super) fn failure_json(failure: &StepFailure) -> Value {
    json!({
        "Message": failure.message,
        "Stage": failure.details.stage.as_str(),
        "Type": failure.details.failure_type.as_str(),
        "Details": failure.details.details,
    })
}

/// SSM's `FailureDetails` shape.
pub(super) fn failure_details_wire(failure: &StepFailure) -> Value {
    json!({
        "FailureStage": failure.details.stage.as_str(),
        "FailureType": failure.details.failure_type.as_str(),
        "Details": failure.details.details,
    })
}

fn failure_from_json(value: &Value) -> StepFailure {
    let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default();
    let stage = [
        FailureStage::InputValidation,
        FailureStage::PreVerification,
        FailureStage::Invocation,
        FailureStage::PostVerification,
    ]
    .into_iter()
    .find(|s| s.as_str() == text("Stage"))
    .unwrap_or(FailureStage::Invocation);
    let failure_type = [
        FailureType::Action,
        FailureType::Permission,
        FailureType::Throttling,
        FailureType::Verification,
        FailureType::Internal,
    ]
    .into_iter()
    .find(|t| t.as_str() == text("Type"))
    .unwrap_or(FailureType::Internal);
    let details = value.get("Details").cloned().and_then(|d| serde_json::from_value(d).ok()).unwrap_or_default();
    StepFailure { message: text("Message").to_owned(), details: FailureDetails { stage, failure_type, details } }
}

fn kind(value: &ParamValue) -> &'static str {
    match value {
        ParamValue::String(_) => "String",
        ParamValue::StringList(_) => "StringList",
        ParamValue::Integer(_) => "Integer",
        ParamValue::Boolean(_) => "Boolean",
        ParamValue::StringMap(_) => "StringMap",
        ParamValue::MapList(_) => "MapList",
    }
}

fn param_value(typed: &Value) -> Option<ParamValue> {
    let value = typed.get("Value")?;
    Some(match typed.get("Type")?.as_str()? {
        "String" => ParamValue::String(value.as_str()?.to_owned()),
        "StringList" => ParamValue::StringList(
            value.as_array()?.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<_>>()?,
        ),
        "Integer" => ParamValue::Integer(value.as_i64()?),
        "Boolean" => ParamValue::Boolean(value.as_bool()?),
        "StringMap" => ParamValue::StringMap(value.as_object()?.clone()),
        "MapList" => ParamValue::MapList(value.as_array()?.clone()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetrun_core::automation::{FailurePoint, StepFailure};

    #[test]
    fn state_round_trips() {
        let mut outputs = StepOutputs::new();
        outputs.insert("s", ParamValue::String("x".into()));
        outputs.insert("n", ParamValue::Integer(3));
        outputs.insert("l", ParamValue::StringList(vec!["a".into()]));
        outputs.insert("m", ParamValue::StringMap(serde_json::from_str(r#"{"k":1}"#).unwrap()));
        let failure = StepFailure::new(FailurePoint::Polling, FailureType::Action, "Traceback: boom");
        let persisted = Persisted {
            state: ExecutionState {
                runs: vec![
                    StepRun {
                        step: "a".into(),
                        attempts: 2,
                        status: StepStatus::Success,
                        outputs,
                        failure: None,
                        branch_choice: Some("b".into()),
                    },
                    StepRun {
                        step: "b".into(),
                        attempts: 1,
                        status: StepStatus::Failed,
                        outputs: StepOutputs::new(),
                        failure: Some(failure),
                        branch_choice: None,
                    },
                ],
                cancel_requested: true,
            },
            extras: vec![RunExtra { row: 0, start_ms: 1, end_ms: 2 }, RunExtra { row: 3, start_ms: 4, end_ms: 0 }],
        };
        let text = encode(&persisted, &BTreeMap::from([("a.s".to_owned(), vec!["x".to_owned()])]));
        let back = decode(&text).unwrap();
        assert_eq!(back.state, persisted.state);
        assert_eq!(back.extras, persisted.extras);
        assert_eq!(PersistedOutputs::outputs(&text), json!({"a.s": ["x"]}));
        assert_eq!(decode("{}").unwrap().state, ExecutionState::default());
    }
}
