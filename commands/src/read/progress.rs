//! Where the reader's views stand (issue #14 §3): the checkpoint of every partition (the next offset
//! every view applies), published after each projector step, so that answers carry it
//! (`X-Ledger-Checkpoint`), a request can wait for the position its write returned
//! (`?min_position=…&wait=…`, read-your-writes), and `/readyz` says when the views caught up.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ledger::log::{Offset, PartitionId, Position};
use tokio::sync::watch;

/// The header that carries a view's checkpoint on every answer of the reader.
pub const CHECKPOINT_HEADER: &str = "x-ledger-checkpoint";

/// The checkpoint of the views per partition: every record of partition `p` below offset `o[p]` has
/// been applied by every view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint(pub Vec<Offset>);

impl Checkpoint {
    /// Whether the event at `position` is applied.
    pub fn has_applied(&self, position: Position) -> bool {
        self.0
            .get(usize::try_from(position.partition.0).expect("u32 fits in usize"))
            .is_some_and(|next| *next > position.offset)
    }

    /// `0:120,1:98,…`: per partition, the offset below which everything is applied.
    pub fn header(&self) -> String {
        let mut text = String::with_capacity(self.0.len() * 8);
        for (partition, next) in self.0.iter().enumerate() {
            if partition > 0 {
                text.push(',');
            }
            let _ = write!(text, "{partition}:{}", next.0);
        }
        text
    }
}

/// The views' progress, shared by the follower (which publishes) and the routes (which read and
/// wait).
pub struct ViewProgress {
    checkpoints: watch::Sender<Checkpoint>,
    ready: AtomicBool,
}

impl ViewProgress {
    pub fn new(start: Checkpoint) -> ViewProgress {
        ViewProgress {
            checkpoints: watch::Sender::new(start),
            ready: AtomicBool::new(false),
        }
    }

    pub fn current(&self) -> Checkpoint {
        self.checkpoints.borrow().clone()
    }

    /// The follower applied a batch: the new checkpoint (only ever forward, asserted).
    pub fn publish(&self, checkpoint: Checkpoint) {
        self.checkpoints.send_modify(|current| {
            assert_eq!(current.0.len(), checkpoint.0.len(), "fixed partition count");
            assert!(
                current
                    .0
                    .iter()
                    .zip(&checkpoint.0)
                    .all(|(old, new)| old <= new),
                "a checkpoint only moves forward: {} then {}",
                current.header(),
                checkpoint.header()
            );
            *current = checkpoint;
        });
    }

    /// The views reached the end of the log as it was when the reader started.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn partitions(&self) -> u32 {
        u32::try_from(self.checkpoints.borrow().0.len()).expect("partition count fits in u32")
    }

    /// Waits until every position in `positions` is applied, at most `timeout`; returns whether they
    /// are.
    pub async fn wait_applied(&self, positions: &[Position], timeout: Duration) -> bool {
        let mut receiver = self.checkpoints.subscribe();
        let applied = |checkpoint: &Checkpoint| {
            positions
                .iter()
                .all(|position| checkpoint.has_applied(*position))
        };
        matches!(
            tokio::time::timeout(timeout, receiver.wait_for(applied)).await,
            Ok(Ok(_))
        )
    }

    /// The checkpoint of one partition.
    pub fn next_offset(&self, partition: PartitionId) -> Offset {
        let index = usize::try_from(partition.0).expect("u32 fits in usize");
        self.checkpoints.borrow().0[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(partition: u32, offset: u64) -> Position {
        Position {
            partition: PartitionId(partition),
            offset: Offset(offset),
        }
    }

    #[test]
    fn a_position_is_applied_once_the_checkpoint_passes_it() {
        let checkpoint = Checkpoint(vec![Offset(3), Offset(0)]);
        assert!(checkpoint.has_applied(position(0, 2)));
        assert!(!checkpoint.has_applied(position(0, 3)));
        assert!(!checkpoint.has_applied(position(1, 0)));
        assert!(!checkpoint.has_applied(position(2, 0)), "no such partition");
        assert_eq!(checkpoint.header(), "0:3,1:0");
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_its_position_is_published() {
        let progress = std::sync::Arc::new(ViewProgress::new(Checkpoint(vec![Offset(0); 2])));
        assert!(
            !progress
                .wait_applied(&[position(1, 4)], Duration::from_millis(10))
                .await
        );
        let publisher = std::sync::Arc::clone(&progress);
        let waiter = tokio::spawn(async move {
            progress
                .wait_applied(&[position(1, 4)], Duration::from_secs(30))
                .await
        });
        publisher.publish(Checkpoint(vec![Offset(0), Offset(5)]));
        assert!(waiter.await.unwrap());
    }

    #[test]
    #[should_panic(expected = "only moves forward")]
    fn a_checkpoint_never_goes_back() {
        let progress = ViewProgress::new(Checkpoint(vec![Offset(4)]));
        progress.publish(Checkpoint(vec![Offset(3)]));
    }
}
