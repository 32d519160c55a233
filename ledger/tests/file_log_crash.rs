//! A real-process crash test of the embedded log (DESIGN §7): a child process appends with
//! `FsyncPerBatch` and reports every acknowledged command; the parent kills it with SIGKILL at a
//! random moment, reopens the log and checks that every acknowledged command is there, that recovery
//! leaves a log `verify` accepts, and that appends continue.
//!
//! The child is this test binary run again with `LEDGER_CRASH_CHILD_DIR` set.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::file::{FileLog, FileLogOptions, verify};
use ledger::log::{
    Actor, ActorId, ActorRole, AppendRequest, CommandId, EventId, EventLog, NewEvent, Offset,
    PartitionId, Payload, StreamId, StreamVersion,
};
use uuid::Uuid;

const CHILD_ENV: &str = "LEDGER_CRASH_CHILD_DIR";
const STREAMS: u64 = 8;

fn event(number: u64) -> NewEvent {
    NewEvent {
        event_id: EventId(Uuid::from_u64_pair(0x0190_0000_0000_7000, number)),
        occurred_at: Timestamp::from_micros(1_767_225_600_000_000),
        jurisdiction: Jurisdiction::KG,
        causation_id: None,
        correlation_id: Uuid::from_u64_pair(9, number),
        actor: Actor::new(ActorId::System("crash-test".to_owned()), ActorRole::System),
        payload: Payload {
            event_type: "CrashTestEvent".to_owned(),
            schema_version: 1,
            data: vec![7; 200],
        },
        command_digest: None,
    }
}

fn stream(number: u64) -> StreamId {
    StreamId::new(format!("contract/CRASH-{number}")).unwrap()
}

fn options() -> FileLogOptions {
    FileLogOptions {
        partitions: 4,
        // Small segments: the writer rolls (and its seal thread writes index files) while it is killed.
        segment_bytes_max: 4 * 1024,
        ..FileLogOptions::default()
    }
}

/// The child: appends commands of 1–3 events round-robin over the streams until killed, printing
/// `ack <command> <stream> <last version>` after each acknowledged append.
fn child(dir: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = std::sync::Arc::new(FileLog::open(dir, options()).unwrap());
        let writers = (0..STREAMS).map(|stream_number| {
            let log = std::sync::Arc::clone(&log);
            tokio::spawn(async move {
                let mut version = 0;
                for sequence in 0u64.. {
                    let count = 1 + sequence % 3;
                    let events = (0..count)
                        .map(|index| event(stream_number << 32 | (sequence * 4 + index)))
                        .collect();
                    let command_id = CommandId(Uuid::from_u64_pair(stream_number, sequence));
                    let request = AppendRequest {
                        stream: stream(stream_number),
                        expected: StreamVersion(version),
                        command_id,
                        events,
                    };
                    let outcome = log.append(request).await.unwrap();
                    version = outcome.first_version.0 + count - 1;
                    println!("ack {stream_number} {version}");
                }
            })
        });
        futures::future::join_all(writers).await;
    });
}

#[test]
fn killed_writer_loses_no_acknowledged_append() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3u64 {
        let acknowledged = run_and_kill(dir.path(), 40 + round * 97);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let log = FileLog::open(dir.path(), options()).expect("the log reopens after a kill");
            for (stream_number, &version) in acknowledged.iter().enumerate() {
                let stream_id = stream(u64::try_from(stream_number).unwrap());
                let stored = log.stream_version(&stream_id).await.unwrap().0;
                assert!(
                    stored >= version,
                    "stream {stream_id}: acknowledged version {version}, stored {stored}"
                );
            }
        });
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "round {round}: {report:?}");
        // The kill came between sealing segments and writing index files (the child writes them at
        // each roll and its open, never at a close): the parent's open above read the ones there
        // were, scanned the rest, and its close indexed every segment. Its view equals a scan's.
        let segments = files_with(dir.path(), "seg");
        assert!(
            segments.len() > 4,
            "round {round}: a segment was sealed: {} segments",
            segments.len()
        );
        let indexed: Vec<_> = files_with(dir.path(), "idx")
            .into_iter()
            .map(|path| path.with_extension("seg"))
            .collect();
        assert_eq!(
            indexed, segments,
            "round {round}: every segment has an index file"
        );
        let scanned = tempfile::tempdir().unwrap();
        copy_segments(dir.path(), scanned.path());
        runtime.block_on(async {
            let from_index = FileLog::open(dir.path(), options()).unwrap();
            let by_scan = FileLog::open(scanned.path(), options()).unwrap();
            assert_eq!(from_index.stats(), by_scan.stats(), "round {round}");
            for partition in 0..from_index.partitions() {
                let partition = PartitionId(partition);
                let read = from_index.read_batch(partition, Offset(0), 1_000_000);
                let scanned = by_scan.read_batch(partition, Offset(0), 1_000_000);
                assert_eq!(read.await.unwrap(), scanned.await.unwrap(), "round {round}");
            }
            for stream_number in 0..STREAMS {
                let stream_id = stream(stream_number);
                let version = by_scan.stream_version(&stream_id).await.unwrap();
                assert_eq!(
                    from_index.stream_version(&stream_id).await.unwrap(),
                    version
                );
                for sequence in 0..version.0 {
                    let command_id = CommandId(Uuid::from_u64_pair(stream_number, sequence));
                    assert_eq!(
                        from_index.command_outcome(command_id).await.unwrap(),
                        by_scan.command_outcome(command_id).await.unwrap(),
                        "round {round}: command {stream_number}/{sequence}"
                    );
                }
            }
        });
    }
}

/// Every file under `dir` with the given extension, sorted.
fn files_with(dir: &std::path::Path, extension: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|found| found == extension) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Copies the log's metadata and segments (not its index files) from `from` to `to`.
fn copy_segments(from: &std::path::Path, to: &std::path::Path) {
    let meta = std::path::Path::new("log").join("meta.json");
    std::fs::create_dir_all(to.join("log")).unwrap();
    std::fs::copy(from.join(&meta), to.join(&meta)).unwrap();
    for segment in files_with(from, "seg") {
        let target = to.join(segment.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&segment, &target).unwrap();
    }
}

/// Runs the child until it acknowledged `acks` appends (at least), kills it, and returns the highest
/// acknowledged version per stream.
fn run_and_kill(dir: &std::path::Path, acks: u64) -> Vec<u64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "killed_writer_loses_no_acknowledged_append",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acknowledged = vec![0u64; usize::try_from(STREAMS).unwrap()];
    let mut seen = 0;
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("ack ") else {
            continue;
        };
        let (stream_number, version) = rest.split_once(' ').unwrap();
        let slot = &mut acknowledged[stream_number.parse::<usize>().unwrap()];
        *slot = (*slot).max(version.parse().unwrap());
        seen += 1;
        if seen >= acks {
            break;
        }
    }
    child.kill().unwrap();
    // Once reaped, the child's descriptors are closed, and with them its lock.
    child.wait().unwrap();
    acknowledged
}
