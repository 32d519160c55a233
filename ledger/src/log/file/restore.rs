//! Opening from the segments' index files, and writing them (docs/embedded-log.md, "Index files").
//!
//! On open, each partition's segments are taken in order: while a segment's index file is present,
//! intact and matches the segment (partition, base offset, the chain hash it starts from, the
//! segment at least as long as the bytes it covers, and the stored hash of the last covered record
//! equal to the table's), its table goes into the index without reading the records. The first
//! segment without a usable index file, and everything after it, is scanned as before (CRC, hash
//! chain, versions, whole commands), and so is the rest of a segment whose table covers only a prefix
//! (the open segment at a clean close). An unusable index file is never fatal: it is ignored with a
//! warning and rewritten once the scan has rebuilt the index. `verify` never reads index files.
//!
//! Index files are written for every segment whose file is missing or covers less than the segment:
//! after a writing open (what the scan found) and on a clean close (what was appended since).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::frame::{self, HEADER_BYTES, SegmentHeader};
use super::index::{Index, PartitionIndex};
use super::layout::Layout;
use super::scan::{Access, PartitionScan, Resume, scan_partition_from};
use super::segindex::{SegmentTable, index_path, write_atomic};
use super::tables::segment_ref;
use crate::log::envelope::ChainHash;
use crate::log::error::LogError;
use crate::log::ids::PartitionId;

/// Bytes of each segment that a usable index file covers, per partition (what need not be written
/// again).
pub type Covered = Vec<Vec<u64>>;

/// The index of a log as the open rebuilt it, with each partition's scan of what the index files
/// did not cover.
pub struct Restored {
    pub index: Index,
    pub scans: Vec<PartitionScan>,
    pub covered: Covered,
}

/// Builds the index of every partition from the index files and a scan of the rest. If applying the
/// index files finds them inconsistent with each other (a command id in two of them), they are all
/// ignored and every segment is scanned.
pub fn restore(layout: &Layout, partitions: u32, access: Access) -> Result<Restored, LogError> {
    match restore_with(layout, partitions, access, true)? {
        Ok(restored) => Ok(restored),
        Err(detail) => {
            tracing::warn!(
                dir = %layout.root().display(),
                detail,
                "the log's index files disagree; ignoring all of them and scanning every segment"
            );
            restore_with(layout, partitions, access, false)?
                .map_err(|detail| unreachable!("a scan does not apply index files: {detail}"))
        }
    }
}

fn restore_with(
    layout: &Layout,
    partitions: u32,
    access: Access,
    use_files: bool,
) -> Result<Result<Restored, String>, LogError> {
    let mut index = Index::new(partitions);
    let mut scans = Vec::new();
    let mut covered = Vec::new();
    for number in 0..partitions {
        let partition = PartitionId(number);
        let (resume, partition_covered) = if use_files {
            match load_partition(layout, partition, partitions, &mut index, access)? {
                Ok(loaded) => loaded,
                Err(detail) => return Ok(Err(detail)),
            }
        } else {
            (Resume::default(), Vec::new())
        };
        let scan = scan_partition_from(layout, partition, partitions, &mut index, access, resume)?;
        scans.push(scan);
        covered.push(partition_covered);
    }
    Ok(Ok(Restored {
        index,
        scans,
        covered,
    }))
}

/// Applies the usable index files of `partition`'s first segments; returns where the scan
/// continues and the bytes each applied file covers. The inner error means the index is
/// half-updated and must be thrown away.
#[allow(clippy::type_complexity)]
fn load_partition(
    layout: &Layout,
    partition: PartitionId,
    partitions: u32,
    index: &mut Index,
    access: Access,
) -> Result<Result<(Resume, Vec<u64>), String>, LogError> {
    let listed = layout.list_segments(partition)?;
    let mut resume = Resume::default();
    let mut covered = Vec::new();
    for (base_offset, path) in &listed {
        let usable = match usable_table(index, partition, partitions, (*base_offset, path), access)
        {
            Ok(usable) => usable,
            Err(detail) => {
                tracing::warn!(
                    partition = partition.0,
                    index_file = %index_path(path).display(),
                    detail,
                    "ignoring the segment's index file; scanning the segment and the ones after it"
                );
                break;
            }
        };
        let (table, file, length) = usable;
        if let Err(detail) = index.apply_table(partition, segment_ref(path, file), &table) {
            return Ok(Err(detail));
        }
        resume.push_indexed(table.covered_bytes);
        covered.push(table.covered_bytes);
        if table.covered_bytes < length {
            break;
        }
    }
    Ok(Ok((resume, covered)))
}

/// The table of a segment's index file with the segment file opened, if the file is usable.
fn usable_table(
    index: &Index,
    partition: PartitionId,
    partitions: u32,
    (base_offset, path): (u64, &Path),
    access: Access,
) -> Result<(SegmentTable, File, u64), String> {
    let index_file = index_path(path);
    let bytes = std::fs::read(&index_file).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => "the index file is missing".to_owned(),
        _ => format!("cannot read the index file: {error}"),
    })?;
    let table = SegmentTable::decode(&bytes)?;
    let indexed = index.partition(partition);
    if table.partition != partition.0 || table.base_offset != base_offset {
        return Err(format!(
            "the index file is for partition {} at offset {}, the segment is partition {partition} \
             at offset {base_offset}",
            table.partition, table.base_offset
        ));
    }
    if base_offset != indexed.next_offset() || table.start_head != indexed.head {
        return Err("the index file does not continue the segments before it".to_owned());
    }
    let file = open_segment(path, access).map_err(|error| format!("cannot open: {error}"))?;
    let length = file
        .metadata()
        .map_err(|error| format!("cannot read the segment's size: {error}"))?
        .len();
    if length < table.covered_bytes {
        return Err(format!(
            "the index file covers {} bytes, the segment has {length} (stale)",
            table.covered_bytes
        ));
    }
    check_segment_end(&file, &table)?;
    index.check_table(partition, partitions, &table)?;
    Ok((table, file, length))
}

