//! `fleetrun run`: send one shell command line to nodes as `AWS-RunShellScript`, wait for every node to
//! finish, and print the results grouped by identical output.
//!
//! This module holds the flags, their translation into a SendCommand request (including the aws CLI's
//! `Key=…,Values=…` target shorthand) and the overall flow. Waiting lives in `wait`, grouping in `groups`
//! and the printed report in `report`.

use super::{OutputFormat, Verdict, groups, render, report, wait};
use anyhow::Context;
use clap::{ArgGroup, Args};
use fleetrun_client::SsmClient;
use serde_json::{Map, Value, json};
use std::io::Write;

#[derive(Args)]
#[command(group(ArgGroup::new("nodes").required(true).args(["instance_ids", "targets"])))]
pub(crate) struct RunArgs {
    /// Nodes to run on, by instance id (space- or comma-separated; at most 50).
    #[arg(long, num_args = 1.., value_delimiter = ',', value_name = "ID")]
    instance_ids: Vec<String>,
    /// Nodes to run on, selected like the aws CLI does: `Key=tag:Env,Values=prod,dev` (also `Key=tag-key`
    /// and `Key=InstanceIds`). Several targets must all match; several values of one target are
    /// alternatives.
    #[arg(long, num_args = 1.., value_parser = parse_target, value_name = "Key=K,Values=V1,V2")]
    targets: Vec<Value>,
    /// Nodes that run the command at the same time: a number or a percentage of the targets (default 50).
    #[arg(long, value_name = "N|N%", value_parser = parse_limit)]
    max_concurrency: Option<String>,
    /// Errors to tolerate before the command is sent to no more nodes: a number or a percentage
    /// (default 0: stop after the first).
    #[arg(long, value_name = "N|N%", value_parser = parse_limit)]
    max_errors: Option<String>,
    /// Seconds a node has to pick the command up before it times out there (SSM's TimeoutSeconds;
    /// default 3600).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(30..=2_592_000))]
    timeout: Option<u32>,
    /// Seconds the command may run on a node before it is stopped (the document's executionTimeout;
    /// 5 to 172800, default 3600). Like SSM's agent, fleetrun's treats less than 5 as the default, so
    /// that is refused here rather than silently stretched to an hour.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(5..=172_800))]
    execution_timeout: Option<u32>,
    /// A note stored with the command (at most 100 characters).
    #[arg(long)]
    comment: Option<String>,
    /// Directory the command runs in on each node.
    #[arg(long, value_name = "DIR")]
    working_directory: Option<String>,
    /// A report for people, or one JSON document with every node and the full output of each group.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
    /// Print the command id and exit without waiting for results.
    #[arg(long)]
    no_wait: bool,
    /// The command, after `--`. Its words are joined with single spaces into ONE line of shell on the
    /// nodes, so `-- echo "a  b"` runs `echo a  b` there; quote what the node's shell should see, as with
    /// ssh. For a script of several lines, pass it as one quoted argument that contains the newlines.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub(super) async fn run(args: RunArgs) -> anyhow::Result<Verdict> {
    let client = SsmClient::from_env()?;
    let sent = client.call("SendCommand", &send_command_input(&args)).await?;
    let command = sent.get("Command").cloned().context("SendCommand answered without a Command")?;
    let command_id = render::text(&command, "CommandId").to_owned();
    if args.no_wait {
        let mut stdout = std::io::stdout().lock();
        match args.output {
            OutputFormat::Table => writeln!(stdout, "{command_id}")?,
            OutputFormat::Json => render::write_json(&mut stdout, &json!({ "Command": command }))?,
        }
        stdout.flush()?;
        return Ok(Verdict::AllSucceeded);
    }
    if command["TargetCount"].as_u64() == Some(0) {
        anyhow::bail!("no managed node matches the targets (command {command_id} has nothing to run)");
    }
    // From here on the command exists on the server, so every error names it: it runs on regardless.
    let follow = || format!("command {command_id} (`fleetrun invocations {command_id}` follows it)");
    let wait_and_read = async {
        let finished =
            wait::until_done(&client, &command).await.with_context(|| format!("waiting for {}", follow()))?;
        let groups =
            results(&client, &command_id).await.with_context(|| format!("reading the results of {}", follow()))?;
        anyhow::Ok((finished, groups))
    };
    // Once tokio handles SIGINT the default action is gone for good, so the handler covers everything
    // until the report is printed, not just the wait.
    let (finished, groups) = tokio::select! {
        done = wait_and_read => done?,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted; the nodes carry on with {}", follow()),
    };
    let mut stdout = std::io::stdout().lock();
    match args.output {
        OutputFormat::Table => report::write_table(&mut stdout, &finished, &groups, render::stdout_color())?,
        OutputFormat::Json => report::write_json(&mut stdout, &finished, &groups)?,
    }
    stdout.flush()?;
    Ok(if groups.iter().all(groups::Group::succeeded) { Verdict::AllSucceeded } else { Verdict::SomeFailed })
}

/// The finished command's invocations, grouped, with each group's output.
async fn results(client: &SsmClient, command_id: &str) -> anyhow::Result<Vec<groups::Group>> {
    let listed = client
        .paginate(
            "ListCommandInvocations",
            &json!({ "CommandId": command_id, "Details": true, "MaxResults": 50 }),
            "CommandInvocations",
        )
        .await?;
    let invocations = listed.iter().map(groups::Invocation::from_json).collect();
    groups::group(client, command_id, invocations).await
}

