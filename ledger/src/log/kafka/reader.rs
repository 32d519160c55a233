//! Reads of the events topic by explicit partition assignment (`assign()`, never group subscription:
//! reads here are random access by offset, and a group join costs seconds on some brokers).
//!
//! Kafka offsets have gaps: every committed transaction leaves a control record (marker) that no
//! consumer ever receives. So "the next offset" after a record is not always a record, and the end of a
//! partition (its high watermark) may sit behind markers only. [`Reader`] remembers the last run of
//! offsets it found to hold markers only, so that `wait_for` on such an offset waits for a real record
//! instead of returning at once and making a subscriber spin.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message, TopicPartitionList};

use super::config::KafkaConfig;
use super::{kafka_partition, unavailable};
use crate::log::error::LogError;
use crate::log::ids::{Offset, PartitionId};

/// How long one broker request (watermarks, metadata) may take before the read fails.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one `read_batch` may wait for records it knows exist (below the high watermark).
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How often `wait_for` asks the broker for the high watermark.
const WAIT_POLL: Duration = Duration::from_millis(50);

/// One raw record: its offset and its value (the record wire bytes).
pub(super) type RawRecord = (Offset, Vec<u8>);

pub(super) struct Reader {
    topic: String,
    consumer: Arc<Mutex<BaseConsumer>>,
    /// Per partition, the last `[from, end)` found to hold no records (markers only).
    marker_runs: Mutex<HashMap<PartitionId, (Offset, Offset)>>,
}

impl Reader {
    pub(super) fn new(config: &KafkaConfig) -> Result<Reader, LogError> {
        let mut client = super::client_config(config);
        // read_committed: never see records of aborted or open transactions (on brokers that honour it).
        client
            .set("group.id", format!("{}.reader", config.prefix))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "error")
            // A read that ends behind a transaction marker learns it is at the end only from an empty
            // fetch, which the broker holds up to this long: keep it short, reads are on demand.
            .set("fetch.wait.max.ms", "10");
        let consumer: BaseConsumer = create(&client, "reader")?;
        Ok(Reader {
            topic: config.events_topic(),
            consumer: Arc::new(Mutex::new(consumer)),
            marker_runs: Mutex::new(HashMap::new()),
        })
    }

    /// The high watermark of `partition`: the offset the next record (or marker) will get.
    pub(super) async fn end_offset(&self, partition: PartitionId) -> Result<Offset, LogError> {
        let (consumer, topic) = (Arc::clone(&self.consumer), self.topic.clone());
        let kafka = kafka_partition(partition);
        blocking(move || {
            let consumer = consumer.lock().expect("reader consumer lock");
            let (_, high) = consumer
                .fetch_watermarks(&topic, kafka, REQUEST_TIMEOUT)
                .map_err(|error| {
                    unavailable(&format!("high watermark of {topic}[{partition}]"), &error)
                })?;
            Ok(Offset(u64::try_from(high).unwrap_or(0)))
        })
        .await
    }

    /// Up to `max` records of `partition` from offset `from` on, in order.
    pub(super) async fn read_raw(
        &self,
        partition: PartitionId,
        from: Offset,
        max: usize,
    ) -> Result<Vec<RawRecord>, LogError> {
        let (consumer, topic) = (Arc::clone(&self.consumer), self.topic.clone());
        let (records, end) = blocking(move || {
            let consumer = consumer.lock().expect("reader consumer lock");
            read_blocking(&consumer, &topic, partition, from, max)
        })
        .await?;
        if records.is_empty() && end > from {
            self.marker_runs
                .lock()
                .expect("marker runs lock")
                .insert(partition, (from, end));
        }
        Ok(records)
    }

    /// Waits until `partition` may hold a record at `offset` (its high watermark passed it, skipping a
    /// known run of markers) or `timeout` passes.
    pub(super) async fn wait_for(
        &self,
        partition: PartitionId,
        offset: Offset,
        timeout: Duration,
    ) -> Result<bool, LogError> {
        let target = match self
            .marker_runs
            .lock()
            .expect("marker runs lock")
            .get(&partition)
        {
            Some(&(from, end)) if from <= offset && offset < end => end,
            _ => offset,
        };
        let deadline = Instant::now() + timeout;
        loop {
            if self.end_offset(partition).await? > target {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(WAIT_POLL.min(deadline - now)).await;
        }
    }
}

/// Reads up to `max` records from `from`; also returns the offset the read ended at when it reached
/// the end of the partition (the high watermark), so the caller can tell "markers only" from "empty".
fn read_blocking(
    consumer: &BaseConsumer,
    topic: &str,
    partition: PartitionId,
    from: Offset,
    max: usize,
) -> Result<(Vec<RawRecord>, Offset), LogError> {
    let kafka = kafka_partition(partition);
    let context = || format!("read of {topic}[{partition}] from offset {from}");
    let (_, high) = consumer
        .fetch_watermarks(topic, kafka, REQUEST_TIMEOUT)
        .map_err(|error| unavailable(&context(), &error))?;
    let high = u64::try_from(high).unwrap_or(0);
    if from.0 >= high || max == 0 {
        return Ok((Vec::new(), from));
    }
    let start = i64::try_from(from.0)
        .map_err(|_| LogError::Invalid(format!("offset {from} is beyond i64")))?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, kafka, rdkafka::Offset::Offset(start))
        .map_err(|error| unavailable(&context(), &error))?;
    consumer
        .assign(&assignment)
        .map_err(|error| unavailable(&context(), &error))?;
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut records = Vec::new();
    let mut next = from.0;
    while records.len() < max && next < high {
        match consumer.poll(Duration::from_millis(100)) {
            None if Instant::now() >= deadline => {
                return Err(LogError::Unavailable(format!(
                    "{}: no record arrived within {READ_TIMEOUT:?} although the high watermark is {high}",
                    context()
                )));
            }
            None => {}
            Some(Err(KafkaError::PartitionEOF(eof))) if eof == kafka => {
                next = high;
            }
            Some(Err(error)) => return Err(unavailable(&context(), &error)),
            Some(Ok(message)) => {
                let offset = u64::try_from(message.offset()).unwrap_or(0);
                if message.partition() != kafka || offset < next {
                    continue;
                }
                records.push((
                    Offset(offset),
                    message.payload().unwrap_or_default().to_vec(),
                ));
                next = offset + 1;
            }
        }
    }
    Ok((records, Offset(next.max(from.0))))
}

fn create<C: rdkafka::config::FromClientConfig>(
    client: &ClientConfig,
    what: &str,
) -> Result<C, LogError> {
    client
        .create()
        .map_err(|error| unavailable(&format!("creating the Kafka {what} client"), &error))
}

/// Runs a blocking librdkafka call off the async runtime.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, LogError> + Send + 'static,
) -> Result<T, LogError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        LogError::Unavailable(format!(
            "blocking Kafka call panicked or was cancelled: {error}"
        ))
    })?
}
