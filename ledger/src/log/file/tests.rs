//! Tests of the embedded log's file handling. The backend-agnostic contract lives in
//! `log::testkit` and runs here against [`FileLog`] with tiny segments, so segment rolls happen often.

mod follow;
mod index_files;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use proptest::prelude::*;

use super::*;
use crate::log::testkit::{self, command, request, sample_event, stream};
use crate::log::{EventLog, Position};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn options(partitions: u32, segment_bytes_max: u64, durability: Durability) -> FileLogOptions {
    FileLogOptions {
        partitions,
        durability,
        segment_bytes_max,
    }
}

/// The one segment file of `partition` (tests that use it keep segments large).
fn only_segment(dir: &Path, partition: u32) -> PathBuf {
    let segments = Layout::new(dir)
        .list_segments(PartitionId(partition))
        .expect("list segments");
    assert_eq!(segments.len(), 1, "test expects a single segment");
    segments[0].1.clone()
}

/// Appends commands `(stream, events)` in order, each expecting the stream's current version.
async fn append_commands(
    log: &FileLog,
    commands: &[(String, usize)],
    seed: u64,
) -> Vec<AppendOutcome> {
    let mut outcomes = Vec::new();
    for (number, (stream_id, events)) in (0u64..).zip(commands) {
        let expected = log.stream_version(&stream(stream_id)).await.unwrap().0;
        let events = (0..u64::try_from(*events).unwrap())
            .map(|index| sample_event(seed + number * 100 + index, 300))
            .collect();
        let command_id = command(&format!("{seed}-{number}"));
        outcomes.push(
            log.append(request(stream_id, expected, command_id, events))
                .await
                .expect("append"),
        );
    }
    outcomes
}

async fn read_all(log: &FileLog, partition: u32) -> Vec<EventEnvelope> {
    log.read_batch(PartitionId(partition), Offset(0), 1_000_000)
        .await
        .expect("read")
}

/// The embedded log's offsets are dense (the contract suite allows Kafka's gaps): record n of a
/// partition is at offset n, and the end is the next offset.
#[test]
fn offsets_are_dense_and_the_end_is_the_next_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    runtime().block_on(async {
        let log = FileLog::open(dir.path(), options(1, 2048, Durability::NoSync)).expect("open");
        let commands: Vec<(String, usize)> = (0..20)
            .map(|n| (format!("contract/C-{}", n % 3), 1 + n % 4))
            .collect();
        append_commands(&log, &commands, 7).await;
        let records = read_all(&log, 0).await;
        let offsets: Vec<u64> = records
            .iter()
            .map(|record| record.position.offset.0)
            .collect();
        assert_eq!(
            offsets,
            (0..u64::try_from(records.len()).unwrap()).collect::<Vec<_>>()
        );
        assert_eq!(
            log.end_offset(PartitionId(0)).await.unwrap(),
            Offset(u64::try_from(records.len()).unwrap())
        );
    });
}

#[test]
fn contract_suite_on_file_log_with_tiny_segments() {
    let dirs = Mutex::new(Vec::new());
    let make = || {
        let dir = tempfile::tempdir().expect("tempdir");
        let log =
            FileLog::open(dir.path(), options(4, 2048, Durability::FsyncPerBatch)).expect("open");
        dirs.lock().unwrap().push(dir);
        log
    };
    runtime().block_on(testkit::contract_suite(make));
}

