//! The public topic of the Kafka backend (issue #14): `<prefix>.events.json` carries one public record
//! per record of `<prefix>.events`, same key, same partition, same order, naming the offset and chain
//! hash of its record of truth, written in the same transaction. Rendered here by the domain-agnostic
//! `MirrorForm`; `ledger-commands --test kafka_public` checks the real CloudEvents after a demo.
//!
//! tansu 0.6.0 delivers records of aborted transactions even to `read_committed` consumers. A
//! transaction writes both topics, so an aborted one would show on both alike; the comparisons here
//! hold either way, and nothing here aborts on purpose.
//!
//! Run: `cargo test -p ledger --features kafka --test kafka_public_topic`.
#![cfg(feature = "kafka")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::kafka::testing::{RawRecord, read_topic};
use ledger::log::kafka::{HEADER_CONTENT_TYPE, HEADER_EVENT_ID, KafkaConfig, KafkaLog};
use ledger::log::public_form::MirrorForm;
use ledger::log::testkit::kafka_bootstrap;
use ledger::log::{
    Actor, ActorId, ActorRole, AppendRequest, CommandId, EventEnvelope, EventId, EventLog,
    LogError, NewEvent, Offset, PartitionId, Payload, Position, PublicForm, StreamId,
    StreamVersion,
};
use uuid::Uuid;

const PARTITIONS: u32 = 4;
const TIMEOUT: Duration = Duration::from_secs(60);

fn url(name: &str, options: &str) -> String {
    format!(
        "kafka://{}?prefix=public-{}-{name}&partitions={PARTITIONS}{options}",
        kafka_bootstrap(),
        std::process::id()
    )
}

fn form() -> Option<Arc<dyn PublicForm>> {
    Some(Arc::new(MirrorForm))
}

fn event(seed: u64, event_type: &str) -> NewEvent {
    NewEvent {
        event_id: EventId(Uuid::from_u64_pair(0x0190_0000_0000_7000, seed)),
        occurred_at: Timestamp::from_micros(1_767_225_600_000_000),
        jurisdiction: Jurisdiction::KZ,
        causation_id: None,
        correlation_id: Uuid::from_u64_pair(11, seed),
        actor: Actor::new(
            ActorId::System("public-topic-test".to_owned()),
            ActorRole::System,
        ),
        payload: Payload {
            event_type: event_type.to_owned(),
            schema_version: 1,
            data: seed.to_le_bytes().to_vec(),
        },
        command_digest: None,
    }
}

fn request(stream: &str, expected: u64, seed: u64, events: Vec<NewEvent>) -> AppendRequest {
    AppendRequest {
        stream: StreamId::new(stream).unwrap(),
        expected: StreamVersion(expected),
        command_id: CommandId::derived("public-topic-test", &format!("{stream}/{seed}")),
        events,
    }
}

/// `tasks` concurrent writers, each appending `appends` commands of one or two events to its own
/// stream; returns how many events went in.
async fn appends(log: &Arc<KafkaLog>, tasks: u64, appends: u64) -> usize {
    let mut handles = Vec::new();
    for task in 0..tasks {
        let log = Arc::clone(log);
        handles.push(tokio::spawn(async move {
            let stream = format!("contract/P-{task}");
            let mut version = 0;
            for number in 0..appends {
                let seed = task * 1000 + number;
                let events: Vec<NewEvent> = (0..1 + number % 2)
                    .map(|index| event(seed * 10 + index, "Published"))
                    .collect();
                let count = u64::try_from(events.len()).unwrap();
                log.append(request(&stream, version, seed, events))
                    .await
                    .expect("append");
                version += count;
            }
            usize::try_from(version).unwrap()
        }));
    }
    let mut total = 0;
    for handle in handles {
        total += handle.await.unwrap();
    }
    total
}

async fn read_both(url: &str) -> (BTreeMap<u32, Vec<RawRecord>>, BTreeMap<u32, Vec<RawRecord>>) {
    let config = KafkaConfig::from_url(url).unwrap();
    let bootstrap = config.bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let events = read_topic(&bootstrap, &config.events_topic(), PARTITIONS, TIMEOUT);
        let public = read_topic(&bootstrap, &config.public_topic_name(), PARTITIONS, TIMEOUT);
        (events, public)
    })
    .await
    .unwrap()
}

