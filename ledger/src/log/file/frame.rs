//! The byte format of a segment file: a fixed header, then framed records.
//!
//! Segment header ([`HEADER_BYTES`] = 32 bytes, little endian):
//! `magic[8] = "LDGRSEG\0" | format u32 | partition u32 | base_offset u64 | reserved u32 (0) | crc32c u32`
//! where the CRC covers the 28 bytes before it.
//!
//! Record frame: `[len_and_flags u32][crc32c u32][record bytes]` where
//! - `len_and_flags` is the record length in the low 31 bits and, in bit 31, the *continued* flag: set
//!   on every record of a multi-event command except its last. Recovery uses it to drop a command whose
//!   last record never reached the disk, so a command stays all-or-none across a crash.
//! - the CRC-32C covers the 4 `len_and_flags` bytes followed by the record bytes, so a damaged length or
//!   flag is caught like a damaged body.
//! - the record bytes are [`EventEnvelope::seal`](crate::log::EventEnvelope::seal) output:
//!   `codec(EnvelopeBody) ‖ chain hash[32]`.

/// The magic bytes at the start of every segment file.
pub const MAGIC: [u8; 8] = *b"LDGRSEG\0";

/// The segment format this build writes and reads.
pub const SEGMENT_FORMAT: u32 = 1;

/// Size of the segment header in bytes.
pub const HEADER_BYTES: usize = 32;

/// Size of a record frame's prefix (`len_and_flags` + CRC) in bytes.
pub const FRAME_PREFIX_BYTES: usize = 8;

/// The smallest valid record: a format-version byte, at least one body byte, and the 32-byte hash.
pub const RECORD_BYTES_MIN: usize = 34;

/// The largest valid record: the largest payload plus generous room for the envelope's other fields.
/// Anything longer is a damaged length, never a record this build wrote.
pub const RECORD_BYTES_MAX: usize = crate::log::envelope::PAYLOAD_BYTES_MAX + 64 * 1024;

const CONTINUED_FLAG: u32 = 1 << 31;
const LENGTH_MASK: u32 = CONTINUED_FLAG - 1;

/// The fields of a segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub partition: u32,
    pub base_offset: u64,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut bytes = [0u8; HEADER_BYTES];
        bytes[0..8].copy_from_slice(&MAGIC);
        bytes[8..12].copy_from_slice(&SEGMENT_FORMAT.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.partition.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.base_offset.to_le_bytes());
        // bytes[24..28] are reserved and zero.
        let crc = crc32c::crc32c(&bytes[0..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Parses a header; the error says what is wrong in words fit for an operator.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, String> {
        if bytes.len() < HEADER_BYTES {
            return Err(format!(
                "segment header is {} bytes, expected {HEADER_BYTES}",
                bytes.len()
            ));
        }
        if bytes[0..8] != MAGIC {
            return Err("segment header does not start with the magic \"LDGRSEG\"".to_owned());
        }
        let stored_crc = read_u32(bytes, 28);
        let computed_crc = crc32c::crc32c(&bytes[0..28]);
        if stored_crc != computed_crc {
            return Err(format!(
                "segment header CRC mismatch (stored {stored_crc:#010x}, computed {computed_crc:#010x})"
            ));
        }
        let format = read_u32(bytes, 8);
        if format != SEGMENT_FORMAT {
            return Err(format!(
                "segment format {format} is unknown (this build reads {SEGMENT_FORMAT})"
            ));
        }
        let base_offset = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
        Ok(SegmentHeader {
            partition: read_u32(bytes, 12),
            base_offset,
        })
    }
}

/// Appends one framed record to `out`.
#[cfg(test)]
pub fn push_frame(out: &mut Vec<u8>, record: &[u8], continued: bool) {
    push_frame_parts(out, record, &[], continued);
}

/// Appends one framed record whose bytes are `head ‖ tail` to `out`, without first joining them (the
/// writer frames `codec(body)` and the chain hash this way).
pub fn push_frame_parts(out: &mut Vec<u8>, head: &[u8], tail: &[u8], continued: bool) {
    let record_bytes = head.len() + tail.len();
    assert!(
        record_bytes >= RECORD_BYTES_MIN,
        "record of {record_bytes} bytes is too short"
    );
    assert!(
        record_bytes <= RECORD_BYTES_MAX,
        "record of {record_bytes} bytes is too long"
    );
    let length = u32::try_from(record_bytes).expect("RECORD_BYTES_MAX fits in u32");
    let len_and_flags = if continued {
        length | CONTINUED_FLAG
    } else {
        length
    };
    let prefix = len_and_flags.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&prefix), head), tail);
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(head);
    out.extend_from_slice(tail);
}

/// The size of the frame of a record of `record_bytes` bytes.
pub fn frame_bytes(record_bytes: usize) -> usize {
    FRAME_PREFIX_BYTES + record_bytes
}

/// A well-formed frame found in a byte slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub record: &'a [u8],
    /// More records of the same command follow.
    pub continued: bool,
}

impl Frame<'_> {
    /// Bytes the frame occupies, prefix included.
    pub fn size(&self) -> usize {
        frame_bytes(self.record.len())
    }
}

