//! `ledger log stats|tail|verify`.

use std::process::ExitCode;

use super::GlobalOpts;

#[derive(Debug, clap::Subcommand)]
pub enum LogCommand {
    /// Partitions, record counts, bytes and chain heads.
    Stats,
}

pub fn run(command: LogCommand, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    match command {
        LogCommand::Stats => {
            anyhow::bail!("not yet implemented for {}", global.data_dir.display())
        }
    }
}
