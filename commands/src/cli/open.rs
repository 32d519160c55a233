//! Opening the event log named by the global options.

use std::sync::Arc;

use anyhow::Context;
use ledger::log::EventLog;
use ledger::log::file::FileLog;

use super::GlobalOpts;

/// Opens the log for reading only (history, export, tail): takes no lock, so it works beside a running
/// writer, and refuses a directory that holds no log.
pub fn read_only(global: &GlobalOpts) -> anyhow::Result<Arc<dyn EventLog>> {
    let log = FileLog::open_read_only(&global.data_dir)
        .with_context(|| format!("cannot open the event log in {}", global.data_dir.display()))?;
    Ok(Arc::new(log))
}
