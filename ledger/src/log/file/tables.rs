//! Between the in-memory [`Index`] and the segment tables of the index files ([`SegmentTable`]): a
//! table is checked against the index and applied to it on open, and built from the index for the
//! segments whose index file is missing or stale.

use std::collections::HashMap;
use std::sync::Arc;

use super::frame::HEADER_BYTES;
use super::index::{CommandEntry, Index, RecordLocation, SegmentRef};
use super::seal::CommandRow;
use super::segindex::{SegmentTable, TableCommand, TableRecord};
use crate::log::envelope::ChainHash;
use crate::log::ids::{CommandId, PartitionId, partition_of};

/// A segment's place in its partition, as the index has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSpan {
    /// The offsets of its records: `first .. end`.
    pub first: u64,
    pub end: u64,
    /// Bytes of its records, its header included (where the next record would go).
    pub bytes: u64,
}

impl Index {
    /// The stream number and version of each record of `partition` at offsets `from .. end`.
    fn record_streams(&self, partition: PartitionId, from: u64, end: u64) -> Vec<(u32, u64)> {
        let length = usize::try_from(end - from).expect("fits in usize");
        let mut stream_of = vec![(u32::MAX, 0u64); length];
        for (number, entry) in (0u32..).zip(&self.streams) {
            if entry.partition != partition {
                continue;
            }
            let skip = entry.offsets.partition_point(|&offset| offset < from);
            for (version, &offset) in (u64::try_from(skip).expect("fits") + 1..)
                .zip(&entry.offsets[skip..])
                .take_while(|(_, offset)| **offset < end)
            {
                stream_of[usize::try_from(offset - from).expect("fits")] = (number, version);
            }
        }
        stream_of
    }

    /// The commands of `partition` whose records start at offsets `from .. end`, in offset order, as
    /// `(first offset, id, records)`.
    fn commands_between(
        &self,
        partition: PartitionId,
        from: u64,
        end: u64,
    ) -> Vec<(u64, CommandId, u32)> {
        let mut commands: Vec<(u64, CommandId, u32)> = self
            .commands
            .iter()
            .filter(|(_, entry)| {
                entry.first_offset >= from
                    && entry.first_offset < end
                    && self.streams[usize::try_from(entry.stream).expect("fits")].partition
                        == partition
            })
            .map(|(id, entry)| (entry.first_offset, *id, entry.count))
            .collect();
        commands.sort_unstable_by_key(|&(offset, _, _)| offset);
        commands
    }
}

impl Index {
    /// Whether `table` can continue `partition` as indexed so far: every stream belongs on the
    /// partition and its first version in the table follows the stream's version in the index.
    /// (Command ids are checked as the table is applied.)
    pub fn check_table(
        &self,
        partition: PartitionId,
        partitions: u32,
        table: &SegmentTable,
    ) -> Result<(), String> {
        for (stream, first_version) in &table.streams {
            if partition_of(stream, partitions) != partition {
                return Err(format!("stream \"{stream}\" belongs on another partition"));
            }
            let next = self.stream_version(stream).next();
            if *first_version != next.0 {
                return Err(format!(
                    "stream \"{stream}\" starts at version {first_version}, the log before it \
                     ends at version {}",
                    next.0 - 1
                ));
            }
        }
        Ok(())
    }

    /// Adds a checked table's segment and records to `partition`. A command id already in the index
    /// is an error; the index is then half-updated and must be thrown away.
    pub fn apply_table(
        &mut self,
        partition: PartitionId,
        segment: SegmentRef,
        table: &SegmentTable,
    ) -> Result<(), String> {
        let numbers: Vec<u32> = table
            .streams
            .iter()
            .map(|(stream, _)| self.stream_number(stream, partition))
            .collect();
        let partition_index = self.partition_mut(partition);
        let segment_number =
            u32::try_from(partition_index.segments.len()).expect("segment count fits in u32");
        partition_index.segments.push(segment);
        let first_offset = partition_index.next_offset();
        let mut byte_position = u64::try_from(HEADER_BYTES).expect("fits");
        partition_index.records.reserve(table.records.len());
        for record in &table.records {
            partition_index.records.push(RecordLocation {
                segment: segment_number,
                frame_bytes: record.frame_bytes,
                byte_position,
            });
            byte_position += u64::from(record.frame_bytes);
        }
        partition_index.head = table.end_head;
        // The version of each record: its stream's first version in the table, counted on.
        let mut next_versions: Vec<u64> = table.streams.iter().map(|(_, first)| *first).collect();
        let mut versions = Vec::with_capacity(table.records.len());
        for (offset, record) in (first_offset..).zip(&table.records) {
            let local = usize::try_from(record.stream).expect("u32 fits in usize");
            self.streams[usize::try_from(numbers[local]).expect("u32 fits in usize")]
                .offsets
                .push(offset);
            versions.push(next_versions[local]);
            next_versions[local] += 1;
        }
        self.commands.reserve(table.commands.len());
        for command in &table.commands {
            let first = usize::try_from(command.first).expect("u32 fits in usize");
            let number = numbers[usize::try_from(table.records[first].stream).expect("fits")];
            let first_offset = first_offset + u64::from(command.first);
            let first_version = versions[first];
            let previous = self.commands.insert(
                command.id,
                CommandEntry {
                    stream: number,
                    first_version,
                    first_offset,
                    count: command.count,
                },
            );
            if previous.is_some() {
                return Err(format!(
                    "command id {} appears in more than one command",
                    command.id
                ));
            }
        }
        Ok(())
    }

