//! References in step inputs: `{{ Param }}`, `{{ step.Output }}`, `{{ automation:EXECUTION_ID }}`,
//! `{{ global:REGION }}` and friends. This file finds them, checks them when a runbook is created,
//! and resolves them against a [`Context`] when a step is about to run.
//!
//! Resolution follows SSM's rules: one pass, never recursive (a value that itself contains
//! `{{ x }}` stays as it is), a string that is exactly one reference becomes the value itself,
//! embedded references become text. Text between `{{ }}` that is not shaped like a reference
//! (`{{ a.b.c }}`, `{{ $x }}`) and `{{ssm:...}}` references are left as written; the latter are
//! for whoever consumes the value (an `aws:runCommand` resolves them at SendCommand).
//!
//! The `Script` input of `aws:executeScript` is never interpolated: script text is not generated
//! from user input (STYLE.md point 16). Scripts get their data through `InputPayload`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::document::{ParamValue, ResolvedParameters};

use super::error::{RunbookError, StepError};
use super::model::{Action, Runbook, Step};
use super::selector::StepOutputs;

/// `{{ anything-without-braces-or-spaces }}`; [`Reference::parse`] decides what it is.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\{\{\s*([^{}\s]+)\s*\}\}").expect("valid regex"));
static WHOLE_REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\{\{\s*([^{}\s]+)\s*\}\}$").expect("valid regex"));
static PARAMETER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_]+$").expect("valid regex"));
static STEP_OUTPUT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([a-zA-Z0-9_]+)\.([a-zA-Z0-9_]+)$").expect("valid regex"));

/// The `automation:` variables fleetrun knows.
pub const AUTOMATION_VARIABLES: [&str; 2] = ["EXECUTION_ID", "DOCUMENT_NAME"];
/// The `global:` variables fleetrun knows.
pub const GLOBAL_VARIABLES: [&str; 5] = ["ACCOUNT_ID", "REGION", "AWS_PARTITION", "DATE", "DATE_TIME"];

/// What a reference refers to, parsed from the text between `{{` and `}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reference<'a> {
    Parameter(&'a str),
    StepOutput { step: &'a str, output: &'a str },
    Automation(&'a str),
    Global(&'a str),
}

impl<'a> Reference<'a> {
    /// `None` for text that is left as written.
    pub(super) fn parse(inner: &'a str) -> Option<Self> {
        if let Some(name) = inner.strip_prefix("automation:") {
            return Some(Self::Automation(name));
        }
        if let Some(name) = inner.strip_prefix("global:") {
            return Some(Self::Global(name));
        }
        if PARAMETER.is_match(inner) {
            return Some(Self::Parameter(inner));
        }
        let captures = STEP_OUTPUT.captures(inner)?;
        let (step, output) = (captures.get(1)?.as_str(), captures.get(2)?.as_str());
        Some(Self::StepOutput { step, output })
    }
}

/// The reference `text` consists of, if it is exactly one (surrounding whitespace inside the
/// braces allowed): `"{{ InstanceId }}"` but not `"id-{{ InstanceId }}"`.
pub(super) fn whole_reference(text: &str) -> Option<Reference<'_>> {
    let inner = WHOLE_REFERENCE.captures(text)?.get(1)?.as_str();
    Reference::parse(inner)
}

/// Everything a step's inputs may refer to while an execution runs. The caller (the server's
/// driver) fills it in before each step; nothing here reads a clock or a store.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// From [`resolve_runbook_parameters`](super::resolve_runbook_parameters), with any
    /// `{{ssm:...}}` defaults already replaced by their values.
    pub parameters: &'a ResolvedParameters,
    /// Outputs of the steps that have succeeded so far, by step name; see
    /// [`ExecutionState::outputs_so_far`](super::ExecutionState::outputs_so_far).
    pub step_outputs: BTreeMap<&'a str, &'a StepOutputs>,
    pub execution_id: &'a str,
    pub document_name: &'a str,
    pub account_id: &'a str,
    pub region: &'a str,
    /// `aws` unless the deployment says otherwise.
    pub partition: &'a str,
    /// "Now" for `global:DATE` and `global:DATE_TIME`, in the time zone they should show (SSM
    /// uses UTC).
    pub now: OffsetDateTime,
}

