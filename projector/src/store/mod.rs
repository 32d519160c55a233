//! The storage boundary of the projector: named keyspaces, point and prefix reads, and one atomic write
//! batch that spans keyspaces (view data, per-stream versions and checkpoints together).
//!
//! Views are disposable and the storage engine is replaceable (sled 0.34 is old and unmaintained), so
//! nothing outside this module names the engine: [`sled`] is the production adapter, [`sim`] an
//! in-memory store with crash points and fault injection for deterministic simulation (STYLE §2.7).

pub mod sim;
pub mod sled;

use std::fmt;
use std::sync::Arc;

/// The longest keyspace name accepted, in bytes (the sled adapter stores the length in one byte).
pub const KEYSPACE_NAME_BYTES_MAX: usize = 200;

/// A named keyspace: an independent ordered map of byte keys to byte values.
///
/// Names are 1–200 bytes of printable ASCII without spaces. Cheap to clone (a shared string), because
/// every buffered write carries its keyspace.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Keyspace(Arc<str>);

impl Keyspace {
    /// Builds a keyspace name. Names are chosen by code, never by users, so an invalid one is a bug.
    pub fn new(name: &str) -> Keyspace {
        assert!(!name.is_empty(), "keyspace name is empty");
        assert!(
            name.len() <= KEYSPACE_NAME_BYTES_MAX,
            "keyspace name {name:?} is longer than {KEYSPACE_NAME_BYTES_MAX} bytes"
        );
        assert!(
            name.bytes().all(|byte| byte.is_ascii_graphic()),
            "keyspace name {name:?} must be printable ASCII without spaces"
        );
        Keyspace(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Keyspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keyspace({})", self.0)
    }
}

/// One buffered write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    Put {
        keyspace: Keyspace,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        keyspace: Keyspace,
        key: Vec<u8>,
    },
}

/// An ordered list of writes that a store applies all-or-nothing.
///
/// The projector puts the views' writes first and the bookkeeping (per-stream versions, checkpoints)
/// last, and says where the bookkeeping starts, so that the simulated store can crash exactly between
/// the two ([`sim::CrashPoint::AfterViewWriteBeforeCheckpoint`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
    checkpoint_start: Option<usize>,
}

impl WriteBatch {
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    pub fn put(&mut self, keyspace: &Keyspace, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(WriteOp::Put {
            keyspace: keyspace.clone(),
            key,
            value,
        });
    }

    pub fn delete(&mut self, keyspace: &Keyspace, key: Vec<u8>) {
        self.ops.push(WriteOp::Delete {
            keyspace: keyspace.clone(),
            key,
        });
    }

    /// Appends the writes of `other`, in order.
    pub fn extend(&mut self, other: WriteBatch) {
        self.ops.extend(other.ops);
    }

    /// Marks that the writes from here on are bookkeeping (stream versions and checkpoints).
    pub fn begin_checkpoint_section(&mut self) {
        assert!(
            self.checkpoint_start.is_none(),
            "a batch has one checkpoint section"
        );
        self.checkpoint_start = Some(self.ops.len());
    }

    /// The index of the first bookkeeping write, or the batch length when there is none.
    pub fn checkpoint_start(&self) -> usize {
        self.checkpoint_start.unwrap_or(self.ops.len())
    }

    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    pub fn into_ops(self) -> Vec<WriteOp> {
        self.ops
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Where a batch's writes land: each store says how one put and one delete reach its engine, and
/// [`apply_ops`] owns the loop, so that every store applies a batch in the same order with the same
/// meaning.
pub(crate) trait WriteTarget {
    fn put(&mut self, keyspace: &Keyspace, key: &[u8], value: &[u8]);
    fn delete(&mut self, keyspace: &Keyspace, key: &[u8]);
}

/// Applies `ops` to `target` in order; a later write to a key wins over an earlier one.
pub(crate) fn apply_ops(target: &mut impl WriteTarget, ops: &[WriteOp]) {
    for op in ops {
        match op {
            WriteOp::Put {
                keyspace,
                key,
                value,
            } => target.put(keyspace, key, value),
            WriteOp::Delete { keyspace, key } => target.delete(keyspace, key),
        }
    }
}

/// Key/value pairs of one keyspace, in key order.
pub type KeyValues = Vec<(Vec<u8>, Vec<u8>)>;

/// One stored key/value with its keyspace, as listed by [`ViewRead::export`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub keyspace: String,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Errors of a view store, split by audience: `Io`/`Backend` are operational (retry or check the
/// disk), `Corrupt` is technical (rebuild the views), `Crashed` exists only in simulation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("view store failed to {operation}")]
    Backend {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("view store I/O failed during {operation} (injected fault {fault})")]
    InjectedIo { operation: &'static str, fault: u64 },
    #[error("view store holds a corrupt value in keyspace \"{keyspace}\" at key {key:?}: {detail}")]
    Corrupt {
        keyspace: String,
        key: String,
        detail: String,
    },
    #[error("simulated crash at {point:?}; recover the store and reopen the projector")]
    Crashed { point: sim::CrashPoint },
}

impl StoreError {
    /// A corrupt-value error, with the key shown lossily as text for the message.
    pub fn corrupt(keyspace: &Keyspace, key: &[u8], detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            keyspace: keyspace.to_string(),
            key: String::from_utf8_lossy(key).into_owned(),
            detail: detail.into(),
        }
    }
}

/// Reads from a view store. Readers see applied batches whole: a batch is never half visible to a
/// point read.
pub trait ViewRead {
    fn get(&self, keyspace: &Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Up to `limit` entries of `keyspace` whose key starts with `prefix`, in key order. Assumes the
    /// result fits in memory; callers page with `limit`.
    fn scan_prefix(
        &self,
        keyspace: &Keyspace,
        prefix: &[u8],
        limit: usize,
    ) -> Result<KeyValues, StoreError>;

    /// Every entry of every keyspace, ordered by (keyspace, key): for comparing stores in tests and
    /// for byte-identical exports.
    fn export(&self) -> Result<Vec<Entry>, StoreError>;
}

/// A store that answers reads through its own read handle (the one [`ViewStore::reader`] clones), so
/// that a store and the readers it hands out run the same read code and cannot answer differently.
pub trait ReadThrough {
    type Handle: ViewRead;

