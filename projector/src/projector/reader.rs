//! Read access to the views while projection goes on.
//!
//! Consistency: each point read sees whole batches only; successive reads of one view never go back
//! in time (batches are applied in order); views lag the log, and a caller that needs its own write
//! waits until [`ProjectorReader::has_applied`] reports the position the append returned. A prefix scan
//! is not a snapshot: it may see a batch that lands while it runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use ledger::log::{Offset, Position};

use super::ProjectorError;
use super::layout::{self, ViewKeyspaces};
use crate::store::{KeyValues, ViewRead};

/// A cloneable, thread-safe query handle on the views of one [`super::Projector`].
///
/// It is bound to the view generations live when it was made; take a new one after reopening the
/// projector (a rebuild moves a view to a new generation).
#[derive(Clone)]
pub struct ProjectorReader<R> {
    store: R,
    views: Arc<BTreeMap<String, ViewKeyspaces>>,
}

impl<R: ViewRead> ProjectorReader<R> {
    pub(super) fn new(store: R, views: Arc<BTreeMap<String, ViewKeyspaces>>) -> Self {
        ProjectorReader { store, views }
    }

    pub fn get(&self, view: &str, key: &[u8]) -> Result<Option<Vec<u8>>, ProjectorError> {
        Ok(self.store.get(&self.keyspaces(view)?.data, key)?)
    }

    /// Up to `limit` entries of `view` whose key starts with `prefix`, in key order.
    pub fn scan_prefix(
        &self,
        view: &str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<KeyValues, ProjectorError> {
        Ok(self
            .store
            .scan_prefix(&self.keyspaces(view)?.data, prefix, limit)?)
    }

    /// The committed checkpoint of `view` on the partition of `position`: the next offset it applies.
    pub fn checkpoint(
        &self,
        view: &str,
        partition: ledger::log::PartitionId,
    ) -> Result<Offset, ProjectorError> {
        let keyspace = &self.keyspaces(view)?.checkpoints;
        let key = layout::checkpoint_key(partition);
        match self.store.get(keyspace, &key)? {
            Some(value) => Ok(layout::decode_offset(keyspace, &key, &value)?),
            None => Ok(Offset(0)),
        }
    }

    /// Whether every view has applied the event at `position` (read-your-writes: poll this with the
    /// position an append returned).
    pub fn has_applied(&self, position: Position) -> Result<bool, ProjectorError> {
        for view in self.views.keys() {
            if self.checkpoint(view, position.partition)? <= position.offset {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The names of the views this handle reads.
    pub fn views(&self) -> impl Iterator<Item = &str> {
        self.views.keys().map(String::as_str)
    }

    fn keyspaces(&self, view: &str) -> Result<&ViewKeyspaces, ProjectorError> {
        self.views
            .get(view)
            .ok_or_else(|| ProjectorError::UnknownView(view.to_owned()))
    }
}