/// Checks the segment's header and that its last covered record is a whole frame ending a command,
/// with the chain hash the table ends at.
fn check_segment_end(file: &File, table: &SegmentTable) -> Result<(), String> {
    let mut header = [0u8; HEADER_BYTES];
    file.read_exact_at(&mut header, 0)
        .map_err(|error| format!("cannot read the segment header: {error}"))?;
    let header = SegmentHeader::decode(&header)?;
    if header.partition != table.partition || header.base_offset != table.base_offset {
        return Err("the segment header does not match the index file".to_owned());
    }
    let Some(last) = table.records.last() else {
        return Ok(());
    };
    let mut bytes = vec![0u8; usize::try_from(last.frame_bytes).expect("u32 fits in usize")];
    let at = table.covered_bytes - u64::from(last.frame_bytes);
    file.read_exact_at(&mut bytes, at)
        .map_err(|error| format!("cannot read the last covered record: {error}"))?;
    let frame = frame::parse_frame(&bytes)
        .map_err(|error| format!("the last covered record at byte {at}: {error}"))?;
    if frame.size() != bytes.len() || frame.continued {
        return Err(format!(
            "the last covered record at byte {at} is not the end of a command"
        ));
    }
    if stored_hash(frame.record) != table.end_head {
        return Err(format!(
            "the chain hash of the last covered record at byte {at} differs from the index file's"
        ));
    }
    Ok(())
}

fn stored_hash(record: &[u8]) -> ChainHash {
    let at = record.len() - 32;
    ChainHash(record[at..].try_into().expect("32 bytes"))
}

fn open_segment(path: &Path, access: Access) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(access == Access::ReadWrite)
        .open(path)
}

/// Writes the index file of every segment that has none or whose file covers less than the
/// segment, and notes what the files now cover. Returns the number of files written.
pub fn save(layout: &Layout, index: &Index, covered: &mut Covered) -> Result<usize, LogError> {
    let mut written = 0;
    for (number, partition_covered) in (0u32..).zip(covered.iter_mut()) {
        written += save_partition(layout, index, partition_covered, PartitionId(number), false)?;
    }
    Ok(written)
}

/// [`save`] for one partition; with `sealed_only`, not for its last (open) segment.
pub fn save_partition(
    layout: &Layout,
    index: &Index,
    partition_covered: &mut Vec<u64>,
    partition: PartitionId,
    sealed_only: bool,
) -> Result<usize, LogError> {
    let mut spans = index.segment_spans(partition);
    if sealed_only {
        spans.pop();
    }
    let Some(from) = spans
        .iter()
        .enumerate()
        .position(|(segment, span)| partition_covered.get(segment) != Some(&span.bytes))
    else {
        return Ok(0);
    };
    let partition_index = index.partition(partition);
    let heads = span_heads(partition_index, &spans, from)?;
    let bases: Vec<u64> = spans[from..].iter().map(|span| span.first).collect();
    let tables = index.build_tables(partition, &spans[from..], &bases, &heads);
    partition_covered.truncate(from);
    for (table, segment) in tables.iter().zip(&partition_index.segments[from..]) {
        // Only durable bytes are described (a crashed writer's last batches may not be, nor
        // anything written with `Durability::NoSync`).
        segment
            .file
            .sync_data()
            .map_err(|error| LogError::io(&*segment.path, error))?;
        write_atomic(&index_path(&segment.path), &table.encode())?;
        partition_covered.push(table.covered_bytes);
    }
    tracing::debug!(
        dir = %layout.root().display(),
        partition = partition.0,
        written = tables.len(),
        "wrote segment index files"
    );
    Ok(tables.len())
}

/// The chain hash before span `from` and at the end of each span from it on, read from the stored
/// hashes of the records (the scan or the writer already checked them).
fn span_heads(
    partition_index: &PartitionIndex,
    spans: &[super::tables::SegmentSpan],
    from: usize,
) -> Result<Vec<ChainHash>, LogError> {
    let hash_at = |offset: u64| -> Result<ChainHash, LogError> {
        let location = partition_index.records[usize::try_from(offset).expect("fits")];
        let segment = &partition_index.segments[usize::try_from(location.segment).expect("fits")];
        let mut bytes = vec![0u8; usize::try_from(location.frame_bytes).expect("fits")];
        segment
            .file
            .read_exact_at(&mut bytes, location.byte_position)
            .map_err(|error| LogError::io(&*segment.path, error))?;
        let frame = frame::parse_frame(&bytes).map_err(|error| LogError::CorruptSegment {
            path: segment.path.to_path_buf(),
            byte_offset: location.byte_position,
            detail: error.to_string(),
        })?;
        Ok(stored_hash(frame.record))
    };
    let first = spans[from].first;
    let mut heads = vec![if first == 0 {
        ChainHash::GENESIS
    } else {
        hash_at(first - 1)?
    }];
    for span in &spans[from..] {
        let previous = *heads.last().expect("one head");
        heads.push(if span.end > span.first {
            hash_at(span.end - 1)?
        } else {
            previous
        });
    }
    Ok(heads)
}
