//! The single writer, as a pipeline of two tasks (issue #16 §3, `docs/kafka.md`, "The pipelined
//! writer"). This task *decides*: it takes queued appends, decides them against [`WriterState`] plus
//! the [`Overlay`] of everything decided but not yet committed, seals their records onto the
//! partitions' hash chains and hands the decided batch to the committing task (`commit.rs`), which
//! fills Kafka transactions by size and time, commits them one after another and answers. So the next
//! commands are decided while the broker takes the previous ones.
//!
//! Fencing: the producer's `transactional.id` is fixed per deployment. `init_transactions` bumps the
//! producer epoch, so a second writer that starts with the same id makes every later operation of the
//! first one fail with "fenced" (tested against tansu 0.6.0); the fenced writer reports
//! [`LogError::Fenced`] for good. See `docs/kafka.md`.
//!
//! A failed transaction fails every batch decided after it too (they were decided on top of it): the
//! committing task bumps the pipeline's epoch, fails what was decided in the old one unproduced, and
//! this task drops its overlay and catches up with the topic before deciding again.
//!
//! The public topic (issue #14): with it on, every transaction also carries each record's public form
//! on `<prefix>.events.json`, same key, same partition number, same order, produced once the record
//! of truth has its offset (which the public form names) and before the commit, so a
//! `read_committed` consumer of either topic sees the same events.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::{Notify, mpsc, oneshot};

use super::decide::{Overlay, Sealed, decide_one};
use super::reader::Reader;
use super::state::WriterState;
use super::unavailable;
use crate::domain::time::Timestamp;
use crate::log::error::LogError;
use crate::log::ids::{
    CommandId, Offset, PartitionId, Position, StreamId, StreamVersion, partition_of,
};
use crate::log::public_form::PublicForm;
use crate::log::{AppendOutcome, AppendRequest, READ_BATCH_RECORDS};

/// How long init/commit/abort of a transaction may take.
pub(super) const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);
/// How many appends may wait for the deciding task.
pub(super) const QUEUE_APPENDS_MAX: usize = 4096;
/// The most events the deciding task decides under one hold of the state's lock (one batch).
pub(super) const DECIDE_EVENTS_MAX: usize = 2_000;
/// How many decided batches may wait for the committing task: the pipeline's depth (with
/// [`DECIDE_EVENTS_MAX`], up to ~64,000 events decided ahead of the broker).
pub(super) const PIPELINE_BATCHES_MAX: usize = 32;

/// Record header names (docs/subscribing.md): subscribers route on these without decoding.
pub const HEADER_EVENT_TYPE: &str = "event_type";
pub const HEADER_SCHEMA_VERSION: &str = "schema_version";
pub const HEADER_EVENT_ID: &str = "event_id";
pub const HEADER_STREAM_ID: &str = "stream_id";
pub const HEADER_STREAM_VERSION: &str = "stream_version";
/// The media type of a public-topic record (CloudEvents structured mode names it so).
pub const HEADER_CONTENT_TYPE: &str = "content-type";

pub(super) type Reply = oneshot::Sender<Result<AppendOutcome, LogError>>;

pub(super) struct Pending {
    pub(super) request: AppendRequest,
    pub(super) reply: Reply,
}

/// One command decided and sealed, waiting to be produced.
pub(super) struct Planned {
    pub(super) reply: Reply,
    pub(super) stream: StreamId,
    pub(super) partition: PartitionId,
    pub(super) command_id: CommandId,
    pub(super) first_version: StreamVersion,
    /// Sealed record bytes with their chain hash, the body (for headers) and the public form.
    pub(super) records: Vec<Sealed>,
}

/// A retry of a command that is decided but not committed yet: answered with the original's outcome
/// once the original commits (it sits in the same or an earlier transaction), failed with it.
pub(super) struct Follower {
    pub(super) command_id: CommandId,
    pub(super) stream: StreamId,
    pub(super) reply: Reply,
}

/// One decided batch, handed from the deciding to the committing task.
pub(super) struct Decided {
    /// Numbered from 1 in decision order; the overlay tags its entries with it.
    pub(super) batch: u64,
    /// The pipeline epoch it was decided in (see [`PipelineStatus`](super::state::PipelineStatus)).
    pub(super) epoch: u64,
    pub(super) planned: Vec<Planned>,
    pub(super) followers: Vec<Follower>,
}

impl Decided {
    pub(super) fn events(&self) -> usize {
        self.planned.iter().map(|plan| plan.records.len()).sum()
    }

