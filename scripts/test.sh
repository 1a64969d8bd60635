#!/usr/bin/env bash
# Runs the whole test suite, on a fresh machine too:
#   1. installs a local SQS server (moto, into ./.venv) if it is missing,
#   2. starts it on 127.0.0.1 and points the SQS tests at it,
#   3. runs every test of the workspace, including the ones that need the
#      server (they are #[ignore]d in a plain `cargo test`),
#   4. builds and tests tests/partner-crate (the README's handler example,
#      depending on connect-sdk as a partner crate would, proved by the
#      conformance kit), and builds and tests
#      tests/partner-connector (a partner's whole connector: its own sync,
#      configuration block, dead-letter backend, subcommand and binary).
#      Both are crates outside the workspace, with their own committed
#      Cargo.lock (--locked: a stale one fails; refresh it with
#      `cargo update --workspace --offline --manifest-path ...`); they share
#      the workspace's target directory and dev profile, so the
#      dependencies are not built twice,
#   5. stops the server it started, by pid, whatever happened.
# The whole workspace is tested with the facade's `testkit` feature, which
# runs the doctests of docs/extending.md ("Test your handler"). Arguments
# select what to test instead (e.g. `scripts/test.sh -p connect-sqs`);
# step 4 then is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/sqs-server.sh start
trap 'scripts/sqs-server.sh stop' EXIT
set -a
# shellcheck disable=SC1091
. target/sqs-server.env
set +a

whole_suite=false
if [ "$#" -eq 0 ]; then
    whole_suite=true
    set -- --workspace --features connect-sdk/testkit
fi
cargo test --locked "$@" -- --include-ignored

if [ "$whole_suite" = true ]; then
    CARGO_TARGET_DIR="$PWD/target" \
        cargo test --locked --manifest-path tests/partner-crate/Cargo.toml
    CARGO_TARGET_DIR="$PWD/target" \
        cargo test --locked --manifest-path tests/partner-connector/Cargo.toml
fi
