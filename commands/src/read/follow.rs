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

/// What a tail yields: a record, or word that it has read everything the partition holds now.
/// (Records are the common case and are moved on at once: not worth a box each.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Tailed {
    Record(EventEnvelope),
    /// The partition has no more records for now (the tail waits for the next append).
    Idle(PartitionId),
}

/// Every record of `partition` from `from` on, catching up first and then following new appends
/// as they become visible, with an [`Tailed::Idle`] whenever it has read all there is; ends only on
/// an error or when dropped. Owns its handle on the log, so it can live in a response body.
pub fn tail(
    log: Arc<dyn EventLog>,
    partition: PartitionId,
    from: Offset,
) -> BoxStream<'static, Result<Tailed, LogError>> {
    let state = (log, from, VecDeque::<EventEnvelope>::new(), Step::Read);
    Box::pin(futures::stream::unfold(
        state,
        move |(log, mut next, mut buffered, step)| async move {
            match step {
                Step::Failed => return None,
                Step::Wait => {
                    if let Err(error) = log.wait_for(partition, next, TAIL_WAIT).await {
                        return Some((Err(error), (log, next, buffered, Step::Failed)));
                    }
                }
                Step::Read => {}
            }
            loop {
                if let Some(envelope) = buffered.pop_front() {
                    return Some((
                        Ok(Tailed::Record(envelope)),
                        (log, next, buffered, Step::Read),
                    ));
                }
                match log.read_batch(partition, next, READ_BATCH_RECORDS).await {
                    Err(error) => return Some((Err(error), (log, next, buffered, Step::Failed))),
                    Ok(batch) if batch.is_empty() => {
                        let idle = Ok(Tailed::Idle(partition));
                        return Some((idle, (log, next, buffered, Step::Wait)));
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

/// What a tail does next.
enum Step {
    Read,
    /// It found nothing: wait for the next append before reading again.
    Wait,
    Failed,
}

/// The records of a tail, without its idle marks.
pub fn records(
    tailed: BoxStream<'static, Result<Tailed, LogError>>,
) -> BoxStream<'static, Result<EventEnvelope, LogError>> {
    Box::pin(tailed.filter_map(|item| {
        std::future::ready(match item {
            Ok(Tailed::Record(envelope)) => Some(Ok(envelope)),
            Ok(Tailed::Idle(_)) => None,
            Err(error) => Some(Err(error)),
        })
    }))
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
/// marks the progress ready once every partition has been read to its end once (on Kafka the end
/// may be a transaction marker, which no checkpoint passes, so readiness is "read all there was").
pub async fn follow(
    mut projector: Projector<SledStore>,
    log: Arc<dyn EventLog>,
    progress: Arc<ViewProgress>,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let partitions = log.partitions();
    let mut idle = vec![false; usize::try_from(partitions).expect("u32 fits in usize")];
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
                Ok(Tailed::Record(envelope)) => batch.push(envelope),
                Ok(Tailed::Idle(partition)) => {
                    idle[usize::try_from(partition.0).expect("u32 fits in usize")] = true;
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        if !batch.is_empty() {
            projector
                .step(&batch)
                .context("the reader's views stopped")?;
        }
        if let Some(error) = failure {
            return Err(error).context("the reader cannot read the log");
        }
        let checkpoint = checkpoint_of(&projector, partitions);
        if !progress.is_ready() && idle.iter().all(|idle| *idle) {
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
