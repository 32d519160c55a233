//! The one public form of an event (issue #14, DESIGN §9): the canonical JSON of the event (the one in
//! `schemas/golden/<Type>/v<N>.json`, without the type tag) wrapped as a CloudEvent 1.0 in the JSON
//! event format. Every surface that shows events outside the process renders them here: the Kafka
//! topic `<prefix>.events.json`, `ledger log tail --format json`, and the reader service's feeds to
//! come. Bincode stays the book of record; this form is derived from it and carries its coordinates.
//!
//! | attribute | value |
//! | --- | --- |
//! | `specversion` | `1.0` |
//! | `id` | the event id (UUID) |
//! | `source` | the deployment's URN ([`EventSource`], configurable) |
//! | `type` | `<EVENT_TYPE_PREFIX>.<EventType>.v<schema version of data>` |
//! | `subject` | the stream id |
//! | `time` | `recorded_at`: when the log accepted the record (RFC 3339, UTC) |
//! | `datacontenttype` | `application/json` |
//! | `dataschema` | the `$id` of the event's JSON Schema in `schemas/events/` ([`schema_id`]) |
//! | `sequence` | the stream version, zero-padded to 20 digits (CloudEvents Sequence extension: a lexicographically ordered string; its scope is the `subject`) |
//! | `partition` | the log partition (integer) |
//! | `offset` | the record's offset in its partition (decimal string: Kafka offsets exceed the CloudEvents 32-bit integer) |
//! | `chainhash` | the record's link of the partition's hash chain (64 hex digits) |
//! | `jurisdiction` | `KZ` or `KG` |
//! | `occurredat` | business time (RFC 3339, UTC) |
//! | `commandid` | the command (idempotency key) that appended the event |
//! | `commanddigest` | SHA-256 of the command's canonical content (64 hex digits), when its writer bound one (#13) |
//! | `causationid` | the event or command that caused it, when known (CloudEvents Correlation extension) |
//! | `correlationid` | the conversation it belongs to |
//! | `actor` | `<role>:<kind>:<id>` ([`actor_text`]), e.g. `Fund:BIN:000000000000` |
//! | `actorperson` | the IIN of the person who acted for the actor, when authenticated (#13) |
//! | `data` | the event's fields, decoded and upcast to the current schema version |
//!
//! Pure: no I/O, no clock. The module sits outside `domain` (it formats the log's envelope) and outside
//! `log` (it decodes payloads, which the log never does); the log reaches it only through the
//! [`PublicForm`] trait object the opener injects.

mod patient;
mod schema;
#[cfg(test)]
mod tests;

pub use patient::{DataMap, PATIENT_ID_FIELDS, for_each_patient_id};
pub use schema::json_schema;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use crate::domain::event::{Event, EventError};
use crate::domain::ident::Iin;
use crate::domain::time::Timestamp;
use crate::log::{
    Actor, ActorId, ChainHash, CommandDigest, CommandId, EnvelopeBody, EventEnvelope, EventId,
    Payload, Position, PreparedForm, PublicForm, PublicFormError, StreamVersion,
};

/// The CloudEvents version of the form.
pub const SPEC_VERSION: &str = "1.0";
/// The reverse-DNS prefix of every event `type` (a wire contract: see docs/decisions.md #16).
pub const EVENT_TYPE_PREFIX: &str = "org.pharmacy-copayment.ledger";
/// The prefix of every event schema's `$id` and of `dataschema`.
pub const SCHEMA_ID_PREFIX: &str = "urn:pharmacy-copayment:schema:";
/// The `$id` of the CloudEvent schema itself (`schemas/cloudevent.schema.json`).
pub const CLOUD_EVENT_SCHEMA_ID: &str = "urn:pharmacy-copayment:schema:CloudEvent:v1";
/// The `source` used when a deployment names none.
pub const SOURCE_DEFAULT: &str = "urn:pharmacy-copayment:ledger:local";
/// `datacontenttype`: `data` is JSON.
pub const DATA_CONTENT_TYPE: &str = "application/json";
/// The media type of a whole event in structured mode (the Kafka `content-type` header).
pub const CONTENT_TYPE: &str = "application/cloudevents+json; charset=UTF-8";
/// The digits of `sequence`: enough for every `u64`, so that string order is version order.
pub const SEQUENCE_DIGITS: usize = 20;
/// The longest `source` accepted, in bytes.
pub const SOURCE_BYTES_MAX: usize = 255;

/// The `type` of an event of `event_type` whose data has schema version `schema_version`.
pub fn event_type(event_type: &str, schema_version: u16) -> String {
    format!("{EVENT_TYPE_PREFIX}.{event_type}.v{schema_version}")
}

/// The `$id` of the JSON Schema of `event_type` at `schema_version` (`dataschema`).
pub fn schema_id(event_type: &str, schema_version: u16) -> String {
    format!("{SCHEMA_ID_PREFIX}{event_type}:v{schema_version}")
}

