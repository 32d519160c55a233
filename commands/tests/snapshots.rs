//! Snapshots of long streams (issue #16 §1) against the real embedded log and real files: a state
//! loaded from a snapshot plus the log's tail equals the full fold; a snapshot of another fold
//! version, damaged, truncated, foreign or ahead of the log is discarded and the stream re-folded,
//! and the next decision is still right.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use ledger::log::{
    Actor, ActorId, ActorRole, AppendRequest, CommandId, EventEnvelope, EventId, EventLog,
    NewEvent, Payload, StreamId, StreamVersion,
};
use ledger_commands::handler::{Aggregate, Handled, Handler, HandlerError, SnapshotStore};
use ledger_commands::writer::{CommandMeta, PeriodAggregate, new_events};
use projector::views::sample::{SampleConfig, events};
use proptest::prelude::*;
use uuid::Uuid;

fn open_log(dir: &Path) -> Arc<FileLog> {
    let options = FileLogOptions {
        partitions: 2,
        durability: Durability::NoSync,
        ..FileLogOptions::default()
    };
    Arc::new(FileLog::open(dir, options).expect("open log"))
}

fn store(dir: &Path, every: u64) -> Arc<SnapshotStore> {
    Arc::new(SnapshotStore::open(&dir.join("snapshots"), every).unwrap())
}

/// The period streams of a generated sample (dispensings with reversals, the registry cycle with
/// rejections, the act, suspended clocks, payments), in order.
fn period_streams(seed: u64, dispensings: u32, periods: u32) -> BTreeMap<StreamId, Vec<Event>> {
    let config = SampleConfig {
        seed,
        contracts: 1,
        periods,
        dispensings_per_period: dispensings,
        lifecycle: true,
    };
    let mut streams: BTreeMap<StreamId, Vec<Event>> = BTreeMap::new();
    for sample in events(config) {
        if sample.stream.category() == "period" {
            streams.entry(sample.stream).or_default().push(sample.event);
        }
    }
    streams
}

/// Appends `events` to `stream` one record per append, after `from` events already there.
async fn append(log: &dyn EventLog, stream: &StreamId, events: &[Event], from: usize) {
    for (index, event) in events.iter().enumerate() {
        let version = from + index;
        let meta = CommandMeta {
            command_id: CommandId::derived(stream.as_str(), &version.to_string()),
            at: Timestamp::from_micros(1_767_225_600_000_000),
            jurisdiction: Jurisdiction::KZ,
            actor: Actor::new(ActorId::System("test".into()), ActorRole::System),
            correlation_id: Uuid::nil(),
            digest: None,
        };
        log.append(AppendRequest {
            stream: stream.clone(),
            expected: StreamVersion(u64::try_from(version).unwrap()),
            command_id: meta.command_id,
            events: new_events(vec![event.clone()], &meta),
        })
        .await
        .unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// A period state loaded from a snapshot taken at a random point, plus the events appended
    /// after it, equals the full fold of the same stream; and only the tail is folded.
    #[test]
    fn snapshot_and_tail_equal_the_full_fold(
        seed in any::<u64>(),
        dispensings in 1u32..80,
        periods in 1u32..3,
        cut_percent in 0usize..=100,
        every in 1u64..40,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let log = open_log(&dir.path().join("log"));
            let streams = period_streams(seed, dispensings, periods);
            let cuts: BTreeMap<&StreamId, usize> = streams
                .iter()
                .map(|(stream, events)| (stream, events.len() * cut_percent / 100))
                .collect();
            for (stream, events) in &streams {
                append(&*log, stream, &events[..cuts[stream]], 0).await;
            }
            // A writer folds the streams as far as they go and snapshots the long ones.
            let first = Handler::<PeriodAggregate>::with_snapshots(Some(store(dir.path(), every)));
            for stream in streams.keys() {
                first.load(&*log, stream).await.unwrap();
            }
            drop(first); // the store writes what is queued
            for (stream, events) in &streams {
                append(&*log, stream, &events[cuts[stream]..], cuts[stream]).await;
            }
            // A restarted writer starts from the snapshots.
            let restarted =
                Handler::<PeriodAggregate>::with_snapshots(Some(store(dir.path(), every)));
            let full = Handler::<PeriodAggregate>::default();
            let mut expected_folded = 0;
            for (stream, events) in &streams {
                let (state, version) = restarted.load(&*log, stream).await.unwrap();
                let (expected, expected_version) = full.load(&*log, stream).await.unwrap();
                prop_assert_eq!(version, expected_version);
                prop_assert_eq!(&state, &expected);
                let snapshotted = if cuts[stream] as u64 >= every { cuts[stream] } else { 0 };
                expected_folded += events.len() - snapshotted;
            }
            prop_assert_eq!(restarted.events_folded(), expected_folded as u64);
            Ok(())
        })?;
    }
}

