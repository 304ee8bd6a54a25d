//! `fleetrun automation start|get|list|stop`: SSM Automation for people.
//!
//! Each subcommand is one SSM operation, except `start`, which by default follows the execution it
//! started until it ends (see `start`). The API's JSON passes through untouched with `--json`.
//!
//! Exit codes follow `params`: 0 when the execution succeeded (or the command only reads or asks), 1 when
//! it failed, timed out or was cancelled, and also when the server refuses a request because of what it
//! names or carries (no such runbook or execution, invalid parameters); 2 for usage, credentials,
//! transport and server faults.

mod show;
mod start;

use super::Verdict;
use super::render::{self, text};
use clap::{Args, Subcommand, ValueEnum};
use fleetrun_client::{ClientError, SsmClient};
use serde_json::{Value, json};
use std::io::Write;

/// The error codes with which the server refuses an Automation request because of what it names or
/// carries: the person has to change the request, not their setup (exit 1).
const REFUSED: &[&str] = &[
    "AutomationDefinitionNotFoundException",
    "AutomationDefinitionVersionNotFoundException",
    "AutomationExecutionNotFoundException",
    "IdempotentParameterMismatch",
    "InvalidAutomationExecutionParametersException",
    "InvalidAutomationStatusUpdateException",
    "InvalidFilterKey",
    "InvalidFilterValue",
    "ValidationException",
];

/// Execution and step statuses after which nothing more happens. Anything else (Pending, InProgress,
/// Waiting, Cancelling, …) is still going.
const FINISHED: &[&str] = &[
    "Success",
    "Failed",
    "TimedOut",
    "Cancelled",
    "CompletedWithSuccess",
    "CompletedWithFailure",
    "Rejected",
    "ChangeCalendarOverrideRejected",
    "Exited",
];

#[derive(Subcommand)]
pub(crate) enum AutomationCommand {
    /// Start a runbook and follow it step by step until it ends (--no-wait prints its id and returns).
    #[command(after_help = start::EXAMPLES)]
    Start(start::StartArgs),
    /// One execution: status, steps and outputs.
    Get(show::GetArgs),
    /// Automation executions, newest first.
    List(show::ListArgs),
    /// Stop an execution: cancel it (the default), or with --complete end it as if it had succeeded.
    Stop(StopArgs),
}

#[derive(Args)]
pub(crate) struct StopArgs {
    /// The execution, as `fleetrun automation start` or `list` show it.
    execution_id: String,
    /// Stop with `Type: Complete` instead of `Cancel`.
    #[arg(long)]
    complete: bool,
}

pub(super) async fn run(command: AutomationCommand) -> anyhow::Result<Verdict> {
    let client = SsmClient::from_env()?;
    let result = match command {
        AutomationCommand::Start(args) => start::start(&client, args).await,
        AutomationCommand::Get(args) => show::get(&client, args).await,
        AutomationCommand::List(args) => show::list(&client, args).await,
        AutomationCommand::Stop(args) => stop(&client, args).await,
    };
    match result {
        Err(error) if is_refused(&error) => {
            // Displays like the aws CLI: `An error occurred (AutomationDefinitionNotFoundException) …`.
            let _ = writeln!(std::io::stderr(), "fleetrun: {error:#}");
            Ok(Verdict::SomeFailed)
        }
        other => other,
    }
}

async fn stop(client: &SsmClient, args: StopArgs) -> anyhow::Result<Verdict> {
    let kind = if args.complete { "Complete" } else { "Cancel" };
    client
        .call("StopAutomationExecution", &json!({ "AutomationExecutionId": args.execution_id, "Type": kind }))
        .await?;
    let mut out = std::io::stdout();
    writeln!(out, "{}: stop requested ({kind})", args.execution_id)?;
    out.flush()?;
    Ok(Verdict::AllSucceeded)
}

/// Whether `error` is the server refusing the request for what it asks (see [`REFUSED`]).
fn is_refused(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<ClientError>().and_then(ClientError::aws_code).is_some_and(|code| REFUSED.contains(&code))
    })
}

/// `--status`: the execution statuses a person filters on most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Status {
    Pending,
    InProgress,
    Waiting,
    Success,
    TimedOut,
    Cancelling,
    Cancelled,
    Failed,
}

