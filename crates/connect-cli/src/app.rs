//! [`App`]: the `connect` command with a partner's shared services and
//! extra subcommands; [`Context`]: what a subcommand builds connectors with.
#![allow(clippy::print_stderr)]

use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Subcommand};
use connect_core::Services;
use connect_core::config::ConfigDocument;
use connect_runner::{Connector, ConnectorBuilder, Plan, Registries, RunnerError};

use crate::command::{self, Cli, ConfigArg, EXIT_CONFIG, EXIT_FAILURE, Global};
use crate::logging;

/// What a partner's subcommand returns: an exit code, or an error printed
/// as the builtin subcommands print theirs (exit code 2 when it is the
/// user's to fix, else 1).
pub type CommandResult = Result<u8, RunnerError>;

type LocalFuture = Pin<Box<dyn Future<Output = CommandResult>>>;

/// Runs a partner's subcommand when the parsed one is its: `None` when it
/// is not, a clap error when its arguments do not parse.
type Run = Box<dyn Fn(&ArgMatches, Context) -> Option<Result<LocalFuture, clap::Error>>>;

struct Extension {
    augment: fn(clap::Command) -> clap::Command,
    run: Run,
}

/// The `connect` command with a partner's shared services and subcommands:
///
/// ```no_run
/// use clap::Subcommand;
/// use connect_cli::{App, ConfigArg, Context, EXIT_OK};
///
/// #[derive(Debug, Subcommand)]
/// enum Loyalty {
///     /// Recompute the points of every order.
///     Recompute {
///         #[command(flatten)]
///         config: ConfigArg,
///     },
/// }
///
/// # #[derive(Debug)] struct PointsClient;
/// fn main() -> std::process::ExitCode {
///     App::new()
///         .service(PointsClient) // handlers get it: ctx.service::<PointsClient>()
///         .subcommand::<Loyalty, _, _>(|command, ctx: Context| async move {
///             let Loyalty::Recompute { config } = command;
///             let connector = ctx.connector(&config)?.build().await?;
///             println!("{} routes", connector.config().routes.len());
///             Ok(EXIT_OK)
///         })
///         .main()
/// }
/// ```
///
/// The services reach every handler of `run`, `backfill`, `dead-letters
/// replay` and `validate` (and win over the clients built from the file).
/// [`main`](crate::main) is `App::new().main()`.
#[derive(Default)]
pub struct App {
    services: Services,
    extensions: Vec<Extension>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("services", &self.services)
            .field("subcommands", &self.extensions.len())
            .finish()
    }
}

impl App {
    /// The builtin command, with no extra service or subcommand.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a shared service that handlers get with
    /// `ctx.service::<T>()` / `setup.service::<T>()`.
    #[must_use]
    pub fn service<T: Send + Sync + 'static>(mut self, service: T) -> Self {
        self.services.insert(service);
        self
    }

    /// Adds a shared service the caller keeps a handle on.
    #[must_use]
    pub fn service_arc<T: Send + Sync + 'static>(mut self, service: Arc<T>) -> Self {
        self.services.insert_arc(service);
        self
    }

    /// Adds the subcommands of `C` (a `#[derive(clap::Subcommand)]` enum),
    /// run by `run` with the parsed subcommand and a [`Context`]. A name
    /// the builtin command has stays the builtin's.
    #[must_use]
    pub fn subcommand<C, F, Fut>(mut self, run: F) -> Self
    where
        C: Subcommand + 'static,
        F: Fn(C, Context) -> Fut + 'static,
        Fut: Future<Output = CommandResult> + 'static,
    {
        self.extensions.push(Extension {
            augment: C::augment_subcommands,
            run: Box::new(move |matches, ctx| {
                let (name, _) = matches.subcommand()?;
                if !C::has_subcommand(name) || Cli::has_builtin(name) {
                    return None;
                }
                Some(
                    C::from_arg_matches(matches)
                        .map(|command| Box::pin(run(command, ctx)) as LocalFuture),
                )
            }),
        });
        self
    }

    /// The whole command line, builtin and partner subcommands.
    pub fn command(&self) -> clap::Command {
        self.extensions
            .iter()
            .fold(Cli::command(), |command, extension| {
                (extension.augment)(command)
            })
    }

    /// Parses the process's arguments and runs the subcommand; returns the
    /// process exit code.
    pub fn main(self) -> ExitCode {
        ExitCode::from(self.run_from(std::env::args_os()))
    }

    /// Parses `args` (the first is the program name) and runs the
    /// subcommand; returns the exit code (for tests and wrappers).
    pub fn run_from<I, T>(self, args: I) -> u8
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = match self.command().try_get_matches_from(args) {
            Ok(matches) => matches,
            Err(error) => {
                // Help and version are printed to stdout with code 0.
                let code = error.exit_code();
                let _ = error.print();
                return u8::try_from(code).unwrap_or(EXIT_CONFIG);
            }
        };
        let global = match Global::from_arg_matches(&matches) {
            Ok(global) => global,
            Err(error) => {
                let _ = error.print();
                return EXIT_CONFIG;
            }
        };
        if let Err(message) = logging::init_once(global.log.as_deref(), global.log_format) {
            eprintln!("error: {message}");
            return EXIT_CONFIG;
        }
        let mut builder = match global.worker_threads {
            0 | 1 => tokio::runtime::Builder::new_current_thread(),
            threads => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(threads);
                builder
            }
        };
        let runtime = match builder.enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("error: cannot start the async runtime: {error}");
                return EXIT_FAILURE;
            }
        };
        let ctx = Context {
            services: self.services,
        };
        for extension in &self.extensions {
            match (extension.run)(&matches, ctx.clone()) {
                None => {}
                Some(Ok(future)) => return command::report(runtime.block_on(future)),
                Some(Err(error)) => {
                    let _ = error.print();
                    return EXIT_CONFIG;
                }
            }
        }
        match Cli::from_arg_matches(&matches) {
            Ok(cli) => runtime.block_on(command::dispatch(cli, &ctx)),
            Err(error) => {
                let _ = error.print();
                EXIT_CONFIG
            }
        }
    }
}

/// What a subcommand builds connectors with: the [`App`]'s shared services
/// and every handler, sync and configuration block linked into the binary.
#[derive(Debug, Clone, Default)]
pub struct Context {
    services: Services,
}

impl Context {
    /// A context with these shared services.
    pub fn new(services: Services) -> Self {
        Self { services }
    }

    /// The shared services the [`App`] was given.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Reads the file `--config` names.
    pub fn document(&self, config: &ConfigArg) -> Result<ConfigDocument, RunnerError> {
        command::document(config)
    }

    /// A builder of the connector the file describes, with the shared
    /// services: `ctx.connector(&config)?.build().await?`.
    pub fn connector(&self, config: &ConfigArg) -> Result<ConnectorBuilder, RunnerError> {
        Ok(Connector::builder(self.document(config)?).services(self.services.clone()))
    }

    /// The checked file (every block, route and handler) with the shared
    /// services, connecting to nothing: what `connect validate` checks.
    pub fn plan(&self, config: &ConfigArg) -> Result<Plan, RunnerError> {
        Plan::with_registries(
            self.document(config)?,
            &Registries::linked(),
            self.services.clone(),
        )
    }
}
