//! Behaviour of the runtime on chosen cases: gaps, redelivery, view failures, rebuild on a version
//! change, the async driver, and queries while projection goes on.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::log::VecLog;
use common::{Op, Rng, Workload};
use ledger::log::{EventEnvelope, Offset, PartitionId, Position, StreamVersion};
use projector::{
    FlushPolicy, Progress, Projector, ProjectorError, SimConfig, SimStore, SledStore, View,
    ViewError, ViewRead, ViewState, ViewTxn,
};

fn sim() -> SimStore {
    SimStore::new(SimConfig::default())
}

fn at(offset: u64) -> Position {
    Position {
        partition: PartitionId(0),
        offset: Offset(offset),
    }
}

fn set(entity: u8) -> Op {
    Op::Set { entity, value: 5 }
}

#[test]
fn stream_gap_stops_the_projector_naming_stream_versions_and_position() {
    let stream = common::stream_id(0);
    let batch = vec![
        common::envelope(at(0), &stream, StreamVersion(1), set(1)),
        common::envelope(at(1), &stream, StreamVersion(3), set(2)),
    ];
    let (mut projector, _) = Projector::open(sim(), common::views(1)).unwrap();
    let before = projector.store().export().unwrap();
    let error = projector.step(&batch).unwrap_err();
    let ProjectorError::StreamGap(gap) = &error else {
        panic!("expected a gap, got {error}")
    };
    assert_eq!(
        (gap.expected, gap.found, gap.position),
        (StreamVersion(2), StreamVersion(3), at(1))
    );
    let message = error.to_string();
    for part in [
        "stream \"contract/C-0\"",
        "position 0:1",
        "expected version 2",
        "found 3",
    ] {
        assert!(message.contains(part), "message {message:?} lacks {part:?}");
    }
    assert_eq!(
        projector.store().export().unwrap(),
        before,
        "a failed step writes nothing"
    );
    assert_eq!(
        projector
            .checkpoint(common::ENTITIES, PartitionId(0))
            .unwrap(),
        Offset(0)
    );
}

#[test]
fn redelivered_batch_is_skipped_below_the_checkpoint() {
    let workload = Workload::generate(&mut Rng::new(5), 1, 4, 20);
    let events = workload.partition(PartitionId(0));
    let (mut projector, _) = Projector::open(sim(), common::views(1)).unwrap();
    let first = projector.step(events).unwrap();
    assert_eq!(first.below_checkpoint, 0);
    let after = projector.store().export().unwrap();
    let again = projector.step(events).unwrap();
    assert_eq!(
        (again.applied, again.below_checkpoint, again.writes),
        (0, 2 * 20, 0)
    );
    assert_eq!(projector.store().export().unwrap(), after);
}

#[test]
fn duplicate_stream_version_at_a_new_offset_is_skipped() {
    let stream = common::stream_id(1);
    let original = common::envelope(
        at(0),
        &stream,
        StreamVersion(1),
        Op::Add {
            entity: 0,
            amount: 7,
        },
    );
    let duplicate = EventEnvelope {
        position: at(1),
        ..original.clone()
    };
    let (mut projector, _) = Projector::open(sim(), common::views(1)).unwrap();
    let outcome = projector.step(&[original, duplicate]).unwrap();
    assert_eq!(
        (outcome.applied, outcome.duplicates),
        (2, 2),
        "two views, one applied and one skipped each"
    );
    let value = projector
        .reader()
        .get(common::ENTITIES, b"e/period/C-0/2026-01/000")
        .unwrap()
        .unwrap();
    assert_eq!(value, 7u64.to_be_bytes());
    assert_eq!(
        projector
            .checkpoint(common::DIGEST, PartitionId(0))
            .unwrap(),
        Offset(2)
    );
}

/// A view that refuses events of one stream version.
struct Refusing;

impl View for Refusing {
    fn name(&self) -> &str {
        "refusing"
    }
    fn version(&self) -> u32 {
        1
    }
    fn apply(&self, envelope: &EventEnvelope, txn: &mut ViewTxn<'_>) -> Result<(), ViewError> {
        txn.put(
            b"seen".to_vec(),
            envelope.body.stream_version.0.to_be_bytes().to_vec(),
        );
        if envelope.body.stream_version == StreamVersion(2) {
            return Err(ViewError::Event {
                detail: "version 2 is refused".into(),
            });
        }
        Ok(())
    }
}

