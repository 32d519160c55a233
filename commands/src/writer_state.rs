//! The writer's own state, persisted with a checkpoint (issue #16 §1, DESIGN §10): the M-06 index of
//! packs and receipts, the signing keys and the sealed months, in a store beside the log
//! (`<data-dir>/writer-state`, sled behind the views' `ViewStore` contract) with the checkpoint
//! `(partition → next offset)` of the log it has read.
//!
//! Start-up reads the checkpoint and replays only the log after it, writing each replayed run of
//! records and the checkpoint that follows it in one atomic batch, as the projector does. While the
//! writer runs it writes each append's changes through at once (so decisions see them) and, from time
//! to time, catches the checkpoint up by reading the log again while no command is in flight; the
//! changes are idempotent, so writes replayed twice (written through, then replayed) change nothing.
//!
//! The store is a cache of the log, never a second truth: a store of another layout, of another
//! partition count, ahead of the log, or that cannot be opened or read is rebuilt from the log with a
//! warning. Loss costs one scan of the log.

pub mod layout;
pub mod m06;
mod periods;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use ledger::domain::event::Event;
use ledger::domain::keys::{KeyEvent, KeyRegistry};
use ledger::log::{EventEnvelope, EventLog, Offset, PartitionId, Payload, read_partition};
use projector::{
    Entry, FlushPolicy, KeyValues, Keyspace, SledStore, StoreError, ViewRead, ViewStore, WriteBatch,
};

use crate::audit::seal::SealedMonths;
use crate::handler::HandlerError;
use crate::uniqueness::UniquenessIndex;
use layout::Cursor;
use m06::Changes;
use periods::PeriodSpans;

/// The directory of the writer's state under the data directory.
pub const WRITER_STATE_DIR: &str = "writer-state";

/// The directory of the M-06 runs' files in the writer's state directory.
const RUNS_DIR: &str = "runs";

/// sled's page cache for the writer's state: reads of the M-06 index are point reads, and a small
/// cache keeps the writer's resident memory bounded whatever the history (issue #16 §1).
pub const STATE_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Takes (two per dispensing) a replay gathers in memory before it writes them as a run with their
/// checkpoint: ~150 bytes each while gathered.
pub const REPLAY_CHUNK_TAKES: usize = 1_000_000;

/// How often sled makes applied batches durable. A crash loses at most this much of the store,
/// which the next start replays from the log.
const FLUSH_EVERY_MS: u64 = 1_000;

/// The store under the writer's state: the views' `ViewStore` contract, shared by the writer's tasks.
pub trait StateStore: Send + Sync {
    fn get(&self, keyspace: &Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    fn scan_prefix(
        &self,
        keyspace: &Keyspace,
        prefix: &[u8],
        limit: usize,
    ) -> Result<KeyValues, StoreError>;
    /// Applies `batch` all-or-nothing; batches survive a crash as a prefix, in order.
    fn apply(&self, batch: WriteBatch) -> Result<(), StoreError>;
    fn flush(&self) -> Result<(), StoreError>;
    /// Every entry, ordered by (keyspace, key): for comparing stores.
    fn export(&self) -> Result<Vec<Entry>, StoreError>;
    /// The directory of the M-06 runs' files (`m06::file`), which the store's manifest names.
    fn runs_dir(&self) -> &Path;
}

/// A [`ViewStore`] shared: reads through its reader, writes one at a time; with the directory of
/// the run files beside it.
struct Shared<S: ViewStore> {
    store: Mutex<S>,
    reader: S::Reader,
    runs_dir: PathBuf,
    /// A temporary store's directory, deleted with it.
    _temporary: Option<tempfile::TempDir>,
}

impl<S: ViewStore + Send> StateStore for Shared<S> {
    fn get(&self, keyspace: &Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.reader.get(keyspace, key)
    }

    fn scan_prefix(
        &self,
        keyspace: &Keyspace,
        prefix: &[u8],
        limit: usize,
    ) -> Result<KeyValues, StoreError> {
        self.reader.scan_prefix(keyspace, prefix, limit)
    }

    fn apply(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.store.lock().expect("writer state lock").apply(batch)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.store.lock().expect("writer state lock").flush()
    }

    fn export(&self) -> Result<Vec<Entry>, StoreError> {
        self.reader.export()
    }

    fn runs_dir(&self) -> &Path {
        &self.runs_dir
    }
}

fn shared<S: ViewStore + Send + 'static>(
    store: S,
    runs_dir: PathBuf,
    temporary: Option<tempfile::TempDir>,
) -> Arc<dyn StateStore> {
    let reader = store.reader();
    Arc::new(Shared {
        store: Mutex::new(store),
        reader,
        runs_dir,
        _temporary: temporary,
    })
}

