//! The embedded append-only log (the default backend): segment files per partition under the data
//! directory, group commit, recovery of a torn tail, and an exclusive lock per data directory.
//! See `docs/embedded-log.md` for the file format and the rules.
//!
//! Threads: one writer thread and one sync thread own all appends ([`writer`]); readers take a short
//! read lock on the in-memory [`index`] to find a record, then read the segment with positional reads,
//! so neither blocks the other for longer than an index update.

mod frame;
mod index;
pub mod latency;
mod layout;
mod read;
mod request;
mod restore;
mod scan;
mod seal;
mod segindex;
mod sync;
mod tables;
mod verify;
mod writer;

#[cfg(test)]
mod tests;

pub use scan::{Problem, ProblemKind};
pub use verify::{PartitionVerdict, VerifyReport, verify};
pub use writer::{
    BATCH_BYTES_MAX, EVENTS_PER_BATCH_MAX, QUEUE_REQUESTS_MAX, REQUESTS_PER_BATCH_MAX,
};

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};

use self::index::Index;
use self::layout::{Layout, settle_partitions};
use self::scan::{Access, PartitionScan, Resume, scan_partition_from};
use crate::log::envelope::{ChainHash, EventEnvelope};
use crate::log::error::LogError;
use crate::log::ids::{Offset, PartitionId, StreamId, StreamVersion};
use crate::log::{AppendOutcome, AppendRequest, EventLog};

/// When an append counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Each batch is `fdatasync`ed before any of its appends is answered: an answered append survives
    /// a crash of the process or the machine.
    #[default]
    FsyncPerBatch,
    /// Batches are written to the OS but never synced: an answered append survives a crash of the
    /// process, not of the machine. For tests and throwaway demos.
    NoSync,
}

/// How to open a [`FileLog`].
#[derive(Debug, Clone)]
pub struct FileLogOptions {
    /// Partition count; fixed when the log is created, and checked on every later open.
    pub partitions: u32,
    pub durability: Durability,
    /// A segment is closed and a new one started at the first batch boundary after it reaches this size.
    pub segment_bytes_max: u64,
}

/// The default partition count: enough to spread contracts over a few projector workers.
pub const PARTITIONS_DEFAULT: u32 = 8;

/// The default segment size: large enough to keep file counts small, small enough to copy or inspect.
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;

impl Default for FileLogOptions {
    fn default() -> Self {
        FileLogOptions {
            partitions: PARTITIONS_DEFAULT,
            durability: Durability::default(),
            segment_bytes_max: SEGMENT_BYTES_DEFAULT,
        }
    }
}

/// Counters of the group commit since open (for benchmarks and `stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Sync rounds (each covers one or more written batches).
    pub batches: u64,
    /// `fdatasync` calls (one per touched file per round; zero with [`Durability::NoSync`]).
    pub fsyncs: u64,
    pub records: u64,
    /// Framed record bytes written.
    pub bytes: u64,
}

/// A snapshot of the log's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStats {
    pub partitions: Vec<PartitionStats>,
    pub streams: u64,
    pub commands: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStats {
    pub partition: PartitionId,
    pub segments: u32,
    pub records: u64,
    pub bytes: u64,
    /// The chain hash of the partition's last record.
    pub head: ChainHash,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    fsyncs: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
    /// How long each sync round's fsyncs took (`/metrics`).
    sync_latency: latency::LatencyHistogram,
}

/// What one [`FileLog::refresh`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshReport {
    /// Records that became visible, over all partitions.
    pub records: u64,
    /// Segment files that were new to the reader.
    pub segments: u64,
    /// Segment bytes read from disk (only what was appended since the previous scan).
    pub bytes_read: u64,
}

/// State shared by the log handle, the writer and the sync thread.
struct Shared {
    layout: Layout,
    options: FileLogOptions,
    index: RwLock<Index>,
    /// The committed (durable and visible) end offset of each partition.
    committed: Vec<watch::Sender<u64>>,
    /// Set once when a write or sync failed; every later append fails with it.
    failure: OnceLock<String>,
    counters: Counters,
    /// Bytes of each segment covered by its index file on disk (written on open and clean close).
    covered: Mutex<restore::Covered>,
}

