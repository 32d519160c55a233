//! The segments' index files (issue #16 §1): an open that reads them builds the same index as an open
//! that scans every segment, an unusable index file is ignored with a warning and rewritten, and
//! `verify` never trusts them.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::log::CommandId;
use crate::log::envelope::ChainHash;
use crate::log::file::segindex::{SegmentTable, index_path};

/// One partition: segment file names, record locations (segment, frame bytes, byte position), chain
/// head, bytes, committed end.
type PartitionPrint = (Vec<String>, Vec<(u32, u32, u64)>, ChainHash, u64, u64);

/// Everything the open rebuilds, with segment paths reduced to file names so two directories compare.
#[derive(Debug, PartialEq, Eq)]
struct Fingerprint {
    partitions: Vec<PartitionPrint>,
    /// Stream → partition and the offset of each version.
    streams: BTreeMap<String, (u32, Vec<u64>)>,
    /// Command id → stream, first version, first offset, records.
    commands: BTreeMap<CommandId, (String, u64, u64, u32)>,
}

fn fingerprint(log: &FileLog) -> Fingerprint {
    let index = log.shared.index.read().unwrap();
    let partitions = index
        .partitions
        .iter()
        .enumerate()
        .map(|(number, partition)| {
            let names = partition
                .segments
                .iter()
                .map(|segment| segment.path.file_name().unwrap().to_string_lossy().into())
                .collect();
            let records = partition
                .records
                .iter()
                .map(|location| {
                    (
                        location.segment,
                        location.frame_bytes,
                        location.byte_position,
                    )
                })
                .collect();
            let end = log
                .shared
                .committed_end(PartitionId(u32::try_from(number).unwrap()));
            (names, records, partition.head, partition.bytes, end)
        })
        .collect();
    let streams = index
        .streams
        .iter()
        .map(|entry| {
            (
                entry.id.to_string(),
                (entry.partition.0, entry.offsets.clone()),
            )
        })
        .collect();
    let commands = index
        .commands
        .iter()
        .map(|(id, entry)| {
            let stream = index.streams[usize::try_from(entry.stream).unwrap()]
                .id
                .to_string();
            (
                *id,
                (stream, entry.first_version, entry.first_offset, entry.count),
            )
        })
        .collect();
    Fingerprint {
        partitions,
        streams,
        commands,
    }
}

/// Every file under `dir` with the given extension, sorted.
fn files_with(dir: &Path, extension: &str) -> Vec<PathBuf> {
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

/// A copy of the data directory `from` (without its lock file). The log may still be writing index
/// files in the background (`ledger-log-seal`): a temporary file renamed away between the listing
/// and the copy is simply not copied, as a crash at that moment would leave it.
fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    let mut pending = vec![from.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            let target = to.path().join(path.strip_prefix(from).unwrap());
            if path.is_dir() {
                std::fs::create_dir_all(&target).unwrap();
                pending.push(path);
            } else if path.file_name().is_some_and(|name| name != "LOCK") {
                match std::fs::copy(&path, &target) {
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    copied => {
                        copied.unwrap();
                    }
                }
            }
        }
    }
    to
}

/// The fingerprint of a writing open of a copy of `dir` with every index file removed: the scan.
fn scanned(dir: &Path, options: FileLogOptions) -> Fingerprint {
    let copy = copy_dir(dir);
    for file in files_with(copy.path(), "idx") {
        std::fs::remove_file(file).unwrap();
    }
    fingerprint(&FileLog::open(copy.path(), options).expect("open by scan"))
}

/// What `body` logged at WARN or above, as text.
fn warnings<T>(body: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let result = tracing::subscriber::with_default(subscriber, body);
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    (result, text)
}

fn many_segments() -> FileLogOptions {
    options(3, 1500, Durability::NoSync)
}

fn commands_for(sessions: u64) -> Vec<(String, usize)> {
    (0..40 * sessions)
        .map(|number| {
            (
                format!("contract/I-{}", number % 7),
                1 + (number % 3) as usize,
            )
        })
        .collect()
}

/// A log of many small segments on three partitions, closed cleanly.
fn build(dir: &Path) {
    runtime().block_on(async {
        let log = FileLog::open(dir, many_segments()).unwrap();
        append_commands(&log, &commands_for(1), 1).await;
    });
}

