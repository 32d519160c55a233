//! The record envelope and the per-partition hash chain.
//!
//! Wire form of one record (identical on the embedded log and as a Kafka record value):
//! `codec(EnvelopeBody) ‖ hash[32]`, where `hash = SHA-256(previous record's hash ‖ codec(EnvelopeBody))`
//! and the first record of a partition chains from [`ChainHash::GENESIS`]. Any later alteration,
//! insertion or deletion of a record breaks the chain from that record on (DESIGN §6).
//!
//! The position is not part of the hashed bytes: the log assigns it, and it is known from where the
//! record sits.
//!
//! Layouts: the codec's format byte in front of the body names the envelope's layout. Byte 1 is the
//! first layout ([`EnvelopeBodyV1`], frozen); byte 2 ([`ENVELOPE_LAYOUT`], issue #13) adds the person
//! who acted (`actor.person`, an IIN from a certificate or token) and the command's content digest
//! (`command_digest`). Old records keep their bytes and hash links; readers upcast them.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::LogError;
use super::ids::{CommandDigest, CommandId, EventId, Position, StreamId, StreamVersion};
use crate::codec;
use crate::domain::ident::{Bin, Iin};
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::time::Timestamp;

/// The largest encoded payload accepted, in bytes.
pub const PAYLOAD_BYTES_MAX: usize = 1024 * 1024;

/// A SHA-256 link of the per-partition hash chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The hash the first record of every partition chains from.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// The chain link of a record whose encoded body is `body` and whose predecessor's hash is `self`.
    pub fn link(&self, body: &[u8]) -> ChainHash {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update(body);
        ChainHash(hasher.finalize().into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<ChainHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(ChainHash(bytes))
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", &self.to_hex()[..16])
    }
}

/// The layout byte of records written now (see the module documentation).
pub const ENVELOPE_LAYOUT: u8 = 2;

/// Who caused an event: the organisation (or system) and the role it acted in, and the person who
/// acted for it when one is known (DESIGN §8: from the certificate or token, never from a body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Actor {
    pub id: ActorId,
    pub role: ActorRole,
    /// The person (IIN) who acted for the organisation, as authenticated; none for systems and for
    /// records written before the envelope's second layout. (`default` lets JSON written without it
    /// still parse; bincode reads every field in order whatever the attribute says.)
    #[serde(default)]
    pub person: Option<Iin>,
}

impl Actor {
    /// An actor with no person named (a system, or an organisation acting through a system).
    pub fn new(id: ActorId, role: ActorRole) -> Actor {
        Actor {
            id,
            role,
            person: None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} as {}", self.id, self.role)?;
        if let Some(person) = &self.person {
            write!(f, " (IIN {person})")?;
        }
        Ok(())
    }
}

/// The identity of an actor: an organisation (BIN), a person (IIN), a Kyrgyz organisation or person
/// (14-digit tax number or PIN, validated at the edge), or a named system process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ActorId {
    Organisation(Bin),
    Person(Iin),
    Kyrgyz(String),
    System(String),
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActorId::Organisation(bin) => write!(f, "BIN {bin}"),
            ActorId::Person(iin) => write!(f, "IIN {iin}"),
            ActorId::Kyrgyz(number) => write!(f, "KG {number}"),
            ActorId::System(name) => write!(f, "system {name}"),
        }
    }
}

/// The role an actor acted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ActorRole {
    /// A pharmacy company holding (or applying for) a contract.
    Pharmacy,
    /// The official representative of a consortium (S001 §13–14).
    ConsortiumRepresentative,
    /// The Fund (KZ: NAO «ФСМС»; KG: the MHIF).
    Fund,
    /// A ministry or other publisher of reference data (calendars, price lists).
    Publisher,
    /// A regulator or auditor.
    Regulator,
    /// An automated process of the ledger itself.
    System,
    /// An operator administering the ledger on its data directory (issue #13; DESIGN §8: local CLI
    /// paths act as a named operator). Appended last, so the first layout's role numbers still hold.
    Operator,
}

impl fmt::Display for ActorRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A typed, versioned event payload: the domain's codec bytes of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Payload {
    /// The event's type name, e.g. `RegistrySubmitted`.
    pub event_type: String,
    /// The schema version of `data`; bumped on every wire change of the event (see
    /// `docs/schema-evolution.md`).
    pub schema_version: u16,
    /// `codec` bytes of the event: raw bytes in binary encodings, lower-case hex in JSON.
    #[serde(with = "payload_bytes")]
    #[schemars(with = "String", regex(pattern = "^([0-9a-f]{2})*$"))]
    pub data: Vec<u8>,
}

