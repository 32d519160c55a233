//! `follow_feed` on a scripted consumer-group member (issue #7): partitions are assigned, revoked and
//! assigned again mid-stream, each assignment starts at the checkpoint the driver handed over, and the
//! views end equal to the plain fold; commits come after the batches they cover and the last one is
//! the final checkpoint.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Rng, Workload};
use ledger::log::{LogError, Offset, PartitionId};
use projector::{Feed, FeedOptions, FeedPoll, Projector, SimConfig, SimStore, follow_feed};

/// One step of the scripted group member.
#[derive(Debug, Clone)]
enum Step {
    /// Deliver up to this many records of every held partition.
    Deliver(usize),
    /// A rebalance: everything held is revoked, then these partitions are assigned.
    Rebalance(Vec<u32>),
}

struct ScriptedFeed {
    workload: Workload,
    script: Vec<Step>,
    held: BTreeSet<PartitionId>,
    /// Next index to deliver per held partition (offsets here are gapless: index = offset).
    next: BTreeMap<PartitionId, u64>,
    commits: Vec<Vec<(PartitionId, Offset)>>,
    done: Arc<AtomicBool>,
}

impl ScriptedFeed {
    fn deliver(&mut self, count: usize) -> Vec<ledger::log::EventEnvelope> {
        let mut records = Vec::new();
        for partition in &self.held {
            let next = self
                .next
                .get_mut(partition)
                .expect("held partitions have a position");
            let events = self.workload.partition(*partition);
            let from = usize::try_from(*next).unwrap().min(events.len());
            let to = (from + count).min(events.len());
            records.extend_from_slice(&events[from..to]);
            *next = u64::try_from(to).unwrap();
        }
        records
    }
}

impl Feed for ScriptedFeed {
    async fn poll(&mut self, resume: BTreeMap<PartitionId, Offset>) -> Result<FeedPoll, LogError> {
        if self.script.is_empty() {
            // Like a real member, an idle poll waits a little (and so lets the stop be seen).
            self.done.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(1)).await;
            return Ok(FeedPoll::default());
        }
        match self.script.remove(0) {
            Step::Deliver(count) => Ok(FeedPoll {
                records: self.deliver(count),
                ..FeedPoll::default()
            }),
            Step::Rebalance(partitions) => {
                let revoked = std::mem::take(&mut self.held).into_iter().collect();
                self.next.clear();
                let assigned: Vec<PartitionId> = partitions.into_iter().map(PartitionId).collect();
                for &partition in &assigned {
                    self.held.insert(partition);
                    self.next.insert(partition, resume[&partition].0);
                }
                Ok(FeedPoll {
                    records: Vec::new(),
                    assigned,
                    revoked,
                })
            }
        }
    }

    async fn commit(&mut self, offsets: Vec<(PartitionId, Offset)>) -> Result<(), LogError> {
        self.commits.push(offsets);
        Ok(())
    }
}

#[tokio::test]
async fn partitions_revoked_and_assigned_again_resume_from_the_checkpoint() {
    let workload = Workload::generate(&mut Rng::new(77), 3, 12, 900);
    let done = Arc::new(AtomicBool::new(false));
    let mut feed = ScriptedFeed {
        workload: workload.clone(),
        script: vec![
            Step::Rebalance(vec![0, 1, 2]),
            Step::Deliver(40),
            Step::Deliver(25),
            // Another member takes partitions 1 and 2: this one stops applying them.
            Step::Rebalance(vec![0]),
            Step::Deliver(60),
            // They come back; each resumes at this projector's own checkpoint.
            Step::Rebalance(vec![0, 1, 2]),
            Step::Deliver(1_000),
        ],
        held: BTreeSet::new(),
        next: BTreeMap::new(),
        commits: Vec::new(),
        done: Arc::clone(&done),
    };
    let (mut projector, _) =
        Projector::open(SimStore::new(SimConfig::default()), common::views(1)).unwrap();
    let stop = async {
        while !done.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let options = FeedOptions {
        partitions: workload.partition_count(),
        commit_every: Duration::ZERO,
        on_poll: None,
    };
    let report = follow_feed(&mut projector, &mut feed, options, stop)
        .await
        .unwrap();

    let actual = common::read_views(&projector.reader());
    assert_eq!(
        common::first_difference(&actual, &common::model(&workload, 1)),
        None
    );
    // Partitions 1 and 2 were delivered 65 records each before the revocation and resumed after
    // them, so no record was stepped twice.
    let total = u64::try_from(workload.event_count()).unwrap();
    assert_eq!(report.events, total, "every record stepped exactly once");
    let last = feed.commits.last().expect("a final commit");
    for &(partition, offset) in last {
        assert_eq!(offset, projector.resume_offset(partition));
    }
    for commit in &feed.commits {
        for &(partition, offset) in commit {
            assert!(offset <= projector.resume_offset(partition));
        }
    }
}
