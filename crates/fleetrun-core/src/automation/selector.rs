//! Step outputs: JSONPath [`Selector`]s evaluated over a step's result, the conversion of what
//! they select to the output's `Type`, and the `map<string, list<string>>` form SSM shows for
//! step outputs and runbook outputs.
//!
//! Selectors are parsed with `serde_json_path` (RFC 9535). SSM documents JSONPath "starting with
//! `$.`" with child `.`, deep scan `..` and index `[n]`; those behave the same in RFC 9535. A
//! selector that can select several nodes (deep scan, wildcard, slice, filter, union) always gives
//! a list, as SSM's deep scan does, so it suits StringList and MapList outputs; a selector that can
//! select at most one node gives that node's value.
//!
//! How values show on the wire (fleetrun's decision, matching what SSM samples show for String
//! and StringMap): String, Integer and Boolean are one text each; a StringList is its items; a
//! StringMap is one compact JSON object text; a MapList is one compact JSON object text per map.

use std::collections::BTreeMap;

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::document::{ParamType, ParamValue};

use super::error::StepError;
use super::flow::{ExecutionState, StepStatus};
use super::model::{OutputDecl, Runbook, Step};

/// What a runbook output shows for a step that has not succeeded (text observed from SSM).
pub const NO_OUTPUT_YET: &str = "No output available yet because the step is not successfully executed";

/// A step output's value. The six output types are the six parameter types.
pub type OutputValue = ParamValue;

/// A parsed output `Selector`.
#[derive(Debug, Clone)]
pub struct Selector {
    text: String,
    path: JsonPath,
    // Whether the query selects at most one node (only name and index segments).
    singular: bool,
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Selector {
    /// Parses `text`, which must start with `$.` or `$[` (SSM's selectors are never the bare
    /// root) and be valid RFC 9535 JSONPath. The error is a reason for a message.
    pub fn parse(text: &str) -> Result<Self, String> {
        if !(text.starts_with("$.") || text.starts_with("$[")) {
            return Err("a selector starts with \"$.\", e.g. \"$.Payload.message\"".to_owned());
        }
        let path = JsonPath::parse(text).map_err(|error| format!("not valid JSONPath: {error}"))?;
        Ok(Selector { text: text.to_owned(), path, singular: is_singular(text) })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the selector can select at most one node.
    pub fn is_singular(&self) -> bool {
        self.singular
    }

    /// What the selector selects in `result`: the node itself for a singular selector (`None`
    /// when it is missing or null), otherwise the list of nodes (`None` when empty).
    pub fn select(&self, result: &Value) -> Option<Value> {
        let nodes = self.path.query(result);
        if self.singular {
            nodes.first().filter(|value| !value.is_null()).cloned()
        } else if nodes.is_empty() {
            None
        } else {
            Some(Value::Array(nodes.iter().map(|value| (*value).clone()).collect()))
        }
    }
}

/// Whether a JSONPath query has only singular segments: no `..`, `*`, filter `?`, slice `:` or
/// union `,` outside quoted names. (`serde_json_path` knows this but does not expose it.)
fn is_singular(text: &str) -> bool {
    let mut quote = None;
    let mut escaped = false;
    let mut previous = '\0';
    for c in text.chars() {
        match quote {
            Some(open) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == open {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => quote = Some(c),
                '*' | '?' | ':' | ',' => return false,
                '.' if previous == '.' => return false,
                _ => {}
            },
        }
        previous = c;
    }
    true
}

/// A step's outputs, by name. Built by [`evaluate_outputs`] or by the driver (e.g. `aws:approve`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepOutputs {
    values: BTreeMap<String, OutputValue>,
}

impl StepOutputs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, name: &str) -> Option<&OutputValue> {
        self.values.get(name)
    }

    pub fn insert(&mut self, name: impl Into<String>, value: OutputValue) {
        self.values.insert(name.into(), value);
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Names and values, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &OutputValue)> {
        self.values.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// SSM's `StepExecution.Outputs`.
    pub fn to_wire(&self) -> BTreeMap<String, Vec<String>> {
        self.values.iter().map(|(name, value)| (name.clone(), output_to_wire(value))).collect()
    }
}

impl FromIterator<(String, OutputValue)> for StepOutputs {
    fn from_iter<I: IntoIterator<Item = (String, OutputValue)>>(iter: I) -> Self {
        StepOutputs { values: iter.into_iter().collect() }
    }
}

/// One output value as SSM's `list<string>` (see the module docs).
pub fn output_to_wire(value: &OutputValue) -> Vec<String> {
    match value {
        ParamValue::String(text) => vec![text.clone()],
        ParamValue::Integer(number) => vec![number.to_string()],
        ParamValue::Boolean(flag) => vec![flag.to_string()],
        ParamValue::StringList(items) => items.clone(),
        ParamValue::StringMap(map) => vec![Value::Object(map.clone()).to_string()],
        ParamValue::MapList(items) => items.iter().map(Value::to_string).collect(),
    }
}

