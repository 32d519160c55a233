//! Group commit: one writer thread and one sync thread own all partition files.
//!
//! `append` calls encode their events on the caller's task and queue a [`Request`]. The writer thread
//! drains everything queued (up to the batch bounds) and, under one index write lock, admits each
//! request in order (duplicate command id, then expected stream version; all-or-none per request) and
//! indexes the admitted ones at once: offsets, versions and frame locations are known before any
//! hashing. It then chains and frames the records into one buffer per partition outside the lock,
//! writes each touched partition with one positional write, and hands the batch to the sync thread.
//! The sync thread drains every batch handed to it, syncs each touched file once (per the durability
//! mode), publishes the new committed end of each partition (readers and `wait_for` see records only
//! up to it, so indexing before the write is invisible to them) and answers the waiters. So while one
//! batch is being synced the next one is being validated and written: the disk and the CPU work at
//! the same time.
//!
//! A failed write or sync stops the log: the bytes on disk are then unknown, so every later append fails
//! until the log is reopened, which recovers from what is really on disk.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;

use tokio::sync::mpsc;

use super::Shared;
use super::frame::{self, HEADER_BYTES, SegmentHeader};
use super::index::{Admission, NewCommand, RecordLocation, SegmentRef};
use super::layout::sync_dir;
use super::request::{Queued, Request, Waiter};
use super::seal::{self, CommandRow, SealJob};
use super::sync::{self, SyncJob};
use crate::log::AppendOutcome;
use crate::log::envelope::ChainHash;
use crate::log::error::LogError;
use crate::log::ids::{Offset, PartitionId, Position};

/// Bytes of a chain hash, stored after each record's body.
const HASH_BYTES: usize = 32;

/// The most commands one batch takes from the queue (a request of more goes alone).
pub const REQUESTS_PER_BATCH_MAX: usize = 4096;
/// The most events one batch writes; at least [`crate::log::EVENTS_PER_APPEND_MAX`] so any valid
/// request fits in a batch of its own.
pub const EVENTS_PER_BATCH_MAX: usize = 16_384;
/// The most record bytes one batch writes; a single request may not exceed it.
pub const BATCH_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Requests waiting for the writer; `append` waits for room beyond this (back-pressure).
pub const QUEUE_REQUESTS_MAX: usize = 16_384;
/// Batches written but not yet synced; the writer waits for the sync thread beyond this.
pub const PIPELINE_BATCHES_MAX: usize = 4;

/// The segment a partition appends to.
struct ActiveSegment {
    /// Index into the partition's segment list.
    number: u32,
    file: Arc<File>,
    /// Bytes written so far (the next write position).
    bytes: u64,
}

/// One command admitted into the batch: which request of the batch it came with, where its bodies
/// sit in that request's buffer, and its partition.
struct Accepted {
    request: usize,
    bytes: std::ops::Range<usize>,
    partition: usize,
}

/// State owned by the writer thread.
struct Writer {
    shared: Arc<Shared>,
    active: Vec<ActiveSegment>,
    heads: Vec<ChainHash>,
    next_offsets: Vec<u64>,
    buffers: Vec<Vec<u8>>,
    /// Bytes of each partition's frames admitted into the current batch (its buffer's length once
    /// they are framed).
    planned_bytes: Vec<u64>,
    /// The batch's admitted requests, reused across batches.
    accepted: Vec<Accepted>,
    /// Per partition: the commands admitted into its open segment, for the segment's index file
    /// when it is sealed ([`super::seal`]), and whether they are all of the segment's commands.
    rows: Vec<Vec<CommandRow>>,
    rows_complete: Vec<bool>,
    /// Per partition: the chain hash the open segment's first record links from.
    segment_heads: Vec<ChainHash>,
    sealer: std_mpsc::Sender<SealJob>,
}

