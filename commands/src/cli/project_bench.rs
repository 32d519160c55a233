//! `ledger bench project [--events N]`: projection throughput of a generated national month into all
//! views (sled), beside a raw baseline measured in the same run: reading and decoding the same events
//! (`Event::from_payload`) without writing views. A benchmark, not a timed test.
//!
//! Back of the envelope: a dispensing record is ~700 bytes; reading and decoding one costs ~2–3 µs, so
//! the raw baseline is a few hundred thousand events/s on one core. Projection adds one sled put of the
//! recorded payload per dispensing (no re-encoding) and a few point reads per lifecycle event; sled
//! batches ~1,000 puts in one write, so the target is ≥ 150,000 events/s and ≥ 40% of the baseline.
//!
//! The last line is exactly `project: ledger=<events/s> raw=<events/s> ratio=<ledger/raw>`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::StreamExt;
use ledger::domain::event::Event;
use ledger::log::{EventLog, Offset, PartitionId, read_partition};
use projector::views::sample::SampleConfig;

use super::bench_month::per_second;
use crate::project::{catch_up_views, progress_bar};

#[derive(Debug, clap::Args)]
pub struct ProjectBenchArgs {
    /// Dispensing events to generate (plus the lifecycle events of their periods).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Dispensings per contract and period (a national month: ~1,000 contracts).
    #[arg(long, default_value_t = 1_000)]
    pub per_contract: u32,
    /// Work directory (default: a fresh directory under the system temp dir, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub fn run(args: ProjectBenchArgs) -> anyhow::Result<ExitCode> {
    let config = super::bench_month::sample_month(args.events, args.per_contract, args.seed)?;
    let (events, ledger_elapsed, raw_elapsed) =
        super::bench_month::in_work_dir(args.dir, "project", |dir| async move {
            measure(&dir, config).await
        })?;
    let ledger_rate = per_second(events, ledger_elapsed);
    let raw_rate = per_second(events, raw_elapsed);
    let ratio_hundredths = ledger_rate.saturating_mul(100) / raw_rate.max(1);
    println!(
        "raw: {events} events read and decoded in {} ms; ledger: projected into all views in {} ms",
        raw_elapsed.as_millis(),
        ledger_elapsed.as_millis()
    );
    println!(
        "project: ledger={ledger_rate} raw={raw_rate} ratio={}.{:02}",
        ratio_hundredths / 100,
        ratio_hundredths % 100
    );
    Ok(ExitCode::SUCCESS)
}

/// Generates the log, then measures the raw read-and-decode pass and the projection.
async fn measure(
    dir: &std::path::Path,
    config: SampleConfig,
) -> anyhow::Result<(u64, Duration, Duration)> {
    let log = super::bench_month::generate(dir, config).await?;
    let raw_started = Instant::now();
    let raw_events = raw_pass(&log).await?;
    let raw_elapsed = raw_started.elapsed();
    let projected = catch_up_views(
        &log,
        &dir.join("views"),
        projector::CatchUpOptions::default(),
    )
    .await?;
    let ledger_elapsed = projected.report.elapsed;
    eprintln!("{}", projected.report);
    assert_eq!(
        projected.report.events, raw_events,
        "both passes read the same events"
    );
    Ok((raw_events, ledger_elapsed, raw_elapsed))
}

/// Reads every partition and decodes every payload, writing nothing.
pub(super) async fn raw_pass(log: &dyn EventLog) -> anyhow::Result<u64> {
    let bar = progress_bar();
    bar.set_message("raw");
    let mut events = 0u64;
    for index in 0..log.partitions() {
        bar.inc_length(log.end_offset(PartitionId(index)).await?.0);
        let mut stream = read_partition(log, PartitionId(index), Offset(0));
        while let Some(envelope) = stream.next().await {
            let envelope = envelope?;
            let event = Event::from_payload(&envelope.body.payload)?;
            std::hint::black_box(&event);
            events += 1;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(events)
}
