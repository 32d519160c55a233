//! The committing task of the pipelined writer (issue #16 §3; the deciding task is `writer.rs`).
//!
//! It keeps one Kafka transaction open and produces every decided batch into it as it arrives, until
//! the transaction holds `transaction_events` events or has been open `linger_ms`, whichever comes
//! first, or earlier when the deciding task has nothing in hand (no command waits to join). Meanwhile it reads the delivery reports in production order and produces each record's
//! public form as soon as its record of truth has an offset. Then it waits for the remaining reports,
//! commits, advances the [`WriterState`], answers every command of the transaction, and opens the next
//! one with whatever was decided in the meantime. One transactional producer, one transaction at a
//! time: the records of a partition reach the broker in decision order, so in chain order, and the
//! transactional id fences exactly as before.
//!
//! A failed transaction (produce, delivery or commit; or fenced) is aborted when it can be, every
//! command in it is failed, the pipeline's epoch is bumped so that every batch decided after it (on
//! top of it) is failed without being produced, and the deciding task catches up with the topic
//! before it decides again. Nothing of a failed transaction is committed, so a `read_committed`
//! reader never sees it (on a broker that filters aborted records; see docs/kafka.md for tansu).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::producer::{DeliveryFuture, FutureProducer, Producer};
use tokio::sync::mpsc;

use super::reader::blocking;
use super::state::WriterState;
use super::writer::{Decided, Idle, PublicTopic, TRANSACTION_TIMEOUT, classify, record_committed};
use crate::log::error::LogError;
use crate::log::ids::{CommandId, Offset, PartitionId};

/// Where one produced record of truth sits in the open transaction.
#[derive(Clone, Copy)]
pub(super) struct At {
    pub(super) batch: usize,
    pub(super) plan: usize,
    pub(super) record: usize,
}

/// The open transaction.
#[derive(Default)]
pub(super) struct Open {
    pub(super) batches: Vec<Decided>,
    pub(super) events: usize,
    /// Whether `begin_transaction` succeeded (only then is there anything to abort).
    pub(super) begun: bool,
    /// Records of truth whose delivery report is not read yet, in production order.
    pub(super) undelivered: VecDeque<(At, PartitionId, DeliveryFuture)>,
    /// Per batch, per command, the offsets delivered so far.
    pub(super) offsets: Vec<Vec<Vec<Offset>>>,
    /// Public records produced, with their partition.
    pub(super) public: Vec<(DeliveryFuture, PartitionId)>,
    /// The first failure while filling: the transaction fails at its end.
    pub(super) error: Option<LogError>,
}

pub(super) struct Committer {
    pub(super) producer: Arc<FutureProducer>,
    pub(super) state: Arc<Mutex<WriterState>>,
    pub(super) topic: String,
    /// `None` with `public_topic=off`.
    pub(super) public: Option<PublicTopic>,
    pub(super) partitions: u32,
    pub(super) transaction_events: usize,
    pub(super) linger: Duration,
    /// The pipeline epoch: batches decided in an earlier one are failed unproduced.
    pub(super) epoch: u64,
    /// `(fenced, detail)` of the last failed transaction, for the batches decided on top of it.
    pub(super) last_failure: (bool, String),
    /// Test hook: the transaction holding this command fails at its commit (and is aborted).
    pub(super) fail_commit: Arc<Mutex<Option<CommandId>>>,
    /// Whether the deciding task has anything in hand (closes a transaction early when not).
    pub(super) idle: Arc<Idle>,
}

impl Committer {
    /// Runs until the deciding task stops and every batch it decided is answered.
    pub(super) async fn run(mut self, mut decided: mpsc::Receiver<Decided>) {
        while let Some(first) = decided.recv().await {
            let Some(first) = self.admit(first) else {
                continue;
            };
            let mut open = Open::default();
            let opened = Instant::now();
            match self.begin().await {
                Ok(()) => {
                    open.begun = true;
                    self.produce_batch(&mut open, first);
                    self.fill(&mut open, &mut decided).await;
                }
                Err(error) => {
                    open.batches.push(first);
                    open.error = Some(error);
                }
            }
            let (closed, events, batches) = (Instant::now(), open.events, open.batches.len());
            match self.complete(&mut open).await {
                Ok(()) => self.committed(open),
                Err(error) => self.failed(open, error).await,
            }
            // Where the time goes (RUST_LOG=ledger::log::kafka=debug): filling overlaps deciding,
            // finishing (last deliveries, commit) does not.
            tracing::debug!(
                events,
                batches,
                fill_us = closed.duration_since(opened).as_micros(),
                finish_us = closed.elapsed().as_micros(),
                "Kafka writer ended a transaction"
            );
        }
    }

    /// Passes a batch of the current epoch; fails one decided on top of a failed transaction.
    fn admit(&self, decided: Decided) -> Option<Decided> {
        if decided.epoch == self.epoch {
            return Some(decided);
        }
        let (fenced, detail) = &self.last_failure;
        decided.fail(
            *fenced,
            &format!(
                "{detail} (this command was decided after a transaction that failed, so it was not \
                 appended either)"
            ),
            self.partitions,
        );
        None
    }

