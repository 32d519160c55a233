//! The writer's persisted state (issue #16 §1) on real sled directories and a real embedded log:
//! a start from the checkpoint replays only the tail, loss or damage of the store is repaired by a
//! rebuild from the log, and (property) the state restored from a checkpoint plus the tail equals the
//! state folded from the whole log.

use std::path::Path;
use std::sync::Arc;

use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::period::ReimbursedIndex;
use ledger::domain::time::Timestamp;
use ledger::domain::values::ReportingPeriod;
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use ledger::log::{
    Actor, ActorId, ActorRole, AppendRequest, CommandId, EventId, EventLog, NewEvent, StreamVersion,
};
use ledger_commands::audit::seal::{observe, observe_from, period_month};
use ledger_commands::writer_state::{Loaded, WriterState};
use projector::views::sample::{self, SampleConfig, SampleEvent};
use projector::{FlushPolicy, Keyspace, SledStore, ViewStore, WriteBatch};
use proptest::prelude::*;

fn options() -> FileLogOptions {
    FileLogOptions {
        durability: Durability::NoSync,
        ..FileLogOptions::default()
    }
}

fn config(seed: u64, contracts: u32, dispensings: u32) -> SampleConfig {
    SampleConfig {
        seed,
        contracts,
        periods: 2,
        dispensings_per_period: dispensings,
        lifecycle: true,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Appends `events` to `log` one stream run per append, with command ids numbered from `first`.
async fn append(log: &dyn EventLog, events: &[SampleEvent], first: usize) {
    let mut start = 0;
    while start < events.len() {
        let stream = &events[start].stream;
        let mut end = start + 1;
        while end < events.len() && events[end].stream == *stream && end - start < 500 {
            end += 1;
        }
        let expected = log.stream_version(stream).await.unwrap();
        let new = events[start..end]
            .iter()
            .zip(first + start..)
            .map(|(sample, n)| NewEvent {
                event_id: EventId(uuid::Uuid::from_u128(u128::try_from(n).unwrap() + 1)),
                occurred_at: Timestamp::from_micros(1_767_225_600_000_000),
                jurisdiction: Jurisdiction::KZ,
                causation_id: None,
                correlation_id: uuid::Uuid::nil(),
                actor: Actor::new(
                    ActorId::System("writer-state-test".to_owned()),
                    ActorRole::System,
                ),
                payload: sample.event.to_payload().unwrap(),
                command_digest: None,
            })
            .collect();
        log.append(AppendRequest {
            stream: stream.clone(),
            expected,
            command_id: CommandId::derived("writer-state-test", &format!("{}", first + start)),
            events: new,
        })
        .await
        .unwrap();
        start = end;
    }
}

async fn open(log: &Arc<dyn EventLog>, state: &Path) -> Loaded {
    WriterState::open(log, Some(state)).await.unwrap()
}

/// Every marking code and receipt of the sample with the live dispensings (`<period>/<dispensing
/// id>`) that hold it (M-06); empty for a key only reversed dispensings took. The sample is not
/// decided by the domain, so a receipt number may recur in the next month: then either holder is a
/// right answer, and a key is free only when no live dispensing holds it.
fn expected_holders(
    events: &[SampleEvent],
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut live = std::collections::BTreeMap::new();
    for sample in events {
        match &sample.event {
            Event::DispensingRecorded(recorded) => {
                let holder = format!("{}/{}", recorded.period.key(), recorded.dispensing_id);
                let keys = [
                    recorded.marking_code.uniqueness_key(),
                    recorded.fiscal_receipt.uniqueness_key(),
                ];
                live.insert(
                    (recorded.contract_id.to_string(), holder.clone()),
                    (keys, true),
                );
            }
            Event::DispensingReversed(reversed) => {
                let holder = format!("{}/{}", reversed.period.key(), reversed.dispensing_id);
                if let Some(entry) = live.get_mut(&(reversed.contract_id.to_string(), holder)) {
                    entry.1 = false;
                }
            }
            _ => {}
        }
    }
    let mut holders: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    for ((_, holder), (keys, held)) in live {
        for key in keys {
            let entry = holders.entry(key).or_default();
            if held {
                entry.insert(holder.clone());
            }
        }
    }
    holders
}

/// Whether the index's answer for one key is one the sample allows.
fn answer_is_right(found: Option<&String>, expected: &std::collections::BTreeSet<String>) -> bool {
    match found {
        None => expected.is_empty(),
        Some(holder) => expected.contains(holder),
    }
}

fn check_holders(loaded: &Loaded, events: &[SampleEvent]) {
    assert!(
        expected_holders(events)
            .values()
            .any(std::collections::BTreeSet::is_empty),
        "the sample has reversals"
    );
    check_holders_of(loaded, events);
}

/// Every key of `events` is answered with one of its live holders, or none when it has none.
fn check_holders_of(loaded: &Loaded, events: &[SampleEvent]) {
    for (key, holders) in expected_holders(events) {
        let found = loaded.index.reimbursed_by(&key);
        assert!(
            answer_is_right(found.as_ref(), &holders),
            "key {key}: found {found:?}, live holders {holders:?}"
        );
    }
}

/// The store's entries other than the M-06 runs: the checkpoint, the layout, the keys and the seals.
/// The runs themselves depend on where the checkpoints fell (one per start or catch-up), so the
/// M-06 part is compared by its answers ([`check_holders`]).
fn entries_beside_runs(loaded: &Loaded) -> Vec<projector::Entry> {
    let mut entries = loaded.state.entries().unwrap();
    entries.retain(|entry| {
        let run = entry.keyspace.starts_with("m06/");
        let manifest = entry.keyspace == "_meta" && entry.key == b"runs";
        !(run || manifest)
    });
    entries
}

/// A first start builds the state from the whole log; a second reads only what was appended after
/// the checkpoint; removing the store, or damaging it (not a sled database, another layout, a
/// checkpoint past the log's end, a checkpoint of the wrong size), rebuilds it from the log, and the
/// M-06 answers are the same every time.
#[test]
fn the_store_survives_restarts_and_is_rebuilt_after_loss_or_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (data, state) = (dir.path().join("data"), dir.path().join("state"));
    let events = sample::events(config(7, 3, 60));
    let (first, rest) = events.split_at(events.len() / 2);
    let runtime = runtime();
    let log: Arc<dyn EventLog> = Arc::new(FileLog::open(&data, options()).unwrap());
    runtime.block_on(append(&*log, first, 0));
    let records = |log: &Arc<dyn EventLog>| -> u64 {
        (0..log.partitions())
            .map(|partition| {
                runtime
                    .block_on(log.end_offset(ledger::log::PartitionId(partition)))
                    .unwrap()
                    .0
            })
            .sum()
    };
    let loaded = runtime.block_on(open(&log, &state));
    assert!(loaded.state.report().rebuilt);
    assert_eq!(loaded.state.report().replayed, records(&log));
    check_holders(&loaded, first);
    drop(loaded);

    let before = records(&log);
    runtime.block_on(append(&*log, rest, first.len()));
    let loaded = runtime.block_on(open(&log, &state));
    assert!(!loaded.state.report().rebuilt, "read from its checkpoint");
    assert_eq!(
        loaded.state.report().replayed,
        records(&log) - before,
        "only the tail"
    );
    check_holders(&loaded, &events);
    let reference = entries_beside_runs(&loaded);
    drop(loaded);

    let again = runtime.block_on(open(&log, &state));
    assert_eq!(again.state.report().replayed, 0, "nothing new to read");
    drop(again);

    // Loss: the database is gone.
    std::fs::remove_dir_all(state.join("db")).unwrap();
    let loaded = runtime.block_on(open(&log, &state));
    assert!(loaded.state.report().rebuilt);
    assert_eq!(entries_beside_runs(&loaded), reference, "rebuilt as it was");
    check_holders(&loaded, &events);
    drop(loaded);

    // Damage: not a database at all.
    std::fs::remove_dir_all(state.join("db")).unwrap();
    std::fs::write(state.join("db"), b"not a sled database").unwrap();
    let loaded = runtime.block_on(open(&log, &state));
    assert!(loaded.state.report().rebuilt);
    assert_eq!(entries_beside_runs(&loaded), reference);
    check_holders(&loaded, &events);
    drop(loaded);

    // Damage inside the database: each of these is found and repaired.
    let damages: [(&str, &[u8], Vec<u8>); 3] = [
        ("_meta", b"layout", 99u64.to_be_bytes().to_vec()),
        (
            "checkpoint",
            &0u32.to_be_bytes(),
            [u64::MAX.to_be_bytes(), 0u64.to_be_bytes()].concat(),
        ),
        ("checkpoint", &1u32.to_be_bytes(), vec![1, 2, 3]),
    ];
    for (keyspace, key, value) in damages {
        let mut sled = SledStore::open(&state.join("db"), FlushPolicy::EveryBatch).unwrap();
        let mut batch = WriteBatch::new();
        batch.put(&Keyspace::new(keyspace), key.to_vec(), value);
        sled.apply(batch).unwrap();
        drop(sled);
        let loaded = runtime.block_on(open(&log, &state));
        assert!(loaded.state.report().rebuilt, "{keyspace} damaged");
        assert_eq!(entries_beside_runs(&loaded), reference, "{keyspace}");
        check_holders(&loaded, &events);
    }
}

/// A second writer on the same state directory is refused, never handed a store being rebuilt.
#[test]
fn a_state_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let log: Arc<dyn EventLog> =
        Arc::new(FileLog::open(dir.path().join("data"), options()).unwrap());
    let state = dir.path().join("state");
    let held = runtime.block_on(open(&log, &state));
    let second = runtime.block_on(WriterState::open(&log, Some(&state)));
    let error = second.err().expect("the state is in use").to_string();
    assert!(error.contains("in use by another process"), "{error}");
    drop(held);
    drop(runtime.block_on(open(&log, &state)));
}

