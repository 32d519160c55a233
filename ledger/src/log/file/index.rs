//! The in-memory indexes of the embedded log, rebuilt on open from the segments' index files
//! ([`super::restore`]) and a scan of what they do not cover.
//!
//! Scale assumptions: everything is held in memory. Per record: 16 bytes of location plus 8 bytes in
//! its stream's version list; per command: about 60 bytes in the command map; per stream: its id and
//! a map entry (about 100 bytes). One million events therefore cost about 50–100 MB, which is fine for
//! the pilot volumes (a year of two jurisdictions is well under 10M events). Beyond that the sealed
//! segments' tables should stay in their index files (read with positional reads, command ids behind
//! a Bloom filter per segment) instead of memory; the trait does not change.
//!
//! The maps use foldhash with a per-process random seed instead of the standard SipHash: the writer
//! thread probes them once or twice per append and SipHash was a measurable share of its time
//! (docs/embedded-log.md). Command ids and stream ids come from clients, so the hasher stays keyed;
//! foldhash is "minimally DoS-resistant": a client that cannot observe the seed cannot aim
//! collisions. Should the log ever take ids from an adversary who can time it at length, SipHash
//! (the standard library's `RandomState`) is a one-line change back.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::log::AppendOutcome;
use crate::log::envelope::ChainHash;
use crate::log::ids::{CommandId, Offset, PartitionId, Position, StreamId, StreamVersion};

/// A segment file of a partition, shared by the writer (positional writes) and readers (positional
/// reads), so neither needs a lock on the file.
#[derive(Debug, Clone)]
pub struct SegmentRef {
    pub path: Arc<Path>,
    pub file: Arc<File>,
}

/// Where a record's frame sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLocation {
    /// Index into the partition's segment list.
    pub segment: u32,
    /// Frame size in bytes, prefix included.
    pub frame_bytes: u32,
    /// Byte position of the frame in its segment file.
    pub byte_position: u64,
}

/// The index of one partition.
#[derive(Debug)]
pub struct PartitionIndex {
    pub segments: Vec<SegmentRef>,
    /// Record locations by offset: the record at offset `n` is `records[n]`.
    pub records: Vec<RecordLocation>,
    /// The chain hash of the last record (genesis when empty).
    pub head: ChainHash,
    /// Bytes of all segment files, headers included.
    pub bytes: u64,
}

impl PartitionIndex {
    fn empty() -> PartitionIndex {
        PartitionIndex {
            segments: Vec::new(),
            records: Vec::new(),
            head: ChainHash::GENESIS,
            bytes: 0,
        }
    }

    /// The offset the next record will get.
    pub fn next_offset(&self) -> u64 {
        u64::try_from(self.records.len()).expect("usize fits in u64")
    }
}

#[derive(Debug)]
pub(super) struct StreamEntry {
    pub(super) id: StreamId,
    pub(super) partition: PartitionId,
    /// The offset of version `v` is `offsets[v - 1]`.
    pub(super) offsets: Vec<u64>,
}

/// A command's original outcome in compact form: its records are contiguous on one partition.
#[derive(Debug, Clone, Copy)]
pub(super) struct CommandEntry {
    pub(super) stream: u32,
    pub(super) first_version: u64,
    pub(super) first_offset: u64,
    pub(super) count: u32,
}

/// The keyed hasher of the index maps (see the module documentation).
type KeyedState = foldhash::fast::RandomState;

/// All indexes of a log.
#[derive(Debug, Default)]
pub struct Index {
    pub partitions: Vec<PartitionIndex>,
    pub(super) stream_numbers: HashMap<StreamId, u32, KeyedState>,
    pub(super) streams: Vec<StreamEntry>,
    pub(super) commands: HashMap<CommandId, CommandEntry, KeyedState>,
}

/// A command the writer wants to append, before its records are chained and framed.
#[derive(Debug, Clone, Copy)]
pub struct NewCommand<'a> {
    pub command_id: CommandId,
    pub stream: &'a StreamId,
    pub partition: PartitionId,
    pub expected: StreamVersion,
    /// The offset its first record will get: the partition's next offset.
    pub first_offset: u64,
    /// Its number of records (at least 1).
    pub count: u32,
}