impl Status {
    fn wire(self) -> &'static str {
        match self {
            Status::Pending => "Pending",
            Status::InProgress => "InProgress",
            Status::Waiting => "Waiting",
            Status::Success => "Success",
            Status::TimedOut => "TimedOut",
            Status::Cancelling => "Cancelling",
            Status::Cancelled => "Cancelled",
            Status::Failed => "Failed",
        }
    }
}

fn is_finished(status: &str) -> bool {
    FINISHED.contains(&status)
}

fn verdict(status: &str) -> Verdict {
    if matches!(status, "Success" | "CompletedWithSuccess") { Verdict::AllSucceeded } else { Verdict::SomeFailed }
}

/// How long something between two SSM timestamps took: `0.8s`, `2m05s`, `1h02m`; "-" without both.
fn duration(start: Option<&Value>, end: Option<&Value>) -> String {
    let (Some(start), Some(end)) = (start.and_then(Value::as_f64), end.and_then(Value::as_f64)) else {
        return "-".to_owned();
    };
    let seconds = (end - start).max(0.0);
    if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else if seconds < 3600.0 {
        format!("{}m{:02}s", (seconds / 60.0) as u64, seconds as u64 % 60)
    } else {
        format!("{}h{:02}m", (seconds / 3600.0) as u64, (seconds as u64 % 3600) / 60)
    }
}

/// The execution's `Outputs` (`{"step.Name": ["value"]}`), one `name = value` line each, under a heading.
fn write_outputs(out: &mut dyn Write, execution: &Value) -> std::io::Result<()> {
    let Some(outputs) = execution.get("Outputs").and_then(Value::as_object).filter(|o| !o.is_empty()) else {
        return Ok(());
    };
    writeln!(out, "Outputs:")?;
    for (name, values) in outputs {
        let shown = match values {
            Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
            other => plain(other),
        };
        writeln!(out, "  {name} = {shown}")?;
    }
    Ok(())
}

/// A JSON value as a person reads it: strings without quotes.
fn plain(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

/// The last line of a failure message, for one-line summaries (the whole message is in `--json`). The
/// last, because that is where a script's traceback names the exception and its message.
fn last_line(message: &str) -> String {
    let line = message.lines().rfind(|line| !line.trim().is_empty()).unwrap_or_default().trim();
    if line.is_empty() { "-".to_owned() } else { line.to_owned() }
}

/// `name (aws:action)`, as the step lines and the step table name a step.
fn step_label(step: &Value) -> String {
    format!("{} ({})", text(step, "StepName"), text(step, "Action"))
}

fn write_json(value: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    render::write_json(&mut out, value)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Some(&json!(10.0)), Some(&json!(10.84))), "0.8s");
        assert_eq!(duration(Some(&json!(0.5)), Some(&json!(125.5))), "2m05s");
        assert_eq!(duration(Some(&json!(0)), Some(&json!(3720))), "1h02m");
        assert_eq!(duration(Some(&json!(1)), None), "-");
    }

    #[test]
    fn only_success_is_success() {
        assert_eq!(verdict("Success"), Verdict::AllSucceeded);
        for status in ["Failed", "TimedOut", "Cancelled", "CompletedWithFailure"] {
            assert_eq!(verdict(status), Verdict::SomeFailed, "{status}");
            assert!(is_finished(status));
        }
        assert!(!is_finished("InProgress") && !is_finished("Cancelling") && !is_finished("Pending"));
    }

    #[test]
    fn outputs_are_name_value_lines() {
        let mut out = Vec::new();
        write_outputs(&mut out, &json!({ "Outputs": { "hello.ok": ["true"], "b.list": ["x", "y"] } })).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "Outputs:\n  b.list = x, y\n  hello.ok = true\n");
        let mut none = Vec::new();
        write_outputs(&mut none, &json!({ "Outputs": {} })).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn automation_refusals_are_exit_1() {
        let api = |code: &str| ClientError::Api {
            operation: "StartAutomationExecution".to_owned(),
            status: 400,
            code: code.to_owned(),
            message: "m".to_owned(),
        };
        assert!(is_refused(&api("AutomationDefinitionNotFoundException").into()));
        assert!(!is_refused(&api("UnrecognizedClientException").into()));
        assert_eq!(last_line("Traceback\n  File x\nValueError: boom\n"), "ValueError: boom");
    }
}
