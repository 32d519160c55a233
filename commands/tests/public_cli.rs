//! CLI parity for the public form (issue #14 part 5): `ledger log tail --format json` and `ledger
//! history --format json` print each event as its CloudEvent, and `ledger history --stream ID` shows
//! any stream: price lists, budgets, keys, calendars, the KG reference book, recovery and disputes.

mod common;

use std::path::Path;

use common::{ledger, small_demo};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::file::{FileLog, FileLogOptions};
use ledger::log::{
    Actor, ActorId, ActorRole, AppendRequest, CommandId, EventEnvelope, EventId, EventLog,
    NewEvent, Offset, PartitionId, Payload, StreamId, StreamVersion, read_partition,
};
use ledger::public::CloudEvents;
use serde_json::Value;

const SOURCE: &str = "urn:example-fund:ledger:cli-test";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn stdout_lines(output: &std::process::Output) -> Vec<String> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Every record of the embedded log in `dir`, read through `FileLog` (not the binary).
fn all_records(dir: &Path) -> Vec<EventEnvelope> {
    runtime().block_on(async {
        use futures::StreamExt;
        let log = FileLog::open_read_only(dir).unwrap();
        let mut all = Vec::new();
        for partition in 0..log.partitions() {
            let mut records = read_partition(&log, PartitionId(partition), Offset(0));
            while let Some(record) = records.next().await {
                all.push(record.unwrap());
            }
        }
        all
    })
}

#[test]
fn log_tail_json_prints_each_record_as_its_cloud_event() {
    let dir = tempfile::tempdir().unwrap();
    small_demo(dir.path(), 3);
    let args = ["--event-source", SOURCE, "log", "tail", "--format", "json"];
    let lines = stdout_lines(&ledger(
        dir.path(),
        &[&args[..], &["--limit", "4"]].concat(),
    ));
    let records = all_records(dir.path());
    let form = CloudEvents::new(SOURCE.parse().unwrap());
    let partitions = records
        .iter()
        .map(|record| record.position.partition)
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        lines.len(),
        partitions.len() * 4,
        "the last 4 of every partition"
    );
    for line in &lines {
        let value: Value = serde_json::from_str(line).unwrap();
        let record = records
            .iter()
            .find(|record| {
                value["partition"] == record.position.partition.0
                    && value["offset"].as_str().and_then(|text| text.parse().ok())
                        == Some(record.position.offset.0)
            })
            .unwrap_or_else(|| panic!("no record at the position {line} names"));
        assert_eq!(line.as_bytes(), form.to_bytes(record).unwrap(), "{line}");
    }
}

#[test]
fn history_json_prints_cloud_events() {
    let dir = tempfile::tempdir().unwrap();
    small_demo(dir.path(), 4);
    let lines = stdout_lines(&ledger(
        dir.path(),
        &["history", "--contract", "KZ-001", "--format", "json"],
    ));
    assert!(lines.len() > 5, "{lines:?}");
    let form = CloudEvents::default();
    let records = all_records(dir.path());
    for line in lines {
        let value: Value = serde_json::from_str(&line).unwrap();
        let subject = StreamId::new(value["subject"].as_str().unwrap()).unwrap();
        assert_eq!(subject.partition_key(), "contract/KZ-001", "{line}");
        let record = records
            .iter()
            .find(|record| value["id"] == record.body.event_id.to_string())
            .expect("an event of the log");
        assert_eq!(line.as_bytes(), form.to_bytes(record).unwrap());
    }
}

/// Golden events of `types`, appended to `stream` (the demo writes no recovery or dispute).
fn append_golden(dir: &Path, stream: &str, types: &[&str]) {
    let events = types
        .iter()
        .enumerate()
        .map(|(index, event_type)| {
            let path = format!(
                "{}/../schemas/golden/{event_type}/v1.bin",
                env!("CARGO_MANIFEST_DIR")
            );
            NewEvent {
                event_id: EventId(uuid::Uuid::from_u64_pair(
                    0x0190,
                    u64::try_from(index).unwrap() + 1,
                )),
                occurred_at: Timestamp::parse_rfc3339("2026-04-14T06:00:00Z").unwrap(),
                jurisdiction: Jurisdiction::KG,
                causation_id: None,
                correlation_id: uuid::Uuid::nil(),
                actor: Actor::new(ActorId::System("history-test".into()), ActorRole::System),
                payload: Payload {
                    event_type: (*event_type).to_owned(),
                    schema_version: 1,
                    data: std::fs::read(path).unwrap(),
                },
                command_digest: None,
            }
        })
        .collect();
    runtime().block_on(async {
        let log = FileLog::open(dir, FileLogOptions::default()).unwrap();
        let request = AppendRequest {
            stream: StreamId::new(stream).unwrap(),
            expected: StreamVersion::NONE,
            command_id: CommandId::derived("history-test", stream),
            events,
        };
        log.append(request).await.unwrap();
    });
}

#[test]
fn history_stream_shows_any_stream() {
    let dir = tempfile::tempdir().unwrap();
    small_demo(dir.path(), 5);
    let recovery = "recovery/pharmacy/02303201910087";
    let dispute = "contract/KG-001/dispute/DSP-KG-001-1";
    append_golden(
        dir.path(),
        recovery,
        &["RecoveryAssessed", "RecoveryOffset"],
    );
    append_golden(
        dir.path(),
        dispute,
        &["DisputeClaimFiled", "DisputeResolved"],
    );
    let records = all_records(dir.path());
    let keys = records
        .iter()
        .map(|record| record.body.stream.as_str())
        .find(|stream| stream.starts_with("keys/"))
        .expect("the demo registers keys")
        .to_owned();
    for stream in [
        "reference/prices/KZ",
        "reference/calendar/KG",
        "reference/kg-reference-book",
        "budget/KZ/OSMS/2026",
        keys.as_str(),
        recovery,
        dispute,
    ] {
        let expected: Vec<String> = records
            .iter()
            .filter(|record| record.body.stream.as_str() == stream)
            .map(|record| record.body.event_id.to_string())
            .collect();
        assert!(!expected.is_empty(), "{stream} has events");
        let json = stdout_lines(&ledger(
            dir.path(),
            &["history", "--stream", stream, "--format", "json"],
        ));
        let values: Vec<Value> = json
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let ids: Vec<&str> = values
            .iter()
            .map(|value| value["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, expected, "{stream}: its events, in order");
        for (index, value) in values.iter().enumerate() {
            assert_eq!(value["subject"], stream);
            assert_eq!(
                value["sequence"]
                    .as_str()
                    .unwrap()
                    .parse::<usize>()
                    .unwrap(),
                index + 1
            );
        }
        let text = stdout_lines(&ledger(dir.path(), &["history", "--stream", stream]));
        assert_eq!(text.len(), expected.len(), "{stream}: {text:?}");
        assert!(
            text.iter().all(|line| line.contains(&format!("{stream}@"))),
            "{text:?}"
        );
    }
}

#[test]
fn history_needs_exactly_one_selection() {
    let dir = tempfile::tempdir().unwrap();
    small_demo(dir.path(), 6);
    let both = ledger(
        dir.path(),
        &[
            "history",
            "--stream",
            "reference/prices/KZ",
            "--period",
            "2026-01",
        ],
    );
    assert_eq!(both.status.code(), Some(2), "{both:?}");
    let bad = ledger(dir.path(), &["history", "--stream", "reference//KZ"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("--stream \"reference//KZ\"") && stderr.contains("must not be empty"),
        "{stderr}"
    );
}