    /// Answers every command of the batch with the failure.
    pub(super) fn fail(self, fenced: bool, detail: &str, partitions: u32) {
        for plan in self.planned {
            let _ = plan
                .reply
                .send(Err(failure(fenced, detail, &plan.stream, partitions)));
        }
        for follower in self.followers {
            let _ = follower
                .reply
                .send(Err(failure(fenced, detail, &follower.stream, partitions)));
        }
    }
}

/// Where and how the writer publishes the public form of each record.
pub(super) struct PublicTopic {
    pub(super) topic: String,
    pub(super) form: Arc<dyn PublicForm>,
}

/// The deciding task.
pub(super) struct Writer {
    pub(super) state: Arc<Mutex<WriterState>>,
    pub(super) reader: Arc<Reader>,
    /// `None` with `public_topic=off`.
    pub(super) form: Option<Arc<dyn PublicForm>>,
    pub(super) partitions: u32,
    /// The partitions this writer owns, `first..=last`.
    pub(super) owns: (u32, u32),
    /// Decided, not yet committed.
    pub(super) overlay: Overlay,
    /// The pipeline epoch the overlay belongs to.
    pub(super) epoch: u64,
    /// The number of the last decided batch.
    pub(super) batches: u64,
    /// The most events one batch takes: [`DECIDE_EVENTS_MAX`], or the transaction size if smaller
    /// (a transaction holds whole batches).
    pub(super) batch_events: usize,
    pub(super) committer: mpsc::Sender<Decided>,
    pub(super) idle: Arc<Idle>,
}

/// Whether the deciding task has nothing to decide: the committing task closes its open transaction
/// early when nothing is decided and nothing waits to be (no caller is about to add to it).
#[derive(Default)]
pub(super) struct Idle {
    pub(super) busy: AtomicBool,
    /// Notified each time the deciding task runs out of work.
    pub(super) notify: Notify,
}

impl Writer {
    /// Runs until every `KafkaLog` handle is dropped (then the committing task drains and stops).
    pub(super) async fn run(mut self, mut queue: mpsc::Receiver<Pending>) {
        loop {
            let first = match queue.try_recv() {
                Ok(first) => first,
                Err(mpsc::error::TryRecvError::Disconnected) => return,
                Err(mpsc::error::TryRecvError::Empty) => {
                    self.idle.busy.store(false, Ordering::SeqCst);
                    self.idle.notify.notify_one();
                    let Some(first) = queue.recv().await else {
                        return;
                    };
                    first
                }
            };
            self.idle.busy.store(true, Ordering::SeqCst);
            let mut events = first.request.events.len();
            let mut batch = vec![first];
            while events < self.batch_events {
                match queue.try_recv() {
                    Ok(pending) => {
                        events += pending.request.events.len();
                        batch.push(pending);
                    }
                    Err(_) => break,
                }
            }
            self.process(batch).await;
        }
    }

    /// Decides one batch and hands it to the committing task (waiting while the pipeline is full).
    async fn process(&mut self, batch: Vec<Pending>) {
        if let Err((fenced, detail)) = self.ready().await {
            for pending in batch {
                let _ = pending.reply.send(Err(failure(
                    fenced,
                    &detail,
                    &pending.request.stream,
                    self.partitions,
                )));
            }
            return;
        }
        let started = Instant::now();
        let decided = self.decide(batch);
        if decided.planned.is_empty() && decided.followers.is_empty() {
            return;
        }
        let (events, decide_us) = (decided.events(), started.elapsed().as_micros());
        let handed = Instant::now();
        if let Err(mpsc::error::SendError(decided)) = self.committer.send(decided).await {
            decided.fail(
                false,
                "the Kafka writer's committing task has stopped",
                self.partitions,
            );
        }
        // Where the time goes (RUST_LOG=ledger::log::kafka=debug): a long wait for the pipeline
        // means the broker side is the bottleneck, a long decide the deciding task.
        tracing::debug!(
            events,
            decide_us,
            pipeline_wait_us = handed.elapsed().as_micros(),
            "Kafka writer decided a batch"
        );
    }

    /// Brings this task in line with the committing one: after a failed transaction, drops the
    /// overlay (it was decided on top of that transaction) and catches up with the topic. `Err` is
    /// `(fenced, detail)`, the failure every command of the batch gets.
    async fn ready(&mut self) -> Result<(), (bool, String)> {
        let (epoch, stale, failed) = {
            let state = self.state.lock().expect("writer state lock");
            let status = &state.pipeline;
            (status.epoch, status.stale, status.failed.clone())
        };
        if let Some(failed) = failed {
            return Err(failed);
        }
        if epoch != self.epoch {
            self.overlay = Overlay::default();
            self.epoch = epoch;
        }
        if stale {
            self.catch_up().await.map_err(|error| {
                (
                    false,
                    format!(
                        "catching up with the topic after a failed transaction failed: {error}"
                    ),
                )
            })?;
            self.state.lock().expect("writer state lock").pipeline.stale = false;
        }
        Ok(())
    }

