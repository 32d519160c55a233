//! The command handler: loads an aggregate's state from the log, decides, appends with the expected
//! stream version, and retries on conflict (DESIGN §3). Domain-agnostic: an [`Aggregate`] says how to
//! decode, fold and decide.
//!
//! The handler is the writer-side cache of DESIGN §3: it keeps each stream's folded state and version
//! in memory, reads only the events appended since, and never clones a state to decide (a period
//! with a hundred thousand dispensings would make every command copy it). `decide` advances the state
//! through the events it decides; after a refusal or a conflict the state is dropped and re-folded.
//!
//! A state not in the cache (after a restart or an eviction) starts from the stream's snapshot when
//! the handler has a [`SnapshotStore`] and the aggregate takes snapshots (`snapshot`, issue #16 §1):
//! only the events after it are folded.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ledger::codec::CodecError;
use ledger::domain::time::Timestamp;
use ledger::log::{
    AppendOutcome, AppendRequest, CommandId, EventEnvelope, EventId, EventLog, LogError, NewEvent,
};
use ledger::log::{StreamId, StreamVersion};

pub mod snapshot;
mod speculate;

pub use snapshot::{SNAPSHOT_EVERY, SnapshotStats, SnapshotStore};
pub use speculate::{Drafts, Speculated};

/// How many times a command is re-decided after a version conflict before giving up.
pub const CONFLICT_RETRIES_MAX: u32 = 8;

/// The longest a handler waits for a conflicting append to become readable.
const CONFLICT_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// An aggregate as the handler sees it.
pub trait Aggregate: Send + Sync {
    type State: Clone + Default + Send;
    type Command: Sync;
    /// What a decision is made against (calendars, rules, keys, related state), borrowed for one
    /// decision.
    type Context<'c>;
    type Rejection: std::error::Error + Send + Sync + 'static;

    /// Folds one recorded event into the state. Errors are technical (an undecodable payload).
    fn evolve(state: Self::State, envelope: &EventEnvelope) -> Result<Self::State, HandlerError>;

    /// Decides the events of `command` against `state` and advances `state` through them. A
    /// rejection appends nothing; `state` is then unspecified and the handler discards it.
    fn decide(
        state: &mut Self::State,
        command: &Self::Command,
        context: &Self::Context<'_>,
    ) -> Result<Vec<NewEvent>, Self::Rejection>;

    /// Whether a refusal of `command` leaves the state as it was: true when the refusal comes before
    /// any event is folded (a single decision, or the first of a batch). The handler then keeps the
    /// cached state; otherwise it re-folds the stream for the next command, which for a stream of a
    /// hundred thousand dispensings costs as much as the stream (issue #17: a refused sale must not).
    fn refusal_leaves_state(_command: &Self::Command) -> bool {
        false
    }

    /// The version of [`Aggregate::evolve`] and of the state's layout, stamped on every snapshot (as
    /// the views stamp theirs): bump it whenever either changes, so that snapshots folded by the
    /// old code are discarded and their streams re-folded rather than misread.
    const FOLD_VERSION: u32 = 1;

    /// The state's bytes for a snapshot (`ledger::codec`), or `None` for an aggregate whose streams
    /// stay short and take no snapshots (the default).
    fn encode_state(_state: &Self::State) -> Option<Result<Vec<u8>, CodecError>> {
        None
    }

