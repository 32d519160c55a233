//! The backend-agnostic contract of [`EventLog`], as reusable async tests.
//!
//! Every backend (the embedded file log, Kafka) runs [`contract_suite`] against fresh, empty logs. The
//! tests assume nothing about files, offsets beyond "increasing within a partition", or timing; they
//! need a tokio runtime with the time driver (timeouts guard against hangs only, they assert nothing
//! about speed). Enabled in `cfg(test)` and by the `testkit` cargo feature.

use std::time::Duration;

use futures::StreamExt;
use uuid::Uuid;

use super::envelope::{Actor, ActorId, ActorRole, EventEnvelope, NewEvent, Payload};
use super::error::LogError;
use super::ids::{CommandId, EventId, Offset, PartitionId, StreamId, StreamVersion, partition_of};
use super::{AppendOutcome, AppendRequest, EventLog, subscribe};
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::time::Timestamp;

/// How long a contract test waits for something that must happen before calling it a hang.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// A deterministic event whose payload is `payload_bytes` bytes derived from `seed`.
pub fn sample_event(seed: u64, payload_bytes: usize) -> NewEvent {
    let data = (0..u64::try_from(payload_bytes).expect("usize fits in u64"))
        .map(|index| {
            u8::try_from(seed.wrapping_mul(31).wrapping_add(index) % 251).expect("below 251")
        })
        .collect();
    NewEvent {
        event_id: EventId(Uuid::from_u64_pair(0x0190_0000_0000_7000, seed)),
        occurred_at: Timestamp::from_micros(
            1_767_225_600_000_000 + i64::try_from(seed % 1_000_000).expect("fits"),
        ),
        jurisdiction: Jurisdiction::KZ,
        causation_id: None,
        correlation_id: Uuid::from_u64_pair(7, seed),
        actor: Actor::new(ActorId::System("testkit".to_owned()), ActorRole::System),
        payload: Payload {
            event_type: "TestkitEvent".to_owned(),
            schema_version: 1,
            data,
        },
        command_digest: None,
    }
}

/// A command id derived from a name, so retries in tests are explicit.
pub fn command(name: &str) -> CommandId {
    CommandId::derived("ledger-testkit", name)
}

/// A stream id from a literal known to be valid.
pub fn stream(id: &str) -> StreamId {
    StreamId::new(id).expect("test stream ids are valid")
}

/// An append request of `events` to `stream_id` expecting `expected`.
pub fn request(
    stream_id: &str,
    expected: u64,
    command_id: CommandId,
    events: Vec<NewEvent>,
) -> AppendRequest {
    AppendRequest {
        stream: stream(stream_id),
        expected: StreamVersion(expected),
        command_id,
        events,
    }
}

/// Runs every contract test, each against a fresh empty log from `make`.
pub async fn contract_suite<L: EventLog>(make: impl Fn() -> L) {
    append_then_read(make()).await;
    read_stream_from_version(make()).await;
    stale_expected_version_conflicts(make()).await;
    idempotent_retry_returns_original(make()).await;
    multi_event_append_is_atomic(make()).await;
    invalid_appends_are_refused(make()).await;
    subscribe_catches_up_then_follows_live(make()).await;
    concurrent_appenders_on_different_streams(make()).await;
    racing_appends_on_one_stream_have_one_winner(make()).await;
    concurrent_retries_append_once(make()).await;
    partition_of_is_stable(make()).await;
    append_many_equals_one_at_a_time(make(), make(), &mixed_batch(7, 64)).await;
}

