//! The contract a view implements, and the transaction it writes through.
//!
//! A view is a deterministic fold: its state after a sequence of events depends only on those events,
//! never on the clock, randomness, the environment or other views. It reads and writes only its own
//! keyspace, which [`ViewTxn`] enforces by construction. The runtime (not the view) tracks which
//! stream versions each view has applied and where its checkpoint is, so a view never sees an event
//! twice or out of stream order.

use std::collections::BTreeMap;

use ledger::log::EventEnvelope;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{KeyValues, Keyspace, StoreError, ViewRead, WriteBatch};

/// The longest view name accepted, in bytes.
pub const VIEW_NAME_BYTES_MAX: usize = 64;

/// A projection of the event log.
pub trait View: Send + Sync {
    /// A stable name: 1–64 bytes of `[a-z0-9_-]`. It names the view's keyspaces.
    fn name(&self) -> &str;

    /// The version of the view's code and layout. Change it whenever the view would store anything
    /// differently for the same events: the runtime then clears the view and rebuilds it from the log.
    fn version(&self) -> u32;

    /// Folds one event into the view. Events the view does not care about return `Ok(())`.
    fn apply(&self, envelope: &EventEnvelope, txn: &mut ViewTxn<'_>) -> Result<(), ViewError>;
}

/// Why a view could not apply an event. The runtime stops and names the view and the position.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value of the view could not be decoded (a layout change without a version bump?).
    #[error("key {key:?} holds a value this view cannot decode: {detail}")]
    Decode { key: String, detail: String },
    /// The event itself is unusable for the view (an unknown payload version, a missing reference).
    #[error("event is unusable for this view: {detail}")]
    Event { detail: String },
    /// A value the view wanted to store could not be encoded.
    #[error("cannot encode the value for key {key:?}: {detail}")]
    Encode { key: String, detail: String },
}

/// A view's window on the store during one step: reads see the view's own pending writes, writes are
/// buffered and committed by the runtime together with the checkpoint.
pub struct ViewTxn<'a> {
    store: &'a dyn ViewRead,
    keyspace: &'a Keyspace,
    /// Buffered writes: `Some(value)` to put, `None` to delete. A BTreeMap, so that the committed batch
    /// is in key order and two builds write identical batches.
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> ViewTxn<'a> {
    pub(crate) fn new(store: &'a dyn ViewRead, keyspace: &'a Keyspace) -> ViewTxn<'a> {
        ViewTxn {
            store,
            keyspace,
            pending: BTreeMap::new(),
        }
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ViewError> {
        match self.pending.get(key) {
            Some(pending) => Ok(pending.clone()),
            None => Ok(self.store.get(self.keyspace, key)?),
        }
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.pending.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.pending.insert(key, None);
    }

    /// Every entry whose key starts with `prefix`, in key order, as it would be after this step's
    /// writes so far. Assumes the range fits in memory (views keep prefix ranges small, e.g. the lines
    /// of one registry).
    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<KeyValues, ViewError> {
        let stored = self.store.scan_prefix(self.keyspace, prefix, usize::MAX)?;
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = stored.into_iter().collect();
        let pending = self
            .pending
            .range(prefix.to_vec()..)
            .take_while(|(key, _)| key.starts_with(prefix));
        for (key, value) in pending {
            match value {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        Ok(merged.into_iter().collect())
    }

    /// Reads a value stored with [`ViewTxn::put_encoded`].
    pub fn get_decoded<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, ViewError> {
        let Some(bytes) = self.get(key)? else {
            return Ok(None);
        };
        let value = ledger::codec::decode(&bytes).map_err(|error| ViewError::Decode {
            key: String::from_utf8_lossy(key).into_owned(),
            detail: error.to_string(),
        })?;
        Ok(Some(value))
    }

    /// Stores `value` in the ledger's wire codec (deterministic bytes, so replays are byte-identical).
    pub fn put_encoded<T: Serialize>(&mut self, key: Vec<u8>, value: &T) -> Result<(), ViewError> {
        let bytes = ledger::codec::encode(value).map_err(|error| ViewError::Encode {
            key: String::from_utf8_lossy(&key).into_owned(),
            detail: error.to_string(),
        })?;
        self.put(key, bytes);
        Ok(())
    }

    /// Moves the buffered writes into `batch`, in key order; returns how many there were.
    pub(crate) fn commit_into(self, batch: &mut WriteBatch) -> usize {
        let count = self.pending.len();
        for (key, value) in self.pending {
            match value {
                Some(value) => batch.put(self.keyspace, key, value),
                None => batch.delete(self.keyspace, key),
            }
        }
        count
    }
}

/// Checks a view name; names come from code, so a bad one is a bug.
pub(crate) fn assert_valid_name(name: &str) {
    assert!(!name.is_empty(), "a view name is empty");
    assert!(
        name.len() <= VIEW_NAME_BYTES_MAX,
        "view name {name:?} is longer than {VIEW_NAME_BYTES_MAX} bytes"
    );
    assert!(
        name.bytes().all(|byte| byte.is_ascii_lowercase()
            || byte.is_ascii_digit()
            || byte == b'_'
            || byte == b'-'),
        "view name {name:?} may contain only a-z, 0-9, '_' and '-'"
    );
}