impl Shared {
    fn committed_end(&self, partition: PartitionId) -> u64 {
        *self.committed[partition_number(partition)].borrow()
    }

    fn publish_end(&self, partition: PartitionId, end: u64) {
        self.committed[partition_number(partition)]
            .send_modify(|current| *current = (*current).max(end));
    }
}

/// The embedded event log. Cheap to share behind an `Arc`; dropping the last handle stops the writer
/// (after it answered everything queued) and releases the lock.
pub struct FileLog {
    shared: Arc<Shared>,
    /// `None` for a read-only log.
    requests: Option<mpsc::Sender<request::Request>>,
    /// A read-only log's resume point per partition, where [`FileLog::refresh`] continues; `None` for
    /// a writing log. The mutex also keeps two refreshes from scanning the same bytes twice.
    follow: Option<Mutex<Vec<Resume>>>,
    threads: Vec<JoinHandle<()>>,
    /// Held for the life of a writing log: the exclusive `flock` on `<dir>/LOCK`.
    _lock: Option<File>,
}

impl std::fmt::Debug for FileLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileLog")
            .field("dir", &self.shared.layout.root())
            .field("partitions", &self.shared.committed.len())
            .field("read_only", &self.requests.is_none())
            .finish()
    }
}

impl FileLog {
    /// Opens (or creates) the log in `dir` for writing: takes the directory lock, scans every segment,
    /// truncates a torn tail (with a warning) and refuses any other damage with
    /// [`LogError::CorruptSegment`].
    pub fn open(dir: impl AsRef<Path>, options: FileLogOptions) -> Result<FileLog, LogError> {
        let layout = Layout::new(dir.as_ref());
        let lock = layout::lock(&layout)?;
        let partitions = settle_partitions(&layout, options.partitions, true)?;
        let restore::Restored {
            mut index,
            scans,
            mut covered,
        } = restore::restore(&layout, partitions, Access::ReadWrite)?;
        for (number, scan) in (0..partitions).zip(scans) {
            repair(&layout, &mut index, PartitionId(number), scan)?;
        }
        save_index_files(&layout, &index, &mut covered);
        let shared = Arc::new(Shared::new(layout, options, index, covered));
        for number in 0..partitions {
            let partition = PartitionId(number);
            let empty = shared
                .index
                .read()
                .expect("index lock poisoned")
                .partition(partition)
                .segments
                .is_empty();
            if empty {
                writer::create_segment(&shared, partition, 0)?;
            }
        }
        let (sender, receiver) = mpsc::channel(QUEUE_REQUESTS_MAX);
        let threads = writer::start(Arc::clone(&shared), receiver)?;
        tracing::info!(dir = %shared.layout.root().display(), partitions, "opened event log");
        Ok(FileLog {
            shared,
            requests: Some(sender),
            follow: None,
            threads,
            _lock: Some(lock),
        })
    }

