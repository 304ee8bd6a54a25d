//! [`validate_runbook`]: the checks SSM makes at CreateDocument for an Automation runbook, turning
//! content into a [`Runbook`].
//!
//! The document module does the generic part (syntax, size, schema version `0.3`, parameter
//! declarations, step names unique, `inputs` a mapping); this file reads what it leaves alone: the
//! step properties (`maxAttempts`, `onFailure`, `nextStep`, `outputs`, ...), the `files`,
//! `outputs` and `assumeRole` sections, each action's inputs, the references in inputs, and
//! whether the success path can loop forever.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::document::{DocumentFormat, DocumentKind, ParamType, StepDecl, convert, parse_document};

use super::actions::parse_action;
use super::error::RunbookError;
use super::model::{Action, FileDecl, OnCancel, OnFailure, OutputDecl, Runbook, RunbookOutput, Step};
use super::refs::{Reference, check_step_references, whole_reference};
use super::selector::Selector;

/// Runbook step names: stricter than Command documents, which also allow `-` and `.`.
static STEP_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_]+$").expect("valid regex"));
static OUTPUT_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_]+$").expect("valid regex"));

/// Parses and validates `content` as an Automation runbook (schema 0.3).
///
/// Every error names the step and the field (or the section) at fault; the server answers
/// `InvalidDocumentContent` with its text.
pub fn validate_runbook(content: &str, format: DocumentFormat) -> Result<Runbook, RunbookError> {
    let document = parse_document(content, format, DocumentKind::Automation)?;
    let raw = raw_json(content, format)?;
    let raw_steps = match raw.get("mainSteps") {
        Some(Value::Array(items)) => items.as_slice(),
        _ => &[],
    };
    let files = files(raw.get("files"))?;
    let assume_role = assume_role(&document, raw.get("assumeRole"))?;
    let mut steps = Vec::with_capacity(document.steps.len());
    for (decl, raw_step) in document.steps.iter().zip(raw_steps) {
        steps.push(step(decl, raw_step, &document.parameters)?);
    }
    let mut runbook = Runbook { document, assume_role, steps, outputs: Vec::new(), files };
    for step in &runbook.steps {
        check_targets(&runbook, step)?;
        check_attachment(&runbook, step)?;
        check_step_references(&runbook, step)?;
    }
    runbook.outputs = runbook_outputs(&runbook, raw.get("outputs"))?;
    check_success_loops(&runbook)?;
    Ok(runbook)
}

/// The content as `serde_json::Value`. YAML goes through the document module's converter so it
/// is read by the same loader (unique keys, budget) that `parse_document` already accepted.
fn raw_json(content: &str, format: DocumentFormat) -> Result<Value, RunbookError> {
    let json = match format {
        DocumentFormat::Json => content.to_owned(),
        DocumentFormat::Yaml => convert(content, DocumentFormat::Yaml, DocumentFormat::Json)?,
    };
    serde_json::from_str(&json)
        .map_err(|error| RunbookError::Document(crate::document::DocumentError::InvalidJson(error)))
}

/// One step: its name, action and inputs (already read by `parse_document`) and the properties
/// SSM shares between all actions.
fn step(decl: &StepDecl, raw: &Value, parameters: &[crate::document::ParamDecl]) -> Result<Step, RunbookError> {
    let name = decl.name.as_str();
    if !STEP_NAME.is_match(name) {
        return Err(RunbookError::InvalidStepName { step: name.to_owned() });
    }
    let empty = Map::new();
    let fields = raw.as_object().unwrap_or(&empty);
    let field = |key: &str| fields.get(key).filter(|value| !value.is_null());
    let invalid = |field: &'static str, expected: &'static str| RunbookError::InvalidStepField {
        step: name.to_owned(),
        field,
        expected,
    };
    let action = parse_action(name, &decl.action, &decl.inputs, parameters)?;
    let description = match field("description") {
        None => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err(invalid("description", "a string")),
    };
    let max_attempts = match field("maxAttempts") {
        None => 1,
        Some(value) => positive(value)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| invalid("maxAttempts", "an integer of at least 1"))?,
    };
    let timeout_seconds = match field("timeoutSeconds") {
        None => None,
        Some(value) => Some(positive(value).ok_or_else(|| invalid("timeoutSeconds", "an integer of at least 1"))?),
    };
    let on_failure = match field("onFailure") {
        None => OnFailure::Abort,
        Some(Value::String(text)) => match text.as_str() {
            abort if abort.eq_ignore_ascii_case("Abort") => OnFailure::Abort,
            cont if cont.eq_ignore_ascii_case("Continue") => OnFailure::Continue,
            other => match other.strip_prefix("step:") {
                Some(target) if !target.is_empty() => OnFailure::Step(target.to_owned()),
                _ => return Err(invalid("onFailure", "Abort, Continue or step:<step name>")),
            },
        },
        Some(_) => return Err(invalid("onFailure", "Abort, Continue or step:<step name>")),
    };
    let on_cancel = match field("onCancel") {
        None => OnCancel::Abort,
        Some(Value::String(text)) if text.eq_ignore_ascii_case("Abort") => OnCancel::Abort,
        Some(Value::String(text)) => match text.strip_prefix("step:") {
            Some(target) if !target.is_empty() => OnCancel::Step(target.to_owned()),
            _ => return Err(invalid("onCancel", "Abort or step:<step name>")),
        },
        Some(_) => return Err(invalid("onCancel", "Abort or step:<step name>")),
    };
    let is_end = match field("isEnd") {
        None => false,
        Some(value) => boolean(value).ok_or_else(|| invalid("isEnd", "true or false"))?,
    };
    let is_critical = match field("isCritical") {
        // SSM: "If the onFailure property is set to Continue, the value defaults to false."
        None => on_failure != OnFailure::Continue,
        Some(value) => boolean(value).ok_or_else(|| invalid("isCritical", "true or false"))?,
    };
    let next_step = match field("nextStep") {
        None => None,
        Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
        Some(_) => return Err(invalid("nextStep", "a step name")),
    };
    let outputs = outputs(name, &action, field("outputs"))?;
    Ok(Step {
        name: name.to_owned(),
        action,
        inputs: decl.inputs.clone(),
        description,
        max_attempts,
        timeout_seconds,
        on_failure,
        on_cancel,
        is_end,
        next_step,
        is_critical,
        outputs,
    })
}