/// The SendCommand request for the flags.
fn send_command_input(args: &RunArgs) -> Value {
    let mut parameters = Map::new();
    parameters.insert("commands".into(), json!([args.command.join(" ")]));
    if let Some(seconds) = args.execution_timeout {
        parameters.insert("executionTimeout".into(), json!([seconds.to_string()]));
    }
    if let Some(dir) = &args.working_directory {
        parameters.insert("workingDirectory".into(), json!([dir]));
    }
    let mut input = json!({
        "DocumentName": "AWS-RunShellScript",
        "Parameters": parameters,
    });
    let optional = [
        ("InstanceIds", (!args.instance_ids.is_empty()).then(|| json!(args.instance_ids))),
        ("Targets", (!args.targets.is_empty()).then(|| json!(args.targets))),
        ("MaxConcurrency", args.max_concurrency.as_ref().map(|v| json!(v))),
        ("MaxErrors", args.max_errors.as_ref().map(|v| json!(v))),
        ("TimeoutSeconds", args.timeout.map(|v| json!(v))),
        ("Comment", args.comment.as_ref().map(|v| json!(v))),
    ];
    for (member, value) in optional {
        if let Some(value) = value {
            input[member] = value;
        }
    }
    input
}

/// The aws CLI's shorthand for one target: `Key=tag:Env,Values=prod,dev` → `{"Key": "tag:Env", "Values":
/// ["prod", "dev"]}`. The key itself is checked by the server, which knows which keys it supports.
fn parse_target(text: &str) -> Result<Value, String> {
    let usage = || format!("target {text:?} must look like Key=tag:Env,Values=prod,dev");
    let rest = text.strip_prefix("Key=").ok_or_else(usage)?;
    let (key, values) = rest.split_once(",Values=").ok_or_else(usage)?;
    let values: Vec<&str> = values.split(',').collect();
    if key.is_empty() || values.iter().any(|v| v.is_empty()) {
        return Err(usage());
    }
    Ok(json!({ "Key": key, "Values": values }))
}

/// `--max-concurrency`/`--max-errors`: a whole number or a percentage, as SSM's patterns allow.
fn parse_limit(text: &str) -> Result<String, String> {
    let number = text.strip_suffix('%').unwrap_or(text);
    match number.parse::<u32>() {
        Ok(n) if !text.ends_with('%') || n <= 100 => Ok(text.to_owned()),
        _ => Err(format!("{text:?} is neither a number (10) nor a percentage (10%)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> Result<RunArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("run").chain(args.iter().copied())).map(|cli| cli.run)
    }

    #[test]
    fn targets_use_the_aws_cli_shorthand() {
        assert_eq!(
            parse_target("Key=tag:Env,Values=prod,dev").unwrap(),
            json!({ "Key": "tag:Env", "Values": ["prod", "dev"] })
        );
        assert_eq!(
            parse_target("Key=InstanceIds,Values=i-abcd1234").unwrap(),
            json!({ "Key": "InstanceIds", "Values": ["i-abcd1234"] })
        );
        for bad in ["tag:Env=prod", "Key=tag:Env", "Key=,Values=x", "Key=tag:Env,Values=a,,b"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_are_numbers_or_percentages() {
        assert_eq!(parse_limit("10").unwrap(), "10");
        assert_eq!(parse_limit("25%").unwrap(), "25%");
        assert!(parse_limit("101%").is_err());
        assert!(parse_limit("ten").is_err());
        assert!(parse_limit("-1").is_err());
    }

    #[test]
    fn command_words_become_one_line() {
        let args = parse(&[
            "--targets",
            "Key=tag:Env,Values=prod",
            "--execution-timeout",
            "60",
            "--",
            "echo",
            "a  b",
            "|",
            "wc",
        ])
        .unwrap();
        let input = send_command_input(&args);
        assert_eq!(input["Parameters"]["commands"], json!(["echo a  b | wc"]));
        assert_eq!(input["Parameters"]["executionTimeout"], json!(["60"]));
        assert_eq!(input["Targets"], json!([{ "Key": "tag:Env", "Values": ["prod"] }]));
        assert!(input.get("InstanceIds").is_none());
        assert!(input.get("TimeoutSeconds").is_none());
    }

    #[test]
    fn instance_ids_split_on_spaces_and_commas() {
        let args = parse(&["--instance-ids", "i-00000001,i-00000002", "i-00000003", "--", "true"]).unwrap();
        assert_eq!(send_command_input(&args)["InstanceIds"], json!(["i-00000001", "i-00000002", "i-00000003"]));
    }

    #[test]
    fn nodes_and_a_command_are_required() {
        assert!(parse(&["--", "true"]).is_err(), "no nodes");
        assert!(parse(&["--instance-ids", "i-00000001"]).is_err(), "no command");
        assert!(
            parse(&["--instance-ids", "i-00000001", "--targets", "Key=tag:A,Values=b", "--", "true"]).is_err(),
            "both"
        );
        assert!(parse(&["--instance-ids", "i-00000001", "--timeout", "5", "--", "true"]).is_err());
    }
}
