//! Where the writer's state sits in its store, and the bytes of it (layout version
//! [`LAYOUT_VERSION`]).
//!
//! Keyspaces:
//! - `_meta`: `layout` → the layout version (u64 BE), `partitions` → the log's partition count,
//!   `runs` → the manifest of the M-06 runs (`m06`).
//! - `checkpoint`: partition (u32 BE) → the next offset to read ‖ the records before it (u64 BE each;
//!   Kafka's offsets have gaps, its transaction markers). Everything before it is in the store.
//! - `periods`: jurisdiction ‖ 0 ‖ `YYYY-MM` ‖ partition (u32 BE) → the offset of the partition's
//!   first record of that period's streams ‖ the records before it: where a seal's read begins
//!   (issue #16; `audit::seal::observe_from`).
//! - the M-06 runs are files beside the store (`runs/<id>.run`, `m06::file`): a run's takes
//!   `fp(key) ‖ fp(dispensing) ‖ u16 length ‖ <period>/<dispensing id>` and its dispensings
//!   `fp(dispensing) ‖ fp(pack key) ‖ fp(receipt key)` (what a reversal releases), each sorted into
//!   buckets, and its Bloom filter of key fingerprints; the manifest in `_meta` names them.
//! - `m06/released`: `fp(key) ‖ fp(dispensing)` → nothing: pairs released by a reversal.
//! - `keys`, `seals`: partition (u32 BE) ‖ offset (u64 BE) → the codec bytes of the event's payload,
//!   for every `keys/<BIN>` and `seal/…` event (few: the signing keys and the sealed months).
//!
//! `fp` is the first 16 bytes of SHA-256 (of the key's text; of `contract ‖ 0 ‖ YYYY-MM ‖ 0 ‖ id` for a
//! dispensing), and a bucket is the top bits of a fingerprint. A fingerprint collision could only
//! make a free key look held (a refusal, never a second payment); among 2^32 keys its probability is
//! below 2^-64.

use ledger::domain::values::ReportingPeriod;
use ledger::log::{Offset, PartitionId};
use projector::{Keyspace, StoreError};
use sha2::{Digest, Sha256};

/// The layout of the store; a store of another layout is rebuilt from the log. 2: the M-06 runs'
/// Bloom filters are blocked (one cache line a key) at 16 bits a key. 3: the checkpoint counts the
/// records before it, `periods` holds where each period lies, and the M-06 runs are files.
pub const LAYOUT_VERSION: u32 = 3;

/// The bytes of a fingerprint.
pub const FINGERPRINT_BYTES: usize = 16;

/// A fingerprint of a key or a dispensing.
pub type Fingerprint = [u8; FINGERPRINT_BYTES];

pub fn meta() -> Keyspace {
    Keyspace::new("_meta")
}

pub fn checkpoint() -> Keyspace {
    Keyspace::new("checkpoint")
}

pub fn m06_takes() -> Keyspace {
    Keyspace::new("m06/take")
}

pub fn m06_released() -> Keyspace {
    Keyspace::new("m06/released")
}

pub fn m06_dispensings() -> Keyspace {
    Keyspace::new("m06/dispensing")
}

pub fn periods() -> Keyspace {
    Keyspace::new("periods")
}

pub fn key_events() -> Keyspace {
    Keyspace::new("keys")
}

pub fn seal_events() -> Keyspace {
    Keyspace::new("seals")
}

pub const META_LAYOUT: &[u8] = b"layout";
pub const META_PARTITIONS: &[u8] = b"partitions";

/// The fingerprint of a uniqueness key (`MarkingCode::uniqueness_key`, `FiscalReceipt::uniqueness_key`).
pub fn key_fingerprint(key: &str) -> Fingerprint {
    fingerprint(&[key.as_bytes()])
}

/// The fingerprint of a dispensing: dispensing ids are unique within a period stream only.
pub fn dispensing_fingerprint(contract: &str, period: &ReportingPeriod, id: &str) -> Fingerprint {
    fingerprint(&[
        contract.as_bytes(),
        &[0],
        period.key().as_bytes(),
        &[0],
        id.as_bytes(),
    ])
}

fn fingerprint(parts: &[&[u8]]) -> Fingerprint {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    let digest = hasher.finalize();
    digest[..FINGERPRINT_BYTES]
        .try_into()
        .expect("SHA-256 is longer than a fingerprint")
}