/// A positive integer written as a number or as digits.
fn positive(value: &Value) -> Option<u64> {
    let number = match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.parse::<u64>().ok(),
        _ => None,
    };
    number.filter(|n| *n >= 1)
}

/// A boolean, or the text `true`/`false` in any case.
fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A step's `outputs`: a list of `{Name, Selector, Type}`.
fn outputs(step: &str, action: &Action, raw: Option<&Value>) -> Result<Vec<OutputDecl>, RunbookError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = raw else {
        return Err(RunbookError::InvalidStepField {
            step: step.to_owned(),
            field: "outputs",
            expected: "a list of {Name, Selector, Type} mappings",
        });
    };
    if !items.is_empty() && !action.has_result() {
        return Err(RunbookError::InvalidStepField {
            step: step.to_owned(),
            field: "outputs",
            expected: "absent: this action produces no result to select outputs from",
        });
    }
    let mut outputs: Vec<OutputDecl> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let label = item.get("Name").and_then(Value::as_str).map_or_else(|| format!("#{}", index + 1), str::to_owned);
        let invalid = |field: &'static str, reason: String| RunbookError::InvalidOutput {
            step: step.to_owned(),
            output: label.clone(),
            field,
            reason,
        };
        let text = |field: &'static str| match item.get(field) {
            Some(Value::String(text)) => Ok(text.as_str()),
            None | Some(Value::Null) => Err(invalid(field, "it is required".to_owned())),
            Some(_) => Err(invalid(field, "it must be a string".to_owned())),
        };
        if !item.is_object() {
            return Err(invalid("Name", "an output must be a mapping".to_owned()));
        }
        let name = text("Name")?;
        if !OUTPUT_NAME.is_match(name) {
            return Err(invalid("Name", "it must be one or more letters, digits or '_'".to_owned()));
        }
        let selector = Selector::parse(text("Selector")?).map_err(|reason| invalid("Selector", reason))?;
        let type_name = text("Type")?;
        let kind = ParamType::parse(type_name).ok_or_else(|| {
            invalid("Type", "it must be String, Integer, Boolean, StringList, StringMap or MapList".to_owned())
        })?;
        if outputs.iter().any(|output| output.name == name) {
            return Err(RunbookError::DuplicateOutput { step: step.to_owned(), output: name.to_owned() });
        }
        outputs.push(OutputDecl { name: name.to_owned(), selector, kind });
    }
    Ok(outputs)
}

/// The `files` section: `{"<name>": {"checksums": {"sha256": "<hex>"}, "size": n}}`.
fn files(raw: Option<&Value>) -> Result<Vec<FileDecl>, RunbookError> {
    let Some(raw) = raw.filter(|value| !value.is_null()) else {
        return Ok(Vec::new());
    };
    let Value::Object(entries) = raw else {
        return Err(RunbookError::InvalidTopField { field: "files", expected: "a mapping of attachment names" });
    };
    let mut files = Vec::with_capacity(entries.len());
    for (name, entry) in entries {
        let invalid = |reason| RunbookError::InvalidFile { name: name.clone(), reason };
        if name.is_empty() {
            return Err(invalid("an attachment name may not be empty"));
        }
        let sha256 = entry
            .get("checksums")
            .and_then(|checksums| checksums.get("sha256"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("it needs checksums.sha256"))?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("checksums.sha256 must be 64 hexadecimal digits"));
        }
        let size = match entry.get("size") {
            None | Some(Value::Null) => None,
            Some(value) => Some(value.as_u64().ok_or_else(|| invalid("size must be a non-negative integer"))?),
        };
        files.push(FileDecl { name: name.clone(), sha256: sha256.to_ascii_lowercase(), size });
    }
    Ok(files)
}

