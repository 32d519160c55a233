//! `ledger replay`: builds the full set of views as of a point in history, or from one reporting
//! period, into another directory. Never touches the live views. Deterministic: the same events give
//! byte-identical views and exports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ledger::domain::time::Timestamp;
use ledger::log::{EventLog, Offset, PartitionId, StreamId};
use projector::{CatchUpOptions, CatchUpReport, FlushPolicy, Projector, SledStore};

use super::{GlobalOpts, UsageError, open};
use crate::project::{catch_up_views, progress_bar, views_dir};

/// The most records read per replay step (one store batch).
pub const REPLAY_BATCH_MAX: usize = 1024;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A cut: `PARTITION:OFFSET[,PARTITION:OFFSET…]` (each named partition up to and including that
    /// offset; partitions not named are left out) or an RFC 3339 instant (events recorded at or before
    /// it, on every partition).
    #[arg(long, conflicts_with = "period", required_unless_present = "period")]
    pub until: Option<String>,
    /// Only the events of one reporting month (YYYY-MM): its period streams plus the contract streams.
    #[arg(long)]
    pub period: Option<String>,
    /// The directory to build the views in; must be empty or absent, and not the live views.
    #[arg(long)]
    pub into: PathBuf,
    /// `parquet`: also write the replayed events as Parquet into `<into>/parquet/` (one file per
    /// event type and `registry_lines.parquet`, with a manifest; docs/analysis.md).
    #[arg(long, value_enum, default_value = "views")]
    pub format: ReplayFormat,
    /// With `--format parquet`: replace patient IINs/PINs by keyed pseudonyms (HMAC-SHA256 under the
    /// key in this file).
    #[arg(long, value_name = "KEYFILE", requires = "format")]
    pub pseudonymize: Option<PathBuf>,
}

/// What a replay writes besides the views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayFormat {
    Views,
    Parquet,
}

/// A parsed `--until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    Positions(BTreeMap<PartitionId, Offset>),
    Time(Timestamp),
}

pub fn parse_cut(text: &str) -> anyhow::Result<Cut> {
    if let Ok(instant) = Timestamp::parse_rfc3339(text) {
        return Ok(Cut::Time(instant));
    }
    let mut positions = BTreeMap::new();
    for part in text.split(',') {
        let parsed = part
            .split_once(':')
            .and_then(|(partition, offset)| Some((partition.parse().ok()?, offset.parse().ok()?)));
        let Some((partition, offset)) = parsed else {
            return Err(UsageError(format!(
                "--until {text:?} is neither PARTITION:OFFSET[,…] (e.g. 0:1200) nor an RFC 3339 instant"
            ))
            .into());
        };
        positions.insert(PartitionId(partition), Offset(offset));
    }
    Ok(Cut::Positions(positions))
}

