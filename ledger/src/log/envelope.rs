//! The record envelope and the per-partition hash chain.
//!
//! Wire form of one record (identical on the embedded log and as a Kafka record value):
//! `codec(EnvelopeBody) ‖ hash[32]`, where `hash = SHA-256(previous record's hash ‖ codec(EnvelopeBody))`
//! and the first record of a partition chains from [`ChainHash::GENESIS`]. Any later alteration,
//! insertion or deletion of a record breaks the chain from that record on (DESIGN §6).
//!
//! The position is not part of the hashed bytes: the log assigns it, and it is known from where the
//! record sits.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::LogError;
use super::ids::{CommandId, EventId, Position, StreamId, StreamVersion};
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

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Actor {
    pub id: ActorId,
    pub role: ActorRole,
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
}

impl fmt::Display for ActorRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A typed, versioned event payload: the domain's codec bytes of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// The event's type name, e.g. `RegistrySubmitted`.
    pub event_type: String,
    /// The schema version of `data`; bumped on every wire change of the event (see
    /// `docs/schema-evolution.md`).
    pub schema_version: u16,
    /// `codec` bytes of the event.
    pub data: Vec<u8>,
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
}

/// The hashed part of a record: everything except where it sits and its own chain link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        let mut bytes = codec::encode(body)?;
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
        let body = codec::decode::<EnvelopeBody>(body).map_err(|error| LogError::Corrupt {
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
