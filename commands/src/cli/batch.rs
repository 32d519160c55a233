//! The end of a batch input command (`ledger import`, `ledger submit`): the rejects file, the summary
//! line and the exit code, the same for every input format (issue #8: rejected rows are reported with
//! line number, column and rule, into a rejects file).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::import::RowReject;

/// What a batch did: appended now, appended by an earlier run (same command id), refused.
#[derive(Debug, Default)]
pub struct Tally {
    pub appended: u64,
    pub already: u64,
    pub rejects: Vec<RowReject>,
}

/// How a command names its work in the summary and the rejects file.
pub struct Wording {
    /// "imported", "submitted".
    pub done: &'static str,
    /// "already imported", "already appended".
    pub already: &'static str,
    /// The rejects file's header for the place in a line: "column" (CSV) or "field" (JSON).
    pub place: &'static str,
}

/// Writes the rejects (always, so that a clean re-run leaves an empty file rather than a stale
/// one), prints the summary line, and exits 1 when anything was refused (a domain rejection).
/// A spinner for the writer's start-up scan (signing keys and the M-06 index are read from the whole
/// log: seconds on a large one), cleared when the caller drops it or starts its own bar.
pub fn start_up_spinner() -> indicatif::ProgressBar {
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .expect("valid progress template"),
    );
    spinner.set_message("reading the log: signing keys and reimbursed packs (M-06)");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner
}

pub fn finish(
    file: &Path,
    rejects: Option<&Path>,
    wording: &Wording,
    tally: &Tally,
) -> anyhow::Result<ExitCode> {
    let rejects_path =
        rejects.map_or_else(|| file.with_extension("rejects.csv"), Path::to_path_buf);
    write_rejects(&rejects_path, wording.place, &tally.rejects)?;
    let see = if tally.rejects.is_empty() {
        String::new()
    } else {
        format!(" (see {})", rejects_path.display())
    };
    println!(
        "{} {}: {} appended, {} {}, {} rejected{see}",
        wording.done,
        file.display(),
        tally.appended,
        tally.already,
        wording.already,
        tally.rejects.len(),
    );
    Ok(if tally.rejects.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn write_rejects(path: &Path, place: &str, rejects: &[RowReject]) -> anyhow::Result<()> {
    let file = crate::files::AtomicFile::create(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let mut writer = csv::Writer::from_writer(file);
    writer.write_record(["line", place, "rule", "message"])?;
    for reject in rejects {
        writer.write_record([
            reject.line.to_string(),
            reject.column.clone(),
            reject.rule.clone(),
            reject.message.clone(),
        ])?;
    }
    let file = writer
        .into_inner()
        .map_err(|error| anyhow::anyhow!("cannot write {}: {}", path.display(), error.error()))?;
    file.commit()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
