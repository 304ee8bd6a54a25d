//! Commands for people: `run`, `commands`, `invocations`, `output`, `nodes` (placeholder, filled in next).

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum PeopleCommand {}

pub(crate) async fn run(command: PeopleCommand) -> ExitCode {
    match command {}
}
