//! `ledger export --format jsonl` writes the one public form (issue #14 §6, DESIGN §9): each line is
//! the CloudEvent `ledger history --format json` prints for the same record, and with
//! `--pseudonymize` only the patient identifiers in `data` change.

mod common;

use std::path::Path;

use common::{ledger, small_demo};
use serde_json::Value;

fn ok(data_dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = ledger(data_dir, args);
    assert!(
        output.status.success(),
        "ledger {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn export(data_dir: &Path, out: &Path, extra: &[&str]) -> String {
    let out_arg = out.to_str().unwrap();
    let mut args = vec!["export", "--period", "2026-01", "--out", out_arg];
    args.extend_from_slice(extra);
    ok(data_dir, &args);
    std::fs::read_to_string(out.join("events.jsonl")).unwrap()
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Every string value under `value`.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
        Value::Object(map) => map.values().for_each(|item| strings(item, out)),
        _ => {}
    }
}

#[test]
fn export_jsonl_is_the_cloudevent_history_prints_and_pseudonyms_touch_only_patients() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    small_demo(&data_dir, 14);
    let clear = export(&data_dir, &dir.path().join("clear"), &[]);
    let history = ok(
        &data_dir,
        &["history", "--period", "2026-01", "--format", "json"],
    );
    assert_eq!(
        clear,
        String::from_utf8(history).unwrap(),
        "export --format jsonl and history --format json print the same CloudEvents"
    );
    let clear = lines(&clear);
    assert!(clear.len() > 50, "{} events exported", clear.len());
    for event in &clear {
        assert_eq!(event["specversion"], "1.0", "{event}");
        assert!(event["data"].is_object(), "{event}");
        assert!(
            event["subject"].as_str().unwrap().contains("2026-01"),
            "{event}"
        );
    }
    let patients: Vec<&str> = clear
        .iter()
        .filter_map(|event| event["data"]["patient_iin"].as_str())
        .collect();
    assert!(patients.len() >= 50, "{} patient IINs", patients.len());

    let key = dir.path().join("pseudonym.key");
    std::fs::write(&key, [0x17u8; 32]).unwrap();
    let anon = export(
        &data_dir,
        &dir.path().join("anon"),
        &["--pseudonymize", key.to_str().unwrap()],
    );
    let anon = lines(&anon);
    assert_eq!(anon.len(), clear.len());
    let mut anon_strings = Vec::new();
    for (clear, anon) in clear.iter().zip(&anon) {
        let (mut clear_rest, mut anon_rest) = (clear.clone(), anon.clone());
        clear_rest.as_object_mut().unwrap().remove("data");
        anon_rest.as_object_mut().unwrap().remove("data");
        assert_eq!(clear_rest, anon_rest, "only data changes");
        strings(&anon["data"], &mut anon_strings);
        if let Some(iin) = clear["data"]["patient_iin"].as_str() {
            let pseudonym = anon["data"]["patient_iin"].as_str().unwrap_or_default();
            assert!(pseudonym.starts_with("P-") && pseudonym != iin, "{anon}");
        }
    }
    for iin in &patients {
        assert!(
            !anon_strings.iter().any(|text| text.contains(iin)),
            "patient IIN {iin} survives pseudonymization"
        );
    }
}