    fn read_handle(&self) -> &Self::Handle;
}

impl<S: ReadThrough> ViewRead for S {
    fn get(&self, keyspace: &Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_handle().get(keyspace, key)
    }

    fn scan_prefix(
        &self,
        keyspace: &Keyspace,
        prefix: &[u8],
        limit: usize,
    ) -> Result<KeyValues, StoreError> {
        self.read_handle().scan_prefix(keyspace, prefix, limit)
    }

    fn export(&self) -> Result<Vec<Entry>, StoreError> {
        self.read_handle().export()
    }
}

/// A view store: reads plus the atomic batch.
pub trait ViewStore: ViewRead {
    /// A handle for concurrent queries while projection goes on.
    type Reader: ViewRead + Clone + Send + Sync + 'static;

    /// Applies `batch` all-or-nothing: after a crash at any instant either every write of the batch
    /// is there or none is, and batches survive in order (a recovered store holds a prefix of the
    /// applied batches). Whether the batch is durable on return depends on the store's flush policy.
    fn apply(&mut self, batch: WriteBatch) -> Result<(), StoreError>;

    /// Makes every applied batch durable.
    fn flush(&mut self) -> Result<(), StoreError>;

    fn reader(&self) -> Self::Reader;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::{SimConfig, SimStore, SledStore};

    /// One write: (keyspace, key, value to put or `None` to delete). Few keyspaces and keys, so that
    /// overwrites, deletes of absent keys and emptied keyspaces are common.
    type Write = (u8, u8, Option<u8>);

    fn arb_batches() -> impl Strategy<Value = Vec<Vec<Write>>> {
        let write = (0u8..3, 0u8..4, prop::option::of(any::<u8>()));
        prop::collection::vec(prop::collection::vec(write, 0..8), 0..12)
    }

    fn keyspace(index: u8) -> Keyspace {
        Keyspace::new(&format!("keyspace-{index}"))
    }

    fn write_batch(writes: &[Write]) -> WriteBatch {
        let mut batch = WriteBatch::new();
        for &(space, key, value) in writes {
            match value {
                Some(value) => batch.put(&keyspace(space), vec![key], vec![value]),
                None => batch.delete(&keyspace(space), vec![key]),
            }
        }
        batch
    }

    proptest! {
        // sled opens a database per case: few cases.
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// Both stores apply a batch through `apply_ops` as a plain map would: in order, the last write
        /// to a key wins, a delete removes the key, and an emptied keyspace lists nothing.
        #[test]
        fn both_stores_apply_batches_like_a_map(batches in arb_batches()) {
            let mut model: BTreeMap<(String, Vec<u8>), Vec<u8>> = BTreeMap::new();
            let mut sim = SimStore::new(SimConfig::default());
            let mut sled = SledStore::temporary().unwrap();
            for writes in &batches {
                for &(space, key, value) in writes {
                    let entry = (keyspace(space).to_string(), vec![key]);
                    match value {
                        Some(value) => model.insert(entry, vec![value]),
                        None => model.remove(&entry),
                    };
                }
                sim.apply(write_batch(writes)).unwrap();
                sled.apply(write_batch(writes)).unwrap();
            }
            let expected: Vec<Entry> = model
                .into_iter()
                .map(|((keyspace, key), value)| Entry { keyspace, key, value })
                .collect();
            prop_assert_eq!(sim.export().unwrap(), expected.clone());
            prop_assert_eq!(sled.export().unwrap(), expected);
        }
    }
}