/// Payload bytes: `serialize_bytes` in binary formats (one length prefix and a copy), hex text in
/// human-readable ones.
mod payload_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(bytes))
        } else {
            serializer.serialize_bytes(bytes)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            hex::decode(text).map_err(serde::de::Error::custom)
        } else {
            deserializer.deserialize_byte_buf(BytesVisitor)
        }
    }

    struct BytesVisitor;

    impl<'de> serde::de::Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("payload bytes")
        }

        fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }

        fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(bytes)
        }
    }
}

/// An event as the writer hands it to the log; the log adds the stream coordinates, the record time
/// and the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: EventId,
    /// Business time: when the fact happened (UTC).
    pub occurred_at: Timestamp,
    pub jurisdiction: Jurisdiction,
    pub causation_id: Option<Uuid>,
    pub correlation_id: Uuid,
    pub actor: Actor,
    pub payload: Payload,
    /// The digest of the command's canonical content, when the writer bound one (see
    /// [`CommandDigest`]).
    pub command_digest: Option<CommandDigest>,
}

/// The hashed part of a record: everything except where it sits and its own chain link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EnvelopeBody {
    pub event_id: EventId,
    pub stream: StreamId,
    pub stream_version: StreamVersion,
    /// When the log accepted the record (UTC, the writer's clock).
    pub recorded_at: Timestamp,
    /// Business time (UTC).
    pub occurred_at: Timestamp,
    pub jurisdiction: Jurisdiction,
    /// The command that caused the event (its idempotency key).
    pub command_id: CommandId,
    /// The event or command that directly caused this one, if any.
    pub causation_id: Option<Uuid>,
    /// The conversation this event belongs to (e.g. one import run or one demo period).
    pub correlation_id: Uuid,
    pub actor: Actor,
    pub payload: Payload,
    /// The digest of the command's canonical content, when its writer bound one; the same on every
    /// event of a command.
    #[serde(default)]
    pub command_digest: Option<CommandDigest>,
}

impl EnvelopeBody {
    pub fn new(
        event: NewEvent,
        stream: StreamId,
        stream_version: StreamVersion,
        command_id: CommandId,
        recorded_at: Timestamp,
    ) -> Self {
        EnvelopeBody {
            event_id: event.event_id,
            stream,
            stream_version,
            recorded_at,
            occurred_at: event.occurred_at,
            jurisdiction: event.jurisdiction,
            command_id,
            causation_id: event.causation_id,
            correlation_id: event.correlation_id,
            actor: event.actor,
            payload: event.payload,
            command_digest: event.command_digest,
        }
    }

    /// Appends the record encoding of the body: the layout byte, then bincode.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), LogError> {
        Ok(codec::encode_layout_into(self, ENVELOPE_LAYOUT, out)?)
    }

    /// Decodes a record body of any layout, upcasting older ones.
    pub fn decode(bytes: &[u8]) -> Result<EnvelopeBody, codec::CodecError> {
        match codec::layout_of(bytes)? {
            1 => codec::decode_layout::<EnvelopeBodyV1>(bytes, 1).map(EnvelopeBody::from),
            _ => codec::decode_layout::<EnvelopeBody>(bytes, ENVELOPE_LAYOUT),
        }
    }
}

/// The first layout of the actor (format byte 1), frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorV1 {
    pub id: ActorId,
    pub role: ActorRole,
}

/// The first layout of the record body (format byte 1), frozen: no person, no command digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeBodyV1 {
    pub event_id: EventId,
    pub stream: StreamId,
    pub stream_version: StreamVersion,
    pub recorded_at: Timestamp,
    pub occurred_at: Timestamp,
    pub jurisdiction: Jurisdiction,
    pub command_id: CommandId,
    pub causation_id: Option<Uuid>,
    pub correlation_id: Uuid,
    pub actor: ActorV1,
    pub payload: Payload,
}

/// Old records name no person and bound no digest.
impl From<EnvelopeBodyV1> for EnvelopeBody {
    fn from(old: EnvelopeBodyV1) -> EnvelopeBody {
        EnvelopeBody {
            event_id: old.event_id,
            stream: old.stream,
            stream_version: old.stream_version,
            recorded_at: old.recorded_at,
            occurred_at: old.occurred_at,
            jurisdiction: old.jurisdiction,
            command_id: old.command_id,
            causation_id: old.causation_id,
            correlation_id: old.correlation_id,
            actor: Actor::new(old.actor.id, old.actor.role),
            payload: old.payload,
            command_digest: None,
        }
    }
}

