//! Feeding the projector from the event log: catch-up (read to the end, then return) and follow
//! (subscribe and apply new events as they are committed).
//!
//! [`crate::Projector::step`] is synchronous and does the store I/O on the calling task. The CLI runs
//! one projector task, so blocking it briefly per batch is the simple and honest choice; a server that
//! shares its executor with request handlers should run the driver on its own runtime thread.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::StreamExt;
use ledger::domain::time::Timestamp;
use ledger::log::{
    EventEnvelope, EventLog, LogError, Offset, PartitionId, StreamId, read_partition, subscribe,
};
use tracing::{Instrument, info, info_span};

use crate::projector::{Projector, ProjectorError, StepOutcome};
use crate::store::ViewStore;

/// The most events handed to one [`Projector::step`] by the driver: one store batch. Larger batches
/// amortise the atomic write; smaller ones bound memory and the work lost to a crash.
pub const PROJECT_BATCH_MAX: usize = 1024;

/// Where a catch-up stands, reported after every batch (e.g. to drive a progress bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub partition: PartitionId,
    /// The next offset to read on `partition`.
    pub next: Offset,
    /// Offsets read so far over all partitions.
    pub done: u64,
    /// Offsets to read over all partitions, as measured when the catch-up started.
    pub total: u64,
}

/// What a catch-up or a follow did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CatchUpReport {
    /// Events read from the log.
    pub events: u64,
    /// Batches stepped.
    pub batches: u64,
    /// (view, event) pairs applied.
    pub applied: u64,
    /// (view, event) pairs skipped: below a checkpoint or already applied.
    pub skipped: u64,
    /// Wall time taken (for the summary line; never asserted on).
    pub elapsed: Duration,
}

/// The one-line summary, e.g. `projected 1200 events in 3 batches (applied 2400, skipped 0) in 0.52 s`.
impl std::fmt::Display for CatchUpReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let millis = self.elapsed.as_millis();
        write!(
            f,
            "projected {} events in {} batches (applied {}, skipped {}) in {}.{:02} s",
            self.events,
            self.batches,
            self.applied,
            self.skipped,
            millis / 1000,
            (millis % 1000) / 10
        )
    }
}

impl CatchUpReport {
    pub(crate) fn add(&mut self, outcome: &StepOutcome) {
        self.events += outcome.events;
        self.batches += 1;
        self.applied += outcome.applied;
        self.skipped += outcome.below_checkpoint + outcome.duplicates;
    }
}

/// What a catch-up covers beyond "everything up to the end".
#[derive(Default)]
pub struct CatchUpOptions<'a> {
    /// Stops each partition before its first event recorded after this instant: views as of a point
    /// in time (`ledger replay --until`). Reading stops there, so each stream gets a prefix.
    pub until: Option<Timestamp>,
    /// Projects only the streams this accepts (`ledger replay --period`). It must select whole
    /// streams: dropping some events of a stream is a gap, and the projector stops on it.
    pub streams: Option<&'a (dyn Fn(&StreamId) -> bool + Sync)>,
    /// Called after every batch, e.g. to drive a progress bar.
    pub progress: Option<&'a mut dyn FnMut(&Progress)>,
}

/// Brings every view up to the end of every partition as measured at the start, resuming each
/// partition from the lowest checkpoint of the views (so a view being rebuilt replays from 0 while
/// the others skip what they have). Returns when done.
pub async fn catch_up<S: ViewStore>(
    projector: &mut Projector<S>,
    log: &dyn EventLog,
    progress: Option<&mut dyn FnMut(&Progress)>,
) -> Result<CatchUpReport, ProjectorError> {
    catch_up_with(
        projector,
        log,
        CatchUpOptions {
            progress,
            ..CatchUpOptions::default()
        },
    )
    .await
}