/// A log in `dir` holding the events before `cut`‰ of `events`; returns it, those events and the
/// rest.
fn log_cut_at<'e>(
    dir: &Path,
    runtime: &tokio::runtime::Runtime,
    events: &'e [SampleEvent],
    cut: usize,
) -> (Arc<dyn EventLog>, &'e [SampleEvent], &'e [SampleEvent]) {
    let (first, rest) = events.split_at(events.len() * cut / 1000);
    let log: Arc<dyn EventLog> = Arc::new(FileLog::open(dir.join("data"), options()).unwrap());
    runtime.block_on(append(&*log, first, 0));
    (log, first, rest)
}

proptest! {
    // Each case writes a log and three sled databases.
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// The state restored from a checkpoint and the tail after it equals the state folded from the
    /// whole log, wherever the checkpoint falls (DESIGN §10, issue #16 §1).
    #[test]
    fn checkpoint_plus_tail_equals_a_full_fold(
        seed in any::<u64>(),
        contracts in 1u32..4,
        dispensings in 1u32..80,
        cut in 0usize..=1000,
    ) {
        let events = sample::events(config(seed, contracts, dispensings));
        let (dir, runtime) = (tempfile::tempdir().unwrap(), runtime());
        let (log, first, rest) = log_cut_at(dir.path(), &runtime, &events, cut);
        let resumed = dir.path().join("resumed");
        drop(runtime.block_on(open(&log, &resumed)));
        runtime.block_on(append(&*log, rest, first.len()));
        let resumed = runtime.block_on(open(&log, &resumed));
        let full = runtime.block_on(open(&log, &dir.path().join("full")));
        prop_assert!(full.state.report().rebuilt);
        prop_assert_eq!(entries_beside_runs(&resumed), entries_beside_runs(&full));
        for (key, holders) in expected_holders(&events) {
            for (store, loaded) in [("resumed", &resumed), ("full", &full)] {
                let found = loaded.index.reimbursed_by(&key);
                prop_assert!(
                    answer_is_right(found.as_ref(), &holders),
                    "{} key {}: found {:?}, live holders {:?}", store, key, found, holders
                );
            }
        }
    }
}

