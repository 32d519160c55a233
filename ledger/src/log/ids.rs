//! Identifiers and coordinates of the log: streams, versions, partitions, offsets, commands, events.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The longest stream id accepted, in bytes.
pub const STREAM_ID_BYTES_MAX: usize = 200;

/// The history of one aggregate, e.g. `contract/C-1`, `period/C-1/2026-01`, `budget/KZ/GOBMP/2026`,
/// `reference/calendar/KZ`, `keys/<BIN>` (DESIGN §1).
///
/// Valid ids are 1–200 bytes of printable ASCII without spaces, made of non-empty segments separated
/// by `/`.
#[derive(
    Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream id \"{value}\" is invalid: {reason}")]
pub struct InvalidStreamId {
    pub value: String,
    pub reason: &'static str,
}

impl StreamId {
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidStreamId> {
        let value = value.into();
        let reason = if value.is_empty() {
            Some("it is empty")
        } else if value.len() > STREAM_ID_BYTES_MAX {
            Some("it is longer than 200 bytes")
        } else if !value.bytes().all(|byte| byte.is_ascii_graphic()) {
            Some("only printable ASCII without spaces is allowed")
        } else if value.split('/').any(str::is_empty) {
            Some("segments separated by '/' must not be empty")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(InvalidStreamId { value, reason }),
            None => Ok(Self(value)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stream's category: its first segment (`contract`, `period`, `budget`, `reference`, `keys`).
    pub fn category(&self) -> &str {
        self.0
            .split('/')
            .next()
            .expect("a stream id has at least one segment")
    }

    /// The key that decides the partition (DESIGN §1): everything that belongs to a contract
    /// (`contract/<id>` and `period/<id>/…`) is keyed by `contract/<id>`, so a contract's whole history
    /// is totally ordered on one partition; other streams are keyed by their own id.
    pub fn partition_key(&self) -> std::borrow::Cow<'_, str> {
        let mut segments = self.0.split('/');
        match (segments.next(), segments.next()) {
            (Some("contract" | "period"), Some(contract)) => format!("contract/{contract}").into(),
            _ => self.0.as_str().into(),
        }
    }
}

impl TryFrom<String> for StreamId {
    type Error = InvalidStreamId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        StreamId::new(value)
    }
}

impl From<StreamId> for String {
    fn from(value: StreamId) -> String {
        value.0
    }
}

impl FromStr for StreamId {
    type Err = InvalidStreamId;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        StreamId::new(value)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.0)
    }
}

/// The stable partition function shared by every backend (embedded and Kafka): FNV-1a 64 of the
/// stream's [`StreamId::partition_key`], modulo the partition count. Part of the wire contract: it
/// must never change for an existing deployment.
pub fn partition_of(stream: &StreamId, partitions: u32) -> PartitionId {
    assert!(partitions > 0, "a log has at least one partition");
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0100_0000_01b3;
    let hash = stream
        .partition_key()
        .bytes()
        .fold(FNV_OFFSET, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
        });
    let index = hash % u64::from(partitions);
    PartitionId(u32::try_from(index).expect("remainder of a u32 modulus fits in u32"))
}

/// The version of an event within its stream: 1 for the first event, gapless after that.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct StreamVersion(pub u64);

impl StreamVersion {
    /// The version of a stream with no events.
    pub const NONE: StreamVersion = StreamVersion(0);

    pub fn next(self) -> StreamVersion {
        StreamVersion(self.0.checked_add(1).expect("stream version overflow"))
    }
}

impl fmt::Display for StreamVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A partition of the log.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct PartitionId(pub u32);

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The logical offset of a record within its partition: 0 for the first record, gapless after that
/// on the embedded log (Kafka offsets may have gaps where transaction markers sit).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct Offset(pub u64);

impl Offset {
    pub fn next(self) -> Offset {
        Offset(self.0.checked_add(1).expect("offset overflow"))
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where the log put a record: `(partition, offset)`, written `partition:offset`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct Position {
    pub partition: PartitionId,
    pub offset: Offset,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.partition, self.offset)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("position \"{0}\" is invalid: expected PARTITION:OFFSET, e.g. 0:1024")]
pub struct InvalidPosition(pub String);

impl FromStr for Position {
    type Err = InvalidPosition;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidPosition(value.to_owned());
        let (partition, offset) = value.split_once(':').ok_or_else(invalid)?;
        Ok(Position {
            partition: PartitionId(partition.parse().map_err(|_| invalid())?),
            offset: Offset(offset.parse().map_err(|_| invalid())?),
        })
    }
}