    async fn begin(&self) -> Result<(), LogError> {
        let producer = Arc::clone(&self.producer);
        blocking(move || {
            producer
                .begin_transaction()
                .map_err(|error| classify(&producer, "begin", &error))
        })
        .await
    }

    /// Adds decided batches to the open transaction until it is full, its linger is over, or nothing
    /// more is being decided (no caller has a command waiting: waiting longer would only delay the
    /// answers they wait for), reading delivery reports (and producing public forms) as they come.
    async fn fill(&self, open: &mut Open, decided: &mut mpsc::Receiver<Decided>) {
        let deadline = tokio::time::Instant::now() + self.linger;
        while open.events < self.transaction_events && open.error.is_none() {
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            let front = open.undelivered.front_mut().map(|(_, _, future)| future);
            let waiting = front.is_some();
            tokio::select! {
                biased;
                output = async { front.expect("guarded by `waiting`").await }, if waiting => {
                    let (at, partition, _) = open.undelivered.pop_front().expect("a front");
                    if let Err(error) = self.delivered(open, at, partition, output) {
                        open.error = Some(error);
                    }
                }
                next = decided.recv() => match next {
                    Some(next) => {
                        if let Some(next) = self.admit(next) {
                            self.produce_batch(open, next);
                        }
                    }
                    None => break,
                },
                () = self.idle.notify.notified() => {
                    if decided.is_empty() && !self.idle.busy.load(Ordering::SeqCst) {
                        break;
                    }
                }
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
    }

    /// Waits for the rest of the transaction's delivery reports and public records, then commits.
    async fn complete(&self, open: &mut Open) -> Result<(), LogError> {
        if let Some(error) = open.error.take() {
            return Err(error);
        }
        while let Some((at, partition, future)) = open.undelivered.pop_front() {
            let output = future.await;
            self.delivered(open, at, partition, output)?;
        }
        for (future, partition) in std::mem::take(&mut open.public) {
            self.offset_of(future.await, partition)?;
        }
        self.injected_failure(open)?;
        let producer = Arc::clone(&self.producer);
        blocking(move || {
            producer
                .commit_transaction(TRANSACTION_TIMEOUT)
                .map_err(|error| classify(&producer, "commit", &error))
        })
        .await
    }

    /// The test hook: fails the commit of the transaction that holds the marked command.
    fn injected_failure(&self, open: &Open) -> Result<(), LogError> {
        let mut marked = self.fail_commit.lock().expect("test hook lock");
        let Some(command) = *marked else {
            return Ok(());
        };
        let holds = open
            .batches
            .iter()
            .flat_map(|batch| &batch.planned)
            .any(|plan| plan.command_id == command);
        if !holds {
            return Ok(());
        }
        *marked = None;
        Err(LogError::Unavailable(format!(
            "transaction commit failed (injected by a test for command {command})"
        )))
    }

    /// Records one delivery report and produces the record's public form.
    fn delivered(
        &self,
        open: &mut Open,
        at: At,
        partition: PartitionId,
        output: <DeliveryFuture as std::future::Future>::Output,
    ) -> Result<(), LogError> {
        let offset = self.offset_of(output, partition)?;
        open.offsets[at.batch][at.plan].push(offset);
        if let Some(public) = &self.public {
            self.produce_public(public, open, at, offset)?;
        }
        Ok(())
    }

    /// Advances the state by every command of the committed transaction and answers them.
    fn committed(&self, open: Open) {
        let mut state = self.state.lock().expect("writer state lock");
        for (decided, offsets) in open.batches.into_iter().zip(open.offsets) {
            for (plan, offsets) in decided.planned.into_iter().zip(offsets) {
                let outcome = record_committed(&mut state, &plan, &offsets);
                let _ = plan.reply.send(outcome);
            }
            for follower in decided.followers {
                let mut original = state.commands[&follower.command_id].clone();
                original.duplicate = true;
                let _ = follower.reply.send(Ok(original));
            }
            state.pipeline.committed_batch = decided.batch;
        }
    }

    /// Aborts the failed transaction, fails its commands and moves the pipeline to a new epoch.
    async fn failed(&mut self, open: Open, error: LogError) {
        let fenced = matches!(error, LogError::Fenced { .. });
        let mut detail = error.to_string();
        let mut broken = fenced;
        if !fenced
            && open.begun
            && let Err(abort) = self.abort().await
        {
            detail = format!("{detail}; aborting the transaction failed too: {abort}");
            broken = true;
        }
        {
            let mut state = self.state.lock().expect("writer state lock");
            let status = &mut state.pipeline;
            status.epoch += 1;
            self.epoch = status.epoch;
            if broken {
                status.failed = Some((fenced, detail.clone()));
            } else {
                status.stale = true;
            }
        }
        tracing::warn!(fenced, %detail, "a Kafka transaction failed; the commands in it and after it fail");
        for decided in open.batches {
            decided.fail(fenced, &detail, self.partitions);
        }
        self.last_failure = (fenced, detail);
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
}