/// A store in a temporary sled database and directory, deleted on drop: for writers without a data
/// directory (tests) and for one-off scans.
pub fn temporary_store() -> Arc<dyn StateStore> {
    let runs = tempfile::tempdir().expect("a temporary directory for the M-06 runs");
    let runs_dir = runs.path().to_path_buf();
    let store = SledStore::temporary().expect("a temporary sled database opens");
    shared(store, runs_dir, Some(runs))
}

/// What the writer starts from.
pub struct Loaded {
    pub state: WriterState,
    pub keys: KeyRegistry,
    pub index: UniquenessIndex,
    pub sealed: SealedMonths,
}

/// How a start went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadReport {
    /// Whether the store was rebuilt from the whole log (first start, loss, damage, new layout).
    pub rebuilt: bool,
    /// Records read from the log after the checkpoint.
    pub replayed: u64,
    pub elapsed: Duration,
}

/// The writer's persisted state and its checkpoint.
pub struct WriterState {
    store: Arc<dyn StateStore>,
    index: UniquenessIndex,
    /// Where each partition is read to: what the store holds.
    checkpoint: Mutex<Vec<Cursor>>,
    report: LoadReport,
    /// The directory's lock, held while the store is open (one writer per store).
    lock: Option<std::fs::File>,
}

/// Why a store cannot be used as it is; each is repaired by a rebuild.
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("it was written with layout {found}, this writer reads layout {expected}")]
    Layout { found: u32, expected: u32 },
    #[error("it was written for {found} partitions, the log has {expected}")]
    Partitions { found: u64, expected: u32 },
    #[error(
        "its checkpoint of partition {partition} is at offset {checkpoint}, past the log's end {end}"
    )]
    AheadOfLog {
        partition: u32,
        checkpoint: u64,
        end: u64,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("a stored event does not decode: {0}")]
    Event(String),
}

impl WriterState {
    /// Opens the writer's state in `dir` (created if missing) and brings it up to the end of `log`;
    /// without `dir`, builds it from the whole log in a temporary store. Never fails for the store's
    /// sake: an unusable store is rebuilt from the log with a warning. Fails for the log's.
    pub async fn open(log: &Arc<dyn EventLog>, dir: Option<&Path>) -> anyhow::Result<Loaded> {
        let started = Instant::now();
        let Some(dir) = dir else {
            let store = temporary_store();
            initialise(&*store, log.partitions())?;
            return Ok(load(store, log, true, started).await??);
        };
        let lock = lock_dir(dir)?;
        let mut rebuilt = !dir.join("db").exists();
        for attempt in 0..2 {
            let problem = match open_store(dir) {
                Ok(store) => match usable(&*store, &**log).await {
                    Ok(fresh) => {
                        if fresh {
                            initialise(&*store, log.partitions())?;
                        }
                        match load(store, log, rebuilt || fresh, started).await? {
                            Ok(mut loaded) => {
                                loaded.state.lock = Some(lock);
                                return Ok(loaded);
                            }
                            Err(problem) => problem,
                        }
                    }
                    Err(problem) => problem,
                },
                Err(error) => Unusable::Store(error),
            };
            anyhow::ensure!(
                attempt == 0,
                "the writer state in {} cannot be rebuilt: {problem}",
                dir.display()
            );
            tracing::warn!(dir = %dir.display(), %problem, "the writer state is unusable; rebuilding it from the log");
            remove_store(dir)?;
            rebuilt = true;
        }
        unreachable!("the second attempt returns")
    }

    pub fn report(&self) -> LoadReport {
        self.report
    }

    /// Reads the log from the checkpoint to its end into a new run, moving the checkpoint with it,
    /// and empties the overlay. The caller makes sure no append of this writer is in flight: the
    /// overlay then holds exactly what the run now holds. Returns the records read.
    pub async fn catch_up(&self, log: &Arc<dyn EventLog>) -> Result<u64, HandlerError> {
        let mut checkpoint = self.checkpoint.lock().expect("checkpoint lock").clone();
        let started = Instant::now();
        let records = replay(&*self.store, &self.index, &**log, &mut checkpoint).await?;
        *self.checkpoint.lock().expect("checkpoint lock") = checkpoint;
        self.index.set_overlay(Changes::default());
        let (runs, filter_bytes, _) = self.index.size();
        tracing::info!(
            records,
            runs,
            filter_bytes,
            elapsed_ms = started.elapsed().as_millis(),
            "writer state caught up"
        );
        Ok(records)
    }

