//! A read-only [`FileLog`] following a writer with [`FileLog::refresh`] (issues #6, #7). The writer and
//! the reader are two handles on one directory that share no memory, which is what two processes see:
//! the reader learns of appends only through the segment files.

use std::io::Write;

use super::*;

/// Every record of every partition of `log`.
async fn read_everything(log: &FileLog) -> Vec<Vec<EventEnvelope>> {
    let mut partitions = Vec::new();
    for number in 0..log.partitions() {
        partitions.push(read_all(log, number).await);
    }
    partitions
}

/// Bytes of all segment files of `log`, as it knows them.
fn total_bytes(log: &FileLog) -> u64 {
    log.stats()
        .partitions
        .iter()
        .map(|partition| partition.bytes)
        .sum()
}

/// Appends `bytes` to the end of `path`, as a writer process mid-write would have.
fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open segment for appending");
    file.write_all(bytes).expect("append bytes");
}

#[test]
fn appends_after_the_open_become_visible_after_refresh_in_order_with_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    runtime().block_on(async {
        // Tiny segments: the writer rolls to new segment files while the reader follows.
        let writer = FileLog::open(dir.path(), options(2, 2048, Durability::NoSync)).expect("open");
        let early: Vec<(String, usize)> = (0..6)
            .map(|n| (format!("contract/F-{}", n % 3), 1 + n % 2))
            .collect();
        append_commands(&writer, &early, 1).await;
        let reader = FileLog::open_read_only(dir.path()).expect("open read-only");
        let opened = read_everything(&reader).await;
        let bytes_at_open = total_bytes(&reader);
        let late: Vec<(String, usize)> = (0..30)
            .map(|n| (format!("contract/F-{}", n % 5), 1 + n % 3))
            .collect();
        let outcomes = append_commands(&writer, &late, 2).await;
        assert_eq!(
            read_everything(&reader).await,
            opened,
            "before a refresh the reader is the snapshot of its open"
        );
        let last = outcomes.last().expect("appended").positions[0];
        assert!(
            !reader
                .wait_for(last.partition, last.offset, Duration::ZERO)
                .await
                .unwrap()
        );
        let report = reader.refresh().expect("refresh");
        let expected = read_everything(&writer).await;
        assert_eq!(read_everything(&reader).await, expected);
        let added: usize = expected.iter().map(Vec::len).sum::<usize>()
            - opened.iter().map(Vec::len).sum::<usize>();
        assert_eq!(report.records, u64::try_from(added).unwrap());
        assert!(
            report.segments > 0,
            "the writer rolled segments: {report:?}"
        );
        assert_eq!(
            report.bytes_read,
            total_bytes(&writer) - bytes_at_open,
            "a refresh reads only the appended bytes"
        );
        assert_eq!(reader.stats(), writer.stats(), "same heads, sizes, counts");
        assert!(
            reader
                .wait_for(last.partition, last.offset, Duration::ZERO)
                .await
                .unwrap()
        );
        for (number, (outcome, (stream_id, _))) in outcomes.iter().zip(&late).enumerate() {
            let found = reader
                .command_outcome(command(&format!("2-{number}")))
                .await
                .unwrap()
                .expect("command visible after refresh");
            assert_eq!(found.positions, outcome.positions);
            assert_eq!(
                reader.stream_version(&stream(stream_id)).await.unwrap(),
                writer.stream_version(&stream(stream_id)).await.unwrap()
            );
        }
        let again = reader.refresh().expect("second refresh");
        assert_eq!(again.records, 0);
        assert_eq!(again.bytes_read, 0, "nothing new, nothing read: {again:?}");
    });
}

/// A one-partition log of `commands`, with the frames of its last command cut off the segment file
/// and returned, so a test can write them back by hand as the writer would.
fn log_without_its_last_command(dir: &Path, commands: &[(String, usize)]) -> Vec<u8> {
    let (before, after) = runtime().block_on(async {
        let writer = FileLog::open(dir, options(1, 1 << 30, Durability::NoSync)).expect("open");
        let (head, last) = commands.split_at(commands.len() - 1);
        append_commands(&writer, head, 3).await;
        let before = writer.stats().partitions[0].bytes;
        append_commands(&writer, last, 4).await;
        (before, writer.stats().partitions[0].bytes)
    });
    let segment = only_segment(dir, 0);
    let bytes = std::fs::read(&segment).expect("read segment");
    assert_eq!(u64::try_from(bytes.len()).unwrap(), after);
    let cut = usize::try_from(before).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .and_then(|file| file.set_len(before))
        .expect("cut the last command");
    bytes[cut..].to_vec()
}