    /// Opens the log in `dir` for reading only, without the lock, so `stats`, `tail`, `verify` and a
    /// follower work while a writer runs. It is a snapshot as of the open until [`FileLog::refresh`]
    /// picks up later appends. It ignores a torn tail (which may be a write in progress); damage before
    /// the tail is refused.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<FileLog, LogError> {
        let layout = Layout::new(dir.as_ref());
        let meta = layout.read_meta()?.ok_or_else(|| no_log(&layout))?;
        let partitions = settle_partitions(&layout, meta.partitions, false)?;
        let restore::Restored {
            index,
            scans,
            covered,
        } = restore::restore(&layout, partitions, Access::ReadOnly)?;
        let mut resumes = Vec::new();
        for scan in scans {
            if let Some(problem) = scan.problem.filter(|problem| !problem.kind.is_tail()) {
                return Err(corrupt(problem));
            }
            resumes.push(scan.resume);
        }
        let options = FileLogOptions {
            partitions,
            ..FileLogOptions::default()
        };
        Ok(FileLog {
            shared: Arc::new(Shared::new(layout, options, index, covered)),
            requests: None,
            follow: Some(Mutex::new(resumes)),
            threads: Vec::new(),
            _lock: None,
        })
    }

    /// Makes what another process appended since the open (or the previous refresh) visible to this
    /// read-only log: per partition it continues the open's scan where that stopped, reading only the
    /// new bytes, with the same checks (CRC frames, hash chain, stream versions, whole commands). The
    /// new records then reach `read_batch`, `subscribe` and `wait_for` like appends of a writer.
    ///
    /// A torn frame or an incomplete multi-event command at the very end is not an error here: the
    /// writer may be in the middle of writing it, so the refresh stops before it and the next one reads
    /// it again. Damage before the end is refused with [`LogError::CorruptSegment`] (every record before
    /// it stays visible). A writing log always sees its own appends: its report is empty.
    ///
    /// The index is locked for writing while a partition's new bytes are scanned, so readers of the
    /// same handle wait for at most one partition's new bytes.
    pub fn refresh(&self) -> Result<RefreshReport, LogError> {
        let Some(follow) = &self.follow else {
            return Ok(RefreshReport::default());
        };
        let mut resumes = follow.lock().expect("refresh lock poisoned");
        let partitions = self.partitions();
        let mut report = RefreshReport::default();
        for (number, resume) in (0..partitions).zip(resumes.iter_mut()) {
            let partition = PartitionId(number);
            let (before, scan) = {
                let mut index = self.shared.index.write().expect("index lock poisoned");
                let before = index.partition(partition).next_offset();
                let layout = &self.shared.layout;
                let scan = scan_partition_from(
                    layout,
                    partition,
                    partitions,
                    &mut index,
                    Access::ReadOnly,
                    *resume,
                )?;
                (before, scan)
            };
            report.records += scan.records - before;
            report.bytes_read += scan.bytes_read;
            let new_segments = scan.resume.segments - resume.segments;
            report.segments += u64::try_from(new_segments).expect("usize fits in u64");
            *resume = scan.resume;
            self.shared.publish_end(partition, scan.records);
            if let Some(problem) = scan.problem.filter(|problem| !problem.kind.is_tail()) {
                return Err(corrupt(problem));
            }
        }
        Ok(report)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.shared.layout.root()
    }

    /// Group-commit counters since open.
    pub fn commit_stats(&self) -> CommitStats {
        let counters = &self.shared.counters;
        CommitStats {
            batches: counters.batches.load(Ordering::Relaxed),
            fsyncs: counters.fsyncs.load(Ordering::Relaxed),
            records: counters.records.load(Ordering::Relaxed),
            bytes: counters.bytes.load(Ordering::Relaxed),
        }
    }

    /// How long the sync rounds' fsyncs took since open (empty with [`Durability::NoSync`]).
    pub fn sync_latency(&self) -> latency::LatencySnapshot {
        self.shared.counters.sync_latency.snapshot()
    }

    /// Sizes and chain heads of every partition, as far as written (a read-only log: as opened).
    pub fn stats(&self) -> LogStats {
        let index = self.shared.index.read().expect("index lock poisoned");
        let partitions = index
            .partitions
            .iter()
            .enumerate()
            .map(|(number, partition_index)| PartitionStats {
                partition: PartitionId(u32::try_from(number).expect("partition count fits in u32")),
                segments: u32::try_from(partition_index.segments.len())
                    .expect("segment count fits in u32"),
                records: partition_index.next_offset(),
                bytes: partition_index.bytes,
                head: partition_index.head,
            })
            .collect();
        let streams = u64::try_from(index.stream_count()).expect("usize fits in u64");
        let commands = u64::try_from(index.command_count()).expect("usize fits in u64");
        LogStats {
            partitions,
            streams,
            commands,
        }
    }

    fn check_partition(&self, partition: PartitionId) -> Result<(), LogError> {
        let partitions = self.partitions();
        if partition.0 < partitions {
            return Ok(());
        }
        Err(LogError::Invalid(format!(
            "partition {partition} does not exist: the log in {} has partitions 0..{partitions}",
            self.dir().display()
        )))
    }
}

impl Shared {
    fn new(
        layout: Layout,
        options: FileLogOptions,
        index: Index,
        covered: restore::Covered,
    ) -> Shared {
        let committed = index
            .partitions
            .iter()
            .map(|partition| watch::Sender::new(partition.next_offset()))
            .collect();
        Shared {
            layout,
            options,
            index: RwLock::new(index),
            committed,
            failure: OnceLock::new(),
            counters: Counters::default(),
            covered: Mutex::new(covered),
        }
    }
}