/// Starts the writer and sync threads; returns their handles. Every partition must already have a
/// segment in the index (the last one is appended to).
pub fn start(
    shared: Arc<Shared>,
    requests: mpsc::Receiver<Request>,
) -> Result<Vec<std::thread::JoinHandle<()>>, LogError> {
    let (sealer, sealing) = seal::start(Arc::clone(&shared))?;
    let writer = Writer::new(Arc::clone(&shared), sealer)?;
    let (jobs_sender, jobs) = std_mpsc::sync_channel(PIPELINE_BATCHES_MAX);
    let sync_shared = Arc::clone(&shared);
    let syncer = std::thread::Builder::new()
        .name("ledger-log-sync".into())
        .spawn(move || sync::sync_loop(&sync_shared, &jobs))
        .map_err(|error| {
            LogError::Unavailable(format!("cannot start the log sync thread: {error}"))
        })?;
    let writer = std::thread::Builder::new()
        .name("ledger-log-writer".into())
        .spawn(move || writer.run(requests, &jobs_sender))
        .map_err(|error| {
            LogError::Unavailable(format!("cannot start the log writer thread: {error}"))
        })?;
    // The writer first: its exit closes the seal queue, which the seal thread then finishes.
    Ok(vec![writer, syncer, sealing])
}

impl Writer {
    fn new(shared: Arc<Shared>, sealer: std_mpsc::Sender<SealJob>) -> Result<Writer, LogError> {
        let index = shared.index.read().expect("index lock poisoned");
        let mut active = Vec::with_capacity(index.partitions.len());
        for partition_index in &index.partitions {
            let number = u32::try_from(partition_index.segments.len() - 1)
                .expect("segment count fits in u32");
            let segment = partition_index
                .segments
                .last()
                .expect("every partition has a segment");
            let bytes = segment
                .file
                .metadata()
                .map_err(|error| LogError::io(&*segment.path, error))?
                .len();
            active.push(ActiveSegment {
                number,
                file: Arc::clone(&segment.file),
                bytes,
            });
        }
        let heads: Vec<ChainHash> = index
            .partitions
            .iter()
            .map(|partition| partition.head)
            .collect();
        let next_offsets = index
            .partitions
            .iter()
            .map(|partition| partition.next_offset())
            .collect();
        let buffers = index.partitions.iter().map(|_| Vec::new()).collect();
        let planned_bytes = vec![0; index.partitions.len()];
        // The writer sees every command of a segment it starts, or of one that is still empty.
        let rows_complete = index
            .partitions
            .iter()
            .zip(&active)
            .map(|(partition, segment)| {
                partition
                    .records
                    .last()
                    .is_none_or(|last| last.segment != segment.number)
            })
            .collect();
        let rows = index.partitions.iter().map(|_| Vec::new()).collect();
        drop(index);
        Ok(Writer {
            shared,
            active,
            segment_heads: heads.clone(),
            heads,
            next_offsets,
            buffers,
            planned_bytes,
            accepted: Vec::with_capacity(REQUESTS_PER_BATCH_MAX),
            rows,
            rows_complete,
            sealer,
        })
    }

    fn run(mut self, mut requests: mpsc::Receiver<Request>, jobs: &std_mpsc::SyncSender<SyncJob>) {
        let mut carry: Option<Request> = None;
        let mut batch = Vec::new();
        loop {
            let Some(first) = carry.take().or_else(|| requests.blocking_recv()) else {
                return;
            };
            let (mut events, mut bytes) = (
                first.waiter.bodies.count(),
                first.waiter.bodies.frame_bytes(),
            );
            let mut commands = first.commands.len();
            batch.push(first);
            while commands < REQUESTS_PER_BATCH_MAX {
                let Ok(next) = requests.try_recv() else { break };
                if events + next.waiter.bodies.count() > EVENTS_PER_BATCH_MAX
                    || bytes + next.waiter.bodies.frame_bytes() > BATCH_BYTES_MAX
                {
                    carry = Some(next);
                    break;
                }
                events += next.waiter.bodies.count();
                bytes += next.waiter.bodies.frame_bytes();
                commands += next.commands.len();
                batch.push(next);
            }
            let job = self.write_batch(&mut batch);
            if jobs.send(job).is_err() {
                return;
            }
        }
    }

