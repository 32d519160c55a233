//! The append-only event log: the record envelope, the hash chain, and the [`EventLog`] trait that both
//! the embedded log ([`file`]) and Kafka implement.
//!
//! The log is domain-agnostic: a record's payload is typed, versioned bytes ([`Payload`]); the domain
//! owns the event types and their upcasting.

pub mod envelope;
pub mod error;
pub mod file;
pub mod ids;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod public_form;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use envelope::{
    Actor, ActorId, ActorRole, ChainHash, EnvelopeBody, EventEnvelope, NewEvent, Payload,
};
pub use error::LogError;
pub use ids::{
    CommandDigest, CommandId, EventId, Offset, PartitionId, Position, StreamId, StreamVersion,
    partition_of,
};
pub use public_form::{PreparedForm, PublicForm, PublicFormError};

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

/// The largest number of events one command may append atomically.
pub const EVENTS_PER_APPEND_MAX: usize = 10_000;

/// A request to append the events of one command to one stream, atomically.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub stream: StreamId,
    /// The stream version the command was decided against (`StreamVersion::NONE` for a new stream).
    pub expected: StreamVersion,
    /// The idempotency key: a command id already seen returns the original outcome and appends nothing.
    pub command_id: CommandId,
    pub events: Vec<NewEvent>,
}

/// What an append assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    pub stream: StreamId,
    /// The version of the first appended event; the others follow gaplessly.
    pub first_version: StreamVersion,
    pub positions: Vec<Position>,
    /// True when the command id had been seen and nothing new was appended.
    pub duplicate: bool,
}

/// The log contract shared by every backend.
///
/// Order: a partition is totally ordered by offset; a stream lives on exactly one partition (see
/// [`partition_of`]), so a stream is totally ordered too. There is no order across partitions.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Number of partitions; fixed for the life of the log.
    fn partitions(&self) -> u32;

    /// The partition that holds `stream`.
    fn partition_of(&self, stream: &StreamId) -> PartitionId {
        partition_of(stream, self.partitions())
    }

    /// Appends one command's events atomically (all or none), with optimistic concurrency on the
    /// stream version and idempotency on the command id.
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, LogError>;

    /// Appends many independent commands in one call: each is atomic (all or none of its events)
    /// and idempotent on its command id, and gets its own outcome, in the order given. A batch
    /// equals appending the requests one at a time in that order (the contract suite checks it):
    /// a later request may expect the version an earlier one of the same call leaves, and a
    /// repeated command id answers with the first one's outcome. A backend commits the call in as
    /// few group commits as it can; if a commit fails, every command in it fails.
    ///
    /// The default appends one at a time.
    async fn append_many(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Vec<Result<AppendOutcome, LogError>> {
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            outcomes.push(self.append(request).await);
        }
        outcomes
    }

    /// Reads up to `max` records of `partition` starting at `from` (fewer at the end of the log).
    async fn read_batch(
        &self,
        partition: PartitionId,
        from: Offset,
        max: usize,
    ) -> Result<Vec<EventEnvelope>, LogError>;

    /// The offset the next record of `partition` will get (the end of the partition).
    async fn end_offset(&self, partition: PartitionId) -> Result<Offset, LogError>;

    /// Reads the events of one stream with version ≥ `from`, in order.
    async fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
    ) -> Result<Vec<EventEnvelope>, LogError>;

    /// The current version of `stream` (`StreamVersion::NONE` if it has no events).
    async fn stream_version(&self, stream: &StreamId) -> Result<StreamVersion, LogError>;

    /// The committed outcome of a command id already appended, if any. A command handler asks this
    /// before deciding, so that a retried command returns its original result even when the state it
    /// was decided against has moved on.
    async fn command_outcome(
        &self,
        command_id: CommandId,
    ) -> Result<Option<AppendOutcome>, LogError>;

    /// Waits until `partition` has a record at `offset` or `timeout` passes; returns whether it has.
    async fn wait_for(
        &self,
        partition: PartitionId,
        offset: Offset,
        timeout: Duration,
    ) -> Result<bool, LogError>;
}

/// The number of records fetched per read while streaming a partition.
pub const READ_BATCH_RECORDS: usize = 4096;

/// Streams a partition from `from` to its current end, in order.
pub fn read_partition<'a>(
    log: &'a dyn EventLog,
    partition: PartitionId,
    from: Offset,
) -> BoxStream<'a, Result<EventEnvelope, LogError>> {
    read_partition_until(log, partition, from, None)
}

fn read_partition_until<'a>(
    log: &'a dyn EventLog,
    partition: PartitionId,
    from: Offset,
    follow: Option<Duration>,
) -> BoxStream<'a, Result<EventEnvelope, LogError>> {
    let state = (
        from,
        std::collections::VecDeque::<EventEnvelope>::new(),
        false,
    );
    Box::pin(futures::stream::unfold(
        state,
        move |(mut next, mut buffered, done)| async move {
            if done {
                return None;
            }
            loop {
                if let Some(envelope) = buffered.pop_front() {
                    return Some((Ok(envelope), (next, buffered, false)));
                }
                match log.read_batch(partition, next, READ_BATCH_RECORDS).await {
                    Err(error) => return Some((Err(error), (next, buffered, true))),
                    Ok(batch) if batch.is_empty() => match follow {
                        None => return None,
                        Some(poll) => {
                            if let Err(error) = log.wait_for(partition, next, poll).await {
                                return Some((Err(error), (next, buffered, true)));
                            }
                        }
                    },
                    Ok(batch) => {
                        next = batch
                            .last()
                            .expect("non-empty batch")
                            .position
                            .offset
                            .next();
                        buffered.extend(batch);
                    }
                }
            }
        },
    ))
}

/// Subscribes to a partition from `from`: catches up with everything already written, then follows
/// new appends as they are committed. The stream ends only on error or when dropped.
pub fn subscribe<'a>(
    log: &'a dyn EventLog,
    partition: PartitionId,
    from: Offset,
) -> BoxStream<'a, Result<EventEnvelope, LogError>> {
    read_partition_until(log, partition, from, Some(Duration::from_millis(500)))
}
