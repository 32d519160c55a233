//! The Kafka backend against a real Kafka-compatible broker on loopback (issue #7).
//!
//! The broker: `LEDGER_TEST_KAFKA=HOST:PORT` if set, otherwise `scripts/broker.sh start` (tansu 0.6.0,
//! in-memory, on a free loopback port). If neither works, every test here fails loudly: they never pass
//! without a broker. Each test uses its own topic prefix, so tests share one broker and run in parallel.
//!
//! Run: `cargo test -p ledger --features kafka --test kafka_log`.
#![cfg(feature = "kafka")]

use ledger::log::testkit::kafka_bootstrap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::StreamExt;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::kafka::{KafkaConfig, KafkaLog};
use ledger::log::{
    Actor, ActorId, ActorRole, AppendOutcome, AppendRequest, ChainHash, CommandId, EventEnvelope,
    EventId, EventLog, LogError, NewEvent, Offset, PartitionId, Payload, StreamId, StreamVersion,
    partition_of, subscribe,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message, TopicPartitionList};
use uuid::Uuid;

/// Guards against hangs only; no test asserts anything about speed.
const HANG_GUARD: Duration = Duration::from_secs(30);
const PARTITIONS: u32 = 4;

/// A fresh, empty deployment (its own topic prefix) on the test broker.
pub(crate) fn fresh_url(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "kafka://{}?prefix=test-{}-{number}-{name}&partitions={PARTITIONS}",
        kafka_bootstrap(),
        std::process::id()
    )
}

/// The public topic is on (the default), rendered by the test form: every test here also writes it.
pub(crate) fn form() -> Option<std::sync::Arc<dyn ledger::log::PublicForm>> {
    Some(std::sync::Arc::new(ledger::log::public_form::MirrorForm))
}

pub(crate) async fn open(url: &str) -> KafkaLog {
    tokio::time::timeout(HANG_GUARD, KafkaLog::open_url(url, form()))
        .await
        .unwrap_or_else(|_| panic!("open {url} hung for {HANG_GUARD:?}: is the broker reachable?"))
        .unwrap_or_else(|error| panic!("open {url}: {error}"))
}

fn sample_event(seed: u64) -> NewEvent {
    NewEvent {
        event_id: EventId(Uuid::from_u64_pair(0x0190_0000_0000_7000, seed)),
        occurred_at: Timestamp::from_micros(1_767_225_600_000_000 + i64::try_from(seed).unwrap()),
        jurisdiction: Jurisdiction::KZ,
        causation_id: None,
        correlation_id: Uuid::from_u64_pair(7, seed),
        actor: Actor::new(ActorId::System("kafka-test".to_owned()), ActorRole::System),
        payload: Payload {
            event_type: "KafkaTestEvent".to_owned(),
            schema_version: 3,
            data: seed.to_le_bytes().repeat(4),
        },
        command_digest: None,
    }
}

fn stream(id: &str) -> StreamId {
    StreamId::new(id).unwrap()
}

fn command(name: &str) -> CommandId {
    CommandId::derived("ledger-kafka-test", name)
}

fn request(
    stream_id: &str,
    expected: u64,
    name: &str,
    seeds: std::ops::Range<u64>,
) -> AppendRequest {
    AppendRequest {
        stream: stream(stream_id),
        expected: StreamVersion(expected),
        command_id: command(name),
        events: seeds.map(sample_event).collect(),
    }
}

async fn append(log: &KafkaLog, request: AppendRequest) -> Result<AppendOutcome, LogError> {
    tokio::time::timeout(HANG_GUARD, log.append(request))
        .await
        .expect("append within the hang guard")
}

