//! The single writer: a task that decides appends against [`WriterState`] and commits them to the
//! topic in Kafka transactions, several commands per transaction (group commit, DESIGN §3).
//!
//! Fencing: the producer's `transactional.id` is fixed per deployment. `init_transactions` bumps the
//! producer epoch, so a second writer that starts with the same id makes every later operation of the
//! first one fail with "fenced" (tested against tansu 0.6.0); the fenced writer reports
//! [`LogError::Fenced`] for good. See `docs/kafka.md`.
//!
//! The public topic (issue #14): with it on, every transaction also carries each record's public form
//! on `<prefix>.events.json`, same key, same partition number, same order, produced once the records
//! of truth have their offsets (which the public form names) and before the commit, so a
//! `read_committed` consumer of either topic sees the same events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::{mpsc, oneshot};

use super::decide::{Overlay, Sealed, decide_one};
use super::reader::{Reader, blocking};
use super::state::WriterState;
use super::unavailable;
use crate::domain::time::Timestamp;
use crate::log::error::LogError;
use crate::log::ids::{
    CommandId, Offset, PartitionId, Position, StreamId, StreamVersion, partition_of,
};
use crate::log::public_form::PublicForm;
use crate::log::{AppendOutcome, AppendRequest, READ_BATCH_RECORDS};

/// The most events one transaction carries; more waiting commands go into the next one.
pub(super) const EVENTS_PER_TRANSACTION_MAX: usize = 20_000;
/// How long init/commit/abort of a transaction may take.
pub(super) const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the writer waits after the first append of a batch for others to join it (group commit).
pub(super) const GROUP_COMMIT_LINGER: Duration = Duration::from_millis(1);
/// How many appends may wait for the writer task.
pub(super) const QUEUE_APPENDS_MAX: usize = 4096;

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
    reply: Reply,
    pub(super) stream: StreamId,
    pub(super) partition: PartitionId,
    command_id: CommandId,
    first_version: StreamVersion,
    /// Sealed record bytes with their chain hash, the body (for headers) and the public form.
    pub(super) records: Vec<Sealed>,
}

/// Where and how the writer publishes the public form of each record.
pub(super) struct PublicTopic {
    pub(super) topic: String,
    pub(super) form: Arc<dyn PublicForm>,
}

pub(super) struct Writer {
    pub(super) producer: Arc<FutureProducer>,
    pub(super) state: Arc<Mutex<WriterState>>,
    pub(super) reader: Arc<Reader>,
    pub(super) topic: String,
    /// `None` with `public_topic=off`.
    pub(super) public: Option<PublicTopic>,
    pub(super) partitions: u32,
    /// The partitions this writer owns, `first..=last`.
    pub(super) owns: (u32, u32),
    /// Set once fenced (or broken beyond repair): every later append fails with this error's text.
    pub(super) failed: Option<(bool, String)>,
    /// Set after a failed transaction: the topic may hold records the state lacks; catch up first.
    pub(super) stale: bool,
}

impl Writer {
    /// Runs until every `KafkaLog` handle is dropped.
    pub(super) async fn run(mut self, mut queue: mpsc::Receiver<Pending>) {
        let mut deferred: Vec<Pending> = Vec::new();
        loop {
            let mut batch = std::mem::take(&mut deferred);
            if batch.is_empty() {
                match queue.recv().await {
                    Some(pending) => batch.push(pending),
                    None => return,
                }
                // Callers whose previous append just committed are about to send their next one: a
                // short pause lets them join this transaction instead of each paying a round trip.
                tokio::time::sleep(GROUP_COMMIT_LINGER).await;
            }
            let mut events: usize = batch
                .iter()
                .map(|pending| pending.request.events.len())
                .sum();
            while events < EVENTS_PER_TRANSACTION_MAX {
                match queue.try_recv() {
                    Ok(pending) => {
                        events += pending.request.events.len();
                        batch.push(pending);
                    }
                    Err(_) => break,
                }
            }
            deferred = self.process(batch).await;
        }
    }