impl Drop for FileLog {
    fn drop(&mut self) {
        // Closing the queue lets the writer answer what is queued and exit; joining keeps the lock held
        // until the files are quiet, so an immediate reopen never races the old writer.
        drop(self.requests.take());
        let mut clean = !self.threads.is_empty();
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("event log thread panicked");
                clean = false;
            }
        }
        // A clean close of a writing log: everything in the index is on disk, so the index files
        // can cover it (after a write failure the index holds records that never were).
        if clean && self.shared.failure.get().is_none() {
            let index = self.shared.index.read().expect("index lock poisoned");
            let mut covered = self.shared.covered.lock().expect("covered lock poisoned");
            save_index_files(&self.shared.layout, &index, &mut covered);
        }
    }
}

#[async_trait]
impl EventLog for FileLog {
    fn partitions(&self) -> u32 {
        u32::try_from(self.shared.committed.len()).expect("partition count fits in u32")
    }

    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, LogError> {
        let mut results = self.append_many(vec![request]).await;
        results.pop().expect("one result per request")
    }

    /// Encodes the commands on the caller's task and hands them to the writer in as few requests as
    /// the batch bounds allow (usually one), so a call of a thousand commands pays one queue
    /// hand-off and one answer instead of a thousand. Each command is still admitted on its own.
    async fn append_many(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Vec<Result<AppendOutcome, LogError>> {
        let count = requests.len();
        let Some(queue) = &self.requests else {
            let dir = self.dir().display().to_string();
            return (0..count)
                .map(|_| {
                    Err(LogError::Invalid(format!(
                        "the log in {dir} is open read-only; appends need FileLog::open"
                    )))
                })
                .collect();
        };
        let stopped = || LogError::Unavailable("the event log writer has stopped".to_owned());
        let encoded = request::encode_many(requests, self.partitions());
        let mut results: Vec<Option<Result<AppendOutcome, LogError>>> =
            std::iter::repeat_with(|| None).take(count).collect();
        for (slot, error) in encoded.refused {
            results[slot] = Some(Err(error));
        }
        let mut answers = Vec::with_capacity(encoded.queued.len());
        for (queued, slots, answer) in encoded.queued {
            if queue.send(queued).await.is_err() {
                answers.push((slots, None));
                continue;
            }
            answers.push((slots, Some(answer)));
        }
        for (slots, answer) in answers {
            let answered = match answer {
                Some(answer) => answer.await.ok(),
                None => None,
            };
            match answered {
                Some((outcomes, bodies)) => {
                    drop(bodies);
                    for (slot, outcome) in slots.into_iter().zip(outcomes) {
                        results[slot] = Some(outcome);
                    }
                }
                None => {
                    for slot in slots {
                        results[slot] = Some(Err(stopped()));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|result| result.expect("every command is answered"))
            .collect()
    }

    async fn read_batch(
        &self,
        partition: PartitionId,
        from: Offset,
        max: usize,
    ) -> Result<Vec<EventEnvelope>, LogError> {
        self.check_partition(partition)?;
        let end = self.shared.committed_end(partition);
        let count = u64::try_from(max)
            .unwrap_or(u64::MAX)
            .min(end.saturating_sub(from.0));
        read::read_range(&self.shared, partition, from.0, count)
    }

    async fn end_offset(&self, partition: PartitionId) -> Result<Offset, LogError> {
        self.check_partition(partition)?;
        Ok(Offset(self.shared.committed_end(partition)))
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
    ) -> Result<Vec<EventEnvelope>, LogError> {
        let positions = {
            let index = self.shared.index.read().expect("index lock poisoned");
            index.stream_offsets(stream, from, |partition| {
                self.shared.committed_end(partition)
            })
        };
        read::read_positions(&self.shared, &positions)
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<StreamVersion, LogError> {
        let index = self.shared.index.read().expect("index lock poisoned");
        Ok(
            index
                .committed_stream_version(stream, |partition| self.shared.committed_end(partition)),
        )
    }

    async fn command_outcome(
        &self,
        command_id: super::CommandId,
    ) -> Result<Option<AppendOutcome>, LogError> {
        let index = self.shared.index.read().expect("index lock poisoned");
        let outcome = index.command_outcome(&command_id).filter(|outcome| {
            // Only a command whose records are all committed has happened.
            outcome
                .positions
                .iter()
                .all(|position| position.offset.0 < self.shared.committed_end(position.partition))
        });
        Ok(outcome)
    }

    async fn wait_for(
        &self,
        partition: PartitionId,
        offset: Offset,
        timeout: Duration,
    ) -> Result<bool, LogError> {
        self.check_partition(partition)?;
        let mut receiver = self.shared.committed[partition_number(partition)].subscribe();
        let arrived = tokio::time::timeout(timeout, receiver.wait_for(|&end| end > offset.0)).await;
        let arrived = matches!(arrived, Ok(Ok(_)));
        // On a timeout (or a dropped log) report what is committed now.
        Ok(arrived || self.shared.committed_end(partition) > offset.0)
    }
}

/// Truncates a torn tail found by the scan (with a warning) or refuses other damage.
fn repair(
    layout: &Layout,
    index: &mut Index,
    partition: PartitionId,
    scan: PartitionScan,
) -> Result<(), LogError> {
    let Some(problem) = scan.problem else {
        return Ok(());
    };
    let Some(cut) = scan.cut.filter(|_| problem.kind.is_tail()) else {
        return Err(corrupt(problem));
    };
    let path = &scan.segments[cut.segment];
    assert_eq!(
        cut.segment + 1,
        scan.segments.len(),
        "only the last segment of a partition has a tail"
    );
    tracing::warn!(
        partition = partition.0,
        segment = %path.display(),
        byte_offset = cut.keep_bytes,
        position = %problem.position,
        problem = %problem.kind,
        "truncating the torn tail of the event log"
    );
    let removed = if cut.keep_bytes < u64::try_from(frame::HEADER_BYTES).expect("fits") {
        let length = std::fs::metadata(path)
            .map_err(|error| LogError::io(path, error))?
            .len();
        std::fs::remove_file(path).map_err(|error| LogError::io(path, error))?;
        length
    } else {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|error| LogError::io(path, error))?;
        let length = file
            .metadata()
            .map_err(|error| LogError::io(path, error))?
            .len();
        file.set_len(cut.keep_bytes)
            .map_err(|error| LogError::io(path, error))?;
        file.sync_all().map_err(|error| LogError::io(path, error))?;
        length - cut.keep_bytes
    };
    layout::sync_dir(&layout.partition_dir(partition))?;
    tracing::debug!(removed, "torn tail removed");
    let partition_index = index.partition_mut(partition);
    let mut bytes = 0;
    for segment in &partition_index.segments {
        let metadata = segment
            .file
            .metadata()
            .map_err(|error| LogError::io(&*segment.path, error))?;
        bytes += metadata.len();
    }
    partition_index.bytes = bytes;
    Ok(())
}

/// Writes the index files the open or the close left to write; a failure only costs a scan on the
/// next open, so it is a warning.
fn save_index_files(layout: &Layout, index: &Index, covered: &mut restore::Covered) {
    match restore::save(layout, index, covered) {
        Ok(0) => {}
        Ok(written) => tracing::debug!(written, "wrote segment index files"),
        Err(error) => {
            tracing::warn!(%error, "cannot write the log's index files; the next open scans more");
        }
    }
}

/// The error for damage that must not be repaired automatically.
fn corrupt(problem: Problem) -> LogError {
    LogError::CorruptSegment {
        path: problem.path,
        byte_offset: problem.byte_offset,
        detail: format!(
            "{} (record position {}); nothing was changed; run `ledger log verify` for a report and restore \
             the segment from a backup",
            problem.kind, problem.position
        ),
    }
}

fn no_log(layout: &Layout) -> LogError {
    LogError::Invalid(format!(
        "no event log in {} (missing {}); check --data-dir",
        layout.root().display(),
        layout.meta_path().display()
    ))
}

fn partition_number(partition: PartitionId) -> usize {
    usize::try_from(partition.0).expect("u32 fits in usize")
}

/// The path of segment files of a data directory, for tools and tests.
pub fn partition_dir(dir: &Path, partition: PartitionId) -> PathBuf {
    Layout::new(dir).partition_dir(partition)
}
