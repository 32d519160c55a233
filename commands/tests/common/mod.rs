//! Helpers shared by the tests that run the real `ledger` binary.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `ledger --data-dir DATA_DIR ARGS…` and returns its output.
pub fn ledger(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run ledger")
}
