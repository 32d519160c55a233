//! The example downstream consumer of `docs/subscribing.md`, run against a real broker so the example
//! cannot rot. A downstream service would copy [`example`] into its own code.
//!
//! Run: `cargo test -p ledger --features kafka --test kafka_subscriber` (the broker comes from
//! `LEDGER_TEST_KAFKA` or `scripts/broker.sh start`, as in `kafka_log.rs`).
#![cfg(feature = "kafka")]

use ledger::log::testkit::kafka_bootstrap;
use std::time::Duration;

use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::kafka::KafkaLog;
use ledger::log::{
    Actor, ActorId, ActorRole, AppendRequest, CommandId, EventId, EventLog, NewEvent, Payload,
    StreamId, StreamVersion,
};
use uuid::Uuid;

/// The example consumer, as a downstream service would write it.
mod example {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use ledger::log::{ChainHash, EventEnvelope, Offset, PartitionId, Position};
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use rdkafka::{ClientConfig, TopicPartitionList};

    /// What a downstream service keeps of one event.
    #[derive(Debug)]
    pub struct Received {
        pub stream_id: String,
        pub stream_version: u64,
        pub event_type: String,
        pub envelope: EventEnvelope,
    }

    fn header(message: &impl Message, name: &str) -> Option<String> {
        let headers = message.headers()?;
        let header = headers.iter().find(|header| header.key == name)?;
        String::from_utf8(header.value?.to_vec()).ok()
    }

    /// Reads every partition of `topic` from the start until `count` events arrived (or `timeout`),
    /// routing on headers, decoding the value, checking the per-partition hash chain and each stream's
    /// gapless versions.
    pub fn consume(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
        count: usize,
        timeout: Duration,
    ) -> Vec<Received> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "example-subscriber") // used for offset commits only; we assign()
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()
            .expect("consumer");
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment
                .add_partition_offset(topic, partition, rdkafka::Offset::Beginning)
                .expect("assign");
        }
        consumer.assign(&assignment).expect("assign");
        let mut heads: HashMap<i32, ChainHash> = HashMap::new();
        let mut versions: HashMap<String, u64> = HashMap::new();
        let mut received = Vec::new();
        let deadline = Instant::now() + timeout;
        while received.len() < count && Instant::now() < deadline {
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = message.expect("consume");
            // 1. Route without decoding: skip event types this service does not handle.
            let event_type = header(&message, "event_type").expect("event_type header");
            let stream_id = header(&message, "stream_id").expect("stream_id header");
            // 2. Decode: format-version byte + bincode 2 of EnvelopeBody, then the 32-byte chain hash.
            let bytes = message.payload().expect("a value");
            let position = Position {
                partition: PartitionId(u32::try_from(message.partition()).expect("partition")),
                offset: Offset(u64::try_from(message.offset()).expect("offset")),
            };
            let envelope = EventEnvelope::decode(position, bytes).expect("a ledger record");
            // 3. Optional audit: each record chains from the previous record of its partition.
            let head = heads
                .entry(message.partition())
                .or_insert(ChainHash::GENESIS);
            *head = EventEnvelope::verify_link(head, bytes).expect("an unbroken hash chain");
            // 4. Order: a stream's versions arrive in order, without gaps.
            let version = versions.entry(stream_id.clone()).or_insert(0);
            assert_eq!(
                envelope.body.stream_version.0,
                *version + 1,
                "gapless versions of {stream_id}"
            );
            *version += 1;
            received.push(Received {
                stream_id,
                stream_version: *version,
                event_type,
                envelope,
            });
        }
        received
    }
}

fn event(seed: u64, event_type: &str) -> NewEvent {
    NewEvent {
        event_id: EventId(Uuid::from_u64_pair(0x0190_0000_0000_7000, seed)),
        occurred_at: Timestamp::from_micros(1_767_225_600_000_000),
        jurisdiction: Jurisdiction::KG,
        causation_id: None,
        correlation_id: Uuid::from_u64_pair(9, seed),
        actor: Actor::new(
            ActorId::System("subscriber-test".to_owned()),
            ActorRole::System,
        ),
        payload: Payload {
            event_type: event_type.to_owned(),
            schema_version: 1,
            data: vec![1, 2, 3],
        },
        command_digest: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_subscriber_sees_every_event_in_stream_order() {
    let bootstrap = kafka_bootstrap();
    let prefix = format!("subscriber-{}", std::process::id());
    let url = format!("kafka://{bootstrap}?prefix={prefix}&partitions=3");
    let log = KafkaLog::open_url(&url).await.expect("open");
    let streams = ["contract/S-1", "period/S-1/2026-01", "budget/KG/AP/2026"];
    for (index, stream) in (0u64..).zip(streams) {
        for version in 0..2u64 {
            let seed = index * 10 + version;
            let request = AppendRequest {
                stream: StreamId::new(stream).unwrap(),
                expected: StreamVersion(version),
                command_id: CommandId::derived("subscriber-test", &seed.to_string()),
                events: vec![event(seed, if version == 0 { "Opened" } else { "Changed" })],
            };
            log.append(request).await.expect("append");
        }
    }
    let topic = format!("{prefix}.events");
    let received = tokio::task::spawn_blocking(move || {
        example::consume(bootstrap, &topic, 3, 6, Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert_eq!(received.len(), 6, "every event arrives: {received:?}");
    for stream in streams {
        let of_stream: Vec<(u64, &str)> = received
            .iter()
            .filter(|event| event.stream_id == stream)
            .map(|event| (event.stream_version, event.event_type.as_str()))
            .collect();
        assert_eq!(of_stream, vec![(1, "Opened"), (2, "Changed")], "{stream}");
    }
    assert!(
        received
            .iter()
            .all(|event| event.envelope.body.stream.as_str() == event.stream_id)
    );
}