    /// Records the key and seal events of an append (written through; the catch-up replays them).
    pub fn record_reference(
        &self,
        envelope_position: ledger::log::Position,
        event: &Event,
    ) -> Result<(), HandlerError> {
        let mut batch = WriteBatch::new();
        reference_write(&mut batch, envelope_position, event)?;
        Ok(self.store.apply(batch)?)
    }

    /// Every stored entry, ordered by (keyspace, key): what two stores built from one log must
    /// agree on.
    pub fn entries(&self) -> Result<Vec<Entry>, HandlerError> {
        Ok(self.store.export()?)
    }

    /// Makes everything applied so far durable.
    pub fn flush(&self) -> Result<(), HandlerError> {
        Ok(self.store.flush()?)
    }

    /// What a seal of `period` in `jurisdiction` reads on each partition: the span of the period's
    /// records the store has seen, then the log from the checkpoint on (`audit::seal::observe_from`)
    /// instead of the whole log.
    pub fn period_spans(
        &self,
        jurisdiction: ledger::domain::jurisdiction::Jurisdiction,
        period: ledger::domain::values::ReportingPeriod,
    ) -> Vec<Vec<crate::audit::seal::ReadSpan>> {
        // The checkpoint first: the store holds at least what it names (it moves after a commit).
        let checkpoint = self.checkpoint.lock().expect("checkpoint lock").clone();
        let read = periods::read_spans(
            &*self.store,
            jurisdiction.code(),
            &period.key(),
            &checkpoint,
        );
        read.unwrap_or_else(|error| {
            tracing::warn!(%error, %jurisdiction, period = %period.key(), "the writer state cannot say where the period lies; the seal reads the whole log");
            let whole = crate::audit::seal::ReadSpan {
                from: Cursor::default(),
                to: None,
            };
            vec![vec![whole]; checkpoint.len()]
        })
    }
}

/// Locks `dir` for this process: a store in use by another writer is refused, never rebuilt under
/// it.
fn lock_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir)
        .map_err(|error| anyhow::anyhow!("cannot create {}: {error}", dir.display()))?;
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| anyhow::anyhow!("cannot open {}: {error}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "the writer state in {} is in use by another process; stop the other writer (`ledger serve`, `submit`, `import`, `watch` or `demo`) first",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(error)) => {
            anyhow::bail!("cannot lock {}: {error}", path.display())
        }
    }
}

fn open_store(dir: &Path) -> Result<Arc<dyn StateStore>, StoreError> {
    let store = SledStore::open_with_cache(
        &dir.join("db"),
        FlushPolicy::Background {
            every_ms: FLUSH_EVERY_MS,
        },
        STATE_CACHE_BYTES,
    )?;
    Ok(shared(store, dir.join(RUNS_DIR), None))
}

fn remove_store(dir: &Path) -> anyhow::Result<()> {
    let runs = dir.join(RUNS_DIR);
    if runs.exists() {
        std::fs::remove_dir_all(&runs)
            .map_err(|error| anyhow::anyhow!("cannot remove {}: {error}", runs.display()))?;
    }
    let db = dir.join("db");
    let removed = match std::fs::symlink_metadata(&db) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => Err(error),
        Ok(metadata) if metadata.is_dir() => std::fs::remove_dir_all(&db),
        // Damage can leave a file where the database belongs.
        Ok(_) => std::fs::remove_file(&db),
    };
    removed.map_err(|error| anyhow::anyhow!("cannot remove {}: {error}", db.display()))
}

/// Whether the store can be read from its checkpoint: `Ok(true)` when it is empty (a first start).
async fn usable(store: &dyn StateStore, log: &dyn EventLog) -> Result<bool, Unusable> {
    let Some(layout_bytes) = store.get(&layout::meta(), layout::META_LAYOUT)? else {
        return Ok(true);
    };
    let found = layout::decode_u64(&layout::meta(), layout::META_LAYOUT, &layout_bytes)?;
    if found != u64::from(layout::LAYOUT_VERSION) {
        return Err(Unusable::Layout {
            found: u32::try_from(found).unwrap_or(u32::MAX),
            expected: layout::LAYOUT_VERSION,
        });
    }
    let partitions = store
        .get(&layout::meta(), layout::META_PARTITIONS)?
        .map(|bytes| layout::decode_u64(&layout::meta(), layout::META_PARTITIONS, &bytes))
        .transpose()?
        .unwrap_or(0);
    if partitions != u64::from(log.partitions()) {
        return Err(Unusable::Partitions {
            found: partitions,
            expected: log.partitions(),
        });
    }
    for (partition, cursor) in (0..).zip(read_checkpoint(store, log.partitions())?) {
        let checkpoint = cursor.next;
        let end = log
            .end_offset(PartitionId(partition))
            .await
            .map_err(|error| Unusable::Store(log_unavailable(&error)))?;
        if checkpoint > end.0 {
            return Err(Unusable::AheadOfLog {
                partition,
                checkpoint,
                end: end.0,
            });
        }
    }
    Ok(false)
}