    /// The state read back from [`Aggregate::encode_state`]'s bytes.
    fn decode_state(_bytes: &[u8]) -> Result<Self::State, CodecError> {
        Err(CodecError::Malformed {
            type_name: std::any::type_name::<Self::State>(),
            detail: "this aggregate takes no snapshots".into(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("stream \"{stream}\" kept changing: gave up after {attempts} conflicting attempts")]
    Contended { stream: StreamId, attempts: u32 },
    #[error("cannot fold {stream}@{version}: {detail}")]
    Fold {
        stream: StreamId,
        version: StreamVersion,
        detail: String,
    },
    /// The writer's own state (`writer_state`) could not be read or written.
    #[error("the writer state failed: {0}")]
    State(#[from] projector::StoreError),
}

/// The result of handling one command.
#[derive(Debug)]
pub enum Handled<R> {
    Appended(AppendOutcome),
    Rejected(R),
}

/// A stream's folded state with what its snapshots need.
struct Cached<S> {
    state: S,
    version: StreamVersion,
    /// The id of the event at `version` (none at version 0).
    last_event: Option<EventId>,
    /// The version of the stream's latest snapshot (written or read), 0 for none.
    snapshot_at: StreamVersion,
}

impl<S: Default> Cached<S> {
    fn empty() -> Self {
        Cached {
            state: S::default(),
            version: StreamVersion::NONE,
            last_event: None,
            snapshot_at: StreamVersion::NONE,
        }
    }

    /// Folds `envelopes`, the stream's events right after `version`.
    fn fold<A: Aggregate<State = S>>(
        &mut self,
        envelopes: &[EventEnvelope],
    ) -> Result<(), HandlerError> {
        for envelope in envelopes {
            assert_eq!(
                envelope.body.stream_version,
                self.version.next(),
                "read_stream returns a gapless suffix"
            );
            self.state = A::evolve(std::mem::take(&mut self.state), envelope)?;
            self.version = envelope.body.stream_version;
            self.last_event = Some(envelope.body.event_id);
        }
        Ok(())
    }
}

/// Handles commands for one aggregate type, caching folded states per stream.
///
/// Commands on one stream are serialised by a per-stream async lock (DESIGN §3: one writer), so within
/// one handler they never conflict; a conflict means another writer appended, and the command is
/// re-decided against the fresh state.
pub struct Handler<A: Aggregate> {
    cache: Mutex<HashMap<StreamId, Cached<A::State>>>,
    locks: LockTable<StreamId>,
    snapshots: Option<Arc<SnapshotStore>>,
    /// Events folded from the log so far (not those a snapshot stood for).
    folded: AtomicU64,
}

impl<A: Aggregate> Default for Handler<A> {
    fn default() -> Self {
        Handler {
            cache: Mutex::new(HashMap::new()),
            locks: LockTable::default(),
            snapshots: None,
            folded: AtomicU64::new(0),
        }
    }
}

impl<A: Aggregate> Handler<A> {
    /// A handler whose long streams are snapshotted in `snapshots` (none: no snapshots).
    pub fn with_snapshots(snapshots: Option<Arc<SnapshotStore>>) -> Self {
        Handler {
            snapshots,
            ..Handler::default()
        }
    }
}

/// Async locks by name, made on first use and dropped once nobody holds or waits for them: a
/// handler's lock per stream, the JSON writer's lock per partition key, the M-06 locks per pack and
/// receipt. Each lock is fair (first come, first served), so commands on one name keep their order.
pub struct LockTable<K>(Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>);

impl<K> Default for LockTable<K> {
    fn default() -> Self {
        LockTable(Mutex::new(HashMap::new()))
    }
}

/// Held locks of a [`LockTable`]; released on drop.
pub struct LockGuards<'a, K: Hash + Eq> {
    table: &'a LockTable<K>,
    held: Vec<(K, tokio::sync::OwnedMutexGuard<()>)>,
}

impl<K: Hash + Eq + Ord + Clone> LockTable<K> {
    /// Locks one name.
    pub async fn lock(&self, name: K) -> LockGuards<'_, K> {
        self.lock_all(vec![name]).await
    }

    /// Locks every name, in sorted order (so two callers sharing names cannot wait on each other).
    pub async fn lock_all(&self, mut names: Vec<K>) -> LockGuards<'_, K> {
        names.sort_unstable();
        names.dedup();
        let mut held = Vec::with_capacity(names.len());
        for name in names {
            let lock = {
                let mut table = self.0.lock().expect("lock table");
                Arc::clone(table.entry(name.clone()).or_default())
            };
            held.push((name, lock.lock_owned().await));
        }
        LockGuards { table: self, held }
    }
}

impl<K: Hash + Eq> Drop for LockGuards<'_, K> {
    fn drop(&mut self) {
        let mut table = self.table.0.lock().expect("lock table");
        for (name, guard) in self.held.drain(..) {
            drop(guard);
            // Only the table still refers to the lock: nobody holds or waits for it.
            if table
                .get(&name)
                .is_some_and(|lock| Arc::strong_count(lock) == 1)
            {
                table.remove(&name);
            }
        }
    }
}

impl<A: Aggregate> Handler<A> {
    /// A copy of the current state of `stream` (for reading related state, e.g. the contract a period
    /// is decided under), folding only the events appended since the cached version.
    pub async fn load(
        &self,
        log: &dyn EventLog,
        stream: &StreamId,
    ) -> Result<(A::State, StreamVersion), HandlerError> {
        let _serialised = self.locks.lock(stream.clone()).await;
        let cached = self.current(log, stream).await?;
        let (copy, version) = (cached.state.clone(), cached.version);
        self.put_back(stream, cached);
        Ok((copy, version))
    }

    /// Brings the state of `stream` up to date with the log and reads it, without copying it (the
    /// trust boundary asks a contract for its holder before every command of that contract).
    pub async fn inspect<R>(
        &self,
        log: &dyn EventLog,
        stream: &StreamId,
        read: impl FnOnce(&A::State) -> R,
    ) -> Result<R, HandlerError> {
        let _serialised = self.locks.lock(stream.clone()).await;
        let cached = self.current(log, stream).await?;
        let result = read(&cached.state);
        self.put_back(stream, cached);
        Ok(result)
    }