#[test]
fn reopen_preserves_records_dedupe_and_chain() {
    let dir = tempfile::tempdir().unwrap();
    let commands: Vec<(String, usize)> = (0..30)
        .map(|number| (format!("contract/R-{}", number % 7), 1 + number % 3))
        .collect();
    let runtime = runtime();
    let (outcomes, before, stats_before) = runtime.block_on(async {
        let log = FileLog::open(dir.path(), options(3, 4096, Durability::FsyncPerBatch)).unwrap();
        let outcomes = append_commands(&log, &commands, 1).await;
        let mut before = Vec::new();
        for partition in 0..3 {
            before.push(read_all(&log, partition).await);
        }
        (outcomes, before, log.stats())
    });
    runtime.block_on(async {
        let log = FileLog::open(dir.path(), options(3, 4096, Durability::FsyncPerBatch)).unwrap();
        assert_eq!(
            log.stats().partitions,
            stats_before.partitions,
            "records, bytes, segments and chain heads survive"
        );
        for partition in 0..3u32 {
            assert_eq!(
                read_all(&log, partition).await,
                before[usize::try_from(partition).unwrap()]
            );
        }
        // The command ids survive: a retry of command 4 returns its original positions.
        let (stream_id, events) = &commands[4];
        let events = (0..u64::try_from(*events).unwrap())
            .map(|index| sample_event(1 + 400 + index, 300))
            .collect();
        let retried = log
            .append(request(stream_id, 0, command("1-4"), events))
            .await
            .unwrap();
        assert_eq!(
            retried,
            AppendOutcome {
                duplicate: true,
                ..outcomes[4].clone()
            }
        );
        // Appends continue the chain: verify accepts the whole log after more appends.
        append_commands(&log, &commands[..5], 9_000).await;
    });
    let report = verify(dir.path()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        report
            .partitions
            .iter()
            .map(|verdict| verdict.records)
            .sum::<u64>(),
        60 + (1 + 2 + 3 + 1 + 2)
    );
}

#[test]
fn reopening_with_another_partition_count_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(FileLog::open(dir.path(), options(4, 1 << 20, Durability::NoSync)).unwrap());
    let error = FileLog::open(dir.path(), options(8, 1 << 20, Durability::NoSync)).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, LogError::Invalid(_)), "{error:?}");
    assert!(
        message.contains("created with 4 partitions") && message.contains("8 were requested"),
        "{message}"
    );
}

#[test]
fn a_second_writer_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let first = FileLog::open(dir.path(), options(2, 1 << 20, Durability::NoSync)).unwrap();
    let error = FileLog::open(dir.path(), options(2, 1 << 20, Durability::NoSync)).unwrap_err();
    assert!(
        matches!(&error, LogError::Locked { lock, .. } if lock.ends_with("LOCK")),
        "{error:?}"
    );
    // A reader needs no lock and sees what the writer committed.
    runtime().block_on(async {
        append_commands(&first, &[("contract/L-1".to_owned(), 2)], 3).await;
        let reader = FileLog::open_read_only(dir.path()).unwrap();
        let partition = reader.partition_of(&stream("contract/L-1"));
        assert_eq!(
            reader
                .read_batch(partition, Offset(0), 10)
                .await
                .unwrap()
                .len(),
            2
        );
        let refused = reader
            .append(request(
                "contract/L-1",
                2,
                command("ro"),
                vec![sample_event(1, 10)],
            ))
            .await;
        assert!(matches!(refused, Err(LogError::Invalid(_))));
    });
    drop(first);
    drop(
        FileLog::open(dir.path(), options(2, 1 << 20, Durability::NoSync))
            .expect("the lock is released on drop"),
    );
}

/// A one-partition log of mixed single- and multi-event commands, as built.
struct Built {
    /// Per command: the byte position where its last record ends, and its records' event ids.
    commands: Vec<(u64, Vec<crate::log::EventId>)>,
    /// Per record: where its frame starts and ends.
    frames: Vec<(u64, u64)>,
}

fn build_single_segment_log(dir: &Path, commands: &[(String, usize)]) -> Built {
    runtime().block_on(async {
        let log = FileLog::open(dir, options(1, 1 << 30, Durability::NoSync)).unwrap();
        let outcomes = append_commands(&log, commands, 5).await;
        let records = read_all(&log, 0).await;
        let index = log.shared.index.read().unwrap();
        let frames: Vec<(u64, u64)> = index
            .partition(PartitionId(0))
            .records
            .iter()
            .map(|location| {
                (
                    location.byte_position,
                    location.byte_position + u64::from(location.frame_bytes),
                )
            })
            .collect();
        let at = |position: &Position| usize::try_from(position.offset.0).unwrap();
        let commands = outcomes
            .iter()
            .map(|outcome| {
                let end = frames[at(outcome.positions.last().unwrap())].1;
                (
                    end,
                    outcome
                        .positions
                        .iter()
                        .map(|position| records[at(position)].body.event_id)
                        .collect(),
                )
            })
            .collect();
        Built { commands, frames }
    })
}

