//! `ledger bench append`: the durable-append benchmark as a user-facing command (like
//! `kafka-producer-perf-test`). The measurement itself lives in `ledger_benches::append`, shared with
//! the criterion benchmark, so the command and `cargo bench` measure the same thing.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ledger_benches::append::{AppendConfig, AppendReport};

use super::UsageError;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Durable appends through the embedded log with group commit, beside a raw baseline that writes
    /// the same bytes with the same fsync cadence. The last line is
    /// `append: ledger=<events/s> raw=<events/s> ratio=<ledger/raw>`.
    Append(AppendArgs),
    /// Appends through the ledger's Kafka backend beside the best raw rdkafka produce of the same
    /// bytes with the same guarantees (≥ 10,000 records per transaction); the last line is
    /// `kafka: ledger=<events/s> raw=<events/s> ratio=<ledger/raw>`.
    #[cfg(feature = "kafka")]
    Kafka(super::kafka_bench::KafkaArgs),
    /// One-dispensing commands over HTTPS keep-alive from many connections to the writer service
    /// (one contract, then eight), beside the same bodies posted to a server that only reads and
    /// answers; the last line is `serve: ledger=<commands/s> raw=<requests/s> ratio=<ledger/raw>`.
    Serve(super::serve_bench::ServeBenchArgs),
    /// Projection of a generated national month into all views beside a raw read-and-decode
    /// baseline; the last line is `project: ledger=<events/s> raw=<events/s> ratio=<ledger/raw>`.
    Project(super::project_bench::ProjectBenchArgs),
    /// Parquet and canonical-JSONL export of a generated national month beside a raw read-and-decode
    /// baseline; the last line is `export: ledger=<events/s> raw=<events/s> ratio=<ledger/raw>`.
    Export(super::export_bench::ExportBenchArgs),
    /// The writer's time from start to ready and its peak RSS on a log of N events, rebuilding its
    /// state from the log and then from the checkpoint; the last line is
    /// `startup: events=<n> ready_ms=<ms> rss_mb=<mb>`.
    Startup(super::startup_bench::StartupBenchArgs),
    /// Events delivered by the reader's SSE feed over TLS, and rendered as JSON-topic records, beside
    /// a raw read-and-decode baseline; the last line is
    /// `feed: ledger=<events/s> raw=<events/s> ratio=<ledger/raw>`.
    Feed(super::feed_bench::FeedBenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct AppendArgs {
    /// Events to append.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Appends in flight at once, each on its own stream.
    #[arg(long, default_value_t = 4096)]
    concurrency: u32,
    /// Tokio tasks the in-flight appends are spread over. By default one per stream, like `ledger
    /// serve` (a task per request); fewer tasks keep several appends in flight each, like `ledger
    /// submit` and the demo.
    #[arg(long)]
    tasks: Option<u32>,
    /// Events per append (one command).
    #[arg(long, default_value_t = 1)]
    events_per_append: u32,
    /// Commands per call: 1 appends each command on its own (`append`); more hands that many
    /// commands, each on its own stream, to one `append_many`, as `serve` and `submit` do with a
    /// batch. `--concurrency` counts commands, so `--concurrency / --commands-per-call` calls are in
    /// flight.
    #[arg(long, default_value_t = 1)]
    commands_per_call: u32,
    /// Bytes of each event's synthetic payload.
    #[arg(long, default_value_t = 300)]
    payload_bytes: u32,
    /// Partitions of the benchmark log.
    #[arg(long, default_value_t = 8)]
    partitions: u32,
    /// Scratch directory (created, then emptied); defaults to a fresh directory under the system
    /// temporary directory. Put it on the disk you want to measure.
    #[arg(long)]
    dir: Option<PathBuf>,
}

pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Append(args) => append(args),
        #[cfg(feature = "kafka")]
        BenchCommand::Kafka(args) => super::kafka_bench::run(args),
        BenchCommand::Serve(args) => super::serve_bench::run(args),
        BenchCommand::Project(args) => super::project_bench::run(args),
        BenchCommand::Export(args) => super::export_bench::run(args),
        BenchCommand::Startup(args) => super::startup_bench::run(args),
        BenchCommand::Feed(args) => super::feed_bench::run(args),
    }
}

fn append(args: AppendArgs) -> anyhow::Result<ExitCode> {
    let tasks = args.tasks.unwrap_or(args.concurrency);
    if args.events == 0
        || args.concurrency == 0
        || args.events_per_append == 0
        || args.commands_per_call == 0
        || tasks == 0
    {
        return Err(UsageError(
            "--events, --concurrency, --tasks, --events-per-append and --commands-per-call must be \
             at least 1"
                .to_owned(),
        )
        .into());
    }
    if args.commands_per_call > args.concurrency {
        return Err(UsageError(format!(
            "--commands-per-call {} is more than --concurrency {}: a call's commands are in flight",
            args.commands_per_call, args.concurrency
        ))
        .into());
    }
    if tasks > args.concurrency {
        return Err(UsageError(format!(
            "--tasks {tasks} is more than --concurrency {}: every task needs at least one stream",
            args.concurrency
        ))
        .into());
    }
    let dir = args.dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ledger-bench-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let config = AppendConfig {
        events: args.events,
        concurrency: args.concurrency,
        tasks,
        events_per_append: args.events_per_append,
        commands_per_call: args.commands_per_call,
        payload_bytes: args.payload_bytes,
        partitions: args.partitions,
        dir: dir.clone(),
    };
    let bar = indicatif::ProgressBar::new(args.events);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} ledger append {pos}/{len} events [{elapsed}] {per_sec}",
        )
        .expect("valid progress template"),
    );
    let runtime = super::runtime()?;
    let report = runtime
        .block_on(ledger_benches::append::run(&config, &|done| {
            bar.set_position(done)
        }))
        .with_context(|| format!("append benchmark in {} failed", dir.display()))?;
    bar.finish_and_clear();
    let _ = std::fs::remove_dir(&dir);
    print_report(&config, &report)?;
    Ok(ExitCode::SUCCESS)
}

fn print_report(config: &AppendConfig, report: &AppendReport) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let stats = report.ledger.stats;
    writeln!(
        out,
        "ledger: {} events ({} B payload, {} per append, {} command{} per call, {} in flight over {} tasks, {} partitions) in {:.3?}",
        report.ledger.events,
        config.payload_bytes,
        config.events_per_append,
        config.commands_per_call,
        if config.commands_per_call == 1 {
            ""
        } else {
            "s"
        },
        config.concurrency,
        config.tasks,
        config.partitions,
        report.ledger.elapsed
    )?;
    writeln!(
        out,
        "ledger: {} bytes framed ({} B/record), {} sync rounds, {} fsyncs ({} records/fsync)",
        stats.bytes,
        stats.bytes / stats.records.max(1),
        stats.batches,
        stats.fsyncs,
        stats.records / stats.fsyncs.max(1)
    )?;
    writeln!(
        out,
        "raw:    {} bytes in {} write+fdatasync rounds in {:.3?}",
        report.raw.bytes, report.raw.fsyncs, report.raw.elapsed
    )?;
    writeln!(out, "{}", report.summary_line())
}