/// `assumeRole`: a constant, or exactly one reference to a declared parameter.
fn assume_role(document: &crate::document::Document, raw: Option<&Value>) -> Result<Option<String>, RunbookError> {
    let text = match raw {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => text,
        Some(_) => return Err(RunbookError::InvalidTopField { field: "assumeRole", expected: "a string" }),
    };
    if text.contains("{{") {
        match whole_reference(text) {
            Some(Reference::Parameter(name)) if document.parameter(name).is_some() => {}
            Some(Reference::Parameter(_)) => {
                return Err(RunbookError::InvalidAssumeRole {
                    reason: "it refers to a parameter that is not declared",
                });
            }
            _ => {
                return Err(RunbookError::InvalidAssumeRole {
                    reason: "it must be a constant ARN or exactly one {{ Parameter }} reference",
                });
            }
        }
    }
    Ok(Some(text.clone()))
}

/// Every step named by `nextStep`, `onFailure`, `onCancel` or a branch must exist.
fn check_targets(runbook: &Runbook, step: &Step) -> Result<(), RunbookError> {
    let mut targets: Vec<(String, &str)> = Vec::new();
    if let Some(next) = &step.next_step {
        targets.push(("nextStep".to_owned(), next));
    }
    if let OnFailure::Step(target) = &step.on_failure {
        targets.push(("onFailure".to_owned(), target));
    }
    if let OnCancel::Step(target) = &step.on_cancel {
        targets.push(("onCancel".to_owned(), target));
    }
    if let Action::Branch(branch) = &step.action {
        for (index, choice) in branch.choices.iter().enumerate() {
            targets.push((format!("inputs.Choices[{index}].NextStep"), &choice.next_step));
        }
        if let Some(default) = &branch.default {
            targets.push(("inputs.Default".to_owned(), default));
        }
    }
    match targets.into_iter().find(|(_, target)| runbook.step(target).is_none()) {
        Some((field, target)) => {
            Err(RunbookError::UnknownStep { step: step.name.clone(), field, target: target.to_owned() })
        }
        None => Ok(()),
    }
}

/// An `aws:executeScript` attachment must be declared in `files`.
fn check_attachment(runbook: &Runbook, step: &Step) -> Result<(), RunbookError> {
    if let Action::ExecuteScript(script) = &step.action
        && let Some(attachment) = &script.attachment
        && runbook.file(attachment).is_none()
    {
        return Err(RunbookError::UndeclaredAttachment { step: step.name.clone(), attachment: attachment.clone() });
    }
    Ok(())
}

/// The `outputs` section: a list of `"step.Output"` naming an existing step and one of its
/// outputs (declared or built in).
fn runbook_outputs(runbook: &Runbook, raw: Option<&Value>) -> Result<Vec<RunbookOutput>, RunbookError> {
    let items = match raw {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(RunbookError::InvalidTopField { field: "outputs", expected: "a list of \"step.Output\"" });
        }
    };
    let mut outputs = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(entry) = item else {
            return Err(RunbookError::InvalidTopField { field: "outputs", expected: "a list of \"step.Output\"" });
        };
        let invalid =
            |reason: &str| RunbookError::InvalidRunbookOutput { entry: entry.clone(), reason: reason.to_owned() };
        let Some((step, output)) = entry.split_once('.') else {
            return Err(invalid("it must be \"step.Output\""));
        };
        match runbook.step(step) {
            None => return Err(invalid("no step of that name exists")),
            Some(found) if !found.has_output(output) => return Err(invalid("that step has no output of that name")),
            Some(_) => outputs.push(RunbookOutput { step: step.to_owned(), output: output.to_owned() }),
        }
    }
    Ok(outputs)
}

/// Refuses a cycle that the execution follows when every step succeeds and no branch can leave
/// it: each step's success path is `nextStep`, or the following step unless `isEnd`, and a branch
/// step ends the walk (its choices decide). SSM also refuses runbooks that loop forever; a loop
/// through a branch or an `onFailure` jump can end, so it is allowed.
fn check_success_loops(runbook: &Runbook) -> Result<(), RunbookError> {
    let successor = |index: usize| -> Option<usize> {
        let step = &runbook.steps[index];
        if matches!(step.action, Action::Branch(_)) {
            return None;
        }
        match &step.next_step {
            Some(next) => runbook.step_index(next),
            None if step.is_end => None,
            None => (index + 1 < runbook.steps.len()).then_some(index + 1),
        }
    };
    let mut cleared: HashSet<usize> = HashSet::new();
    for start in 0..runbook.steps.len() {
        let mut path: Vec<usize> = Vec::new();
        let mut current = Some(start);
        while let Some(index) = current {
            if cleared.contains(&index) {
                break;
            }
            if let Some(at) = path.iter().position(|seen| *seen == index) {
                let mut cycle: Vec<String> = path[at..].iter().map(|i| runbook.steps[*i].name.clone()).collect();
                cycle.push(runbook.steps[index].name.clone());
                return Err(RunbookError::EndlessLoop { cycle });
            }
            path.push(index);
            current = successor(index);
        }
        cleared.extend(path);
    }
    Ok(())
}