    fn decide(&mut self, batch: Vec<Pending>) -> Decided {
        let state = self.state.lock().expect("writer state lock");
        self.overlay.prune(state.pipeline.committed_batch);
        self.batches += 1;
        self.overlay.batch = self.batches;
        let mut decided = Decided {
            batch: self.batches,
            epoch: self.epoch,
            planned: Vec::new(),
            followers: Vec::new(),
        };
        let recorded_at = Timestamp::from_datetime(chrono::Utc::now());
        for pending in batch {
            let request = &pending.request;
            if !state.commands.contains_key(&request.command_id)
                && self.overlay.in_flight(&request.command_id)
            {
                decided.followers.push(Follower {
                    command_id: request.command_id,
                    stream: request.stream.clone(),
                    reply: pending.reply,
                });
                continue;
            }
            match decide_one(
                &state,
                &mut self.overlay,
                request,
                self.partitions,
                recorded_at,
                self.form.as_deref(),
            ) {
                Ok(Some((partition, first_version, records))) => decided.planned.push(Planned {
                    stream: request.stream.clone(),
                    command_id: request.command_id,
                    reply: pending.reply,
                    partition,
                    first_version,
                    records,
                }),
                Ok(None) => {
                    let mut original = state.commands[&request.command_id].clone();
                    original.duplicate = true;
                    let _ = pending.reply.send(Ok(original));
                }
                Err(error) => {
                    let _ = pending.reply.send(Err(error));
                }
            }
        }
        decided
    }

    /// Reads every owned partition from where the state stands to its end and applies what it finds.
    pub(super) async fn catch_up(&self) -> Result<(), LogError> {
        for partition in (self.owns.0..=self.owns.1).map(PartitionId) {
            loop {
                let from =
                    self.state.lock().expect("writer state lock").next_read[kafka_index(partition)];
                let records = self
                    .reader
                    .read_raw(partition, from, READ_BATCH_RECORDS)
                    .await?;
                if records.is_empty() {
                    break;
                }
                let mut state = self.state.lock().expect("writer state lock");
                for (offset, bytes) in records {
                    state.apply_read(offset, &bytes, partition)?;
                }
            }
        }
        Ok(())
    }
}

/// Advances the state by one committed command and builds its outcome.
pub(super) fn record_committed(
    state: &mut WriterState,
    plan: &Planned,
    offsets: &[Offset],
) -> Result<AppendOutcome, LogError> {
    assert_eq!(offsets.len(), plan.records.len(), "one delivery per record");
    let mut version = plan.first_version;
    for (sealed, offset) in plan.records.iter().zip(offsets) {
        let position = Position {
            partition: plan.partition,
            offset: *offset,
        };
        state.record(
            position,
            &plan.stream,
            plan.command_id,
            version,
            sealed.hash,
        )?;
        version = version.next();
    }
    let outcome = state.commands[&plan.command_id].clone();
    assert_eq!(
        outcome.first_version, plan.first_version,
        "a new command starts where it was decided"
    );
    Ok(outcome)
}

/// Turns a producer error into `Fenced` when the producer lost its epoch, `Unavailable` otherwise.
pub(super) fn classify(
    producer: &FutureProducer,
    step: &str,
    error: &rdkafka::error::KafkaError,
) -> LogError {
    let fatal = producer.client().fatal_error();
    let fenced_code = |code: RDKafkaErrorCode| {
        matches!(
            code,
            RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
        )
    };
    let fenced = fatal.as_ref().is_some_and(|(code, _)| fenced_code(*code))
        || error.rdkafka_error_code().is_some_and(fenced_code)
        || error.to_string().contains("fenced");
    if fenced {
        let detail = match fatal {
            Some((_, reason)) => format!("transaction {step} failed: {reason}"),
            None => format!("transaction {step} failed: {error}"),
        };
        return LogError::Fenced {
            partition: PartitionId(0),
            detail,
        };
    }
    unavailable(&format!("transaction {step}"), error)
}

/// The error every command of a failed batch (or of a fenced writer) gets.
pub(super) fn failure(fenced: bool, detail: &str, stream: &StreamId, partitions: u32) -> LogError {
    if fenced {
        LogError::Fenced {
            partition: partition_of(stream, partitions),
            detail: format!(
                "{detail}; another writer started with the same transactional id; this process must stop \
                 appending (restart it only if the other writer is gone)"
            ),
        }
    } else {
        LogError::Unavailable(detail.to_owned())
    }
}

fn kafka_index(partition: PartitionId) -> usize {
    usize::try_from(partition.0).expect("u32 fits in usize")
}
