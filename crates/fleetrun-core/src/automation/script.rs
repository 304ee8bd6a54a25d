//! `aws:executeScript`: the checks on its inputs when a runbook is created, reading its resolved
//! inputs when it is about to run, and SSM's rules for what a script returns (the `Payload`).
//!
//! Running the script is not here: the runner owns processes. This file only says which
//! runtime, handler, script text or attachment and input payload to run with, and what the
//! returned value becomes.

use serde_json::Value;

use crate::document::ParamDecl;

use super::error::{RunbookError, StepError};
use super::refs::{Reference, whole_reference};

/// The longest an `aws:executeScript` step may run, in seconds.
pub const MAX_SCRIPT_SECONDS: u64 = 600;
/// The largest `Payload` a script may return, as JSON text, in bytes ("up to 100 KB").
pub const PAYLOAD_MAX_BYTES: usize = 100 * 1024;
/// A returned list keeps at most this many items; the rest are dropped.
pub const PAYLOAD_MAX_ITEMS: usize = 100;

/// The inputs `aws:executeScript` accepts.
const KNOWN_INPUTS: [&str; 5] = ["Runtime", "Handler", "InputPayload", "Script", "Attachment"];

/// A script runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// `python3.<minor>`, minor 6 or later.
    Python { minor: u32 },
    /// `PowerShell Core 6.0`.
    PowerShellCore6,
    /// `PowerShell 7.<minor>`.
    PowerShell7 { minor: u32 },
}

impl Runtime {
    /// Parses SSM's spelling (case-sensitive): `python3.11`, `PowerShell Core 6.0`, `PowerShell 7.4`.
    pub fn parse(text: &str) -> Option<Self> {
        let minor = |digits: &str| -> Option<u32> {
            let valid = !digits.is_empty() && digits.len() <= 2 && digits.bytes().all(|b| b.is_ascii_digit());
            valid.then(|| digits.parse().ok()).flatten()
        };
        if let Some(digits) = text.strip_prefix("python3.") {
            return minor(digits).filter(|minor| *minor >= 6).map(|minor| Self::Python { minor });
        }
        if text == "PowerShell Core 6.0" {
            return Some(Self::PowerShellCore6);
        }
        text.strip_prefix("PowerShell 7.").and_then(minor).map(|minor| Self::PowerShell7 { minor })
    }

    pub fn is_python(self) -> bool {
        matches!(self, Self::Python { .. })
    }

    /// SSM's spelling.
    pub fn to_wire(self) -> String {
        match self {
            Self::Python { minor } => format!("python3.{minor}"),
            Self::PowerShellCore6 => "PowerShell Core 6.0".to_owned(),
            Self::PowerShell7 { minor } => format!("PowerShell 7.{minor}"),
        }
    }
}

/// `Runtime` as a runbook declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeDecl {
    Literal(Runtime),
    /// `{{ Param }}`: known when the execution starts.
    Parameter(String),
}

/// What validation learned about an `aws:executeScript` step's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptDecl {
    pub runtime: RuntimeDecl,
    /// `Handler` as written (function name, or `file.function` with an attachment).
    pub handler: Option<String>,
    /// `Attachment`: the name of a `files` entry (checked by validation).
    pub attachment: Option<String>,
    /// Whether an inline `Script` is present.
    pub has_script: bool,
}

/// Checks an `aws:executeScript` step's raw inputs. The attachment's declaration in `files` is
/// checked by the caller, which knows the whole document.
pub(super) fn parse_script_inputs(
    step: &str,
    inputs: &serde_json::Map<String, Value>,
    parameters: &[ParamDecl],
) -> Result<ScriptDecl, RunbookError> {
    super::actions::check_known_inputs(step, "aws:executeScript", inputs, &KNOWN_INPUTS)?;
    let text = |field: &str| -> Result<Option<&str>, RunbookError> {
        match inputs.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(RunbookError::InvalidInput {
                step: step.to_owned(),
                field: field.to_owned(),
                reason: "it must be a string".to_owned(),
            }),
        }
    };
    let runtime_text = text("Runtime")?
        .ok_or_else(|| RunbookError::MissingInput { step: step.to_owned(), field: "Runtime".to_owned() })?;
    let runtime = match (Runtime::parse(runtime_text), whole_reference(runtime_text)) {
        (Some(runtime), _) => RuntimeDecl::Literal(runtime),
        (None, Some(Reference::Parameter(name))) if parameters.iter().any(|decl| decl.name == name) => {
            RuntimeDecl::Parameter(name.to_owned())
        }
        _ => return Err(RunbookError::UnsupportedRuntime { step: step.to_owned(), runtime: runtime_text.to_owned() }),
    };
    let handler = text("Handler")?.map(str::to_owned);
    if let RuntimeDecl::Literal(runtime) = runtime
        && runtime.is_python()
        && handler.as_deref().is_none_or(str::is_empty)
    {
        return Err(RunbookError::MissingInput { step: step.to_owned(), field: "Handler".to_owned() });
    }
    let has_script = text("Script")?.is_some();
    let attachment = text("Attachment")?.map(str::to_owned);
    if !has_script && attachment.is_none() {
        return Err(RunbookError::NoScript { step: step.to_owned() });
    }
    if let (Some(attachment), RuntimeDecl::Literal(runtime)) = (&attachment, &runtime) {
        let allowed: &[&str] = if runtime.is_python() { &[".py", ".zip"] } else { &[".zip"] };
        if !allowed.iter().any(|extension| attachment.ends_with(extension)) {
            return Err(RunbookError::InvalidInput {
                step: step.to_owned(),
                field: "Attachment".to_owned(),
                reason: format!("a {} attachment must be a {} file", runtime.to_wire(), allowed.join(" or ")),
            });
        }
    }
    match inputs.get("InputPayload") {
        None | Some(Value::Null | Value::Object(_) | Value::String(_)) => {}
        Some(_) => {
            return Err(RunbookError::InvalidInput {
                step: step.to_owned(),
                field: "InputPayload".to_owned(),
                reason: "it must be a mapping".to_owned(),
            });
        }
    }
    Ok(ScriptDecl { runtime, handler, attachment, has_script })
}

