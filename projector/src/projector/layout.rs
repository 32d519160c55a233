//! Where the runtime keeps its state in the store, and the byte layout of that state.
//!
//! Per view and generation `g` there are three keyspaces: `<view>@<g>` (the view's own data),
//! `<view>@<g>/checkpoint` (partition → next offset) and `<view>@<g>/stream` (stream → applied
//! version). The keyspace `_meta` maps `view/<view>` to the view's marker: its code version, its live
//! generation and the generations already collected. A rebuild moves to a fresh generation in one
//! write, so a crash mid-rebuild resumes the rebuild and never mixes old and new state.

use ledger::log::{Offset, PartitionId, StreamVersion};

use crate::store::{Keyspace, StoreError};

/// The keyspace of the runtime's markers.
pub(crate) const META_KEYSPACE: &str = "_meta";

/// The format byte in front of a stored marker.
const MARKER_FORMAT: u8 = 1;
const MARKER_BYTES: usize = 1 + 4 + 8 + 8;

/// What the store records about a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ViewMarker {
    pub version: u32,
    /// The live generation: its keyspaces hold the view.
    pub generation: u64,
    /// Generations below this one have been deleted; those from here up to `generation` are garbage
    /// still to delete.
    pub collected_below: u64,
}

impl ViewMarker {
    pub fn key(view: &str) -> Vec<u8> {
        format!("view/{view}").into_bytes()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(MARKER_BYTES);
        bytes.push(MARKER_FORMAT);
        bytes.extend_from_slice(&self.version.to_be_bytes());
        bytes.extend_from_slice(&self.generation.to_be_bytes());
        bytes.extend_from_slice(&self.collected_below.to_be_bytes());
        assert_eq!(bytes.len(), MARKER_BYTES);
        bytes
    }

    pub fn decode(view: &str, bytes: &[u8]) -> Result<ViewMarker, StoreError> {
        let corrupt = |detail: String| {
            StoreError::corrupt(&Keyspace::new(META_KEYSPACE), &Self::key(view), detail)
        };
        if bytes.len() != MARKER_BYTES || bytes[0] != MARKER_FORMAT {
            return Err(corrupt(format!(
                "expected {MARKER_BYTES} bytes starting with format {MARKER_FORMAT}, found {} bytes",
                bytes.len()
            )));
        }
        let marker = ViewMarker {
            version: u32::from_be_bytes(bytes[1..5].try_into().expect("4 bytes")),
            generation: u64::from_be_bytes(bytes[5..13].try_into().expect("8 bytes")),
            collected_below: u64::from_be_bytes(bytes[13..21].try_into().expect("8 bytes")),
        };
        if marker.collected_below > marker.generation {
            return Err(corrupt(format!(
                "collected generations below {} but the live generation is {}",
                marker.collected_below, marker.generation
            )));
        }
        Ok(marker)
    }
}

/// The keyspaces of one generation of one view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViewKeyspaces {
    pub data: Keyspace,
    pub checkpoints: Keyspace,
    pub streams: Keyspace,
}

impl ViewKeyspaces {
    pub fn of(view: &str, generation: u64) -> ViewKeyspaces {
        ViewKeyspaces {
            data: Keyspace::new(&format!("{view}@{generation}")),
            checkpoints: Keyspace::new(&format!("{view}@{generation}/checkpoint")),
            streams: Keyspace::new(&format!("{view}@{generation}/stream")),
        }
    }

    pub fn all(&self) -> [&Keyspace; 3] {
        [&self.data, &self.checkpoints, &self.streams]
    }
}

pub(crate) fn checkpoint_key(partition: PartitionId) -> Vec<u8> {
    partition.0.to_be_bytes().to_vec()
}

pub(crate) fn decode_partition(keyspace: &Keyspace, key: &[u8]) -> Result<PartitionId, StoreError> {
    let bytes: [u8; 4] = key
        .try_into()
        .map_err(|_| StoreError::corrupt(keyspace, key, "partition key is not 4 bytes"))?;
    Ok(PartitionId(u32::from_be_bytes(bytes)))
}

pub(crate) fn encode_offset(offset: Offset) -> Vec<u8> {
    offset.0.to_be_bytes().to_vec()
}

pub(crate) fn decode_offset(
    keyspace: &Keyspace,
    key: &[u8],
    value: &[u8],
) -> Result<Offset, StoreError> {
    let bytes: [u8; 8] = value
        .try_into()
        .map_err(|_| StoreError::corrupt(keyspace, key, "checkpoint offset is not 8 bytes"))?;
    Ok(Offset(u64::from_be_bytes(bytes)))
}

pub(crate) fn encode_version(version: StreamVersion) -> Vec<u8> {
    version.0.to_be_bytes().to_vec()
}

pub(crate) fn decode_version(
    keyspace: &Keyspace,
    key: &[u8],
    value: &[u8],
) -> Result<StreamVersion, StoreError> {
    let bytes: [u8; 8] = value
        .try_into()
        .map_err(|_| StoreError::corrupt(keyspace, key, "stream version is not 8 bytes"))?;
    Ok(StreamVersion(u64::from_be_bytes(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips() {
        let marker = ViewMarker {
            version: 7,
            generation: 3,
            collected_below: 2,
        };
        assert_eq!(
            ViewMarker::decode("totals", &marker.encode()).unwrap(),
            marker
        );
    }

    #[test]
    fn damaged_marker_is_refused() {
        let marker = ViewMarker {
            version: 7,
            generation: 3,
            collected_below: 2,
        };
        let mut bytes = marker.encode();
        assert!(ViewMarker::decode("totals", &bytes[..20]).is_err());
        bytes[0] = 9;
        assert!(ViewMarker::decode("totals", &bytes).is_err());
        let backwards = ViewMarker {
            version: 1,
            generation: 1,
            collected_below: 2,
        };
        assert!(ViewMarker::decode("totals", &backwards.encode()).is_err());
    }
}
