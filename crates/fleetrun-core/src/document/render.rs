//! Rendering: putting resolved parameter values into a document's steps, and reading the inputs of
//! the script plugins (`aws:runShellScript`, `aws:runPowerShellScript`) the way the SSM agent does.
//!
//! Interpolation is one pass and never recursive: a value that itself contains `{{ x }}` stays
//! as it is. References to names that are not declared parameters (`{{ssm:x}}`,
//! `{{ssm-secure:x}}`, `{{ global:REGION }}`) are left for whoever resolves them later.
//!
//! A reference embedded in a `runCommand` line (`"echo {{ name }}"`) does put a caller's value
//! into script text. That is SSM's document model and documents depend on it; the defence is the
//! document's `allowedPattern`/`allowedValues`, which `params.rs` enforces strictly. A whole-string
//! reference (`"runCommand": "{{ commands }}"`) only ever produces data.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::{Document, ParamValue, RenderError, ResolvedParameters};

/// A string that is nothing but one reference, e.g. `"{{ commands }}"`.
static WHOLE_REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\{\{\s*([a-zA-Z0-9]+)\s*\}\}$").expect("valid regex"));
/// A reference anywhere in a string.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\{\{\s*([a-zA-Z0-9]+)\s*\}\}").expect("valid regex"));

/// A step ready to send to an agent: parameters are interpolated.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedStep {
    pub name: String,
    pub action: String,
    pub inputs: Value,
    /// `StringEquals` operands, already interpolated.
    pub precondition: Option<(String, String)>,
}

impl RenderedStep {
    /// Whether the step runs on a node of `platform_type` (`"Linux"`, `"MacOS"`, `"Windows"`).
    ///
    /// A step without a precondition always applies. Otherwise the operand `platformType`
    /// stands for `platform_type`, and the two operands are compared as strings.
    pub fn applies_to(&self, platform_type: &str) -> bool {
        let Some((left, right)) = &self.precondition else {
            return true;
        };
        operand(left, platform_type) == operand(right, platform_type)
    }
}

fn operand<'a>(text: &'a str, platform_type: &'a str) -> &'a str {
    if text == "platformType" { platform_type } else { text }
}

/// Interpolates the declared parameters in every step's inputs and precondition.
///
/// Fails only when a step refers to a declared parameter that `params` has no value for, which
/// means `params` were resolved for another document.
pub fn render_steps(doc: &Document, params: &ResolvedParameters) -> Result<Vec<RenderedStep>, RenderError> {
    doc.steps
        .iter()
        .map(|step| {
            let interpolator = Interpolator { doc, params, step: &step.name };
            let precondition = match &step.precondition {
                Some(precondition) => {
                    let (left, right) = &precondition.string_equals;
                    Some((interpolator.text(left)?, interpolator.text(right)?))
                }
                None => None,
            };
            Ok(RenderedStep {
                name: step.name.clone(),
                action: step.action.clone(),
                inputs: interpolator.value(&step.inputs)?,
                precondition,
            })
        })
        .collect()
}

struct Interpolator<'a> {
    doc: &'a Document,
    params: &'a ResolvedParameters,
    step: &'a str,
}

impl Interpolator<'_> {
    /// The value of `name` if it is a declared parameter; `Ok(None)` for anything else.
    fn lookup(&self, name: &str) -> Result<Option<&ParamValue>, RenderError> {
        if self.doc.parameter(name).is_none() {
            return Ok(None);
        }
        match self.params.get(name) {
            Some(value) => Ok(Some(value)),
            None => Err(RenderError::UnresolvedParameter { step: self.step.to_owned(), name: name.to_owned() }),
        }
    }

    /// Interpolates every string in `value`, recursively. Object keys are left alone.
    fn value(&self, value: &Value) -> Result<Value, RenderError> {
        match value {
            Value::String(text) => {
                if let Some(captures) = WHOLE_REFERENCE.captures(text)
                    && let Some(param) = self.lookup(&captures[1])?
                {
                    return Ok(param.to_json());
                }
                Ok(Value::String(self.text(text)?))
            }
            Value::Array(items) => items.iter().map(|item| self.value(item)).collect(),
            Value::Object(map) => map.iter().map(|(key, item)| Ok((key.clone(), self.value(item)?))).collect(),
            other => Ok(other.clone()),
        }
    }

    /// Replaces each embedded reference to a declared parameter with the value's text.
    fn text(&self, text: &str) -> Result<String, RenderError> {
        let mut out = String::with_capacity(text.len());
        let mut copied_to = 0;
        for captures in REFERENCE.captures_iter(text) {
            let Some(param) = self.lookup(&captures[1])? else {
                continue;
            };
            let whole = captures.get(0).expect("group 0 always participates");
            out.push_str(&text[copied_to..whole.start()]);
            out.push_str(&param.to_text());
            copied_to = whole.end();
        }
        out.push_str(&text[copied_to..]);
        Ok(out)
    }
}

