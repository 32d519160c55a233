//! The canonical JSON form of an event (`canonical-json-v1`, docs/record-format.md): one line per
//! event in the audit pack's `events.jsonl`, and what a seal's `export_sha256` is taken over. The one
//! writer of that form is [`canonical_line`] (the CloudEvents form of the read side is to replace it
//! there, under a new format name, so that older seals still name the form they were taken over).
//!
//! The line is the envelope's fields beside the payload decoded **as stored** (its own schema version,
//! not upcast), serialised with object keys in byte order and no insignificant whitespace.

use ledger::domain::event::Event;
use ledger::domain::upcast::RegistrySubmittedV1;
use ledger::log::{EventEnvelope, Payload};

use crate::pseudonym::Pseudonymizer;

/// The decoded payload of the stored schema version, as JSON (an error message when it does not
/// decode, so that an export never stops on one bad record; `audit verify` names such records).
pub fn stored_payload(payload: &Payload) -> Result<serde_json::Value, String> {
    if (payload.event_type.as_str(), payload.schema_version) == ("RegistrySubmitted", 1) {
        let v1: RegistrySubmittedV1 =
            ledger::codec::decode(&payload.data).map_err(|error| error.to_string())?;
        return serde_json::to_value(v1).map_err(|error| error.to_string());
    }
    let event = Event::from_payload(payload).map_err(|error| error.to_string())?;
    let mut value = serde_json::to_value(&event).map_err(|error| error.to_string())?;
    // `{"EventType": {...}}` → `{...}`: the type is already in the envelope.
    if let serde_json::Value::Object(map) = &mut value
        && let Some(inner) = map.remove(&payload.event_type)
    {
        return Ok(inner);
    }
    Ok(value)
}

/// The canonical JSON object of one record.
pub fn canonical_value(
    envelope: &EventEnvelope,
    pseudonymizer: Option<&Pseudonymizer>,
) -> serde_json::Value {
    let body = &envelope.body;
    let mut payload = stored_payload(&body.payload)
        .unwrap_or_else(|error| serde_json::json!({ "undecodable": error }));
    if let Some(pseudonymizer) = pseudonymizer {
        pseudonymizer.apply(&mut payload);
    }
    serde_json::json!({
        "partition": envelope.position.partition.0,
        "offset": envelope.position.offset.0,
        "hash": envelope.hash.to_hex(),
        "event_id": body.event_id,
        "stream": body.stream,
        "stream_version": body.stream_version,
        "recorded_at": body.recorded_at,
        "occurred_at": body.occurred_at,
        "jurisdiction": body.jurisdiction,
        "command_id": body.command_id,
        "causation_id": body.causation_id,
        "correlation_id": body.correlation_id,
        "actor": body.actor,
        "event_type": body.payload.event_type,
        "schema_version": body.payload.schema_version,
        "payload": payload,
    })
}

/// One line of the canonical JSONL (without its newline). `serde_json`'s map keeps keys in byte
/// order (the crate is built without `preserve_order`), so the text is canonical.
pub fn canonical_line(envelope: &EventEnvelope, pseudonymizer: Option<&Pseudonymizer>) -> String {
    canonical_value(envelope, pseudonymizer).to_string()
}
