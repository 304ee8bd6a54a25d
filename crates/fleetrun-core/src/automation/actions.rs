//! The supported actions and the checks on their `inputs` at CreateDocument. Each action accepts
//! a known set of inputs; an unknown one is refused, so a typo (`handler` for `Handler`) is
//! reported instead of silently ignored.
//!
//! The bigger actions have files of their own (`script.rs`, `branch.rs`, `sleep.rs`); this file
//! dispatches to them and holds the small ones (`aws:runCommand`, `aws:approve`, `aws:pause`).

use serde_json::{Map, Value};

use crate::document::ParamDecl;

use super::error::RunbookError;
use super::model::Action;
use super::refs::whole_reference;

/// The inputs of `aws:runCommand`: SendCommand's request members.
const RUN_COMMAND_INPUTS: [&str; 17] = [
    "DocumentName",
    "DocumentVersion",
    "DocumentHash",
    "DocumentHashType",
    "InstanceIds",
    "Targets",
    "Parameters",
    "Comment",
    "TimeoutSeconds",
    "OutputS3BucketName",
    "OutputS3KeyPrefix",
    "OutputS3Region",
    "MaxConcurrency",
    "MaxErrors",
    "ServiceRoleArn",
    "NotificationConfig",
    "CloudWatchOutputConfig",
];

const APPROVE_INPUTS: [&str; 4] = ["NotificationArn", "Message", "MinRequiredApprovals", "Approvers"];

/// The most approvers an `aws:approve` step may list.
pub const MAX_APPROVERS: usize = 10;
/// The longest `aws:approve` message, in characters.
pub const MAX_APPROVAL_MESSAGE_CHARS: usize = 4096;

/// Checks `inputs` for `action` and returns the validated action.
pub(super) fn parse_action(
    step: &str,
    action: &str,
    inputs: &Value,
    parameters: &[ParamDecl],
) -> Result<Action, RunbookError> {
    let empty = Map::new();
    let inputs = match inputs {
        Value::Object(map) => map,
        // parse_document already insists on a mapping; be safe anyway.
        _ => &empty,
    };
    match action {
        "aws:executeScript" => super::script::parse_script_inputs(step, inputs, parameters).map(Action::ExecuteScript),
        "aws:runCommand" => check_run_command(step, inputs).map(|()| Action::RunCommand),
        "aws:branch" => super::branch::parse_branch(step, inputs).map(Action::Branch),
        "aws:sleep" => super::sleep::check_sleep_inputs(step, inputs).map(|()| Action::Sleep),
        "aws:pause" => check_known_inputs(step, "aws:pause", inputs, &[]).map(|()| Action::Pause),
        "aws:approve" => check_approve(step, inputs).map(|()| Action::Approve),
        _ => Err(RunbookError::UnsupportedAction { step: step.to_owned(), action: action.to_owned() }),
    }
}

/// Refuses any input of `inputs` that is not in `known`.
pub(super) fn check_known_inputs(
    step: &str,
    action: &'static str,
    inputs: &Map<String, Value>,
    known: &[&str],
) -> Result<(), RunbookError> {
    match inputs.keys().find(|key| !known.contains(&key.as_str())) {
        Some(field) => Err(RunbookError::UnknownInput { step: step.to_owned(), field: field.clone(), action }),
        None => Ok(()),
    }
}

/// `DocumentName` is required, and so is one of `InstanceIds` and `Targets`.
fn check_run_command(step: &str, inputs: &Map<String, Value>) -> Result<(), RunbookError> {
    check_known_inputs(step, "aws:runCommand", inputs, &RUN_COMMAND_INPUTS)?;
    let invalid = |field: &str, reason: &str| RunbookError::InvalidInput {
        step: step.to_owned(),
        field: field.to_owned(),
        reason: reason.to_owned(),
    };
    match inputs.get("DocumentName") {
        None | Some(Value::Null) => {
            return Err(RunbookError::MissingInput { step: step.to_owned(), field: "DocumentName".to_owned() });
        }
        Some(Value::String(name)) if !name.is_empty() => {}
        Some(_) => return Err(invalid("DocumentName", "it must be a non-empty string")),
    }
    let present = |field: &str| inputs.get(field).is_some_and(|value| !value.is_null());
    if !present("InstanceIds") && !present("Targets") {
        return Err(RunbookError::MissingInput { step: step.to_owned(), field: "InstanceIds".to_owned() });
    }
    if let Some(parameters) = inputs.get("Parameters")
        && !parameters.is_object()
        && !is_reference(parameters)
    {
        return Err(invalid("Parameters", "it must be a mapping"));
    }
    Ok(())
}

/// `Approvers` is required (1 to 10 principals); `MinRequiredApprovals`, when given, is a
/// positive integer no greater than the number of approvers; `Message` is at most 4096
/// characters. A `{{ reference }}` in place of a value is checked when the step runs.
fn check_approve(step: &str, inputs: &Map<String, Value>) -> Result<(), RunbookError> {
    check_known_inputs(step, "aws:approve", inputs, &APPROVE_INPUTS)?;
    let invalid = |field: &str, reason: String| RunbookError::InvalidInput {
        step: step.to_owned(),
        field: field.to_owned(),
        reason,
    };
    let approvers = match inputs.get("Approvers") {
        None | Some(Value::Null) => {
            return Err(RunbookError::MissingInput { step: step.to_owned(), field: "Approvers".to_owned() });
        }
        Some(value) if is_reference(value) => None,
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(Value::is_string) => Some(items.len()),
        Some(_) => return Err(invalid("Approvers", "it must be a non-empty list of principals".to_owned())),
    };
    if let Some(count) = approvers
        && count > MAX_APPROVERS
    {
        return Err(invalid("Approvers", format!("it may list at most {MAX_APPROVERS} principals")));
    }
    let minimum = match inputs.get("MinRequiredApprovals") {
        None | Some(Value::Null) => None,
        Some(value) if is_reference(value) => None,
        Some(Value::Number(number)) => match number.as_u64() {
            Some(minimum) if minimum >= 1 => Some(minimum),
            _ => return Err(invalid("MinRequiredApprovals", "it must be a positive integer".to_owned())),
        },
        Some(_) => return Err(invalid("MinRequiredApprovals", "it must be a positive integer".to_owned())),
    };
    if let (Some(minimum), Some(count)) = (minimum, approvers)
        && minimum > count as u64
    {
        return Err(invalid(
            "MinRequiredApprovals",
            format!("it is {minimum}, more than the {count} approvers listed"),
        ));
    }
    match inputs.get("Message") {
        None | Some(Value::Null) => {}
        Some(Value::String(message)) if message.chars().count() <= MAX_APPROVAL_MESSAGE_CHARS => {}
        Some(Value::String(_)) => {
            return Err(invalid("Message", format!("it may be at most {MAX_APPROVAL_MESSAGE_CHARS} characters")));
        }
        Some(_) => return Err(invalid("Message", "it must be a string".to_owned())),
    }
    Ok(())
}

/// Whether `value` is a string that is exactly one `{{ reference }}`.
pub(super) fn is_reference(value: &Value) -> bool {
    value.as_str().is_some_and(|text| whole_reference(text).is_some())
}
