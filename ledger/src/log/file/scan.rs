//! Scanning a partition's segments: rebuilds the index and finds the first problem, if any.
//!
//! One scan serves four callers: opening for writing (repairs a torn tail, refuses anything else),
//! opening read-only (ignores a torn tail, refuses anything else), `verify` (reports everything) and
//! [`super::FileLog::refresh`] of a read-only log, which continues from a [`Resume`] point so that it
//! reads only the bytes the writer appended since the last scan.
//!
//! A problem is a *tail* problem only when nothing valid follows it: damage in the last segment after
//! which no well-formed frame can be found, or a multi-event command whose final record is missing at
//! the very end. A crash mid-write produces exactly that. Anything else (a bad frame followed by valid
//! ones, a broken hash chain, an undecodable body, a stream version gap) is corruption of committed
//! history and is never skipped.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::frame::{self, FrameError, HEADER_BYTES, SegmentHeader};
use super::index::{Index, IndexedRecord, RecordLocation, SegmentRef};
use super::layout::Layout;
use crate::log::envelope::{ChainHash, EventEnvelope};
use crate::log::error::LogError;
use crate::log::ids::{
    CommandId, Offset, PartitionId, Position, StreamId, StreamVersion, partition_of,
};

/// How segment files are opened for the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// The first problem found in a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The logical position of the first record that is not good (the partition's end for a tail).
    pub position: Position,
    pub path: PathBuf,
    pub byte_offset: u64,
    pub kind: ProblemKind,
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The segment header is damaged or does not match where the segment sits.
    BadHeader(String),
    /// A damaged frame (length or CRC) with valid records after it.
    BadFrame(FrameError),
    /// Damaged or partial bytes at the very end of the partition with nothing valid after them: what a
    /// crash mid-write leaves. Opening for writing truncates them.
    TornTail { bytes: u64, detail: String },
    /// The partition ends inside a multi-event command: its final record never reached the disk.
    /// Opening for writing truncates the command's records.
    IncompleteCommand { records: u64 },
    /// The record's stored hash does not chain from its predecessor.
    ChainBreak,
    /// The record passed its CRC but its body does not decode.
    Undecodable(String),
    /// The record's stream belongs on another partition.
    WrongPartition {
        stream: StreamId,
        expected: PartitionId,
    },
    /// The record's stream version does not follow the stream's previous version.
    VersionGap {
        stream: StreamId,
        expected: StreamVersion,
        found: StreamVersion,
    },
    /// A command's records are not contiguous, or a command continues into another command.
    CommandMismatch(String),
}

impl ProblemKind {
    /// Whether the problem is the remains of an interrupted write, which opening for writing repairs.
    pub fn is_tail(&self) -> bool {
        matches!(
            self,
            ProblemKind::TornTail { .. } | ProblemKind::IncompleteCommand { .. }
        )
    }
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProblemKind::BadHeader(detail) => write!(f, "bad segment header: {detail}"),
            ProblemKind::BadFrame(error) => {
                write!(f, "damaged record followed by valid records: {error}")
            }
            ProblemKind::TornTail { bytes, detail } => {
                write!(f, "torn tail of {bytes} bytes: {detail}")
            }
            ProblemKind::IncompleteCommand { records } => {
                write!(
                    f,
                    "the last command is incomplete: {records} records without their final record"
                )
            }
            ProblemKind::ChainBreak => write!(
                f,
                "hash chain break: the stored hash does not chain from the previous record"
            ),
            ProblemKind::Undecodable(detail) => write!(f, "record body does not decode: {detail}"),
            ProblemKind::WrongPartition { stream, expected } => {
                write!(f, "stream \"{stream}\" belongs on partition {expected}")
            }
            ProblemKind::VersionGap {
                stream,
                expected,
                found,
            } => {
                write!(
                    f,
                    "stream version gap: stream \"{stream}\" expected version {expected}, found {found}"
                )
            }
            ProblemKind::CommandMismatch(detail) => {
                write!(f, "command records out of order: {detail}")
            }
        }
    }
}

