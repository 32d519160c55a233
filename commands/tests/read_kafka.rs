//! `ledger read` on Kafka (issue #14 §3: both backends), against a real broker: after a demo on the
//! broker, the feed carries exactly the events of the topic, the views answer what the CLI prints on
//! the same log, and an event appended later arrives on a feed resumed with `after=` and in the views
//! a `min_position` read waits for.
//!
//! Uses `LEDGER_TEST_KAFKA=HOST:PORT` when set, otherwise starts the project's broker
//! (`scripts/broker.sh start`), like every other Kafka test.
#![cfg(feature = "kafka")]

mod common;
mod read_http;

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use ledger::log::kafka::KafkaLog;
use ledger::log::testkit::kafka_bootstrap;
use ledger::log::{EventLog, Offset, PartitionId, read_partition};
use read_http::{FUND, World, feed_until_idle, get};

/// Every event id on the Kafka log `url`.
fn topic_event_ids(url: &str) -> BTreeSet<String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let log = KafkaLog::open_url(&format!("{url}&role=reader"), None)
            .await
            .unwrap();
        let mut ids = BTreeSet::new();
        for partition in 0..log.partitions() {
            let mut records = read_partition(&log, PartitionId(partition), Offset(0));
            while let Some(record) = records.next().await {
                ids.insert(record.unwrap().body.event_id.to_string());
            }
        }
        ids
    })
}

fn ids(events: &[serde_json::Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_reader_follows_kafka_like_the_embedded_log() {
    let prefix = format!("read{}", std::process::id());
    let url = format!("kafka://{}?prefix={prefix}&partitions=4", kafka_bootstrap());
    let world = World::on_kafka(&url);
    let reader = world.reader(
        &world.dir.path().join("read-views"),
        &["--heartbeat-seconds", "2"],
    );
    let fund = world.client(Some("fund"));
    let (answer, events) = feed_until_idle(&fund, &reader.address, "/v1/events", &[]);
    assert_eq!(answer.status, 200);
    assert_eq!(ids(&events).len(), events.len(), "each event once");
    assert_eq!(ids(&events), topic_event_ids(&url), "the feed is the topic");
    let registry =
        as_json(get(&fund, &reader.address, "/v1/registries/KZ-001/2026-01", &[]).unwrap());
    let printed = world.cli(&[
        "registry",
        "show",
        "--contract",
        "KZ-001",
        "--period",
        "2026-01",
        "--format",
        "json",
    ]);
    assert_eq!(registry, String::from_utf8(printed).unwrap());
    // The log moves on: a resumed feed gets exactly the new event, and the views wait for it.
    let mut cursor: BTreeMap<u64, u64> = BTreeMap::new();
    for event in &events {
        let offset: u64 = event["offset"].as_str().unwrap().parse().unwrap();
        let partition = event["partition"].as_u64().unwrap();
        let last = cursor.entry(partition).or_default();
        *last = (*last).max(offset);
    }
    let after: Vec<String> = cursor.iter().map(|(p, o)| format!("{p}:{o}")).collect();
    let file = world.dir.path().join("dispensing.jsonl");
    let dispensing: serde_json::Value =
        serde_json::from_slice(&std::fs::read(world.pki("dispensing.json")).unwrap()).unwrap();
    std::fs::write(&file, format!("{dispensing}\n")).unwrap();
    world.cli(&["submit", file.to_str().unwrap(), "--fund-bin", FUND]);
    let path = format!("/v1/events?after={}", after.join(","));
    let (_, new) = feed_until_idle(&fund, &reader.address, &path, &[]);
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(
        new[0]["type"],
        "org.pharmacy-copayment.ledger.DispensingRecorded.v1"
    );
    let position = format!(
        "{}:{}",
        new[0]["partition"],
        new[0]["offset"].as_str().unwrap()
    );
    let waited = get(
        &fund,
        &reader.address,
        &format!("/v1/registries/KZ-001/2026-02?min_position={position}&wait=30"),
        &[],
    )
    .unwrap();
    assert_eq!(waited.status, 200, "{}", waited.text());
    let marking_code = dispensing["command"]["marking_code"].as_str().unwrap();
    assert!(waited.text().contains(marking_code));
}

fn as_json(answer: read_http::Answer) -> String {
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.text()
}
