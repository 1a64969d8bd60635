//! `connect`: run, validate, backfill and operate a commercetools → Fluent
//! OMS connector. See `connect --help` and docs/operations.md.

fn main() -> std::process::ExitCode {
    connect_cli::main()
}
