//! `connect`: run, validate, backfill and operate a commercetools → Fluent
//! OMS connector. See `connect --help` and docs/operations.md.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    connect_runner::cli::main()
}
