//! The read-only listings: `commands list`, `invocations COMMAND_ID` and `nodes list`.
//!
//! Each calls one paginated SSM operation and prints either a table for people or, with `--output json`,
//! the API's own items under the API's own key (`{"Commands": [...]}`), so that `jq` filters written for
//! `aws ssm …` work unchanged. Nothing here changes state on the server.

use super::groups::Invocation;
use super::parallel::bounded;
use super::render::{self, number, text, timestamp};
use super::{OutputFormat, Verdict};
use clap::{Args, Subcommand};
use fleetrun_client::SsmClient;
use serde_json::{Value, json};
use std::io::Write;

/// The most items SSM returns in one ListCommands or ListCommandInvocations page.
const MAX_PAGE: u32 = 50;

#[derive(Subcommand)]
pub(crate) enum CommandsCommand {
    /// Commands sent to the fleet, newest first.
    List(CommandsListArgs),
}

#[derive(Args)]
pub(crate) struct CommandsListArgs {
    /// Show at most this many commands.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    max: u32,
    /// A table for people, or the API's JSON (as `aws ssm` prints it) for scripts.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(Args)]
pub(crate) struct InvocationsArgs {
    /// The command, as `fleetrun run --no-wait` or `fleetrun commands list` show it.
    command_id: String,
    /// A table for people, or the API's JSON (as `aws ssm` prints it) for scripts.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(Subcommand)]
pub(crate) enum NodesCommand {
    /// Managed nodes, with their last contact.
    List(NodesListArgs),
}

#[derive(Args)]
pub(crate) struct NodesListArgs {
    /// Also show each node's tags (one ListTagsForResource call per node).
    #[arg(long)]
    tags: bool,
    /// A table for people, or the API's JSON (as `aws ssm` prints it) for scripts.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

pub(super) async fn commands(command: CommandsCommand) -> anyhow::Result<Verdict> {
    let CommandsCommand::List(args) = command;
    let client = SsmClient::from_env()?;
    let commands = recent_commands(&client, args.max).await?;
    let mut out = std::io::stdout().lock();
    match args.output {
        OutputFormat::Json => render::write_json(&mut out, &json!({ "Commands": commands }))?,
        OutputFormat::Table => {
            let mut table =
                render::table(&["CommandId", "Document", "Requested", "Status", "Targets", "Completed", "Errors"]);
            for command in &commands {
                table.add_row(vec![
                    text(command, "CommandId").to_owned(),
                    text(command, "DocumentName").to_owned(),
                    timestamp(command.get("RequestedDateTime")),
                    text(command, "Status").to_owned(),
                    number(command, "TargetCount"),
                    number(command, "CompletedCount"),
                    number(command, "ErrorCount"),
                ]);
            }
            render::write_table(&mut out, &table)?;
        }
    }
    out.flush()?;
    Ok(Verdict::AllSucceeded)
}

/// The newest `max` commands: pages of at most 50 until `max` are read or there are no more.
async fn recent_commands(client: &SsmClient, max: u32) -> anyhow::Result<Vec<Value>> {
    let mut commands = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let wanted = (max as usize - commands.len()).min(MAX_PAGE as usize);
        let mut input = json!({ "MaxResults": wanted });
        if let Some(token) = &next_token {
            input["NextToken"] = json!(token);
        }
        let page = client.call("ListCommands", &input).await?;
        if let Some(items) = page["Commands"].as_array() {
            commands.extend(items.iter().take(wanted).cloned());
        }
        next_token = page["NextToken"].as_str().filter(|token| !token.is_empty()).map(str::to_owned);
        if next_token.is_none() || commands.len() >= max as usize {
            return Ok(commands);
        }
    }
}

pub(super) async fn invocations(args: InvocationsArgs) -> anyhow::Result<Verdict> {
    let client = SsmClient::from_env()?;
    // `Details` brings the steps, and with them the exit codes; the listing has no top-level ResponseCode.
    let input = json!({ "CommandId": args.command_id, "Details": true, "MaxResults": MAX_PAGE });
    let items = client.paginate("ListCommandInvocations", &input, "CommandInvocations").await?;
    let mut out = std::io::stdout().lock();
    match args.output {
        OutputFormat::Json => render::write_json(&mut out, &json!({ "CommandInvocations": items }))?,
        OutputFormat::Table => {
            let mut table = render::table(&["InstanceId", "Status", "StatusDetails", "ResponseCode"]);
            for item in &items {
                let invocation = Invocation::from_json(item);
                table.add_row(vec![
                    invocation.instance_id,
                    invocation.status,
                    invocation.status_details,
                    invocation.exit_code.map_or_else(|| "-".to_owned(), |code| code.to_string()),
                ]);
            }
            render::write_table(&mut out, &table)?;
        }
    }
    out.flush()?;
    Ok(Verdict::AllSucceeded)
}

pub(super) async fn nodes(command: NodesCommand) -> anyhow::Result<Verdict> {
    let NodesCommand::List(args) = command;
    let client = SsmClient::from_env()?;
    let mut nodes =
        client.paginate("DescribeInstanceInformation", &json!({ "MaxResults": 50 }), "InstanceInformationList").await?;
    if args.tags {
        add_tags(&client, &mut nodes).await?;
    }
    let mut out = std::io::stdout().lock();
    match args.output {
        OutputFormat::Json => render::write_json(&mut out, &json!({ "InstanceInformationList": nodes }))?,
        OutputFormat::Table => {
            let mut header = vec!["InstanceId", "Name", "PingStatus", "Platform", "AgentVersion", "LastPing"];
            if args.tags {
                header.push("Tags");
            }
            let mut table = render::table(&header);
            for node in &nodes {
                let mut row = vec![
                    text(node, "InstanceId").to_owned(),
                    text(node, "Name").to_owned(),
                    text(node, "PingStatus").to_owned(),
                    platform(node),
                    text(node, "AgentVersion").to_owned(),
                    timestamp(node.get("LastPingDateTime")),
                ];
                if args.tags {
                    row.push(tags_cell(&node["Tags"]));
                }
                table.add_row(row);
            }
            render::write_table(&mut out, &table)?;
        }
    }
    out.flush()?;
    Ok(Verdict::AllSucceeded)
}

/// Sets `Tags` (`[{Key, Value}]`) on each node. SSM has no batch read of tags, so this costs one call
/// per node; hence `--tags` is opt-in.
async fn add_tags(client: &SsmClient, nodes: &mut [Value]) -> anyhow::Result<()> {
    let ids: Vec<String> = nodes.iter().map(|node| text(node, "InstanceId").to_owned()).collect();
    let client = client.clone();
    let tag_lists = bounded(ids, move |instance_id| {
        let client = client.clone();
        async move {
            let input = json!({ "ResourceType": "ManagedInstance", "ResourceId": instance_id });
            let tags = client.call("ListTagsForResource", &input).await?;
            Ok(tags.get("TagList").cloned().unwrap_or_else(|| json!([])))
        }
    })
    .await?;
    for (node, tags) in nodes.iter_mut().zip(tag_lists) {
        node["Tags"] = tags;
    }
    Ok(())
}

/// `Ubuntu 24.04`, or the bare platform type when the agent did not report a name.
fn platform(node: &Value) -> String {
    let named = format!("{} {}", text(node, "PlatformName"), text(node, "PlatformVersion"));
    match named.trim() {
        "" => text(node, "PlatformType").to_owned(),
        named => named.to_owned(),
    }
}

/// `Env=prod,Role=web`.
fn tags_cell(tags: &Value) -> String {
    tags.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|tag| format!("{}={}", text(tag, "Key"), text(tag, "Value")))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_prefers_name_and_version() {
        let node = json!({ "PlatformType": "Linux", "PlatformName": "Ubuntu", "PlatformVersion": "24.04" });
        assert_eq!(platform(&node), "Ubuntu 24.04");
        assert_eq!(platform(&json!({ "PlatformType": "Linux" })), "Linux");
    }

    #[test]
    fn tags_are_key_value_pairs() {
        let tags = json!([{ "Key": "Env", "Value": "prod" }, { "Key": "Role", "Value": "" }]);
        assert_eq!(tags_cell(&tags), "Env=prod,Role=");
        assert_eq!(tags_cell(&Value::Null), "");
    }
}
