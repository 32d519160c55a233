//! The `ledger` binary: a thin shell over `ledger_commands::cli`.

use std::process::ExitCode;

/// mimalloc, not the system allocator: the writer's replay of the log and the main job allocate a
/// few short-lived strings and maps per event, and glibc's malloc was ~40 % of the replay's CPU
/// (docs/performance.md, decision #36).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ledger_commands::cli::main()
}
