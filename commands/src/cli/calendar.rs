//! `ledger calendar …`: working-day calendars and deadlines.

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum CalendarCommand {
    /// Prints `true` if the date is a working day.
    IsWorking,
}

pub fn run(command: CalendarCommand) -> anyhow::Result<ExitCode> {
    match command {
        CalendarCommand::IsWorking => anyhow::bail!("not yet implemented"),
    }
}
