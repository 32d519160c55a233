#!/usr/bin/env bash
# The project's one test command (README, .ci/run): every test of the workspace, the Kafka backend's
# included. It starts a Kafka-compatible broker (tansu, in memory, on a free loopback port) with
# scripts/broker.sh, points the Kafka tests at it, and stops it on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

bootstrap=$(bash scripts/broker.sh start | sed -n 's/^KAFKA_BOOTSTRAP=//p')
if [ -z "$bootstrap" ]; then
    echo "test.sh: the broker did not start (see tools/broker.log)" >&2
    exit 2
fi
trap 'bash scripts/broker.sh stop >/dev/null 2>&1 || true' EXIT
export LEDGER_TEST_KAFKA="$bootstrap"

cargo test --workspace --locked --features ledger/kafka,ledger-commands/kafka "$@"
