//! `fleetrun automation start`: StartAutomationExecution, then (unless `--no-wait`) follow the execution
//! live, one line when a step starts and one when it ends, then its outputs and final status.
//!
//! Following polls every 500 ms, as `run` does and for the same reason: SSM has no push channel. Each
//! tick is one GetAutomationExecution (the status) and then one DescribeAutomationStepExecutions, in that
//! order, so that the steps read after a finished status are the final ones. Ctrl-C stops following,
//! not the execution.

use super::{Verdict, duration, is_finished, last_line, step_label, text, verdict, write_json, write_outputs};
use anyhow::Context;
use clap::Args;
use fleetrun_client::{ClientError, SsmClient};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Consecutive failed polls (network errors, 5xx, throttling) tolerated before giving up, as in `wait`.
const MAX_TRANSIENT_FAILURES: u32 = 10;

pub(super) const EXAMPLES: &str = "\
Examples:
  fleetrun automation start RestartService --parameter ServiceName=nginx
  fleetrun automation start Patch --parameter InstanceIds=i-0001 --parameter InstanceIds=i-0002
  fleetrun automation start Patch --parameters-json '{\"InstanceIds\": [\"i-0001\"], \"Reboot\": \"true\"}'

Exit status: 0 when the execution succeeded, 1 when it failed, timed out or was cancelled, or the
server refused to start it (for example no such runbook), 2 for usage, network and server errors.";

#[derive(Args)]
pub(crate) struct StartArgs {
    /// The Automation runbook (name or ARN).
    document: String,
    /// A runbook parameter. Repeat a key for several values (a StringList); a key given here replaces
    /// the same key from --parameters-json.
    #[arg(long = "parameter", value_name = "KEY=VALUE", value_parser = parse_parameter)]
    parameters: Vec<(String, String)>,
    /// Runbook parameters as a JSON object of strings or lists of strings, as the API takes them.
    #[arg(long, value_name = "JSON", value_parser = parse_parameters_json)]
    parameters_json: Option<Map<String, Value>>,
    /// The runbook version to run (default: its default version).
    #[arg(long, value_name = "V")]
    document_version: Option<String>,
    /// An idempotency token (a UUID): starting again with the same token returns the same execution.
    #[arg(long, value_name = "T")]
    client_token: Option<String>,
    /// Print the execution id and return without following it.
    #[arg(long)]
    no_wait: bool,
    /// Print the API's JSON (the final GetAutomationExecution) on stdout; step lines go to stderr.
    #[arg(long)]
    json: bool,
}

pub(super) async fn start(client: &SsmClient, args: StartArgs) -> anyhow::Result<Verdict> {
    let started = client.call("StartAutomationExecution", &start_input(&args)).await?;
    let id = text(&started, "AutomationExecutionId").to_owned();
    if args.no_wait {
        if args.json {
            write_json(&started)?;
        } else {
            let mut out = std::io::stdout();
            writeln!(out, "{id}")?;
            out.flush()?;
        }
        return Ok(Verdict::AllSucceeded);
    }
    let mut live: Box<dyn Write> = if args.json { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) };
    writeln!(live, "Started {id} ({})", args.document)?;
    let following = follow(client, &id, &mut *live);
    // Once tokio handles SIGINT the default action is gone for good, so the handler covers the report too.
    let execution = tokio::select! {
        done = following => done.with_context(|| format!("following execution {id} (`fleetrun automation get {id}`)"))?,
        _ = tokio::signal::ctrl_c() => anyhow::bail!(
            "stopped following; execution {id} carries on. `fleetrun automation get {id}` shows it, \
             `fleetrun automation stop {id}` stops it"
        ),
    };
    let status = text(&execution, "AutomationExecutionStatus").to_owned();
    if args.json {
        write_json(&json!({ "AutomationExecution": execution }))?;
    } else {
        write_outputs(&mut *live, &execution)?;
        let took = duration(execution.get("ExecutionStartTime"), execution.get("ExecutionEndTime"));
        writeln!(live, "Execution {id} {status} in {took}")?;
        if let Some(message) = execution.get("FailureMessage").and_then(Value::as_str).filter(|m| !m.is_empty()) {
            writeln!(live, "  {}", last_line(message))?;
        }
    }
    live.flush()?;
    Ok(verdict(&status))
}

