//! The `aws:runDocument` step: run another Command document — stored in fleetrun (`documentType
//! SSMDocument`) or downloaded by an earlier step (`LocalPath`) — with `documentParameters`, as one step.
//!
//! The nested document is parsed, validated and rendered on the node with the same rules the server uses
//! for SendCommand (`fleetrun_core::document`). Its steps run in order in sub-directories of this step's
//! directory, and their stdout and stderr are appended to this step's, so the step's output is the nested
//! run's output. Nesting stops at [`MAX_DEPTH`], as in SSM. Unlike top-level steps, nested steps are not
//! re-attached after an agent restart: the step is then reported Failed (see `execute.rs`). A nested
//! document cannot use `{{ssm-secure:…}}`: the server hands out only what the command itself references.

use super::Shell;
use crate::download;
use crate::runner::{self, Outcome, RunSpec};
use fleetrun_core::document::{
    self, DocumentFormat, DocumentKind, ScriptInputs, render_steps, resolve_parameters, script_text,
};
use fleetrun_proto::{DocumentRequest, DocumentResponse, StepStatus};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How deep documents may run documents (the outermost command's document is depth 0).
pub(super) const MAX_DEPTH: usize = 3;

/// Where a nested run writes: this step's output files and a directory for its sub-steps.
pub(super) struct Nest<'a> {
    pub ctx: &'a super::Context,
    pub command_id: &'a str,
    pub downloads: &'a Path,
    pub cancel: &'a CancellationToken,
    pub stdout: std::fs::File,
    pub stderr: std::fs::File,
}

impl Nest<'_> {
    fn say(&mut self, text: &str) {
        let _ = self.stdout.write_all(text.as_bytes());
    }
    fn complain(&mut self, text: &str) {
        let _ = self.stderr.write_all(text.as_bytes());
    }
}

/// Runs the document named by `inputs` in `dir`; returns the step's status and exit code.
pub(super) async fn run(nest: &mut Nest<'_>, inputs: &Value, dir: &Path, depth: usize) -> (StepStatus, i32) {
    if depth >= MAX_DEPTH {
        nest.complain(&format!("aws:runDocument: documents may be nested at most {MAX_DEPTH} deep.\n"));
        return (StepStatus::Failed, 1);
    }
    let steps = match load(nest, inputs).await {
        Ok(steps) => steps,
        Err(message) => {
            nest.complain(&message);
            return (StepStatus::Failed, 1);
        }
    };
    let mut outcome = (StepStatus::Success, 0);
    for (index, step) in steps.iter().enumerate() {
        if let Some((a, b)) = &step.precondition {
            let operand = |s: &str| if s == "platformType" { nest.ctx.platform_type.clone() } else { s.to_string() };
            if operand(a) != operand(b) {
                continue;
            }
        }
        if nest.cancel.is_cancelled() {
            return (StepStatus::Cancelled, 137);
        }
        let sub = dir.join(index.to_string());
        let (status, code) = Box::pin(run_nested_step(nest, step, &sub, depth)).await;
        if status != StepStatus::Success {
            outcome = (status, code);
            let exit = step.inputs.get("onFailure").and_then(Value::as_str) == Some("exit");
            if matches!(status, StepStatus::TimedOut | StepStatus::Cancelled) || exit {
                break;
            }
        }
    }
    outcome
}

/// The nested document's steps, rendered with `documentParameters`.
async fn load(nest: &Nest<'_>, inputs: &Value) -> Result<Vec<document::RenderedStep>, String> {
    let kind = inputs.get("documentType").and_then(Value::as_str).unwrap_or("");
    let path = inputs.get("documentPath").and_then(Value::as_str).unwrap_or("");
    let (content, format, label) = match kind {
        "SSMDocument" => {
            let request = DocumentRequest { command_id: nest.command_id.to_string(), name: path.to_string() };
            let doc: DocumentResponse =
                nest.ctx.server.post(fleetrun_proto::PATH_DOCUMENT, &request).await.map_err(|e| {
                    format!(
                        "aws:runDocument: the document {path:?} could not be fetched: {}\n",
                        e.message().map(str::to_string).unwrap_or_else(|| e.to_string())
                    )
                })?;
            let format = DocumentFormat::parse(&doc.format).unwrap_or(DocumentFormat::Json);
            (doc.content, format, format!("{}:{}", doc.name, doc.version))
        }
        "LocalPath" => {
            let file = local_document(&download::destination(path, nest.downloads))?;
            let content = std::fs::read_to_string(&file)
                .map_err(|e| format!("aws:runDocument: reading {} failed: {e}\n", file.display()))?;
            (content, format_of(&file), file.display().to_string())
        }
        other => return Err(format!("aws:runDocument: documentType {other:?} is not SSMDocument or LocalPath.\n")),
    };
    let doc = document::parse_document(&content, format, DocumentKind::Command)
        .map_err(|e| format!("aws:runDocument: {label} is not a valid Command document: {e}\n"))?;
    let params = resolve_parameters(&doc, &document_parameters(inputs.get("documentParameters"))?)
        .map_err(|e| format!("aws:runDocument: the parameters do not fit {label}: {e}\n"))?;
    render_steps(&doc, &params).map_err(|e| format!("aws:runDocument: {label} could not be rendered: {e}\n"))
}

