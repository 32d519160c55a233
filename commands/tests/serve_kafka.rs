//! `ledger serve --log kafka://…` (issue #7): the writer service on a real Kafka-compatible broker
//! (tansu on loopback, `scripts/broker.sh`). A command appended by one writer process answers as a
//! duplicate with its original positions from the next writer process, which rebuilt what it needs
//! from the topic.
#![cfg(feature = "kafka")]

mod serve_http;

use ledger::log::testkit::kafka_bootstrap;
use serve_http::{http, register_key, start, stop, wait_ready};

#[test]
fn a_restarted_writer_answers_a_repeated_command_with_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("serve{}", std::process::id());
    let url = format!("kafka://{}?prefix={prefix}&partitions=2", kafka_bootstrap());
    let global = ["--log", url.as_str()];
    let command = register_key("0190a000-0000-7000-8000-0000000000c1", Some(0));

    let (first, address) = start(dir.path(), &global);
    wait_ready(&address);
    let (status, created) = http(&address, "POST", "/v1/commands", &command);
    assert_eq!(status, 201, "{created}");
    assert!(stop(first).success(), "a graceful stop exits 0");

    let (second, address) = start(dir.path(), &global);
    wait_ready(&address);
    let (status, repeated) = http(&address, "POST", "/v1/commands", &command);
    assert_eq!(status, 200, "{repeated}");
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let repeated: serde_json::Value = serde_json::from_str(&repeated).unwrap();
    assert_eq!(repeated["duplicate"], true);
    assert_eq!(repeated["positions"], created["positions"]);
    let stale = register_key("0190a000-0000-7000-8000-0000000000c2", Some(0));
    let (status, conflict) = http(&address, "POST", "/v1/commands", &stale);
    assert_eq!(status, 409, "the stream is at version 1 now: {conflict}");
    assert!(stop(second).success());
}
