//! `fleetrun`: one binary for the control plane (`server`), the node agent (`agent`), the embedded
//! all-in-one (`dev`), key administration (`keys`) and the commands people use to run and inspect
//! commands (`run`, `commands`, `invocations`, `output`, `nodes`) and Parameter Store (`params`).

mod dev;
mod keys;
mod people;
mod roles;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "fleetrun", version, about = "Self-hosted Systems Manager: run scripts across a fleet.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane.
    Server(roles::ServerArgs),
    /// Run the node agent.
    Agent(roles::AgentArgs),
    /// Run a server and one local agent on SQLite and a local object store (the embedded default).
    Dev(dev::DevArgs),
    /// Manage API access keys (on the server's machine, against its data directory).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    #[command(flatten)]
    People(people::PeopleCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fleetrun: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        let result = match cli.command {
            Command::Server(args) => roles::server(args).await,
            Command::Agent(args) => roles::agent(args).await,
            Command::Dev(args) => dev::run(args).await,
            Command::Keys(command) => keys::run(command).await,
            Command::People(command) => return people::run(command).await,
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("fleetrun: {error:#}");
                ExitCode::from(2)
            }
        }
    })
}

/// Logs to stderr; `RUST_LOG` (or `FLEETRUN_LOG`) picks the level, `info` by default.
pub(crate) fn init_logging() {
    let filter = std::env::var("FLEETRUN_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}