    /// Reads the cached state of `stream` without touching the log (None if never loaded).
    pub fn peek<R>(&self, stream: &StreamId, read: impl FnOnce(&A::State) -> R) -> Option<R> {
        let cache = self.cache.lock().expect("handler cache lock");
        cache.get(stream).map(|cached| read(&cached.state))
    }

    /// Drops the cached state of `stream` (DESIGN §10: the writer's memory is bounded by open work):
    /// the next command on it folds it again from the log.
    pub fn evict(&self, stream: &StreamId) {
        self.cache
            .lock()
            .expect("handler cache lock")
            .remove(stream);
    }

    /// Takes the stream's state out of the cache and brings it up to date with the log. The caller
    /// holds the stream lock and puts the state back (or drops it to force a re-fold).
    async fn current(
        &self,
        log: &dyn EventLog,
        stream: &StreamId,
    ) -> Result<Cached<A::State>, HandlerError> {
        let cached = self
            .cache
            .lock()
            .expect("handler cache lock")
            .remove(stream);
        let Some(mut cached) = cached else {
            return self.cold(log, stream).await;
        };
        let tail = log.read_stream(stream, cached.version.next()).await?;
        cached.fold::<A>(&tail)?;
        self.count_folded(tail.len());
        Ok(cached)
    }

    /// Folds a stream that is not in the cache: from its snapshot when there is a usable one (the
    /// log holds the snapshot's event at its version), else from the start.
    async fn cold(
        &self,
        log: &dyn EventLog,
        stream: &StreamId,
    ) -> Result<Cached<A::State>, HandlerError> {
        if let Some(store) = &self.snapshots
            && let Some(snapshot) = store.get::<A>(stream)
        {
            let tail = log.read_stream(stream, snapshot.version).await?;
            match tail.first() {
                Some(first)
                    if first.body.stream_version == snapshot.version
                        && first.body.event_id == snapshot.event_id =>
                {
                    let mut cached = Cached {
                        state: snapshot.state,
                        version: snapshot.version,
                        last_event: Some(snapshot.event_id),
                        snapshot_at: snapshot.version,
                    };
                    cached.fold::<A>(&tail[1..])?;
                    self.count_folded(tail.len() - 1);
                    tracing::info!(%stream, snapshot = %snapshot.version, folded = tail.len() - 1, version = %cached.version, "stream state loaded from its snapshot");
                    return Ok(cached);
                }
                Some(first) => store.discard(
                    stream,
                    &format!(
                        "it names event {} at version {}, the log holds {} there",
                        snapshot.event_id, snapshot.version, first.body.event_id
                    ),
                ),
                None => store.discard(
                    stream,
                    &format!(
                        "it is at version {}, ahead of the log's stream",
                        snapshot.version
                    ),
                ),
            }
        }
        let mut cached = Cached::empty();
        let events = log.read_stream(stream, StreamVersion::NONE.next()).await?;
        cached.fold::<A>(&events)?;
        self.count_folded(events.len());
        if u64::try_from(events.len()).expect("usize fits in u64") >= self.snapshot_every() {
            tracing::info!(%stream, folded = events.len(), "stream state folded from the log");
        }
        Ok(cached)
    }

    fn count_folded(&self, events: usize) {
        let events = u64::try_from(events).expect("usize fits in u64");
        self.folded.fetch_add(events, Ordering::Relaxed);
    }

    fn snapshot_every(&self) -> u64 {
        self.snapshots
            .as_ref()
            .map_or(u64::MAX, |store| store.every())
    }

    /// Puts a state back into the cache; a stream that grew enough since its last snapshot
    /// ([`snapshot_due`]) gets a new one first.
    fn put_back(&self, stream: &StreamId, mut cached: Cached<A::State>) {
        if let (Some(store), Some(event_id)) = (&self.snapshots, cached.last_event)
            && cached.version.0 >= snapshot_due(cached.snapshot_at, store.every())
            && store.put::<A>(stream, &cached.state, cached.version, event_id)
        {
            cached.snapshot_at = cached.version;
        }
        let mut cache = self.cache.lock().expect("handler cache lock");
        cache.insert(stream.clone(), cached);
    }

    /// Events folded from the log by this handler so far (those a snapshot stood for excluded): what
    /// shows that a restarted writer folds only a stream's tail.
    pub fn events_folded(&self) -> u64 {
        self.folded.load(Ordering::Relaxed)
    }

