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
//! on by default). [`App`] adds the partner's shared services (handed to
//! handlers) and subcommands of its own:
//!
//! ```no_run
//! # #[derive(Debug)] struct MyClient;
//! # #[derive(Debug, clap::Subcommand)] enum MyCommands { Hello }
//! fn main() -> std::process::ExitCode {
//!     connect_cli::App::new()
//!         .service(MyClient)
//!         .subcommand::<MyCommands, _, _>(|_command, _ctx| async move { Ok(connect_cli::EXIT_OK) })
//!         .main()
//! }
//! ```
//!
//! Modules:
//!
//! - `command`: parsing (`clap`) and the subcommands `run`, `validate`,
//!   `handlers`, `backfill <resource>`, `dead-letters list|replay`, `jobs`,
//!   `job run|reset <name>` (in `jobs`); exit
//!   codes ([`EXIT_OK`], ...).
//! - `app`: [`App`] (the command with a partner's services and
//!   subcommands) and [`Context`].
//! - `logging`: log output (`tracing-subscriber`): [`init_logging`],
//!   [`log_subscriber`], [`LogFormat`].
//! - `progress`: the backfill progress bar (`indicatif` on a terminal,
//!   plain lines otherwise).
//!
//! Queues and dead letters of `type: sqs` need the `sqs` feature (on by
//! default; the `connect` binary always has it).

mod app;
mod command;
mod drift;
mod jobs;
mod logging;
mod progress;

pub use app::{App, CommandResult, Context};
/// clap, whose `Subcommand` derive a partner's subcommands use.
pub use clap;
pub use command::{
    ConfigArg, EXIT_BUSY, EXIT_CONFIG, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, main,
};
pub use drift::EXIT_DRIFT;
pub use logging::{LogFormat, init as init_logging, subscriber as log_subscriber};