/// Every record of `partition`, checked to form one unbroken hash chain from genesis.
async fn read_chain(log: &KafkaLog, partition: PartitionId) -> Vec<EventEnvelope> {
    let mut all: Vec<EventEnvelope> = Vec::new();
    loop {
        let from = all
            .last()
            .map_or(Offset(0), |last| last.position.offset.next());
        let batch = log.read_batch(partition, from, 1000).await.unwrap();
        if batch.is_empty() {
            break;
        }
        all.extend(batch);
    }
    let mut head = ChainHash::GENESIS;
    for envelope in &all {
        let (bytes, hash) = EventEnvelope::seal(&envelope.body, &head).unwrap();
        assert_eq!(
            hash, envelope.hash,
            "record {} chains from the previous one",
            envelope.position
        );
        assert_eq!(EventEnvelope::verify_link(&head, &bytes), Some(hash));
        head = hash;
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_then_read_back_in_order() {
    let log = open(&fresh_url("read")).await;
    let mut outcomes = Vec::new();
    for version in 0..3u64 {
        outcomes.push(
            append(
                &log,
                request(
                    "contract/C-1",
                    version,
                    &format!("c{version}"),
                    version..version + 1,
                ),
            )
            .await
            .unwrap(),
        );
    }
    let partition = log.partition_of(&stream("contract/C-1"));
    assert_eq!(
        partition,
        partition_of(&stream("contract/C-1"), PARTITIONS),
        "the shared partition function"
    );
    let read = read_chain(&log, partition).await;
    assert_eq!(read.len(), 3);
    for (seed, (envelope, outcome)) in (0u64..).zip(read.iter().zip(&outcomes)) {
        assert_eq!(envelope.position, outcome.positions[0]);
        assert_eq!(envelope.body.stream_version, StreamVersion(seed + 1));
        assert_eq!(envelope.body.payload, sample_event(seed).payload);
        assert_eq!(envelope.body.event_id, sample_event(seed).event_id);
        assert!(!outcome.duplicate);
    }
    let end = log.end_offset(partition).await.unwrap();
    assert!(
        end > read[2].position.offset,
        "the high watermark is past the last record (markers may follow)"
    );
    assert!(
        log.read_batch(partition, read[2].position.offset.next(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        log.read_batch(partition, read[0].position.offset, 1)
            .await
            .unwrap()
            .len()
            == 1,
        "max is honoured"
    );
    let other = PartitionId((partition.0 + 1) % PARTITIONS);
    assert!(
        log.read_batch(other, Offset(0), 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing lands elsewhere"
    );
    assert!(matches!(
        log.read_batch(PartitionId(PARTITIONS), Offset(0), 1).await,
        Err(LogError::Invalid(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_stream_and_stream_version() {
    let log = open(&fresh_url("stream")).await;
    for version in 0..4u64 {
        append(
            &log,
            request(
                "budget/KZ/GOBMP/2026",
                version,
                &format!("b{version}"),
                version..version + 1,
            ),
        )
        .await
        .unwrap();
        append(
            &log,
            request("budget/KG/AP/2026", version, &format!("o{version}"), 50..51),
        )
        .await
        .unwrap();
    }
    let budget = stream("budget/KZ/GOBMP/2026");
    assert_eq!(log.stream_version(&budget).await.unwrap(), StreamVersion(4));
    assert_eq!(
        log.stream_version(&stream("budget/KZ/none/2026"))
            .await
            .unwrap(),
        StreamVersion::NONE
    );
    let versions = |events: Vec<EventEnvelope>| {
        events
            .iter()
            .map(|e| e.body.stream_version.0)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        versions(log.read_stream(&budget, StreamVersion(1)).await.unwrap()),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        versions(log.read_stream(&budget, StreamVersion(3)).await.unwrap()),
        vec![3, 4]
    );
    assert!(
        log.read_stream(&budget, StreamVersion(5))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_expected_version_is_a_conflict_and_appends_nothing() {
    let log = open(&fresh_url("conflict")).await;
    append(&log, request("contract/C-2", 0, "first", 1..2))
        .await
        .unwrap();
    let partition = log.partition_of(&stream("contract/C-2"));
    let end = log.end_offset(partition).await.unwrap();
    for expected in [0, 2, 7] {
        match append(
            &log,
            request("contract/C-2", expected, &format!("stale-{expected}"), 2..5),
        )
        .await
        {
            Err(LogError::Conflict {
                stream: conflicted,
                expected: seen,
                actual,
            }) => {
                assert_eq!(conflicted, stream("contract/C-2"));
                assert_eq!((seen, actual), (StreamVersion(expected), StreamVersion(1)));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    assert_eq!(
        log.end_offset(partition).await.unwrap(),
        end,
        "a conflict appends nothing"
    );
    let empty = append(&log, request("contract/C-2", 1, "empty", 0..0)).await;
    assert!(
        matches!(empty, Err(LogError::Invalid(_))),
        "an append without events is invalid: {empty:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_command_id_returns_the_original_outcome() {
    let log = open(&fresh_url("idempotent")).await;
    let original = append(&log, request("period/C-3/2026-01", 0, "once", 10..12))
        .await
        .unwrap();
    assert_eq!(original.positions.len(), 2);
    assert_eq!(
        original.positions[0].offset.next(),
        original.positions[1].offset,
        "a command is contiguous"
    );
    let partition = original.positions[0].partition;
    let end = log.end_offset(partition).await.unwrap();
    // Retries arrive concurrently too: the writer must not append the same command twice.
    let retries = futures::future::join_all(
        (0..3).map(|_| append(&log, request("period/C-3/2026-01", 0, "once", 10..12))),
    )
    .await;
    for retried in retries {
        assert_eq!(
            retried.unwrap(),
            AppendOutcome {
                duplicate: true,
                ..original.clone()
            }
        );
    }
    assert_eq!(
        log.end_offset(partition).await.unwrap(),
        end,
        "a retry appends nothing"
    );
    assert_eq!(
        log.stream_version(&stream("period/C-3/2026-01"))
            .await
            .unwrap(),
        StreamVersion(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_group_committed_and_gapless() {
    let log = open(&fresh_url("concurrent")).await;
    let appender = |number: u64| {
        let log = &log;
        async move {
            for version in 0..8u64 {
                let seed = number * 100 + version;
                append(
                    log,
                    request(
                        &format!("contract/K-{number}"),
                        version,
                        &format!("k{seed}"),
                        seed..seed + 1,
                    ),
                )
                .await
                .unwrap();
            }
        }
    };
    futures::future::join_all((0..12).map(appender)).await;
    let mut total = 0;
    for partition in (0..PARTITIONS).map(PartitionId) {
        total += read_chain(&log, partition).await.len();
    }
    assert_eq!(total, 96, "every append landed exactly once");
    for number in 0..12 {
        let events = log
            .read_stream(&stream(&format!("contract/K-{number}")), StreamVersion(1))
            .await
            .unwrap();
        assert_eq!(
            events
                .iter()
                .map(|e| e.body.stream_version.0)
                .collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_catches_up_then_follows_live_across_markers() {
    let log = open(&fresh_url("subscribe")).await;
    for version in 0..3u64 {
        append(
            &log,
            request(
                "contract/C-6",
                version,
                &format!("s{version}"),
                version..version + 1,
            ),
        )
        .await
        .unwrap();
    }
    let partition = log.partition_of(&stream("contract/C-6"));
    let mut subscription = subscribe(&log, partition, Offset(0));
    for expected in 1..=3u64 {
        let envelope = next_within_guard(&mut subscription).await;
        assert_eq!(envelope.body.stream_version, StreamVersion(expected));
    }
    let (live, appended) = futures::join!(
        next_within_guard(&mut subscription),
        append(&log, request("contract/C-6", 3, "live", 9..10))
    );
    assert_eq!(live.position, appended.unwrap().positions[0]);
    assert_eq!(live.body.event_id, sample_event(9).event_id);
    // Nothing more arrives: past the last record sits only the transaction marker; once a read has
    // found that, waiting there waits for a real record instead of returning at once (no spinning).
    let after = live.position.offset.next();
    assert!(
        log.read_batch(partition, after, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let waited = log
        .wait_for(partition, after, Duration::from_millis(300))
        .await;
    assert!(!waited.unwrap(), "no record follows the live one");
}

async fn next_within_guard<S>(subscription: &mut S) -> EventEnvelope
where
    S: futures::Stream<Item = Result<EventEnvelope, LogError>> + Unpin,
{
    tokio::time::timeout(HANG_GUARD, subscription.next())
        .await
        .expect("the subscription delivers within the hang guard")
        .expect("the subscription does not end")
        .expect("the subscription reads without error")
}

/// Records carry key = stream id and the routing headers of docs/subscribing.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_carry_key_and_routing_headers() {
    let url = fresh_url("headers");
    let log = open(&url).await;
    let outcome = append(&log, request("period/C-8/2026-03", 0, "headers", 5..6))
        .await
        .unwrap();
    let position = outcome.positions[0];
    let config = KafkaConfig::from_url(&url).unwrap();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka_bootstrap())
        .set("group.id", "unused")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    let offset = rdkafka::Offset::Offset(i64::try_from(position.offset.0).unwrap());
    assignment
        .add_partition_offset(
            &config.events_topic(),
            i32::try_from(position.partition.0).unwrap(),
            offset,
        )
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let message = consumer
        .poll(HANG_GUARD)
        .expect("a record within the hang guard")
        .unwrap()
        .detach();
    assert_eq!(message.key(), Some("period/C-8/2026-03".as_bytes()));
    let headers = message.headers().expect("records carry headers");
    let header = |name: &str| {
        headers
            .iter()
            .find(|header| header.key == name)
            .and_then(|header| header.value)
            .map(|value| String::from_utf8(value.to_vec()).unwrap())
            .unwrap_or_else(|| panic!("header {name} is missing"))
    };
    assert_eq!(header("event_type"), "KafkaTestEvent");
    assert_eq!(header("schema_version"), "3");
    assert_eq!(header("event_id"), sample_event(5).event_id.to_string());
    assert_eq!(header("stream_id"), "period/C-8/2026-03");
    assert_eq!(header("stream_version"), "1");
    let decoded = EventEnvelope::decode(position, message.payload().unwrap()).unwrap();
    assert_eq!(
        decoded.body.payload,
        sample_event(5).payload,
        "the value is the sealed record"
    );
}

/// A second writer with the same transactional id fences the first: the first's appends fail with
/// `Fenced` from then on, and the second continues the streams and the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_fences_the_first() {
    let url = fresh_url("fence");
    let first = open(&url).await;
    append(&first, request("contract/C-9", 0, "before", 1..2))
        .await
        .unwrap();
    let second = open(&url).await;
    assert_eq!(
        second
            .stream_version(&stream("contract/C-9"))
            .await
            .unwrap(),
        StreamVersion(1)
    );
    for attempt in 0..2 {
        match append(
            &first,
            request("contract/C-9", 1, &format!("stale-{attempt}"), 2..3),
        )
        .await
        {
            Err(LogError::Fenced { partition, detail }) => {
                assert_eq!(partition, first.partition_of(&stream("contract/C-9")));
                assert!(detail.contains("fenced"), "{detail}");
            }
            other => panic!("the fenced writer must fail with Fenced, got {other:?}"),
        }
    }
    append(&second, request("contract/C-9", 1, "after", 3..4))
        .await
        .unwrap();
    let partition = second.partition_of(&stream("contract/C-9"));
    let chain = read_chain(&second, partition).await;
    let events: Vec<(u64, EventId)> = chain
        .iter()
        .map(|e| (e.body.stream_version.0, e.body.event_id))
        .collect();
    assert_eq!(
        events,
        vec![(1, sample_event(1).event_id), (2, sample_event(3).event_id)]
    );
}

/// A restarted writer rebuilds versions, command ids and chain heads from the topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_writer_rebuilds_its_state_from_the_topic() {
    let url = fresh_url("restart");
    let original = {
        let log = open(&url).await;
        append(&log, request("contract/C-10", 0, "a", 1..3))
            .await
            .unwrap();
        append(&log, request("period/C-10/2026-01", 0, "b", 3..4))
            .await
            .unwrap();
        append(&log, request("reference/calendar/KZ", 0, "c", 4..5))
            .await
            .unwrap()
    };
    let log = open(&url).await;
    assert_eq!(
        log.stream_version(&stream("contract/C-10")).await.unwrap(),
        StreamVersion(2)
    );
    assert_eq!(
        log.stream_version(&stream("period/C-10/2026-01"))
            .await
            .unwrap(),
        StreamVersion(1)
    );
    let retried = append(&log, request("reference/calendar/KZ", 0, "c", 4..5))
        .await
        .unwrap();
    assert_eq!(
        retried,
        AppendOutcome {
            duplicate: true,
            ..original
        }
    );
    assert!(
        append(&log, request("contract/C-10", 1, "stale", 5..6))
            .await
            .unwrap_err()
            .is_conflict()
    );
    append(&log, request("contract/C-10", 2, "d", 5..6))
        .await
        .unwrap();
    let chain = read_chain(&log, log.partition_of(&stream("contract/C-10"))).await;
    assert_eq!(
        chain.len(),
        4,
        "contract and period streams share a partition and one unbroken chain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_reads_but_never_appends_or_fences() {
    let url = fresh_url("reader");
    let writer = open(&url).await;
    append(&writer, request("contract/C-11", 0, "w1", 1..3))
        .await
        .unwrap();
    let reader = open(&format!("{url}&role=reader")).await;
    assert_eq!(
        reader
            .stream_version(&stream("contract/C-11"))
            .await
            .unwrap(),
        StreamVersion(2)
    );
    assert_eq!(
        reader
            .read_stream(&stream("contract/C-11"), StreamVersion(2))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        append(&reader, request("contract/C-11", 2, "r", 3..4)).await,
        Err(LogError::Invalid(_))
    ));
    append(&writer, request("contract/C-11", 2, "w2", 3..4))
        .await
        .expect("a reader does not fence the writer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_partition_count_is_refused() {
    let url = fresh_url("partitions");
    drop(open(&url).await);
    let other = url.replace(&format!("partitions={PARTITIONS}"), "partitions=2");
    match KafkaLog::open_url(&other, form()).await {
        Err(LogError::Invalid(detail)) => assert!(detail.contains("partitions=2"), "{detail}"),
        Ok(_) => panic!("opening with another partition count must fail"),
        Err(other) => panic!("expected Invalid, got {other}"),
    }
}

/// The backend-agnostic contract suite (`ledger::log::testkit`), each test against a fresh deployment.
mod contract {
    use ledger::log::testkit;

    use super::{fresh_url, open};

    macro_rules! contract_tests {
        ($($name:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                testkit::$name(open(&fresh_url(stringify!($name))).await).await;
            }
        )*};
    }

    contract_tests!(
        append_then_read,
        concurrent_appenders_on_different_streams,
        read_stream_from_version,
        stale_expected_version_conflicts,
        idempotent_retry_returns_original,
        multi_event_append_is_atomic,
        invalid_appends_are_refused,
        subscribe_catches_up_then_follows_live,
        racing_appends_on_one_stream_have_one_winner,
        concurrent_retries_append_once,
        partition_of_is_stable,
    );
}

/// `append_many` equals appending one at a time on Kafka too (the contract suite's check, on two
/// fresh deployments, for a few mixed batches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_many_equals_one_at_a_time() {
    for seed in [3u64, 11, 42] {
        let batched = open(&fresh_url(&format!("many-b-{seed}"))).await;
        let sequential = open(&fresh_url(&format!("many-s-{seed}"))).await;
        let requests = ledger::log::testkit::mixed_batch(seed, 80);
        ledger::log::testkit::append_many_equals_one_at_a_time(batched, sequential, &requests)
            .await;
    }
}

/// librdkafka settings in the URL reach the clients: a wrong one fails the open, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_through_settings_reach_librdkafka() {
    let url = format!(
        "{}&security.protocol=carrier-pigeon",
        fresh_url("passthrough")
    );
    match KafkaLog::open_url(&url, form()).await {
        Err(LogError::Unavailable(detail)) => {
            assert!(detail.contains("security.protocol"), "{detail}");
        }
        Err(other) => panic!("expected Unavailable naming the setting, got {other}"),
        Ok(_) => panic!("an invalid security.protocol must fail the open"),
    }
}

/// A contract stream id whose partition lies in `first..=last`.
fn stream_on(first: u32, last: u32, tag: &str) -> String {
    (0..1000)
        .map(|number| format!("contract/{tag}-{number}"))
        .find(|id| (first..=last).contains(&partition_of(&stream(id), PARTITIONS).0))
        .expect("some stream lands in the range")
}

/// Writers of disjoint partition ranges work side by side; each refuses the other's streams and reads
/// them by scanning; a second writer of the same range fences the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_of_disjoint_partition_ranges_coexist() {
    let url = fresh_url("ranges");
    let low = open(&format!("{url}&owns=0-1")).await;
    let high = open(&format!("{url}&owns=2-3")).await;
    let (low_stream, high_stream) = (stream_on(0, 1, "L"), stream_on(2, 3, "H"));
    append(&low, request(&low_stream, 0, "low", 1..2))
        .await
        .unwrap();
    append(&high, request(&high_stream, 0, "high", 2..3))
        .await
        .unwrap();
    append(&low, request(&low_stream, 1, "low-2", 3..4))
        .await
        .expect("not fenced by the other range");
    match append(&low, request(&high_stream, 1, "wrong-writer", 4..5)).await {
        Err(LogError::Invalid(detail)) => {
            assert!(detail.contains("owns partitions 0-1"), "{detail}")
        }
        other => panic!("a stream of another range must be refused, got {other:?}"),
    }
    assert_eq!(
        low.stream_version(&stream(&high_stream)).await.unwrap(),
        StreamVersion(1)
    );
    assert_eq!(
        high.read_stream(&stream(&low_stream), StreamVersion(1))
            .await
            .unwrap()
            .len(),
        2
    );
    let replacement = open(&format!("{url}&owns=2-3")).await;
    assert!(matches!(
        append(&high, request(&high_stream, 1, "stale", 5..6)).await,
        Err(LogError::Fenced { .. })
    ));
    append(&replacement, request(&high_stream, 1, "fresh", 5..6))
        .await
        .unwrap();
    append(&low, request(&low_stream, 2, "low-3", 6..7))
        .await
        .expect("the low range is unaffected");
}