/// Why the bytes at a position are not a well-formed frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than a frame prefix remain.
    ShortPrefix { available: usize },
    /// The length field is outside [`RECORD_BYTES_MIN`, `RECORD_BYTES_MAX`].
    BadLength { length: u32 },
    /// The frame claims more bytes than remain.
    ShortRecord { length: u32, available: usize },
    /// The CRC over the length and the record does not match.
    CrcMismatch { stored: u32, computed: u32 },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::ShortPrefix { available } => {
                write!(
                    f,
                    "only {available} bytes remain, fewer than a {FRAME_PREFIX_BYTES}-byte frame prefix"
                )
            }
            FrameError::BadLength { length } => write!(
                f,
                "record length {length} is outside the valid range {RECORD_BYTES_MIN}..={RECORD_BYTES_MAX}"
            ),
            FrameError::ShortRecord { length, available } => {
                write!(
                    f,
                    "record length {length} exceeds the {available} bytes that remain"
                )
            }
            FrameError::CrcMismatch { stored, computed } => {
                write!(
                    f,
                    "CRC-32C mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )
            }
        }
    }
}

/// Parses the frame at the start of `bytes`.
pub fn parse_frame(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    if bytes.len() < FRAME_PREFIX_BYTES {
        return Err(FrameError::ShortPrefix {
            available: bytes.len(),
        });
    }
    let len_and_flags = read_u32(bytes, 0);
    let length = len_and_flags & LENGTH_MASK;
    let length_bytes = usize::try_from(length).expect("u32 fits in usize");
    if !(RECORD_BYTES_MIN..=RECORD_BYTES_MAX).contains(&length_bytes) {
        return Err(FrameError::BadLength { length });
    }
    let available = bytes.len() - FRAME_PREFIX_BYTES;
    if length_bytes > available {
        return Err(FrameError::ShortRecord { length, available });
    }
    let record = &bytes[FRAME_PREFIX_BYTES..FRAME_PREFIX_BYTES + length_bytes];
    let stored = read_u32(bytes, 4);
    let computed = crc32c::crc32c_append(crc32c::crc32c(&bytes[0..4]), record);
    if stored != computed {
        return Err(FrameError::CrcMismatch { stored, computed });
    }
    Ok(Frame {
        record,
        continued: len_and_flags & CONTINUED_FLAG != 0,
    })
}

/// Whether any well-formed frame starts anywhere in `bytes` after its first byte. Used to tell a torn
/// tail (nothing valid follows the damage) from damage in the middle of a segment (valid records
/// follow). Costs one CRC per plausible length, so only the damage path pays for it.
pub fn any_frame_after(bytes: &[u8]) -> bool {
    (1..bytes.len()).any(|start| parse_frame(&bytes[start..]).is_ok())
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fill: u8, length: usize) -> Vec<u8> {
        vec![fill; length]
    }

    #[test]
    fn header_round_trips_and_detects_damage() {
        let header = SegmentHeader {
            partition: 3,
            base_offset: 1 << 40,
        };
        let bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        for index in 0..HEADER_BYTES {
            let mut damaged = bytes;
            damaged[index] ^= 0x01;
            assert!(
                SegmentHeader::decode(&damaged).is_err(),
                "flip at byte {index} went unnoticed"
            );
        }
        assert!(SegmentHeader::decode(&bytes[..31]).is_err());
    }

    #[test]
    fn frame_round_trips_with_flag() {
        let mut out = Vec::new();
        push_frame(&mut out, &record(7, 40), true);
        push_frame(&mut out, &record(9, 50), false);
        let first = parse_frame(&out).unwrap();
        assert_eq!((first.record.len(), first.continued), (40, true));
        let second = parse_frame(&out[first.size()..]).unwrap();
        assert_eq!((second.record.len(), second.continued), (50, false));
        assert_eq!(first.size() + second.size(), out.len());
    }

    #[test]
    fn every_single_byte_flip_in_a_frame_is_detected() {
        let mut out = Vec::new();
        push_frame(&mut out, &record(5, 64), false);
        for index in 0..out.len() {
            for bit in 0..8 {
                let mut damaged = out.clone();
                damaged[index] ^= 1 << bit;
                assert!(
                    parse_frame(&damaged).is_err(),
                    "flip of bit {bit} at byte {index} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn torn_frames_are_short() {
        let mut out = Vec::new();
        push_frame(&mut out, &record(5, 64), false);
        assert!(matches!(
            parse_frame(&out[..5]),
            Err(FrameError::ShortPrefix { available: 5 })
        ));
        assert!(matches!(
            parse_frame(&out[..20]),
            Err(FrameError::ShortRecord { length: 64, .. })
        ));
        assert!(matches!(
            parse_frame(&[0u8; 16]),
            Err(FrameError::BadLength { length: 0 })
        ));
    }

    #[test]
    fn a_valid_frame_after_damage_is_found() {
        let mut out = vec![0u8; 10];
        assert!(!any_frame_after(&out));
        push_frame(&mut out, &record(5, 64), false);
        assert!(any_frame_after(&out));
    }
}
