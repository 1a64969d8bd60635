#!/usr/bin/env bash
# Measures the `connect` process while it syncs customers from the local SQS
# server into the emulators: CPU milliseconds per customer, idle and peak
# resident memory, SQS calls per customer (crates/connect-cli/benches/process.rs).
#   1. builds the release binary as users get it (`cargo build --release`),
#   2. starts the local SQS server (as scripts/test.sh does) and stops it after,
#   3. runs the measurement once per log level given (default: info warn).
# Environment: CONNECT_PROCESS_CUSTOMERS (default 1000), CONNECT_WORKER_THREADS,
# CONNECT_PROCESS_PERF=FILE (records `perf record -g` of the load).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p connect-cli
scripts/sqs-server.sh start
trap 'scripts/sqs-server.sh stop' EXIT
set -a
# shellcheck disable=SC1091
. target/sqs-server.env
set +a
export CONNECT_BINARY="$PWD/target/release/connect"
levels=("$@")
if [ "${#levels[@]}" -eq 0 ]; then
    levels=(info warn)
fi
for level in "${levels[@]}"; do
    CONNECT_PROCESS_LOG="$level" cargo bench --locked -p connect-cli --bench process 2>/dev/null \
        | grep '^connect process'
done