/// A toy aggregate whose fold changes with `V`: a counter that adds each event's amount `V` times
/// and refuses to pass its limit. Its state is a `u64`, so every `Counter<V>` reads the others'
/// snapshots' type.
struct Counter<const V: u32>;

#[derive(Debug, thiserror::Error)]
#[error("adding {amount} would pass the limit {LIMIT} (total {total})")]
struct OverLimit {
    amount: u64,
    total: u64,
}

const LIMIT: u64 = 1_000;

impl<const V: u32> Aggregate for Counter<V> {
    type State = u64;
    type Command = u64;
    type Context<'c> = ();
    type Rejection = OverLimit;
    const FOLD_VERSION: u32 = V;

    fn evolve(state: u64, envelope: &EventEnvelope) -> Result<u64, HandlerError> {
        let bytes: [u8; 8] = envelope.body.payload.data.as_slice().try_into().unwrap();
        Ok(state + u64::from(V) * u64::from_le_bytes(bytes))
    }

    fn decide(state: &mut u64, amount: &u64, _: &()) -> Result<Vec<NewEvent>, OverLimit> {
        if *state + u64::from(V) * amount > LIMIT {
            return Err(OverLimit {
                amount: *amount,
                total: *state,
            });
        }
        *state += u64::from(V) * amount;
        Ok(vec![NewEvent {
            event_id: EventId::new_v7(Timestamp::from_micros(1)),
            occurred_at: Timestamp::from_micros(0),
            jurisdiction: Jurisdiction::KZ,
            causation_id: None,
            correlation_id: Uuid::nil(),
            actor: Actor::new(ActorId::System("test".into()), ActorRole::System),
            payload: Payload {
                event_type: "Added".into(),
                schema_version: 1,
                data: amount.to_le_bytes().to_vec(),
            },
            command_digest: None,
        }])
    }

    fn encode_state(state: &u64) -> Option<Result<Vec<u8>, ledger::codec::CodecError>> {
        Some(ledger::codec::encode(state))
    }

    fn decode_state(bytes: &[u8]) -> Result<u64, ledger::codec::CodecError> {
        ledger::codec::decode_state(bytes)
    }
}

/// A command id not used before in this process.
fn fresh_id() -> CommandId {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let next = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    CommandId(Uuid::from_u128(u128::from(next)))
}

fn counter() -> StreamId {
    StreamId::new("counter/1").unwrap()
}

/// Adds 1 to the counter `times` times through `handler`.
async fn add<const V: u32>(handler: &Handler<Counter<V>>, log: &dyn EventLog, times: u64) {
    for _ in 0..times {
        let id = fresh_id();
        let handled = handler.execute(log, &counter(), id, &1, &()).await.unwrap();
        assert!(matches!(handled, Handled::Appended(_)), "within the limit");
    }
}

/// A counter of 40 events with a snapshot at 40 (taken at 10, 20, 40: `snapshot_due`) in `dir`.
async fn counted(dir: &Path) -> (Arc<FileLog>, std::path::PathBuf) {
    let log = open_log(&dir.join("log"));
    let snapshots = store(dir, 10);
    let handler = Handler::<Counter<1>>::with_snapshots(Some(Arc::clone(&snapshots)));
    add(&handler, &*log, 40).await;
    let path = snapshots.path(&counter());
    drop(handler);
    drop(snapshots);
    assert!(path.exists(), "a stream of 40 events has a snapshot");
    (log, path)
}

/// Loads the counter in a restarted writer of fold `V`; returns its state and the events folded.
async fn restart<const V: u32>(dir: &Path, log: &dyn EventLog) -> (u64, u64) {
    let handler = Handler::<Counter<V>>::with_snapshots(Some(store(dir, 10)));
    let (state, version) = handler.load(log, &counter()).await.unwrap();
    assert_eq!(version, log.stream_version(&counter()).await.unwrap());
    (state, handler.events_folded())
}

#[tokio::test]
async fn a_sound_snapshot_spares_the_fold() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = counted(dir.path()).await;
    assert_eq!(restart::<1>(dir.path(), &*log).await, (40, 0));
}

