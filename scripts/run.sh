#!/usr/bin/env bash
# The main job on the embedded default: builds the release binary and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --bin ledger
exec target/release/ledger calendar show --country KZ --year 2026 "$@"