/// Appended events read back unchanged, in order, at the positions the append assigned.
pub async fn append_then_read<L: EventLog>(log: L) {
    let events: Vec<NewEvent> = (0..3).map(|seed| sample_event(seed, 100)).collect();
    let mut outcomes = Vec::new();
    for (version, event) in (0u64..).zip(&events) {
        let request = request(
            "contract/C-1",
            version,
            command(&format!("read-{version}")),
            vec![event.clone()],
        );
        outcomes.push(log.append(request).await.expect("append succeeds"));
    }
    let partition = log.partition_of(&stream("contract/C-1"));
    let first = outcomes[0].positions[0].offset;
    let read = log
        .read_batch(partition, first, 100)
        .await
        .expect("read succeeds");
    assert_eq!(
        read.len(),
        3,
        "a fresh log holds exactly the three appended records"
    );
    for ((envelope, event), outcome) in read.iter().zip(&events).zip(&outcomes) {
        assert_same_event(envelope, event);
        assert_eq!(envelope.position, outcome.positions[0]);
        assert!(!outcome.duplicate);
    }
    // The end lies after the last record. The embedded log's offsets are dense, so there it is exactly
    // the next offset (tested in `log::file`); Kafka's may skip transaction markers.
    assert!(log.end_offset(partition).await.unwrap() >= read[2].position.offset.next());
    assert!(
        log.read_batch(partition, read[2].position.offset.next(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// `read_stream` returns the stream's events from a version on; `stream_version` counts them.
pub async fn read_stream_from_version<L: EventLog>(log: L) {
    for version in 0..5u64 {
        let event = sample_event(100 + version, 50);
        log.append(request(
            "budget/KZ/GOBMP/2026",
            version,
            command(&format!("budget-{version}")),
            vec![event],
        ))
        .await
        .expect("append succeeds");
        log.append(request(
            "budget/KG/AP/2026",
            version,
            command(&format!("other-{version}")),
            vec![sample_event(version, 10)],
        ))
        .await
        .expect("append succeeds");
    }
    let budget = stream("budget/KZ/GOBMP/2026");
    assert_eq!(log.stream_version(&budget).await.unwrap(), StreamVersion(5));
    assert_eq!(
        log.stream_version(&stream("budget/KZ/none/2026"))
            .await
            .unwrap(),
        StreamVersion::NONE
    );
    let all = log.read_stream(&budget, StreamVersion(1)).await.unwrap();
    let versions: Vec<u64> = all
        .iter()
        .map(|envelope| envelope.body.stream_version.0)
        .collect();
    assert_eq!(versions, vec![1, 2, 3, 4, 5]);
    assert!(all.iter().all(|envelope| envelope.body.stream == budget));
    let tail = log.read_stream(&budget, StreamVersion(4)).await.unwrap();
    assert_eq!(
        tail.iter()
            .map(|envelope| envelope.body.stream_version.0)
            .collect::<Vec<_>>(),
        vec![4, 5]
    );
    assert_eq!(tail[0], all[3]);
}

/// A stale (or premature) expected version is a `Conflict` and appends nothing.
pub async fn stale_expected_version_conflicts<L: EventLog>(log: L) {
    log.append(request(
        "contract/C-2",
        0,
        command("first"),
        vec![sample_event(1, 10)],
    ))
    .await
    .expect("first append");
    let partition = log.partition_of(&stream("contract/C-2"));
    let end = log.end_offset(partition).await.unwrap();
    for expected in [0, 2, 7] {
        let error = log
            .append(request(
                "contract/C-2",
                expected,
                command(&format!("stale-{expected}")),
                vec![sample_event(2, 10)],
            ))
            .await
            .expect_err("a wrong expected version must conflict");
        match error {
            LogError::Conflict {
                stream: conflicted,
                expected: seen,
                actual,
            } => {
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
    assert_eq!(
        log.stream_version(&stream("contract/C-2")).await.unwrap(),
        StreamVersion(1)
    );
}

/// Retrying a command (same command id) returns the original outcome and appends nothing, even though
/// its expected version is stale by then.
pub async fn idempotent_retry_returns_original<L: EventLog>(log: L) {
    let events = vec![sample_event(10, 40), sample_event(11, 40)];
    let original = log
        .append(request(
            "period/C-3/2026-01",
            0,
            command("once"),
            events.clone(),
        ))
        .await
        .expect("append");
    let partition = log.partition_of(&stream("period/C-3/2026-01"));
    let end = log.end_offset(partition).await.unwrap();
    for _ in 0..3 {
        let retried = log
            .append(request(
                "period/C-3/2026-01",
                0,
                command("once"),
                events.clone(),
            ))
            .await
            .expect("retry");
        assert_eq!(
            retried,
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
        log.read_stream(&stream("period/C-3/2026-01"), StreamVersion(1))
            .await
            .unwrap()
            .len(),
        2
    );
}

/// A command's events are appended together with consecutive versions and positions; a rejected
/// multi-event command appends none of them.
pub async fn multi_event_append_is_atomic<L: EventLog>(log: L) {
    let events: Vec<NewEvent> = (20..25).map(|seed| sample_event(seed, 64)).collect();
    let outcome = log
        .append(request("contract/C-4", 0, command("batch"), events.clone()))
        .await
        .expect("append");
    assert_eq!(outcome.first_version, StreamVersion(1));
    assert_eq!(outcome.positions.len(), 5);
    for pair in outcome.positions.windows(2) {
        assert_eq!(pair[0].partition, pair[1].partition);
        assert_eq!(
            pair[0].offset.next(),
            pair[1].offset,
            "a command's records are contiguous"
        );
    }
    let read = log
        .read_stream(&stream("contract/C-4"), StreamVersion(1))
        .await
        .unwrap();
    assert_eq!(read.len(), 5);
    for (envelope, event) in read.iter().zip(&events) {
        assert_same_event(envelope, event);
        assert_eq!(envelope.body.command_id, command("batch"));
    }
    let end = log
        .end_offset(outcome.positions[0].partition)
        .await
        .unwrap();
    let stale = request(
        "contract/C-4",
        3,
        command("late"),
        (30..33).map(|seed| sample_event(seed, 8)).collect(),
    );
    assert!(log.append(stale).await.unwrap_err().is_conflict());
    assert_eq!(
        log.end_offset(outcome.positions[0].partition)
            .await
            .unwrap(),
        end
    );
}

/// An append without events is refused as invalid, not silently accepted.
pub async fn invalid_appends_are_refused<L: EventLog>(log: L) {
    let error = log
        .append(request("contract/C-5", 0, command("empty"), Vec::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, LogError::Invalid(_)),
        "expected Invalid, got {error:?}"
    );
    assert_eq!(
        log.stream_version(&stream("contract/C-5")).await.unwrap(),
        StreamVersion::NONE
    );
}

/// A subscription first delivers what is already committed, then follows new appends live.
pub async fn subscribe_catches_up_then_follows_live<L: EventLog>(log: L) {
    let stream_id = "contract/C-6";
    for version in 0..3u64 {
        let event = sample_event(40 + version, 30);
        log.append(request(
            stream_id,
            version,
            command(&format!("sub-{version}")),
            vec![event],
        ))
        .await
        .expect("append");
    }
    let partition = log.partition_of(&stream(stream_id));
    let mut subscription = subscribe(&log, partition, Offset(0));
    for expected in 1..=3u64 {
        let envelope = next_within_guard(&mut subscription).await;
        assert_eq!(envelope.body.stream_version, StreamVersion(expected));
    }
    // The subscription is now waiting at the end; the append happens while it waits.
    let live_event = sample_event(99, 30);
    let live = request(stream_id, 3, command("sub-live"), vec![live_event.clone()]);
    let (envelope, appended) =
        futures::join!(next_within_guard(&mut subscription), log.append(live));
    let appended = appended.expect("append while subscribed");
    assert_same_event(&envelope, &live_event);
    assert_eq!(envelope.position, appended.positions[0]);
}

/// Many appenders on different streams at once: every append succeeds and every stream stays gapless.
pub async fn concurrent_appenders_on_different_streams<L: EventLog>(log: L) {
    const STREAMS: u64 = 16;
    const APPENDS_PER_STREAM: u64 = 20;
    let appender = |stream_number: u64| {
        let log = &log;
        async move {
            let stream_id = format!("contract/K-{stream_number}");
            for version in 0..APPENDS_PER_STREAM {
                let event = sample_event(stream_number * 1000 + version, 80);
                let name = format!("concurrent-{stream_number}-{version}");
                log.append(request(&stream_id, version, command(&name), vec![event]))
                    .await
                    .expect("append succeeds");
            }
        }
    };
    futures::future::join_all((0..STREAMS).map(appender)).await;
    let mut total = 0;
    for stream_number in 0..STREAMS {
        let envelopes = log
            .read_stream(
                &stream(&format!("contract/K-{stream_number}")),
                StreamVersion(1),
            )
            .await
            .unwrap();
        let versions: Vec<u64> = envelopes
            .iter()
            .map(|envelope| envelope.body.stream_version.0)
            .collect();
        assert_eq!(versions, (1..=APPENDS_PER_STREAM).collect::<Vec<_>>());
        assert!(
            envelopes
                .windows(2)
                .all(|pair| pair[0].position.offset < pair[1].position.offset)
        );
        total += envelopes.len();
    }
    let mut held = 0;
    for partition in 0..log.partitions() {
        let mut records = super::read_partition(&log, PartitionId(partition), Offset(0));
        while let Some(record) = records.next().await {
            record.unwrap();
            held += 1;
        }
    }
    assert_eq!(
        held, total,
        "a fresh log holds exactly the appended records"
    );
}

/// Appends racing on one stream with the same expected version: exactly one wins, the others get a
/// `Conflict`, and the stream holds the winner's events only.
pub async fn racing_appends_on_one_stream_have_one_winner<L: EventLog>(log: L) {
    const RACERS: u64 = 8;
    let racer = |number: u64| {
        let log = &log;
        async move {
            let events = vec![
                sample_event(500 + number, 20),
                sample_event(600 + number, 20),
            ];
            log.append(request(
                "contract/RACE",
                0,
                command(&format!("racer-{number}")),
                events,
            ))
            .await
        }
    };
    let results = futures::future::join_all((0..RACERS).map(racer)).await;
    let winners: Vec<&AppendOutcome> = results
        .iter()
        .filter_map(|result| result.as_ref().ok())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one racer wins: {results:?}");
    for result in &results {
        if let Err(error) = result {
            assert!(
                error.is_conflict(),
                "a losing racer gets a conflict, got {error:?}"
            );
        }
    }
    let stream_events = log
        .read_stream(&stream("contract/RACE"), StreamVersion(1))
        .await
        .unwrap();
    assert_eq!(stream_events.len(), 2);
    assert_eq!(stream_events[0].position, winners[0].positions[0]);
}

/// The same command sent several times at once (a client retrying before its first answer): it is
/// appended once, and every answer carries the same positions.
pub async fn concurrent_retries_append_once<L: EventLog>(log: L) {
    const COPIES: usize = 6;
    let events = vec![sample_event(700, 20)];
    let send = || {
        log.append(request(
            "contract/RETRY",
            0,
            command("retried"),
            events.clone(),
        ))
    };
    let results = futures::future::join_all((0..COPIES).map(|_| send())).await;
    let outcomes: Vec<AppendOutcome> = results
        .into_iter()
        .map(|result| result.expect("every copy succeeds"))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|outcome| !outcome.duplicate).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|outcome| outcome.positions == outcomes[0].positions)
    );
    assert_eq!(
        log.read_stream(&stream("contract/RETRY"), StreamVersion(1))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// The backend places streams with the shared partition function, so every backend agrees.
pub async fn partition_of_is_stable<L: EventLog>(log: L) {
    let contract = stream("contract/C-7");
    let period = stream("period/C-7/2026-02");
    assert_eq!(
        log.partition_of(&contract),
        partition_of(&contract, log.partitions())
    );
    assert_eq!(log.partition_of(&contract), log.partition_of(&period));
    let outcome = log
        .append(request(
            "period/C-7/2026-02",
            0,
            command("placed"),
            vec![sample_event(7, 10)],
        ))
        .await
        .unwrap();
    assert_eq!(outcome.positions[0].partition, log.partition_of(&contract));
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

/// A deterministic batch of `length` append requests over a few streams, built from `seed`: mostly
/// commands that expect the version the earlier ones of the batch leave (chains on one stream), and
/// among them stale expected versions (conflicts), commands without events (invalid), retries of an
/// earlier command id (duplicates) and commands of several events.
pub fn mixed_batch(seed: u64, length: usize) -> Vec<AppendRequest> {
    const STREAMS: [&str; 4] = [
        "contract/B-1",
        "period/B-1/2026-01",
        "contract/B-2",
        "budget/KZ/B/2026",
    ];
    let mut random = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move |below: u64| {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random % below
    };
    let mut versions = [0u64; STREAMS.len()];
    let mut appended: Vec<(usize, CommandId)> = Vec::new();
    let mut requests = Vec::with_capacity(length);
    for number in 0..u64::try_from(length).expect("usize fits in u64") {
        let which = usize::try_from(next(4)).expect("small");
        let name = format!("batch-{seed}-{number}");
        let event_seed = seed.wrapping_mul(1_000_000) + number * 10;
        let request = match next(10) {
            0 => request(
                STREAMS[which],
                versions[which] + 1 + next(3),
                command(&name),
                vec![sample_event(event_seed, 40)],
            ),
            1 => request(STREAMS[which], versions[which], command(&name), Vec::new()),
            2 if !appended.is_empty() => {
                let pick = usize::try_from(next(u64::try_from(appended.len()).expect("fits")))
                    .expect("small");
                let (stream_number, command_id) = appended[pick];
                request(
                    STREAMS[stream_number],
                    versions[stream_number],
                    command_id,
                    vec![sample_event(event_seed, 40)],
                )
            }
            choice => {
                let events = (0..1 + u64::from(choice == 9) * 2)
                    .map(|index| sample_event(event_seed + index, 40))
                    .collect::<Vec<_>>();
                let count = u64::try_from(events.len()).expect("fits");
                let command_id = command(&name);
                let request = request(STREAMS[which], versions[which], command_id, events);
                versions[which] += count;
                appended.push((which, command_id));
                request
            }
        };
        requests.push(request);
    }
    requests
}

/// `append_many` on one log ends where appending the same requests one at a time on another ends:
/// the same result per request (outcome or error kind), and the same records on every partition.
pub async fn append_many_equals_one_at_a_time<L: EventLog>(
    batched: L,
    sequential: L,
    requests: &[AppendRequest],
) {
    let many = tokio::time::timeout(HANG_GUARD, batched.append_many(requests.to_vec()))
        .await
        .expect("append_many answers within the hang guard");
    assert_eq!(many.len(), requests.len(), "one result per request");
    for (number, (request, batched_result)) in requests.iter().zip(&many).enumerate() {
        let single = sequential.append(request.clone()).await;
        match (batched_result, &single) {
            (Ok(left), Ok(right)) => {
                assert_eq!(
                    (&left.stream, left.first_version, left.duplicate),
                    (&right.stream, right.first_version, right.duplicate),
                    "request {number} ({}, command {})",
                    request.stream,
                    request.command_id
                );
                assert_eq!(left.positions.len(), right.positions.len());
            }
            (Err(left), Err(right)) => assert_eq!(
                error_kind(left),
                error_kind(right),
                "request {number}: {left} against {right}"
            ),
            (left, right) => {
                panic!("request {number}: batched {left:?} but one at a time {right:?}")
            }
        }
    }
    for partition in 0..batched.partitions() {
        let left = read_everything(&batched, PartitionId(partition)).await;
        let right = read_everything(&sequential, PartitionId(partition)).await;
        assert_eq!(left, right, "partition {partition} holds the same records");
    }
}

/// Every record of a partition as (stream, version, command id, event id, payload).
async fn read_everything<L: EventLog>(
    log: &L,
    partition: PartitionId,
) -> Vec<(StreamId, StreamVersion, CommandId, EventId, Vec<u8>)> {
    let mut found = Vec::new();
    let mut records = super::read_partition(log, partition, Offset(0));
    while let Some(record) = records.next().await {
        let envelope = record.expect("read succeeds");
        let body = envelope.body;
        found.push((
            body.stream,
            body.stream_version,
            body.command_id,
            body.event_id,
            body.payload.data,
        ));
    }
    found
}

fn error_kind(error: &LogError) -> String {
    match error {
        LogError::Conflict {
            stream,
            expected,
            actual,
        } => format!("conflict on {stream}: expected {expected}, actual {actual}"),
        LogError::Invalid(_) => "invalid".to_owned(),
        other => format!("{other}"),
    }
}

/// The record carries exactly what the writer handed in.
pub fn assert_same_event(envelope: &EventEnvelope, event: &NewEvent) {
    assert_eq!(envelope.body.event_id, event.event_id);
    assert_eq!(envelope.body.occurred_at, event.occurred_at);
    assert_eq!(envelope.body.jurisdiction, event.jurisdiction);
    assert_eq!(envelope.body.causation_id, event.causation_id);
    assert_eq!(envelope.body.correlation_id, event.correlation_id);
    assert_eq!(envelope.body.actor, event.actor);
    assert_eq!(envelope.body.payload, event.payload);
}

/// The Kafka-compatible broker the tests use: `LEDGER_TEST_KAFKA=HOST:PORT` when set (what
/// `scripts/test.sh` exports), otherwise the project's own `scripts/broker.sh start` (tansu on loopback,
/// downloaded and started by the script, reused if it already runs). Never skips: a Kafka test that
/// cannot reach a broker fails and says how to give it one. Resolved once per test process.
#[cfg(feature = "kafka")]
pub fn kafka_bootstrap() -> &'static str {
    static BOOTSTRAP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOTSTRAP.get_or_init(|| {
        if let Ok(address) = std::env::var("LEDGER_TEST_KAFKA") {
            assert!(!address.is_empty(), "LEDGER_TEST_KAFKA is set but empty");
            return address;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/broker.sh");
        let output = std::process::Command::new("bash")
            .args([script, "start"])
            .output()
            .unwrap_or_else(|error| {
                panic!("cannot run {script}: {error}; set LEDGER_TEST_KAFKA=HOST:PORT instead")
            });
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{script} start failed ({}):\n{stdout}\n{}\nset LEDGER_TEST_KAFKA=HOST:PORT to use another broker",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
            .lines()
            .find_map(|line| line.strip_prefix("KAFKA_BOOTSTRAP="))
            .unwrap_or_else(|| panic!("{script} start printed no KAFKA_BOOTSTRAP= line:\n{stdout}"))
            .to_owned()
    })
}
