//! The domain views (issue #6): registries (App. 1), payment acts (App. 2), deadline clocks, budgets
//! and contracts, each a deterministic fold of the log into its own keyspace.
//!
//! Keys are byte strings built from a one-byte tag and `\0`-separated segments (contract id, period,
//! …), so that every query is a point read or a prefix scan: the lines of one registry, the clocks of
//! one contract, the budget lines of one country and year. Values are in the ledger's codec, so two
//! builds from the same events are byte-identical. Views hold facts, not presentation: the CLI turns
//! them into the printed forms.
//!
//! Each view decodes only the event types it folds, checked on the payload's type name first, so a
//! view never pays for decoding a million dispensings it ignores.

pub mod act;
pub mod budgets;
pub mod contracts;
pub mod deadlines;
pub mod registry;
pub mod sample;

mod keys;

use ledger::domain::event::Event;
use ledger::log::EventEnvelope;
use serde::de::DeserializeOwned;

use crate::projector::{ProjectorError, ProjectorReader};
use crate::store::ViewRead;
use crate::view::{View, ViewError};

pub use keys::Key;

/// Every domain view, in registration order.
pub fn all() -> Vec<Box<dyn View>> {
    vec![
        Box::new(registry::RegistryView),
        Box::new(act::ActView),
        Box::new(deadlines::DeadlineView),
        Box::new(budgets::BudgetView),
        Box::new(contracts::ContractView),
    ]
}

/// Why a query on a view failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Projector(#[from] ProjectorError),
    /// A stored value did not decode: the store was written by another layout without a version bump.
    #[error("view \"{view}\" holds a value at key {key:?} it cannot decode: {detail}")]
    Decode {
        view: &'static str,
        key: String,
        detail: String,
    },
    /// A value computed when asked could not be (a monthly clock's due date on a calendar that does
    /// not cover it).
    #[error("view \"{view}\": {detail}")]
    Compute { view: &'static str, detail: String },
}

/// Decodes the domain event of an envelope; an undecodable payload stops the view (never skipped).
pub(crate) fn decode_event(envelope: &EventEnvelope) -> Result<Event, ViewError> {
    Event::from_payload(&envelope.body.payload).map_err(|error| ViewError::Event {
        detail: error.to_string(),
    })
}

/// Reads and decodes one value of `view`.
pub(crate) fn read_value<T: DeserializeOwned, R: ViewRead>(
    reader: &ProjectorReader<R>,
    view: &'static str,
    key: &[u8],
) -> Result<Option<T>, QueryError> {
    let Some(bytes) = reader.get(view, key)? else {
        return Ok(None);
    };
    decode_value(view, key, &bytes).map(Some)
}

/// Reads and decodes every value of `view` under `prefix`, in key order.
pub(crate) fn scan_values<T: DeserializeOwned, R: ViewRead>(
    reader: &ProjectorReader<R>,
    view: &'static str,
    prefix: &[u8],
) -> Result<Vec<T>, QueryError> {
    reader
        .scan_prefix(view, prefix, usize::MAX)?
        .into_iter()
        .map(|(key, bytes)| decode_value(view, &key, &bytes))
        .collect()
}

pub(crate) fn decode_value<T: DeserializeOwned>(
    view: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, QueryError> {
    ledger::codec::decode(bytes).map_err(|error| QueryError::Decode {
        view,
        key: String::from_utf8_lossy(key).into_owned(),
        detail: error.to_string(),
    })
}
