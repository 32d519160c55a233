//! An in-memory view store for deterministic simulation (STYLE §2.7): named crash points inside a
//! batch, injected I/O errors, and a durable/volatile split so that a simulated power loss drops what
//! was not flushed.
//!
//! Model of durability: an applied batch is visible at once; it becomes durable when flushed (or at
//! once with [`SimConfig::durable_on_apply`]). A crash keeps the durable state plus a prefix of the
//! not-yet-durable batches, chosen by the harness, which is what sled guarantees (batches are recovered
//! in log order). A batch torn by a crash is dropped whole, unless the store is configured as broken
//! ([`SimConfig::atomic_batches`] off) to prove that the simulation catches a non-atomic store.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    Entry, KeyValues, Keyspace, ReadThrough, StoreError, ViewRead, ViewStore, WriteBatch, WriteOp,
    WriteTarget, apply_ops,
};

/// Where inside the next `apply` the simulated process dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Before any write of the batch reaches the store.
    BeforeViewWrite,
    /// After the views' writes, before the bookkeeping (stream versions, checkpoint).
    AfterViewWriteBeforeCheckpoint,
    /// After the whole batch is durable, before `apply` returns: the write happened, the caller never
    /// learns it.
    AfterCheckpoint,
    /// After the first `n` writes of the batch (a torn batch).
    MidBatch(u32),
}

/// Behaviour of a [`SimStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    /// Every applied batch is durable when `apply` returns (like `FlushPolicy::EveryBatch`).
    pub durable_on_apply: bool,
    /// Batches are all-or-nothing across crashes. Only a test of the test turns this off.
    pub atomic_batches: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            durable_on_apply: false,
            atomic_batches: true,
        }
    }
}

type Map = BTreeMap<Keyspace, BTreeMap<Vec<u8>, Vec<u8>>>;

#[derive(Default)]
struct SimState {
    durable: Map,
    visible: Map,
    /// Applied batches that are visible but not yet durable, oldest first.
    pending: Vec<Vec<WriteOp>>,
    crash_at: Option<CrashPoint>,
    crashed: Option<CrashPoint>,
    apply_faults: u32,
    read_faults: u32,
    faults_injected: u64,
}

/// The simulated store. Clones share state (a clone is what a second handle on the same disk is).
#[derive(Clone)]
pub struct SimStore {
    reader: SimReader,
    config: SimConfig,
}

/// A concurrent read handle on a [`SimStore`].
#[derive(Clone)]
pub struct SimReader {
    state: Arc<Mutex<SimState>>,
}

impl SimStore {
    pub fn new(config: SimConfig) -> SimStore {
        SimStore {
            reader: SimReader {
                state: Arc::default(),
            },
            config,
        }
    }

    /// Makes the next `apply` die at `point`.
    pub fn schedule_crash(&self, point: CrashPoint) {
        self.lock().crash_at = Some(point);
    }

    /// Makes the next `apply` fail with an I/O error and write nothing.
    pub fn fail_next_apply(&self) {
        self.lock().apply_faults += 1;
    }

    /// Makes the next read (`get` or `scan_prefix`) fail with an I/O error.
    pub fn fail_next_read(&self) {
        self.lock().read_faults += 1;
    }

    /// Power loss between two calls: every later call fails until the store is recovered.
    pub fn crash(&self) {
        let mut state = self.lock();
        state.crashed.get_or_insert(CrashPoint::BeforeViewWrite);
    }

    pub fn is_crashed(&self) -> bool {
        self.lock().crashed.is_some()
    }

    /// Applied batches that a crash now could lose.
    pub fn pending_batches(&self) -> usize {
        self.lock().pending.len()
    }

    /// The store a restarted process finds: the durable state plus the first `keep_pending` batches
    /// that were not yet durable (a partial background flush). Handles on the old store stay dead.
    pub fn recover(&self, keep_pending: usize) -> SimStore {
        let mut state = self.lock();
        state.crashed.get_or_insert(CrashPoint::BeforeViewWrite);
        let mut durable = state.durable.clone();
        for ops in state.pending.iter().take(keep_pending) {
            apply_ops(&mut durable, ops);
        }
        let recovered = SimState {
            visible: durable.clone(),
            durable,
            ..SimState::default()
        };
        SimStore {
            reader: SimReader {
                state: Arc::new(Mutex::new(recovered)),
            },
            config: self.config,
        }
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        lock(&self.reader.state)
    }
}