impl Context<'_> {
    /// The value of the reference written between the braces (`"InstanceId"`,
    /// `"getInstance.platform"`, `"global:REGION"`); `Ok(None)` for text that is not a reference.
    pub fn lookup(&self, inner: &str) -> Result<Option<ParamValue>, StepError> {
        let unknown = || StepError::UnknownReference { reference: inner.to_owned() };
        let Some(reference) = Reference::parse(inner) else {
            return Ok(None);
        };
        let value = match reference {
            Reference::Parameter(name) => self.parameters.get(name).cloned().ok_or_else(unknown)?,
            Reference::StepOutput { step, output } => self
                .step_outputs
                .get(step)
                .and_then(|outputs| outputs.get(output))
                .cloned()
                .ok_or_else(|| StepError::OutputNotAvailable { step: step.to_owned(), output: output.to_owned() })?,
            Reference::Automation(name) => ParamValue::String(match name {
                "EXECUTION_ID" => self.execution_id.to_owned(),
                "DOCUMENT_NAME" => self.document_name.to_owned(),
                _ => return Err(unknown()),
            }),
            Reference::Global(name) => ParamValue::String(match name {
                "ACCOUNT_ID" => self.account_id.to_owned(),
                "REGION" => self.region.to_owned(),
                "AWS_PARTITION" => self.partition.to_owned(),
                "DATE" => self.format_now(format_description!("[year]-[month]-[day]")),
                "DATE_TIME" => self.format_now(format_description!("[year]-[month]-[day]_[hour].[minute].[second]")),
                _ => return Err(unknown()),
            }),
        };
        Ok(Some(value))
    }

    fn format_now(&self, format: &[time::format_description::BorrowedFormatItem<'_>]) -> String {
        // Formatting a date with only numeric components cannot fail for years 0..=9999.
        self.now.format(format).unwrap_or_default()
    }
}

/// Resolves every reference in `value`, recursively. Object keys are left alone.
///
/// A string that is exactly one reference becomes the value itself (a StringList stays a list,
/// a StringMap an object, an Integer a number). Inside a list, such a string whose value is a
/// StringList is spliced into the list, so `InstanceIds: ["{{ InstanceIds }}"]` gives a flat
/// list of ids, as SSM's own examples expect. Embedded references become text (lists and maps
/// as JSON).
pub fn resolve_value(value: &Value, ctx: &Context<'_>) -> Result<Value, StepError> {
    match value {
        Value::String(text) => resolve_string(text, ctx),
        Value::Array(items) => {
            let mut resolved = Vec::with_capacity(items.len());
            for item in items {
                match (item, resolve_value(item, ctx)?) {
                    (Value::String(text), Value::Array(spliced))
                        if whole_reference(text).is_some() && spliced.iter().all(Value::is_string) =>
                    {
                        resolved.extend(spliced)
                    }
                    (_, other) => resolved.push(other),
                }
            }
            Ok(Value::Array(resolved))
        }
        Value::Object(map) => map.iter().map(|(key, item)| Ok((key.clone(), resolve_value(item, ctx)?))).collect(),
        other => Ok(other.clone()),
    }
}

/// Resolves a step's inputs for running it: [`resolve_value`] on each input, except
/// `aws:executeScript`'s `Script`, which is passed through untouched.
///
/// Not for `aws:branch` steps, whose choices are resolved lazily by
/// [`evaluate_branch`](super::evaluate_branch) (a later choice may refer to a step that did not run).
pub fn resolve_step_inputs(step: &Step, ctx: &Context<'_>) -> Result<Value, StepError> {
    let Value::Object(inputs) = &step.inputs else {
        return resolve_value(&step.inputs, ctx);
    };
    let is_script = matches!(step.action, Action::ExecuteScript(_));
    let mut resolved = serde_json::Map::new();
    for (key, value) in inputs {
        let value = if is_script && key == "Script" { value.clone() } else { resolve_value(value, ctx)? };
        resolved.insert(key.clone(), value);
    }
    Ok(Value::Object(resolved))
}

