//! `fleetrun provenance COMMAND_ID INSTANCE_ID [--json]`: what an invocation's `aws:downloadContent` steps
//! fetched — source, location, the exact revision (commit SHA, ETag, document version) and the sha256 of
//! every file — from the `Provenance` member fleetrun adds to GetCommandInvocation.

use super::Verdict;
use super::render::text;
use clap::Args;
use fleetrun_client::SsmClient;
use serde_json::{Value, json};
use std::io::Write;

#[derive(Args)]
pub(crate) struct ProvenanceArgs {
    /// The command, as `fleetrun commands list` shows it.
    command_id: String,
    /// The node that ran it.
    instance_id: String,
    /// Print the API's JSON instead of a report.
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(args: ProvenanceArgs) -> anyhow::Result<Verdict> {
    let client = SsmClient::from_env()?;
    let invocation = client
        .call("GetCommandInvocation", &json!({ "CommandId": args.command_id, "InstanceId": args.instance_id }))
        .await?;
    let fetched = invocation.get("Provenance").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&fetched)?)?;
        return Ok(Verdict::AllSucceeded);
    }
    if fetched.is_empty() {
        writeln!(out, "No step of this invocation downloaded anything (or it has not run yet).")?;
        return Ok(Verdict::AllSucceeded);
    }
    for step in &fetched {
        let revision = step.get("revision").and_then(Value::as_str).unwrap_or("-");
        writeln!(
            out,
            "{}: {} {} (revision {revision})",
            text(step, "PluginName"),
            text(step, "source_type"),
            text(step, "location")
        )?;
        for file in step.get("files").and_then(Value::as_array).into_iter().flatten() {
            writeln!(out, "  {}  {} ({} bytes)", text(file, "sha256"), text(file, "path"), file["bytes"])?;
        }
    }
    Ok(Verdict::AllSucceeded)
}
