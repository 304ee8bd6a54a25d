//! `fleetrun output COMMAND_ID INSTANCE_ID [--stderr]`: the whole output of one invocation, byte for byte,
//! on stdout.
//!
//! GetCommandInvocation's inline content stops at 24,000 characters (8,000 for stderr), so this reads the
//! stream from the invocation's output URL instead and copies it chunk by chunk: memory stays flat however
//! large the output is. It prints nothing else, so `fleetrun output … > file` is the file.

use super::render::text;
use super::{Verdict, fetch};
use clap::Args;
use fleetrun_client::SsmClient;
use serde_json::json;
use std::io::{BufWriter, Write};

#[derive(Args)]
pub(crate) struct OutputArgs {
    /// The command, as `fleetrun run --no-wait` or `fleetrun commands list` show it.
    command_id: String,
    /// The node whose output to print.
    instance_id: String,
    /// Print the standard error stream instead of standard output.
    #[arg(long)]
    stderr: bool,
}

pub(super) async fn run(args: OutputArgs) -> anyhow::Result<Verdict> {
    let client = SsmClient::from_env()?;
    let invocation = client
        .call("GetCommandInvocation", &json!({ "CommandId": args.command_id, "InstanceId": args.instance_id }))
        .await?;
    if matches!(text(&invocation, "Status"), "Pending" | "InProgress" | "Delayed" | "Cancelling") {
        anyhow::bail!(
            "the command is still {} on {}; its output can be read once it has finished there",
            text(&invocation, "StatusDetails"),
            args.instance_id
        );
    }
    let (inline, own, ssm) = if args.stderr {
        ("StandardErrorContent", "FleetrunStandardErrorUrl", "StandardErrorUrl")
    } else {
        ("StandardOutputContent", "FleetrunStandardOutputUrl", "StandardOutputUrl")
    };
    // fleetrun's own copy first: the SSM URL may point at the command's OutputS3BucketName.
    let url = if text(&invocation, own).is_empty() { text(&invocation, ssm) } else { text(&invocation, own) };
    let mut out = BufWriter::new(std::io::stdout().lock());
    match url {
        // No step ran, so nothing was stored; the inline content is all there is.
        "" => out.write_all(text(&invocation, inline).as_bytes())?,
        url => {
            fetch::for_each_chunk(&client, url, |chunk| {
                out.write_all(chunk)?;
                Ok(())
            })
            .await?
        }
    }
    out.flush()?;
    Ok(Verdict::AllSucceeded)
}
