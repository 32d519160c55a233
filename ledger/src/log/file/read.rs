//! Reading records: find their locations under a short index read lock, then read the segment files
//! with positional reads (no lock held), check each frame's CRC and decode.
//!
//! Reads run inline on the caller's task: they are page-cache reads of at most
//! [`READ_BATCH_BYTES_MAX`] bytes, shorter than a hop to a blocking thread pool would be.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use super::Shared;
use super::frame;
use super::index::RecordLocation;
use crate::log::envelope::EventEnvelope;
use crate::log::error::LogError;
use crate::log::ids::{Offset, PartitionId, Position};

/// The most frame bytes one `read_batch` returns (it returns at least one record); bounds memory when
/// payloads are large.
pub const READ_BATCH_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// The most bytes one positional read covers.
const READ_SPAN_BYTES_MAX: u64 = 1024 * 1024;

/// A record to read: where it is and which file holds it.
struct Located {
    position: Position,
    location: RecordLocation,
    file: Arc<File>,
    path: Arc<Path>,
}

/// Reads up to `count` records of `partition` starting at offset `from` (all below the committed end).
pub fn read_range(
    shared: &Shared,
    partition: PartitionId,
    from: u64,
    count: u64,
) -> Result<Vec<EventEnvelope>, LogError> {
    let located = {
        let index = shared.index.read().expect("index lock poisoned");
        let partition_index = index.partition(partition);
        let mut located = Vec::new();
        let mut bytes = 0u64;
        for offset in from..from.saturating_add(count) {
            let Some(&location) = partition_index
                .records
                .get(usize::try_from(offset).unwrap_or(usize::MAX))
            else {
                break;
            };
            bytes += u64::from(location.frame_bytes);
            if bytes > READ_BATCH_BYTES_MAX && !located.is_empty() {
                break;
            }
            let segment = &partition_index.segments
                [usize::try_from(location.segment).expect("u32 fits in usize")];
            let position = Position {
                partition,
                offset: Offset(offset),
            };
            located.push(Located {
                position,
                location,
                file: Arc::clone(&segment.file),
                path: Arc::clone(&segment.path),
            });
        }
        located
    };
    read_located(&located)
}

/// Reads the records at `positions` (all committed).
pub fn read_positions(
    shared: &Shared,
    positions: &[Position],
) -> Result<Vec<EventEnvelope>, LogError> {
    let located = {
        let index = shared.index.read().expect("index lock poisoned");
        positions
            .iter()
            .map(|&position| {
                let partition_index = index.partition(position.partition);
                let location = partition_index.records
                    [usize::try_from(position.offset.0).expect("offset fits in usize")];
                let segment = &partition_index.segments
                    [usize::try_from(location.segment).expect("u32 fits in usize")];
                Located {
                    position,
                    location,
                    file: Arc::clone(&segment.file),
                    path: Arc::clone(&segment.path),
                }
            })
            .collect::<Vec<_>>()
    };
    read_located(&located)
}

/// Reads located records, one positional read per run of adjacent frames.
fn read_located(located: &[Located]) -> Result<Vec<EventEnvelope>, LogError> {
    let mut envelopes = Vec::with_capacity(located.len());
    let mut buffer = Vec::new();
    let mut start = 0;
    while start < located.len() {
        let end = run_end(located, start);
        let first = &located[start];
        let last = &located[end - 1];
        let span = last.location.byte_position + u64::from(last.location.frame_bytes)
            - first.location.byte_position;
        buffer.resize(usize::try_from(span).expect("span fits in usize"), 0);
        first
            .file
            .read_exact_at(&mut buffer, first.location.byte_position)
            .map_err(|error| LogError::io(&*first.path, error))?;
        let mut at = 0usize;
        for record in &located[start..end] {
            let frame = frame::parse_frame(&buffer[at..]).map_err(|error| LogError::Corrupt {
                position: record.position,
                detail: format!(
                    "{} at byte {} of {}: {error}",
                    record.position,
                    record.location.byte_position,
                    record.path.display()
                ),
            })?;
            envelopes.push(EventEnvelope::decode(record.position, frame.record)?);
            at += frame.size();
        }
        start = end;
    }
    Ok(envelopes)
}

/// The end (exclusive) of the run of frames starting at `start` that are adjacent in one segment and
/// fit one read.
fn run_end(located: &[Located], start: usize) -> usize {
    let first = &located[start];
    let mut end = start + 1;
    let mut next_byte = first.location.byte_position + u64::from(first.location.frame_bytes);
    while let Some(record) = located.get(end) {
        let adjacent = record.location.segment == first.location.segment
            && record.location.byte_position == next_byte;
        let fits = next_byte + u64::from(record.location.frame_bytes)
            - first.location.byte_position
            <= READ_SPAN_BYTES_MAX;
        if !adjacent || !fits {
            break;
        }
        next_byte += u64::from(record.location.frame_bytes);
        end += 1;
    }
    end
}