/// The inputs of `aws:runShellScript` and `aws:runPowerShellScript` after rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptInputs {
    /// The script's lines.
    pub run_command: Vec<String>,
    /// Empty means the agent's default.
    pub working_directory: String,
    /// Always within [`Self::MIN_TIMEOUT_SECONDS`]..=[`Self::MAX_TIMEOUT_SECONDS`].
    pub timeout_seconds: u64,
}

impl ScriptInputs {
    pub const DEFAULT_TIMEOUT_SECONDS: u64 = 3600;
    pub const MIN_TIMEOUT_SECONDS: u64 = 5;
    pub const MAX_TIMEOUT_SECONDS: u64 = 172_800;

    /// Reads rendered step inputs with the SSM agent's rules: `runCommand` is required and is a
    /// string (one line) or a list of strings; `workingDirectory` is a string, default empty;
    /// `timeoutSeconds` is a string or a number, and when it is missing, unparsable or outside
    /// 5..=172800 the agent uses 3600 instead of failing, so this does too.
    ///
    /// Stricter than the agent: it silently drops `runCommand` items that are not strings (and
    /// flattens nested lists); here they are an error, so a script never runs with lines missing.
    pub fn from_inputs(inputs: &Value) -> Result<Self, RenderError> {
        let Value::Object(inputs) = inputs else {
            return Err(RenderError::InputsNotAnObject);
        };
        let run_command = match inputs.get("runCommand") {
            None | Some(Value::Null) => return Err(RenderError::MissingRunCommand),
            Some(Value::String(line)) => vec![line.clone()],
            Some(Value::Array(lines)) => lines
                .iter()
                .map(|line| line.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or(RenderError::InvalidRunCommand)?,
            Some(_) => return Err(RenderError::InvalidRunCommand),
        };
        let working_directory = match inputs.get("workingDirectory") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(directory)) => directory.clone(),
            Some(_) => return Err(RenderError::InvalidWorkingDirectory),
        };
        // Like the agent, read an integer, else a float cut to its whole part ("30.9" is 30).
        let whole_seconds = |seconds: f64| seconds.is_finite().then(|| seconds.trunc() as i64);
        let requested = match inputs.get("timeoutSeconds") {
            Some(Value::String(text)) => {
                text.parse::<i64>().ok().or_else(|| text.parse::<f64>().ok().and_then(whole_seconds))
            }
            Some(Value::Number(number)) => number.as_i64().or_else(|| number.as_f64().and_then(whole_seconds)),
            _ => None,
        };
        let timeout_seconds = requested
            .and_then(|seconds| u64::try_from(seconds).ok())
            .filter(|seconds| (Self::MIN_TIMEOUT_SECONDS..=Self::MAX_TIMEOUT_SECONDS).contains(seconds))
            .unwrap_or(Self::DEFAULT_TIMEOUT_SECONDS);
        Ok(ScriptInputs { run_command, working_directory, timeout_seconds })
    }
}

/// The script file's content: the lines joined with `"\n"`, plus a trailing `"\n"`, as the SSM
/// agent writes `_script.sh`.
pub fn script_text(inputs: &ScriptInputs) -> String {
    let mut text = inputs.run_command.join("\n");
    text.push('\n');
    text
}
