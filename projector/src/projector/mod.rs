//! The projector runtime: a synchronous step function over batches of one partition (STYLE §2.7).
//!
//! The checkpoint rule (DESIGN §4): for each batch, every view's writes, the stream versions it
//! applied and its new checkpoint `(partition → next offset)` go to the store in ONE atomic batch, so a
//! crash at any instant neither loses nor double-applies an event. Apply is also idempotent per stream
//! version: an event at or below the version a view already applied is skipped, so a redelivery is
//! harmless; a version beyond the next one is a gap and stops the projector.

mod error;
mod layout;
mod open;
mod reader;

pub use error::{ProjectorError, StreamGap, ViewFailure};
pub use open::{COLLECT_BATCH_MAX, OpenReport, ViewState, ViewStatus};
pub use reader::ProjectorReader;

use std::collections::BTreeMap;
use std::sync::Arc;

use ledger::log::{EventEnvelope, Offset, PartitionId, StreamId, StreamVersion};
use tracing::{debug, instrument, trace};

use crate::store::{ViewRead, ViewStore, WriteBatch};
use crate::view::{View, ViewTxn};
use layout::ViewKeyspaces;

/// The largest batch [`Projector::step`] accepts: it bounds the memory of one store batch.
pub const STEP_EVENTS_MAX: usize = 65_536;

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepOutcome {
    /// Events in the batch.
    pub events: u64,
    /// (view, event) pairs applied.
    pub applied: u64,
    /// (view, event) pairs skipped because the offset was below the view's checkpoint.
    pub below_checkpoint: u64,
    /// (view, event) pairs skipped because the view had applied that stream version already.
    pub duplicates: u64,
    /// Writes in the committed store batch (0 when nothing was new).
    pub writes: u64,
}

/// A registered view with the runtime's state for it.
struct Registered {
    view: Box<dyn View>,
    keyspaces: ViewKeyspaces,
    /// Committed checkpoints (next offset per partition); a partition absent here starts at 0.
    checkpoints: BTreeMap<PartitionId, Offset>,
}

/// Folds batches of events into views over a [`ViewStore`].
pub struct Projector<S: ViewStore> {
    store: S,
    views: Vec<Registered>,
    /// Set when a store batch failed: the store may or may not hold it, so the checkpoint cache is
    /// reloaded before the next step.
    stale: bool,
}

/// One view's share of a step, before commit.
struct ViewStep {
    applied: u64,
    below_checkpoint: u64,
    duplicates: u64,
    /// The new checkpoint, if the batch reached past the old one.
    checkpoint: Option<Offset>,
}

impl<S: ViewStore> Projector<S> {
    /// Applies a batch of consecutive events of one partition to every view, and commits the views'
    /// writes, stream versions and checkpoints in one atomic store batch. Events below a view's
    /// checkpoint are skipped for that view, so redelivering a batch is harmless.
    ///
    /// On error nothing of the batch is committed by this call (a store error may leave it committed or
    /// not; the next step finds out), and the same batch may be stepped again.
    #[instrument(level = "debug", skip_all, fields(partition, from, events = batch.len()))]
    pub fn step(&mut self, batch: &[EventEnvelope]) -> Result<StepOutcome, ProjectorError> {
        let Some(first) = batch.first() else {
            return Ok(StepOutcome::default());
        };
        let partition = first.position.partition;
        tracing::Span::current()
            .record("partition", partition.0)
            .record("from", first.position.offset.0);
        assert_batch_shape(batch);
        if self.stale {
            self.reload_checkpoints()?;
        }
        let mut writes = WriteBatch::new();
        let mut bookkeeping = WriteBatch::new();
        let mut outcome = StepOutcome {
            events: u64::try_from(batch.len()).expect("bounded batch"),
            ..StepOutcome::default()
        };
        let mut advanced = Vec::with_capacity(self.views.len());
        for (index, registered) in self.views.iter().enumerate() {
            let step = apply_view(
                &self.store,
                registered,
                batch,
                &mut writes,
                &mut bookkeeping,
            )?;
            outcome.applied += step.applied;
            outcome.below_checkpoint += step.below_checkpoint;
            outcome.duplicates += step.duplicates;
            if let Some(checkpoint) = step.checkpoint {
                advanced.push((index, checkpoint));
            }
        }
        if advanced.is_empty() {
            trace!("batch entirely below every checkpoint");
            return Ok(outcome);
        }
        writes.begin_checkpoint_section();
        writes.extend(bookkeeping);
        outcome.writes = u64::try_from(writes.len()).expect("batch length fits in u64");
        if let Err(error) = self.store.apply(writes) {
            self.stale = true;
            return Err(error.into());
        }
        for &(index, checkpoint) in &advanced {
            let previous = self.views[index].checkpoints.insert(partition, checkpoint);
            assert!(
                previous.is_none_or(|previous| previous < checkpoint),
                "checkpoints only move forward"
            );
        }
        self.check_committed(partition, &advanced);
        debug!(
            applied = outcome.applied,
            writes = outcome.writes,
            "applied batch"
        );
        Ok(outcome)
    }

