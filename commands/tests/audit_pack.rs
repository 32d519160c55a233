//! The audit pack (issue #15 §3) with the real binary: a pack of the demo's sealed January is checked
//! by its own `verify.py` in a fresh virtual environment (every check passes); then one byte flipped
//! in a raw record, one amount edited in the JSON (canonical, then CloudEvent) and two lines swapped
//! in an Appendix 1 form are each caught by the check that covers them. A pseudonymized pack still verifies what it can and holds no
//! patient IIN in clear.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ledger, python_venv, small_demo};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// Runs the pack's `verify.py`; returns its exit code and report.
fn verify(python: &Path, pack: &Path) -> (Option<i32>, String) {
    let output = Command::new(python)
        .arg(pack.join("verify.py"))
        .arg(pack)
        .output()
        .expect("python runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), report)
}

fn pack(data_dir: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "audit",
        "pack",
        "--period",
        "2026-01",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = ledger(data_dir, &args);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn tampered(clean: &Path, dir: &Path, name: &str) -> PathBuf {
    let copy = dir.join(name);
    copy_dir(clean, &copy);
    copy
}

fn assert_caught(python: &Path, pack: &Path, check: &str) {
    let (code, report) = verify(python, pack);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report
            .lines()
            .any(|line| line.starts_with("FAIL") && line.contains(check)),
        "expected a failed {check:?} check:\n{report}"
    );
}

fn kz_events(pack: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(pack.join("KZ/events.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// One byte of a raw record flipped.
fn flip_a_record_byte(clean: &Path, dir: &Path) -> PathBuf {
    let flipped = tampered(clean, dir, "flipped");
    let records = std::fs::read_dir(flipped.join("KZ/records"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|extension| extension == "bin"))
        .unwrap();
    let mut bytes = std::fs::read(&records).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&records, bytes).unwrap();
    flipped
}

/// One amount of the JSON changed by 1 tenge.
fn edit_an_amount(clean: &Path, dir: &Path) -> PathBuf {
    let edited = tampered(clean, dir, "edited");
    let mut events = kz_events(&edited);
    let dispensing = events
        .iter_mut()
        .find(|event| event["event_type"] == "DispensingRecorded")
        .unwrap();
    let fund = dispensing["payload"]["amounts"]["fund"]["minor"]
        .as_i64()
        .unwrap();
    dispensing["payload"]["amounts"]["fund"]["minor"] = (fund + 100).into();
    let text: String = events.iter().map(|event| format!("{event}\n")).collect();
    std::fs::write(edited.join("KZ/events.jsonl"), text).unwrap();
    edited
}

/// One amount of the public form (`events.cloudevents.jsonl`) changed by 1 tenge.
fn edit_a_cloudevent(clean: &Path, dir: &Path) -> PathBuf {
    let edited = tampered(clean, dir, "edited-cloudevent");
    let path = edited.join("KZ/events.cloudevents.jsonl");
    let mut events: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let dispensing = events
        .iter_mut()
        .find(|event| {
            event["type"]
                .as_str()
                .unwrap()
                .contains(".DispensingRecorded.")
        })
        .unwrap();
    let fund = dispensing["data"]["amounts"]["fund"]["minor"]
        .as_i64()
        .unwrap();
    dispensing["data"]["amounts"]["fund"]["minor"] = (fund + 100).into();
    let text: String = events.iter().map(|event| format!("{event}\n")).collect();
    std::fs::write(&path, text).unwrap();
    edited
}

/// The first two lines of an Appendix 1 form swapped.
fn swap_form_lines(clean: &Path, dir: &Path) -> PathBuf {
    let swapped = tampered(clean, dir, "swapped");
    let form = std::fs::read_dir(swapped.join("forms"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with("appendix1.csv"))
        .find(|path| std::fs::read_to_string(path).unwrap().lines().count() > 3)
        .expect("a form with two lines or more");
    let mut lines: Vec<String> = std::fs::read_to_string(&form)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.swap(1, 2);
    std::fs::write(&form, lines.join("\n") + "\n").unwrap();
    swapped
}

/// A pseudonymized pack verifies what it can and holds no patient IIN of `clean` in any file.
fn check_pseudonymized(data_dir: &Path, python: &Path, clean: &Path, dir: &Path) {
    let iins: Vec<String> = kz_events(clean)
        .iter()
        .filter(|event| event["event_type"] == "DispensingRecorded")
        .map(|event| event["payload"]["patient_iin"].as_str().unwrap().to_owned())
        .collect();
    assert!(!iins.is_empty());
    let key = dir.join("key");
    std::fs::write(&key, [7u8; 40]).unwrap();
    let anon = dir.join("anon");
    pack(data_dir, &anon, &["--pseudonymize", key.to_str().unwrap()]);
    let (code, report) = verify(python, &anon);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("skip KZ records = json"), "{report}");
    assert!(report.contains("ok   KZ cloudevents = json"), "{report}");
    let mut stack = vec![anon.clone()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .map(|entry| entry.unwrap().path()),
            );
        } else if path
            .extension()
            .is_some_and(|extension| extension != "parquet")
        {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            for iin in &iins {
                assert!(
                    !text.contains(iin.as_str()),
                    "patient IIN {iin} in {}",
                    path.display()
                );
            }
        }
    }
    assert!(
        !anon.join("KZ/records/0.bin").exists(),
        "raw records are withheld"
    );
}

#[test]
fn verify_py_passes_a_clean_pack_and_catches_each_alteration() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    small_demo(&data_dir, 5);
    let clean = dir.path().join("pack");
    pack(&data_dir, &clean, &[]);
    let python = python_venv(dir.path(), &[]);

    let (code, report) = verify(&python, &clean);
    assert_eq!(code, Some(0), "{report}");
    assert!(!report.contains("FAIL"), "{report}");
    let checks = [
        "KZ seal signature",
        "KZ merkle root",
        "KZ records = json",
        "KZ export digest",
        "KZ cloudevents = json",
        "KG merkle root",
        "KG cloudevents = json",
    ];
    for check in checks {
        let passed = report
            .lines()
            .any(|line| line.starts_with("ok") && line.contains(check));
        assert!(passed, "{check}:\n{report}");
    }
    assert!(report.contains("form: Appendix 1 lines"), "{report}");

    assert_caught(&python, &flip_a_record_byte(&clean, dir.path()), "records");
    let edited = edit_an_amount(&clean, dir.path());
    assert_caught(&python, &edited, "KZ records = json");
    assert_caught(&python, &edited, "KZ export digest");
    assert_caught(&python, &swap_form_lines(&clean, dir.path()), "form");
    assert_caught(
        &python,
        &edit_a_cloudevent(&clean, dir.path()),
        "KZ cloudevents = json",
    );
    check_pseudonymized(&data_dir, &python, &clean, dir.path());
}
