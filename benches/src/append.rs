//! The durable-append benchmark: events appended through [`FileLog`] with group commit from many
//! concurrent tasks, and beside it a raw baseline that writes the same bytes with the same fsync
//! cadence into a plain file, without encoding, chaining or indexing.
//!
//! Back of the envelope: a 300-byte payload makes a ~450-byte framed record. On a disk where
//! `fdatasync` costs ~0.3 ms, the raw baseline is bound by the sync count: with ~1,000 records per
//! sync round it writes ~450 KB per round, well over 1M records/s. The ledger adds, per event, one
//! bincode encode (caller's task), one SHA-256 and one CRC-32C (writer thread), an index update and a
//! task wake-up, a few microseconds in all; the writer pipelines that CPU work with the sync thread's
//! fsyncs, so on 2 cores it should reach a few hundred thousand events/s.
//!
//! Measured (`docs/embedded-log.md`): about 3.7 µs of CPU per durable event at one event per command,
//! so the rate follows the share of the two cores the process gets: 70–315k events/s and 0.13–0.45
//! of the raw rate while other engineers compile (load 5–10); ~0.5 of raw at four and more events
//! per command. The raw baseline hardly needs the CPU; when the disk is quiet it runs at memory
//! bandwidth.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::file::{CommitStats, Durability, FileLog, FileLogOptions};
use ledger::log::{
    Actor, ActorId, ActorRole, AppendRequest, CommandId, EventId, EventLog, LogError, NewEvent,
    Payload, StreamId, StreamVersion,
};
use uuid::Uuid;

/// What to run.
#[derive(Debug, Clone)]
pub struct AppendConfig {
    /// Events to append in total.
    pub events: u64,
    /// Appends in flight at once, each on its own stream.
    pub concurrency: u32,
    /// Tokio tasks the in-flight appends are spread over: `concurrency` (the default) gives every
    /// stream its own task, as `ledger serve` does with one task per request; fewer tasks each keep
    /// several appends in flight, as `ledger submit` and the demo do.
    pub tasks: u32,
    /// Events per append (per command).
    pub events_per_append: u32,
    /// Commands per call: 1 appends each command with `append`; more hands that many commands (each
    /// on its own stream) to one `append_many`, as `serve` and `submit` do with a batch.
    pub commands_per_call: u32,
    /// Bytes of each event's synthetic payload.
    pub payload_bytes: u32,
    pub partitions: u32,
    /// A scratch directory; the benchmark creates `ledger/` and `raw.bin` inside it.
    pub dir: PathBuf,
}

impl AppendConfig {
    /// The defaults of `ledger bench append`.
    pub fn new(dir: PathBuf) -> AppendConfig {
        AppendConfig {
            events: 1_000_000,
            concurrency: 4096,
            tasks: 4096,
            events_per_append: 1,
            commands_per_call: 1,
            payload_bytes: 300,
            partitions: 8,
            dir,
        }
    }
}

/// The ledger half of a run.
#[derive(Debug, Clone, Copy)]
pub struct LedgerRun {
    pub events: u64,
    pub elapsed: Duration,
    pub stats: CommitStats,
}

/// The raw half of a run.
#[derive(Debug, Clone, Copy)]
pub struct RawRun {
    pub bytes: u64,
    pub fsyncs: u64,
    pub elapsed: Duration,
}

/// Both halves and the derived rates.
#[derive(Debug, Clone, Copy)]
pub struct AppendReport {
    pub ledger: LedgerRun,
    pub raw: RawRun,
    pub ledger_events_per_second: u64,
    pub raw_events_per_second: u64,
}

impl AppendReport {
    pub fn new(ledger: LedgerRun, raw: RawRun) -> AppendReport {
        AppendReport {
            ledger,
            raw,
            ledger_events_per_second: per_second(ledger.events, ledger.elapsed),
            raw_events_per_second: per_second(ledger.events, raw.elapsed),
        }
    }

    /// `append: ledger=<events/s> raw=<events/s> ratio=<ledger/raw>`, the ratio with 2 decimals.
    pub fn summary_line(&self) -> String {
        let hundredths = u128::from(self.ledger_events_per_second) * 100
            / u128::from(self.raw_events_per_second.max(1));
        format!(
            "append: ledger={} raw={} ratio={}.{:02}",
            self.ledger_events_per_second,
            self.raw_events_per_second,
            hundredths / 100,
            hundredths % 100
        )
    }
}

/// `count` per `elapsed`, as an integer rate per second.
pub fn per_second(count: u64, elapsed: Duration) -> u64 {
    let nanos = elapsed.as_nanos().max(1);
    u64::try_from(u128::from(count) * 1_000_000_000 / nanos).unwrap_or(u64::MAX)
}

