//! Following the events topic as a Kafka consumer group (issue #7, "Reads"): the partitions of the
//! topic are split among the members of a group, and a member learns which it holds through
//! rebalances.
//!
//! The consumer does not trust Kafka's committed offsets. On every assignment it seeks each assigned
//! partition to the resume offset the caller handed to the last [`GroupConsumer::poll`]: the
//! projector's checkpoint, written atomically with its views, is the truth. Committed offsets
//! ([`GroupConsumer::commit`]) are for monitoring only (consumer lag in standard Kafka tools).
//!
//! Rebalances use the eager protocol (`partition.assignment.strategy=range`): every rebalance revokes
//! the whole assignment and then assigns the new one. A poll that sees a rebalance therefore drops
//! every record it had collected (none was applied yet) and returns only the change; the newly assigned
//! partitions restart from their resume offsets. Records below a partition's resume offset, and records
//! of partitions no longer held, are never returned.
//!
//! Aborted transactions: like the `assign()` readers this consumer reads with
//! `isolation.level=read_committed`, which Kafka honours. tansu 0.6.0 does not (it delivers records of
//! aborted transactions); the writer aborts only after a failed produce or commit, and nothing here can
//! tell such records apart on that broker (see `docs/kafka.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Message, TopicPartitionList};
use tracing::{info, warn};

use super::config::KafkaConfig;
use super::reader::{REQUEST_TIMEOUT, blocking};
use super::{client_config, ensure_topic, kafka_partition, unavailable};
use crate::log::envelope::EventEnvelope;
use crate::log::error::LogError;
use crate::log::ids::{Offset, PartitionId, Position};

/// Consumer errors in a row (without a record or a rebalance in between) after which a poll fails:
/// librdkafka reports transient broker trouble as errors and recovers by itself, but an error that
/// repeats (an offset out of range, a deleted topic) must stop the follower with its message.
const POLL_ERRORS_IN_A_ROW_MAX: u32 = 50;
/// How long one librdkafka poll inside [`GroupConsumer::poll`] blocks at most.
const POLL_SLICE: Duration = Duration::from_millis(100);

/// A change of the partitions this member holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChange {
    /// These partitions were assigned to this member; each was sought to its resume offset.
    Assigned(Vec<PartitionId>),
    /// These partitions were taken away; nothing more of them is returned until assigned again.
    Revoked(Vec<PartitionId>),
}

/// What one [`GroupConsumer::poll`] returned.
#[derive(Debug, Default)]
pub struct GroupPoll {
    /// Records of held partitions, each partition in offset order, none below its resume offset.
    pub records: Vec<EventEnvelope>,
    /// Rebalances seen during this poll, in order (when not empty, `records` is empty).
    pub changes: Vec<GroupChange>,
}

/// Shared between the consumer's rebalance callback (which runs inside librdkafka's poll) and
/// [`GroupConsumer`].
struct Membership {
    topic: String,
    /// The resume offsets handed to the current poll: where an assigned partition starts.
    resume: Mutex<BTreeMap<PartitionId, Offset>>,
    held: Mutex<BTreeSet<PartitionId>>,
    changes: Mutex<Vec<GroupChange>>,
}

struct GroupContext(Arc<Membership>);

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    /// Replaces rdkafka's default handler so that an assignment starts at the resume offsets rather
    /// than at the committed ones.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        code: RDKafkaRespErr,
        assignment: &mut TopicPartitionList,
    ) {
        let membership = &self.0;
        let partitions: Vec<PartitionId> = assignment
            .elements_for_topic(&membership.topic)
            .iter()
            .filter_map(|element| u32::try_from(element.partition()).ok().map(PartitionId))
            .collect();
        match code {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let seek = seek_assignment(membership, &partitions);
                if let Err(error) = consumer.assign(&seek) {
                    warn!(%error, "assigning the partitions of a rebalance failed");
                }
                membership
                    .held
                    .lock()
                    .expect("held lock")
                    .extend(partitions.iter().copied());
                record_change(membership, GroupChange::Assigned(partitions));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if let Err(error) = consumer.unassign() {
                    warn!(%error, "revoking the partitions of a rebalance failed");
                }
                let mut held = membership.held.lock().expect("held lock");
                for partition in &partitions {
                    held.remove(partition);
                }
                drop(held);
                record_change(membership, GroupChange::Revoked(partitions));
            }
            other => warn!(code = ?other, "consumer group rebalance failed"),
        }
    }
}

