//! `ledger audit pack --period P --out DIR [--pseudonymize KEYFILE]` (issue #15 §3): see
//! `crate::audit::pack` and docs/audit-pack.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::super::{GlobalOpts, UsageError, export, open, views};
use crate::audit::pack::{PackOptions, build};

pub fn run(
    period: &str,
    out: PathBuf,
    pseudonymize: Option<&Path>,
    global: &GlobalOpts,
) -> anyhow::Result<ExitCode> {
    let period = views::parse_month(period)?;
    let occupied = std::fs::read_dir(&out).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        return Err(UsageError(format!(
            "--out {} is not empty; a pack is written into a fresh folder",
            out.display()
        ))
        .into());
    }
    let pseudonymizer = export::pseudonymizer(pseudonymize)?;
    let options = PackOptions {
        period,
        out,
        form: export::jsonl_form(global, pseudonymizer.as_ref()),
        pseudonymizer,
    };
    let runtime = super::super::runtime()?;
    let log = open::read_only(&runtime, global)?;
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!(
        "packing {}: records, events, Parquet, forms",
        period.key()
    ));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let started = std::time::Instant::now();
    let summary = runtime.block_on(build(&*log, &global.data_dir, &options))?;
    spinner.finish_and_clear();
    let events: Vec<String> = summary
        .events
        .iter()
        .map(|(jurisdiction, count)| format!("{jurisdiction} {count}"))
        .collect();
    println!(
        "audit pack of {} in {}: events {}, {} forms, {} files, {:.1} s; check it with `python3 {}/verify.py`",
        period.key(),
        options.out.display(),
        events.join(", "),
        summary.forms,
        summary.files,
        started.elapsed().as_secs_f64(),
        options.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