/// [`catch_up`] with a cut-off time and a stream filter.
pub async fn catch_up_with<S: ViewStore>(
    projector: &mut Projector<S>,
    log: &dyn EventLog,
    mut options: CatchUpOptions<'_>,
) -> Result<CatchUpReport, ProjectorError> {
    let started = Instant::now();
    let mut plan = Vec::new();
    let mut total = 0u64;
    for index in 0..log.partitions() {
        let partition = PartitionId(index);
        let from = projector.resume_offset(partition);
        let end = log.end_offset(partition).await?;
        total += end.0.saturating_sub(from.0);
        plan.push((partition, from, end));
    }
    info!(partitions = plan.len(), offsets = total, "catch-up started");
    let mut report = CatchUpReport::default();
    let mut done = 0u64;
    for (partition, from, end) in plan {
        let span = info_span!(
            "catch_up_partition",
            partition = partition.0,
            from = from.0,
            end = end.0
        );
        let until = options.until;
        let within = move |item: &Result<EventEnvelope, LogError>| {
            item.as_ref().map_or(true, |envelope| {
                envelope.position.offset < end
                    && until.is_none_or(|until| envelope.body.recorded_at <= until)
            })
        };
        let events = read_partition(log, partition, from)
            .take_while(move |item| std::future::ready(within(item)));
        let mut chunks = Box::pin(events.chunks(PROJECT_BATCH_MAX));
        while let Some(mut chunk) = chunks.next().instrument(span.clone()).await {
            let read = u64::try_from(chunk.len()).expect("bounded chunk");
            if let Some(accept) = options.streams {
                chunk.retain(|item| {
                    item.as_ref()
                        .map_or(true, |envelope| accept(&envelope.body.stream))
                });
            }
            let outcome = span.in_scope(|| step_chunk(projector, chunk))?;
            report.add(&outcome);
            done += read;
            if let Some(progress) = options.progress.as_deref_mut() {
                let next = projector.resume_offset(partition);
                progress(&Progress {
                    partition,
                    next,
                    done,
                    total,
                });
            }
        }
    }
    report.elapsed = started.elapsed();
    info!(
        events = report.events,
        applied = report.applied,
        elapsed_ms = report.elapsed.as_millis(),
        "catch-up done"
    );
    Ok(report)
}

/// Follows one partition from its checkpoint until `stop` completes (or an error).
pub async fn run_partition<S: ViewStore>(
    projector: &mut Projector<S>,
    log: &dyn EventLog,
    partition: PartitionId,
    stop: impl Future<Output = ()>,
) -> Result<CatchUpReport, ProjectorError> {
    let started = Instant::now();
    let from = projector.resume_offset(partition);
    info!(
        partition = partition.0,
        from = from.0,
        "following partition"
    );
    let mut chunks = Box::pin(
        subscribe(log, partition, from)
            .ready_chunks(PROJECT_BATCH_MAX)
            .take_until(stop),
    );
    let mut report = CatchUpReport::default();
    while let Some(chunk) = chunks.next().await {
        report.add(&step_chunk(projector, chunk)?);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Follows every partition from its checkpoint until `stop` completes (or an error). Batches of
/// different partitions interleave; each batch holds one partition's events in order.
pub async fn follow<S: ViewStore>(
    projector: &mut Projector<S>,
    log: &dyn EventLog,
    stop: impl Future<Output = ()>,
) -> Result<CatchUpReport, ProjectorError> {
    let started = Instant::now();
    let subscriptions = (0..log.partitions()).map(|index| {
        let partition = PartitionId(index);
        subscribe(log, partition, projector.resume_offset(partition))
            .ready_chunks(PROJECT_BATCH_MAX)
    });
    let mut chunks = Box::pin(futures::stream::select_all(subscriptions).take_until(stop));
    let mut report = CatchUpReport::default();
    while let Some(chunk) = chunks.next().await {
        report.add(&step_chunk(projector, chunk)?);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Steps the events read before the first read error, then reports that error.
fn step_chunk<S: ViewStore>(
    projector: &mut Projector<S>,
    chunk: Vec<Result<EventEnvelope, LogError>>,
) -> Result<StepOutcome, ProjectorError> {
    let mut batch = Vec::with_capacity(chunk.len());
    let mut failure = None;
    for item in chunk {
        match item {
            Ok(envelope) => batch.push(envelope),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    let outcome = projector.step(&batch)?;
    match failure {
        Some(error) => Err(error.into()),
        None => Ok(outcome),
    }
}