/// The assignment with each partition at its resume offset (0 when the caller knows none).
fn seek_assignment(membership: &Membership, partitions: &[PartitionId]) -> TopicPartitionList {
    let resume = membership.resume.lock().expect("resume lock");
    let mut seek = TopicPartitionList::new();
    for &partition in partitions {
        let offset = resume.get(&partition).copied().unwrap_or(Offset(0));
        let offset = i64::try_from(offset.0).expect("Kafka offsets fit in i64");
        seek.add_partition_offset(
            &membership.topic,
            kafka_partition(partition),
            rdkafka::Offset::Offset(offset),
        )
        .expect("a valid offset");
    }
    seek
}

fn record_change(membership: &Membership, change: GroupChange) {
    info!(?change, "consumer group rebalanced");
    membership
        .changes
        .lock()
        .expect("changes lock")
        .push(change);
}

/// A member of a consumer group over the events topic.
pub struct GroupConsumer {
    consumer: Arc<Mutex<BaseConsumer<GroupContext>>>,
    membership: Arc<Membership>,
    group: String,
}

impl GroupConsumer {
    /// Joins `group` (subscribes to `<prefix>.events`); the assignment arrives during later polls.
    /// The topic must exist or is created, as on [`super::KafkaLog::open`].
    pub async fn join(config: &KafkaConfig, group: &str) -> Result<GroupConsumer, LogError> {
        if group.is_empty() {
            return Err(LogError::Invalid(
                "the consumer group id is empty; name the group (e.g. --group ledger.projector)"
                    .to_owned(),
            ));
        }
        ensure_topic(config, &config.events_topic()).await?;
        let membership = Arc::new(Membership {
            topic: config.events_topic(),
            resume: Mutex::new(BTreeMap::new()),
            held: Mutex::new(BTreeSet::new()),
            changes: Mutex::new(Vec::new()),
        });
        let mut client = client_config(config);
        client
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "error")
            .set("partition.assignment.strategy", "range")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("fetch.wait.max.ms", "100");
        let consumer: BaseConsumer<GroupContext> = client
            .create_with_context(GroupContext(Arc::clone(&membership)))
            .map_err(|error| unavailable("creating the Kafka group consumer", &error))?;
        consumer
            .subscribe(&[&membership.topic])
            .map_err(|error| unavailable(&format!("subscribing group \"{group}\""), &error))?;
        info!(group, topic = membership.topic, "joined consumer group");
        Ok(GroupConsumer {
            consumer: Arc::new(Mutex::new(consumer)),
            membership,
            group: group.to_owned(),
        })
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// The partitions this member holds now.
    pub fn held(&self) -> Vec<PartitionId> {
        let held = self.membership.held.lock().expect("held lock");
        held.iter().copied().collect()
    }

    /// Waits up to `wait` for records (at most `max`) of the held partitions, or for a rebalance.
    /// `resume` is, per partition, the next offset the caller has not applied: a partition assigned
    /// during this poll starts there, and records below it are dropped.
    pub async fn poll(
        &self,
        resume: BTreeMap<PartitionId, Offset>,
        max: usize,
        wait: Duration,
    ) -> Result<GroupPoll, LogError> {
        *self.membership.resume.lock().expect("resume lock") = resume;
        let consumer = Arc::clone(&self.consumer);
        let membership = Arc::clone(&self.membership);
        let group = self.group.clone();
        blocking(move || {
            let consumer = consumer.lock().expect("group consumer lock");
            poll_blocking(&consumer, &membership, &group, max, wait)
        })
        .await
    }

    /// Commits `offsets` (partition → next offset to read) for the group: for monitoring only, the
    /// caller's own checkpoint decides where it resumes. Partitions no longer held are left out.
    pub async fn commit(&self, offsets: Vec<(PartitionId, Offset)>) -> Result<(), LogError> {
        let held = self.held();
        let mut list = TopicPartitionList::new();
        for (partition, offset) in offsets {
            if !held.contains(&partition) {
                continue;
            }
            let offset = i64::try_from(offset.0).expect("Kafka offsets fit in i64");
            list.add_partition_offset(
                &self.membership.topic,
                kafka_partition(partition),
                rdkafka::Offset::Offset(offset),
            )
            .expect("a valid offset");
        }
        if list.count() == 0 {
            return Ok(());
        }
        let consumer = Arc::clone(&self.consumer);
        let group = self.group.clone();
        blocking(move || {
            let consumer = consumer.lock().expect("group consumer lock");
            consumer.commit(&list, CommitMode::Sync).map_err(|error| {
                unavailable(&format!("committing offsets of group \"{group}\""), &error)
            })
        })
        .await
    }
}

