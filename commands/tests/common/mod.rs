//! Helpers shared by the tests that run the real `ledger` binary.

#[allow(dead_code)]
// used by the tests with Python clients, not by every binary that includes this module
pub mod python;
#[allow(dead_code)] // each test binary uses its part of the shared helpers
pub mod serve;

use std::path::Path;
use std::process::{Command, Output};

use ledger::domain::event::Event;
use ledger::log::file::FileLog;
use ledger::log::{EventLog, StreamId, StreamVersion};

use ledger_commands::demo::world::World;

/// Runs `ledger --data-dir DATA_DIR ARGS…` and returns its output.
pub fn ledger(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run ledger")
}

/// Runs a small `ledger demo` (50 dispensings, no fsync) with `seed` on `data_dir` and returns the world
/// it simulated: its contracts are concluded from January, so February is open for dispensing.
#[allow(dead_code)] // used by the import and submit tests, not by every binary that includes this module
pub fn small_demo(data_dir: &Path, seed: u64) -> World {
    let output = ledger(
        data_dir,
        &[
            "demo",
            "--dispensings",
            "50",
            "--kg-dispensings",
            "120",
            "--no-sync",
            "--seed",
            &seed.to_string(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    World::generate(seed, 8, 3, 20_000)
}

/// The Fund BIN the `submit` tests pass: any valid BIN (dispensings are not signed by the Fund).
#[allow(dead_code)] // used by the submit tests, not by every binary that includes this module
pub const FUND_BIN: &str = "900101300007";

/// Runs `ledger submit FILE --fund-bin FUND_BIN` and returns its exit code and its stdout and stderr.
#[allow(dead_code)] // used by the submit tests, not by every binary that includes this module
pub fn submit(data_dir: &Path, file: &Path) -> (Option<i32>, String) {
    let output = ledger(
        data_dir,
        &["submit", file.to_str().unwrap(), "--fund-bin", FUND_BIN],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// The `DispensingRecorded` events `stream` holds in the log in `data_dir`, in stream order.
#[allow(dead_code)] // used by the import, submit and restart tests, not by every binary that includes this module
pub fn dispensings(
    data_dir: &Path,
    stream: &str,
) -> Vec<ledger::domain::period::events::DispensingRecorded> {
    let log = FileLog::open_read_only(data_dir).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(log.read_stream(&StreamId::new(stream).unwrap(), StreamVersion(1)))
        .unwrap()
        .iter()
        .filter_map(
            |record| match Event::from_payload(&record.body.payload).unwrap() {
                Event::DispensingRecorded(recorded) => Some(recorded),
                _ => None,
            },
        )
        .collect()
}

/// How many `DispensingRecorded` events `stream` holds in the log in `data_dir`.
#[allow(dead_code)] // used by the import and submit tests, not by every binary that includes this module
pub fn recorded(data_dir: &Path, stream: &str) -> usize {
    dispensings(data_dir, stream).len()
}

/// A fresh virtual environment in `dir` (python3.11 -m venv) with `packages` from PyPI installed;
/// returns its `python`.
#[allow(dead_code)] // used by the Parquet and audit pack tests
pub fn python_venv(dir: &Path, packages: &[&str]) -> std::path::PathBuf {
    let venv = dir.join("venv");
    let status = Command::new("python3.11")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3.11 runs");
    assert!(status.success(), "python3.11 -m venv failed");
    let python = venv.join("bin/python");
    if !packages.is_empty() {
        let output = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(packages)
            .output()
            .expect("pip runs");
        assert!(
            output.status.success(),
            "pip install {packages:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    python
}