    /// Validates, indexes, frames and writes one batch; never fails: failures become results.
    fn write_batch(&mut self, batch: &mut Vec<Request>) -> SyncJob {
        if let Some(failure) = self.shared.failure.get() {
            let replies = batch
                .drain(..)
                .map(|request| {
                    let mut waiter = request.waiter;
                    let refused = request
                        .commands
                        .iter()
                        .map(|_| Err(LogError::Unavailable(failure.clone())));
                    waiter.results.extend(refused);
                    waiter
                })
                .collect();
            return SyncJob {
                files: Vec::new(),
                ends: Vec::new(),
                replies,
            };
        }
        self.admit_batch(batch);
        let records = self.frame_accepted(batch);
        let mut replies: Vec<Waiter> = batch.drain(..).map(|request| request.waiter).collect();
        let touched: Vec<usize> = (0..self.buffers.len())
            .filter(|&number| !self.buffers[number].is_empty())
            .collect();
        if let Err(error) = self.write_buffers(&touched) {
            // The index already holds the batch, but nothing after it will ever be committed: the
            // log is stopped until a reopen rebuilds the index from what is on disk.
            let detail = format!(
                "the log writer stopped after a write error: {error}; reopen the log to recover"
            );
            let _ = self.shared.failure.set(detail.clone());
            tracing::error!(%error, "event log write failed; log stopped");
            for waiter in &mut replies {
                waiter.fail(|| LogError::Unavailable(detail.clone()));
            }
            return SyncJob {
                files: Vec::new(),
                ends: Vec::new(),
                replies,
            };
        }
        let files = touched
            .iter()
            .map(|&number| Arc::clone(&self.active[number].file))
            .collect();
        let ends = touched
            .iter()
            .map(|&number| (partition_id(number), self.next_offsets[number]))
            .collect();
        self.publish_heads(&touched, records);
        if let Err(error) = self.roll_full_segments(&touched) {
            // The batch itself is written; only the next segment could not be created. Stop the log
            // before the next batch rather than append past the segment limit silently.
            let detail = format!("the log writer stopped: cannot create a new segment: {error}");
            tracing::error!(%error, "event log segment roll failed; log stopped");
            let _ = self.shared.failure.set(detail);
        }
        SyncJob {
            files,
            ends,
            replies,
        }
    }

    /// Decides each command of each request in order under one index write lock (duplicate command
    /// id first, then expected version; see [`Index::admit`]) and indexes the admitted ones with
    /// their offsets and frame locations, which are known before any hashing. Every command gets its
    /// result now (an admitted one its outcome, which the sync thread turns into an error if the
    /// batch does not become durable); all are answered by the sync thread, after everything before
    /// them is durable.
    ///
    /// Deciding and indexing in one probe per map is the point: the writer thread is the log's serial
    /// bottleneck, and the earlier split (look up under a read lock, then probe again to insert after
    /// the write) cost two to three random accesses into million-entry maps per append.
    fn admit_batch(&mut self, batch: &mut [Request]) {
        let shared = Arc::clone(&self.shared);
        let mut index = shared.index.write().expect("index lock poisoned");
        for (request_number, request) in batch.iter_mut().enumerate() {
            let waiter = &mut request.waiter;
            for queued in std::mem::take(&mut request.commands) {
                let number = usize::try_from(queued.partition.0).expect("u32 fits in usize");
                let command = NewCommand {
                    command_id: queued.command_id,
                    stream: &queued.stream,
                    partition: queued.partition,
                    expected: queued.expected,
                    first_offset: self.next_offsets[number],
                    count: queued.count,
                };
                let result = match index.admit(&command) {
                    Admission::Duplicate(original) => check_same_stream(&queued, original),
                    Admission::Conflict(actual) => Err(LogError::Conflict {
                        stream: queued.stream,
                        expected: queued.expected,
                        actual,
                    }),
                    Admission::Admitted { stream } => {
                        self.rows[number].push(CommandRow {
                            first_offset: self.next_offsets[number],
                            id: queued.command_id,
                            stream,
                            first_version: queued.expected.next().0,
                            count: queued.count,
                        });
                        let bodies = waiter.bodies.command(queued.bytes.clone());
                        let locations = self.plan_locations(number, bodies);
                        index.push_locations(queued.partition, locations);
                        self.accepted.push(Accepted {
                            request: request_number,
                            bytes: queued.bytes.clone(),
                            partition: number,
                        });
                        Ok(self.accept(queued, number))
                    }
                };
                waiter.results.push(result);
            }
        }
    }