fn log_unavailable(error: &ledger::log::LogError) -> StoreError {
    StoreError::Backend {
        operation: "read the log's end",
        source: error.to_string().into(),
    }
}

/// Marks an empty store with this layout and the log's partition count, checkpoint at 0.
fn initialise(store: &dyn StateStore, partitions: u32) -> Result<(), StoreError> {
    let mut batch = WriteBatch::new();
    batch.put(
        &layout::meta(),
        layout::META_LAYOUT.to_vec(),
        layout::encode_u64(u64::from(layout::LAYOUT_VERSION)),
    );
    batch.put(
        &layout::meta(),
        layout::META_PARTITIONS.to_vec(),
        layout::encode_u64(u64::from(partitions)),
    );
    store.apply(batch)
}

fn read_checkpoint(store: &dyn StateStore, partitions: u32) -> Result<Vec<Cursor>, StoreError> {
    (0..partitions)
        .map(|partition| {
            let key = layout::partition_key(PartitionId(partition));
            store
                .get(&layout::checkpoint(), &key)?
                .map_or(Ok(Cursor::default()), |bytes| {
                    Cursor::decode(&layout::checkpoint(), &key, &bytes)
                })
        })
        .collect()
}

/// Replays the log after the checkpoint and commits it as runs with the checkpoint it reaches (so
/// the next start reads only what comes after), then reads the keys and seals from the store. The outer error is the log's (fatal), the
/// inner one the store's (a rebuild repairs it).
async fn load(
    store: Arc<dyn StateStore>,
    log: &Arc<dyn EventLog>,
    rebuilt: bool,
    started: Instant,
) -> Result<Result<Loaded, Unusable>, HandlerError> {
    let mut checkpoint = match read_checkpoint(&*store, log.partitions()) {
        Ok(checkpoint) => checkpoint,
        Err(error) => return Ok(Err(error.into())),
    };
    let index = match UniquenessIndex::open(Arc::clone(&store)) {
        Ok(index) => index,
        Err(error) => return Ok(Err(error.into())),
    };
    let replayed = match replay(&*store, &index, &**log, &mut checkpoint).await {
        Ok(records) => records,
        Err(HandlerError::State(error)) => return Ok(Err(error.into())),
        Err(error) => return Err(error),
    };
    Ok(finish_load(
        store, index, checkpoint, replayed, rebuilt, started,
    ))
}

fn finish_load(
    store: Arc<dyn StateStore>,
    index: UniquenessIndex,
    checkpoint: Vec<Cursor>,
    replayed: u64,
    rebuilt: bool,
    started: Instant,
) -> Result<Loaded, Unusable> {
    let mut keys = KeyRegistry::new();
    for event in stored_events(&*store, &layout::key_events())? {
        if let Ok(event) = KeyEvent::try_from(&event) {
            keys.apply(&event);
        }
    }
    let mut sealed = SealedMonths::default();
    for event in stored_events(&*store, &layout::seal_events())? {
        sealed.apply(&event);
    }
    let report = LoadReport {
        rebuilt,
        replayed,
        elapsed: started.elapsed(),
    };
    let (runs, filter_bytes, overlay) = index.size();
    tracing::info!(
        rebuilt,
        replayed = report.replayed,
        runs,
        filter_bytes,
        overlay,
        elapsed_ms = report.elapsed.as_millis(),
        "writer state loaded"
    );
    Ok(Loaded {
        state: WriterState {
            store,
            index: index.clone(),
            checkpoint: Mutex::new(checkpoint),
            report,
            lock: None,
        },
        keys,
        index,
        sealed,
    })
}

fn stored_events(store: &dyn StateStore, keyspace: &Keyspace) -> Result<Vec<Event>, Unusable> {
    store
        .scan_prefix(keyspace, b"", usize::MAX)?
        .into_iter()
        .map(|(_, bytes)| {
            let payload: Payload = ledger::codec::decode(&bytes)
                .map_err(|error| Unusable::Event(error.to_string()))?;
            Event::from_payload(&payload).map_err(|error| Unusable::Event(error.to_string()))
        })
        .collect()
}

