//! The `connect` command line as a library, so that partners who link their
//! own handlers ship the whole command with one call:
//!
//! ```no_run
//! // src/main.rs of a partner's connector
//! // use my_handlers as _; // link the crate that holds your #[handler]s
//! fn main() -> std::process::ExitCode {
//!     connect_cli::main()
//! }
//! ```
//!
//! Through the facade this is `connect_sdk::cli::main()` (feature `cli`,
//! on by default).
//!
//! Modules:
//!
//! - `command`: parsing (`clap`) and the subcommands `run`, `validate`,
//!   `handlers`, `backfill customers`, `dead-letters list|replay`; exit
//!   codes ([`EXIT_OK`], ...).
//! - `logging`: log output (`tracing-subscriber`): [`init_logging`],
//!   [`log_subscriber`], [`LogFormat`].
//! - `progress`: the backfill progress bar (`indicatif` on a terminal,
//!   plain lines otherwise).
//!
//! Queues and dead letters of `type: sqs` need the `sqs` feature (on by
//! default; the `connect` binary always has it).

mod command;
mod logging;
mod progress;

pub use command::{EXIT_CONFIG, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, main};
pub use logging::{LogFormat, init as init_logging, subscriber as log_subscriber};