    /// The locations the frames of `bodies` will get at the end of partition `number`'s batch.
    fn plan_locations<'a>(
        &'a mut self,
        number: usize,
        bodies: impl Iterator<Item = (&'a [u8], bool)> + 'a,
    ) -> impl Iterator<Item = RecordLocation> + 'a {
        let segment = &self.active[number];
        let planned = &mut self.planned_bytes[number];
        bodies.map(move |(body, _)| {
            let frame_bytes = frame::frame_bytes(body.len() + HASH_BYTES);
            let location = RecordLocation {
                segment: segment.number,
                frame_bytes: u32::try_from(frame_bytes).expect("frames are below 4 GiB"),
                byte_position: segment.bytes + *planned,
            };
            *planned += u64::try_from(frame_bytes).expect("usize fits in u64");
            location
        })
    }

    /// Assigns an admitted command its offsets and builds its outcome.
    fn accept(&mut self, queued: Queued, number: usize) -> AppendOutcome {
        let count = u64::from(queued.count);
        let first_offset = self.next_offsets[number];
        let positions = (first_offset..first_offset + count)
            .map(|offset| Position {
                partition: queued.partition,
                offset: Offset(offset),
            })
            .collect();
        self.next_offsets[number] += count;
        AppendOutcome {
            stream: queued.stream,
            first_version: queued.expected.next(),
            positions,
            duplicate: false,
        }
    }

    /// Chains and frames every admitted command's records into its partition's buffer, outside the
    /// index lock (SHA-256 is the largest single cost per record); returns the number of records.
    fn frame_accepted(&mut self, batch: &[Request]) -> u64 {
        let mut records = 0u64;
        for entry in self.accepted.drain(..) {
            let number = entry.partition;
            let buffer = &mut self.buffers[number];
            for (body, continued) in batch[entry.request].waiter.bodies.command(entry.bytes) {
                let hash = self.heads[number].link(body);
                frame::push_frame_parts(buffer, body, &hash.0, continued);
                self.heads[number] = hash;
                records += 1;
            }
        }
        for (number, buffer) in self.buffers.iter().enumerate() {
            assert_eq!(
                u64::try_from(buffer.len()).expect("usize fits in u64"),
                self.planned_bytes[number],
                "framed bytes of partition {number} differ from the planned locations"
            );
        }
        self.planned_bytes.fill(0);
        records
    }

    /// Writes each touched partition's buffer with one positional write.
    fn write_buffers(&mut self, touched: &[usize]) -> Result<(), std::io::Error> {
        for &number in touched {
            let segment = &mut self.active[number];
            let buffer = &mut self.buffers[number];
            segment.file.write_all_at(buffer, segment.bytes)?;
            segment.bytes += u64::try_from(buffer.len()).expect("usize fits in u64");
            self.shared.counters.bytes.fetch_add(
                u64::try_from(buffer.len()).expect("usize fits in u64"),
                Ordering::Relaxed,
            );
            buffer.clear();
        }
        Ok(())
    }

    /// Publishes the chain head of every touched partition and counts the batch's records, under one
    /// short write lock, once the batch is written.
    fn publish_heads(&self, touched: &[usize], records: u64) {
        let mut index = self.shared.index.write().expect("index lock poisoned");
        for &number in touched {
            index.partitions[number].head = self.heads[number];
        }
        for (number, partition_index) in index.partitions.iter().enumerate() {
            assert_eq!(
                partition_index.next_offset(),
                self.next_offsets[number],
                "index and writer disagree on the end of partition {number}"
            );
        }
        drop(index);
        self.shared
            .counters
            .records
            .fetch_add(records, Ordering::Relaxed);
    }

    /// Starts a new segment for every touched partition whose segment reached the size limit. Rolling
    /// only between batches keeps a command's records in one segment.
    fn roll_full_segments(&mut self, touched: &[usize]) -> Result<(), LogError> {
        for &number in touched {
            if self.active[number].bytes < self.shared.options.segment_bytes_max {
                continue;
            }
            let partition = partition_id(number);
            let rows = std::mem::take(&mut self.rows[number]);
            let job = SealJob {
                partition,
                segment: self.active[number].number,
                rows: self.rows_complete[number].then_some(rows),
                start_head: self.segment_heads[number],
                end_head: self.heads[number],
            };
            let (number_in_partition, file) =
                create_segment(&self.shared, partition, self.next_offsets[number])?;
            // Sent once the next segment exists: the seal thread takes the sealed one as all but
            // the last segment of the partition.
            let _ = self.sealer.send(job);
            self.rows_complete[number] = true;
            self.segment_heads[number] = self.heads[number];
            self.active[number] = ActiveSegment {
                number: number_in_partition,
                file,
                bytes: u64::try_from(HEADER_BYTES).expect("fits"),
            };
        }
        Ok(())
    }
}

