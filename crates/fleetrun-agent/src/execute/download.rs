//! The `aws:downloadContent` step: resolve the secrets its `sourceInfo` names, download into the
//! destination through a [`Sink`], and report what was fetched — in the step's stdout for people, and as
//! provenance (source, revision, the sha256 of every file) in its result.

use super::{Ending, failed_before_start, finish_step, now_ms};
use crate::download::{self, DownloadError, Downloaded, Request, Sink, SourceType};
use crate::secure;
use fleetrun_core::parameter::{ReferenceKind, find_references};
use fleetrun_proto::{AssignedStep, DocumentRequest, DocumentResponse, StepResult, StepStatus};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use zeroize::Zeroizing;

/// Runs one `aws:downloadContent` step; `dir` is the step's directory (for its stdout/stderr files).
pub(super) async fn run(
    ctx: &super::Context,
    command_id: &str,
    idx: usize,
    step: &AssignedStep,
    dir: &Path,
    downloads: &Path,
) -> StepResult {
    let started_ms = now_ms();
    if let Err(error) = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        return failed_before_start(&step.name, format!("The step's directory could not be created: {error}\n"));
    }
    let (status, exit_code, stdout, stderr, provenance) = match fetch(ctx, command_id, step, downloads).await {
        Ok(Some(done)) => {
            let text = describe(&done);
            (StepStatus::Success, 0, text, String::new(), serde_json::to_value(&done).ok())
        }
        Ok(None) => {
            (StepStatus::Success, 0, "No source type was given: nothing to download.\n".into(), String::new(), None)
        }
        Err(message) => (StepStatus::Failed, 1, String::new(), message, None),
    };
    for (file, text) in [(crate::runner::STDOUT_FILE, &stdout), (crate::runner::STDERR_FILE, &stderr)] {
        if let Err(error) = std::fs::write(dir.join(file), text) {
            tracing::warn!(command_id, error = %error, "Writing a download step's output failed.");
        }
    }
    let ending = Ending { status, exit_code, started_ms, note: None };
    let mut result = finish_step(ctx, command_id, idx, &step.name, dir, ending).await;
    result.provenance = provenance;
    result
}

/// Reads the inputs, resolves `{{ssm-secure:…}}` in `sourceInfo`, and downloads. `Ok(None)`: no source
/// type, nothing to do. `Err`: the step's stderr.
pub(super) async fn fetch(
    ctx: &super::Context,
    command_id: &str,
    step: &AssignedStep,
    downloads: &Path,
) -> Result<Option<Downloaded>, String> {
    let source_type = input(&step.inputs, "sourceType").and_then(Value::as_str).unwrap_or("").trim();
    if source_type.is_empty() {
        return Ok(None);
    }
    let Some(kind) = SourceType::parse(source_type) else {
        return Err(format!(
            "sourceType {source_type:?} is not one of GitHub, Git, HTTP, S3 or SSMDocument (the case matters).\n"
        ));
    };
    let source_info = source_info(input(&step.inputs, "sourceInfo"))?;
    let destination_path = input(&step.inputs, "destinationPath").and_then(Value::as_str).unwrap_or("");
    let secrets = resolve_secrets(ctx, command_id, &source_info).await?;
    let config = &ctx.download;
    let request = Request { source_info: &source_info, secrets: &secrets, config };
    let destination = download::destination(destination_path, downloads);
    let mut sink = Sink::new(destination, config.limits).map_err(|e| format!("{e}\n"))?;
    let downloaded = match kind {
        SourceType::S3 => download::s3::download(&request, &mut sink).await,
        SourceType::GitHub => download::github::download(&request, &mut sink).await,
        SourceType::Git => download::git::download(&request, &mut sink).await,
        SourceType::Http => download::http::download(&request, &mut sink).await,
        SourceType::SsmDocument => ssm_document(ctx, command_id, &request, &mut sink).await,
    };
    downloaded.map(Some).map_err(|error| format!("Downloading from {source_type} failed: {error}\n"))
}

