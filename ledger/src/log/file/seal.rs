//! Index files of sealed segments, written by a helper thread when the writer rolls a segment, so
//! that after a crash the next open scans at most the open segment of each partition (plus whatever
//! was rolled while a job was still queued).
//!
//! The writer keeps the rows of the commands it admits into each partition's open segment (a push
//! per command; it knows their ids, streams, versions and offsets at admission) and hands them over
//! with the chain hashes at the segment's start and end when it rolls. The helper takes the index's
//! read lock only to copy the segment's frame sizes and stream ids, then writes the file outside it.
//! The segment file is synced before its index file is written, so an index file never describes
//! bytes a power loss could still take. When the writer did not see all of a segment's commands (the segment was already open when the
//! log was opened), the helper builds the table from the index instead, which costs a pass over the
//! command map once per partition and open.

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use super::Shared;
use super::restore;
use super::segindex::{index_path, write_atomic};
use crate::log::envelope::ChainHash;
use crate::log::error::LogError;
use crate::log::ids::{CommandId, PartitionId};

/// A command the writer admitted into a partition's open segment.
#[derive(Debug, Clone, Copy)]
pub struct CommandRow {
    pub first_offset: u64,
    pub id: CommandId,
    /// The stream's number in the index.
    pub stream: u32,
    pub first_version: u64,
    pub count: u32,
}

/// A segment the writer has just sealed.
#[derive(Debug)]
pub struct SealJob {
    pub partition: PartitionId,
    /// Its number within the partition.
    pub segment: u32,
    /// Its commands in order, when the writer saw all of them.
    pub rows: Option<Vec<CommandRow>>,
    /// The chain hash its first record links from, and the hash of its last record.
    pub start_head: ChainHash,
    pub end_head: ChainHash,
}

/// Starts the helper thread; it stops when the returned sender is dropped (by the writer thread, as
/// it exits), after writing every queued file.
pub fn start(shared: Arc<Shared>) -> Result<(std_mpsc::Sender<SealJob>, JoinHandle<()>), LogError> {
    let (sender, jobs) = std_mpsc::channel::<SealJob>();
    let thread = std::thread::Builder::new()
        .name("ledger-log-seal".into())
        .spawn(move || {
            for job in jobs {
                let (partition, segment) = (job.partition, job.segment);
                if let Err(error) = seal(&shared, job) {
                    tracing::warn!(
                        partition = partition.0,
                        segment,
                        %error,
                        "cannot write a sealed segment's index file; the next open scans it"
                    );
                }
            }
        })
        .map_err(|error| {
            LogError::Unavailable(format!("cannot start the log seal thread: {error}"))
        })?;
    Ok((sender, thread))
}

fn seal(shared: &Shared, job: SealJob) -> Result<(), LogError> {
    let number = usize::try_from(job.partition.0).expect("u32 fits in usize");
    let segment = usize::try_from(job.segment).expect("u32 fits in usize");
    let built = {
        let index = shared.index.read().expect("index lock poisoned");
        let sealed = index.partition(job.partition).segments[segment].clone();
        let table = job.rows.as_ref().and_then(|rows| {
            index.table_from_rows(
                job.partition,
                job.segment,
                rows,
                job.start_head,
                job.end_head,
            )
        });
        match table {
            Some(table) => Some((table, sealed)),
            None => {
                // The slow path: from the index, for every sealed segment not yet covered.
                let mut covered = shared.covered.lock().expect("covered lock poisoned");
                restore::save_partition(
                    &shared.layout,
                    &index,
                    &mut covered[number],
                    job.partition,
                    true,
                )?;
                None
            }
        }
    };
    let Some((table, sealed)) = built else {
        return Ok(());
    };
    // An index file never claims bytes that are not durable: the segment's last batches may still be
    // waiting for the sync thread (or never be synced, with `Durability::NoSync`).
    sealed
        .file
        .sync_data()
        .map_err(|error| LogError::io(&*sealed.path, error))?;
    write_atomic(&index_path(&sealed.path), &table.encode())?;
    let mut covered = shared.covered.lock().expect("covered lock poisoned");
    let partition_covered = &mut covered[number];
    if partition_covered.len() <= segment {
        partition_covered.resize(segment + 1, 0);
    }
    partition_covered[segment] = table.covered_bytes;
    Ok(())
}