/// Resolved inputs as SSM's `StepExecution.Inputs` shows them: every value JSON-encoded, so a
/// string `running` shows as `"\"running\""` and a list as `"[\"i-1\"]"`.
pub fn inputs_to_wire(resolved: &Value) -> BTreeMap<String, String> {
    match resolved {
        Value::Object(inputs) => inputs.iter().map(|(key, value)| (key.clone(), value.to_string())).collect(),
        _ => BTreeMap::new(),
    }
}

fn resolve_string(text: &str, ctx: &Context<'_>) -> Result<Value, StepError> {
    if let Some(captures) = WHOLE_REFERENCE.captures(text)
        && let Some(value) = ctx.lookup(&captures[1])?
    {
        return Ok(value.to_json());
    }
    let mut out = String::with_capacity(text.len());
    let mut copied_to = 0;
    for captures in REFERENCE.captures_iter(text) {
        let Some(value) = ctx.lookup(&captures[1])? else {
            continue;
        };
        let whole = captures.get(0).expect("group 0 always participates");
        out.push_str(&text[copied_to..whole.start()]);
        out.push_str(&value.to_text());
        copied_to = whole.end();
    }
    out.push_str(&text[copied_to..]);
    Ok(Value::String(out))
}

/// Checks, at CreateDocument, that every reference in `step`'s inputs can be resolved at run
/// time: parameters are declared, `step.Output` names a step and one of its outputs (declared or
/// built in), variables are known. `Script` is skipped, as it is never interpolated.
pub(super) fn check_step_references(runbook: &Runbook, step: &Step) -> Result<(), RunbookError> {
    let Value::Object(inputs) = &step.inputs else {
        return Ok(());
    };
    let is_script = matches!(step.action, Action::ExecuteScript(_));
    for (field, value) in inputs {
        if is_script && field == "Script" {
            continue;
        }
        let mut failure = Ok(());
        for_each_string(value, &mut |text| {
            if failure.is_ok() {
                failure = check_text(runbook, &step.name, field, text);
            }
        });
        failure?;
    }
    Ok(())
}

/// Checks the references in one string, reporting the first bad one for `step`'s input `field`.
pub(super) fn check_text(runbook: &Runbook, step: &str, field: &str, text: &str) -> Result<(), RunbookError> {
    for captures in REFERENCE.captures_iter(text) {
        let Some(reference) = Reference::parse(&captures[1]) else {
            continue;
        };
        let invalid = |reason| RunbookError::InvalidReference {
            step: step.to_owned(),
            field: field.to_owned(),
            reference: captures[0].to_owned(),
            reason,
        };
        match reference {
            Reference::Parameter(name) if runbook.document.parameter(name).is_none() => {
                return Err(invalid("no parameter of that name is declared"));
            }
            Reference::StepOutput { step: target, output } => match runbook.step(target) {
                None => return Err(invalid("no step of that name exists")),
                Some(target) if !target.has_output(output) => {
                    return Err(invalid("that step has no output of that name"));
                }
                Some(_) => {}
            },
            Reference::Automation(name) if !AUTOMATION_VARIABLES.contains(&name) => {
                return Err(invalid("the automation variables are EXECUTION_ID and DOCUMENT_NAME"));
            }
            Reference::Global(name) if !GLOBAL_VARIABLES.contains(&name) => {
                return Err(invalid("the global variables are ACCOUNT_ID, REGION, AWS_PARTITION, DATE and DATE_TIME"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Calls `visit` on every string in `value`, depth first.
pub(super) fn for_each_string(value: &Value, visit: &mut dyn FnMut(&str)) {
    match value {
        Value::String(text) => visit(text),
        Value::Array(items) => items.iter().for_each(|item| for_each_string(item, visit)),
        Value::Object(map) => map.values().for_each(|item| for_each_string(item, visit)),
        _ => {}
    }
}
