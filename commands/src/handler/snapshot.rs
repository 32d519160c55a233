//! Snapshots of long streams' folded states (issue #16 §1, docs/decisions.md #35): a period of a
//! national month holds ~100k dispensings, and without a snapshot the first decision on it after a
//! restart (or after its state was evicted) re-folds all of them.
//!
//! A snapshot is one file per stream in `<writer-state>/snapshots/`, written whole or not at all
//! (`AtomicFile`): `MAGIC ‖ CRC-32C(rest) ‖ u32 LE header length ‖ header ‖ state`, header and state
//! each in `ledger::codec`. The header names the state's type, the aggregate's fold version
//! ([`Aggregate::FOLD_VERSION`], the views' version stamp), the stream, the stream version the state
//! folds and the id of the event at that version. Files rather than sled: the values are large (tens of MB) and each is replaced
//! whole, which a rename does atomically without sled's space amplification.
//!
//! A snapshot is a cache of the log, never a second truth: the handler uses it only when its checksum,
//! aggregate, fold version and stream match and the log holds the named event at the named version;
//! anything else (damaged, truncated, foreign, of another fold, ahead of the log) is discarded with a
//! warning and the stream is re-folded from the log.
//!
//! Cost: the state is encoded under the stream's lock (the handler owns it there and never clones
//! it) when the stream has doubled since its last snapshot, and by at least [`SNAPSHOT_EVERY`]
//! events (`super::snapshot_due`); the file is written and fsynced by a background thread, so the
//! command path pays only the encoding (docs/performance.md).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use ledger::log::{EventId, StreamId, StreamVersion};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Aggregate;

/// The fewest events a stream grows by between two snapshots of it (the first is taken at this
/// version; each next one once the stream has also doubled: `super::snapshot_due`).
pub const SNAPSHOT_EVERY: u64 = 10_000;

/// The directory of the snapshots under the writer's state directory.
pub const SNAPSHOTS_DIR: &str = "snapshots";

/// The first bytes of every snapshot file (and its format: a new format gets a new magic).
const MAGIC: &[u8; 8] = b"LSNAP\x00\x00\x01";

/// Bytes of the checksum after the magic: CRC-32C, as the log's frames (damage, not forgery, is what
/// a snapshot guards against: a forged one still has to name the log's event at its version). A
/// SHA-256 of a national month's 40 MB snapshot cost ~100 ms on each write and read.
const CHECKSUM_BYTES: usize = 4;

/// What a snapshot says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    /// The state's type: a stream's shape is shared by the KZ and KG periods, their states are not.
    state: String,
    fold_version: u32,
    stream: String,
    version: u64,
    event_id: u128,
}

/// A snapshot read back and checked against its own header.
pub(crate) struct Snapshot<S> {
    pub state: S,
    pub version: StreamVersion,
    pub event_id: EventId,
}

/// The files waiting for the writing thread: at most one per stream (a newer snapshot of a stream
/// replaces one not yet written), so memory stays bounded when the disk is slow.
#[derive(Default)]
struct Queue {
    pending: HashMap<PathBuf, Vec<u8>>,
    /// Files being written now.
    writing: usize,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
    written: AtomicU64,
    bytes: AtomicU64,
}

/// What the store wrote so far (for the demo's summary and the benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    pub written: u64,
    pub bytes: u64,
    /// Time spent encoding states on the command path.
    pub encode_micros: u64,
    /// Snapshots replaced by a newer one of their stream before the thread wrote them.
    pub replaced: u64,
}

/// The snapshot files of one writer, with the thread that writes them.
pub struct SnapshotStore {
    dir: PathBuf,
    every: AtomicU64,
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    encode_micros: AtomicU64,
    replaced: AtomicU64,
}

impl SnapshotStore {
    /// The snapshots in `dir` (created if missing), one taken every `every` events of a stream.
    pub fn open(dir: &Path, every: u64) -> anyhow::Result<SnapshotStore> {
        std::fs::create_dir_all(dir)
            .map_err(|error| anyhow::anyhow!("cannot create {}: {error}", dir.display()))?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            written: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("snapshots".into())
            .spawn(move || write_queued(&for_thread))
            .map_err(|error| anyhow::anyhow!("cannot start the snapshot writer: {error}"))?;
        Ok(SnapshotStore {
            dir: dir.to_path_buf(),
            every: AtomicU64::new(every.max(1)),
            shared,
            thread: Mutex::new(Some(thread)),
            encode_micros: AtomicU64::new(0),
            replaced: AtomicU64::new(0),
        })
    }