/// Reads the log from `checkpoint` to its end, partition after partition, committing a run (with
/// the checkpoint it reaches) whenever the changes hold [`REPLAY_CHUNK_TAKES`] takes, and the rest
/// at the end; returns the records read.
async fn replay(
    store: &dyn StateStore,
    index: &UniquenessIndex,
    log: &dyn EventLog,
    checkpoint: &mut Vec<Cursor>,
) -> Result<u64, HandlerError> {
    let mut next = checkpoint.clone();
    let mut changes = Changes::default();
    let mut references = WriteBatch::new();
    let mut spans = PeriodSpans::default();
    let mut records = 0;
    for (partition, slot) in (0..log.partitions()).zip(0..next.len()) {
        let mut stream = read_partition(log, PartitionId(partition), Offset(next[slot].next));
        while let Some(record) = stream.next().await {
            let envelope = record?;
            spans.see(store, &envelope, next[slot])?;
            next[slot] = next[slot].past(envelope.position.offset.0);
            records += 1;
            replay_record(index, &mut changes, &mut references, &envelope)?;
            if changes.take_count() >= REPLAY_CHUNK_TAKES {
                let full = std::mem::take(&mut changes);
                spans.write(&mut references);
                commit(store, index, &full, std::mem::take(&mut references), &next)?;
                checkpoint.clone_from(&next);
            }
        }
    }
    if records > 0 {
        spans.write(&mut references);
        commit(store, index, &changes, references, &next)?;
        checkpoint.clone_from(&next);
    }
    Ok(records)
}

/// Applies one record to the pending changes; only the records the writer keeps are decoded (the
/// envelope names the stream and the event type).
fn replay_record(
    index: &UniquenessIndex,
    changes: &mut Changes,
    references: &mut WriteBatch,
    envelope: &EventEnvelope,
) -> Result<(), HandlerError> {
    match envelope.body.stream.category() {
        "keys" | "seal" => {
            let event = crate::writer::decode(envelope)?;
            reference_write(references, envelope.position, &event)?;
        }
        "period" if M06_EVENTS.contains(&envelope.body.payload.event_type.as_str()) => {
            index.apply_to(changes, &crate::writer::decode(envelope)?)?;
        }
        _ => {}
    }
    Ok(())
}

/// The event types that take or release a uniqueness key.
const M06_EVENTS: [&str; 2] = ["DispensingRecorded", "DispensingReversed"];

/// The write that keeps a key or seal event (its payload, re-encoded).
fn reference_write(
    batch: &mut WriteBatch,
    position: ledger::log::Position,
    event: &Event,
) -> Result<(), HandlerError> {
    let keyspace = match event {
        Event::PeriodSealed(_) => layout::seal_events(),
        _ if KeyEvent::try_from(event).is_ok() => layout::key_events(),
        _ => return Ok(()),
    };
    let fold = |detail: String| HandlerError::Log(ledger::log::LogError::Unavailable(detail));
    let payload = event.to_payload().map_err(|error| {
        fold(format!(
            "cannot encode a {} event: {error}",
            event.event_type()
        ))
    })?;
    let bytes = ledger::codec::encode(&payload)
        .map_err(|error| fold(format!("cannot encode a payload: {error}")))?;
    batch.put(
        &keyspace,
        layout::position_key(position.partition, position.offset),
        bytes,
    );
    Ok(())
}

/// Commits `changes` as a run, with `references` and the checkpoint `next` in the run's final batch
/// (the manifest naming the run): a crash leaves the run and the checkpoint together or neither.
fn commit(
    store: &dyn StateStore,
    index: &UniquenessIndex,
    changes: &Changes,
    references: WriteBatch,
    next: &[Cursor],
) -> Result<(), HandlerError> {
    let mut batch = index.write_run(changes)?;
    batch.extend(references);
    batch.begin_checkpoint_section();
    for (partition, next) in (0..).zip(next) {
        batch.put(
            &layout::checkpoint(),
            layout::partition_key(PartitionId(partition)),
            next.encode(),
        );
    }
    if let Err(error) = store.apply(batch) {
        index.abandoned(changes.has_takes());
        return Err(error.into());
    }
    if changes.has_takes() {
        let started = Instant::now();
        let merges = index.compact()?;
        if merges > 0 {
            let (runs, filter_bytes, _) = index.size();
            tracing::info!(
                merges,
                runs,
                filter_bytes,
                elapsed_ms = started.elapsed().as_millis(),
                "M-06 runs merged"
            );
        }
    }
    Ok(())
}

/// The directory of the writer's state of the embedded log in `data_dir`.
pub fn state_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(WRITER_STATE_DIR)
}
