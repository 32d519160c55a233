//! The generated month the whole-binary benches measure on (`bench project`, `bench export`,
//! `bench feed`): `events` dispensings over contracts of `per_contract` each, with their lifecycle
//! events, written to an embedded log without fsync in a work directory that is removed afterwards
//! unless the caller named it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use projector::views::sample::SampleConfig;

use crate::project::{progress_bar, write_sample_log};

/// One month of `events` dispensings, `per_contract` to a contract.
pub fn sample_month(events: u64, per_contract: u32, seed: u64) -> anyhow::Result<SampleConfig> {
    let per_contract = per_contract.max(1);
    let contracts = u32::try_from(events.div_ceil(u64::from(per_contract)).max(1))
        .context("--events is too large")?;
    Ok(SampleConfig {
        seed,
        contracts,
        periods: 1,
        dispensings_per_period: per_contract,
        lifecycle: true,
    })
}

/// Runs `measure` in `dir`, or in a fresh `ledger-bench-<name>-<pid>` under the temp directory that
/// is removed afterwards, whatever the outcome.
pub fn in_work_dir<T, F>(
    dir: Option<PathBuf>,
    name: &str,
    measure: impl FnOnce(PathBuf) -> F,
) -> anyhow::Result<T>
where
    F: Future<Output = anyhow::Result<T>>,
{
    let owned = dir.is_none();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ledger-bench-{name}-{}", std::process::id()))
    });
    let result = super::runtime()?.block_on(measure(dir.clone()));
    if owned {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// Writes the month to a new log in `<dir>/log` (with a progress bar) and opens it read-only.
pub async fn generate(dir: &Path, config: SampleConfig) -> anyhow::Result<FileLog> {
    let log_dir = dir.join("log");
    let options = FileLogOptions {
        durability: Durability::NoSync,
        ..FileLogOptions::default()
    };
    let log = FileLog::open(&log_dir, options)
        .with_context(|| format!("cannot create the log in {}", log_dir.display()))?;
    let bar = progress_bar();
    bar.set_message("generating");
    bar.set_length(u64::from(config.contracts) * u64::from(config.dispensings_per_period));
    let generated = write_sample_log(&log, config, &bar).await?;
    bar.finish_and_clear();
    drop(log);
    let log = FileLog::open_read_only(&log_dir)?;
    eprintln!("generated {generated} events in {}", log_dir.display());
    Ok(log)
}

/// Events per second over `elapsed`.
pub fn per_second(events: u64, elapsed: Duration) -> u64 {
    let micros = u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    events.saturating_mul(1_000_000) / micros
}