/// A fold of another version (here: each event counts twice) discards the old fold's snapshot and
/// re-folds every event; using the snapshot would give 40 + 0, not 80.
#[tokio::test]
async fn a_changed_fold_version_discards_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (log, path) = counted(dir.path()).await;
    assert_eq!(restart::<2>(dir.path(), &*log).await, (80, 40));
    assert!(path.exists());
    assert_eq!(
        restart::<2>(dir.path(), &*log).await,
        (80, 0),
        "the re-fold left a snapshot of the new fold"
    );
}

/// Damaged or truncated files are discarded and the stream re-folded; the writer's next decision is
/// taken on the true state (960 more fit under the limit, 961 do not).
#[tokio::test]
async fn damaged_or_truncated_snapshots_are_discarded_and_decisions_stay_right() {
    for damage in ["flip", "truncate", "empty", "garbage"] {
        let dir = tempfile::tempdir().unwrap();
        let (log, path) = counted(dir.path()).await;
        let mut bytes = std::fs::read(&path).unwrap();
        match damage {
            "flip" => *bytes.last_mut().unwrap() ^= 0x01,
            "truncate" => bytes.truncate(bytes.len() / 2),
            "empty" => bytes.clear(),
            _ => bytes = b"not a snapshot at all".to_vec(),
        }
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(restart::<1>(dir.path(), &*log).await, (40, 40), "{damage}");
        assert_ne!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{damage}: the damaged snapshot is replaced"
        );
        assert_eq!(restart::<1>(dir.path(), &*log).await, (40, 0), "{damage}");

        std::fs::write(&path, &bytes).unwrap();
        let handler = Handler::<Counter<1>>::with_snapshots(Some(store(dir.path(), 10)));
        let over = handler
            .execute(&*log, &counter(), fresh_id(), &961, &())
            .await
            .unwrap();
        assert!(
            matches!(over, Handled::Rejected(OverLimit { total: 40, .. })),
            "{damage}: {over:?}"
        );
        let within = handler
            .execute(&*log, &counter(), fresh_id(), &960, &())
            .await
            .unwrap();
        assert!(matches!(within, Handled::Appended(_)), "{damage}");
    }
}

/// A whole, well-formed snapshot that does not describe this log: one ahead of the log (the log
/// lost its tail, or the snapshot comes from a longer log), and one of another log whose stream has
/// other events at that version. Both are discarded.
#[tokio::test]
async fn snapshots_ahead_of_the_log_or_of_another_log_are_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = counted(dir.path()).await;
    let snapshot = std::fs::read(&path).unwrap();

    // Ahead: a log whose counter has 12 events, with the snapshot at 40.
    let shorter = tempfile::tempdir().unwrap();
    let log = open_log(&shorter.path().join("log"));
    add(&Handler::<Counter<1>>::default(), &*log, 12).await;
    std::fs::create_dir_all(shorter.path().join("snapshots")).unwrap();
    std::fs::write(store(shorter.path(), 10).path(&counter()), &snapshot).unwrap();
    assert_eq!(restart::<1>(shorter.path(), &*log).await, (12, 12));

    // Foreign: a log whose counter has 50 other events (other ids at version 40).
    let other = tempfile::tempdir().unwrap();
    let log = open_log(&other.path().join("log"));
    add(&Handler::<Counter<1>>::default(), &*log, 50).await;
    std::fs::create_dir_all(other.path().join("snapshots")).unwrap();
    let target = store(other.path(), 10).path(&counter());
    std::fs::write(&target, &snapshot).unwrap();
    assert_eq!(restart::<1>(other.path(), &*log).await, (50, 50));
    assert_ne!(std::fs::read(&target).unwrap(), snapshot, "replaced");
}

/// A snapshot of one stream copied over another's file names the wrong stream: discarded.
#[tokio::test]
async fn a_snapshot_of_another_stream_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let (log, path) = counted(dir.path()).await;
    let other = StreamId::new("counter/2").unwrap();
    let handler = Handler::<Counter<1>>::default();
    for _ in 0..5 {
        handler
            .execute(&*log, &other, fresh_id(), &1, &())
            .await
            .unwrap();
    }
    let snapshots = store(dir.path(), 10);
    std::fs::copy(&path, snapshots.path(&other)).unwrap();
    let restarted = Handler::<Counter<1>>::with_snapshots(Some(snapshots));
    assert_eq!(restarted.load(&*log, &other).await.unwrap().0, 5);
    assert_eq!(restarted.events_folded(), 5);
}