/// The index's decision on a [`NewCommand`].
#[derive(Debug)]
pub enum Admission {
    /// The command id was seen before (possibly earlier in the same batch): its original outcome,
    /// marked as a duplicate. Nothing was changed.
    Duplicate(AppendOutcome),
    /// The stream is at this version, not at the expected one. Nothing was changed.
    Conflict(StreamVersion),
    /// Accepted: the command and its stream versions are in the index; the caller must now push the
    /// command's record locations with [`Index::push_locations`]. `stream` is the stream's number in
    /// the index.
    Admitted { stream: u32 },
}

/// One record to add to the index.
#[derive(Debug, Clone, Copy)]
pub struct IndexedRecord<'a> {
    pub partition: PartitionId,
    pub location: RecordLocation,
    pub stream: &'a StreamId,
    pub version: StreamVersion,
    pub command_id: CommandId,
    pub hash: ChainHash,
}

impl Index {
    pub fn new(partitions: u32) -> Index {
        let partitions = (0..partitions).map(|_| PartitionIndex::empty()).collect();
        Index {
            partitions,
            ..Index::default()
        }
    }

    pub fn partition(&self, partition: PartitionId) -> &PartitionIndex {
        &self.partitions[usize::try_from(partition.0).expect("u32 fits in usize")]
    }

    pub fn partition_mut(&mut self, partition: PartitionId) -> &mut PartitionIndex {
        &mut self.partitions[usize::try_from(partition.0).expect("u32 fits in usize")]
    }

    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    pub fn command_count(&self) -> usize {
        self.commands.len()
    }

    /// The version of `stream` counting every written record, durable or not.
    pub fn stream_version(&self, stream: &StreamId) -> StreamVersion {
        self.stream_numbers
            .get(stream)
            .map_or(StreamVersion::NONE, |&number| {
                let entry = &self.streams[usize::try_from(number).expect("u32 fits in usize")];
                StreamVersion(u64::try_from(entry.offsets.len()).expect("usize fits in u64"))
            })
    }

    /// The offsets of `stream`'s versions ≥ `from` that lie below `end` (the committed end of its
    /// partition), as `(partition, offsets)`.
    pub fn stream_offsets(
        &self,
        stream: &StreamId,
        from: StreamVersion,
        end: impl Fn(PartitionId) -> u64,
    ) -> Vec<Position> {
        let Some(&number) = self.stream_numbers.get(stream) else {
            return Vec::new();
        };
        let entry = &self.streams[usize::try_from(number).expect("u32 fits in usize")];
        let end = end(entry.partition);
        let skip = usize::try_from(from.0.saturating_sub(1)).unwrap_or(usize::MAX);
        entry
            .offsets
            .iter()
            .skip(skip)
            .take_while(|&&offset| offset < end)
            .map(|&offset| Position {
                partition: entry.partition,
                offset: Offset(offset),
            })
            .collect()
    }

    /// The version of `stream` counting only records below `end` (the committed end of its partition).
    pub fn committed_stream_version(
        &self,
        stream: &StreamId,
        end: impl Fn(PartitionId) -> u64,
    ) -> StreamVersion {
        let Some(&number) = self.stream_numbers.get(stream) else {
            return StreamVersion::NONE;
        };
        let entry = &self.streams[usize::try_from(number).expect("u32 fits in usize")];
        let end = end(entry.partition);
        let committed = entry.offsets.partition_point(|&offset| offset < end);
        StreamVersion(u64::try_from(committed).expect("usize fits in u64"))
    }

    /// The original outcome of a command already in the index, marked as a duplicate.
    pub fn command_outcome(&self, command_id: &CommandId) -> Option<AppendOutcome> {
        self.commands
            .get(command_id)
            .map(|&entry| self.outcome_of(entry))
    }

    fn outcome_of(&self, entry: CommandEntry) -> AppendOutcome {
        let stream = &self.streams[usize::try_from(entry.stream).expect("u32 fits in usize")];
        let positions = (0..u64::from(entry.count))
            .map(|index| Position {
                partition: stream.partition,
                offset: Offset(entry.first_offset + index),
            })
            .collect();
        AppendOutcome {
            stream: stream.id.clone(),
            first_version: StreamVersion(entry.first_version),
            positions,
            duplicate: true,
        }
    }

