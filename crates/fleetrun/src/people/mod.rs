//! Commands for people: `run`, `commands list`, `invocations`, `output`, `nodes list`, `params`,
//! `provenance` and `automation`.
//!
//! They talk to the server only through the SSM API (`fleetrun_client::SsmClient`, configured from the same
//! `AWS_*` variables the aws CLI reads), so they work against any fleetrun server a person holds a key for.
//! This module owns the exit-code contract of STYLE §C.12: 0 when every invocation succeeded, 1 when some
//! targets failed, 2 for usage, transport and server errors, and 0 quietly on a broken stdout pipe. It does
//! not own the server, the agent, or the aws-CLI-compatible JSON shapes, which it passes through untouched.

mod automation;
mod fetch;
mod groups;
mod listing;
mod output;
mod parallel;
mod params;
mod provenance;
mod render;
mod report;
mod run;
mod wait;

use clap::{Subcommand, ValueEnum};
use std::io::Write;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum PeopleCommand {
    /// Run a shell command on nodes, wait, and show the results grouped by identical output.
    #[command(after_help = RUN_EXAMPLES)]
    Run(run::RunArgs),
    /// Commands sent to the fleet.
    #[command(subcommand)]
    Commands(listing::CommandsCommand),
    /// The per-node invocations of one command.
    Invocations(listing::InvocationsArgs),
    /// The full output of one invocation, streamed to stdout.
    Output(output::OutputArgs),
    /// Managed nodes.
    #[command(subcommand)]
    Nodes(listing::NodesCommand),
    /// Parameter Store: configuration values and secrets, by name.
    #[command(subcommand)]
    Params(params::ParamsCommand),
    /// What an invocation downloaded: source, revision and the sha256 of every file.
    Provenance(provenance::ProvenanceArgs),
    /// SSM Automation: start runbooks and follow them, list, inspect and stop executions.
    #[command(subcommand)]
    Automation(automation::AutomationCommand),
}

const RUN_EXAMPLES: &str = "\
Examples:
  fleetrun run --targets Key=tag:Env,Values=prod -- uptime
  fleetrun run --instance-ids i-abcd1234 mi-0123456789abcdef0 -- 'systemctl is-active nginx'
  fleetrun run --targets Key=tag:Role,Values=web --max-concurrency 10% -- 'cd /srv && git pull'

Exit status: 0 when every node succeeded, 1 when some failed, timed out or were cancelled,
2 for usage, network and server errors.";

/// How a command that ran to completion ended, as the exit code reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every invocation succeeded (or the command only reads, like `commands list`).
    AllSucceeded,
    /// At least one target failed, timed out, was cancelled or never got the command.
    /// For `params`: the server refused the request, or some names were not found or not valid labels.
    SomeFailed,
}

/// `--output`: a table for people, or the API's JSON for scripts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    #[default]
    Table,
    Json,
}

pub(crate) async fn run(command: PeopleCommand) -> ExitCode {
    let result = match command {
        PeopleCommand::Run(args) => run::run(args).await,
        PeopleCommand::Commands(command) => listing::commands(command).await,
        PeopleCommand::Invocations(args) => listing::invocations(args).await,
        PeopleCommand::Output(args) => output::run(args).await,
        PeopleCommand::Nodes(command) => listing::nodes(command).await,
        PeopleCommand::Params(command) => params::run(command).await,
        PeopleCommand::Provenance(args) => provenance::run(args).await,
        PeopleCommand::Automation(command) => automation::run(command).await,
    };
    match result {
        Ok(Verdict::AllSucceeded) => ExitCode::SUCCESS,
        Ok(Verdict::SomeFailed) => ExitCode::from(1),
        // Like ripgrep: `fleetrun … | head` is not an error.
        Err(error) if render::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // `eprintln!` would panic if stderr is gone too; there is nobody left to tell then.
            let _ = writeln!(std::io::stderr(), "fleetrun: {error:#}");
            ExitCode::from(2)
        }
    }
}