/// A record as read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEnvelope {
    pub position: Position,
    pub body: EnvelopeBody,
    /// This record's link of the partition's hash chain.
    pub hash: ChainHash,
}

impl EventEnvelope {
    /// Encodes `body` and links it to `previous`, giving the record's wire bytes
    /// (`codec(body) ‖ hash`) and its hash.
    pub fn seal(
        body: &EnvelopeBody,
        previous: &ChainHash,
    ) -> Result<(Vec<u8>, ChainHash), LogError> {
        let mut bytes = Vec::with_capacity(256);
        body.encode_into(&mut bytes)?;
        let hash = previous.link(&bytes);
        bytes.extend_from_slice(&hash.0);
        Ok((bytes, hash))
    }

    /// Splits record wire bytes into (encoded body, stored hash).
    pub fn split_record(bytes: &[u8]) -> Option<(&[u8], ChainHash)> {
        let split = bytes.len().checked_sub(32)?;
        let (body, hash) = bytes.split_at(split);
        Some((body, ChainHash(hash.try_into().expect("32 bytes"))))
    }

    /// Decodes record wire bytes found at `position`. Does not verify the chain (see
    /// [`EventEnvelope::verify_link`]).
    pub fn decode(position: Position, bytes: &[u8]) -> Result<EventEnvelope, LogError> {
        let (body, hash) = Self::split_record(bytes).ok_or_else(|| LogError::Corrupt {
            position,
            detail: format!(
                "record of {} bytes is shorter than its 32-byte hash",
                bytes.len()
            ),
        })?;
        let body = EnvelopeBody::decode(body).map_err(|error| LogError::Corrupt {
            position,
            detail: error.to_string(),
        })?;
        Ok(EventEnvelope {
            position,
            body,
            hash,
        })
    }

    /// Checks that record wire bytes chain from `previous`; returns the record's hash if they do.
    pub fn verify_link(previous: &ChainHash, bytes: &[u8]) -> Option<ChainHash> {
        let (body, stored) = Self::split_record(bytes)?;
        (previous.link(body) == stored).then_some(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ident::Bin;
    use crate::log::ids::{Offset, PartitionId};

    fn body(version: u64) -> EnvelopeBody {
        EnvelopeBody {
            event_id: EventId(Uuid::from_u128(u128::from(version))),
            stream: StreamId::new("contract/C-1").unwrap(),
            stream_version: StreamVersion(version),
            recorded_at: Timestamp::from_micros(1),
            occurred_at: Timestamp::from_micros(2),
            jurisdiction: Jurisdiction::KZ,
            command_id: CommandId(Uuid::from_u128(9)),
            causation_id: None,
            correlation_id: Uuid::nil(),
            actor: Actor {
                id: ActorId::Organisation("900101300007".parse::<Bin>().unwrap()),
                role: ActorRole::Fund,
                person: Some("900101300007".parse().unwrap()),
            },
            payload: Payload {
                event_type: "X".into(),
                schema_version: 1,
                data: vec![0xAB; 40],
            },
            command_digest: Some(CommandDigest::of(b"content")),
        }
    }

    #[test]
    fn chain_links_each_record_to_its_predecessor() {
        let (first, first_hash) = EventEnvelope::seal(&body(1), &ChainHash::GENESIS).unwrap();
        let (second, second_hash) = EventEnvelope::seal(&body(2), &first_hash).unwrap();
        assert_eq!(
            EventEnvelope::verify_link(&ChainHash::GENESIS, &first),
            Some(first_hash)
        );
        assert_eq!(
            EventEnvelope::verify_link(&first_hash, &second),
            Some(second_hash)
        );
        // Deleting the first record breaks the chain at the second.
        assert_eq!(
            EventEnvelope::verify_link(&ChainHash::GENESIS, &second),
            None
        );
        let position = Position {
            partition: PartitionId(0),
            offset: Offset(1),
        };
        assert_eq!(
            EventEnvelope::decode(position, &second).unwrap().body,
            body(2)
        );
    }

    proptest::proptest! {
        /// DESIGN §6: flipping any single bit of a record is detected by the chain.
        #[test]
        fn any_flipped_bit_breaks_the_link(index in 0usize..1000, bit in 0u8..8) {
            let (mut bytes, _) = EventEnvelope::seal(&body(1), &ChainHash::GENESIS).unwrap();
            let index = index % bytes.len();
            bytes[index] ^= 1 << bit;
            proptest::prop_assert_eq!(EventEnvelope::verify_link(&ChainHash::GENESIS, &bytes), None);
        }
    }
}
