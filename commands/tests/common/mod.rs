//! Helpers shared by the tests that run the real `ledger` binary.

use std::path::Path;
use std::process::{Command, Output};

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