/// `sequence`: the stream version, zero-padded to [`SEQUENCE_DIGITS`] so that string order (the
/// CloudEvents Sequence extension) is version order.
pub fn sequence(stream_version: StreamVersion) -> String {
    format!("{:0width$}", stream_version.0, width = SEQUENCE_DIGITS)
}

/// `actor`: `<role>:<kind>:<id>` with kind `BIN`, `IIN`, `KG` (a Kyrgyz tax number or PIN) or
/// `system`; the id is last, so a reader splits at the first two colons. The person who acted for
/// the actor is its own attribute, `actorperson`.
pub fn actor_text(actor: &Actor) -> String {
    let (kind, id) = match &actor.id {
        ActorId::Organisation(bin) => ("BIN", bin.to_string()),
        ActorId::Person(iin) => ("IIN", iin.to_string()),
        ActorId::Kyrgyz(number) => ("KG", number.clone()),
        ActorId::System(name) => ("system", name.clone()),
    };
    format!("{}:{kind}:{id}", actor.role)
}

/// The deployment named in every event's `source`: a URN (RFC 8141), e.g.
/// `urn:pharmacy-copayment:ledger:kz-prod`. Producers must keep `source` + `id` unique; event ids are
/// UUIDs, so one source per deployment suffices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventSource(String);

/// A `source` that is not a URN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "event source \"{value}\" is invalid: {reason}; it must be a URN (RFC 8141, CloudEvents `source`) \
     such as {SOURCE_DEFAULT}"
)]
pub struct InvalidEventSource {
    pub value: String,
    pub reason: &'static str,
}

impl EventSource {
    pub fn new(value: impl Into<String>) -> Result<EventSource, InvalidEventSource> {
        let value = value.into();
        let reason = source_problem(&value);
        match reason {
            Some(reason) => Err(InvalidEventSource { value, reason }),
            None => Ok(EventSource(value)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn source_problem(value: &str) -> Option<&'static str> {
    let Some(rest) = value.strip_prefix("urn:") else {
        return Some("it does not start with \"urn:\"");
    };
    let Some((nid, nss)) = rest.split_once(':') else {
        return Some("it has no namespace-specific part after \"urn:NID:\"");
    };
    let nid_valid = (2..=32).contains(&nid.len())
        && nid
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        && nid
            .bytes()
            .next()
            .is_some_and(|byte| byte.is_ascii_alphanumeric());
    let nss_valid = !nss.is_empty()
        && nss
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&byte));
    if value.len() > SOURCE_BYTES_MAX {
        Some("it is longer than 255 bytes")
    } else if !nid_valid {
        Some("the namespace after \"urn:\" must be 2–32 letters, digits or hyphens")
    } else if !nss_valid {
        Some("the part after the namespace must be non-empty URI characters without spaces")
    } else {
        None
    }
}

impl Default for EventSource {
    fn default() -> Self {
        EventSource(SOURCE_DEFAULT.to_owned())
    }
}

impl FromStr for EventSource {
    type Err = InvalidEventSource;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        EventSource::new(value)
    }
}

impl fmt::Display for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an event could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PublicError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("event \"{event_type}\" does not render as JSON: {source}")]
    Json {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The event's `data`: its fields as canonical JSON bytes, and the schema version they follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    pub json: Vec<u8>,
    pub schema_version: u16,
}

/// Renders events as CloudEvents. Cheap to clone and share; one per deployment (its `source`).
#[derive(Clone, Default)]
pub struct CloudEvents {
    source: EventSource,
    data_map: Option<Arc<dyn DataMap>>,
}

impl fmt::Debug for CloudEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudEvents")
            .field("source", &self.source)
            .field("data_map", &self.data_map.is_some())
            .finish()
    }
}

impl CloudEvents {
    pub fn new(source: EventSource) -> CloudEvents {
        CloudEvents {
            source,
            data_map: None,
        }
    }

    /// Maps every event's `data` before it is wrapped: the hook for replacing patient identifiers by
    /// keyed pseudonyms for readers not entitled to them (DESIGN §9; see [`for_each_patient_id`]).
    pub fn with_data_map(mut self, map: Arc<dyn DataMap>) -> CloudEvents {
        self.data_map = Some(map);
        self
    }

    pub fn source(&self) -> &EventSource {
        &self.source
    }

    /// The CloudEvent of one record, as the bytes of its JSON event format (compact, attributes in the
    /// order of the table above, `data` last): the one public form.
    pub fn to_bytes(&self, envelope: &EventEnvelope) -> Result<Vec<u8>, PublicError> {
        let data = self.data(&envelope.body.payload)?;
        Ok(self.wrap(&envelope.body, envelope.position, &envelope.hash, &data))
    }

    /// The same CloudEvent as a JSON value (object keys sorted).
    pub fn to_value(&self, envelope: &EventEnvelope) -> Result<serde_json::Value, PublicError> {
        let bytes = self.to_bytes(envelope)?;
        Ok(serde_json::from_slice(&bytes).expect("the form is valid JSON"))
    }