impl ReadThrough for SimStore {
    type Handle = SimReader;

    fn read_handle(&self) -> &SimReader {
        &self.reader
    }
}

impl ViewStore for SimStore {
    type Reader = SimReader;

    fn apply(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut state = self.lock();
        check_alive(&state)?;
        if state.apply_faults > 0 {
            state.apply_faults -= 1;
            state.faults_injected += 1;
            return Err(StoreError::InjectedIo {
                operation: "apply a write batch",
                fault: state.faults_injected,
            });
        }
        if let Some(point) = state.crash_at.take() {
            crash_inside(&mut state, point, batch, self.config);
            return Err(StoreError::Crashed { point });
        }
        let ops = batch.into_ops();
        apply_ops(&mut state.visible, &ops);
        state.pending.push(ops);
        if self.config.durable_on_apply {
            make_durable(&mut state);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let mut state = self.lock();
        check_alive(&state)?;
        make_durable(&mut state);
        Ok(())
    }

    fn reader(&self) -> SimReader {
        self.reader.clone()
    }
}

impl ViewRead for SimReader {
    fn get(&self, keyspace: &Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let mut state = lock(&self.state);
        check_read(&mut state, "read a key")?;
        Ok(state
            .visible
            .get(keyspace)
            .and_then(|entries| entries.get(key))
            .cloned())
    }

    fn scan_prefix(
        &self,
        keyspace: &Keyspace,
        prefix: &[u8],
        limit: usize,
    ) -> Result<KeyValues, StoreError> {
        let mut state = lock(&self.state);
        check_read(&mut state, "scan a key range")?;
        let Some(entries) = state.visible.get(keyspace) else {
            return Ok(Vec::new());
        };
        Ok(entries
            .range(prefix.to_vec()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(limit)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }

    fn export(&self) -> Result<Vec<Entry>, StoreError> {
        let state = lock(&self.state);
        check_alive(&state)?;
        Ok(state
            .visible
            .iter()
            .flat_map(|(keyspace, entries)| {
                entries.iter().map(|(key, value)| Entry {
                    keyspace: keyspace.to_string(),
                    key: key.clone(),
                    value: value.clone(),
                })
            })
            .collect())
    }
}

fn lock(state: &Mutex<SimState>) -> MutexGuard<'_, SimState> {
    // A panic while holding the lock is a failed test already; keep reporting its state.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn check_alive(state: &SimState) -> Result<(), StoreError> {
    match state.crashed {
        Some(point) => Err(StoreError::Crashed { point }),
        None => Ok(()),
    }
}

fn check_read(state: &mut SimState, operation: &'static str) -> Result<(), StoreError> {
    check_alive(state)?;
    if state.read_faults > 0 {
        state.read_faults -= 1;
        state.faults_injected += 1;
        return Err(StoreError::InjectedIo {
            operation,
            fault: state.faults_injected,
        });
    }
    Ok(())
}

/// Dies at `point` inside `batch`. An atomic store loses the torn part; a broken one keeps it durable
/// (after everything applied before it, so that only atomicity is broken, not ordering).
fn crash_inside(state: &mut SimState, point: CrashPoint, batch: WriteBatch, config: SimConfig) {
    state.crashed = Some(point);
    let done = match point {
        CrashPoint::BeforeViewWrite => 0,
        CrashPoint::AfterViewWriteBeforeCheckpoint => batch.checkpoint_start(),
        CrashPoint::MidBatch(n) => usize::try_from(n).unwrap_or(usize::MAX).min(batch.len()),
        CrashPoint::AfterCheckpoint => batch.len(),
    };
    let complete = done == batch.len();
    let ops = batch.into_ops();
    if complete {
        apply_ops(&mut state.visible, &ops);
        state.pending.push(ops);
        make_durable(state);
    } else if !config.atomic_batches && done > 0 {
        make_durable(state);
        apply_ops(&mut state.durable, &ops[..done]);
    }
}

fn make_durable(state: &mut SimState) {
    for ops in std::mem::take(&mut state.pending) {
        apply_ops(&mut state.durable, &ops);
    }
}

/// The in-memory map drops a keyspace with its last key, as an empty sled prefix lists nothing.
impl WriteTarget for Map {
    fn put(&mut self, keyspace: &Keyspace, key: &[u8], value: &[u8]) {
        self.entry(keyspace.clone())
            .or_default()
            .insert(key.to_vec(), value.to_vec());
    }