/// Where to cut a partition to remove a tail problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailCut {
    /// Index into [`PartitionScan::segments`].
    pub segment: usize,
    /// Bytes of the segment to keep; below [`HEADER_BYTES`] the segment file is removed.
    pub keep_bytes: u64,
}

/// Where a partition's scan stopped, so that a later scan can continue there: after the last complete
/// command of the last indexed segment. Nothing after `end` is in the index (a torn frame or a command
/// whose final record is missing is read again next time, when the writer may have finished it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resume {
    /// Segments of the partition already in the index.
    pub segments: usize,
    /// Bytes of the last indexed segment that hold complete commands (its header included).
    pub end: u64,
    /// Bytes of the indexed segments before the last one.
    pub before_last: u64,
    /// Bytes of the last indexed segment as last read (`end` plus any unadmitted tail).
    pub last: u64,
}

impl Resume {
    /// Bytes of the indexed segment files as last read.
    pub fn bytes(&self) -> u64 {
        self.before_last + self.last
    }

    /// Counts a segment whose first `covered` bytes are in the index already (from its index file):
    /// the scan continues in it from there.
    pub fn push_indexed(&mut self, covered: u64) {
        self.before_last += self.last;
        self.last = covered;
        self.segments += 1;
        self.end = covered;
    }

    fn push_segment(&mut self, length: u64) {
        self.before_last += self.last;
        self.last = length;
        self.segments += 1;
        self.end = u64::try_from(HEADER_BYTES).expect("fits");
    }
}

/// The result of scanning one partition.
#[derive(Debug)]
pub struct PartitionScan {
    pub segments: Vec<PathBuf>,
    pub records: u64,
    pub bytes: u64,
    pub head: ChainHash,
    pub problem: Option<Problem>,
    pub cut: Option<TailCut>,
    /// Where a later scan continues.
    pub resume: Resume,
    /// Segment bytes this scan read from disk.
    pub bytes_read: u64,
}

/// A record of a multi-event command held back until the command's final record is seen.
struct PendingRecord {
    location: RecordLocation,
    stream: StreamId,
    version: StreamVersion,
    command_id: CommandId,
    hash: ChainHash,
}

/// The scan's running state across a partition's segments.
struct Cursor<'a> {
    partition: PartitionId,
    partitions: u32,
    index: &'a mut Index,
    head: ChainHash,
    pending: Vec<PendingRecord>,
    /// Byte position of the first pending record (where a cut for an incomplete command goes).
    pending_start: u64,
    resume: Resume,
}

impl Cursor<'_> {
    fn next_offset(&self) -> u64 {
        let indexed = self.index.partition(self.partition).next_offset();
        indexed + u64::try_from(self.pending.len()).expect("usize fits in u64")
    }
}

/// Scans every segment of `partition`, adding good records to `index` and segment handles opened with
/// `access`. Stops at the first problem. Errors are I/O failures only.
pub fn scan_partition(
    layout: &Layout,
    partition: PartitionId,
    partitions: u32,
    index: &mut Index,
    access: Access,
) -> Result<PartitionScan, LogError> {
    scan_partition_from(
        layout,
        partition,
        partitions,
        index,
        access,
        Resume::default(),
    )
}

