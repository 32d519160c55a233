//! The one place that turns values into wire bytes and back.
//!
//! Wire form: one format-version byte, then bincode 2 (`=2.0.1`, standard configuration: little endian,
//! variable-length integers). bincode is pinned because 3.0 on crates.io is an empty release. A new
//! format version gets a new byte and a branch in [`decode`]; old bytes stay readable forever.
//!
//! The byte also names a *layout revision* of a value whose shape changed while the encoding did not:
//! the record envelope is written with [`encode_layout_into`] under byte 2 since its second layout
//! (`ledger::log::envelope`, docs/schema-evolution.md), and its reader picks the layout by the byte
//! ([`layout_of`], [`decode_layout`]). Event payloads version themselves (`Payload.schema_version`).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The current format-version byte written in front of every encoded value.
pub const FORMAT_VERSION: u8 = 1;

/// The largest value the codec will decode, so that a corrupt length prefix inside bincode cannot make
/// the decoder allocate without bound.
pub const DECODE_BYTES_MAX: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("empty input: expected a format-version byte")]
    Empty,
    #[error("unknown format version {found} (this build reads version {FORMAT_VERSION})")]
    UnknownVersion { found: u8 },
    #[error("malformed bytes for {type_name}: {detail}")]
    Malformed {
        type_name: &'static str,
        detail: String,
    },
    #[error("{trailing} trailing bytes after a complete {type_name}")]
    Trailing {
        type_name: &'static str,
        trailing: usize,
    },
    #[error("cannot encode {type_name}: {detail}")]
    Encode {
        type_name: &'static str,
        detail: String,
    },
}

/// The largest folded state [`decode_state`] will decode: a writer's snapshot of a long stream (a
/// national month's period, ~100k dispensings, is tens of MB; issue #16 §1).
pub const STATE_BYTES_MAX: usize = 1024 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_BYTES_MAX>()
}

/// Encodes `value` as format-version byte + bincode.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256);
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Appends the encoding of `value` to `out` (format-version byte + bincode).
pub fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_layout_into(value, FORMAT_VERSION, out)
}

/// Appends the encoding of `value` under the layout byte `layout` (bincode 2, as [`encode_into`]).
pub fn encode_layout_into<T: Serialize>(
    value: &T,
    layout: u8,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    out.push(layout);
    bincode::serde::encode_into_std_write(value, out, config()).map_err(|error| {
        CodecError::Encode {
            type_name: std::any::type_name::<T>(),
            detail: error.to_string(),
        }
    })?;
    Ok(())
}

/// The layout byte of encoded bytes.
pub fn layout_of(bytes: &[u8]) -> Result<u8, CodecError> {
    bytes.first().copied().ok_or(CodecError::Empty)
}

/// Decodes bytes written by [`encode_layout_into`] under `layout`; another byte is an error.
pub fn decode_layout<T: DeserializeOwned>(bytes: &[u8], layout: u8) -> Result<T, CodecError> {
    let (&found, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if found != layout {
        return Err(CodecError::UnknownVersion { found });
    }
    decode_body(body)
}

/// Decodes bytes produced by [`encode`]. Unknown versions, garbage and trailing bytes are errors,
/// never panics.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(CodecError::UnknownVersion { found: version });
    }
    decode_body(body)
}

/// Decodes a folded state written by [`encode`] (a writer's snapshot), up to [`STATE_BYTES_MAX`]
/// instead of [`DECODE_BYTES_MAX`]; otherwise as [`decode`].
pub fn decode_state<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(CodecError::UnknownVersion { found: version });
    }
    decode_body_with(
        body,
        bincode::config::standard().with_limit::<STATE_BYTES_MAX>(),
    )
}

/// Decodes the bincode part of an encoding (after its format byte).
fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    decode_body_with(body, config())
}

fn decode_body_with<T: DeserializeOwned>(
    body: &[u8],
    config: impl bincode::config::Config,
) -> Result<T, CodecError> {
    let type_name = std::any::type_name::<T>();
    let (value, read) =
        bincode::serde::decode_from_slice::<T, _>(body, config).map_err(|error| {
            CodecError::Malformed {
                type_name,
                detail: error.to_string(),
            }
        })?;
    if read != body.len() {
        return Err(CodecError::Trailing {
            type_name,
            trailing: body.len() - read,
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        name: String,
        count: u64,
        tags: Vec<u32>,
    }

    #[test]
    fn round_trip() {
        let sample = Sample {
            name: "x".into(),
            count: 7,
            tags: vec![1, 2],
        };
        let bytes = encode(&sample).unwrap();
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode::<Sample>(&bytes).unwrap(), sample);
    }

    #[test]
    fn unknown_version_is_an_error() {
        let mut bytes = encode(&1u64).unwrap();
        bytes[0] = 99;
        assert_eq!(
            decode::<u64>(&bytes),
            Err(CodecError::UnknownVersion { found: 99 })
        );
    }

    #[test]
    fn empty_and_trailing_are_errors() {
        assert_eq!(decode::<u64>(&[]), Err(CodecError::Empty));
        let mut bytes = encode(&1u64).unwrap();
        bytes.push(0);
        assert!(matches!(
            decode::<u64>(&bytes),
            Err(CodecError::Trailing { trailing: 1, .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = decode::<Sample>(&bytes);
        }
    }
}