    /// The offset from which `partition` must be read so that every view gets what it lacks: the
    /// lowest checkpoint over the views (0 when there are no views or nothing was applied yet).
    pub fn resume_offset(&self, partition: PartitionId) -> Offset {
        self.views
            .iter()
            .map(|registered| checkpoint_of(registered, partition))
            .min()
            .unwrap_or(Offset(0))
    }

    /// The committed checkpoint of `view` on `partition`: the next offset it will apply.
    pub fn checkpoint(&self, view: &str, partition: PartitionId) -> Result<Offset, ProjectorError> {
        let registered = self.registered(view)?;
        Ok(checkpoint_of(registered, partition))
    }

    /// A handle for queries that can run on other threads while projection goes on.
    pub fn reader(&self) -> ProjectorReader<S::Reader> {
        let views = self.views.iter().map(|registered| {
            (
                registered.view.name().to_owned(),
                registered.keyspaces.clone(),
            )
        });
        ProjectorReader::new(self.store.reader(), Arc::new(views.collect()))
    }

    /// Makes every committed batch durable (for stores whose flush policy does not on every batch).
    pub fn flush(&mut self) -> Result<(), ProjectorError> {
        Ok(self.store.flush()?)
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn into_store(self) -> S {
        self.store
    }

    fn registered(&self, view: &str) -> Result<&Registered, ProjectorError> {
        self.views
            .iter()
            .find(|registered| registered.view.name() == view)
            .ok_or_else(|| ProjectorError::UnknownView(view.to_owned()))
    }

    fn reload_checkpoints(&mut self) -> Result<(), ProjectorError> {
        for registered in &mut self.views {
            let reloaded = open::load_checkpoints(&self.store, &registered.keyspaces)?;
            for (partition, cached) in &registered.checkpoints {
                let stored = reloaded.get(partition).copied().unwrap_or(Offset(0));
                // The store keeps a prefix of the committed batches: within one process it never
                // forgets a batch that `apply` acknowledged.
                soft_assert!(
                    stored >= *cached,
                    "view \"{}\" partition {partition}: store went back from checkpoint {cached} to {stored}",
                    registered.view.name()
                );
            }
            registered.checkpoints = reloaded;
        }
        self.stale = false;
        Ok(())
    }

    /// Pair assertion (STYLE §2.6): the checkpoint read back from the store is the one just written.
    /// One point read per step; best effort, since the batch is already committed and a failed read
    /// here says nothing about it.
    fn check_committed(&self, partition: PartitionId, advanced: &[(usize, Offset)]) {
        let Some(&(index, written)) = advanced.first() else {
            return;
        };
        let keyspace = &self.views[index].keyspaces.checkpoints;
        let key = layout::checkpoint_key(partition);
        let Ok(value) = self.store.get(keyspace, &key) else {
            return;
        };
        let stored = value.and_then(|value| layout::decode_offset(keyspace, &key, &value).ok());
        soft_assert!(
            stored == Some(written),
            "view \"{}\" partition {partition}: wrote checkpoint {written}, read back {stored:?}",
            self.views[index].view.name()
        );
    }
}

fn checkpoint_of(registered: &Registered, partition: PartitionId) -> Offset {
    registered
        .checkpoints
        .get(&partition)
        .copied()
        .unwrap_or(Offset(0))
}

/// A batch is consecutive events of one partition in offset order; anything else is a caller bug.
fn assert_batch_shape(batch: &[EventEnvelope]) {
    assert!(
        batch.len() <= STEP_EVENTS_MAX,
        "batch of {} events exceeds STEP_EVENTS_MAX {STEP_EVENTS_MAX}",
        batch.len()
    );
    let partition = batch[0].position.partition;
    for pair in batch.windows(2) {
        assert_eq!(
            pair[1].position.partition, partition,
            "a batch holds events of one partition"
        );
        assert!(
            pair[0].position.offset < pair[1].position.offset,
            "batch offsets must increase: {} then {}",
            pair[0].position,
            pair[1].position
        );
    }
}

/// Runs one view over the batch; buffers its writes into `writes` and its stream versions and
/// checkpoint into `bookkeeping`.
fn apply_view(
    store: &dyn ViewRead,
    registered: &Registered,
    batch: &[EventEnvelope],
    writes: &mut WriteBatch,
    bookkeeping: &mut WriteBatch,
) -> Result<ViewStep, ProjectorError> {
    let partition = batch[0].position.partition;
    let from = checkpoint_of(registered, partition);
    let name = registered.view.name();
    let mut step = ViewStep {
        applied: 0,
        below_checkpoint: 0,
        duplicates: 0,
        checkpoint: None,
    };
    let last = batch.last().expect("non-empty batch").position.offset;
    if last < from {
        step.below_checkpoint = u64::try_from(batch.len()).expect("bounded batch");
        return Ok(step);
    }
    let mut txn = ViewTxn::new(store, &registered.keyspaces.data);
    let mut versions = StreamVersions {
        store,
        keyspaces: &registered.keyspaces,
        touched: BTreeMap::new(),
    };
    for envelope in batch {
        if envelope.position.offset < from {
            step.below_checkpoint += 1;
            continue;
        }
        if !versions.admit(name, envelope)? {
            step.duplicates += 1;
            continue;
        }
        registered
            .view
            .apply(envelope, &mut txn)
            .map_err(|source| {
                ProjectorError::View(Box::new(ViewFailure {
                    view: name.to_owned(),
                    position: envelope.position,
                    stream: envelope.body.stream.clone(),
                    version: envelope.body.stream_version,
                    event_type: envelope.body.payload.event_type.clone(),
                    source,
                }))
            })?;
        versions.record(envelope);
        step.applied += 1;
    }
    txn.commit_into(writes);
    versions.commit_into(bookkeeping);
    let checkpoint = last.next();
    let keyspace = &registered.keyspaces.checkpoints;
    bookkeeping.put(
        keyspace,
        layout::checkpoint_key(partition),
        layout::encode_offset(checkpoint),
    );
    step.checkpoint = Some(checkpoint);
    Ok(step)
}

/// The runtime's per-stream version tracking for one view during one step.
struct StreamVersions<'a> {
    store: &'a dyn ViewRead,
    keyspaces: &'a ViewKeyspaces,
    /// Per touched stream: (version stored before the batch, version applied so far).
    touched: BTreeMap<StreamId, (StreamVersion, StreamVersion)>,
}

