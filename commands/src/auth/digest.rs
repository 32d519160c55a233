//! The content a command id is bound to (issue #13 §4): the SHA-256 of the command's canonical JSON, so
//! that a repeat with the same content is a retry (200, the original result) and a repeat with other
//! content is refused (409 `IDEMPOTENCY_KEY_REUSED`) instead of being silently dropped.
//!
//! Canonical JSON: the envelope without its command id (the key itself) and with the actor the trust
//! boundary stamped (a body cannot choose it), as a JSON value with object keys sorted and no
//! whitespace. `serde_json` sorts object keys (it is built without `preserve_order`; a test pins it),
//! so the form does not depend on the order a client wrote the fields in.

use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::{Actor, CommandDigest, StreamId, StreamVersion};
use serde::Serialize;
use uuid::Uuid;

use crate::submit::wire::{CommandEnvelope, WireCommand};

/// The refusal rule of a command id reused for other content.
pub const REUSED_RULE: &str = "IDEMPOTENCY_KEY_REUSED";

#[derive(Serialize)]
struct Content<'a> {
    stream: &'a StreamId,
    jurisdiction: Jurisdiction,
    actor: &'a Actor,
    occurred_at: Option<Timestamp>,
    correlation_id: Option<Uuid>,
    expected_version: Option<StreamVersion>,
    command: &'a WireCommand,
}

/// The digest of `envelope` as issued by `actor`.
pub fn command_digest(envelope: &CommandEnvelope, actor: &Actor) -> CommandDigest {
    let content = Content {
        stream: &envelope.stream,
        jurisdiction: envelope.jurisdiction,
        actor,
        occurred_at: envelope.occurred_at,
        correlation_id: envelope.correlation_id,
        expected_version: envelope.expected_version,
        command: &envelope.command,
    };
    let value = serde_json::to_value(&content).expect("a command serialises to JSON");
    let canonical = serde_json::to_vec(&value).expect("a JSON value serialises");
    CommandDigest::of(&canonical)
}

/// The message of a reused command id, naming both digests.
pub fn reused_message(
    command_id: impl std::fmt::Display,
    stored: CommandDigest,
    given: CommandDigest,
) -> String {
    format!(
        "command id {command_id} was already used for other content (stored digest {stored}, this request's digest {given}); a retry must repeat the same command, a new command needs a new id"
    )
}

#[cfg(test)]
mod tests {
    /// The canonical form sorts keys whatever order they were written in: two bodies that differ
    /// only in field order are one command.
    #[test]
    fn field_order_does_not_change_the_digest() {
        let sorted =
            serde_json::to_vec(&serde_json::json!({"b": 1, "a": {"d": 2, "c": 3}})).unwrap();
        assert_eq!(sorted, br#"{"a":{"c":3,"d":2},"b":1}"#);
    }
}