/// Continues the scan of `partition` from `resume` (where an earlier scan into the same `index`
/// stopped): reads the last indexed segment from `resume.end` on and every newer segment whole, with
/// the same checks as a scan from the start. `Resume::default()` scans from the start.
pub fn scan_partition_from(
    layout: &Layout,
    partition: PartitionId,
    partitions: u32,
    index: &mut Index,
    access: Access,
    resume: Resume,
) -> Result<PartitionScan, LogError> {
    let listed = layout.list_segments(partition)?;
    check_resume(layout, index, partition, &listed, resume)?;
    let mut cursor = Cursor {
        partition,
        partitions,
        head: index.partition(partition).head,
        index,
        pending: Vec::new(),
        pending_start: 0,
        resume,
    };
    let mut scan = PartitionScan {
        segments: Vec::new(),
        records: 0,
        bytes: 0,
        head: ChainHash::GENESIS,
        problem: None,
        cut: None,
        resume,
        bytes_read: 0,
    };
    let first = resume.segments.saturating_sub(1);
    for (segment_number, (base_offset, path)) in listed.iter().enumerate().skip(first) {
        let is_last = segment_number + 1 == listed.len();
        let problem = if segment_number < resume.segments {
            continue_segment(&mut cursor, &mut scan, path, is_last)?
        } else {
            new_segment(
                &mut cursor,
                &mut scan,
                (*base_offset, path),
                access,
                is_last,
            )?
        };
        if let Some((problem, keep_bytes)) = problem {
            let cut = problem.kind.is_tail().then_some(TailCut {
                segment: scan.segments.len() - 1,
                keep_bytes,
            });
            return Ok(finish(scan, cursor, Some(problem), cut));
        }
    }
    Ok(finish(scan, cursor, None, None))
}

/// Refuses to continue a scan whose segments are no longer where the index has them.
fn check_resume(
    layout: &Layout,
    index: &Index,
    partition: PartitionId,
    listed: &[(u64, PathBuf)],
    resume: Resume,
) -> Result<(), LogError> {
    let indexed = &index.partition(partition).segments;
    let Some(last) = resume.segments.checked_sub(1) else {
        return Ok(());
    };
    match listed.get(last) {
        Some((_, path)) if indexed.len() == resume.segments && *path == *indexed[last].path => {
            Ok(())
        }
        _ => Err(LogError::Invalid(format!(
            "the segments of partition {partition} in {} changed under a reader: segment {} of {} is \
             no longer in place; reopen the log",
            layout.partition_dir(partition).display(),
            last + 1,
            resume.segments
        ))),
    }
}

/// Scans a segment the index does not have yet: checks its header, indexes it and scans its frames.
fn new_segment(
    cursor: &mut Cursor<'_>,
    scan: &mut PartitionScan,
    (base_offset, path): (u64, &PathBuf),
    access: Access,
    is_last: bool,
) -> Result<Option<(Problem, u64)>, LogError> {
    let bytes = std::fs::read(path).map_err(|error| LogError::io(path, error))?;
    let length = u64::try_from(bytes.len()).expect("usize fits in u64");
    scan.segments.push(path.clone());
    scan.bytes += length;
    scan.bytes_read += length;
    if let Err(problem) = check_header(cursor, &bytes, base_offset, path, is_last) {
        return Ok(Some((problem, 0)));
    }
    let file = open_segment(path, access)?;
    let partition_index = cursor.index.partition_mut(cursor.partition);
    let segment_index =
        u32::try_from(partition_index.segments.len()).expect("segment count fits in u32");
    partition_index.segments.push(SegmentRef {
        path: Arc::from(path.as_path()),
        file: Arc::new(file),
    });
    cursor.resume.push_segment(length);
    let frames = &bytes[HEADER_BYTES..];
    let base = u64::try_from(HEADER_BYTES).expect("fits");
    Ok(scan_segment(
        cursor,
        frames,
        base,
        segment_index,
        path,
        is_last,
    ))
}

/// Continues the scan of the last indexed segment from where the previous scan stopped, reading
/// only the bytes after that point.
fn continue_segment(
    cursor: &mut Cursor<'_>,
    scan: &mut PartitionScan,
    path: &PathBuf,
    is_last: bool,
) -> Result<Option<(Problem, u64)>, LogError> {
    let start = cursor.resume.end;
    let mut file = File::open(path).map_err(|error| LogError::io(path, error))?;
    let length = file
        .metadata()
        .map_err(|error| LogError::io(path, error))?
        .len();
    if length < start {
        return Err(LogError::CorruptSegment {
            path: path.clone(),
            byte_offset: length,
            detail: format!(
                "the segment shrank to {length} bytes below the {start} bytes already read; \
                 segments are append-only, so it was truncated or replaced: reopen the log"
            ),
        });
    }
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|error| LogError::io(path, error))?;
    let read = u64::try_from(bytes.len()).expect("usize fits in u64");
    scan.segments.push(path.clone());
    scan.bytes += read;
    scan.bytes_read += read;
    cursor.resume.last = start + read;
    let segment_index = u32::try_from(cursor.resume.segments - 1).expect("fits in u32");
    Ok(scan_segment(
        cursor,
        &bytes,
        start,
        segment_index,
        path,
        is_last,
    ))
}

