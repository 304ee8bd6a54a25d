//! `aws:branch`: reading `Choices` and `Default` at CreateDocument, and choosing the next step
//! when the branch runs.
//!
//! A choice is `NextStep` plus one condition: `Variable` with one comparison operator, or `And`
//! / `Or` (a list of conditions), or `Not` (one condition). Choices are tried in order and the
//! first true one wins; if none is, `Default` is taken, and without a `Default` the execution
//! goes on with the following step (or ends, when the branch step has `isEnd`). Variables and
//! operands are resolved only when their condition is evaluated, so a later choice may refer to
//! a step that did not run.

use serde_json::{Map, Value};

use super::actions::{check_known_inputs, is_reference};
use super::error::{RunbookError, StepError};
use super::refs::{Context, resolve_value};

/// What an `aws:branch` step declares.
#[derive(Debug, Clone, PartialEq)]
pub struct BranchDecl {
    /// At least one.
    pub choices: Vec<Choice>,
    /// Names an existing step (checked by validation).
    pub default: Option<String>,
}

/// One entry of `Choices`.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Names an existing step (checked by validation).
    pub next_step: String,
    pub condition: Condition,
}

/// A boolean expression over variables.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `Variable: "{{ x }}"` with `<Operator>: operand`. Both sides are kept unresolved.
    Compare {
        variable: Value,
        operator: Operator,
        operand: Value,
    },
    /// At least one condition.
    And(Vec<Condition>),
    /// At least one condition.
    Or(Vec<Condition>),
    Not(Box<Condition>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    StringEquals,
    EqualsIgnoreCase,
    StartsWith,
    EndsWith,
    Contains,
    NumericEquals,
    NumericGreater,
    NumericGreaterOrEquals,
    NumericLesser,
    NumericLesserOrEquals,
    BooleanEquals,
}