/// `sourceType SSMDocument`: a document stored in fleetrun, saved as `<name>.json` (or `.yaml`).
async fn ssm_document(
    ctx: &super::Context,
    command_id: &str,
    request: &Request<'_>,
    sink: &mut Sink,
) -> Result<Downloaded, DownloadError> {
    let name = request.required("name")?;
    if name.starts_with("arn:") {
        return Err(DownloadError::Invalid("an SSMDocument given by ARN is not supported; give its name".into()));
    }
    let asked = DocumentRequest { command_id: command_id.to_string(), name: name.to_string() };
    let doc: DocumentResponse = ctx.server.post(fleetrun_proto::PATH_DOCUMENT, &asked).await.map_err(|e| {
        DownloadError::Source(format!(
            "the document {name} could not be fetched: {}",
            e.message().map(str::to_string).unwrap_or_else(|| e.to_string())
        ))
    })?;
    let extension = if doc.format == "YAML" { "yaml" } else { "json" };
    sink.write_bytes(&format!("{}.{extension}", doc.name), bytes::Bytes::from(doc.content.into_bytes())).await?;
    let files = sink.files().to_vec();
    Ok(Downloaded {
        source_type: "SSMDocument".into(),
        location: format!("ssm-document:{}", doc.name),
        revision: Some(doc.version.to_string()),
        files,
    })
}

/// A step input by name, matched without regard to case (the SSM agent's JSON decoding does the same, and
/// AWS-ApplyAnsiblePlaybooks writes `SourceType`).
fn input<'a>(inputs: &'a Value, name: &str) -> Option<&'a Value> {
    inputs.as_object()?.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value)
}

/// `sourceInfo` as an object: SSM accepts an object or a JSON string holding one.
fn source_info(value: Option<&Value>) -> Result<Map<String, Value>, String> {
    match value {
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(Map::new()),
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err("sourceInfo is not a JSON object.\n".into()),
        },
        None | Some(Value::Null) => Ok(Map::new()),
        Some(_) => Err("sourceInfo is not a JSON object.\n".into()),
    }
}

/// The plaintext of every `{{ssm-secure:…}}` in `sourceInfo`, keyed by the reference as written.
async fn resolve_secrets(
    ctx: &super::Context,
    command_id: &str,
    source_info: &Map<String, Value>,
) -> Result<HashMap<String, Zeroizing<String>>, String> {
    let mut written = Vec::new();
    let mut targets: Vec<String> = Vec::new();
    for value in source_info.values() {
        let Some(text) = value.as_str() else { continue };
        for reference in find_references(text).into_iter().filter(|r| r.kind == ReferenceKind::Secure) {
            if !targets.contains(&reference.target) {
                targets.push(reference.target.clone());
            }
            written.push((text[reference.span.clone()].trim().to_string(), reference.target));
        }
    }
    if targets.is_empty() {
        return Ok(HashMap::new());
    }
    let values = secure::fetch(&ctx.server, command_id, &targets)
        .await
        .map_err(|error| secure::failure_message(&targets, &error))?;
    let mut secrets = HashMap::new();
    for (text, target) in written {
        if let Some(index) = targets.iter().position(|t| *t == target) {
            secrets.insert(text, values[index].clone());
        }
    }
    Ok(secrets)
}

/// The step's stdout: where the content came from and every file with its sha256.
pub(super) fn describe(done: &Downloaded) -> String {
    let bytes: u64 = done.files.iter().map(|f| f.bytes).sum();
    let mut text = format!("Downloaded {} file(s), {bytes} bytes, from {}", done.files.len(), done.location);
    if let Some(revision) = &done.revision {
        let _ = write!(text, " at {revision}");
    }
    text.push_str(".\n");
    for file in &done.files {
        let _ = writeln!(text, "{}  {}", file.sha256, file.path);
    }
    text
}