fn finish(
    mut scan: PartitionScan,
    cursor: Cursor<'_>,
    problem: Option<Problem>,
    cut: Option<TailCut>,
) -> PartitionScan {
    let partition_index = cursor.index.partition_mut(cursor.partition);
    scan.records = partition_index.next_offset();
    scan.head = partition_index.head;
    // A scan from the start counts every file it read (a torn tail too, which repair subtracts); a
    // continued scan knows only the indexed files.
    partition_index.bytes = if scan.resume.segments == 0 {
        scan.bytes
    } else {
        cursor.resume.bytes()
    };
    scan.problem = problem;
    scan.cut = cut;
    scan.resume = cursor.resume;
    scan
}

fn open_segment(path: &Path, access: Access) -> Result<File, LogError> {
    let mut options = OpenOptions::new();
    options.read(true).write(access == Access::ReadWrite);
    options
        .open(path)
        .map_err(|error| LogError::io(path, error))
}

fn check_header(
    cursor: &Cursor<'_>,
    bytes: &[u8],
    base_offset: u64,
    path: &Path,
    is_last: bool,
) -> Result<(), Problem> {
    let position = Position {
        partition: cursor.partition,
        offset: Offset(cursor.next_offset()),
    };
    let problem = |kind| Problem {
        position,
        path: path.to_path_buf(),
        byte_offset: 0,
        kind,
    };
    if !cursor.pending.is_empty() {
        let detail = "a command's records continue past the end of the previous segment".to_owned();
        return Err(problem(ProblemKind::CommandMismatch(detail)));
    }
    let header = match SegmentHeader::decode(bytes) {
        Ok(header) => header,
        // A segment is created by writing its header and syncing it; a crash before that leaves a
        // short or all-zero file, which is a torn tail only if it is the last segment.
        Err(detail)
            if is_last && (bytes.len() < HEADER_BYTES || bytes.iter().all(|&byte| byte == 0)) =>
        {
            let bytes = u64::try_from(bytes.len()).expect("usize fits in u64");
            return Err(problem(ProblemKind::TornTail { bytes, detail }));
        }
        Err(detail) => return Err(problem(ProblemKind::BadHeader(detail))),
    };
    if header.partition != cursor.partition.0 {
        let detail = format!(
            "header names partition {}, but the file is in partition {}",
            header.partition, cursor.partition
        );
        return Err(problem(ProblemKind::BadHeader(detail)));
    }
    if header.base_offset != base_offset || base_offset != cursor.next_offset() {
        let detail = format!(
            "header base offset {} and file name offset {base_offset} must both equal the partition's next offset {}",
            header.base_offset,
            cursor.next_offset()
        );
        return Err(problem(ProblemKind::BadHeader(detail)));
    }
    Ok(())
}