/// A resolved `aws:executeScript` step, ready for the runner.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteScriptInputs {
    pub runtime: Runtime,
    /// Required for Python; PowerShell has none.
    pub handler: Option<String>,
    /// The inline script, exactly as written in the runbook.
    pub script: Option<String>,
    /// The attachment to unpack (its checksum is the server's business).
    pub attachment: Option<String>,
    /// The handler's first argument (Python) or `$env:InputPayload` (PowerShell): always an
    /// object; `{}` when the step has none.
    pub input_payload: serde_json::Map<String, Value>,
}

impl ExecuteScriptInputs {
    /// Reads inputs resolved by [`resolve_step_inputs`](super::resolve_step_inputs). This is where
    /// a `{{ Param }}` runtime is finally checked. An `InputPayload` given as text must be a JSON
    /// object.
    pub fn from_resolved(inputs: &Value) -> Result<Self, StepError> {
        let invalid =
            |field: &str, reason: &str| StepError::InvalidInput { field: field.to_owned(), reason: reason.to_owned() };
        let text = |field: &str| inputs.get(field).and_then(Value::as_str).map(str::to_owned);
        let runtime_text = text("Runtime").ok_or_else(|| invalid("Runtime", "it is required"))?;
        let runtime = Runtime::parse(&runtime_text).ok_or_else(|| {
            invalid("Runtime", "it must be python3.6 or later, PowerShell Core 6.0 or PowerShell 7.x")
        })?;
        let handler = text("Handler").filter(|handler| !handler.is_empty());
        if runtime.is_python() && handler.is_none() {
            return Err(invalid("Handler", "it is required for Python"));
        }
        let input_payload = match inputs.get("InputPayload") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(Value::String(text)) if text.trim().is_empty() => serde_json::Map::new(),
            Some(Value::String(text)) => match serde_json::from_str(text) {
                Ok(Value::Object(map)) => map,
                _ => return Err(invalid("InputPayload", "text must be a JSON object")),
            },
            Some(_) => return Err(invalid("InputPayload", "it must be a mapping")),
        };
        Ok(ExecuteScriptInputs {
            runtime,
            handler,
            script: text("Script"),
            attachment: text("Attachment"),
            input_payload,
        })
    }
}

/// Applies SSM's rules to the JSON text a script returned and gives the `Payload`: a top-level
/// list keeps its first [`PAYLOAD_MAX_ITEMS`] items, then the whole value, written as compact
/// JSON, may be at most [`PAYLOAD_MAX_BYTES`]. Empty text (a handler that returned nothing) is
/// `null`.
pub fn script_payload(returned: &str) -> Result<Value, StepError> {
    if returned.trim().is_empty() {
        return Ok(Value::Null);
    }
    let mut payload: Value =
        serde_json::from_str(returned).map_err(|error| StepError::PayloadNotJson { reason: error.to_string() })?;
    if let Value::Array(items) = &mut payload {
        items.truncate(PAYLOAD_MAX_ITEMS);
    }
    let size = payload.to_string().len();
    if size > PAYLOAD_MAX_BYTES {
        return Err(StepError::PayloadTooLarge { size, max: PAYLOAD_MAX_BYTES });
    }
    Ok(payload)
}

/// The step result of an `aws:executeScript` run, which output selectors run over:
/// `{"Payload": payload}`.
pub fn script_result(payload: Value) -> Value {
    serde_json::json!({ "Payload": payload })
}

/// A step result as SSM's `OutputPayload` shows it: compact JSON text, e.g.
/// `{"Payload":{"message":"hi"}}`.
pub fn output_payload(result: &Value) -> String {
    result.to_string()
}
