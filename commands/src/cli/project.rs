//! `ledger project`: catches every view up with the log and prints the one-line summary.

use std::process::ExitCode;

use super::{GlobalOpts, open};
use crate::project::{catch_up_views, views_dir};

pub fn run(global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let runtime = super::runtime()?;
    let log = open::read_only(&runtime, global)?;
    let projected = runtime.block_on(catch_up_views(
        log.as_ref(),
        &views_dir(&global.data_dir),
        projector::CatchUpOptions::default(),
    ))?;
    println!("{}", projected.report);
    Ok(ExitCode::SUCCESS)
}