    /// The snapshots of the writer whose state is in `state_dir` (`<state_dir>/snapshots`), taken
    /// every [`SNAPSHOT_EVERY`] events. Never fatal: a directory that cannot be made is warned
    /// about, and the writer runs without snapshots (folding long streams whole, as before).
    pub fn in_state_dir(state_dir: &Path) -> Option<Arc<SnapshotStore>> {
        let dir = state_dir.join(SNAPSHOTS_DIR);
        match SnapshotStore::open(&dir, SNAPSHOT_EVERY) {
            Ok(store) => Some(Arc::new(store)),
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "no snapshots: long streams are folded whole after a restart");
                None
            }
        }
    }

    /// Events between two snapshots of a stream.
    pub fn every(&self) -> u64 {
        self.every.load(Ordering::Relaxed)
    }

    /// Takes a snapshot every `every` events of a stream from now on (tests take them often).
    pub fn set_every(&self, every: u64) {
        self.every.store(every.max(1), Ordering::Relaxed);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn stats(&self) -> SnapshotStats {
        SnapshotStats {
            written: self.shared.written.load(Ordering::Relaxed),
            bytes: self.shared.bytes.load(Ordering::Relaxed),
            encode_micros: self.encode_micros.load(Ordering::Relaxed),
            replaced: self.replaced.load(Ordering::Relaxed),
        }
    }

    /// The file of `stream`: a digest of its id (stream ids hold `/`); the header names the stream.
    pub fn path(&self, stream: &StreamId) -> PathBuf {
        let digest = Sha256::digest(stream.as_str().as_bytes());
        self.dir
            .join(format!("{}.snap", hex::encode(&digest[..16])))
    }

    /// Encodes `state` (at `version`, whose event is `event_id`) and queues its file. Returns whether
    /// it was queued: false when the aggregate takes no snapshots or the encoding failed.
    pub(crate) fn put<A: Aggregate>(
        &self,
        stream: &StreamId,
        state: &A::State,
        version: StreamVersion,
        event_id: EventId,
    ) -> bool {
        let started = Instant::now();
        let Some(encoded) = A::encode_state(state) else {
            return false;
        };
        let header = Header {
            state: std::any::type_name::<A::State>().to_owned(),
            fold_version: A::FOLD_VERSION,
            stream: stream.as_str().to_owned(),
            version: version.0,
            event_id: event_id.0.as_u128(),
        };
        let bytes = encoded.and_then(|state| {
            let header = ledger::codec::encode(&header)?;
            Ok(frame(&header, &state))
        });
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.encode_micros.fetch_add(micros, Ordering::Relaxed);
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%stream, %error, "cannot encode a snapshot; the stream is re-folded after a restart");
                return false;
            }
        };
        let mut queue = self.shared.queue.lock().expect("snapshot queue lock");
        if queue.pending.insert(self.path(stream), bytes).is_some() {
            self.replaced.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%stream, %version, "the snapshot writer is behind; replacing a queued snapshot");
        }
        self.shared.changed.notify_all();
        true
    }

    /// Reads the snapshot of `stream` for aggregate `A`, if there is a usable one; a damaged,
    /// foreign or outdated file is removed with a warning (the caller re-folds from the log).
    pub(crate) fn get<A: Aggregate>(&self, stream: &StreamId) -> Option<Snapshot<A::State>> {
        let path = self.path(stream);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => {
                self.discard(stream, &format!("cannot read {}: {error}", path.display()));
                return None;
            }
        };
        match parse::<A>(stream, &bytes) {
            Ok(snapshot) => Some(snapshot),
            Err(problem) => {
                self.discard(stream, &problem);
                None
            }
        }
    }

    /// Removes the snapshot of `stream`, saying why (never fatal: the stream is folded from the log).
    pub(crate) fn discard(&self, stream: &StreamId, problem: &str) {
        let path = self.path(stream);
        tracing::warn!(%stream, file = %path.display(), problem, "discarding a snapshot; re-folding the stream from the log");
        if let Err(error) = std::fs::remove_file(&path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %path.display(), %error, "cannot remove a discarded snapshot");
        }
    }

    /// Waits until every queued snapshot is written.
    pub fn flush(&self) {
        let mut queue = self.shared.queue.lock().expect("snapshot queue lock");
        while !queue.pending.is_empty() || queue.writing > 0 {
            queue = self
                .shared
                .changed
                .wait(queue)
                .expect("snapshot queue lock");
        }
    }
}