    /// Snapshots every cached state of at least [`SnapshotStore::every`] events that moved since its
    /// last snapshot, and waits until they are written (a graceful stop). Returns how many.
    pub fn snapshot_cached(&self) -> usize {
        let Some(store) = &self.snapshots else {
            return 0;
        };
        let mut taken = 0;
        let mut cache = self.cache.lock().expect("handler cache lock");
        for (stream, cached) in cache.iter_mut() {
            if let Some(event_id) = cached.last_event
                && cached.version > cached.snapshot_at
                && cached.version.0 >= store.every()
                && store.put::<A>(stream, &cached.state, cached.version, event_id)
            {
                cached.snapshot_at = cached.version;
                taken += 1;
            }
        }
        drop(cache);
        store.flush();
        taken
    }

    /// Loads, decides and appends one command; re-decides on a version conflict.
    pub async fn execute(
        &self,
        log: &dyn EventLog,
        stream: &StreamId,
        command_id: CommandId,
        command: &A::Command,
        context: &A::Context<'_>,
    ) -> Result<Handled<A::Rejection>, HandlerError> {
        let _serialised = self.locks.lock(stream.clone()).await;
        for _attempt in 0..=CONFLICT_RETRIES_MAX {
            if let Some(outcome) = log.command_outcome(command_id).await? {
                return Ok(Handled::Appended(AppendOutcome {
                    duplicate: true,
                    ..outcome
                }));
            }
            let mut cached = self.current(log, stream).await?;
            let version = cached.version;
            let events = match A::decide(&mut cached.state, command, context) {
                Ok(events) => events,
                Err(rejection) => {
                    if A::refusal_leaves_state(command) {
                        self.put_back(stream, cached);
                    }
                    // Otherwise the state may be half-advanced: it is dropped, and the next
                    // command re-folds it.
                    return Ok(Handled::Rejected(rejection));
                }
            };
            let count = u64::try_from(events.len()).expect("event count fits in u64");
            let last_event = events.last().map(|event| event.event_id);
            let request = AppendRequest {
                stream: stream.clone(),
                expected: version,
                command_id,
                events,
            };
            match log.append(request).await {
                Ok(outcome) => {
                    if !outcome.duplicate {
                        assert_eq!(
                            outcome.first_version,
                            version.next(),
                            "an append lands after `expected`"
                        );
                        cached.version = StreamVersion(version.0 + count);
                        cached.last_event = last_event.or(cached.last_event);
                        self.put_back(stream, cached);
                    }
                    return Ok(Handled::Appended(outcome));
                }
                Err(LogError::Conflict { actual, .. }) => {
                    tracing::debug!(%stream, %command_id, %actual, "version conflict; re-deciding");
                    wait_until_visible(log, stream, actual).await?;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(HandlerError::Contended {
            stream: stream.clone(),
            attempts: CONFLICT_RETRIES_MAX + 1,
        })
    }
}

/// The version at which a stream whose last snapshot is at `last` gets its next one: once it grew by
/// `every` events and by as many as that snapshot held (10k, 20k, 40k, 80k… with `every` = 10k).
/// Encoding a state costs as much as its size, so evenly spaced snapshots made a bulk load quadratic
/// (a demo stream of 350k dispensings: 35 snapshots, 64 µs a dispensing); doubling bounds the encoding
/// to twice the stream, and a restart folds at most the half after the last snapshot (none after a
/// graceful stop, which snapshots every moved state).
pub fn snapshot_due(last: StreamVersion, every: u64) -> u64 {
    last.0.saturating_add(every.max(last.0))
}

/// Waits until the stream's committed version reaches `version`: the writer reports a conflict as soon
/// as the competing append is written, but readers see it only once it is committed, and re-deciding
/// before then would conflict again.
async fn wait_until_visible(
    log: &dyn EventLog,
    stream: &StreamId,
    version: StreamVersion,
) -> Result<(), HandlerError> {
    let deadline = tokio::time::Instant::now() + CONFLICT_WAIT_MAX;
    while log.stream_version(stream).await? < version {
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_micros(200)).await;
    }
    Ok(())
}

/// The writer's clock: the only place the command side reads wall time.
pub fn now() -> Timestamp {
    Timestamp::from_datetime(chrono::Utc::now())
}

#[cfg(test)]
mod tests {
    use super::LockTable;

    /// A second caller on a held name waits until the first releases it; once nobody holds a name, its
    /// lock leaves the table (it does not grow with every stream or pack ever seen).
    #[tokio::test]
    async fn a_shared_name_is_serialised_and_its_lock_dropped_after_use() {
        let locks = LockTable::<String>::default();
        let first = locks.lock_all(vec!["b".into(), "a".into()]).await;
        let second = locks.lock("a".into());
        tokio::pin!(second);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), &mut second).await;
        assert!(waited.is_err(), "the shared name is still held");
        let other = locks.lock("c".into()).await;
        drop(other);
        drop(first);
        let second = second.await;
        drop(second);
        assert!(locks.0.lock().unwrap().is_empty(), "no lock is left behind");
    }
}
