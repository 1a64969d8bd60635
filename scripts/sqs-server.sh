#!/usr/bin/env bash
# Starts, stops and describes a local SQS + EventBridge server (moto) for the
# tests and benchmarks of connect-sqs.
#
#   scripts/sqs-server.sh start   install moto into ./.venv if missing, start
#                                 it on 127.0.0.1 and wait until it answers
#   scripts/sqs-server.sh stop    stop the server this script started (by pid)
#   scripts/sqs-server.sh env     print `export CONNECT_SQS_ENDPOINT=...`
#                                 (use: eval "$(scripts/sqs-server.sh env)")
#   scripts/sqs-server.sh status  say whether it runs, and where
#
# Idempotent: `start` on a running server only prints where it is; `stop`
# with nothing running does nothing. Works on a fresh machine that has
# python3 with the venv module (and network access to PyPI the first time).
#
# Environment:
#   SQS_PORT    port to listen on (default: a free port picked at start)
#   MOTO_SPEC   pip requirement to install (default below)
#   PYTHON      interpreter used to create the venv (default: python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STATE_DIR="$ROOT/target"
PID_FILE="$STATE_DIR/sqs-server.pid"
ENV_FILE="$STATE_DIR/sqs-server.env"
LOG_FILE="$STATE_DIR/sqs-server.log"
MOTO_SPEC="${MOTO_SPEC:-moto[server]==5.2.1}"
PYTHON="${PYTHON:-python3}"
READY_TIMEOUT_SECONDS=30

log() { echo "sqs-server: $*" >&2; }

running_pid() {
    # Prints the pid of the server we started when it is still alive.
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # A recycled pid of an unrelated process is not ours.
    ps -o args= -p "$pid" 2>/dev/null | grep -q moto_server || return 1
    echo "$pid"
}

ensure_moto() {
    if [[ -x "$VENV/bin/moto_server" ]]; then
        return 0
    fi
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        log "cannot find $PYTHON; install Python 3 (with the venv module) or set PYTHON=/path/to/python3"
        exit 1
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating $VENV"
        "$PYTHON" -m venv "$VENV" || {
            log "python3 -m venv failed; on Debian install python3-venv (apt-get install python3-venv)"
            exit 1
        }
    fi
    log "installing $MOTO_SPEC into $VENV (first run only)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$MOTO_SPEC" >&2 || {
        log "pip could not install $MOTO_SPEC; check access to PyPI, or set MOTO_SPEC"
        exit 1
    }
    [[ -x "$VENV/bin/moto_server" ]] || {
        log "moto was installed but $VENV/bin/moto_server is missing; remove $VENV and retry"
        exit 1
    }
}

free_port() {
    "$VENV/bin/python" - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

is_ready() {
    # moto answers its own dashboard API once it serves requests.
    "$VENV/bin/python" - "$1" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/data.json", timeout=1).read()
EOF
}

endpoint() {
    sed -n 's/^CONNECT_SQS_ENDPOINT=//p' "$ENV_FILE" 2>/dev/null || true
}

start() {
    mkdir -p "$STATE_DIR"
    if pid="$(running_pid)"; then
        log "already running (pid $pid) at $(endpoint)"
        cat "$ENV_FILE"
        return 0
    fi
    rm -f "$PID_FILE" "$ENV_FILE"
    ensure_moto
    local port="${SQS_PORT:-}"
    [[ -n "$port" ]] || port="$(free_port)"
    log "starting moto on 127.0.0.1:$port (log: $LOG_FILE)"
    # setsid: the server outlives this script and gets its own process group,
    # so stopping it never touches the caller.
    local detach=()
    command -v setsid >/dev/null 2>&1 && detach=(setsid)
    "${detach[@]}" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$LOG_FILE" 2>&1 < /dev/null 9>&- &
    local pid=$!
    echo "$pid" >"$PID_FILE"
    local waited=0
    until is_ready "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "moto exited during start-up; its log says:"
            tail -n 20 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            exit 1
        fi
        if (( waited >= READY_TIMEOUT_SECONDS * 10 )); then
            log "moto did not answer within ${READY_TIMEOUT_SECONDS}s; stopping it (log: $LOG_FILE)"
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            exit 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "CONNECT_SQS_ENDPOINT=http://127.0.0.1:$port" >"$ENV_FILE"
    log "ready (pid $pid) at http://127.0.0.1:$port"
    cat "$ENV_FILE"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        log "not running"
        rm -f "$PID_FILE" "$ENV_FILE"
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    local waited=0
    while kill -0 "$pid" 2>/dev/null; do
        if (( waited >= 50 )); then
            log "pid $pid did not stop after 5s; sending SIGKILL"
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    rm -f "$PID_FILE" "$ENV_FILE"
    log "stopped (pid $pid)"
}

with_lock() {
    # Serializes start/stop of concurrent callers (e.g. parallel CI steps).
    mkdir -p "$STATE_DIR"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$STATE_DIR/sqs-server.lock"
        flock -w 120 9 || { log "another sqs-server.sh holds $STATE_DIR/sqs-server.lock"; exit 1; }
    fi
    "$@"
}

case "${1:-}" in
    start) with_lock start ;;
    stop) with_lock stop ;;
    env)
        if running_pid >/dev/null && [[ -f "$ENV_FILE" ]]; then
            echo "export CONNECT_SQS_ENDPOINT=$(endpoint)"
        else
            log "not running; run: scripts/sqs-server.sh start"
            exit 1
        fi
        ;;
    status)
        if pid="$(running_pid)"; then
            echo "running (pid $pid) at $(endpoint)"
        else
            echo "not running"
            exit 1
        fi
        ;;
    *)
        echo "usage: $0 start|stop|env|status" >&2
        exit 2
        ;;
esac
