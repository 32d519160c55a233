//! The sync thread: makes written batches durable, publishes them and answers their waiters.
//!
//! It drains every batch the writer handed over, `fdatasync`s each touched file once (concurrently,
//! with a few helper threads, so a round that touched several partitions costs about one sync: on a
//! journaling file system concurrent syncs share a journal commit), publishes each partition's new
//! committed end, and answers the appends. A failed sync stops the log for good: after a failed
//! `fdatasync` the kernel may have dropped the dirty pages, so nothing written since can be trusted
//! until a reopen recovers from what is really on disk.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use super::request::Waiter;
use super::{Durability, Shared};
use crate::log::error::LogError;
use crate::log::ids::PartitionId;

/// The most helper threads that sync files beside the sync thread.
pub const SYNC_HELPERS_MAX: u32 = 7;

/// What the sync thread must do for one written batch.
pub struct SyncJob {
    pub files: Vec<Arc<File>>,
    /// The new end offset of every touched partition.
    pub ends: Vec<(PartitionId, u64)>,
    /// The waiters of the batch's requests, each with one result per command.
    pub replies: Vec<Waiter>,
}

/// A file to sync and where to report the result.
struct SyncTask {
    file: Arc<File>,
    done: std_mpsc::Sender<std::io::Result<()>>,
}

/// Long-lived helper threads that `fdatasync` files concurrently with the sync thread (spawning a
/// thread per file per round would cost more than a fast sync).
struct SyncPool {
    helpers: Vec<std_mpsc::Sender<SyncTask>>,
    threads: Vec<JoinHandle<()>>,
}

impl SyncPool {
    fn new(count: u32) -> SyncPool {
        let mut pool = SyncPool {
            helpers: Vec::new(),
            threads: Vec::new(),
        };
        for number in 0..count {
            let (sender, tasks) = std_mpsc::channel::<SyncTask>();
            let spawned = std::thread::Builder::new()
                .name(format!("ledger-log-sync-{number}"))
                .spawn(move || {
                    for task in tasks {
                        let _ = task.done.send(task.file.sync_data());
                    }
                });
            // Without a helper the sync thread syncs that share of files itself; slower, not wrong.
            if let Ok(thread) = spawned {
                pool.helpers.push(sender);
                pool.threads.push(thread);
            }
        }
        pool
    }

    /// `fdatasync`s every file: all but the first on the helpers, the first on this thread.
    fn sync_all(&self, files: &[&Arc<File>]) -> std::io::Result<()> {
        let Some((first, rest)) = files.split_first() else {
            return Ok(());
        };
        let (done, results) = std_mpsc::channel();
        let mut handed = 0usize;
        let mut outcome = Ok(());
        for (number, file) in rest.iter().enumerate() {
            let task = SyncTask {
                file: Arc::clone(file),
                done: done.clone(),
            };
            let sent = match self.helpers.get(number % self.helpers.len().max(1)) {
                Some(helper) => helper.send(task).is_ok(),
                None => false,
            };
            if sent {
                handed += 1;
            } else {
                outcome = outcome.and(file.sync_data());
            }
        }
        outcome = outcome.and(first.sync_data());
        for _ in 0..handed {
            let synced = results
                .recv()
                .unwrap_or_else(|_| Err(std::io::Error::other("sync helper stopped")));
            outcome = outcome.and(synced);
        }
        outcome
    }

    fn stop(self) {
        drop(self.helpers);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// The sync thread: syncs written batches, publishes their ends and answers their waiters.
pub fn sync_loop(shared: &Shared, jobs: &std_mpsc::Receiver<SyncJob>) {
    let helpers = u32::try_from(shared.committed.len())
        .unwrap_or(u32::MAX)
        .saturating_sub(1);
    let pool = SyncPool::new(helpers.min(SYNC_HELPERS_MAX));
    let mut pending = Vec::with_capacity(super::writer::PIPELINE_BATCHES_MAX);
    while let Ok(job) = jobs.recv() {
        pending.push(job);
        while let Ok(more) = jobs.try_recv() {
            pending.push(more);
        }
        let outcome = sync_files(shared, &pool, &pending);
        for job in pending.drain(..) {
            if outcome.is_ok() {
                for &(partition, end) in &job.ends {
                    shared.publish_end(partition, end);
                }
            }
            for mut waiter in job.replies {
                if let Err(detail) = &outcome {
                    // The commit failed: every command of the batch fails with it.
                    waiter.fail(|| LogError::Unavailable(detail.clone()));
                }
                waiter.answer();
            }
        }
    }
    pool.stop();
}

/// Syncs every file touched by `jobs` once. A failure stops the log for good.
fn sync_files(shared: &Shared, pool: &SyncPool, jobs: &[SyncJob]) -> Result<(), String> {
    if let Some(failure) = shared.failure.get() {
        return Err(failure.clone());
    }
    let mut files: Vec<&Arc<File>> = jobs.iter().flat_map(|job| &job.files).collect();
    files.sort_by_key(|file| Arc::as_ptr(file));
    files.dedup_by_key(|file| Arc::as_ptr(file));
    if files.is_empty() {
        return Ok(());
    }
    if shared.options.durability == Durability::FsyncPerBatch {
        let started = std::time::Instant::now();
        let synced = pool.sync_all(&files);
        shared.counters.sync_latency.observe(started.elapsed());
        if let Err(error) = synced {
            let detail =
                format!("the log stopped after a failed fsync: {error}; reopen the log to recover");
            tracing::error!(%error, "event log fsync failed; log stopped");
            let _ = shared.failure.set(detail.clone());
            return Err(detail);
        }
        let synced = u64::try_from(files.len()).expect("usize fits in u64");
        shared.counters.fsyncs.fetch_add(synced, Ordering::Relaxed);
    }
    shared.counters.batches.fetch_add(1, Ordering::Relaxed);
    Ok(())
}
