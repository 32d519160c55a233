//! The index file of a segment (`<base offset>.idx` beside `<base offset>.seg`): what
//! [`super::FileLog::open`] needs to index the segment's records without reading them, and the
//! checkpoint it describes (the bytes covered and the chain hash at their end), so that open verifies
//! only what comes after it.
//!
//! Layout ([`HEADER_BYTES`] = 128 bytes of header, then the body; integers little endian):
//!
//! ```text
//! magic[8] = "LDGRIDX\0" | format u32 | partition u32 | base_offset u64 | records u64 |
//! covered_bytes u64 | start_head[32] | end_head[32] | body_bytes u64 | body_crc32c u32 |
//! reserved[8] = 0 | header_crc32c u32 (over the 124 bytes before it)
//! body = streams u32, per stream: id_len u32, id bytes (UTF-8), first_version u64
//!        per record (`records` of them): frame_bytes u32, stream u32 (index into the streams)
//!        commands u32, per command: id[16], first_record u32, records u32
//! ```
//!
//! `covered_bytes` is the segment's length the table describes (header included): all of a sealed
//! segment, or the prefix of the open segment written at a clean close. `start_head` is the chain hash
//! the segment's first record links from, `end_head` the stored hash of its last covered record.
//! Decoding checks both CRCs, the format and the table's own consistency (frame sizes adding up to the
//! covered bytes, commands covering the records in order, each on one stream); whether the table
//! matches the segment on disk is the loader's business ([`super::restore`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::frame::{
    self, HEADER_BYTES as SEGMENT_HEADER_BYTES, RECORD_BYTES_MAX, RECORD_BYTES_MIN,
};
use super::layout::sync_dir;
use crate::log::envelope::ChainHash;
use crate::log::error::LogError;
use crate::log::ids::{CommandId, StreamId};

/// The index file format this build writes and reads.
pub const INDEX_FORMAT: u32 = 1;

/// Size of the index file header in bytes.
pub const HEADER_BYTES: usize = 128;

const MAGIC: [u8; 8] = *b"LDGRIDX\0";

/// The suffix of index files (the segment's file name with `.idx` for `.seg`).
pub const INDEX_EXTENSION: &str = "idx";

/// One record of a segment: its frame size and its stream (an index into [`SegmentTable::streams`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRecord {
    pub frame_bytes: u32,
    pub stream: u32,
}

/// One command of a segment: its records are `records[first .. first + count]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableCommand {
    pub id: CommandId,
    pub first: u32,
    pub count: u32,
}

/// What a segment's index file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentTable {
    pub partition: u32,
    pub base_offset: u64,
    /// Bytes of the segment described, its header included.
    pub covered_bytes: u64,
    /// The chain hash the first record links from.
    pub start_head: ChainHash,
    /// The stored chain hash of the last covered record (`start_head` when there is none).
    pub end_head: ChainHash,
    /// The streams of the records, each with the version of its first record in the segment.
    pub streams: Vec<(StreamId, u64)>,
    pub records: Vec<TableRecord>,
    pub commands: Vec<TableCommand>,
}

/// The index file of the segment at `segment`.
pub fn index_path(segment: &Path) -> PathBuf {
    segment.with_extension(INDEX_EXTENSION)
}