/// The stream versions the appends above leave are the log's own (a sanity check of the helper).
#[test]
fn the_helper_appends_every_sample_event() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let log: Arc<dyn EventLog> =
        Arc::new(FileLog::open(dir.path().join("data"), options()).unwrap());
    let events = sample::events(config(3, 1, 5));
    runtime.block_on(append(&*log, &events, 0));
    let stream = &events.last().unwrap().stream;
    let count = events
        .iter()
        .filter(|sample| sample.stream == *stream)
        .count();
    let version = runtime.block_on(log.stream_version(stream)).unwrap();
    assert_eq!(version, StreamVersion(u64::try_from(count).unwrap()));
}

proptest! {
    // Each case writes a log and a sled database.
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// A seal read from where the writer's state says each period lies (the span it has seen and
    /// the log after its checkpoint) states exactly what a read of the whole log states, wherever
    /// the checkpoint falls and whatever was appended after it (issue #16: a seal costs its month).
    #[test]
    fn a_seal_read_from_the_period_spans_equals_one_read_from_the_whole_log(
        seed in any::<u64>(),
        contracts in 1u32..4,
        dispensings in 1u32..40,
        cut in 0usize..=1000,
    ) {
        let events = sample::events(SampleConfig { periods: 3, ..config(seed, contracts, dispensings) });
        let (dir, runtime) = (tempfile::tempdir().unwrap(), runtime());
        let (log, first, rest) = log_cut_at(dir.path(), &runtime, &events, cut);
        let loaded = runtime.block_on(open(&log, &dir.path().join("state")));
        runtime.block_on(append(&*log, rest, first.len()));
        let rules = ledger_commands::demo::engine::rule_book().unwrap();
        let months: std::collections::BTreeSet<String> = events
            .iter()
            .filter_map(|event| period_month(&event.stream).map(str::to_owned))
            .collect();
        prop_assert!(!months.is_empty());
        for month in months {
            let (year, number) = month.split_once('-').unwrap();
            let period = ReportingPeriod::month(year.parse().unwrap(), number.parse().unwrap()).unwrap();
            let spans = loaded.state.period_spans(Jurisdiction::KZ, period);
            let whole = runtime
                .block_on(observe(&*log, &rules, Jurisdiction::KZ, period, Timestamp::EPOCH))
                .unwrap();
            let from_spans = runtime
                .block_on(observe_from(&*log, &rules, Jurisdiction::KZ, period, Timestamp::EPOCH, &spans))
                .unwrap();
            prop_assert!(whole.content.events > 0, "{} has events", month);
            prop_assert_eq!(&from_spans.content, &whole.content, "{}", month);
            prop_assert_eq!(&from_spans.leaves, &whole.leaves, "{}", month);
        }
    }
}

