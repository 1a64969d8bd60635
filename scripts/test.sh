#!/usr/bin/env bash
# Runs the whole test suite, on a fresh machine too:
#   1. installs a local SQS server (moto, into ./.venv) if it is missing,
#   2. starts it on 127.0.0.1 and points the SQS tests at it,
#   3. runs every test of the workspace, including the ones that need the
#      server (they are #[ignore]d in a plain `cargo test`),
#   4. stops the server it started, by pid, whatever happened.
# Arguments select what to test instead of the whole workspace (with the
# facade's `testkit` feature), e.g. `scripts/test.sh -p connect-sqs`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/sqs-server.sh start
trap 'scripts/sqs-server.sh stop' EXIT
set -a
# shellcheck disable=SC1091
. target/sqs-server.env
set +a

if [ "$#" -eq 0 ]; then
    # The facade's `testkit` feature runs the doctests of docs/extending.md
    # ("Test your handler") and of `connect_sdk::testkit::Harness`.
    set -- --workspace --features connect-sdk/testkit
fi
cargo test --locked "$@" -- --include-ignored
