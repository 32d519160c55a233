#!/usr/bin/env bash
# The main job on the embedded default: builds the release binary and runs `ledger demo`, a national
# reporting period end to end (about one million dispensings, a few minutes on 2 cores). Extra
# arguments go to `ledger demo`, e.g. `scripts/run.sh --dispensings 100000 --seed 7`. Then it writes a
# development PKI for the same world (`ledger pki dev`) and prints how to post a dispensing to the
# writer service over HTTPS with a pharmacy's client certificate.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --bin ledger
data_dir="${LEDGER_DATA_DIR:-./ledger-data}"
if [ -e "$data_dir" ]; then
    echo "note: $data_dir exists; the demo is idempotent, so a re-run with the same seed appends nothing" >&2
fi
seed=2026
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    if [ "${args[$i]}" = "--seed" ] && [ $((i + 1)) -lt ${#args[@]} ]; then
        seed="${args[$((i + 1))]}"
    fi
done
target/release/ledger --data-dir "$data_dir" demo --summary-json "$data_dir.summary.json" "$@"

pki="$data_dir.pki"
target/release/ledger pki dev --out "$pki" --seed "$seed" >/dev/null
fund_bin=$(sed -n 's/.*the Fund.s BIN is \([0-9]*\).*/\1/p' "$pki/README.txt" | head -n 1)
cat <<TEXT

Next: the writer service over HTTPS, with client certificates and the policy (docs/security.md).
Development certificates for this world are in $pki (see $pki/README.txt):

  target/release/ledger --data-dir $data_dir serve --listen 127.0.0.1:8443 --fund-bin $fund_bin \\
      --policy $pki/policy.toml --tls-cert $pki/server.pem --tls-key $pki/server-key.pem \\
      --client-ca $pki/ca.pem --client-crl $pki/crl.pem &
  curl --cacert $pki/ca.pem --cert $pki/clients/KZ-001.pem --key $pki/clients/KZ-001-key.pem \\
      -H 'content-type: application/json' --data @$pki/dispensing.json https://localhost:8443/v1/commands
TEXT
