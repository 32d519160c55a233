//! `ledger demo`: the main job. A national reporting period end to end on the embedded log.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use ledger::log::file::{Durability, FileLogOptions};

use super::GlobalOpts;
use crate::demo::{self, DemoOptions, Progress, summary};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Dispensings per month over all Kazakh contracts.
    #[arg(long, default_value_t = 1_000_000)]
    pub dispensings: u64,
    /// KG sales per month over the KG contracts in force (default: one per hundred KZ dispensings,
    /// at least 10,000).
    #[arg(long)]
    pub kg_dispensings: Option<u64>,
    /// Reporting months to simulate, from January 2026.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=12))]
    pub months: u32,
    /// Seed of the simulated world; the same seed gives the same registries.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
    /// Do not fsync appends (faster, survives a process crash but not a power loss).
    #[arg(long)]
    pub no_sync: bool,
}

/// indicatif bars behind the demo's progress callbacks.
struct Bars(Mutex<Option<ProgressBar>>);

impl Progress for Bars {
    fn phase(&self, name: &str, total: u64) {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:<42} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(name.to_owned());
        *self.0.lock().expect("bar lock") = Some(bar);
    }

    fn advance(&self, by: u64) {
        if let Some(bar) = self.0.lock().expect("bar lock").as_ref() {
            bar.inc(by);
        }
    }

    fn finish_phase(&self) {
        if let Some(bar) = self.0.lock().expect("bar lock").take() {
            bar.finish();
        }
    }
}

pub fn run(args: DemoArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let options = DemoOptions {
        seed: args.seed,
        dispensings: args.dispensings,
        months: args.months,
        kg_dispensings: args
            .kg_dispensings
            .unwrap_or_else(|| DemoOptions::default_kg_dispensings(args.dispensings)),
        state_dir: Some(super::open::writer_state_dir(global)),
        ..DemoOptions::default()
    };
    let durability = if args.no_sync {
        Durability::NoSync
    } else {
        Durability::FsyncPerBatch
    };
    let bars = Bars(Mutex::new(None));
    let runtime = super::runtime()?;
    let (engine, world, timing, events_written, exports, kg) = runtime.block_on(async {
        let options_log = FileLogOptions {
            durability,
            ..FileLogOptions::default()
        };
        let opened = super::open::writer(global, options_log).await?;
        let (engine, world, timing) = demo::run(opened.log(), &options, &bars).await?;
        let events_written = opened.records().await?;
        let kg = demo::kg::summary::summarise(&engine, &world, &demo::months(&options)?).await?;
        let periods = demo::months(&options)?;
        let exports =
            project_and_export(&*opened.log(), &world, &periods, &global.data_dir).await?;
        anyhow::Ok((engine, world, timing, events_written, exports, kg))
    })?;
    let periods = demo::months(&options)?;
    let mut summary = summary::build(
        &engine,
        &world,
        &periods,
        &options,
        timing,
        events_written,
        kg,
    );
    summary.exports = exports;
    print!("{}", summary::render(&summary));
    if let Some(stats) = engine.snapshot_stats() {
        let events = summary.events_written.max(1);
        println!(
            "  snapshots: written={} bytes={} encode_ms={} encode_ns_per_event={} replaced={}",
            stats.written,
            stats.bytes,
            stats.encode_micros / 1000,
            stats.encode_micros * 1000 / events,
            stats.replaced
        );
    }
    println!("  data directory: {}", global.data_dir.display());
    if let Some(path) = &args.summary_json {
        crate::files::write_file(path, serde_json::to_string_pretty(&summary)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("  summary JSON: {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the projectors over the whole log (the live views in `<data-dir>/views`) and writes every
/// contract's Appendix 1 registry and Appendix 2 act, as CSV and printable HTML, from the views into
/// `<data-dir>/exports/`. Returns the files written.
async fn project_and_export(
    log: &dyn ledger::log::EventLog,
    world: &crate::demo::world::World,
    periods: &[ledger::domain::values::ReportingPeriod],
    data_dir: &std::path::Path,
) -> anyhow::Result<Vec<String>> {
    use projector::views::{act, registry};

    use super::views::convert;
    use crate::render;

    let projected = crate::project::catch_up_views(
        log,
        &crate::project::views_dir(data_dir),
        projector::CatchUpOptions::default(),
    )
    .await?;
    println!("projected: {}", projected.report);
    let reader = projected.reader();
    let dir = data_dir.join("exports");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for holder in world
        .contracts
        .iter()
        .filter(|holder| holder.jurisdiction == ledger::domain::jurisdiction::Jurisdiction::KZ)
    {
        let contract_id = ledger::domain::values::ContractId::new(holder.contract_id.as_str())
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        for period in periods {
            let base = dir.join(format!("{}-{}", holder.contract_id, period.key()));
            if let Some(found) = registry::read(&reader, &contract_id, *period)? {
                let form = convert::registry_form(&found);
                written.push(write(&base, "appendix1.csv", &render::registry_csv(&form))?);
                written.push(write(
                    &base,
                    "appendix1.html",
                    &render::registry_html(&form),
                )?);
            }
            if let Some(found) = act::read(&reader, &contract_id, *period)? {
                let form =
                    convert::act_form(&found, &registry::read_holder(&reader, &contract_id)?);
                written.push(write(&base, "appendix2.csv", &render::act_csv(&form))?);
                written.push(write(&base, "appendix2.html", &render::act_html(&form))?);
            }
        }
    }
    Ok(written)
}

fn write(base: &std::path::Path, suffix: &str, text: &str) -> anyhow::Result<String> {
    let path = std::path::PathBuf::from(format!("{}-{suffix}", base.display()));
    crate::files::write_file(&path, text)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path.display().to_string())
}
