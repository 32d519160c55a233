//! `ledger bench startup [--events N] [--dir DIR]`: how long the writer takes from start to ready, and
//! its resident memory, on a log of N events (issue #16 §1). A benchmark, not a timed test.
//!
//! The log is generated (`projector::views::sample`: national months of dispensings with their
//! registries, acts and payments) or reused when `--dir` already holds one (a demo's data directory,
//! for example). Each measurement is a fresh process (`ledger bench startup --child`), so its peak RSS
//! (`VmHWM`) is the writer's alone: it opens the log as the writer, then the `Dispatcher` with its
//! state in `<dir>/writer-state`. It runs twice: once with the writer's state removed (the rebuild
//! from the whole log, what every start cost before the checkpoint), then from the checkpoint that run
//! left. The log's own open (`FileLog::open` reads each segment's index file and scans only what no
//! index file covers, docs/embedded-log.md) is reported as the floor the writer's state cannot go
//! below.
//!
//! Back of the envelope: from a checkpoint at the log's end the writer reads nothing but its keys and
//! seals, so it is ready when the log is open; after a clean close the log's open reads ~1.1 MB of
//! index file per 64 MB segment and scans nothing, and it keeps ~32 bytes of index per record in
//! memory (the part of the target it does not meet at 12M records). The last line is exactly `startup: events=<n> ready_ms=<ms> rss_mb=<mb>
//! first_decision_ms=<ms>`.
//!
//! The first decision (issue #16 §1, snapshots): once ready, each child decides one command on the
//! log's longest period stream (a reversal of a dispensing the stream does not hold, refused after
//! the state is folded, so the log is left as it was) and reports its time and the events it folded.
//! Three starts: the rebuild with snapshots off (main before snapshots: the whole stream is folded);
//! from the checkpoint with snapshots on but none yet (the whole stream is folded, and a snapshot
//! encoded and written: the cost of taking one); and from the checkpoint with that snapshot (only the
//! events after it are folded). The last line's `first_decision_ms` is the third's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use futures::StreamExt;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::period::ReverseDispensing;
use ledger::domain::values::DispensingId;
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use ledger::log::{CommandId, EventLog, Offset, PartitionId, StreamId, read_partition};
use projector::views::sample::SampleConfig;

use crate::auth::{Organisation, Policy, Principal};
use crate::submit::dispatch::{Dispatcher, Outcome};
use crate::submit::wire::{CommandEnvelope, WireCommand};

#[derive(Debug, clap::Args)]
pub struct StartupBenchArgs {
    /// Events of the generated log (dispensings, plus their periods' lifecycle events).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Dispensings per contract and month of the generated log.
    #[arg(long, default_value_t = 1_000)]
    pub per_contract: u32,
    /// Months of the generated log.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Where the log is (reused when it holds one) or generated; default: a fresh directory under the
    /// system temporary directory, removed afterwards.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Measure one start in this process and print its figures (the parent's child mode).
    #[arg(long, hide = true)]
    pub child: bool,
    /// The stream the child's first decision is taken on (the parent's child mode).
    #[arg(long, hide = true)]
    pub first_decision: Option<String>,
    /// The child takes no snapshots and reads none (the parent's child mode: main before #16's
    /// snapshots).
    #[arg(long, hide = true)]
    pub no_snapshots: bool,
}

/// One start as the child measured it.
#[derive(Debug, Clone, Copy)]
struct Start {
    events: u64,
    log_open_ms: u128,
    ready_ms: u128,
    rss_mb: u64,
    replayed: u64,
    rebuilt: bool,
    first_decision_ms: u128,
    /// Events folded by the first decision.
    folded: u64,
    /// Time the first decision spent encoding a snapshot (part of `first_decision_ms`).
    encode_ms: u64,
}