#[test]
fn view_failure_names_view_and_position_and_writes_nothing() {
    let stream = common::stream_id(0);
    let batch = vec![
        common::envelope(at(0), &stream, StreamVersion(1), set(1)),
        common::envelope(at(1), &stream, StreamVersion(2), set(2)),
    ];
    let (mut projector, _) = Projector::open(sim(), vec![Box::new(Refusing)]).unwrap();
    let error = projector.step(&batch).unwrap_err();
    assert_eq!(
        error.to_string(),
        "view \"refusing\" failed to apply event \"Synthetic\" at position 0:1 (stream \"contract/C-0\" version 2)"
    );
    assert_eq!(projector.reader().get("refusing", b"seen").unwrap(), None);
    // The step is retryable: the first event alone goes through.
    projector.step(&batch[..1]).unwrap();
    assert_eq!(
        projector.reader().get("refusing", b"seen").unwrap(),
        Some(1u64.to_be_bytes().to_vec())
    );
}

#[tokio::test]
async fn version_change_rebuilds_the_view_from_the_log_and_collects_the_old_generation() {
    let workload = Workload::generate(&mut Rng::new(11), 3, 10, 300);
    let log = VecLog::new(workload.partitions.clone());
    let (mut projector, report) = Projector::open(sim(), common::views(1)).unwrap();
    assert!(
        report
            .views
            .iter()
            .all(|status| status.state == ViewState::Created)
    );
    projector::catch_up(&mut projector, &log, None)
        .await
        .unwrap();
    let store = projector.into_store();

    let (mut projector, report) = Projector::open(store, common::views(2)).unwrap();
    let rebuilding: Vec<_> = report
        .rebuilding()
        .map(|status| (status.name.as_str(), status.generation))
        .collect();
    assert_eq!(rebuilding, [(common::DIGEST, 1)]);
    assert!(report.garbage_deleted > 0, "the old generation was deleted");
    let summary = projector::catch_up(&mut projector, &log, None)
        .await
        .unwrap();
    assert_eq!(
        summary.events, 300,
        "every event is read again for the rebuilt view"
    );
    assert_eq!(summary.applied + summary.skipped, 2 * 300);
    assert!(
        summary.skipped >= 300,
        "the unchanged view skips what it has"
    );

    let actual = common::read_views(&projector.reader());
    assert_eq!(
        common::first_difference(&actual, &common::model(&workload, 2)),
        None
    );
    let keyspaces: Vec<String> = projector
        .store()
        .export()
        .unwrap()
        .into_iter()
        .map(|entry| entry.keyspace)
        .collect();
    assert!(
        keyspaces
            .iter()
            .all(|keyspace| !keyspace.starts_with("digest@0")),
        "old generation left: {keyspaces:?}"
    );
}

#[tokio::test]
async fn catch_up_reports_progress_up_to_the_total() {
    let workload = Workload::generate(&mut Rng::new(3), 2, 6, 2500);
    let log = VecLog::new(workload.partitions.clone());
    let (mut projector, _) = Projector::open(sim(), common::views(1)).unwrap();
    let mut seen: Vec<Progress> = Vec::new();
    let mut record = |progress: &Progress| seen.push(*progress);
    let report = projector::catch_up(&mut projector, &log, Some(&mut record))
        .await
        .unwrap();
    assert_eq!(report.events, 2500);
    let last = seen.last().expect("progress was reported");
    assert_eq!((last.done, last.total), (2500, 2500));
    assert!(
        seen.windows(2).all(|pair| pair[0].done < pair[1].done),
        "progress only grows"
    );
    assert!(
        seen.len() >= 3,
        "batches of PROJECT_BATCH_MAX give several reports"
    );
}