impl SegmentTable {
    /// The file bytes: header and body.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.records.len() * 8 + self.commands.len() * 24 + 64);
        body.extend_from_slice(&len_u32(self.streams.len()).to_le_bytes());
        for (stream, first_version) in &self.streams {
            body.extend_from_slice(&len_u32(stream.as_str().len()).to_le_bytes());
            body.extend_from_slice(stream.as_str().as_bytes());
            body.extend_from_slice(&first_version.to_le_bytes());
        }
        for record in &self.records {
            body.extend_from_slice(&record.frame_bytes.to_le_bytes());
            body.extend_from_slice(&record.stream.to_le_bytes());
        }
        body.extend_from_slice(&len_u32(self.commands.len()).to_le_bytes());
        for command in &self.commands {
            body.extend_from_slice(command.id.0.as_bytes());
            body.extend_from_slice(&command.first.to_le_bytes());
            body.extend_from_slice(&command.count.to_le_bytes());
        }
        let mut bytes = Vec::with_capacity(HEADER_BYTES + body.len());
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&INDEX_FORMAT.to_le_bytes());
        bytes.extend_from_slice(&self.partition.to_le_bytes());
        bytes.extend_from_slice(&self.base_offset.to_le_bytes());
        bytes.extend_from_slice(&(self.records.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&self.covered_bytes.to_le_bytes());
        bytes.extend_from_slice(&self.start_head.0);
        bytes.extend_from_slice(&self.end_head.0);
        bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        bytes.extend_from_slice(&[0u8; 8]);
        let header_crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&header_crc.to_le_bytes());
        debug_assert_eq!(bytes.len(), HEADER_BYTES);
        bytes.extend_from_slice(&body);
        bytes
    }

    /// Parses and checks an index file; the error says what is wrong, for the warning.
    pub fn decode(bytes: &[u8]) -> Result<SegmentTable, String> {
        let header = check_header(bytes)?;
        let mut reader = Reader {
            bytes: &bytes[HEADER_BYTES..],
            at: 0,
        };
        let stream_count = reader.u32()?;
        let mut streams = Vec::new();
        for _ in 0..stream_count {
            let length = usize::try_from(reader.u32()?).expect("u32 fits in usize");
            let text = std::str::from_utf8(reader.take(length)?)
                .map_err(|_| "a stream id is not UTF-8".to_owned())?;
            let stream = StreamId::new(text).map_err(|error| error.to_string())?;
            streams.push((stream, reader.u64()?));
        }
        let record_count = usize::try_from(header.records).map_err(|_| "too many records")?;
        if record_count > reader.remaining() / 8 {
            return Err(format!("{record_count} records do not fit the body"));
        }
        let mut records = Vec::with_capacity(record_count);
        for _ in 0..record_count {
            records.push(TableRecord {
                frame_bytes: reader.u32()?,
                stream: reader.u32()?,
            });
        }
        let command_count = usize::try_from(reader.u32()?).expect("u32 fits in usize");
        if command_count > reader.remaining() / 24 {
            return Err(format!("{command_count} commands do not fit the body"));
        }
        let mut commands = Vec::with_capacity(command_count);
        for _ in 0..command_count {
            let id = Uuid::from_bytes(reader.take(16)?.try_into().expect("16 bytes"));
            commands.push(TableCommand {
                id: CommandId(id),
                first: reader.u32()?,
                count: reader.u32()?,
            });
        }
        if reader.remaining() != 0 {
            return Err(format!("{} bytes after the tables", reader.remaining()));
        }
        let table = SegmentTable {
            partition: header.partition,
            base_offset: header.base_offset,
            covered_bytes: header.covered_bytes,
            start_head: header.start_head,
            end_head: header.end_head,
            streams,
            records,
            commands,
        };
        table.check()?;
        Ok(table)
    }

    /// The table's own consistency: frame sizes add up to the covered bytes, the commands cover the
    /// records in order, each command's records are on one stream.
    fn check(&self) -> Result<(), String> {
        let frame_range =
            frame::frame_bytes(RECORD_BYTES_MIN)..=frame::frame_bytes(RECORD_BYTES_MAX);
        let mut bytes = SEGMENT_HEADER_BYTES as u64;
        for record in &self.records {
            let size = usize::try_from(record.frame_bytes).expect("u32 fits in usize");
            if !frame_range.contains(&size) || record.stream as usize >= self.streams.len() {
                return Err(format!(
                    "a record has frame size {size} or stream {}",
                    record.stream
                ));
            }
            bytes += u64::from(record.frame_bytes);
        }
        if bytes != self.covered_bytes {
            return Err(format!(
                "the frames add up to {bytes} bytes, the table covers {}",
                self.covered_bytes
            ));
        }
        let mut ids = std::collections::HashSet::with_capacity(self.streams.len());
        if !self
            .streams
            .iter()
            .all(|(stream, _)| ids.insert(stream.as_str()))
        {
            return Err("a stream is listed twice".to_owned());
        }
        let mut next = 0usize;
        for command in &self.commands {
            let first = command.first as usize;
            let end = first + command.count as usize;
            if first != next || command.count == 0 || end > self.records.len() {
                return Err(format!(
                    "command {} does not follow the one before",
                    command.id
                ));
            }
            let stream = self.records[first].stream;
            if self.records[first..end]
                .iter()
                .any(|record| record.stream != stream)
            {
                return Err(format!("command {} spans streams", command.id));
            }
            next = end;
        }
        if next != self.records.len() {
            return Err("the commands do not cover every record".to_owned());
        }
        if self.records.is_empty() && self.end_head != self.start_head {
            return Err("an empty table must end at the head it starts from".to_owned());
        }
        Ok(())
    }
}

/// The header fields the body parse needs.
struct Header {
    partition: u32,
    base_offset: u64,
    records: u64,
    covered_bytes: u64,
    start_head: ChainHash,
    end_head: ChainHash,
}

fn check_header(bytes: &[u8]) -> Result<Header, String> {
    if bytes.len() < HEADER_BYTES {
        return Err(format!(
            "{} bytes, shorter than the {HEADER_BYTES}-byte header",
            bytes.len()
        ));
    }
    if bytes[0..8] != MAGIC {
        return Err("no \"LDGRIDX\" magic".to_owned());
    }
    let stored = u32_at(bytes, 124);
    let computed = crc32c::crc32c(&bytes[0..124]);
    if stored != computed {
        return Err(format!(
            "header CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
        ));
    }
    let format = u32_at(bytes, 8);
    if format != INDEX_FORMAT {
        return Err(format!(
            "index format {format} is unknown (this build reads {INDEX_FORMAT})"
        ));
    }
    let body_bytes = u64_at(bytes, 104);
    let body = &bytes[HEADER_BYTES..];
    if body.len() as u64 != body_bytes {
        return Err(format!(
            "body is {} bytes, the header says {body_bytes} (truncated?)",
            body.len()
        ));
    }
    let stored = u32_at(bytes, 112);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(format!(
            "body CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
        ));
    }
    Ok(Header {
        partition: u32_at(bytes, 12),
        base_offset: u64_at(bytes, 16),
        records: u64_at(bytes, 24),
        covered_bytes: u64_at(bytes, 32),
        start_head: ChainHash(bytes[40..72].try_into().expect("32 bytes")),
        end_head: ChainHash(bytes[72..104].try_into().expect("32 bytes")),
    })
}

/// Writes an index file atomically: a temporary file beside it, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let temporary = path.with_extension("idx.tmp");
    let mut file =
        std::fs::File::create(&temporary).map_err(|error| LogError::io(&temporary, error))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|error| LogError::io(&temporary, error))?;
    std::fs::rename(&temporary, path).map_err(|error| LogError::io(path, error))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    sync_dir(dir)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8], String> {
        if length > self.remaining() {
            return Err(format!(
                "the body ends {} bytes into a field of {length}",
                self.remaining()
            ));
        }
        let taken = &self.bytes[self.at..self.at + length];
        self.at += length;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

fn len_u32(length: usize) -> u32 {
    u32::try_from(length).expect("a segment holds fewer than 2^32 records and streams")
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}