/// A LocalPath: a file, or a directory holding exactly one document (what a download step left there).
fn local_document(path: &Path) -> Result<PathBuf, String> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("aws:runDocument: {} is not readable: {e}\n", path.display()))?;
    let documents: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("json" | "yaml" | "yml")))
        .collect();
    match documents.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!("aws:runDocument: {} holds no .json, .yaml or .yml document.\n", path.display())),
        _ => Err(format!("aws:runDocument: {} holds several documents; name one in documentPath.\n", path.display())),
    }
}

fn format_of(path: &Path) -> DocumentFormat {
    match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => DocumentFormat::Yaml,
        _ => DocumentFormat::Json,
    }
}

/// `documentParameters` (an object, or a JSON string holding one) as SendCommand-style parameter lists.
fn document_parameters(value: Option<&Value>) -> Result<BTreeMap<String, Vec<String>>, String> {
    let object = match value {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(BTreeMap::new()),
        Some(Value::String(text)) => serde_json::from_str(text)
            .map_err(|_| "aws:runDocument: documentParameters is not a JSON object.\n".to_string())?,
        Some(other) => other.clone(),
    };
    let Value::Object(map) = object else {
        return Err("aws:runDocument: documentParameters is not a JSON object.\n".into());
    };
    Ok(map
        .into_iter()
        .map(|(name, value)| {
            let list = match value {
                Value::Array(items) => items.iter().map(text).collect(),
                other => vec![text(&other)],
            };
            (name, list)
        })
        .collect())
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One step of a nested document.
async fn run_nested_step(
    nest: &mut Nest<'_>,
    step: &document::RenderedStep,
    dir: &Path,
    depth: usize,
) -> (StepStatus, i32) {
    nest.say(&format!("--- {} ({}) ---\n", step.name, step.action));
    match step.action.as_str() {
        "aws:runShellScript" => run_script(nest, step, dir, Shell::Sh).await,
        "aws:runPowerShellScript" => run_script(nest, step, dir, Shell::PowerShell).await,
        "aws:runDocument" => run(nest, &step.inputs, dir, depth + 1).await,
        "aws:downloadContent" => nested_download(nest, step).await,
        other => {
            nest.complain(&format!("aws:runDocument: fleetrun's agent does not run {other} steps yet.\n"));
            (StepStatus::Failed, 1)
        }
    }
}

async fn nested_download(nest: &mut Nest<'_>, step: &document::RenderedStep) -> (StepStatus, i32) {
    let inputs = &step.inputs;
    let source_type = inputs.get("sourceType").and_then(Value::as_str).unwrap_or("");
    if source_type == "SSMDocument" {
        nest.complain(
            "aws:runDocument: a nested document cannot download another SSM document; use aws:runDocument.\n",
        );
        return (StepStatus::Failed, 1);
    }
    let step = fleetrun_proto::AssignedStep {
        name: step.name.clone(),
        action: step.action.clone(),
        inputs: inputs.clone(),
        precondition: None,
    };
    match super::download::fetch(nest.ctx, nest.command_id, &step, nest.downloads).await {
        Ok(Some(done)) => {
            nest.say(&super::download::describe(&done));
            (StepStatus::Success, 0)
        }
        Ok(None) => (StepStatus::Success, 0),
        Err(message) => {
            nest.complain(&message);
            (StepStatus::Failed, 1)
        }
    }
}

async fn run_script(nest: &mut Nest<'_>, step: &document::RenderedStep, dir: &Path, shell: Shell) -> (StepStatus, i32) {
    let inputs = match ScriptInputs::from_inputs(&step.inputs) {
        Ok(inputs) => inputs,
        Err(error) => {
            nest.complain(&format!("The step's inputs are not valid: {error}\n"));
            return (StepStatus::Failed, 1);
        }
    };
    if let Err(message) = shell.check_installed() {
        nest.complain(&message);
        return (StepStatus::Failed, 127);
    }
    let (substituted, script_file) = shell.prepare(&script_text(&inputs));
    if !substituted.targets.is_empty() {
        nest.complain("aws:runDocument: {{ssm-secure:…}} is not available inside a nested document.\n");
        return (StepStatus::Failed, 1);
    }
    let workdir = download::destination(&inputs.working_directory, nest.downloads);
    let spec = RunSpec {
        dir: dir.to_path_buf(),
        script: substituted.script,
        script_file,
        workdir,
        env: vec![
            ("SSM_COMMAND_ID".into(), nest.command_id.to_string()),
            ("AWS_SSM_INSTANCE_ID".into(), nest.ctx.instance_id.clone()),
        ],
        secret_env: Vec::new(),
        timeout: Duration::from_secs(inputs.timeout_seconds),
    };
    let running = match runner::start(&spec).await {
        Ok(running) => running,
        Err(error) => {
            nest.complain(&format!("The step could not start: {error}\n"));
            return (StepStatus::Failed, 1);
        }
    };
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let outcome = running.wait(deadline, nest.cancel.clone(), nest.ctx.kill_grace).await;
    for (file, sink) in [(runner::STDOUT_FILE, &mut nest.stdout), (runner::STDERR_FILE, &mut nest.stderr)] {
        if let Ok(bytes) = std::fs::read(dir.join(file)) {
            let _ = sink.write_all(&bytes);
        }
    }
    match outcome {
        Outcome::Exited { code: 0 } => (StepStatus::Success, 0),
        Outcome::Exited { code } => (StepStatus::Failed, code),
        Outcome::TimedOut => (StepStatus::TimedOut, 124),
        Outcome::Cancelled => (StepStatus::Cancelled, 137),
        Outcome::Lost => (StepStatus::Failed, -1),
    }
}