/// Builds a log whose last command (of `last_events` records) is missing, writes that command's
/// bytes back in pieces ending at each of `splits` and checks that a following reader sees none of
/// the command until its last byte is there, then all of it, as a fresh open does.
fn write_back_in_pieces(last_events: usize, splits: impl Fn(&[u8]) -> Vec<usize>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut commands: Vec<(String, usize)> = (0..4)
        .map(|n| (format!("contract/H-{n}"), 1 + n % 2))
        .collect();
    commands.push(("contract/H-last".to_owned(), last_events));
    let missing = log_without_its_last_command(dir.path(), &commands);
    let segment = only_segment(dir.path(), 0);
    runtime().block_on(async {
        let reader = FileLog::open_read_only(dir.path()).expect("open read-only");
        let visible = read_all(&reader, 0).await;
        let mut written = 0;
        for split in splits(&missing) {
            assert!(written < split && split < missing.len(), "split {split}");
            append_bytes(&segment, &missing[written..split]);
            written = split;
            let report = reader.refresh().expect("a partial tail is not an error");
            assert_eq!(
                report.records,
                0,
                "after {written} of {} bytes",
                missing.len()
            );
            assert_eq!(read_all(&reader, 0).await, visible);
        }
        append_bytes(&segment, &missing[written..]);
        let report = reader.refresh().expect("refresh");
        assert_eq!(report.records, u64::try_from(last_events).unwrap());
        let fresh = FileLog::open_read_only(dir.path()).expect("fresh open");
        assert_eq!(read_all(&reader, 0).await, read_all(&fresh, 0).await);
        assert_eq!(reader.stats(), fresh.stats());
    });
}

/// The byte lengths of the frames at the start of `bytes`.
fn frame_sizes(mut bytes: &[u8]) -> Vec<usize> {
    let mut sizes = Vec::new();
    while let Ok(frame) = frame::parse_frame(bytes) {
        sizes.push(frame.size());
        bytes = &bytes[frame.size()..];
    }
    sizes
}

#[test]
fn a_half_written_frame_at_the_tail_waits_until_it_is_complete() {
    write_back_in_pieces(1, |missing| {
        vec![
            1,
            frame::FRAME_PREFIX_BYTES,
            missing.len() / 2,
            missing.len() - 1,
        ]
    });
}

#[test]
fn a_multi_event_command_becomes_visible_all_or_none() {
    write_back_in_pieces(3, |missing| {
        let sizes = frame_sizes(missing);
        assert_eq!(sizes.len(), 3, "three frames");
        let first = sizes[0];
        let second = first + sizes[1];
        vec![first, first + 5, second, second + sizes[2] / 2]
    });
}

#[test]
fn damage_before_the_tail_is_refused_by_refresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let commands: Vec<(String, usize)> = (0..6).map(|n| (format!("contract/D-{n}"), 1)).collect();
    let mut missing = log_without_its_last_command(dir.path(), &commands);
    let reader = FileLog::open_read_only(dir.path()).expect("open read-only");
    // Two copies of the last record (the second is a valid frame after the damaged first one) so the
    // damage is not at the tail.
    let valid = missing.clone();
    missing[frame::FRAME_PREFIX_BYTES + 3] ^= 0x10;
    missing.extend_from_slice(&valid);
    append_bytes(&only_segment(dir.path(), 0), &missing);
    let error = reader.refresh().expect_err("damage before the tail");
    assert!(matches!(error, LogError::CorruptSegment { .. }), "{error}");
    assert!(reader.refresh().is_err(), "and stays refused");
}

#[test]
fn a_subscription_on_the_reader_delivers_what_a_refresh_found() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().expect("tempdir");
    runtime().block_on(async {
        let writer = FileLog::open(dir.path(), options(1, 2048, Durability::NoSync)).expect("open");
        let reader = FileLog::open_read_only(dir.path()).expect("open read-only");
        let mut subscription = crate::log::subscribe(&reader, PartitionId(0), Offset(0));
        let commands: Vec<(String, usize)> =
            (0..4).map(|n| (format!("contract/S-{n}"), 2)).collect();
        let outcomes = append_commands(&writer, &commands, 5).await;
        reader.refresh().expect("refresh");
        let expected: Vec<Position> = outcomes
            .iter()
            .flat_map(|outcome| outcome.positions.clone())
            .collect();
        let mut delivered = Vec::new();
        while delivered.len() < expected.len() {
            // A hang guard, not a timing assertion: the records are committed before the wait.
            let next = tokio::time::timeout(Duration::from_secs(60), subscription.next())
                .await
                .expect("the subscription delivers the refreshed records")
                .expect("the subscription does not end")
                .expect("the subscription reads");
            delivered.push(next.position);
        }
        assert_eq!(delivered, expected);
    });
}