    /// Decides a new command and, when it is accepted, records it (command id, stream versions and
    /// their offsets) in one probe of each map: a command id already present is a duplicate (it is
    /// checked first, so a retry of an applied command is never a conflict), then the stream must be
    /// at `expected`. The writer calls this for every request, in order, under the write lock, so
    /// later requests of the same batch see earlier ones without a separate overlay. Readers are not
    /// confused by records that are indexed before they are written: they only look below the
    /// partition's committed end, which moves after the records are durable.
    pub fn admit(&mut self, command: &NewCommand<'_>) -> Admission {
        let vacant = match self.commands.entry(command.command_id) {
            Entry::Occupied(occupied) => {
                let entry = *occupied.get();
                return Admission::Duplicate(self.outcome_of(entry));
            }
            Entry::Vacant(vacant) => vacant,
        };
        let known = self.stream_numbers.get(command.stream).copied();
        let actual = known.map_or(StreamVersion::NONE, |number| {
            let offsets =
                &self.streams[usize::try_from(number).expect("u32 fits in usize")].offsets;
            StreamVersion(u64::try_from(offsets.len()).expect("usize fits in u64"))
        });
        if actual != command.expected {
            return Admission::Conflict(actual);
        }
        let number = known.unwrap_or_else(|| {
            let number = u32::try_from(self.streams.len()).expect("fewer than 2^32 streams");
            self.streams.push(StreamEntry {
                id: command.stream.clone(),
                partition: command.partition,
                offsets: Vec::new(),
            });
            self.stream_numbers.insert(command.stream.clone(), number);
            number
        });
        let entry = &mut self.streams[usize::try_from(number).expect("u32 fits in usize")];
        debug_assert_eq!(
            entry.partition, command.partition,
            "stream changed partition"
        );
        entry
            .offsets
            .extend(command.first_offset..command.first_offset + u64::from(command.count));
        vacant.insert(CommandEntry {
            stream: number,
            first_version: command.expected.next().0,
            first_offset: command.first_offset,
            count: command.count,
        });
        Admission::Admitted { stream: number }
    }

    /// Appends the locations of an admitted command's records to its partition (their offsets are
    /// the partition's next ones, as given to [`Index::admit`]).
    pub fn push_locations(
        &mut self,
        partition: PartitionId,
        locations: impl IntoIterator<Item = RecordLocation>,
    ) {
        let partition_index = self.partition_mut(partition);
        for location in locations {
            partition_index.bytes += u64::from(location.frame_bytes);
            partition_index.records.push(location);
        }
    }

    /// Adds one record. The caller has checked that its version follows the stream's current version
    /// and that its offset is the partition's next; a command id that reappears after other records is
    /// refused, because the writer never lets that happen.
    pub fn push(&mut self, record: IndexedRecord<'_>) -> Result<(), String> {
        let offset = self.partition(record.partition).next_offset();
        let stream_number = self.stream_number(record.stream, record.partition);
        match self.commands.entry(record.command_id) {
            Entry::Occupied(mut occupied) => {
                let command = occupied.get_mut();
                let continues = command.stream == stream_number
                    && command.first_offset + u64::from(command.count) == offset;
                if !continues {
                    return Err(format!(
                        "command id {} appears again at offset {offset} after other records",
                        record.command_id
                    ));
                }
                command.count += 1;
            }
            Entry::Vacant(vacant) => {
                vacant.insert(CommandEntry {
                    stream: stream_number,
                    first_version: record.version.0,
                    first_offset: offset,
                    count: 1,
                });
            }
        }
        let entry = &mut self.streams[usize::try_from(stream_number).expect("u32 fits in usize")];
        assert_eq!(
            entry.partition, record.partition,
            "stream {} changed partition",
            record.stream
        );
        let expected_version = u64::try_from(entry.offsets.len()).expect("usize fits in u64") + 1;
        assert_eq!(
            record.version.0, expected_version,
            "stream {} version gap",
            record.stream
        );
        entry.offsets.push(offset);
        let partition_index = self.partition_mut(record.partition);
        partition_index.records.push(record.location);
        partition_index.head = record.hash;
        Ok(())
    }

    pub(super) fn stream_number(&mut self, stream: &StreamId, partition: PartitionId) -> u32 {
        if let Some(&number) = self.stream_numbers.get(stream) {
            return number;
        }
        let number = u32::try_from(self.streams.len()).expect("fewer than 2^32 streams");
        self.streams.push(StreamEntry {
            id: stream.clone(),
            partition,
            offsets: Vec::new(),
        });
        self.stream_numbers.insert(stream.clone(), number);
        number
    }
}
