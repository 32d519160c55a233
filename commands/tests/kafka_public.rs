//! The public topic after a real demo on a real broker (issue #14): `<prefix>.events.json` holds, for
//! every record of `<prefix>.events`, exactly the CloudEvent `ledger::public` renders from it (byte for
//! byte, same key, same partition, same order); and a Python service with `confluent-kafka` from PyPI
//! rebuilds every registry's totals from that topic alone, equal to `ledger registry show`.
//!
//! tansu 0.6.0 (the test broker) delivers records of aborted transactions even under
//! `read_committed`. Each transaction carries both topics, so an aborted one would show on both
//! alike and the comparisons would still hold; a demo aborts nothing.
#![cfg(feature = "kafka")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::ledger;
use common::python;
use ledger::log::kafka::testing::read_topic;
use ledger::log::kafka::{HEADER_CONTENT_TYPE, HEADER_EVENT_ID, KafkaConfig};
use ledger::log::testkit::kafka_bootstrap;
use ledger::log::{EventEnvelope, Offset, PartitionId, Position};
use ledger::public::{CONTENT_TYPE, CloudEvents};

const PARTITIONS: u32 = 8;
const SOURCE: &str = "urn:example-fund:ledger:public-topic-test";

/// Runs a small demo on a fresh topic prefix; returns the log URL and the demo's summary.
fn demo(dir: &Path, name: &str) -> (String, serde_json::Value) {
    let url = format!(
        "kafka://{}?prefix={name}-{}&partitions={PARTITIONS}",
        kafka_bootstrap(),
        std::process::id()
    );
    let summary = dir.join("summary.json");
    let output = ledger(
        &dir.join("data"),
        &[
            "--log",
            &url,
            "--event-source",
            SOURCE,
            "demo",
            "--dispensings",
            "120",
            "--seed",
            "5",
            "--no-sync",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = serde_json::from_slice(&std::fs::read(summary).unwrap()).unwrap();
    (url, summary)
}

#[test]
fn the_public_topic_carries_each_record_as_its_cloud_event() {
    let dir = tempfile::tempdir().unwrap();
    let (url, summary) = demo(dir.path(), "mirror");
    let config = KafkaConfig::from_url(&url).unwrap();
    let timeout = Duration::from_secs(60);
    let events = read_topic(
        &config.bootstrap,
        &config.events_topic(),
        PARTITIONS,
        timeout,
    );
    let public = read_topic(
        &config.bootstrap,
        &config.public_topic_name(),
        PARTITIONS,
        timeout,
    );
    let form = CloudEvents::new(SOURCE.parse().unwrap());
    let mut compared = 0u64;
    for (partition, records) in &events {
        let mirrored = &public[partition];
        assert_eq!(
            records.len(),
            mirrored.len(),
            "partition {partition}: one CloudEvent per record"
        );
        for (record, cloud_event) in records.iter().zip(mirrored) {
            let position = Position {
                partition: PartitionId(*partition),
                offset: Offset(record.offset),
            };
            let envelope = EventEnvelope::decode(position, &record.value).expect("a record");
            let expected = form.to_bytes(&envelope).expect("every demo event renders");
            assert!(
                cloud_event.value == expected,
                "{position}: the public record is not the record's CloudEvent:\n{}\n{}",
                String::from_utf8_lossy(&cloud_event.value),
                String::from_utf8_lossy(&expected)
            );
            assert_eq!(cloud_event.key, record.key);
            assert_eq!(cloud_event.header(HEADER_CONTENT_TYPE), Some(CONTENT_TYPE));
            assert_eq!(
                cloud_event.header(HEADER_EVENT_ID),
                record.header(HEADER_EVENT_ID)
            );
            compared += 1;
        }
    }
    assert_eq!(
        serde_json::Value::from(compared),
        summary["events_written"],
        "every event the demo wrote is on both topics"
    );
}

#[test]
fn a_python_service_rebuilds_the_registries_from_the_public_topic() {
    let python = python::python();
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = demo(dir.path(), "python");
    let config = KafkaConfig::from_url(&url).unwrap();
    let reader = format!("{url}&role=reader");
    let project = ledger(&dir.path().join("views"), &["--log", &reader, "project"]);
    assert!(
        project.status.success(),
        "project failed: {}",
        String::from_utf8_lossy(&project.stderr)
    );
    let output = Command::new(python)
        .arg(python::scripts().join("registry_from_json_topic.py"))
        .args(["--bootstrap", &config.bootstrap])
        .args(["--topic", &config.public_topic_name()])
        .args(["--partitions", &PARTITIONS.to_string()])
        .arg("--schemas")
        .arg(python::schemas())
        .args(["--ledger", env!("CARGO_BIN_EXE_ledger")])
        .arg("--data-dir")
        .arg(dir.path().join("views"))
        .args(["--log", &reader])
        .arg("--summary")
        .arg(dir.path().join("summary.json"))
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(" passed, 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
