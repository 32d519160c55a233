//! Files for people are whole or absent (issue #15 §6): a demo whose disk fills up while it writes the
//! Appendix 1 and 2 forms (ENOSPC injected through `files::AtomicFile`, the one writer of such files)
//! stops with an error and leaves only complete forms, each identical to a clean run's, and no
//! temporary file; a re-run after the disk is freed writes every form identical to the clean run.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use ledger_commands::files::{FAULT_NO_SPACE_ENV, is_partial};

fn demo(data_dir: &Path, no_space_after: Option<u64>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
    command.arg("--data-dir").arg(data_dir).args([
        "demo",
        "--dispensings",
        "50",
        "--no-sync",
        "--seed",
        "3",
    ]);
    if let Some(bytes) = no_space_after {
        command.env(FAULT_NO_SPACE_ENV, bytes.to_string());
    }
    command.output().expect("run ledger demo")
}

/// Every file of `<data_dir>/exports` by name.
fn exports(data_dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(data_dir.join("exports"))
        .map(|entries| {
            entries
                .map(|entry| {
                    let path = entry.unwrap().path();
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    (name, std::fs::read(&path).unwrap())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_full_disk_leaves_no_truncated_form_and_a_rerun_completes_them() {
    let dir = tempfile::tempdir().unwrap();
    let clean_dir = dir.path().join("clean");
    let output = demo(&clean_dir, None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let clean = exports(&clean_dir);
    assert!(
        clean.len() >= 8,
        "the demo writes forms: {:?}",
        clean.keys()
    );
    let total: u64 = clean.values().map(|bytes| bytes.len() as u64).sum();

    let full_dir = dir.path().join("full");
    let output = demo(&full_dir, Some(total / 2));
    assert_eq!(
        output.status.code(),
        Some(2),
        "the demo stops on a full disk"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("No space left on device"), "{stderr}");
    let partial = exports(&full_dir);
    assert!(
        !partial.is_empty() && partial.len() < clean.len(),
        "stopped in the middle: {:?}",
        partial.keys()
    );
    for (name, bytes) in &partial {
        assert!(!is_partial(name), "a temporary file was left: {name}");
        assert_eq!(Some(bytes), clean.get(name), "{name} is not the whole form");
    }

    let output = demo(&full_dir, None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        exports(&full_dir),
        clean,
        "the re-run writes every form as a clean run does"
    );
}