fn mixed_commands() -> Vec<(String, usize)> {
    (0..12)
        .map(|number| (format!("contract/T-{}", number % 4), 1 + number % 3))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Truncating the segment anywhere: on reopen every command written completely before the cut
    /// survives, nothing after it is returned (not even part of a multi-event command), the log
    /// verifies clean, and appends continue.
    #[test]
    fn truncated_segment_recovers_every_complete_command(cut_seed in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let commands = mixed_commands();
        let built = build_single_segment_log(dir.path(), &commands);
        let segment = only_segment(dir.path(), 0);
        let cut = cut_seed % (std::fs::metadata(&segment).unwrap().len() + 1);
        std::fs::OpenOptions::new().write(true).open(&segment).unwrap().set_len(cut).unwrap();
        let expected: Vec<_> = built.commands.iter().filter(|(end, _)| *end <= cut).flat_map(|(_, ids)| ids.clone()).collect();
        runtime().block_on(async {
            let log = FileLog::open(dir.path(), options(1, 1 << 30, Durability::NoSync)).unwrap();
            let survivors: Vec<_> = read_all(&log, 0).await.into_iter().map(|envelope| envelope.body.event_id).collect();
            assert_eq!(survivors, expected);
            append_commands(&log, &commands[..3], 77_000).await;
        });
        let report = verify(dir.path()).unwrap();
        prop_assert!(report.is_ok(), "{:?}", report);
        prop_assert_eq!(report.partitions[0].records, u64::try_from(expected.len()).unwrap() + 6);
    }
}

/// A pristine one-partition log, built once and copied for each flipped-byte case.
fn pristine() -> &'static (tempfile::TempDir, Built) {
    static PRISTINE: std::sync::OnceLock<(tempfile::TempDir, Built)> = std::sync::OnceLock::new();
    PRISTINE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let built = build_single_segment_log(dir.path(), &mixed_commands());
        (dir, built)
    })
}

/// Copies the pristine log into a fresh directory and flips `mask` into segment byte `at`.
fn damaged_copy(at: u64, mask: u8) -> (tempfile::TempDir, PathBuf) {
    let (source, _) = pristine();
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    std::fs::create_dir_all(layout.partition_dir(PartitionId(0))).unwrap();
    std::fs::copy(Layout::new(source.path()).meta_path(), layout.meta_path()).unwrap();
    let segment = layout.segment_path(PartitionId(0), 0);
    let mut bytes = std::fs::read(only_segment(source.path(), 0)).unwrap();
    bytes[usize::try_from(at).unwrap()] ^= mask;
    std::fs::write(&segment, bytes).unwrap();
    (dir, segment)
}