    /// Every segment of `partition` with its offsets and bytes.
    pub fn segment_spans(&self, partition: PartitionId) -> Vec<SegmentSpan> {
        let partition_index = self.partition(partition);
        let records = &partition_index.records;
        let mut spans = Vec::with_capacity(partition_index.segments.len());
        let mut first = 0usize;
        for number in 0..partition_index.segments.len() {
            let number = u32::try_from(number).expect("segment count fits in u32");
            let end = first + records[first..].partition_point(|record| record.segment == number);
            let bytes = records[first..end]
                .last()
                .map_or(u64::try_from(HEADER_BYTES).expect("fits"), |last| {
                    last.byte_position + u64::from(last.frame_bytes)
                });
            spans.push(SegmentSpan {
                first: u64::try_from(first).expect("usize fits in u64"),
                end: u64::try_from(end).expect("usize fits in u64"),
                bytes,
            });
            first = end;
        }
        spans
    }

    /// The tables of `partition`'s records from offset `from` on, one per segment span in `spans`
    /// (which start at `from` and are contiguous). The chain hashes come from `heads`: the hash before
    /// `from`, then the hash at the end of each span.
    pub fn build_tables(
        &self,
        partition: PartitionId,
        spans: &[SegmentSpan],
        base_offsets: &[u64],
        heads: &[ChainHash],
    ) -> Vec<SegmentTable> {
        let Some(from) = spans.first().map(|span| span.first) else {
            return Vec::new();
        };
        let end = spans.last().map_or(from, |span| span.end);
        let stream_of = self.record_streams(partition, from, end);
        let commands = self.commands_between(partition, from, end);
        let records = &self.partition(partition).records;
        let mut tables = Vec::with_capacity(spans.len());
        let mut next_command = 0;
        for (number, span) in spans.iter().enumerate() {
            let mut local: HashMap<u32, u32> = HashMap::new();
            let mut table = SegmentTable {
                partition: partition.0,
                base_offset: base_offsets[number],
                covered_bytes: span.bytes,
                start_head: heads[number],
                end_head: heads[number + 1],
                streams: Vec::new(),
                records: Vec::new(),
                commands: Vec::new(),
            };
            for offset in span.first..span.end {
                let at = usize::try_from(offset - from).expect("fits");
                let (stream, version) = stream_of[at];
                let next_local = u32::try_from(local.len()).expect("fits in u32");
                let local_number = *local.entry(stream).or_insert_with(|| {
                    let id = self.streams[usize::try_from(stream).expect("fits")]
                        .id
                        .clone();
                    table.streams.push((id, version));
                    next_local
                });
                table.records.push(TableRecord {
                    frame_bytes: records[usize::try_from(offset).expect("fits")].frame_bytes,
                    stream: local_number,
                });
            }
            while let Some(&(offset, id, count)) = commands.get(next_command) {
                if offset >= span.end {
                    break;
                }
                table.commands.push(TableCommand {
                    id,
                    first: u32::try_from(offset - span.first).expect("fits in u32"),
                    count,
                });
                next_command += 1;
            }
            tables.push(table);
        }
        tables
    }
}

impl Index {
    /// The table of segment `segment` of `partition` from the rows of its commands, in order, as the
    /// writer admitted them; `None` when the rows do not cover exactly the segment's records.
    pub fn table_from_rows(
        &self,
        partition: PartitionId,
        segment: u32,
        rows: &[CommandRow],
        start_head: ChainHash,
        end_head: ChainHash,
    ) -> Option<SegmentTable> {
        let records = &self.partition(partition).records;
        let first = records.partition_point(|record| record.segment < segment);
        let end = records.partition_point(|record| record.segment <= segment);
        let base_offset = u64::try_from(first).expect("usize fits in u64");
        let mut local: HashMap<u32, u32> = HashMap::new();
        let mut table = SegmentTable {
            partition: partition.0,
            base_offset,
            covered_bytes: records[first..end].last()?.byte_position
                + u64::from(records[end - 1].frame_bytes),
            start_head,
            end_head,
            streams: Vec::new(),
            records: Vec::with_capacity(end - first),
            commands: Vec::with_capacity(rows.len()),
        };
        for row in rows {
            let at = usize::try_from(row.first_offset).ok()?;
            let count = usize::try_from(row.count).expect("u32 fits in usize");
            if at != first + table.records.len() || at + count > end {
                return None;
            }
            let next_local = u32::try_from(local.len()).expect("fits in u32");
            let stream = *local.entry(row.stream).or_insert_with(|| {
                let id = self.streams[usize::try_from(row.stream).expect("fits")]
                    .id
                    .clone();
                table.streams.push((id, row.first_version));
                next_local
            });
            table.commands.push(TableCommand {
                id: row.id,
                first: u32::try_from(at - first).expect("fits in u32"),
                count: row.count,
            });
            table
                .records
                .extend(records[at..at + count].iter().map(|location| TableRecord {
                    frame_bytes: location.frame_bytes,
                    stream,
                }));
        }
        (first + table.records.len() == end).then_some(table)
    }
}

/// A segment file as the index holds it.
pub fn segment_ref(path: &std::path::Path, file: std::fs::File) -> SegmentRef {
    SegmentRef {
        path: Arc::from(path),
        file: Arc::new(file),
    }
}
