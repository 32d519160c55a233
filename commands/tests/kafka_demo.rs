//! The same demo seed on the embedded log and on Kafka (a real tansu broker on loopback) gives the
//! same registries, acts, payments and budgets (issues #7, #8): the backends differ in how they store
//! and order records across partitions, never in what the ledger decides.
#![cfg(feature = "kafka")]

mod common;

use common::ledger;
use ledger::log::testkit::kafka_bootstrap;

fn demo(
    data_dir: &std::path::Path,
    summary: &std::path::Path,
    log: Option<&str>,
) -> serde_json::Value {
    let mut args = vec![
        "demo",
        "--dispensings",
        "120",
        "--kg-dispensings",
        "300",
        "--seed",
        "5",
        "--no-sync",
        "--summary-json",
        summary.to_str().unwrap(),
    ];
    if let Some(url) = log {
        args.extend(["--log", url]);
    }
    let output = ledger(data_dir, &args);
    assert!(
        output.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&std::fs::read(summary).unwrap()).unwrap()
}

#[test]
fn same_seed_same_registries_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = demo(
        &dir.path().join("data"),
        &dir.path().join("embedded.json"),
        None,
    );
    let prefix = format!("demo{}", std::process::id());
    let url = format!("kafka://{}?prefix={prefix}&partitions=8", kafka_bootstrap());
    let kafka = demo(
        &dir.path().join("unused"),
        &dir.path().join("kafka.json"),
        Some(&url),
    );
    for section in ["contracts", "clocks", "budgets", "kg"] {
        assert_eq!(
            embedded[section], kafka[section],
            "{section} differ between the embedded log and Kafka"
        );
    }
    assert_eq!(
        embedded["events_written"], kafka["events_written"],
        "the same number of events"
    );
    // A regulator audits the Kafka log the same way: chain and every signature.
    let audit = ledger(
        &dir.path().join("unused"),
        &["--log", &url, "audit", "verify"],
    );
    let report = String::from_utf8_lossy(&audit.stdout);
    assert!(
        audit.status.success() && report.contains("audit: ok"),
        "{report}"
    );
    let history = ledger(
        &dir.path().join("unused"),
        &["--log", &url, "history", "--contract", "KZ-001"],
    );
    assert!(String::from_utf8_lossy(&history.stdout).contains("RegistryApproved"));
}