fn poll_blocking(
    consumer: &BaseConsumer<GroupContext>,
    membership: &Membership,
    group: &str,
    max: usize,
    wait: Duration,
) -> Result<GroupPoll, LogError> {
    let deadline = Instant::now() + wait;
    let mut found = GroupPoll::default();
    let mut next: BTreeMap<PartitionId, Offset> =
        membership.resume.lock().expect("resume lock").clone();
    let mut errors_in_a_row = 0u32;
    while found.records.len() < max {
        let slice = POLL_SLICE.min(deadline.saturating_duration_since(Instant::now()));
        let polled = consumer.poll(slice);
        let changes = std::mem::take(&mut *membership.changes.lock().expect("changes lock"));
        if !changes.is_empty() {
            // Every partition held now restarts at its resume offset: what was collected is stale.
            return Ok(GroupPoll {
                records: Vec::new(),
                changes,
            });
        }
        match polled {
            None if Instant::now() >= deadline => break,
            None => {}
            Some(Err(error)) => {
                errors_in_a_row += 1;
                if errors_in_a_row >= POLL_ERRORS_IN_A_ROW_MAX {
                    return Err(unavailable(
                        &format!(
                            "consuming as group \"{group}\" ({errors_in_a_row} errors in a row)"
                        ),
                        &error,
                    ));
                }
                if !matches!(error, KafkaError::PartitionEOF(_)) {
                    warn!(%error, group, "consumer group poll error; retrying");
                }
            }
            Some(Ok(message)) => {
                errors_in_a_row = 0;
                if let Some(envelope) = accept(membership, &mut next, &message)? {
                    found.records.push(envelope);
                }
            }
        }
    }
    Ok(found)
}

/// Decodes `message` if it is of a held partition and at or past the next offset expected there.
fn accept(
    membership: &Membership,
    next: &mut BTreeMap<PartitionId, Offset>,
    message: &rdkafka::message::BorrowedMessage<'_>,
) -> Result<Option<EventEnvelope>, LogError> {
    let (Ok(partition), Ok(offset)) = (
        u32::try_from(message.partition()),
        u64::try_from(message.offset()),
    ) else {
        return Ok(None);
    };
    let (partition, offset) = (PartitionId(partition), Offset(offset));
    let held = membership
        .held
        .lock()
        .expect("held lock")
        .contains(&partition);
    let expected = next.get(&partition).copied().unwrap_or(Offset(0));
    if !held || offset < expected {
        return Ok(None);
    }
    next.insert(partition, offset.next());
    let position = Position { partition, offset };
    EventEnvelope::decode(position, message.payload().unwrap_or_default()).map(Some)
}

/// The offsets `group` has committed on the events topic (partition → next offset), for monitoring and
/// tests. Partitions without a committed offset are left out. Does not join the group.
pub async fn committed_offsets(
    config: &KafkaConfig,
    group: &str,
) -> Result<BTreeMap<PartitionId, Offset>, LogError> {
    let mut client = client_config(config);
    client
        .set("group.id", group)
        .set("enable.auto.commit", "false");
    let consumer: BaseConsumer = client
        .create()
        .map_err(|error| unavailable("creating the Kafka offsets client", &error))?;
    let topic = config.events_topic();
    let mut list = TopicPartitionList::new();
    for partition in 0..config.partitions {
        list.add_partition(&topic, kafka_partition(PartitionId(partition)));
    }
    let group = group.to_owned();
    blocking(move || {
        let committed = consumer
            .committed_offsets(list, REQUEST_TIMEOUT)
            .map_err(|error| {
                unavailable(&format!("committed offsets of group \"{group}\""), &error)
            })?;
        Ok(committed
            .elements()
            .iter()
            .filter_map(|element| {
                let partition = u32::try_from(element.partition()).ok()?;
                let rdkafka::Offset::Offset(offset) = element.offset() else {
                    return None;
                };
                Some((PartitionId(partition), Offset(u64::try_from(offset).ok()?)))
            })
            .collect())
    })
    .await
}