    /// Decodes a payload (upcasting an older schema version) and renders its fields as JSON, then
    /// applies the data map if there is one.
    pub fn data(&self, payload: &Payload) -> Result<Data, PublicError> {
        let event = Event::from_payload(payload)?;
        let json_error = |source| PublicError::Json {
            event_type: payload.event_type.clone(),
            source,
        };
        let mut json = untagged_json(&event).map_err(json_error)?;
        if let Some(map) = &self.data_map {
            let mut value: serde_json::Value =
                serde_json::from_slice(&json).expect("rendered data is valid JSON");
            map.map(event.event_type(), &mut value);
            json = serde_json::to_vec(&value).map_err(json_error)?;
        }
        Ok(Data {
            json,
            schema_version: event.schema_version(),
        })
    }

    /// Wraps rendered `data` of the record `body` found at `position` with chain link `hash`.
    pub fn wrap(
        &self,
        body: &EnvelopeBody,
        position: Position,
        hash: &ChainHash,
        data: &Data,
    ) -> Vec<u8> {
        self.wrap_json(body, position, hash, &data.json, data.schema_version)
    }

    fn wrap_json(
        &self,
        body: &EnvelopeBody,
        position: Position,
        hash: &ChainHash,
        json: &[u8],
        schema_version: u16,
    ) -> Vec<u8> {
        let attributes = Attributes {
            specversion: SPEC_VERSION,
            id: &body.event_id,
            source: self.source.as_str(),
            event_type: event_type(&body.payload.event_type, schema_version),
            subject: body.stream.as_str(),
            time: &body.recorded_at,
            datacontenttype: DATA_CONTENT_TYPE,
            dataschema: schema_id(&body.payload.event_type, schema_version),
            sequence: sequence(body.stream_version),
            partition: position.partition.0,
            offset: position.offset.0.to_string(),
            chainhash: hash.to_hex(),
            jurisdiction: body.jurisdiction.code(),
            occurredat: &body.occurred_at,
            commandid: &body.command_id,
            commanddigest: body.command_digest.as_ref(),
            causationid: body.causation_id.as_ref(),
            correlationid: &body.correlation_id,
            actor: actor_text(&body.actor),
            actorperson: body.actor.person.as_ref(),
        };
        let mut bytes = Vec::with_capacity(640 + json.len());
        serde_json::to_writer(&mut bytes, &attributes).expect("attributes serialise");
        // `{…attributes}` + `,"data":…}`: `data` goes last, spliced in without re-parsing it.
        assert_eq!(bytes.pop(), Some(b'}'), "an object ends with a brace");
        bytes.extend_from_slice(b",\"data\":");
        bytes.extend_from_slice(json);
        bytes.push(b'}');
        bytes
    }
}

/// The context attributes in their wire order (`data` is appended after them).
#[derive(Serialize)]
struct Attributes<'a> {
    specversion: &'static str,
    id: &'a EventId,
    source: &'a str,
    #[serde(rename = "type")]
    event_type: String,
    subject: &'a str,
    time: &'a Timestamp,
    datacontenttype: &'static str,
    dataschema: String,
    sequence: String,
    partition: u32,
    offset: String,
    chainhash: String,
    jurisdiction: &'static str,
    occurredat: &'a Timestamp,
    commandid: &'a CommandId,
    #[serde(skip_serializing_if = "Option::is_none")]
    commanddigest: Option<&'a CommandDigest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    causationid: Option<&'a Uuid>,
    correlationid: &'a Uuid,
    actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    actorperson: Option<&'a Iin>,
}

/// The event's JSON without its type tag: serde renders a newtype variant as `{"Type":{…}}`, so the
/// fields are the bytes between `{"Type":` and the final `}`.
fn untagged_json(event: &Event) -> Result<Vec<u8>, serde_json::Error> {
    let tagged = serde_json::to_vec(event)?;
    let prefix_len = event.event_type().len() + 4; // {"Type":
    assert!(
        tagged.len() > prefix_len
            && tagged[2..prefix_len - 2] == *event.event_type().as_bytes()
            && tagged.last() == Some(&b'}'),
        "an event serialises as an externally tagged newtype variant"
    );
    Ok(tagged[prefix_len..tagged.len() - 1].to_vec())
}

/// The Kafka log's public topic renders through this (injected by the opener).
impl PublicForm for CloudEvents {
    fn prepare(&self, body: &EnvelopeBody) -> Result<PreparedForm, PublicFormError> {
        let data = self.data(&body.payload).map_err(|error| PublicFormError {
            event_type: body.payload.event_type.clone(),
            schema_version: body.payload.schema_version,
            detail: error.to_string(),
        })?;
        Ok(PreparedForm {
            bytes: data.json,
            schema_version: data.schema_version,
        })
    }

    fn finish(
        &self,
        prepared: &PreparedForm,
        body: &EnvelopeBody,
        position: Position,
        hash: &ChainHash,
    ) -> Vec<u8> {
        self.wrap_json(
            body,
            position,
            hash,
            &prepared.bytes,
            prepared.schema_version,
        )
    }

    fn content_type(&self) -> &'static str {
        CONTENT_TYPE
    }
}
