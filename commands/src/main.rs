//! The `ledger` binary: a thin shell over `ledger_commands::cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ledger_commands::cli::main()
}
