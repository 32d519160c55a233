//! The canonical JSON form of an event (`canonical-json-v1`, docs/record-format.md): one line per
//! event in the audit pack's `events.jsonl`, and what a seal's `export_sha256` is taken over. The one
//! writer of that form is [`canonical_line`] (the CloudEvents form of the read side is to replace it
//! there, under a new format name, so that older seals still name the form they were taken over).
//!
//! The line is the envelope's fields in a fixed order, then the payload decoded **as stored** (its own
//! schema version, not upcast) with its fields in declaration order, with no insignificant whitespace.
//! It is written field by field rather than through a JSON value: an export writes millions of lines.

use ledger::domain::event::Event;
use ledger::domain::upcast::RegistrySubmittedV1;
use ledger::log::{EventEnvelope, Payload};

use crate::pseudonym::Pseudonymizer;

/// The payload decoded at its stored schema version, as compact JSON with the struct's fields in
/// declaration order; an error message when it does not decode.
fn stored_payload_json(payload: &Payload) -> Result<Vec<u8>, String> {
    if (payload.event_type.as_str(), payload.schema_version) == ("RegistrySubmitted", 1) {
        let v1: RegistrySubmittedV1 =
            ledger::codec::decode(&payload.data).map_err(|error| error.to_string())?;
        return serde_json::to_vec(&v1).map_err(|error| error.to_string());
    }
    let event = Event::from_payload(payload).map_err(|error| error.to_string())?;
    let tagged = serde_json::to_vec(&event).map_err(|error| error.to_string())?;
    // `{"EventType":{...}}` → `{...}`: the type is already in the envelope.
    let prefix = format!("{{\"{}\":", payload.event_type);
    assert!(
        tagged.starts_with(prefix.as_bytes()) && tagged.ends_with(b"}"),
        "an event serialises as its externally tagged variant"
    );
    Ok(tagged[prefix.len()..tagged.len() - 1].to_vec())
}

/// Appends `"name":value` (and a comma before every field but the first).
fn field(out: &mut Vec<u8>, name: &str, value: &impl serde::Serialize) {
    if out.len() > 1 {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    serde_json::to_writer(&mut *out, value).expect("envelope fields serialise");
}

/// One line of the canonical JSONL (without its newline): the envelope's fields in the documented
/// order, then the payload with its fields in declaration order (docs/record-format.md).
pub fn canonical_line(envelope: &EventEnvelope, pseudonymizer: Option<&Pseudonymizer>) -> String {
    let body = &envelope.body;
    let mut out = Vec::with_capacity(1536);
    out.push(b'{');
    field(&mut out, "partition", &envelope.position.partition.0);
    field(&mut out, "offset", &envelope.position.offset.0);
    field(&mut out, "hash", &envelope.hash.to_hex());
    field(&mut out, "event_id", &body.event_id);
    field(&mut out, "stream", &body.stream);
    field(&mut out, "stream_version", &body.stream_version);
    field(&mut out, "recorded_at", &body.recorded_at);
    field(&mut out, "occurred_at", &body.occurred_at);
    field(&mut out, "jurisdiction", &body.jurisdiction);
    field(&mut out, "command_id", &body.command_id);
    field(&mut out, "causation_id", &body.causation_id);
    field(&mut out, "correlation_id", &body.correlation_id);
    field(&mut out, "actor", &body.actor);
    field(&mut out, "command_digest", &body.command_digest);
    field(&mut out, "event_type", &body.payload.event_type);
    field(&mut out, "schema_version", &body.payload.schema_version);
    out.extend_from_slice(b",\"payload\":");
    match (stored_payload_json(&body.payload), pseudonymizer) {
        (Ok(json), None) => out.extend_from_slice(&json),
        (Ok(json), Some(pseudonymizer)) => {
            let mut value: serde_json::Value =
                serde_json::from_slice(&json).expect("the payload's own JSON parses");
            pseudonymizer.apply(&mut value);
            serde_json::to_writer(&mut out, &value).expect("JSON serialises");
        }
        (Err(error), _) => {
            serde_json::to_writer(&mut out, &serde_json::json!({ "undecodable": error }))
                .expect("JSON serialises")
        }
    }
    out.push(b'}');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The canonical JSON object of one record, as a value.
pub fn canonical_value(
    envelope: &EventEnvelope,
    pseudonymizer: Option<&Pseudonymizer>,
) -> serde_json::Value {
    serde_json::from_str(&canonical_line(envelope, pseudonymizer)).expect("a canonical line parses")
}