pub fn run(args: StartupBenchArgs) -> anyhow::Result<ExitCode> {
    if args.child {
        let dir = args.dir.context("--child needs --dir")?;
        let stream = args
            .first_decision
            .context("--child needs --first-decision")?;
        let start = super::runtime()?.block_on(measure_start(&dir, &stream, !args.no_snapshots))?;
        println!(
            "child events={} log_open_ms={} ready_ms={} rss_mb={} replayed={} rebuilt={} first_decision_ms={} folded={} encode_ms={}",
            start.events,
            start.log_open_ms,
            start.ready_ms,
            start.rss_mb,
            start.replayed,
            start.rebuilt,
            start.first_decision_ms,
            start.folded,
            start.encode_ms
        );
        return Ok(ExitCode::SUCCESS);
    }
    let owned = args.dir.is_none();
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ledger-bench-startup-{}", std::process::id()))
    });
    let result = parent(&args, &dir);
    if owned {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn parent(args: &StartupBenchArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    if !dir.join("log").join("meta.json").exists() {
        generate(args, dir)?;
    }
    let state = crate::writer_state::state_dir(dir);
    if state.exists() {
        std::fs::remove_dir_all(&state)
            .with_context(|| format!("cannot remove {}", state.display()))?;
    }
    let (stream, length) = super::runtime()?
        .block_on(longest_period_stream(dir))?
        .context("the log holds no period stream to decide on")?;
    println!("first decision on {stream} ({length} events)");
    let cold = child(dir, &stream, false)?;
    let unsnapshotted = child(dir, &stream, true)?;
    let warm = child(dir, &stream, true)?;
    for (name, start) in [
        ("rebuild from the log, no snapshots", cold),
        ("from the checkpoint, no snapshot yet", unsnapshotted),
        ("from the checkpoint", warm),
    ] {
        println!(
            "startup ({name}): events={} log_open_ms={} ready_ms={} rss_mb={} replayed={} rebuilt={} first_decision_ms={} first_decision_folded={} snapshot_encode_ms={}",
            start.events,
            start.log_open_ms,
            start.ready_ms,
            start.rss_mb,
            start.replayed,
            start.rebuilt,
            start.first_decision_ms,
            start.folded,
            start.encode_ms
        );
    }
    println!(
        "startup: events={} ready_ms={} rss_mb={} first_decision_ms={}",
        warm.events, warm.ready_ms, warm.rss_mb, warm.first_decision_ms
    );
    Ok(ExitCode::SUCCESS)
}

fn generate(args: &StartupBenchArgs, dir: &Path) -> anyhow::Result<()> {
    let months = args.months.max(1);
    let per_contract = args.per_contract.max(1);
    let per_contract_year = u64::from(months) * u64::from(per_contract);
    let contracts = u32::try_from(args.events.div_ceil(per_contract_year).max(1))
        .context("--events is too large")?;
    let config = SampleConfig {
        seed: 16,
        contracts,
        periods: months,
        dispensings_per_period: per_contract,
        lifecycle: true,
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bar = crate::project::progress_bar();
    bar.set_length(args.events);
    bar.set_message("generating");
    let appended = super::runtime()?.block_on(async {
        let log = FileLog::open(
            dir,
            FileLogOptions {
                durability: Durability::NoSync,
                ..FileLogOptions::default()
            },
        )?;
        crate::project::write_sample_log(&log, config, &bar).await
    })?;
    bar.finish_and_clear();
    println!("generated {appended} events in {}", dir.display());
    Ok(())
}

/// The longest period stream of the log in `dir` and its length (the parent reads the log once).
async fn longest_period_stream(dir: &Path) -> anyhow::Result<Option<(StreamId, u64)>> {
    let log = FileLog::open_read_only(dir)
        .with_context(|| format!("cannot open the log in {}", dir.display()))?;
    let mut longest: Option<(StreamId, u64)> = None;
    for partition in 0..log.partitions() {
        let mut records = read_partition(&log, PartitionId(partition), Offset(0));
        while let Some(envelope) = records.next().await {
            let body = envelope?.body;
            if body.stream.category() == "period"
                && longest
                    .as_ref()
                    .is_none_or(|(_, length)| body.stream_version.0 > *length)
            {
                longest = Some((body.stream, body.stream_version.0));
            }
        }
    }
    Ok(longest)
}

/// Runs one measured start in a fresh process, with or without snapshots.
fn child(dir: &Path, stream: &StreamId, snapshots: bool) -> anyhow::Result<Start> {
    let exe = std::env::current_exe().context("cannot find the ledger binary")?;
    let mut command = std::process::Command::new(exe);
    command.args([
        "bench",
        "startup",
        "--child",
        "--first-decision",
        stream.as_str(),
    ]);
    if !snapshots {
        command.arg("--no-snapshots");
    }
    let output = command
        .arg("--dir")
        .arg(dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot start the measured writer")?;
    anyhow::ensure!(
        output.status.success(),
        "the measured writer failed: {}",
        output.status
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|line| line.starts_with("child "))
        .with_context(|| format!("the measured writer printed no figures: {text}"))?;
    parse(line)
}

fn parse(line: &str) -> anyhow::Result<Start> {
    let field = |name: &str| -> anyhow::Result<&str> {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .with_context(|| format!("no {name} in {line:?}"))
    };
    Ok(Start {
        events: field("events")?.parse()?,
        log_open_ms: field("log_open_ms")?.parse()?,
        ready_ms: field("ready_ms")?.parse()?,
        rss_mb: field("rss_mb")?.parse()?,
        replayed: field("replayed")?.parse()?,
        rebuilt: field("rebuilt")?.parse()?,
        first_decision_ms: field("first_decision_ms")?.parse()?,
        folded: field("folded")?.parse()?,
        encode_ms: field("encode_ms")?.parse()?,
    })
}

/// Opens the log as the writer and the dispatcher on its state: the start of `ledger serve` up to
/// `ready`, without the listener; then decides one command on `stream`.
async fn measure_start(dir: &Path, stream: &str, snapshots: bool) -> anyhow::Result<Start> {
    let started = Instant::now();
    let file = FileLog::open(dir, FileLogOptions::default())
        .with_context(|| format!("cannot open the log in {}", dir.display()))?;
    let log_open_ms = started.elapsed().as_millis();
    let events = file
        .stats()
        .partitions
        .iter()
        .map(|partition| partition.records)
        .sum();
    let log: Arc<dyn EventLog> = Arc::new(file);
    let fund = Organisation::Kz(crate::demo::fund_bin(2026));
    let policy = Policy::load(None, fund)?;
    let state = crate::writer_state::state_dir(dir);
    let mut dispatcher =
        Dispatcher::open_with_state(log, crate::demo::fund_bin(2026), policy, Some(&state)).await?;
    if !snapshots {
        dispatcher = dispatcher.without_snapshots();
    }
    let ready_ms = started.elapsed().as_millis();
    let report = dispatcher.state_report();
    let decided = Instant::now();
    first_decision(&dispatcher, stream).await?;
    let first_decision_ms = decided.elapsed().as_millis();
    let folded = dispatcher.period_events_folded();
    let encode_ms = dispatcher
        .snapshots()
        .map_or(0, |snapshots| snapshots.stats().encode_micros / 1000);
    let rss_mb = peak_rss_mb()?;
    drop(dispatcher); // writes the snapshot the decision left
    Ok(Start {
        events,
        log_open_ms,
        ready_ms,
        rss_mb,
        replayed: report.replayed,
        rebuilt: report.rebuilt,
        first_decision_ms,
        folded,
        encode_ms,
    })
}

/// Decides, as the local operator, the reversal of a dispensing `stream` does not hold: refused
/// once the stream's state is folded, so nothing is appended.
async fn first_decision(dispatcher: &Dispatcher, stream: &str) -> anyhow::Result<()> {
    let principal = Principal::local(dispatcher.policy().local_operator(), None);
    let reversal = ReverseDispensing {
        dispensing_id: DispensingId::new("BENCH-STARTUP-NONE".to_owned())
            .map_err(|error| anyhow::anyhow!("{error}"))?,
        reversed_at: crate::handler::now(),
        reason: "bench startup: the first decision after a start".into(),
    };
    let envelope = CommandEnvelope {
        command_id: CommandId::derived("bench-startup", &format!("{:?}", Instant::now())),
        stream: StreamId::new(stream.to_owned()).map_err(|error| anyhow::anyhow!("{error}"))?,
        actor: None,
        jurisdiction: Jurisdiction::KZ,
        occurred_at: None,
        correlation_id: None,
        expected_version: None,
        command: WireCommand::ReverseDispensing(reversal),
    };
    let outcome = dispatcher.submit(&principal, &envelope).await;
    anyhow::ensure!(
        !matches!(outcome, Ok(Outcome::Appended(_))),
        "the first decision's reversal was appended; it must be refused"
    );
    Ok(())
}

/// The process's peak resident memory (`VmHWM` of /proc/self/status), in MB.
pub fn peak_rss_mb() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("cannot read /proc/self/status (peak RSS is measured on Linux)")?;
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next())
        .context("no VmHWM in /proc/self/status")?
        .parse()?;
    Ok(kb / 1024)
}
