//! `fleetrun automation get` and `list`: read-only views of executions, as tables for people or the API's
//! JSON (`--json`) for scripts.

use super::{Status, Verdict, duration, last_line, step_label, text, write_json, write_outputs};
use crate::people::render::{self, timestamp};
use clap::Args;
use fleetrun_client::SsmClient;
use serde_json::{Value, json};
use std::io::Write;

#[derive(Args)]
pub(crate) struct GetArgs {
    /// The execution, as `fleetrun automation start` or `list` show it.
    execution_id: String,
    /// Print the API's JSON (GetAutomationExecution) instead.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct ListArgs {
    /// Only executions with this status.
    #[arg(long, value_enum)]
    status: Option<Status>,
    /// Only executions of runbooks whose name starts with this.
    #[arg(long, value_name = "P")]
    document_prefix: Option<String>,
    /// Print the API's JSON (DescribeAutomationExecutions, every page) instead.
    #[arg(long)]
    json: bool,
}

pub(super) async fn get(client: &SsmClient, args: GetArgs) -> anyhow::Result<Verdict> {
    let got = client.call("GetAutomationExecution", &json!({ "AutomationExecutionId": args.execution_id })).await?;
    if args.json {
        write_json(&got)?;
        return Ok(Verdict::AllSucceeded);
    }
    let execution = &got["AutomationExecution"];
    let mut out = std::io::stdout().lock();
    let document = match text(execution, "DocumentVersion") {
        "" => text(execution, "DocumentName").to_owned(),
        version => format!("{} (version {version})", text(execution, "DocumentName")),
    };
    let failure = execution.get("FailureMessage").and_then(Value::as_str).unwrap_or_default();
    let fields = [
        ("Execution", text(execution, "AutomationExecutionId").to_owned()),
        ("Document", document),
        ("Status", text(execution, "AutomationExecutionStatus").to_owned()),
        ("Started", timestamp(execution.get("ExecutionStartTime"))),
        ("Ended", timestamp(execution.get("ExecutionEndTime"))),
        ("Duration", duration(execution.get("ExecutionStartTime"), execution.get("ExecutionEndTime"))),
        ("Failure", last_line(failure)),
    ];
    for (name, value) in fields {
        writeln!(out, "{name:<10}{value}")?;
    }
    let steps = execution["StepExecutions"].as_array().map(Vec::as_slice).unwrap_or_default();
    if !steps.is_empty() {
        writeln!(out)?;
        let mut table = render::table(&["Step", "Status", "MaxAttempts", "Started", "Duration", "Failure"]);
        for step in steps {
            table.add_row(vec![
                step_label(step),
                text(step, "StepStatus").to_owned(),
                render::number(step, "MaxAttempts"),
                timestamp(step.get("ExecutionStartTime")),
                duration(step.get("ExecutionStartTime"), step.get("ExecutionEndTime")),
                last_line(step.get("FailureMessage").and_then(Value::as_str).unwrap_or_default()),
            ]);
        }
        render::write_table(&mut out, &table)?;
    }
    if execution.get("Outputs").and_then(Value::as_object).is_some_and(|o| !o.is_empty()) {
        writeln!(out)?;
        write_outputs(&mut out, execution)?;
    }
    out.flush()?;
    Ok(Verdict::AllSucceeded)
}

pub(super) async fn list(client: &SsmClient, args: ListArgs) -> anyhow::Result<Verdict> {
    let mut filters = Vec::new();
    if let Some(status) = args.status {
        filters.push(json!({ "Key": "ExecutionStatus", "Values": [status.wire()] }));
    }
    if let Some(prefix) = &args.document_prefix {
        filters.push(json!({ "Key": "DocumentNamePrefix", "Values": [prefix] }));
    }
    let mut input = json!({ "MaxResults": 50 });
    if !filters.is_empty() {
        input["Filters"] = json!(filters);
    }
    let items = client.paginate("DescribeAutomationExecutions", &input, "AutomationExecutionMetadataList").await?;
    if args.json {
        write_json(&json!({ "AutomationExecutionMetadataList": items }))?;
        return Ok(Verdict::AllSucceeded);
    }
    let mut table = render::table(&["ExecutionId", "Document", "Status", "Started", "Ended"]);
    for item in &items {
        table.add_row(vec![
            text(item, "AutomationExecutionId").to_owned(),
            text(item, "DocumentName").to_owned(),
            text(item, "AutomationExecutionStatus").to_owned(),
            timestamp(item.get("ExecutionStartTime")),
            timestamp(item.get("ExecutionEndTime")),
        ]);
    }
    let mut out = std::io::stdout().lock();
    render::write_table(&mut out, &table)?;
    out.flush()?;
    Ok(Verdict::AllSucceeded)
}