impl Drop for SnapshotStore {
    /// Writes what is queued, then stops the thread.
    fn drop(&mut self) {
        self.shared
            .queue
            .lock()
            .expect("snapshot queue lock")
            .closed = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.lock().expect("snapshot thread lock").take() {
            let _ = thread.join();
        }
    }
}

fn frame(header: &[u8], state: &[u8]) -> Vec<u8> {
    let length = u32::try_from(header.len()).expect("a snapshot header is small");
    let mut rest = Vec::with_capacity(4 + header.len() + state.len());
    rest.extend_from_slice(&length.to_le_bytes());
    rest.extend_from_slice(header);
    rest.extend_from_slice(state);
    let mut bytes = Vec::with_capacity(MAGIC.len() + CHECKSUM_BYTES + rest.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&crc32c::crc32c(&rest).to_le_bytes());
    bytes.extend_from_slice(&rest);
    bytes
}

/// Checks a snapshot file against itself and against what `A` folds on `stream`.
fn parse<A: Aggregate>(stream: &StreamId, bytes: &[u8]) -> Result<Snapshot<A::State>, String> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or("not a snapshot of this format (magic bytes differ)")?;
    if rest.len() < CHECKSUM_BYTES + 4 {
        return Err(format!("truncated: {} bytes", bytes.len()));
    }
    let (checksum, rest) = rest.split_at(CHECKSUM_BYTES);
    if crc32c::crc32c(rest).to_le_bytes().as_slice() != checksum {
        return Err("damaged: its CRC-32C does not match its content".into());
    }
    let (length, rest) = rest.split_at(4);
    let length = u32::from_le_bytes(length.try_into().expect("4 bytes"));
    let length = usize::try_from(length).map_err(|_| "header length overflows")?;
    if length > rest.len() {
        return Err(format!("truncated: a header of {length} bytes"));
    }
    let (header, state) = rest.split_at(length);
    let header: Header =
        ledger::codec::decode(header).map_err(|error| format!("bad header: {error}"))?;
    let state_type = std::any::type_name::<A::State>();
    if header.state != state_type || header.stream != stream.as_str() {
        return Err(format!(
            "foreign: it holds a {} of {}, not a {state_type} of {stream}",
            header.state, header.stream
        ));
    }
    if header.fold_version != A::FOLD_VERSION {
        return Err(format!(
            "folded by fold version {}, this writer folds version {}",
            header.fold_version,
            A::FOLD_VERSION
        ));
    }
    if header.version == 0 {
        return Err("at version 0".into());
    }
    let state = A::decode_state(state).map_err(|error| format!("bad state: {error}"))?;
    Ok(Snapshot {
        state,
        version: StreamVersion(header.version),
        event_id: EventId(uuid::Uuid::from_u128(header.event_id)),
    })
}

/// The writing thread: writes queued files until the store is dropped and the queue is empty.
fn write_queued(shared: &Shared) {
    loop {
        let (path, bytes) = {
            let mut queue = shared.queue.lock().expect("snapshot queue lock");
            loop {
                let next = queue.pending.keys().next().cloned();
                if let Some(path) = next {
                    let bytes = queue.pending.remove(&path).expect("a queued file");
                    queue.writing += 1;
                    break (path, bytes);
                }
                if queue.closed {
                    return;
                }
                queue = shared.changed.wait(queue).expect("snapshot queue lock");
            }
        };
        match write_file(&path, &bytes) {
            Ok(()) => {
                shared.written.fetch_add(1, Ordering::Relaxed);
                let length = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                shared.bytes.fetch_add(length, Ordering::Relaxed);
            }
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "cannot write a snapshot; the stream is re-folded after a restart");
            }
        }
        shared.queue.lock().expect("snapshot queue lock").writing -= 1;
        shared.changed.notify_all();
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = crate::files::AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()?;
    Ok(())
}