impl Operator {
    const ALL: [Operator; 11] = [
        Self::StringEquals,
        Self::EqualsIgnoreCase,
        Self::StartsWith,
        Self::EndsWith,
        Self::Contains,
        Self::NumericEquals,
        Self::NumericGreater,
        Self::NumericGreaterOrEquals,
        Self::NumericLesser,
        Self::NumericLesserOrEquals,
        Self::BooleanEquals,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|operator| operator.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StringEquals => "StringEquals",
            Self::EqualsIgnoreCase => "EqualsIgnoreCase",
            Self::StartsWith => "StartsWith",
            Self::EndsWith => "EndsWith",
            Self::Contains => "Contains",
            Self::NumericEquals => "NumericEquals",
            Self::NumericGreater => "NumericGreater",
            Self::NumericGreaterOrEquals => "NumericGreaterOrEquals",
            Self::NumericLesser => "NumericLesser",
            Self::NumericLesserOrEquals => "NumericLesserOrEquals",
            Self::BooleanEquals => "BooleanEquals",
        }
    }

    fn kind(self) -> OperandKind {
        match self {
            Self::StringEquals | Self::EqualsIgnoreCase | Self::StartsWith | Self::EndsWith | Self::Contains => {
                OperandKind::Text
            }
            Self::BooleanEquals => OperandKind::Boolean,
            _ => OperandKind::Number,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OperandKind {
    Text,
    Number,
    Boolean,
}

/// Which way a branch went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchOutcome {
    /// Choice `index` (0-based) was true.
    Choice { index: usize, next_step: String },
    /// No choice was true; `Default` is taken.
    Default(String),
    /// No choice was true and there is no `Default`.
    NoMatch,
}

impl BranchOutcome {
    /// The step to go to, for [`StepOutcome::Success`](super::StepOutcome::Success)'s `branch_choice`.
    pub fn next_step(&self) -> Option<&str> {
        match self {
            Self::Choice { next_step, .. } | Self::Default(next_step) => Some(next_step),
            Self::NoMatch => None,
        }
    }
}

/// Evaluates `branch` against `ctx`: the first true choice, else `Default`, else no match.
/// Fails when a variable cannot be resolved or does not fit its operator (`NumericEquals` on a
/// word), which fails the step.
pub fn evaluate_branch(branch: &BranchDecl, ctx: &Context<'_>) -> Result<BranchOutcome, StepError> {
    for (index, choice) in branch.choices.iter().enumerate() {
        if evaluate(&choice.condition, index, ctx)? {
            return Ok(BranchOutcome::Choice { index, next_step: choice.next_step.clone() });
        }
    }
    Ok(match &branch.default {
        Some(default) => BranchOutcome::Default(default.clone()),
        None => BranchOutcome::NoMatch,
    })
}

fn evaluate(condition: &Condition, choice: usize, ctx: &Context<'_>) -> Result<bool, StepError> {
    match condition {
        Condition::And(conditions) => {
            for condition in conditions {
                if !evaluate(condition, choice, ctx)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Condition::Or(conditions) => {
            for condition in conditions {
                if evaluate(condition, choice, ctx)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Condition::Not(condition) => Ok(!evaluate(condition, choice, ctx)?),
        Condition::Compare { variable, operator, operand } => {
            let variable = resolve_value(variable, ctx)?;
            let operand = resolve_value(operand, ctx)?;
            compare(*operator, &variable, &operand, choice)
        }
    }
}

/// Compares resolved values. Text operators compare scalars as text; `Contains` on a list
/// variable asks whether the list has the operand as an item. Numeric operators accept numbers
/// and numeric text. `BooleanEquals` accepts booleans and the text `true`/`false` in any case.
pub fn compare(operator: Operator, variable: &Value, operand: &Value, choice: usize) -> Result<bool, StepError> {
    let operand_error = |expected: &'static str, found: &Value| StepError::BranchOperand {
        choice,
        operator: operator.as_str(),
        expected,
        found: short(found),
    };
    match operator.kind() {
        OperandKind::Text => {
            let wanted = scalar_text(operand).ok_or_else(|| operand_error("text", operand))?;
            if let (Operator::Contains, Value::Array(items)) = (operator, variable) {
                return Ok(items.iter().filter_map(scalar_text).any(|item| item == wanted));
            }
            let actual = scalar_text(variable).ok_or_else(|| operand_error("text", variable))?;
            Ok(match operator {
                Operator::StringEquals => actual == wanted,
                Operator::EqualsIgnoreCase => actual.to_lowercase() == wanted.to_lowercase(),
                Operator::StartsWith => actual.starts_with(&wanted),
                Operator::EndsWith => actual.ends_with(&wanted),
                _ => actual.contains(&wanted),
            })
        }
        OperandKind::Number => {
            let actual = number(variable).ok_or_else(|| operand_error("a number", variable))?;
            let wanted = number(operand).ok_or_else(|| operand_error("a number", operand))?;
            Ok(match operator {
                Operator::NumericEquals => actual == wanted,
                Operator::NumericGreater => actual > wanted,
                Operator::NumericGreaterOrEquals => actual >= wanted,
                Operator::NumericLesser => actual < wanted,
                _ => actual <= wanted,
            })
        }
        OperandKind::Boolean => {
            let actual = boolean(variable).ok_or_else(|| operand_error("true or false", variable))?;
            let wanted = boolean(operand).ok_or_else(|| operand_error("true or false", operand))?;
            Ok(actual == wanted)
        }
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok().filter(|number| number.is_finite()),
        _ => None,
    }
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 40 { text } else { format!("{}…", text.chars().take(40).collect::<String>()) }
}

/// Reads `Choices` and `Default` from an `aws:branch` step's raw inputs. Whether the named steps
/// exist is checked by the caller, which knows them all.
pub(super) fn parse_branch(step: &str, inputs: &Map<String, Value>) -> Result<BranchDecl, RunbookError> {
    check_known_inputs(step, "aws:branch", inputs, &["Choices", "Default"])?;
    let invalid = |field: String, reason: String| RunbookError::InvalidInput { step: step.to_owned(), field, reason };
    let items = match inputs.get("Choices") {
        None | Some(Value::Null) => {
            return Err(RunbookError::MissingInput { step: step.to_owned(), field: "Choices".to_owned() });
        }
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(_) => return Err(invalid("Choices".to_owned(), "it must be a non-empty list of choices".to_owned())),
    };
    let mut choices = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let path = format!("Choices[{index}]");
        let Value::Object(map) = item else {
            return Err(invalid(path, "a choice must be a mapping".to_owned()));
        };
        let next_step = match map.get("NextStep") {
            Some(Value::String(next)) if !next.is_empty() => next.clone(),
            None | Some(Value::Null) => {
                return Err(RunbookError::MissingInput { step: step.to_owned(), field: format!("{path}.NextStep") });
            }
            Some(_) => return Err(invalid(format!("{path}.NextStep"), "it must be a step name".to_owned())),
        };
        let condition = parse_condition(map, &path, true).map_err(|(field, reason)| invalid(field, reason))?;
        choices.push(Choice { next_step, condition });
    }
    let default = match inputs.get("Default") {
        None | Some(Value::Null) => None,
        Some(Value::String(default)) if !default.is_empty() => Some(default.clone()),
        Some(_) => return Err(invalid("Default".to_owned(), "it must be a step name".to_owned())),
    };
    Ok(BranchDecl { choices, default })
}

/// Parses one condition mapping at `path`. The error is `(field path, reason)`.
fn parse_condition(map: &Map<String, Value>, path: &str, is_choice: bool) -> Result<Condition, (String, String)> {
    let fail = |field: String, reason: &str| Err((field, reason.to_owned()));
    let mut variable = None;
    let mut found: Vec<(&str, &Value)> = Vec::new();
    for (key, value) in map {
        match key.as_str() {
            "NextStep" if is_choice => {}
            "NextStep" => return fail(format!("{path}.NextStep"), "only a top-level choice has NextStep"),
            "Variable" => variable = Some(value),
            "And" | "Or" | "Not" => found.push((key, value)),
            other if Operator::parse(other).is_some() => found.push((key, value)),
            other => {
                return Err((
                    format!("{path}.{other}"),
                    "it is not a supported operator (StringEquals, EqualsIgnoreCase, StartsWith, EndsWith, Contains, \
                     NumericEquals, NumericGreater, NumericGreaterOrEquals, NumericLesser, NumericLesserOrEquals, \
                     BooleanEquals, And, Or, Not)"
                        .to_owned(),
                ));
            }
        }
    }
    let [(key, value)] = found.as_slice() else {
        let reason = if found.is_empty() { "it needs an operator" } else { "it may have only one operator" };
        return fail(path.to_owned(), reason);
    };
    let field = format!("{path}.{key}");
    match *key {
        "And" | "Or" | "Not" if variable.is_some() => {
            fail(format!("{path}.Variable"), "Variable goes inside the conditions of And, Or and Not")
        }
        "And" | "Or" => {
            let Value::Array(items) = value else {
                return fail(field, "it must be a non-empty list of conditions");
            };
            if items.is_empty() {
                return fail(field, "it must be a non-empty list of conditions");
            }
            let mut conditions = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let item_path = format!("{field}[{index}]");
                let Value::Object(map) = item else {
                    return fail(item_path, "a condition must be a mapping");
                };
                conditions.push(parse_condition(map, &item_path, false)?);
            }
            Ok(if *key == "And" { Condition::And(conditions) } else { Condition::Or(conditions) })
        }
        "Not" => {
            let Value::Object(map) = value else {
                return fail(field, "it must be one condition (a mapping)");
            };
            Ok(Condition::Not(Box::new(parse_condition(map, &field, false)?)))
        }
        operator => {
            let operator = Operator::parse(operator).expect("only known operators are collected");
            let Some(variable) = variable else {
                return fail(format!("{path}.Variable"), "it is required with a comparison operator");
            };
            if !matches!(variable, Value::String(_)) {
                return fail(format!("{path}.Variable"), "it must be a string such as \"{{ Parameter }}\"");
            }
            check_operand(operator, value).map_err(|reason| (field, reason.to_owned()))?;
            Ok(Condition::Compare { variable: variable.clone(), operator, operand: (*value).clone() })
        }
    }
}

/// A literal operand must suit its operator; a `{{ reference }}` is checked when evaluated.
fn check_operand(operator: Operator, operand: &Value) -> Result<(), &'static str> {
    if is_reference(operand) {
        return Ok(());
    }
    let fits = match operator.kind() {
        OperandKind::Text => scalar_text(operand).is_some(),
        OperandKind::Number => number(operand).is_some(),
        OperandKind::Boolean => boolean(operand).is_some(),
    };
    if fits {
        return Ok(());
    }
    Err(match operator.kind() {
        OperandKind::Text => "it must be text",
        OperandKind::Number => "it must be a number",
        OperandKind::Boolean => "it must be true or false",
    })
}