#[tokio::test]
async fn follow_applies_events_appended_after_it_started() {
    let workload = Workload::generate(&mut Rng::new(8), 2, 6, 400);
    let (first, later): (Vec<Vec<EventEnvelope>>, Vec<EventEnvelope>) = {
        let mut later = Vec::new();
        let first = workload
            .partitions
            .iter()
            .map(|events| {
                let half = events.len() / 2;
                later.extend_from_slice(&events[half..]);
                events[..half].to_vec()
            })
            .collect();
        (first, later)
    };
    let last_positions: Vec<Position> = workload
        .partitions
        .iter()
        .filter_map(|events| events.last())
        .map(|e| e.position)
        .collect();
    let log = VecLog::new(first);
    let (mut projector, _) = Projector::open(sim(), common::views(1)).unwrap();
    let reader = projector.reader();
    let stop = async {
        log.push(later);
        while !last_positions
            .iter()
            .all(|&position| reader.has_applied(position).unwrap())
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    projector::follow(&mut projector, &log, stop).await.unwrap();
    let actual = common::read_views(&projector.reader());
    assert_eq!(
        common::first_difference(&actual, &common::model(&workload, 1)),
        None
    );
}

#[test]
fn queries_run_while_projection_goes_on_and_never_go_back() {
    let directory = tempfile::tempdir().unwrap();
    let store =
        SledStore::open(directory.path(), FlushPolicy::Background { every_ms: 50 }).unwrap();
    let workload = Workload::generate(&mut Rng::new(21), 1, 3, 3000);
    let (mut projector, _) = Projector::open(store, common::views(1)).unwrap();
    let reader = projector.reader();
    let done = Arc::new(AtomicBool::new(false));
    let querying = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut last = Offset(0);
            let mut reads = 0u64;
            while !done.load(Ordering::Acquire) || reads == 0 {
                let checkpoint = reader.checkpoint(common::DIGEST, PartitionId(0)).unwrap();
                assert!(
                    checkpoint >= last,
                    "checkpoint went back from {last} to {checkpoint}"
                );
                last = checkpoint;
                reads += 1;
            }
            reads
        })
    };
    for chunk in workload.partition(PartitionId(0)).chunks(16) {
        projector.step(chunk).unwrap();
    }
    done.store(true, Ordering::Release);
    assert!(querying.join().unwrap() > 0);
    let actual = common::read_views(&projector.reader());
    assert_eq!(
        common::first_difference(&actual, &common::model(&workload, 1)),
        None
    );
}

#[test]
fn sled_store_resumes_from_its_checkpoints_after_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let workload = Workload::generate(&mut Rng::new(4), 2, 5, 200);
    let half = |partition: u32| workload.partition(PartitionId(partition)).len() / 2;
    {
        let store = SledStore::open(directory.path(), FlushPolicy::EveryBatch).unwrap();
        let (mut projector, _) = Projector::open(store, common::views(1)).unwrap();
        for partition in 0..2 {
            projector
                .step(&workload.partition(PartitionId(partition))[..half(partition)])
                .unwrap();
        }
    }
    let store = SledStore::open(directory.path(), FlushPolicy::EveryBatch).unwrap();
    let (mut projector, report) = Projector::open(store, common::views(1)).unwrap();
    assert!(
        report
            .views
            .iter()
            .all(|status| status.state == ViewState::Resumed)
    );
    for partition in 0..2 {
        let events = workload.partition(PartitionId(partition));
        assert_eq!(
            projector.resume_offset(PartitionId(partition)),
            Offset(u64::try_from(half(partition)).unwrap())
        );
        let outcome = projector.step(events).unwrap();
        assert_eq!(
            outcome.below_checkpoint,
            2 * u64::try_from(half(partition)).unwrap()
        );
    }
    let actual = common::read_views(&projector.reader());
    assert_eq!(
        common::first_difference(&actual, &common::model(&workload, 1)),
        None
    );
}

#[tokio::test]
async fn catch_up_until_a_time_and_for_some_streams_builds_views_of_that_slice() {
    let workload = Workload::generate(&mut Rng::new(13), 3, 12, 900);
    let log = VecLog::new(workload.partitions.clone());
    // Synthetic records are recorded at `offset` microseconds: the cut keeps offsets 0..=150.
    let until = ledger::domain::time::Timestamp::from_micros(150);
    let periods_only = |stream: &ledger::log::StreamId| stream.category() == "period";
    let (mut projector, _) = Projector::open(sim(), common::views(1)).unwrap();
    let options = projector::CatchUpOptions {
        until: Some(until),
        streams: Some(&periods_only),
        progress: None,
    };
    projector::catch_up_with(&mut projector, &log, options)
        .await
        .unwrap();
    let slice = Workload {
        partitions: workload
            .partitions
            .iter()
            .map(|events| {
                let cut = events
                    .iter()
                    .take_while(|event| event.body.recorded_at <= until);
                cut.filter(|event| periods_only(&event.body.stream))
                    .cloned()
                    .collect()
            })
            .collect(),
    };
    assert!(
        slice.event_count() > 20 && slice.event_count() < 450,
        "a real slice: {}",
        slice.event_count()
    );
    let actual = common::read_views(&projector.reader());
    assert_eq!(
        common::first_difference(&actual, &common::model(&slice, 1)),
        None
    );
}