impl StreamVersions<'_> {
    /// Whether the view must apply `envelope`: `false` for a stream version it already applied
    /// (idempotent redelivery), an error for a gap.
    fn admit(&mut self, view: &str, envelope: &EventEnvelope) -> Result<bool, ProjectorError> {
        let stream = &envelope.body.stream;
        let applied = match self.touched.get(stream) {
            Some((_, applied)) => *applied,
            None => {
                let stored = open::stream_version(self.store, self.keyspaces, stream)?;
                self.touched.insert(stream.clone(), (stored, stored));
                stored
            }
        };
        let found = envelope.body.stream_version;
        if found <= applied {
            trace!(view, %stream, %found, %applied, "skipped already applied stream version");
            return Ok(false);
        }
        if found != applied.next() {
            return Err(ProjectorError::StreamGap(Box::new(StreamGap {
                view: view.to_owned(),
                stream: stream.clone(),
                expected: applied.next(),
                found,
                position: envelope.position,
            })));
        }
        Ok(true)
    }

    /// Records that `envelope` (admitted) was applied.
    fn record(&mut self, envelope: &EventEnvelope) {
        let entry = self
            .touched
            .get_mut(&envelope.body.stream)
            .expect("admitted streams are tracked");
        assert_eq!(
            entry.1.next(),
            envelope.body.stream_version,
            "stream versions are applied in order"
        );
        entry.1 = envelope.body.stream_version;
    }

    /// Buffers the changed versions, in stream order.
    fn commit_into(self, bookkeeping: &mut WriteBatch) {
        for (stream, (stored, applied)) in self.touched {
            if applied != stored {
                let key = stream.as_str().as_bytes().to_vec();
                bookkeeping.put(
                    &self.keyspaces.streams,
                    key,
                    layout::encode_version(applied),
                );
            }
        }
    }
}
