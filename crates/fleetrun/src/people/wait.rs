//! Waiting for a sent command to finish, with a progress bar on stderr while the fan-out runs.
//!
//! The wait polls, every 500 ms, and that is the right tool on this side. SSM has no push channel for
//! command progress (only SNS/EventBridge, which need infrastructure a person at a terminal does not
//! have), and the aws CLI's own `wait command-executed` polls too, every 5 s. The load is small and does
//! not grow with the fleet: one ListCommands call per tick, whose counters the server keeps, plus (only
//! while a progress bar is visible and something has finished since the last tick) one filtered
//! ListCommandInvocations per non-success status, which pages through the *failures* only. The long-poll
//! that must scale with nodes is the agents', not this one. This module does not read results or output.

use fleetrun_client::{ClientError, SsmClient};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::time::Duration;

use super::render::thousands;

const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// The first polls come sooner (100, 200, … ms), so a command that takes a moment returns in a moment.
const FIRST_POLL: Duration = Duration::from_millis(100);
/// Consecutive failed polls (network errors, 5xx) tolerated before giving up: a fan-out can run for an
/// hour, and one dropped connection should not lose its results.
const MAX_TRANSIENT_FAILURES: u32 = 10;
/// The ListCommandInvocations `Status` filter values that together select every finished invocation that
/// did not succeed (`Failed` also selects Undeliverable and Terminated, `TimedOut` both timeouts).
const NOT_SUCCEEDED_FILTERS: [&str; 3] = ["Failed", "TimedOut", "Cancelled"];

/// Polls until the command reaches a terminal status and returns its final `Command` object.
pub(super) async fn until_done(client: &SsmClient, command: &Value) -> anyhow::Result<Value> {
    let command_id = command["CommandId"].as_str().unwrap_or_default();
    let progress = Progress::new(command["TargetCount"].as_u64().unwrap_or(0));
    let mut last_completed = None;
    let mut transient_failures = 0;
    let mut interval = FIRST_POLL;
    loop {
        match poll(client, command_id, &progress, &mut last_completed).await {
            Ok(Some(done)) => return Ok(done),
            Ok(None) => transient_failures = 0,
            Err(error) if is_transient(&error) && transient_failures < MAX_TRANSIENT_FAILURES => {
                transient_failures += 1;
                progress.bar.set_message(format!("retrying: {error}"));
            }
            Err(error) => return Err(error.into()),
        }
        tokio::time::sleep(interval).await;
        interval = (interval + FIRST_POLL).min(POLL_INTERVAL);
    }
}

/// One tick: refreshes the bar, and returns the command once it is terminal.
async fn poll(
    client: &SsmClient,
    command_id: &str,
    progress: &Progress,
    last_completed: &mut Option<u64>,
) -> Result<Option<Value>, ClientError> {
    let listed = client.call("ListCommands", &json!({ "CommandId": command_id, "MaxResults": 1 })).await?;
    let command = listed["Commands"]
        .get(0)
        .cloned()
        .ok_or_else(|| ClientError::Decode(format!("ListCommands did not return {command_id}")))?;
    let completed = command["CompletedCount"].as_u64().unwrap_or(0);
    progress.bar.set_length(command["TargetCount"].as_u64().unwrap_or(0));
    progress.bar.set_position(completed);
    if completed == 0 {
        progress.bar.set_message("waiting for the first results");
    } else if !progress.bar.is_hidden() && *last_completed != Some(completed) {
        // The two calls are not one snapshot: an invocation that fails between them is counted as failed
        // but not yet as completed, so `succeeded` may lag by a tick. The results printed at the end come
        // from one final listing and do not have this skew.
        let failed = count_not_succeeded(client, command_id).await?;
        let succeeded = completed.saturating_sub(failed);
        progress.bar.set_message(format!(
            "{} succeeded, {} failed",
            thousands(succeeded as usize),
            thousands(failed as usize)
        ));
        *last_completed = Some(completed);
    }
    let status = command["Status"].as_str().unwrap_or_default();
    let running = matches!(status, "Pending" | "InProgress" | "Cancelling");
    Ok((!running).then_some(command))
}

/// Invocations of the command that finished without success.
async fn count_not_succeeded(client: &SsmClient, command_id: &str) -> Result<u64, ClientError> {
    let mut failed = 0;
    // One call per value: how several values of one filter key combine is not pinned down by SSM.
    for status in NOT_SUCCEEDED_FILTERS {
        let input = json!({
            "CommandId": command_id,
            "MaxResults": 50,
            "Filters": [{ "key": "Status", "value": status }],
        });
        failed += client.paginate("ListCommandInvocations", &input, "CommandInvocations").await?.len() as u64;
    }
    Ok(failed)
}

/// Errors worth another poll: the network, and the server saying it is briefly unable (5xx, throttling).
fn is_transient(error: &ClientError) -> bool {
    match error {
        ClientError::Transport(_) => true,
        ClientError::Api { status, code, .. } => *status >= 500 || code.contains("Throttl"),
        _ => false,
    }
}

/// The progress bar: drawn on stderr only when it is a terminal, and erased however the wait ends.
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(target_count: u64) -> Progress {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(Some(target_count), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let style = ProgressStyle::with_template("{spinner} {pos}/{len} nodes [{bar:30}] {msg} {elapsed}")
            .expect("the progress template is valid")
            .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
