//! Reading a whole topic as raw records, for tests that compare what the writer produced (the events
//! topic and the public topic) without going through the log's own reader.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, TopicPartitionList};

/// One record as a `read_committed` consumer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub partition: u32,
    pub offset: u64,
    pub key: String,
    /// Headers in order, values as UTF-8 text.
    pub headers: Vec<(String, String)>,
    pub value: Vec<u8>,
}

impl RawRecord {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Reads every partition of `topic` from its start to its current end (blocking), per partition in
/// offset order. Panics if a partition does not reach its end within `timeout`.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    partitions: u32,
    timeout: Duration,
) -> BTreeMap<u32, Vec<RawRecord>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "ledger-testkit-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("create a consumer");
    let mut assignment = TopicPartitionList::new();
    let mut ends: BTreeMap<u32, i64> = BTreeMap::new();
    for partition in 0..partitions {
        let index = i32::try_from(partition).expect("partition index");
        let (_, high) = consumer
            .fetch_watermarks(topic, index, timeout)
            .unwrap_or_else(|error| panic!("watermarks of {topic}:{partition}: {error}"));
        ends.insert(partition, high);
        assignment
            .add_partition_offset(topic, index, rdkafka::Offset::Beginning)
            .expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    let mut records: BTreeMap<u32, Vec<RawRecord>> = (0..partitions)
        .map(|partition| (partition, Vec::new()))
        .collect();
    let deadline = Instant::now() + timeout;
    while !reached_ends(&consumer, topic, &ends, &records) {
        assert!(
            Instant::now() < deadline,
            "{topic} did not reach its ends {ends:?} within {timeout:?}"
        );
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.unwrap_or_else(|error| panic!("consume {topic}: {error}"));
        let record = raw(&message);
        records
            .get_mut(&record.partition)
            .expect("an assigned partition")
            .push(record);
    }
    records
}

/// Whether every partition has been read up to its end: its last record is the one before the end,
/// or the consumer's position passed the end (the last offsets held transaction markers).
fn reached_ends(
    consumer: &BaseConsumer,
    topic: &str,
    ends: &BTreeMap<u32, i64>,
    records: &BTreeMap<u32, Vec<RawRecord>>,
) -> bool {
    let positions = consumer.position().expect("positions");
    ends.iter().all(|(partition, end)| {
        let last = records[partition]
            .last()
            .map_or(-1, |record| i64::try_from(record.offset).expect("offset"));
        let index = i32::try_from(*partition).expect("partition index");
        let position = positions
            .find_partition(topic, index)
            .and_then(|entry| entry.offset().to_raw())
            .unwrap_or(-1);
        last + 1 >= *end || position >= *end
    })
}

fn raw(message: &impl Message) -> RawRecord {
    let headers = message.headers().map_or_else(Vec::new, |headers| {
        headers
            .iter()
            .map(|header| {
                let value = header.value.unwrap_or_default();
                (
                    header.key.to_owned(),
                    String::from_utf8_lossy(value).into_owned(),
                )
            })
            .collect()
    });
    RawRecord {
        partition: u32::try_from(message.partition()).expect("partition"),
        offset: u64::try_from(message.offset()).expect("offset"),
        key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
        headers,
        value: message.payload().unwrap_or_default().to_vec(),
    }
}