#[test]
fn a_follower_survives_a_writer_that_crashed_mid_write_and_restarted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let commands: Vec<(String, usize)> = (0..5).map(|n| (format!("contract/W-{n}"), 2)).collect();
    let missing = log_without_its_last_command(dir.path(), &commands);
    let reader = FileLog::open_read_only(dir.path()).expect("open read-only");
    // The crash: the last command's first frame and half of its second reached the file.
    let torn = frame_sizes(&missing)[0] + 7;
    append_bytes(&only_segment(dir.path(), 0), &missing[..torn]);
    assert_eq!(reader.refresh().expect("a torn tail waits").records, 0);
    runtime().block_on(async {
        // The restart truncates the torn command, then appends again.
        let writer = FileLog::open(dir.path(), options(1, 1 << 30, Durability::NoSync))
            .expect("reopen the writer");
        let more: Vec<(String, usize)> = (0..3).map(|n| (format!("contract/W-{n}"), 1)).collect();
        append_commands(&writer, &more, 6).await;
        let report = reader.refresh().expect("refresh after the restart");
        assert_eq!(report.records, 3);
        let fresh = FileLog::open_read_only(dir.path()).expect("fresh open");
        assert_eq!(read_all(&reader, 0).await, read_all(&fresh, 0).await);
        assert_eq!(read_all(&reader, 0).await, read_all(&writer, 0).await);
    });
}

/// A reader of a small one-segment log, then `tamper` applied to that segment; returns the error of
/// the next refresh.
fn refresh_after_tampering(tamper: impl FnOnce(&Path)) -> LogError {
    let dir = tempfile::tempdir().expect("tempdir");
    let commands: Vec<(String, usize)> = (0..3).map(|n| (format!("contract/T-{n}"), 1)).collect();
    log_without_its_last_command(dir.path(), &commands);
    let reader = FileLog::open_read_only(dir.path()).expect("open read-only");
    tamper(&only_segment(dir.path(), 0));
    reader.refresh().expect_err("tampering is refused")
}

#[test]
fn a_segment_that_shrank_under_the_reader_is_refused() {
    let error = refresh_after_tampering(|segment| {
        let length = std::fs::metadata(segment).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(segment)
            .and_then(|file| file.set_len(length - 1))
            .expect("shrink the segment");
    });
    assert!(matches!(error, LogError::CorruptSegment { .. }), "{error}");
}

#[test]
fn a_segment_that_vanished_under_the_reader_is_refused() {
    let error = refresh_after_tampering(|segment| {
        std::fs::remove_file(segment).expect("remove the segment");
    });
    assert!(
        matches!(&error, LogError::Invalid(message) if message.contains("reopen the log")),
        "{error}"
    );
}

#[derive(Debug, Clone)]
enum FollowOp {
    /// Append a command of `events` records to stream `contract/P-{stream}`.
    Append {
        stream: u8,
        events: usize,
    },
    Refresh,
}

fn follow_op() -> impl Strategy<Value = FollowOp> {
    prop_oneof![
        3 => (0u8..6, 1usize..4).prop_map(|(stream, events)| FollowOp::Append { stream, events }),
        1 => Just(FollowOp::Refresh),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the interleaving of appends and refreshes, a refreshed reader reads exactly what a
    /// freshly opened read-only log reads.
    #[test]
    fn a_refreshed_reader_equals_a_fresh_open(ops in proptest::collection::vec(follow_op(), 1..40)) {
        let dir = tempfile::tempdir().expect("tempdir");
        runtime().block_on(async {
            let writer =
                FileLog::open(dir.path(), options(2, 1024, Durability::NoSync)).expect("open");
            let reader = FileLog::open_read_only(dir.path()).expect("open read-only");
            for (number, op) in (0u64..).zip(ops.iter().chain([&FollowOp::Refresh])) {
                match op {
                    FollowOp::Append { stream, events } => {
                        let command = [(format!("contract/P-{stream}"), *events)];
                        append_commands(&writer, &command, 1000 + number).await;
                    }
                    FollowOp::Refresh => {
                        reader.refresh().expect("refresh");
                        let fresh = FileLog::open_read_only(dir.path()).expect("fresh open");
                        assert_eq!(read_everything(&reader).await, read_everything(&fresh).await);
                        assert_eq!(reader.stats(), fresh.stats());
                    }
                }
            }
        });
    }
}