/// Checks that `public` mirrors `events` record by record; returns the number of records.
fn assert_mirrors(
    events: &BTreeMap<u32, Vec<RawRecord>>,
    public: &BTreeMap<u32, Vec<RawRecord>>,
) -> usize {
    let mut count = 0;
    for (partition, records) in events {
        let mirrored = &public[partition];
        assert_eq!(
            records.len(),
            mirrored.len(),
            "partition {partition}: both topics hold the same number of records"
        );
        for (record, public) in records.iter().zip(mirrored) {
            let position = Position {
                partition: PartitionId(*partition),
                offset: Offset(record.offset),
            };
            let envelope = EventEnvelope::decode(position, &record.value).expect("a record");
            let json: serde_json::Value =
                serde_json::from_slice(&public.value).expect("the public record is JSON");
            assert_eq!(public.key, record.key, "same key");
            assert_eq!(json["offset"], record.offset, "names its record's offset");
            assert_eq!(json["partition"], *partition);
            assert_eq!(json["hash"], envelope.hash.to_hex());
            assert_eq!(json["stream"], envelope.body.stream.as_str());
            assert_eq!(json["stream_version"], envelope.body.stream_version.0);
            assert_eq!(json["data"], hex::encode(&envelope.body.payload.data));
            assert_eq!(
                public.header(HEADER_EVENT_ID),
                record.header(HEADER_EVENT_ID)
            );
            assert_eq!(public.header(HEADER_CONTENT_TYPE), Some("application/json"));
            assert_eq!(record.header(HEADER_CONTENT_TYPE), None);
            count += 1;
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_topics_carry_the_same_events_in_the_same_order() {
    let url = url("same", "");
    let log = Arc::new(KafkaLog::open_url(&url, form()).await.expect("open"));
    let written = appends(&log, 6, 12).await;
    let (events, public) = read_both(&url).await;
    assert_eq!(assert_mirrors(&events, &public), written);
}

/// An event without a public form refuses its whole command before anything is produced: neither
/// topic gets any of its events, and the stream's version does not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpublishable_event_refuses_its_command_and_writes_nothing() {
    let url = url("refused", "");
    let log = KafkaLog::open_url(&url, form()).await.expect("open");
    log.append(request("contract/R-1", 0, 1, vec![event(1, "Published")]))
        .await
        .expect("a publishable event");
    let refused = request(
        "contract/R-1",
        1,
        2,
        vec![event(2, "Published"), event(3, MirrorForm::REFUSED_TYPE)],
    );
    match log.append(refused).await {
        Err(LogError::Invalid(detail)) => {
            assert!(
                detail.contains(MirrorForm::REFUSED_TYPE) && detail.contains("contract/R-1"),
                "{detail}"
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let stream = StreamId::new("contract/R-1").unwrap();
    assert_eq!(log.stream_version(&stream).await.unwrap(), StreamVersion(1));
    log.append(request("contract/R-1", 1, 4, vec![event(4, "Published")]))
        .await
        .expect("the next command goes on from version 1");
    let (events, public) = read_both(&url).await;
    assert_eq!(assert_mirrors(&events, &public), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_needs_a_form_unless_the_topic_is_off() {
    match KafkaLog::open_url(&url("no-form", ""), None).await {
        Err(LogError::Invalid(detail)) => assert!(detail.contains("public_topic"), "{detail}"),
        Ok(_) => panic!("a writer without a form must not open with the public topic on"),
        Err(other) => panic!("expected Invalid, got {other}"),
    }
    let reader = url("no-form-reader", "&role=reader");
    KafkaLog::open_url(&reader, None)
        .await
        .expect("a reader publishes nothing and needs no form");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_topic_off_writes_no_public_topic() {
    let url = url("off", "&public_topic=off");
    let log = KafkaLog::open_url(&url, None).await.expect("open");
    log.append(request("contract/O-1", 0, 1, vec![event(1, "Published")]))
        .await
        .expect("append");
    let config = KafkaConfig::from_url(&url).unwrap();
    let topics = tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &config.bootstrap)
            .create()
            .unwrap();
        let metadata = consumer.fetch_metadata(None, TIMEOUT).unwrap();
        let names: Vec<String> = metadata
            .topics()
            .iter()
            .map(|topic| topic.name().to_owned())
            .collect();
        (names, config)
    })
    .await
    .unwrap();
    let (names, config) = topics;
    assert!(names.contains(&config.events_topic()), "{names:?}");
    assert!(!names.contains(&config.public_topic_name()), "{names:?}");
}