#[test]
fn a_clean_close_indexes_every_segment_and_open_reads_the_index_not_the_records() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let segments = files_with(dir.path(), "seg");
    assert!(segments.len() > 9, "{} segments", segments.len());
    assert_eq!(
        files_with(dir.path(), "idx"),
        segments
            .iter()
            .map(|segment| index_path(segment))
            .collect::<Vec<_>>(),
        "one index file per segment"
    );
    let reference = scanned(dir.path(), many_segments());
    let (opened, logged) =
        warnings(|| fingerprint(&FileLog::open(dir.path(), many_segments()).unwrap()));
    assert_eq!(opened, reference);
    assert_eq!(logged, "", "intact index files warn of nothing");

    // Damage a record in the middle of the first segment of partition 0: the open trusts the index
    // file and does not read it; a scan refuses it; `verify` reports it; a read of it fails.
    let first = Layout::new(dir.path())
        .list_segments(PartitionId(0))
        .unwrap()[0]
        .1
        .clone();
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[super::frame::HEADER_BYTES + 20] ^= 0x10;
    std::fs::write(&first, bytes).unwrap();
    let log = FileLog::open(dir.path(), many_segments()).expect("open from the index files");
    assert_eq!(fingerprint(&log), reference);
    let read = runtime().block_on(log.read_batch(PartitionId(0), Offset(0), 1));
    assert!(matches!(read, Err(LogError::Corrupt { .. })), "{read:?}");
    drop(log);
    let copy = copy_dir(dir.path());
    for file in files_with(copy.path(), "idx") {
        std::fs::remove_file(file).unwrap();
    }
    assert!(matches!(
        FileLog::open(copy.path(), many_segments()),
        Err(LogError::CorruptSegment { .. })
    ));
    let report = verify(dir.path()).unwrap();
    assert_eq!(
        report.first_problem().map(|problem| problem.path.clone()),
        Some(first),
        "verify reads every record, whatever the index files say"
    );
}

/// One way to spoil an index file.
#[derive(Debug, Clone, Copy)]
enum Spoil {
    Delete,
    Truncate,
    FlipHeader,
    FlipBody,
    /// The index file of the segment before (another base offset).
    Neighbour,
    /// The index file of the same segment of another log (another chain).
    OtherLog,
}

#[test]
fn a_spoiled_index_file_is_ignored_with_a_warning_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let other = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = FileLog::open(other.path(), many_segments()).unwrap();
        append_commands(&log, &commands_for(1), 2).await;
    });
    let reference = scanned(dir.path(), many_segments());
    let listed = Layout::new(dir.path())
        .list_segments(PartitionId(1))
        .unwrap();
    assert!(listed.len() > 3);
    // A sealed segment in the middle, and the last (open) one.
    for target in [2, listed.len() - 1] {
        for spoil in [
            Spoil::Delete,
            Spoil::Truncate,
            Spoil::FlipHeader,
            Spoil::FlipBody,
            Spoil::Neighbour,
            Spoil::OtherLog,
        ] {
            let copy = copy_dir(dir.path());
            let layout = Layout::new(copy.path());
            let segment = &layout.list_segments(PartitionId(1)).unwrap()[target].1;
            let path = index_path(segment);
            let original = std::fs::read(&path).unwrap();
            let Some(spoiled) = spoiled(spoil, &original, &layout, other.path(), target) else {
                continue;
            };
            match &spoiled {
                None => std::fs::remove_file(&path).unwrap(),
                Some(bytes) => {
                    assert_ne!(bytes, &original);
                    std::fs::write(&path, bytes).unwrap();
                }
            }
            let (opened, logged) = warnings(|| {
                let log = FileLog::open(copy.path(), many_segments()).expect("never fatal");
                fingerprint(&log)
            });
            assert_eq!(opened, reference, "{spoil:?} of segment {target}");
            assert!(
                logged.contains("ignoring the segment's index file")
                    && logged.contains(&path.display().to_string()),
                "{spoil:?} of segment {target} warns, naming the file: {logged}"
            );
            assert_eq!(
                std::fs::read(&path).unwrap(),
                original,
                "{spoil:?} of segment {target}: the index file is written again"
            );
        }
    }
}