/// The position and frame start of the record whose frame holds byte `at` (the header counts as
/// the first record's).
fn record_holding(frames: &[(u64, u64)], at: u64) -> (u64, u64) {
    match frames
        .iter()
        .position(|&(start, end)| start <= at && at < end)
    {
        Some(offset) => (u64::try_from(offset).unwrap(), frames[offset].0),
        None => (0, 0),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `verify` detects one flipped byte anywhere in a segment and names the record that holds it.
    #[test]
    fn verify_detects_any_flipped_byte(at_seed in any::<u64>(), bit in 0u8..8) {
        let (_, built) = pristine();
        let length = built.frames.last().unwrap().1;
        let at = at_seed % length;
        let (dir, segment) = damaged_copy(at, 1 << bit);
        let report = verify(dir.path()).unwrap();
        let problem = report.first_problem().expect("the flip is detected");
        let (offset, frame_start) = record_holding(&built.frames, at);
        prop_assert_eq!(problem.position, Position { partition: PartitionId(0), offset: Offset(offset) });
        prop_assert_eq!(problem.byte_offset, frame_start);
        prop_assert_eq!(&problem.path, &segment);
        // Good records stop at the damaged one, or earlier at the start of its multi-event command.
        prop_assert!(report.partitions[0].records <= offset && offset - report.partitions[0].records < 3);
    }
}

#[test]
fn damage_in_the_middle_of_a_segment_is_refused_on_open() {
    let (_, built) = pristine();
    let (second_start, _) = built.frames[1];
    let (dir, segment) = damaged_copy(second_start + 20, 0x40);
    let before = std::fs::read(&segment).unwrap();
    let error = FileLog::open(dir.path(), options(1, 1 << 30, Durability::NoSync)).unwrap_err();
    match &error {
        LogError::CorruptSegment {
            path,
            byte_offset,
            detail,
        } => {
            assert_eq!(path, &segment);
            assert_eq!(*byte_offset, second_start);
            assert!(
                detail.contains("record position 0:1") && detail.contains("CRC"),
                "{detail}"
            );
        }
        other => panic!("expected CorruptSegment, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        before,
        "a refused open changes nothing"
    );
    assert!(
        FileLog::open_read_only(dir.path()).is_err(),
        "read-only open refuses it too"
    );
}

#[test]
fn damage_in_the_last_record_is_a_torn_tail() {
    let (_, built) = pristine();
    let records = u64::try_from(built.frames.len()).unwrap();
    let (last_start, _) = *built.frames.last().unwrap();
    let (dir, segment) = damaged_copy(last_start + 40, 0x01);
    let problem = verify(dir.path())
        .unwrap()
        .first_problem()
        .cloned()
        .expect("reported");
    assert!(
        matches!(problem.kind, ProblemKind::TornTail { .. }),
        "{problem:?}"
    );
    runtime().block_on(async {
        let log = FileLog::open(dir.path(), options(1, 1 << 30, Durability::NoSync)).unwrap();
        // The last command has 3 records (command 11 of mixed_commands): all of them go.
        assert_eq!(
            read_all(&log, 0).await.len(),
            usize::try_from(records - 3).unwrap()
        );
    });
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len(),
        built.frames[built.frames.len() - 4].1
    );
    assert!(verify(dir.path()).unwrap().is_ok());
}

#[test]
fn truncating_the_last_of_many_segments_keeps_the_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let commands: Vec<(String, usize)> = (0..40)
        .map(|number| (format!("contract/S-{}", number % 5), 1))
        .collect();
    let (total, in_last, frame_start) = runtime().block_on(async {
        let log = FileLog::open(dir.path(), options(1, 2048, Durability::NoSync)).unwrap();
        append_commands(&log, &commands, 3).await;
        // Fill the last segment with at least two records (a segment rolls right after it fills).
        append_commands(&log, &commands[..2], 40_000).await;
        let index = log.shared.index.read().unwrap();
        let partition = index.partition(PartitionId(0));
        let last_segment = u32::try_from(partition.segments.len() - 1).unwrap();
        let in_last: Vec<_> = partition
            .records
            .iter()
            .filter(|location| location.segment == last_segment)
            .collect();
        (
            partition.records.len(),
            in_last.len(),
            in_last.first().map(|location| location.byte_position),
        )
    });
    assert!(in_last >= 2, "{in_last} records in the last segment");
    let segments = Layout::new(dir.path())
        .list_segments(PartitionId(0))
        .unwrap();
    assert!(
        segments.len() > 5,
        "tiny segments roll often: {}",
        segments.len()
    );
    let last = &segments.last().unwrap().1;
    let first_frame = frame_start.expect("the last segment holds a record");
    assert_eq!(
        first_frame,
        u64::try_from(super::frame::HEADER_BYTES).unwrap()
    );
    // Keep the first record of the last segment and 5 bytes of the second.
    let keep = std::fs::read(last)
        .unwrap()
        .len()
        .min(usize::try_from(first_frame).unwrap() + 460);
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(u64::try_from(keep).unwrap())
        .unwrap();
    runtime().block_on(async {
        let log = FileLog::open(dir.path(), options(1, 2048, Durability::NoSync)).unwrap();
        let survivors = read_all(&log, 0).await.len();
        assert_eq!(
            survivors,
            total - in_last + 1,
            "only the torn record of the last segment is lost"
        );
        append_commands(&log, &commands[..2], 50_000).await;
    });
    // A crash right after creating a segment leaves it empty: it is removed, and appends go on.
    let next = Layout::new(dir.path()).segment_path(PartitionId(0), 999_999);
    std::fs::write(&next, []).unwrap();
    runtime().block_on(async {
        let log = FileLog::open(dir.path(), options(1, 2048, Durability::NoSync)).unwrap();
        assert!(!next.exists(), "the empty last segment is removed");
        append_commands(&log, &commands[..2], 60_000).await;
    });
    let report = verify(dir.path()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        report.partitions[0].records,
        u64::try_from(total - in_last + 1 + 4).unwrap()
    );
}