    fn delete(&mut self, keyspace: &Keyspace, key: &[u8]) {
        if let Some(entries) = self.get_mut(keyspace) {
            entries.remove(key);
            if entries.is_empty() {
                self.remove(keyspace);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(keyspace: &Keyspace) -> WriteBatch {
        let mut batch = WriteBatch::new();
        batch.put(keyspace, b"view".to_vec(), b"1".to_vec());
        batch.begin_checkpoint_section();
        batch.put(keyspace, b"checkpoint".to_vec(), b"1".to_vec());
        batch
    }

    fn durable_keys(store: &SimStore) -> Vec<Vec<u8>> {
        let recovered = store.recover(0);
        recovered
            .export()
            .unwrap()
            .into_iter()
            .map(|entry| entry.key)
            .collect()
    }

    #[test]
    fn crash_inside_a_batch_loses_all_of_it_and_kills_the_store() {
        let keyspace = Keyspace::new("k");
        for point in [
            CrashPoint::BeforeViewWrite,
            CrashPoint::AfterViewWriteBeforeCheckpoint,
            CrashPoint::MidBatch(1),
        ] {
            let mut store = SimStore::new(SimConfig {
                durable_on_apply: true,
                atomic_batches: true,
            });
            store.schedule_crash(point);
            assert!(matches!(
                store.apply(batch(&keyspace)),
                Err(StoreError::Crashed { .. })
            ));
            assert!(matches!(
                store.get(&keyspace, b"view"),
                Err(StoreError::Crashed { .. })
            ));
            assert!(
                durable_keys(&store).is_empty(),
                "{point:?} left writes behind"
            );
        }
    }

    #[test]
    fn crash_after_checkpoint_keeps_the_whole_batch() {
        let keyspace = Keyspace::new("k");
        let mut store = SimStore::new(SimConfig::default());
        store.schedule_crash(CrashPoint::AfterCheckpoint);
        assert!(store.apply(batch(&keyspace)).is_err());
        assert_eq!(
            durable_keys(&store),
            [b"checkpoint".to_vec(), b"view".to_vec()]
        );
    }

    #[test]
    fn non_atomic_store_keeps_a_torn_batch() {
        let keyspace = Keyspace::new("k");
        let mut store = SimStore::new(SimConfig {
            durable_on_apply: false,
            atomic_batches: false,
        });
        store.schedule_crash(CrashPoint::AfterViewWriteBeforeCheckpoint);
        assert!(store.apply(batch(&keyspace)).is_err());
        assert_eq!(durable_keys(&store), [b"view".to_vec()]);
    }

    #[test]
    fn unflushed_batches_survive_only_as_a_prefix() {
        let keyspace = Keyspace::new("k");
        let mut store = SimStore::new(SimConfig::default());
        for index in 0..3u8 {
            let mut batch = WriteBatch::new();
            batch.put(&keyspace, vec![index], vec![index]);
            store.apply(batch).unwrap();
        }
        assert_eq!(store.pending_batches(), 3);
        assert_eq!(store.reader().get(&keyspace, &[2]).unwrap(), Some(vec![2]));
        let recovered = store.recover(2);
        let keys: Vec<Vec<u8>> = recovered
            .export()
            .unwrap()
            .into_iter()
            .map(|entry| entry.key)
            .collect();
        assert_eq!(keys, [vec![0], vec![1]]);
    }

    #[test]
    fn injected_faults_fail_once_and_write_nothing() {
        let keyspace = Keyspace::new("k");
        let mut store = SimStore::new(SimConfig::default());
        store.fail_next_apply();
        assert!(matches!(
            store.apply(batch(&keyspace)),
            Err(StoreError::InjectedIo { .. })
        ));
        assert_eq!(store.get(&keyspace, b"view").unwrap(), None);
        store.fail_next_read();
        assert!(store.get(&keyspace, b"view").is_err());
        store.apply(batch(&keyspace)).unwrap();
        assert_eq!(store.get(&keyspace, b"view").unwrap(), Some(b"1".to_vec()));
    }
}
