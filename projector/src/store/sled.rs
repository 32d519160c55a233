//! The sled 0.34 adapter: the only file of the workspace that names sled.
//!
//! Atomicity: every keyspace lives in ONE sled tree, its keys prefixed with `len(name) ‖ name`, and a
//! [`WriteBatch`] becomes one `sled::Batch` applied with `Tree::apply_batch`. sled 0.34 pins its log for
//! the whole batch and seals it as one write batch (`pagecache::RecoveryGuard::seal_batch`), so recovery
//! replays all of it or none of it; batches are recovered in log order, so a crash leaves a prefix of
//! the applied batches. A sled transaction across several trees would use the same mechanism, but it
//! needs a closure that may be retried and a fixed set of trees; a single tree keeps the batch plain data
//! and lets a view's keyspaces be created and dropped without opening trees. The length prefix keeps
//! keyspaces disjoint: `ab` and `a` + key `b…` cannot collide.
//!
//! Point reads take sled's read lock, which `apply_batch` excludes, so a reader never sees half a batch.

use std::path::Path;

use super::{
    Entry, KeyValues, Keyspace, ReadThrough, StoreError, ViewRead, ViewStore, WriteBatch,
    WriteTarget, apply_ops,
};

/// The sled tree that holds every keyspace.
const TREE_NAME: &str = "views";

/// sled's own default page cache: 1 GB.
pub const SLED_CACHE_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;

/// When applied batches become durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// `fsync` after every batch: a batch is durable when `apply` returns. Slow, for tests of crash
    /// recovery at every step.
    EveryBatch,
    /// sled flushes in the background every `every_ms` milliseconds; a crash loses at most that much,
    /// and the projector re-applies the lost suffix from the log on restart.
    Background { every_ms: u64 },
}

/// Views in a sled database directory.
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    reader: SledReader,
    policy: FlushPolicy,
}

/// A concurrent read handle on a [`SledStore`].
#[derive(Clone)]
pub struct SledReader {
    tree: sled::Tree,
}

/// How long an open waits for a database's file lock that a store of this process has just released.
const LOCK_RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens `config`, waiting up to [`LOCK_RELEASE_WAIT`] while its file lock is held: sled 0.34
/// releases the lock only when its background flusher thread lets go of the database, shortly after
/// the last handle is dropped, so reopening a store just closed in the same process can find it
/// still locked. A lock held longer (another process) is still an error.
fn open_when_released(config: &sled::Config) -> sled::Result<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        match config.open() {
            Err(sled::Error::Io(error))
                if error.to_string().contains("could not acquire lock")
                    && started.elapsed() < LOCK_RELEASE_WAIT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

impl SledStore {
    /// Opens (or creates) the store in `path`, with sled's default page cache (1 GB).
    pub fn open(path: &Path, policy: FlushPolicy) -> Result<SledStore, StoreError> {
        SledStore::open_with_cache(path, policy, SLED_CACHE_BYTES_DEFAULT)
    }

    /// Opens (or creates) the store in `path` with a page cache of at most `cache_bytes`: what the
    /// store adds to the process's resident memory once its working set exceeds the cache (the
    /// writer's own state keeps a small one, issue #16).
    pub fn open_with_cache(
        path: &Path,
        policy: FlushPolicy,
        cache_bytes: u64,
    ) -> Result<SledStore, StoreError> {
        let every_ms = match policy {
            FlushPolicy::EveryBatch => None,
            FlushPolicy::Background { every_ms } => Some(every_ms),
        };
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .flush_every_ms(every_ms);
        let db = open_when_released(&config)
            .map_err(|error| backend("open the sled database", error))?;
        SledStore::with_db(db, policy)
    }

    /// Bytes of the store's files on disk, as sled counts them.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db
            .size_on_disk()
            .map_err(|error| backend("measure the database size", error))
    }

    /// A store in a temporary directory that sled deletes on drop (tests and benchmarks).
    pub fn temporary() -> Result<SledStore, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(|error| backend("open a temporary sled database", error))?;
        SledStore::with_db(db, FlushPolicy::Background { every_ms: 500 })
    }

    /// The store over the views tree of an open database.
    fn with_db(db: sled::Db, policy: FlushPolicy) -> Result<SledStore, StoreError> {
        let tree = db
            .open_tree(TREE_NAME)
            .map_err(|error| backend("open the views tree", error))?;
        Ok(SledStore {
            db,
            reader: SledReader { tree },
            policy,
        })
    }
}

impl ReadThrough for SledStore {
    type Handle = SledReader;

    fn read_handle(&self) -> &SledReader {
        &self.reader
    }
}

/// A sled batch takes a [`WriteBatch`]'s writes under keyspace-prefixed keys of the one tree.
impl WriteTarget for sled::Batch {
    fn put(&mut self, keyspace: &Keyspace, key: &[u8], value: &[u8]) {
        self.insert(full_key(keyspace, key), value);
    }