/// The spoiled bytes of the index file of segment `target` of partition 1 (`None` inside: deleted),
/// or `None` when `other` has no such segment.
fn spoiled(
    spoil: Spoil,
    original: &[u8],
    layout: &Layout,
    other: &Path,
    target: usize,
) -> Option<Option<Vec<u8>>> {
    let index_file_of = |layout: &Layout, number: usize| {
        let listed = layout.list_segments(PartitionId(1)).unwrap();
        Some(index_path(&listed.get(number)?.1))
    };
    Some(match spoil {
        Spoil::Delete => None,
        Spoil::Truncate => Some(original[..original.len() / 2].to_vec()),
        Spoil::FlipHeader => Some(flipped(original, 30)),
        Spoil::FlipBody => Some(flipped(original, original.len() - 3)),
        Spoil::Neighbour => Some(std::fs::read(index_file_of(layout, 1)?).unwrap()),
        Spoil::OtherLog => {
            Some(std::fs::read(index_file_of(&Layout::new(other), target)?).unwrap())
        }
    })
}

fn flipped(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    bytes[at] ^= 0x04;
    bytes
}

#[test]
fn an_index_file_of_a_prefix_is_used_and_the_rest_of_the_segment_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let large = options(2, 1 << 30, Durability::NoSync);
    let commands = commands_for(2);
    runtime().block_on(async {
        let log = FileLog::open(dir.path(), large.clone()).unwrap();
        append_commands(&log, &commands[..40], 1).await;
    });
    let segment = only_segment(dir.path(), 0);
    let early = std::fs::read(index_path(&segment)).unwrap();
    let early_table = SegmentTable::decode(&early).unwrap();
    runtime().block_on(async {
        let log = FileLog::open(dir.path(), large.clone()).unwrap();
        append_commands(&log, &commands[40..], 2).await;
    });
    // The index file as an earlier close left it: it covers a prefix of the segment.
    std::fs::write(index_path(&segment), &early).unwrap();
    assert!(early_table.covered_bytes < std::fs::metadata(&segment).unwrap().len());
    let reference = scanned(dir.path(), large.clone());
    let (opened, logged) =
        warnings(|| fingerprint(&FileLog::open(dir.path(), large.clone()).unwrap()));
    assert_eq!(opened, reference);
    assert_eq!(logged, "", "a prefix is a checkpoint, not damage");
    let table = SegmentTable::decode(&std::fs::read(index_path(&segment)).unwrap()).unwrap();
    assert_eq!(
        table.covered_bytes,
        std::fs::metadata(&segment).unwrap().len()
    );
    assert!(table.records.len() > early_table.records.len());
}

#[test]
fn a_read_only_open_reads_the_index_files_and_never_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let reference = scanned(dir.path(), many_segments());
    let deleted = index_path(
        &Layout::new(dir.path())
            .list_segments(PartitionId(2))
            .unwrap()[3]
            .1,
    );
    std::fs::remove_file(&deleted).unwrap();
    let reader = FileLog::open_read_only(dir.path()).unwrap();
    let opened = fingerprint(&reader);
    assert!(!deleted.exists(), "a reader writes nothing");
    assert_eq!(opened, reference);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the log and however its sessions ended (a clean close, or a crash: the directory as
    /// it was while the writer was still open), an open from the index files builds the same index as
    /// an open that scans every segment.
    #[test]
    fn open_from_the_index_files_equals_open_by_scan(
        partitions in 1u32..4,
        segment_bytes in prop::sample::select(vec![700u64, 2048, 1 << 20]),
        sessions in prop::collection::vec((1usize..25, any::<bool>()), 1..4),
        streams in 1usize..9,
    ) {
        let options = options(partitions, segment_bytes, Durability::NoSync);
        let mut dir = tempfile::tempdir().unwrap();
        for (session, &(count, crash)) in (0u64..).zip(&sessions) {
            let commands: Vec<(String, usize)> = (0..count)
                .map(|number| (format!("contract/P-{}", (number * 7 + usize::try_from(session).unwrap()) % streams), 1 + number % 3))
                .collect();
            let crashed = runtime().block_on(async {
                let log = FileLog::open(dir.path(), options.clone()).unwrap();
                append_commands(&log, &commands, 1000 * (session + 1)).await;
                // A crash leaves the files as they are now, before any close writes index files.
                crash.then(|| copy_dir(dir.path()))
            });
            if let Some(crashed) = crashed {
                dir = crashed;
            }
        }
        let reference = scanned(dir.path(), options.clone());
        let opened = fingerprint(&FileLog::open(dir.path(), options.clone()).unwrap());
        prop_assert_eq!(&opened, &reference);
        // And again, now that the open wrote what was missing.
        let reopened = fingerprint(&FileLog::open(dir.path(), options).unwrap());
        prop_assert_eq!(&reopened, &reference);
    }
}
