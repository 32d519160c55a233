//! The reader's own views follow the log (issue #14 §3), as `ledger project --follow` does, on both
//! backends: on the embedded log a read-only open beside the running writer, refreshed every
//! [`REFRESH_EVERY`] (`FileLog::refresh` reads only what was appended); on Kafka the log's readers.
//! Each partition is tailed from the views' checkpoint and every batch is one atomic projector step;
//! the new checkpoint is then published to [`ViewProgress`].

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use futures::stream::BoxStream;
use ledger::log::file::FileLog;
use ledger::log::{EventEnvelope, EventLog, LogError, Offset, PartitionId, READ_BATCH_RECORDS};
use projector::{PROJECT_BATCH_MAX, Projector, SledStore};

use super::progress::{Checkpoint, ViewProgress};

/// How often the embedded log is refreshed (what another process appended becomes visible).
pub const REFRESH_EVERY: Duration = Duration::from_millis(100);

/// How long a tail waits for the next record before asking again.
const TAIL_WAIT: Duration = Duration::from_millis(500);

/// Every record of `partition` from `from` on, catching up first and then following new appends
/// as they become visible; ends only on an error or when dropped. Owns its handle on the log, so
/// it can live in a response body.
pub fn tail(
    log: Arc<dyn EventLog>,
    partition: PartitionId,
    from: Offset,
) -> BoxStream<'static, Result<EventEnvelope, LogError>> {
    let state = (log, from, VecDeque::<EventEnvelope>::new(), false);
    Box::pin(futures::stream::unfold(
        state,
        move |(log, mut next, mut buffered, failed)| async move {
            if failed {
                return None;
            }
            loop {
                if let Some(envelope) = buffered.pop_front() {
                    return Some((Ok(envelope), (log, next, buffered, false)));
                }
                match log.read_batch(partition, next, READ_BATCH_RECORDS).await {
                    Err(error) => return Some((Err(error), (log, next, buffered, true))),
                    Ok(batch) if batch.is_empty() => {
                        if let Err(error) = log.wait_for(partition, next, TAIL_WAIT).await {
                            return Some((Err(error), (log, next, buffered, true)));
                        }
                    }
                    Ok(batch) => {
                        next = batch.last().expect("non-empty").position.offset.next();
                        buffered.extend(batch);
                    }
                }
            }
        },
    ))
}

/// The checkpoint of every partition of `projector` (the lowest over its views).
pub fn checkpoint_of(projector: &Projector<SledStore>, partitions: u32) -> Checkpoint {
    Checkpoint(
        (0..partitions)
            .map(|partition| projector.resume_offset(PartitionId(partition)))
            .collect(),
    )
}

/// Follows every partition of `log` into `projector` until `stop`, publishing each new checkpoint;
/// marks the progress ready once every partition reached the end it had when this started.
pub async fn follow(
    mut projector: Projector<SledStore>,
    log: Arc<dyn EventLog>,
    progress: Arc<ViewProgress>,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let partitions = log.partitions();
    let mut ends = Vec::new();
    for partition in 0..partitions {
        ends.push(log.end_offset(PartitionId(partition)).await?);
    }
    let caught_up =
        |checkpoint: &Checkpoint| checkpoint.0.iter().zip(&ends).all(|(at, end)| at >= end);
    if caught_up(&progress.current()) {
        progress.set_ready();
    }
    let tails = (0..partitions).map(|partition| {
        let partition = PartitionId(partition);
        tail(
            Arc::clone(&log),
            partition,
            projector.resume_offset(partition),
        )
        .ready_chunks(PROJECT_BATCH_MAX)
    });
    let mut chunks = Box::pin(futures::stream::select_all(tails).take_until(stop));
    while let Some(chunk) = chunks.next().await {
        let mut batch = Vec::with_capacity(chunk.len());
        let mut failure = None;
        for item in chunk {
            match item {
                Ok(envelope) => batch.push(envelope),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        projector
            .step(&batch)
            .context("the reader's views stopped")?;
        if let Some(error) = failure {
            return Err(error).context("the reader cannot read the log");
        }
        let checkpoint = checkpoint_of(&projector, partitions);
        if !progress.is_ready() && caught_up(&checkpoint) {
            tracing::info!(checkpoint = %checkpoint.header(), "views caught up");
            progress.set_ready();
        }
        progress.publish(checkpoint);
    }
    projector
        .flush()
        .context("cannot flush the reader's views")?;
    Ok(())
}

/// Makes what the writer appends to the embedded log visible to the read-only `log`, every
/// [`REFRESH_EVERY`], until `stop`. A refresh that fails (damage before the end) is logged and tried
/// again: the records before the damage stay readable.
pub async fn refresh_embedded(log: Arc<FileLog>, stop: impl Future<Output = ()>) {
    let mut stop = std::pin::pin!(stop);
    loop {
        let refreshing = Arc::clone(&log);
        match tokio::task::spawn_blocking(move || refreshing.refresh()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::error!(%error, "cannot read new records of the event log"),
            Err(error) => tracing::error!(%error, "the refresh of the event log panicked"),
        }
        tokio::select! {
            () = tokio::time::sleep(REFRESH_EVERY) => {}
            () = &mut stop => return,
        }
    }
}
