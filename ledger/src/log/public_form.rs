//! The hook through which a backend publishes a public form of each record beside the record of
//! truth (issue #14: the Kafka log's `<prefix>.events.json`, written in the same transaction).
//!
//! The log never decodes payloads (ARCHITECTURE.md), so the renderer is injected by whoever opens the
//! log: the `ledger` binary passes `ledger::public::CloudEvents`. Rendering has two steps because the
//! two things it needs become known at different times:
//!
//! - what the event *is* (its decoded payload) is known while an append is decided, and a payload that
//!   cannot be rendered must refuse that append before anything is written: [`PublicForm::prepare`];
//! - where the record *sits* (its offset) is known only once the broker has stored the record of
//!   truth, inside the same transaction: [`PublicForm::finish`].

use super::envelope::{ChainHash, EnvelopeBody};
use super::ids::Position;

/// Renders the public form of records. Implementations are pure and cheap to share.
pub trait PublicForm: Send + Sync {
    /// Renders everything that does not depend on the record's position. An error refuses the
    /// append whose event it is; nothing of that append is written to either topic.
    fn prepare(&self, body: &EnvelopeBody) -> Result<PreparedForm, PublicFormError>;

    /// The public record's bytes, once the record of truth has its position and chain hash.
    fn finish(
        &self,
        prepared: &PreparedForm,
        body: &EnvelopeBody,
        position: Position,
        hash: &ChainHash,
    ) -> Vec<u8>;

    /// The media type of the bytes [`PublicForm::finish`] returns (a Kafka `content-type` header).
    fn content_type(&self) -> &'static str;
}

/// What [`PublicForm::prepare`] rendered: bytes opaque to the log, and the schema version they
/// render (an older payload may be rendered upcast to the current version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedForm {
    pub bytes: Vec<u8>,
    pub schema_version: u16,
}

/// Why an event has no public form (its payload does not decode, or does not render).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event \"{event_type}\" v{schema_version} has no public form: {detail}")]
pub struct PublicFormError {
    pub event_type: String,
    pub schema_version: u16,
    pub detail: String,
}

/// A domain-agnostic public form for tests of backends: JSON of the record's coordinates and its
/// payload bytes in hex. It refuses payloads of type [`MirrorForm::REFUSED_TYPE`], to test that a
/// refused event leaves nothing behind.
#[cfg(any(test, feature = "testkit"))]
#[derive(Debug, Clone, Copy, Default)]
pub struct MirrorForm;

#[cfg(any(test, feature = "testkit"))]
impl MirrorForm {
    pub const REFUSED_TYPE: &'static str = "Unpublishable";
}

#[cfg(any(test, feature = "testkit"))]
impl PublicForm for MirrorForm {
    fn prepare(&self, body: &EnvelopeBody) -> Result<PreparedForm, PublicFormError> {
        if body.payload.event_type == Self::REFUSED_TYPE {
            return Err(PublicFormError {
                event_type: body.payload.event_type.clone(),
                schema_version: body.payload.schema_version,
                detail: "the mirror form refuses this type".to_owned(),
            });
        }
        Ok(PreparedForm {
            bytes: hex::encode(&body.payload.data).into_bytes(),
            schema_version: body.payload.schema_version,
        })
    }

    fn finish(
        &self,
        prepared: &PreparedForm,
        body: &EnvelopeBody,
        position: Position,
        hash: &ChainHash,
    ) -> Vec<u8> {
        let value = serde_json::json!({
            "event_id": body.event_id,
            "stream": body.stream,
            "stream_version": body.stream_version.0,
            "partition": position.partition.0,
            "offset": position.offset.0,
            "hash": hash.to_hex(),
            "data": String::from_utf8_lossy(&prepared.bytes),
        });
        serde_json::to_vec(&value).expect("JSON of plain values")
    }

    fn content_type(&self) -> &'static str {
        "application/json"
    }
}