/// Polls until the execution has finished, printing step lines to `live`; returns the final
/// `AutomationExecution`.
async fn follow(client: &SsmClient, id: &str, live: &mut dyn Write) -> anyhow::Result<Value> {
    let mut shown = HashMap::new();
    let mut transient_failures = 0;
    loop {
        match tick(client, id, live, &mut shown).await {
            Ok(Some(execution)) => return Ok(execution),
            Ok(None) => transient_failures = 0,
            Err(error) if is_transient(&error) && transient_failures < MAX_TRANSIENT_FAILURES => {
                transient_failures += 1;
            }
            Err(error) => return Err(error),
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// What has been printed for a step so far.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shown {
    Started,
    Ended,
}

/// One poll: prints what changed, and returns the execution once it has finished.
async fn tick(
    client: &SsmClient,
    id: &str,
    live: &mut dyn Write,
    shown: &mut HashMap<String, Shown>,
) -> anyhow::Result<Option<Value>> {
    let got = client.call("GetAutomationExecution", &json!({ "AutomationExecutionId": id })).await?;
    let execution = got.get("AutomationExecution").cloned().context("GetAutomationExecution answered without it")?;
    let input = json!({ "AutomationExecutionId": id, "MaxResults": 50 });
    let steps = client.paginate("DescribeAutomationStepExecutions", &input, "StepExecutions").await?;
    for step in &steps {
        write_step_change(live, step, shown)?;
    }
    live.flush()?;
    Ok(is_finished(text(&execution, "AutomationExecutionStatus")).then_some(execution))
}

/// Prints `name (action) started` when a step is first seen running and `name (action) Status in 0.8s`
/// (with its failure message indented below) when it is first seen finished.
fn write_step_change(live: &mut dyn Write, step: &Value, shown: &mut HashMap<String, Shown>) -> std::io::Result<()> {
    let key = match text(step, "StepExecutionId") {
        "" => text(step, "StepName").to_owned(),
        id => id.to_owned(),
    };
    let status = text(step, "StepStatus");
    let before = shown.get(&key).copied();
    if is_finished(status) {
        if before != Some(Shown::Ended) {
            let took = duration(step.get("ExecutionStartTime"), step.get("ExecutionEndTime"));
            writeln!(live, "  {} {status} in {took}", step_label(step))?;
            if let Some(message) = step.get("FailureMessage").and_then(Value::as_str).filter(|m| !m.trim().is_empty()) {
                for line in message.trim_end().lines() {
                    writeln!(live, "      {line}")?;
                }
            }
            shown.insert(key, Shown::Ended);
        }
    } else if status != "Pending" && before.is_none() {
        writeln!(live, "  {} started", step_label(step))?;
        shown.insert(key, Shown::Started);
    }
    Ok(())
}

/// Errors worth another poll: the network, and the server saying it is briefly unable (5xx, throttling).
fn is_transient(error: &anyhow::Error) -> bool {
    error.chain().filter_map(|cause| cause.downcast_ref::<ClientError>()).any(|error| match error {
        ClientError::Transport(_) => true,
        ClientError::Api { status, code, .. } => *status >= 500 || code.contains("Throttl"),
        _ => false,
    })
}

/// The StartAutomationExecution request for the flags.
fn start_input(args: &StartArgs) -> Value {
    let mut parameters = args.parameters_json.clone().unwrap_or_default();
    let mut replaced = Vec::new();
    for (key, value) in &args.parameters {
        if !replaced.contains(key) {
            parameters.insert(key.clone(), json!([]));
            replaced.push(key.clone());
        }
        if let Some(Value::Array(values)) = parameters.get_mut(key) {
            values.push(json!(value));
        }
    }
    let mut input = json!({ "DocumentName": args.document });
    if !parameters.is_empty() {
        input["Parameters"] = Value::Object(parameters);
    }
    if let Some(version) = &args.document_version {
        input["DocumentVersion"] = json!(version);
    }
    if let Some(token) = &args.client_token {
        input["ClientToken"] = json!(token);
    }
    input
}

/// `--parameter KEY=VALUE`, split at the first `=` (a value may contain more).
fn parse_parameter(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("parameter {text:?} must look like KEY=VALUE")),
    }
}

/// `--parameters-json`: an object whose values are strings or lists of strings; a string becomes a list
/// of one, as the API wants lists.
fn parse_parameters_json(text: &str) -> Result<Map<String, Value>, String> {
    let usage = "must be a JSON object of strings or lists of strings, like {\"Name\": [\"a\", \"b\"]}";
    let value: Value = serde_json::from_str(text).map_err(|error| format!("{usage}: {error}"))?;
    let Value::Object(object) = value else { return Err(usage.to_owned()) };
    let mut out = Map::new();
    for (key, value) in object {
        let list = match value {
            Value::String(one) => vec![Value::String(one)],
            Value::Array(items) if items.iter().all(Value::is_string) => items,
            _ => return Err(format!("{key}: {usage}")),
        };
        out.insert(key, Value::Array(list));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        start: StartArgs,
    }

    fn input(args: &[&str]) -> Value {
        let cli = Cli::try_parse_from(std::iter::once("start").chain(args.iter().copied())).unwrap();
        start_input(&cli.start)
    }

    #[test]
    fn parameters_are_lists_and_flags_replace_json() {
        let json = r#"{"A": "1", "B": ["x", "y"]}"#;
        let got = input(&["Book", "--parameters-json", json, "--parameter", "B=z=1", "--parameter", "B=w"]);
        assert_eq!(got, json!({ "DocumentName": "Book", "Parameters": { "A": ["1"], "B": ["z=1", "w"] } }));
        assert_eq!(
            input(&["Book", "--document-version", "2"]),
            json!({ "DocumentName": "Book", "DocumentVersion": "2" })
        );
    }

    #[test]
    fn bad_parameters_are_usage_errors() {
        assert!(parse_parameter("=x").is_err() && parse_parameter("novalue").is_err());
        assert_eq!(parse_parameter("K=").unwrap(), ("K".to_owned(), String::new()));
        assert!(parse_parameters_json("[1]").is_err() && parse_parameters_json(r#"{"A": 1}"#).is_err());
    }

    #[test]
    fn steps_print_once_when_started_and_once_when_ended() {
        let mut shown = HashMap::new();
        let mut out = Vec::new();
        let step = |status: &str| {
            json!({ "StepExecutionId": "s1", "StepName": "hello", "Action": "aws:executeScript",
                    "StepStatus": status, "ExecutionStartTime": 1.0, "ExecutionEndTime": 2.5,
                    "FailureMessage": "boom\nline 2" })
        };
        for status in ["Pending", "InProgress", "InProgress", "Failed", "Failed"] {
            write_step_change(&mut out, &step(status), &mut shown).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "  hello (aws:executeScript) started\n  hello (aws:executeScript) Failed in 1.5s\n      boom\n      line 2\n"
        );
    }
}
