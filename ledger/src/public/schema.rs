//! The JSON Schema of the public form (`schemas/cloudevent.schema.json`), generated from the same
//! constants that render it and pinned by `ledger/tests/public_form.rs`. Per event type it binds `type`
//! to its `dataschema` and validates `data` against the event's own schema by `$id`, so a validator
//! that loads `schemas/events/*.schema.json` checks a whole event.

use serde_json::{Value, json};

use super::{
    CLOUD_EVENT_SCHEMA_ID, DATA_CONTENT_TYPE, EVENT_TYPE_PREFIX, SEQUENCE_DIGITS, SPEC_VERSION,
    event_type, schema_id,
};
use crate::domain::event::Event;
use crate::log::ids::STREAM_ID_BYTES_MAX;

/// The schema, with one `if`/`then` per event type at its current schema version.
pub fn json_schema() -> Value {
    let per_type: Vec<Value> = Event::TYPES
        .iter()
        .map(|(name, version)| {
            json!({
                "if": {
                    "properties": { "type": { "const": event_type(name, *version) } },
                    "required": ["type"]
                },
                "then": {
                    "properties": {
                        "dataschema": { "const": schema_id(name, *version) },
                        "data": { "$ref": schema_id(name, *version) }
                    }
                }
            })
        })
        .collect();
    let uuid = json!({ "type": "string", "format": "uuid" });
    let instant = json!({ "type": "string", "format": "date-time" });
    let type_pattern = format!(
        "^{}\\.[A-Za-z]+\\.v[0-9]+$",
        EVENT_TYPE_PREFIX.replace('.', "\\.")
    );
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": CLOUD_EVENT_SCHEMA_ID,
        "title": "LedgerCloudEvent",
        "description": "One ledger event as a CloudEvent 1.0 in the JSON event format (structured mode): \
            the canonical JSON of the event in `data`, the record's coordinates as extension attributes \
            (issue #14, ledger::public).",
        "type": "object",
        "properties": {
            "specversion": { "const": SPEC_VERSION },
            "id": uuid,
            "source": { "type": "string", "pattern": "^urn:[A-Za-z0-9][A-Za-z0-9-]{1,31}:.+$" },
            "type": { "type": "string", "pattern": type_pattern },
            "subject": {
                "description": "The stream id.",
                "type": "string", "minLength": 1, "maxLength": STREAM_ID_BYTES_MAX,
                "pattern": "^[!-~]+$"
            },
            "time": { "description": "When the log accepted the record.", "type": "string", "format": "date-time" },
            "datacontenttype": { "const": DATA_CONTENT_TYPE },
            "dataschema": { "type": "string", "format": "uri" },
            "sequence": {
                "description": "The stream version, zero-padded: string order is stream order.",
                "type": "string", "pattern": format!("^[0-9]{{{SEQUENCE_DIGITS}}}$")
            },
            "partition": { "type": "integer", "minimum": 0, "maximum": 1023 },
            "offset": { "type": "string", "pattern": "^(0|[1-9][0-9]*)$" },
            "chainhash": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
            "jurisdiction": { "enum": ["KZ", "KG"] },
            "occurredat": instant,
            "commandid": uuid,
            "commanddigest": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
            "causationid": uuid,
            "correlationid": uuid,
            "actor": { "type": "string", "pattern": "^[A-Za-z]+:(BIN|IIN|KG|system):.+$" },
            "actorperson": { "description": "The IIN of the person who acted.", "type": "string", "pattern": "^[0-9]{12}$" },
            "data": { "type": "object" }
        },
        "required": [
            "specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema",
            "sequence", "partition", "offset", "chainhash", "jurisdiction", "occurredat", "commandid",
            "correlationid", "actor", "data"
        ],
        "additionalProperties": false,
        "allOf": per_type
    })
}