#[test]
fn fsync_per_batch_syncs_and_no_sync_does_not() {
    for (durability, syncs) in [
        (Durability::FsyncPerBatch, true),
        (Durability::NoSync, false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let stats = runtime().block_on(async {
            let log = FileLog::open(dir.path(), options(2, 1 << 20, durability)).unwrap();
            append_commands(
                &log,
                &[
                    ("contract/D-1".to_owned(), 2),
                    ("contract/D-2".to_owned(), 1),
                ],
                1,
            )
            .await;
            log.commit_stats()
        });
        assert_eq!(stats.records, 3);
        assert!(stats.batches >= 1, "{stats:?}");
        assert_eq!(stats.fsyncs > 0, syncs, "{durability:?}: {stats:?}");
    }
}

#[test]
fn oversized_and_read_only_appends_are_refused_before_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = FileLog::open(dir.path(), options(1, 1 << 20, Durability::NoSync)).unwrap();
        let mut huge = sample_event(1, 10);
        huge.payload.data = vec![0; crate::log::envelope::PAYLOAD_BYTES_MAX + 1];
        let error = log
            .append(request("contract/BIG", 0, command("big"), vec![huge]))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, LogError::Invalid(detail) if detail.contains("payload")),
            "{error:?}"
        );
        let too_many = (0..u64::try_from(crate::log::EVENTS_PER_APPEND_MAX).unwrap() + 1)
            .map(|seed| sample_event(seed, 1))
            .collect();
        let error = log
            .append(request("contract/BIG", 0, command("many"), too_many))
            .await
            .unwrap_err();
        assert!(matches!(error, LogError::Invalid(_)), "{error:?}");
        assert_eq!(log.end_offset(PartitionId(0)).await.unwrap(), Offset(0));
    });
}

/// One append of the batch-admission property: (stream number, expected version, command number,
/// events).
type BatchOp = (u8, u64, u8, usize);