macro_rules! uuid_id {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(
            Clone,
            Copy,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            Serialize,
            Deserialize,
            schemars::JsonSchema,
        )]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id (UUID v7) for `at`.
            pub fn new_v7(at: crate::domain::time::Timestamp) -> Self {
                let micros = at.micros();
                let seconds = u64::try_from(micros.div_euclid(1_000_000)).unwrap_or(0);
                let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1000)
                    .expect("sub-second nanos fit");
                let timestamp = uuid::Timestamp::from_unix(uuid::NoContext, seconds, nanos);
                Self(Uuid::new_v7(timestamp))
            }

            /// An id derived deterministically from a name within a namespace (UUID v5), e.g. a command
            /// id derived from an import row so that a re-run is idempotent.
            pub fn derived(namespace: &str, name: &str) -> Self {
                let namespace = Uuid::new_v5(&Uuid::NAMESPACE_OID, namespace.as_bytes());
                Self(Uuid::new_v5(&namespace, name.as_bytes()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Ok(Self(value.parse()?))
            }
        }
    };
}

uuid_id!(
    CommandId,
    "The idempotency key of a command, chosen by the client (128 bits)."
);
uuid_id!(
    EventId,
    "The unique id of an event (UUID v7, time-ordered)."
);

/// The SHA-256 of a command's canonical content, kept on every event the command appended, so that a
/// command id reused for other content is told apart from a retry, after a restart and on every
/// backend (issue #13: idempotency keys that cannot lose a command). What "canonical content" is
/// belongs to the writer that computes it (`commands::submit` for JSON commands); the log only stores
/// and compares it.
///
/// Binary encodings carry the 32 bytes; JSON carries 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommandDigest(pub [u8; 32]);

impl schemars::JsonSchema for CommandDigest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CommandDigest".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "SHA-256 of the command's canonical content, 64 lower-case hex digits.",
            "type": "string",
            "pattern": "^[0-9a-f]{64}$"
        })
    }
}

impl Serialize for CommandDigest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for CommandDigest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            CommandDigest::try_from(text).map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(deserializer).map(CommandDigest)
        }
    }
}

impl CommandDigest {
    /// The digest of `content`.
    pub fn of(content: &[u8]) -> CommandDigest {
        use sha2::Digest;
        CommandDigest(sha2::Sha256::digest(content).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for CommandDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for CommandDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommandDigest({})", &self.to_hex()[..16])
    }
}

impl TryFrom<String> for CommandDigest {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&text, &mut bytes)
            .map_err(|_| format!("\"{text}\" is not 64 lower-case hex digits"))?;
        Ok(CommandDigest(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_streams_share_a_partition() {
        let contract = StreamId::new("contract/C-17").unwrap();
        let period = StreamId::new("period/C-17/2026-01").unwrap();
        assert_eq!(contract.partition_key(), "contract/C-17");
        assert_eq!(period.partition_key(), "contract/C-17");
        for partitions in 1..64 {
            assert_eq!(
                partition_of(&contract, partitions),
                partition_of(&period, partitions)
            );
        }
    }

    /// The partition function is part of the wire contract: these values must never change.
    #[test]
    fn partition_function_is_stable() {
        let stream = StreamId::new("contract/C-1").unwrap();
        let expected_fnv = {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for byte in b"contract/C-1" {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            hash
        };
        assert_eq!(
            u64::from(partition_of(&stream, 1000).0),
            expected_fnv % 1000
        );
        assert_eq!(
            partition_of(&StreamId::new("reference/calendar/KZ").unwrap(), 1),
            PartitionId(0)
        );
    }

    #[test]
    fn invalid_stream_ids_are_refused() {
        for bad in ["", "a//b", "/a", "a b", "контракт/1"] {
            assert!(StreamId::new(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(StreamId::new("x".repeat(201)).is_err());
    }

    #[test]
    fn position_round_trips_through_text() {
        let position: Position = "3:1024".parse().unwrap();
        assert_eq!(
            position,
            Position {
                partition: PartitionId(3),
                offset: Offset(1024)
            }
        );
        assert_eq!(position.to_string(), "3:1024");
        assert!("3-1024".parse::<Position>().is_err());
    }
}