pub fn decode_held_keys(key: &[u8], bytes: &[u8]) -> Result<[Fingerprint; 2], StoreError> {
    if bytes.len() != 2 * FINGERPRINT_BYTES {
        return Err(StoreError::corrupt(
            &m06_dispensings(),
            key,
            format!(
                "expected {} bytes (two fingerprints), found {}",
                2 * FINGERPRINT_BYTES,
                bytes.len()
            ),
        ));
    }
    let (first, second) = bytes.split_at(FINGERPRINT_BYTES);
    Ok([
        first.try_into().expect("16 bytes"),
        second.try_into().expect("16 bytes"),
    ])
}

/// A record's position as a key: partition ‖ offset, both big-endian, so keys sort in log order.
pub fn position_key(partition: PartitionId, offset: Offset) -> Vec<u8> {
    let mut key = Vec::with_capacity(12);
    key.extend_from_slice(&partition.0.to_be_bytes());
    key.extend_from_slice(&offset.0.to_be_bytes());
    key
}

pub fn partition_key(partition: PartitionId) -> Vec<u8> {
    partition.0.to_be_bytes().to_vec()
}

/// Where a partition is read to: the next offset, and how many records come before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub next: u64,
    pub records: u64,
}

impl Cursor {
    /// The cursor past a record at `offset` read after this one.
    pub fn past(self, offset: u64) -> Cursor {
        Cursor {
            next: offset + 1,
            records: self.records + 1,
        }
    }

    pub fn encode(self) -> Vec<u8> {
        [self.next.to_be_bytes(), self.records.to_be_bytes()].concat()
    }

    pub fn decode(keyspace: &Keyspace, key: &[u8], bytes: &[u8]) -> Result<Cursor, StoreError> {
        if bytes.len() != 16 {
            return Err(StoreError::corrupt(
                keyspace,
                key,
                format!("expected 16 bytes (offset, records), found {}", bytes.len()),
            ));
        }
        let (next, records) = bytes.split_at(8);
        Ok(Cursor {
            next: decode_u64(keyspace, key, next)?,
            records: decode_u64(keyspace, key, records)?,
        })
    }
}

/// The key of where `month`'s period streams of `jurisdiction` begin on `partition`.
pub fn period_key(jurisdiction: &str, month: &str, partition: PartitionId) -> Vec<u8> {
    let mut key = Vec::with_capacity(jurisdiction.len() + month.len() + 5);
    key.extend_from_slice(jurisdiction.as_bytes());
    key.push(0);
    key.extend_from_slice(month.as_bytes());
    key.extend_from_slice(&partition.0.to_be_bytes());
    key
}

pub fn encode_u64(value: u64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

pub fn decode_u64(keyspace: &Keyspace, key: &[u8], bytes: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| {
        StoreError::corrupt(
            keyspace,
            key,
            format!("expected 8 bytes, found {}", bytes.len()),
        )
    })?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dispensing fingerprints separate their parts: `A` + `B0` and `AB` + `0` differ.
    #[test]
    fn dispensing_fingerprints_separate_their_parts() {
        let period = ReportingPeriod::month(2026, 1).unwrap();
        assert_ne!(
            dispensing_fingerprint("KZ-1", &period, "D-10"),
            dispensing_fingerprint("KZ-1", &period, "D-1")
        );
        assert_ne!(
            dispensing_fingerprint("KZ-1", &period, "D-1"),
            dispensing_fingerprint("KZ-2", &period, "D-1")
        );
        let february = ReportingPeriod::month(2026, 2).unwrap();
        assert_ne!(
            dispensing_fingerprint("KZ-1", &period, "D-1"),
            dispensing_fingerprint("KZ-1", &february, "D-1")
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_other_lengths() {
        let cursor = Cursor {
            next: 17,
            records: 12,
        };
        let bytes = cursor.encode();
        assert_eq!(Cursor::decode(&checkpoint(), b"k", &bytes).unwrap(), cursor);
        assert!(Cursor::decode(&checkpoint(), b"k", &bytes[..8]).is_err());
        assert_eq!(
            cursor.past(20),
            Cursor {
                next: 21,
                records: 13
            }
        );
    }

    #[test]
    fn held_keys_round_trip_and_refuse_other_lengths() {
        let keys = [key_fingerprint("a"), key_fingerprint("b")];
        assert_eq!(decode_held_keys(b"k", &keys.concat()).unwrap(), keys);
        assert!(decode_held_keys(b"k", &[0; 31]).is_err());
    }
}