/// Evaluates `step`'s outputs over its `result` (for `aws:executeScript`, `{"Payload": ...}`; for
/// `aws:runCommand`, `{"CommandId", "Status", "ResponseCode", "Output"}`): first the action's
/// built-in outputs that `result` has, then every declared output, which wins over a built-in of
/// the same name. An output whose selector selects nothing (or null) is left out. A value that
/// does not fit the output's type is an error naming the output.
pub fn evaluate_outputs(step: &Step, result: &Value) -> Result<StepOutputs, StepError> {
    let mut outputs = StepOutputs::new();
    for builtin in step.action.builtin_outputs() {
        let value = match builtin.selector {
            None => Some(OutputValue::String(result.to_string())),
            Some(selector) => {
                let selector = Selector::parse(selector).expect("built-in selectors are valid");
                match selector.select(result) {
                    Some(selected) => Some(convert(builtin.name, &selector, builtin.kind, &selected)?),
                    None => None,
                }
            }
        };
        if let Some(value) = value {
            outputs.insert(builtin.name, value);
        }
    }
    for decl in &step.outputs {
        if let Some(selected) = decl.selector.select(result) {
            outputs.insert(decl.name.clone(), convert_output(decl, &selected)?);
        }
    }
    Ok(outputs)
}

/// Converts what `decl`'s selector selected to `decl`'s type.
///
/// String takes a string, or a number or boolean as its text. Integer takes a whole number.
/// Boolean takes a boolean. StringList takes a list of strings (numbers and booleans become
/// text). StringMap takes an object. MapList takes a list of objects. Anything else is
/// [`StepError::OutputTypeMismatch`].
pub fn convert_output(decl: &OutputDecl, selected: &Value) -> Result<OutputValue, StepError> {
    convert(&decl.name, &decl.selector, decl.kind, selected)
}

fn convert(name: &str, selector: &Selector, kind: ParamType, selected: &Value) -> Result<OutputValue, StepError> {
    let mismatch = || StepError::OutputTypeMismatch {
        output: name.to_owned(),
        selector: selector.as_str().to_owned(),
        expected: kind.as_str(),
        found: describe(selected),
    };
    let value = match (kind, selected) {
        (ParamType::String, _) => OutputValue::String(scalar_text(selected).ok_or_else(mismatch)?),
        (ParamType::Integer, Value::Number(number)) => OutputValue::Integer(whole_number(number).ok_or_else(mismatch)?),
        (ParamType::Boolean, Value::Bool(flag)) => OutputValue::Boolean(*flag),
        (ParamType::StringList, Value::Array(items)) => {
            OutputValue::StringList(items.iter().map(scalar_text).collect::<Option<_>>().ok_or_else(mismatch)?)
        }
        (ParamType::StringMap, Value::Object(map)) => OutputValue::StringMap(map.clone()),
        (ParamType::MapList, Value::Array(items)) if items.iter().all(Value::is_object) => {
            OutputValue::MapList(items.clone())
        }
        _ => return Err(mismatch()),
    };
    Ok(value)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// An integer, or a float with no fractional part that fits (`3.0` is 3).
fn whole_number(number: &serde_json::Number) -> Option<i64> {
    number.as_i64().or_else(|| {
        let float = number.as_f64()?;
        // i64::MAX as f64 rounds up to 2^63, so the upper bound must be exclusive.
        (float.fract() == 0.0 && float >= i64::MIN as f64 && float < i64::MAX as f64).then_some(float as i64)
    })
}

/// A short description of a selected value for a mismatch message: its kind, and the value
/// itself when that is short.
fn describe(value: &Value) -> String {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    let text = value.to_string();
    if text.chars().count() <= 40 { format!("{kind} {text}") } else { kind.to_owned() }
}

/// The execution's `Outputs`: one entry per runbook output, `"step.Output"` → its values, from
/// the latest run of the step. A step whose latest run did not succeed (or that has not run)
/// shows [`NO_OUTPUT_YET`]; a successful step that produced no such output is left out.
pub fn runbook_outputs(runbook: &Runbook, state: &ExecutionState) -> BTreeMap<String, Vec<String>> {
    let mut outputs = BTreeMap::new();
    for entry in &runbook.outputs {
        let latest = state.runs.iter().rev().find(|run| run.step == entry.step);
        match latest {
            Some(run) if run.status == StepStatus::Success => {
                if let Some(value) = run.outputs.get(&entry.output) {
                    outputs.insert(entry.key(), output_to_wire(value));
                }
            }
            _ => {
                outputs.insert(entry.key(), vec![NO_OUTPUT_YET.to_owned()]);
            }
        }
    }
    outputs
}