/// Scans the frames of one segment: `bytes` are its bytes from file position `base` on. On a problem
/// returns it with the number of bytes to keep if the problem is a tail problem.
fn scan_segment(
    cursor: &mut Cursor<'_>,
    bytes: &[u8],
    base: u64,
    segment_index: u32,
    path: &Path,
    is_last: bool,
) -> Option<(Problem, u64)> {
    let mut at = 0;
    while at < bytes.len() {
        let byte_position = base + u64::try_from(at).expect("usize fits in u64");
        let position = Position {
            partition: cursor.partition,
            offset: Offset(cursor.next_offset()),
        };
        let problem = |kind| Problem {
            position,
            path: path.to_path_buf(),
            byte_offset: byte_position,
            kind,
        };
        let frame = match frame::parse_frame(&bytes[at..]) {
            Ok(frame) => frame,
            Err(error) if is_last && !frame::any_frame_after(&bytes[at..]) => {
                let torn = u64::try_from(bytes.len() - at).expect("usize fits in u64");
                let kind = ProblemKind::TornTail {
                    bytes: torn,
                    detail: error.to_string(),
                };
                return Some((problem(kind), tail_keep(cursor, byte_position)));
            }
            Err(error) => return Some((problem(ProblemKind::BadFrame(error)), 0)),
        };
        let frame_bytes = u32::try_from(frame.size()).expect("frames are below 4 GiB");
        let location = RecordLocation {
            segment: segment_index,
            frame_bytes,
            byte_position,
        };
        if let Err(kind) = accept_frame(cursor, frame, location) {
            return Some((problem(kind), 0));
        }
        at += frame.size();
    }
    if is_last && !cursor.pending.is_empty() {
        let records = u64::try_from(cursor.pending.len()).expect("usize fits in u64");
        let offset = cursor.index.partition(cursor.partition).next_offset();
        let position = Position {
            partition: cursor.partition,
            offset: Offset(offset),
        };
        let kind = ProblemKind::IncompleteCommand { records };
        let problem = Problem {
            position,
            path: path.to_path_buf(),
            byte_offset: cursor.pending_start,
            kind,
        };
        return Some((problem, cursor.pending_start));
    }
    None
}

/// Bytes to keep when cutting a torn tail at `byte_position`: everything before the torn bytes, minus
/// any incomplete command in front of them.
fn tail_keep(cursor: &Cursor<'_>, byte_position: u64) -> u64 {
    if cursor.pending.is_empty() {
        byte_position
    } else {
        cursor.pending_start
    }
}

/// Checks one well-formed frame against the chain, the codec and the stream and command order, and
/// adds it to the index (or holds it back while its command is incomplete).
fn accept_frame(
    cursor: &mut Cursor<'_>,
    frame: frame::Frame<'_>,
    location: RecordLocation,
) -> Result<(), ProblemKind> {
    let hash =
        EventEnvelope::verify_link(&cursor.head, frame.record).ok_or(ProblemKind::ChainBreak)?;
    let position = Position {
        partition: cursor.partition,
        offset: Offset(cursor.next_offset()),
    };
    let envelope = EventEnvelope::decode(position, frame.record)
        .map_err(|error| ProblemKind::Undecodable(error.to_string()))?;
    let body = envelope.body;
    let expected_partition = partition_of(&body.stream, cursor.partitions);
    if expected_partition != cursor.partition {
        return Err(ProblemKind::WrongPartition {
            stream: body.stream,
            expected: expected_partition,
        });
    }
    let expected = match cursor.pending.last() {
        Some(previous)
            if previous.stream != body.stream || previous.command_id != body.command_id =>
        {
            let detail = format!(
                "command {} on stream \"{}\" continues into command {} on stream \"{}\"",
                previous.command_id, previous.stream, body.command_id, body.stream
            );
            return Err(ProblemKind::CommandMismatch(detail));
        }
        Some(previous) => previous.version.next(),
        None => cursor.index.stream_version(&body.stream).next(),
    };
    if body.stream_version != expected {
        return Err(ProblemKind::VersionGap {
            stream: body.stream,
            expected,
            found: body.stream_version,
        });
    }
    if cursor.pending.is_empty() {
        cursor.pending_start = location.byte_position;
    }
    cursor.head = hash;
    let record = PendingRecord {
        location,
        stream: body.stream,
        version: body.stream_version,
        command_id: body.command_id,
        hash,
    };
    cursor.pending.push(record);
    if frame.continued {
        return Ok(());
    }
    cursor.resume.end = location.byte_position + u64::from(location.frame_bytes);
    for record in std::mem::take(&mut cursor.pending) {
        let indexed = IndexedRecord {
            partition: cursor.partition,
            location: record.location,
            stream: &record.stream,
            version: record.version,
            command_id: record.command_id,
            hash: record.hash,
        };
        cursor
            .index
            .push(indexed)
            .map_err(ProblemKind::CommandMismatch)?;
    }
    Ok(())
}