    /// Decides, produces and commits one batch; returns the requests deferred to the next batch.
    async fn process(&mut self, batch: Vec<Pending>) -> Vec<Pending> {
        if let Some((fenced, detail)) = &self.failed {
            for pending in batch {
                let _ = pending.reply.send(Err(failure(
                    *fenced,
                    detail,
                    &pending.request.stream,
                    self.partitions,
                )));
            }
            return Vec::new();
        }
        if self.stale {
            if let Err(error) = self.catch_up().await {
                let detail = format!(
                    "catching up with the topic after a failed transaction failed: {error}"
                );
                for pending in batch {
                    let _ = pending
                        .reply
                        .send(Err(LogError::Unavailable(detail.clone())));
                }
                return Vec::new();
            }
            self.stale = false;
        }
        let (planned, deferred) = self.decide(batch);
        if !planned.is_empty() {
            self.commit(planned).await;
        }
        deferred
    }

    fn decide(&self, batch: Vec<Pending>) -> (Vec<Planned>, Vec<Pending>) {
        let state = self.state.lock().expect("writer state lock");
        let mut overlay = Overlay::default();
        let mut planned = Vec::new();
        let mut deferred = Vec::new();
        let recorded_at = Timestamp::from_datetime(chrono::Utc::now());
        for pending in batch {
            if overlay.commands.contains(&pending.request.command_id) {
                // The same command twice in one batch: the retry must see the first one's outcome.
                deferred.push(pending);
                continue;
            }
            match decide_one(
                &state,
                &mut overlay,
                &pending.request,
                self.partitions,
                recorded_at,
                self.public.as_ref().map(|public| &*public.form),
            ) {
                Ok(Some((partition, first_version, records))) => planned.push(Planned {
                    stream: pending.request.stream.clone(),
                    command_id: pending.request.command_id,
                    reply: pending.reply,
                    partition,
                    first_version,
                    records,
                }),
                Ok(None) => {
                    let mut original = state.commands[&pending.request.command_id].clone();
                    original.duplicate = true;
                    let _ = pending.reply.send(Ok(original));
                }
                Err(error) => {
                    let _ = pending.reply.send(Err(error));
                }
            }
        }
        (planned, deferred)
    }

    /// Produces every planned record in one transaction and commits it; replies to every command.
    async fn commit(&mut self, planned: Vec<Planned>) {
        match self.transact(&planned).await {
            Ok(offsets) => {
                let mut state = self.state.lock().expect("writer state lock");
                for (plan, offsets) in planned.into_iter().zip(offsets) {
                    let outcome = record_committed(&mut state, &plan, &offsets);
                    let _ = plan.reply.send(outcome);
                }
            }
            Err(error) => {
                let fenced = matches!(error, LogError::Fenced { .. });
                let detail = error.to_string();
                if fenced {
                    self.failed = Some((true, detail.clone()));
                } else if let Err(abort) = self.abort().await {
                    self.failed = Some((
                        false,
                        format!("{detail}; aborting the transaction failed too: {abort}"),
                    ));
                } else {
                    self.stale = true;
                }
                for plan in planned {
                    let _ = plan.reply.send(Err(failure(
                        fenced,
                        &detail,
                        &plan.stream,
                        self.partitions,
                    )));
                }
            }
        }
    }

    async fn transact(&self, planned: &[Planned]) -> Result<Vec<Vec<Offset>>, LogError> {
        let producer = Arc::clone(&self.producer);
        blocking(move || {
            producer
                .begin_transaction()
                .map_err(|error| classify(&producer, "begin", &error))
        })
        .await?;
        let offsets = self.produce_records(planned).await?;
        if let Some(public) = &self.public {
            self.produce_public(public, planned, &offsets).await?;
        }
        let producer = Arc::clone(&self.producer);
        blocking(move || {
            producer
                .commit_transaction(TRANSACTION_TIMEOUT)
                .map_err(|error| classify(&producer, "commit", &error))
        })
        .await?;
        Ok(offsets)
    }

    async fn abort(&self) -> Result<(), LogError> {
        let producer = Arc::clone(&self.producer);
        blocking(move || {
            producer
                .abort_transaction(TRANSACTION_TIMEOUT)
                .map_err(|error| classify(&producer, "abort", &error))
        })
        .await
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
fn record_committed(
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
fn failure(fenced: bool, detail: &str, stream: &StreamId, partitions: u32) -> LogError {
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