    fn delete(&mut self, keyspace: &Keyspace, key: &[u8]) {
        self.remove(full_key(keyspace, key));
    }
}

impl ViewStore for SledStore {
    type Reader = SledReader;

    fn apply(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut sled_batch = sled::Batch::default();
        apply_ops(&mut sled_batch, batch.ops());
        self.reader
            .tree
            .apply_batch(sled_batch)
            .map_err(|error| backend("apply a write batch", error))?;
        if self.policy == FlushPolicy::EveryBatch {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.db
            .flush()
            .map_err(|error| backend("flush to disk", error))?;
        Ok(())
    }

    fn reader(&self) -> SledReader {
        self.reader.clone()
    }
}

impl ViewRead for SledReader {
    fn get(&self, keyspace: &Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self
            .tree
            .get(full_key(keyspace, key))
            .map_err(|error| backend("read a key", error))?;
        Ok(value.map(|value| value.to_vec()))
    }

    fn scan_prefix(
        &self,
        keyspace: &Keyspace,
        prefix: &[u8],
        limit: usize,
    ) -> Result<KeyValues, StoreError> {
        let strip = keyspace_prefix(keyspace).len();
        let mut entries = Vec::new();
        for item in self
            .tree
            .scan_prefix(full_key(keyspace, prefix))
            .take(limit)
        {
            let (key, value) = item.map_err(|error| backend("scan a key range", error))?;
            entries.push((key[strip..].to_vec(), value.to_vec()));
        }
        Ok(entries)
    }

    fn export(&self) -> Result<Vec<Entry>, StoreError> {
        let mut entries = Vec::new();
        for item in self.tree.iter() {
            let (full, value) = item.map_err(|error| backend("scan the views tree", error))?;
            let (&length, rest) = full
                .split_first()
                .expect("sled keys of this tree carry a keyspace prefix");
            let (name, key) = rest.split_at(usize::from(length));
            entries.push(Entry {
                keyspace: String::from_utf8_lossy(name).into_owned(),
                key: key.to_vec(),
                value: value.to_vec(),
            });
        }
        // The tree orders by `len ‖ name ‖ key`; exports order by `(name, key)`.
        entries.sort();
        Ok(entries)
    }
}

fn backend(operation: &'static str, error: sled::Error) -> StoreError {
    StoreError::Backend {
        operation,
        source: Box::new(error),
    }
}

/// `len(name) ‖ name`: the prefix of every key of `keyspace` in the shared tree.
fn keyspace_prefix(keyspace: &Keyspace) -> Vec<u8> {
    let name = keyspace.as_str().as_bytes();
    let length =
        u8::try_from(name.len()).expect("keyspace names are at most 200 bytes (Keyspace::new)");
    let mut prefix = Vec::with_capacity(name.len() + 1);
    prefix.push(length);
    prefix.extend_from_slice(name);
    prefix
}

fn full_key(keyspace: &Keyspace, key: &[u8]) -> Vec<u8> {
    let mut full = keyspace_prefix(keyspace);
    full.extend_from_slice(key);
    full
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspaces_with_shared_name_prefixes_stay_disjoint() {
        let mut store = SledStore::temporary().unwrap();
        let (short, long) = (Keyspace::new("a"), Keyspace::new("ab"));
        let mut batch = WriteBatch::new();
        batch.put(&short, b"b1".to_vec(), b"short".to_vec());
        batch.put(&long, b"1".to_vec(), b"long".to_vec());
        store.apply(batch).unwrap();
        assert_eq!(
            store.scan_prefix(&short, b"", usize::MAX).unwrap(),
            [(b"b1".to_vec(), b"short".to_vec())]
        );
        assert_eq!(
            store.scan_prefix(&long, b"", usize::MAX).unwrap(),
            [(b"1".to_vec(), b"long".to_vec())]
        );
        assert_eq!(store.get(&long, b"b1").unwrap(), None);
        let keyspaces: Vec<String> = store
            .export()
            .unwrap()
            .into_iter()
            .map(|entry| entry.keyspace)
            .collect();
        assert_eq!(keyspaces, ["a", "ab"]);
    }

    #[test]
    fn batch_applies_puts_and_deletes_and_readers_see_them() {
        let mut store = SledStore::temporary().unwrap();
        let reader = store.reader();
        let keyspace = Keyspace::new("k");
        let mut batch = WriteBatch::new();
        batch.put(&keyspace, b"x".to_vec(), b"1".to_vec());
        batch.put(&keyspace, b"y".to_vec(), b"2".to_vec());
        store.apply(batch).unwrap();
        let mut batch = WriteBatch::new();
        batch.delete(&keyspace, b"x".to_vec());
        store.apply(batch).unwrap();
        assert_eq!(reader.get(&keyspace, b"x").unwrap(), None);
        assert_eq!(
            reader.scan_prefix(&keyspace, b"", 10).unwrap(),
            [(b"y".to_vec(), b"2".to_vec())]
        );
    }
}