pub fn run(args: ReplayArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    check_target(&args.into, global)?;
    let cut = args.until.as_deref().map(parse_cut).transpose()?;
    let month = args
        .period
        .as_deref()
        .map(super::views::parse_month)
        .transpose()?
        .map(|period| period.key());
    let runtime = super::runtime()?;
    let log = open::read_only(&runtime, global)?;
    let report = match (cut, month) {
        (Some(Cut::Positions(positions)), _) => {
            runtime.block_on(replay_positions(log.as_ref(), &args.into, &positions))?
        }
        (Some(Cut::Time(until)), _) => {
            let options = CatchUpOptions {
                until: Some(until),
                ..CatchUpOptions::default()
            };
            runtime
                .block_on(catch_up_views(log.as_ref(), &args.into, options))?
                .report
        }
        (None, Some(month)) => {
            let accept = move |stream: &StreamId| in_period(stream, &month);
            let options = CatchUpOptions {
                streams: Some(&accept),
                ..CatchUpOptions::default()
            };
            runtime
                .block_on(catch_up_views(log.as_ref(), &args.into, options))?
                .report
        }
        (None, None) => unreachable!("clap requires --until or --period"),
    };
    println!("{report}; views in {}", args.into.display());
    if args.format == ReplayFormat::Parquet {
        let pseudonymizer = super::export::pseudonymizer(args.pseudonymize.as_deref())?;
        let cut = args.until.as_deref().map(parse_cut).transpose()?;
        let month = args.period.clone();
        runtime.block_on(replay_parquet(&*log, &args.into, cut, month, pseudonymizer))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The replayed events as Parquet in `<into>/parquet/`, with a manifest.
async fn replay_parquet(
    log: &dyn EventLog,
    into: &Path,
    cut: Option<Cut>,
    month: Option<String>,
    pseudonymizer: Option<crate::pseudonym::Pseudonymizer>,
) -> anyhow::Result<()> {
    let dir = into.join("parquet");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let fingerprint = pseudonymizer
        .as_ref()
        .map(crate::pseudonym::Pseudonymizer::fingerprint);
    let accept = |envelope: &ledger::log::EventEnvelope| match (&cut, &month) {
        (Some(Cut::Positions(positions)), _) => positions
            .get(&envelope.position.partition)
            .is_some_and(|last| envelope.position.offset <= *last),
        (Some(Cut::Time(until)), _) => envelope.body.recorded_at <= *until,
        (None, Some(month)) => in_period(&envelope.body.stream, month),
        (None, None) => true,
    };
    let mut manifest = crate::audit::parquet::export(log, &dir, pseudonymizer, &accept).await?;
    manifest.selection = match (&cut, &month) {
        (Some(_), _) => "replay cut".to_owned(),
        (None, Some(month)) => format!("replay of period {month}"),
        (None, None) => "replay".to_owned(),
    };
    manifest.pseudonymized = fingerprint;
    let path = dir.join("manifest.json");
    crate::files::write_file(&path, serde_json::to_string_pretty(&manifest)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "parquet: {} events in {} files in {}",
        manifest.events,
        manifest.files.len(),
        dir.display()
    );
    Ok(())
}

/// The streams a period replay needs: the month's period streams and every contract stream (their
/// holder facts and clocks); budgets and reference data are left out.
pub fn in_period(stream: &StreamId, month: &str) -> bool {
    let text = stream.as_str();
    text.starts_with("contract/")
        || (text.starts_with("period/") && text.rsplit('/').next() == Some(month))
}

fn check_target(into: &Path, global: &GlobalOpts) -> anyhow::Result<()> {
    let live = views_dir(&global.data_dir);
    let same = match (into.canonicalize(), live.canonicalize()) {
        (Ok(into), Ok(live)) => into == live,
        _ => into == live,
    };
    if same {
        return Err(UsageError(format!(
            "--into {} is the live views directory; replay into another one",
            into.display()
        ))
        .into());
    }
    let occupied = std::fs::read_dir(into).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        return Err(UsageError(format!(
            "--into {} is not empty; replay needs a fresh directory so that its views hold only the replayed events",
            into.display()
        ))
        .into());
    }
    Ok(())
}

/// Projects each named partition up to and including its offset.
async fn replay_positions(
    log: &dyn EventLog,
    into: &Path,
    positions: &BTreeMap<PartitionId, Offset>,
) -> anyhow::Result<CatchUpReport> {
    let started = std::time::Instant::now();
    let store = SledStore::open(into, FlushPolicy::Background { every_ms: 500 })
        .with_context(|| format!("cannot open the views in {}", into.display()))?;
    let (mut projector, _) = Projector::open(store, projector::views::all())?;
    let mut report = CatchUpReport::default();
    let bar = progress_bar();
    for (&partition, &last) in positions {
        if partition.0 >= log.partitions() {
            return Err(UsageError(format!(
                "--until names partition {} but the log has {}",
                partition.0,
                log.partitions()
            ))
            .into());
        }
        let end = log.end_offset(partition).await?.0.min(last.0 + 1);
        bar.inc_length(end);
        let mut next = 0;
        while next < end {
            let want = usize::try_from(end - next)
                .unwrap_or(usize::MAX)
                .min(REPLAY_BATCH_MAX);
            let batch = log.read_batch(partition, Offset(next), want).await?;
            let Some(last_read) = batch.last() else { break };
            next = last_read.position.offset.0 + 1;
            let outcome = projector.step(&batch)?;
            report.events += outcome.events;
            report.batches += 1;
            report.applied += outcome.applied;
            report.skipped += outcome.below_checkpoint + outcome.duplicates;
            bar.inc(outcome.events);
        }
    }
    bar.finish_and_clear();
    projector.flush()?;
    report.elapsed = started.elapsed();
    Ok(report)
}
