#!/usr/bin/env bash
# The main job on the embedded default: builds the release binary and runs `ledger demo`, a national
# reporting period end to end (about one million dispensings, a few minutes on 2 cores). Extra
# arguments go to `ledger demo`, e.g. `scripts/run.sh --dispensings 100000 --seed 7`.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --bin ledger
data_dir="${LEDGER_DATA_DIR:-./ledger-data}"
if [ -e "$data_dir" ]; then
    echo "note: $data_dir exists; the demo is idempotent, so a re-run with the same seed appends nothing" >&2
fi
exec target/release/ledger --data-dir "$data_dir" demo --summary-json "$data_dir.summary.json" "$@"