/// The ledger and raw halves alternate this many times in one run, each raw slice replaying the bytes
/// and sync rounds of the ledger slice just before it. The disk of a shared machine changes speed from
/// second to second; interleaving exposes both halves to the same conditions.
pub const SLICES: u64 = 5;

/// Runs the benchmark: [`SLICES`] ledger slices on one log, each followed by its raw replay.
pub async fn run(
    config: &AppendConfig,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<AppendReport, LogError> {
    let dir = config.dir.join("ledger");
    let raw_path = config.dir.join("raw.bin");
    let log = Arc::new(open_fresh(&dir, config.partitions)?);
    let mut ledger = LedgerRun {
        events: 0,
        elapsed: Duration::ZERO,
        stats: CommitStats::default(),
    };
    let mut raw = RawRun {
        bytes: 0,
        fsyncs: 0,
        elapsed: Duration::ZERO,
    };
    let slices = SLICES.min(config.events).max(1);
    for slice in 0..slices {
        let events = config.events / slices + u64::from(slice < config.events % slices);
        let before = log.commit_stats();
        let base = ledger.events;
        let elapsed =
            append_slice(&log, config, slice, events, &|done| progress(base + done)).await?;
        let stats = since(log.commit_stats(), before);
        let replay =
            run_raw(&raw_path, stats.bytes, stats.batches).map_err(|source| LogError::Io {
                path: raw_path.clone(),
                source,
            })?;
        ledger.events += stats.records;
        ledger.elapsed += elapsed;
        ledger.stats = add(ledger.stats, stats);
        raw.bytes += replay.bytes;
        raw.fsyncs += replay.fsyncs;
        raw.elapsed += replay.elapsed;
    }
    drop(log);
    remove_dir(&dir)?;
    Ok(AppendReport::new(ledger, raw))
}

/// Appends `config.events` events through a fresh [`FileLog`] in one slice (for criterion, which
/// times the raw half itself).
pub async fn run_ledger(
    config: &AppendConfig,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<LedgerRun, LogError> {
    let dir = config.dir.join("ledger");
    let log = Arc::new(open_fresh(&dir, config.partitions)?);
    let elapsed = append_slice(&log, config, 0, config.events, progress).await?;
    let stats = log.commit_stats();
    drop(log);
    remove_dir(&dir)?;
    Ok(LedgerRun {
        events: stats.records,
        elapsed,
        stats,
    })
}

fn open_fresh(dir: &Path, partitions: u32) -> Result<FileLog, LogError> {
    remove_dir(dir)?;
    let options = FileLogOptions {
        partitions,
        durability: Durability::FsyncPerBatch,
        ..FileLogOptions::default()
    };
    FileLog::open(dir, options)
}

/// Appends `events` events from `config.concurrency` appenders, each on its own stream of this slice,
/// spread over `config.tasks` spawned tasks; returns how long it took.
async fn append_slice(
    log: &Arc<FileLog>,
    config: &AppendConfig,
    slice: u64,
    events: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Duration, LogError> {
    let state = Arc::new(Workload {
        slice,
        events,
        per_append: u64::from(config.events_per_append),
        claimed: AtomicU64::new(0),
        done: AtomicU64::new(0),
        template: payload(config.payload_bytes),
    });
    let started = Instant::now();
    let per_call = config.commands_per_call.clamp(1, config.concurrency.max(1));
    // Each appender owns `per_call` streams and keeps one call in flight.
    let callers = (config.concurrency / per_call).max(1);
    let tasks = config.tasks.clamp(1, callers);
    let appenders = (0..tasks).map(|task| {
        // Appender numbers task, task + tasks, task + 2 tasks, … below the number of callers.
        let callers: Vec<u32> = (task..callers)
            .step_by(usize::try_from(tasks).expect("u32 fits in usize"))
            .collect();
        let (log, state) = (Arc::clone(log), Arc::clone(&state));
        tokio::spawn(async move {
            let appenders = callers.into_iter().map(|caller| {
                appender(
                    Arc::clone(&log),
                    Arc::clone(&state),
                    caller * per_call,
                    per_call,
                )
            });
            futures::future::try_join_all(appenders).await.map(drop)
        })
    });
    let all = futures::future::try_join_all(appenders);
    tokio::pin!(all);
    let outcomes = loop {
        tokio::select! {
            outcomes = &mut all => break outcomes,
            () = tokio::time::sleep(PROGRESS_EVERY) => progress(state.done.load(Ordering::Relaxed)),
        }
    };
    let elapsed = started.elapsed();
    for outcome in
        outcomes.map_err(|error| LogError::Unavailable(format!("appender task failed: {error}")))?
    {
        outcome?;
    }
    progress(state.done.load(Ordering::Relaxed));
    Ok(elapsed)
}

fn since(after: CommitStats, before: CommitStats) -> CommitStats {
    CommitStats {
        batches: after.batches - before.batches,
        fsyncs: after.fsyncs - before.fsyncs,
        records: after.records - before.records,
        bytes: after.bytes - before.bytes,
    }
}

fn add(left: CommitStats, right: CommitStats) -> CommitStats {
    CommitStats {
        batches: left.batches + right.batches,
        fsyncs: left.fsyncs + right.fsyncs,
        records: left.records + right.records,
        bytes: left.bytes + right.bytes,
    }
}

/// How often the progress callback is called.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What the appending tasks share.
struct Workload {
    slice: u64,
    events: u64,
    per_append: u64,
    claimed: AtomicU64,
    done: AtomicU64,
    template: Vec<u8>,
}

/// One appender on its own `streams` streams, numbered from `first`: claims a command's worth of
/// events per stream at a time until all events are claimed, and appends them in one call (one
/// `append` for a single stream, one `append_many` for several).
async fn appender(
    log: Arc<FileLog>,
    workload: Arc<Workload>,
    first: u32,
    streams: u32,
) -> Result<(), LogError> {
    let mut heads: Vec<(StreamId, StreamVersion)> = (first..first + streams)
        .map(|number| {
            let stream = StreamId::new(format!("bench/{}/{number}", workload.slice))
                .expect("valid stream id");
            (stream, StreamVersion::NONE)
        })
        .collect();
    for sequence in 0u64.. {
        let mut requests = Vec::with_capacity(heads.len());
        for (number, (stream, version)) in (first..).zip(heads.drain(..)) {
            let first_event = workload
                .claimed
                .fetch_add(workload.per_append, Ordering::Relaxed);
            if first_event >= workload.events {
                break;
            }
            let count = workload.per_append.min(workload.events - first_event);
            let events = (first_event..first_event + count)
                .map(|event_number| event(workload.slice << 40 | event_number, &workload.template))
                .collect();
            let command_id = CommandId(Uuid::from_u64_pair(
                workload.slice << 32 | u64::from(number),
                sequence,
            ));
            requests.push(AppendRequest {
                stream,
                expected: version,
                command_id,
                events,
            });
        }
        if requests.is_empty() {
            break;
        }
        let outcomes = if requests.len() == 1 {
            vec![log.append(requests.pop().expect("one request")).await]
        } else {
            log.append_many(requests).await
        };
        for outcome in outcomes {
            let outcome = outcome?;
            let count = u64::try_from(outcome.positions.len()).expect("fits");
            // The outcome hands the stream id back: no clone per append, as a careful caller would do.
            let version = StreamVersion(outcome.first_version.0 + count - 1);
            heads.push((outcome.stream, version));
            workload.done.fetch_add(count, Ordering::Relaxed);
        }
    }
    Ok(())
}

fn event(number: u64, template: &[u8]) -> NewEvent {
    NewEvent {
        event_id: EventId(Uuid::from_u64_pair(0x0190_0000_0000_7000, number)),
        occurred_at: Timestamp::from_micros(1_767_225_600_000_000),
        jurisdiction: Jurisdiction::KZ,
        causation_id: None,
        correlation_id: Uuid::from_u64_pair(1, 1),
        actor: Actor::new(ActorId::System("bench".to_owned()), ActorRole::System),
        payload: Payload {
            event_type: "BenchEvent".to_owned(),
            schema_version: 1,
            data: template.to_vec(),
        },
        command_digest: None,
    }
}

/// A synthetic payload that does not compress to nothing.
fn payload(bytes: u32) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Writes `bytes` bytes into a fresh plain file in `rounds` equal writes, each followed by
/// `fdatasync`: the ledger's I/O without its encoding, chaining, indexing or task hand-offs.
///
/// The cadence is one sync per ledger sync round (the points at which the ledger's waiters were
/// answered), with the round's bytes in one file. The ledger syncs each touched partition file in a
/// round; doing that concurrently is part of what it must do to keep up, so the baseline does not get
/// extra syncs to make the ledger look better.
pub fn run_raw(path: &Path, bytes: u64, rounds: u64) -> std::io::Result<RawRun> {
    let rounds = rounds.max(1);
    let chunk_bytes = usize::try_from(bytes.div_ceil(rounds)).expect("chunk fits in memory");
    let chunk = payload(u32::try_from(chunk_bytes).unwrap_or(u32::MAX));
    let _ = std::fs::remove_file(path);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    let started = Instant::now();
    let mut written = 0u64;
    for _ in 0..rounds {
        let take =
            usize::try_from((bytes - written).min(u64::try_from(chunk.len()).expect("fits")))
                .expect("fits");
        file.write_all(&chunk[..take])?;
        file.sync_data()?;
        written += u64::try_from(take).expect("fits");
    }
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(path)?;
    Ok(RawRun {
        bytes: written,
        fsyncs: rounds,
        elapsed,
    })
}

fn remove_dir(dir: &Path) -> Result<(), LogError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(LogError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}