/// A retried command must name the stream of the original; anything else is a client bug.
fn check_same_stream(queued: &Queued, original: AppendOutcome) -> Result<AppendOutcome, LogError> {
    if original.stream == queued.stream {
        return Ok(original);
    }
    Err(LogError::Invalid(format!(
        "command id {} was already used for stream \"{}\", but is now sent for stream \"{}\"; \
         a retry must repeat the original command, a new command needs a new id",
        queued.command_id, original.stream, queued.stream
    )))
}

fn partition_id(number: usize) -> PartitionId {
    PartitionId(u32::try_from(number).expect("partition count fits in u32"))
}

/// Creates a segment file starting at `base_offset`, syncs its header and directory entry, and adds it
/// to the index. Returns its number within the partition and its file.
pub fn create_segment(
    shared: &Shared,
    partition: PartitionId,
    base_offset: u64,
) -> Result<(u32, Arc<File>), LogError> {
    let dir = shared.layout.partition_dir(partition);
    std::fs::create_dir_all(&dir).map_err(|error| LogError::io(&dir, error))?;
    let path = shared.layout.segment_path(partition, base_offset);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|error| LogError::io(&path, error))?;
    let header = SegmentHeader {
        partition: partition.0,
        base_offset,
    }
    .encode();
    file.write_all_at(&header, 0)
        .map_err(|error| LogError::io(&path, error))?;
    file.sync_all()
        .map_err(|error| LogError::io(&path, error))?;
    sync_dir(&dir)?;
    let file = Arc::new(file);
    let mut index = shared.index.write().expect("index lock poisoned");
    let partition_index = index.partition_mut(partition);
    let number = u32::try_from(partition_index.segments.len()).expect("segment count fits in u32");
    partition_index.segments.push(SegmentRef {
        path: Arc::from(path.as_path()),
        file: Arc::clone(&file),
    });
    partition_index.bytes += u64::try_from(HEADER_BYTES).expect("fits");
    tracing::info!(partition = partition.0, base_offset, "started segment");
    Ok((number, file))
}
