//! Following a feed of partitions that come and go: the driver behind a projector that consumes the
//! log as a member of a Kafka consumer group (issue #7, "Reads"), kept free of any Kafka type so that
//! it runs on a scripted feed in tests.
//!
//! The rules, in the order they matter:
//! - The store's checkpoint is the truth. Before every poll the driver hands the feed each
//!   partition's resume offset ([`Projector::resume_offset`]); a partition assigned during the poll
//!   starts there, whatever the group's committed offset says.
//! - Apply is idempotent per stream version and a gap in a stream's versions stops the projector
//!   ([`ProjectorError::StreamGap`]); the driver never skips.
//! - Offsets are committed to the feed (for monitoring only) after a flush of the store, so a committed
//!   offset is never ahead of a durable checkpoint, even with background flushing.
//! - A revoked partition is not applied any more: the feed returns nothing of it until it is assigned
//!   again, and then it restarts from its checkpoint.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::time::{Duration, Instant};

use futures::future::{Either, select};
use ledger::log::{EventEnvelope, LogError, Offset, PartitionId};
use tracing::{info, warn};

use crate::driver::{CatchUpReport, PROJECT_BATCH_MAX};
use crate::projector::{Projector, ProjectorError};
use crate::store::ViewStore;

/// What one poll of a [`Feed`] returned.
#[derive(Debug, Default)]
pub struct FeedPoll {
    /// Records of partitions the feed holds; each partition's in offset order, none below the resume
    /// offset handed to the poll.
    pub records: Vec<EventEnvelope>,
    /// Partitions assigned during the poll (each started at its resume offset).
    pub assigned: Vec<PartitionId>,
    /// Partitions revoked during the poll.
    pub revoked: Vec<PartitionId>,
}

/// A source of records whose partitions may be assigned and revoked while it runs (a Kafka consumer
/// group member in production).
pub trait Feed {
    /// Waits a short while for records or a change of assignment. `resume` holds, per partition, the
    /// next offset the projector has not applied.
    fn poll(
        &mut self,
        resume: BTreeMap<PartitionId, Offset>,
    ) -> impl Future<Output = Result<FeedPoll, LogError>>;

    /// Records how far the projector got (partition → next offset), for monitoring only.
    fn commit(
        &mut self,
        offsets: Vec<(PartitionId, Offset)>,
    ) -> impl Future<Output = Result<(), LogError>>;
}

/// How [`follow_feed`] runs.
pub struct FeedOptions<'a> {
    /// The topic's partition count.
    pub partitions: u32,
    /// Flush the store and commit offsets at most this often while events arrive.
    pub commit_every: Duration,
    /// Called after every poll (also an idle one), with the running totals: e.g. for a periodic
    /// progress line that also reports the last events once things went quiet.
    pub on_poll: Option<&'a mut dyn FnMut(&CatchUpReport)>,
}

/// Applies what `feed` delivers until `stop` completes (or an error), then flushes the store and
/// commits the final offsets. A batch in progress when `stop` completes is finished first.
pub async fn follow_feed<S: ViewStore, F: Feed>(
    projector: &mut Projector<S>,
    feed: &mut F,
    mut options: FeedOptions<'_>,
    stop: impl Future<Output = ()>,
) -> Result<CatchUpReport, ProjectorError> {
    assert!(options.partitions > 0, "a feed has at least one partition");
    let started = Instant::now();
    let mut stop = pin!(stop);
    let mut report = CatchUpReport::default();
    let mut last_commit = Instant::now();
    let mut uncommitted = false;
    loop {
        let resume = resume_offsets(projector, options.partitions);
        let poll = match select(stop.as_mut(), pin!(feed.poll(resume))).await {
            Either::Left(((), _)) => break,
            Either::Right((poll, _)) => poll?,
        };
        note_changes(&poll, options.partitions);
        // A new assignment is worth a commit even without events: it publishes where the
        // checkpoints of the partitions now held stand (e.g. after a catch-up by other means).
        uncommitted |= !poll.assigned.is_empty();
        if !poll.records.is_empty() {
            step_by_partition(projector, poll.records, &mut report)?;
            uncommitted = true;
        }
        if let Some(on_poll) = options.on_poll.as_deref_mut() {
            on_poll(&report);
        }
        if uncommitted && last_commit.elapsed() >= options.commit_every {
            commit(projector, feed, options.partitions).await?;
            uncommitted = false;
            last_commit = Instant::now();
        }
    }
    commit(projector, feed, options.partitions).await?;
    report.elapsed = started.elapsed();
    info!(
        events = report.events,
        applied = report.applied,
        "stopped following"
    );
    Ok(report)
}

fn resume_offsets<S: ViewStore>(
    projector: &Projector<S>,
    partitions: u32,
) -> BTreeMap<PartitionId, Offset> {
    (0..partitions)
        .map(PartitionId)
        .map(|partition| (partition, projector.resume_offset(partition)))
        .collect()
}

fn note_changes(poll: &FeedPoll, partitions: u32) {
    if !poll.revoked.is_empty() {
        info!(revoked = ?poll.revoked, "partitions revoked: no longer applying them");
    }
    if poll.assigned.is_empty() {
        return;
    }
    info!(assigned = ?poll.assigned, "partitions assigned: resuming each from its checkpoint");
    let held = u32::try_from(poll.assigned.len()).unwrap_or(u32::MAX);
    if held < partitions {
        warn!(
            assigned = ?poll.assigned,
            partitions,
            "this projector holds {held} of {partitions} partitions, so its views are partial; \
             another process shares its consumer group: give every view store its own group"
        );
    }
}

/// Steps the records one partition at a time, in batches of at most [`PROJECT_BATCH_MAX`].
fn step_by_partition<S: ViewStore>(
    projector: &mut Projector<S>,
    records: Vec<EventEnvelope>,
    report: &mut CatchUpReport,
) -> Result<(), ProjectorError> {
    let mut by_partition: BTreeMap<PartitionId, Vec<EventEnvelope>> = BTreeMap::new();
    for envelope in records {
        by_partition
            .entry(envelope.position.partition)
            .or_default()
            .push(envelope);
    }
    for events in by_partition.values() {
        for batch in events.chunks(PROJECT_BATCH_MAX) {
            report.add(&projector.step(batch)?);
        }
    }
    Ok(())
}

/// Makes the applied batches durable, then commits their checkpoints to the feed: a committed offset
/// is never ahead of what a restart would find in the store.
async fn commit<S: ViewStore, F: Feed>(
    projector: &mut Projector<S>,
    feed: &mut F,
    partitions: u32,
) -> Result<(), ProjectorError> {
    projector.flush()?;
    let offsets = resume_offsets(projector, partitions).into_iter().collect();
    feed.commit(offsets).await?;
    Ok(())
}