/// What appending `ops` one at a time must answer: per op, `Ok((first_version, duplicate))` or the
/// kind of refusal ("conflict" or "invalid").
fn sequential_answers(ops: &[BatchOp]) -> Vec<Result<(u64, bool), &'static str>> {
    let mut versions = std::collections::HashMap::new();
    let mut commands = std::collections::HashMap::new();
    ops.iter()
        .map(|&(stream_number, expected, command_number, events)| {
            if let Some(&(original_stream, first)) = commands.get(&command_number) {
                return if original_stream == stream_number {
                    Ok((first, true))
                } else {
                    Err("invalid")
                };
            }
            let version = versions.entry(stream_number).or_insert(0u64);
            if *version != expected {
                return Err("conflict");
            }
            commands.insert(command_number, (stream_number, expected + 1));
            *version += u64::try_from(events).unwrap();
            Ok((expected + 1, false))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Appends queued together are decided in one writer batch exactly as if they came one at a
    /// time (issue #3 §4): a command id seen earlier, even earlier in the same batch, answers the
    /// original outcome; a stale or premature expected version is a conflict and leaves nothing
    /// behind; and the index the writer builds while admitting them is the one a reopen rebuilds.
    #[test]
    fn a_batch_decides_like_one_append_at_a_time(
        ops in prop::collection::vec((0u8..3, 0u64..4, 0u8..8, 1usize..3), 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let expected = sequential_answers(&ops);
        let (answers, outcomes) = runtime().block_on(async {
            let log = FileLog::open(dir.path(), options(2, 2048, Durability::NoSync)).unwrap();
            // On a current-thread runtime join_all queues the appends in this order before the
            // writer answers any of them, so they share batches.
            let appends = ops.iter().zip(0u64..).map(|(&(stream_number, version, command_number, events), seed)| {
                let events = (0..u64::try_from(events).unwrap()).map(|index| sample_event(seed * 10 + index, 40)).collect();
                let command_id = command(&format!("batch-{command_number}"));
                log.append(request(&format!("batch/{stream_number}"), version, command_id, events))
            });
            let answers = futures::future::join_all(appends).await;
            let mut outcomes = Vec::new();
            for command_number in 0u8..8 {
                outcomes.push(log.command_outcome(command(&format!("batch-{command_number}"))).await.unwrap());
            }
            (answers, outcomes)
        });
        let mut originals = std::collections::HashMap::new();
        for ((answer, want), &(_, _, command_number, _)) in answers.iter().zip(&expected).zip(&ops) {
            match (answer, want) {
                (Ok(outcome), Ok((first, duplicate))) => {
                    prop_assert_eq!((outcome.first_version.0, outcome.duplicate), (*first, *duplicate));
                    let original = originals.entry(command_number).or_insert_with(|| outcome.positions.clone());
                    prop_assert_eq!(&outcome.positions, original);
                }
                (Err(LogError::Conflict { .. }), Err("conflict")) | (Err(LogError::Invalid(_)), Err("invalid")) => {}
                (answer, want) => prop_assert!(false, "answered {answer:?}, one at a time gives {want:?}"),
            }
        }
        let reopened = runtime().block_on(async {
            let log = FileLog::open(dir.path(), options(2, 2048, Durability::NoSync)).unwrap();
            let mut reopened = Vec::new();
            for command_number in 0u8..8 {
                reopened.push(log.command_outcome(command(&format!("batch-{command_number}"))).await.unwrap());
            }
            reopened
        });
        prop_assert_eq!(reopened, outcomes);
        prop_assert!(verify(dir.path()).unwrap().is_ok());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// `append_many` equals appending the same requests one at a time (outcomes, errors and the
    /// records of every partition), for mixed batches of chains, conflicts, invalid commands and
    /// retries, with segments small enough to roll inside a batch.
    #[test]
    fn append_many_equals_appending_one_at_a_time(seed in any::<u64>(), length in 1usize..120) {
        let (left, right) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let requests = testkit::mixed_batch(seed, length);
        runtime().block_on(async {
            let batched = FileLog::open(left.path(), options(3, 4096, Durability::NoSync)).unwrap();
            let sequential =
                FileLog::open(right.path(), options(3, 4096, Durability::NoSync)).unwrap();
            testkit::append_many_equals_one_at_a_time(batched, sequential, &requests).await;
        });
    }
}

/// A call larger than one writer batch is split into several requests and still answers every
/// command in order.
#[test]
fn append_many_beyond_one_writer_batch() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = FileLog::open(dir.path(), options(2, 1 << 20, Durability::NoSync)).unwrap();
        let count = EVENTS_PER_BATCH_MAX + 100;
        let requests: Vec<_> = (0..u64::try_from(count).unwrap())
            .map(|number| {
                request(
                    &format!("contract/M-{}", number % 50),
                    number / 50,
                    command(&format!("many-{number}")),
                    vec![sample_event(number, 20)],
                )
            })
            .collect();
        let outcomes = log.append_many(requests).await;
        assert_eq!(outcomes.len(), count);
        for (number, outcome) in (0u64..).zip(&outcomes) {
            let outcome = outcome.as_ref().expect("every command is appended");
            assert_eq!(outcome.first_version, StreamVersion(number / 50 + 1));
        }
        // (`commit_stats().batches` counts sync rounds, and one round may cover both written
        // batches, so it cannot show the split; the versions and the count of records do.)
        let last = StreamVersion(u64::try_from(count).unwrap().div_ceil(50));
        let stream = StreamId::new("contract/M-0").unwrap();
        assert_eq!(log.stream_version(&stream).await.unwrap(), last);
        let records: u64 = log.commit_stats().records;
        assert_eq!(
            records,
            u64::try_from(count).unwrap(),
            "every event appended once"
        );
    });
}