/// The run ids the manifest names, and the run files in the state's directory.
fn run_ids(loaded: &Loaded, state: &Path) -> (Vec<u32>, std::collections::BTreeSet<String>) {
    let entries = loaded.state.entries().unwrap();
    let id = |bytes: &[u8]| u32::from_be_bytes(bytes[..4].try_into().unwrap());
    let manifest = entries
        .iter()
        .find(|entry| entry.keyspace == "_meta" && entry.key == b"runs")
        .map(|entry| entry.value.chunks(6).map(id).collect())
        .unwrap_or_default();
    let files = std::fs::read_dir(state.join("runs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    (manifest, files)
}

fn run_files(runs: &[u32]) -> std::collections::BTreeSet<String> {
    runs.iter().map(|id| format!("{id:010}.run")).collect()
}

/// Catch-ups write a run each; runs of about one size merge like a binary counter, so eight
/// catch-ups leave a few runs, not eight, every answer is as before, no file of a merged run is
/// left behind, files a crash left go at the next start, and a damaged run file is rebuilt from
/// the log (issue #16 §5).
#[test]
fn runs_merge_as_they_accumulate_and_answer_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let runtime = runtime();
    let log: Arc<dyn EventLog> =
        Arc::new(FileLog::open(dir.path().join("data"), options()).unwrap());
    let events = sample::events(SampleConfig {
        periods: 8,
        ..config(11, 2, 40)
    });
    let loaded = runtime.block_on(open(&log, &state));
    let chunk = events.len().div_ceil(8);
    for (number, part) in events.chunks(chunk).enumerate() {
        runtime.block_on(append(&*log, part, number * chunk));
        runtime.block_on(loaded.state.catch_up(&log)).unwrap();
        check_holders_of(&loaded, &events[..(number * chunk + part.len())]);
    }
    let (runs, files) = run_ids(&loaded, &state);
    assert!(
        (1..=4).contains(&runs.len()),
        "eight catch-ups left runs {runs:?}"
    );
    assert_eq!(
        files,
        run_files(&runs),
        "only the manifest's runs have files"
    );
    drop(loaded);

    // A crash after a merge's swap, before the merged runs' files were deleted, and one while a
    // run was being written.
    std::fs::write(state.join("runs").join("0000000999.run"), b"merged away").unwrap();
    std::fs::write(state.join("runs").join("0000000998.run.tmp"), b"half").unwrap();
    let loaded = runtime.block_on(open(&log, &state));
    assert!(!loaded.state.report().rebuilt);
    let (runs_after, files) = run_ids(&loaded, &state);
    assert_eq!(runs_after, runs);
    assert_eq!(files, run_files(&runs), "what the crash left is gone");
    check_holders(&loaded, &events);
    drop(loaded);

    // A damaged run file: the state is rebuilt from the log, loudly, and answers as before.
    let damaged = state.join("runs").join(format!("{:010}.run", runs[0]));
    let mut bytes = std::fs::read(&damaged).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 0xff;
    std::fs::write(&damaged, &bytes).unwrap();
    let loaded = runtime.block_on(open(&log, &state));
    assert!(
        loaded.state.report().rebuilt,
        "a damaged run file is rebuilt"
    );
    check_holders(&loaded, &events);
}
