//! The `connect` command line: parsing and the subcommands.
//!
//! Exit codes: `0` success (for `run`, also a stop by SIGINT/SIGTERM);
//! `1` failure while running (a service or queue cannot be reached); `2`
//! invalid command line, configuration or credentials (the message says what
//! to fix); `3` finished, but some items failed (see the dead-letter store);
//! `130` a backfill or replay interrupted by a signal before it finished (the
//! summary says where to resume).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use connect_core::config::ConfigDocument;
use connect_core::dead_letter::{DeadLetter, FailureKind};
use connect_core::runtime::Shutdown;
use connect_core::{HandlerRegistry, Services};

use connect_runner::{BackfillOptions, BackfillSummary, Connector, Plan, RunnerError};

use crate::logging::{self, LogFormat};
use crate::progress::Progress;

/// Success.
pub const EXIT_OK: u8 = 0;
/// A failure while running.
pub const EXIT_FAILURE: u8 = 1;
/// An invalid command line or configuration.
pub const EXIT_CONFIG: u8 = 2;
/// Finished, but some items failed.
pub const EXIT_PARTIAL: u8 = 3;
/// A backfill or replay stopped by a signal before it finished.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "connect",
    version,
    about = "Run and operate a commercetools → Fluent OMS connector",
    after_help = "Exit codes: 0 success, 1 failure while running, 2 invalid command line, configuration or credentials, 3 finished with failed items, 130 backfill or replay interrupted by a signal.\nSignals: the first SIGINT/SIGTERM stops intake and finishes or returns in-flight work within runtime.shutdown-timeout; a second one returns everything to its queue at once.\nDocs: docs/operations.md and docs/configuration.md."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log filter, e.g. `info` or `connect_core=debug,info` (default: $RUST_LOG, else `info`).
    #[arg(long, global = true, env = "CONNECT_LOG")]
    log: Option<String>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "CONNECT_LOG_FORMAT")]
    log_format: LogFormat,
    /// Threads that run handlers. The default, 1, runs everything on one
    /// thread: the connector waits on the network far more than it computes,
    /// and one thread costs less CPU and memory per message (see README
    /// "Performance"). More helps handlers that compute a lot.
    #[arg(
        long,
        global = true,
        env = "CONNECT_WORKER_THREADS",
        value_name = "N",
        default_value_t = 1
    )]
    worker_threads: usize,
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// The connector's YAML configuration file.
    #[arg(long, short, env = "CONNECT_CONFIG", value_name = "FILE")]
    config: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the connector until SIGINT or SIGTERM, then finish in-flight messages and stop.
    Run(ConfigArg),
    /// Check a configuration file (syntax, unknown keys, environment variables, handler names) without connecting to anything.
    Validate(ConfigArg),
    /// List the registered handler names routes can use.
    Handlers,
    /// Push existing data through the connector.
    #[command(subcommand)]
    Backfill(Backfill),
    /// Show and replay messages that failed for good.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLetters),
}

#[derive(Debug, Subcommand)]
enum Backfill {
    /// Stream every commercetools customer through the customer route (initial load, recovery).
    Customers {
        #[command(flatten)]
        config: ConfigArg,
        /// Only customers matching this commercetools predicate, e.g. 'lastModifiedAt > "2024-01-01T00:00:00.000Z"'.
        #[arg(long = "where", value_name = "PREDICATE")]
        predicate: Option<String>,
        /// Start after this customer id: the cursor an interrupted backfill printed.
        #[arg(long, value_name = "ID")]
        after: Option<String>,
        /// Customers per commercetools page (1 to 500).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=500))]
        page_size: u32,
    },
}

#[derive(Debug, Subcommand)]
enum DeadLetters {
    /// List the dead letters.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Print one JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters back to the event queue and remove them from the store.
    Replay {
        #[command(flatten)]
        config: ConfigArg,
        /// Replay this dead letter (repeatable).
        #[arg(long = "id", value_name = "ID")]
        ids: Vec<String>,
        /// Replay every dead letter of this kind.
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        /// Replay every dead letter.
        #[arg(long, conflicts_with_all = ["ids", "kind"])]
        all: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    Unprocessable,
    AttemptsExhausted,
    Panic,
    Unroutable,
    Unparseable,
}

impl Kind {
    fn matches(self, kind: FailureKind) -> bool {
        matches!(
            (self, kind),
            (Self::Unprocessable, FailureKind::Unprocessable)
                | (Self::AttemptsExhausted, FailureKind::AttemptsExhausted)
                | (Self::Panic, FailureKind::Panic)
                | (Self::Unroutable, FailureKind::Unroutable)
                | (Self::Unparseable, FailureKind::Unparseable)
        )
    }
}

/// Parses the command line and runs it; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(message) = logging::init(cli.log.as_deref(), cli.log_format) {
        eprintln!("error: {message}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let mut builder = match cli.worker_threads {
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
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let code = runtime.block_on(dispatch(cli.command));
    ExitCode::from(code)
}

async fn dispatch(command: Command) -> u8 {
    let result = match command {
        Command::Run(args) => run(&args).await,
        Command::Validate(args) => validate(&args).await,
        Command::Handlers => {
            handlers();
            Ok(EXIT_OK)
        }
        Command::Backfill(Backfill::Customers {
            config,
            predicate,
            after,
            page_size,
        }) => backfill(&config, predicate, after, page_size).await,
        Command::DeadLetters(DeadLetters::List { config, json }) => {
            list_dead_letters(&config, json).await
        }
        Command::DeadLetters(DeadLetters::Replay {
            config,
            ids,
            kind,
            all,
        }) => replay(&config, ids, kind, all).await,
    };
    match result {
        Ok(code) => code,
        Err(RunnerError::Interrupted {
            origin,
            summary,
            cause,
        }) => {
            print_backfill(&summary, &origin);
            eprintln!("error: the backfill stopped: {cause}");
            EXIT_FAILURE
        }
        Err(error) => {
            eprintln!("error: {error}");
            if error.is_configuration() {
                EXIT_CONFIG
            } else {
                EXIT_FAILURE
            }
        }
    }
}

fn document(args: &ConfigArg) -> Result<ConfigDocument, RunnerError> {
    Ok(ConfigDocument::from_file(&args.config)?)
}

async fn run(args: &ConfigArg) -> Result<u8, RunnerError> {
    // Listen for signals before connecting to anything: a signal during
    // startup stops the connector cleanly too.
    let shutdown = Shutdown::on_signals();
    let connector = Connector::builder(document(args)?).build().await?;
    connector.check().await?;
    let endpoint = connector.serve_observability().await?;
    if connector.config().ct_queue.kind == "in-memory" {
        tracing::warn!(
            "listeners.ct-queue is in-memory: nothing outside this process can deliver to it; use `type: sqs` to receive commercetools subscriptions"
        );
    }
    let report = connector.run(shutdown).await;
    if let Some(endpoint) = endpoint {
        endpoint.shutdown().await;
    }
    let m = &report.runtime.metrics;
    println!(
        "stopped: {} received, {} succeeded, {} filtered, {} coalesced, {} retried, {} dead-lettered ({} malformed payloads); {} returned to their queue ({} interrupted while being handled)",
        report.listener.metrics.received,
        m.succeeded,
        m.filtered,
        m.coalesced,
        m.retried,
        m.dead_lettered,
        report.listener.metrics.dead_lettered,
        report.runtime.returned + report.runtime.interrupted,
        report.runtime.interrupted,
    );
    Ok(EXIT_OK)
}

async fn validate(args: &ConfigArg) -> Result<u8, RunnerError> {
    let plan = Plan::new(document(args)?, &HandlerRegistry::linked(), Services::new())?;
    plan.check_dead_letter_store().await?;
    let config = plan.config();
    println!(
        "{} is valid: connector `{}`",
        args.config.display(),
        config.connector_name
    );
    for route in &config.routes {
        let filter = route
            .inclusion_filter
            .as_ref()
            .map_or_else(|| "every event type".to_owned(), |f| f.join(", "));
        println!(
            "  route {} → handler {} ({filter})",
            route.route, route.handler
        );
    }
    for (type_id, route) in plan.translator().route_mapping() {
        println!("  {type_id} payloads → {route}");
    }
    if let Some(observability) = plan.observability() {
        println!(
            "  observability: /metrics, /health and /ready on {}",
            observability.listen
        );
    }
    println!(
        "  ct-queue: {}, event-queue: {}, dead letters: {}, concurrency {}, max attempts {}",
        config.ct_queue.kind,
        config.event_queue.kind,
        config.runtime.dead_letter.kind,
        config.runtime.concurrency,
        config.runtime.max_attempts
    );
    Ok(EXIT_OK)
}

fn handlers() {
    let registry = HandlerRegistry::linked();
    let entries = registry.entries();
    if entries.is_empty() {
        println!(
            "no handlers are registered; link the crates that define them (`use that_crate as _;`)"
        );
        return;
    }
    let width = entries
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:width$}  PRIORITY  TYPE", "NAME");
    for entry in entries {
        let overrides = if entry.overridden > 0 {
            format!(" (overrides {})", entry.overridden)
        } else {
            String::new()
        };
        println!(
            "{:width$}  {:>8}  {}{overrides}",
            entry.name, entry.priority, entry.type_name
        );
    }
}

async fn backfill(
    args: &ConfigArg,
    predicate: Option<String>,
    after: Option<String>,
    page_size: u32,
) -> Result<u8, RunnerError> {
    let shutdown = Shutdown::on_signals();
    let connector = Connector::builder(document(args)?).build().await?;
    connector.check().await?;
    let endpoint = connector.serve_observability().await?;
    let options = BackfillOptions {
        predicate,
        after,
        page_size,
        ..BackfillOptions::default()
    };
    let mut bar = Progress::new("backfill", std::io::stderr().is_terminal());
    let summary = connector
        .backfill_customers(options, shutdown, |progress| bar.update(progress))
        .await;
    bar.finish();
    if let Some(endpoint) = endpoint {
        endpoint.shutdown().await;
    }
    let summary = summary?;
    let origin = args.config.display().to_string();
    print_backfill(&summary, &origin);
    if summary.interrupted {
        return Ok(EXIT_INTERRUPTED);
    }
    if summary.failed > 0 {
        println!(
            "failed customers are in the dead-letter store: `connect dead-letters list --config {origin}`"
        );
        return Ok(EXIT_PARTIAL);
    }
    Ok(EXIT_OK)
}

fn print_backfill(summary: &BackfillSummary, config: &str) {
    let verb = if summary.interrupted {
        "interrupted after"
    } else {
        "finished in"
    };
    println!(
        "backfill {verb} {:.1}s ({:.0} customers/s)",
        summary.elapsed.as_secs_f64(),
        summary.rate()
    );
    println!("  scanned    {:>8}", summary.scanned);
    println!("  created    {:>8}", summary.created);
    println!("  updated    {:>8}", summary.updated);
    println!("  unchanged  {:>8}", summary.unchanged);
    for (label, count) in &summary.outcomes {
        if !["created", "updated", "unchanged"].contains(&label.as_str()) {
            println!("  {label:<10} {count:>8}");
        }
    }
    println!("  failed     {:>8}", summary.failed);
    if summary.interrupted {
        println!("  unfinished {:>8}", summary.unfinished);
        match &summary.resume_after {
            Some(id) => {
                println!("resume with: connect backfill customers --config {config} --after {id}");
            }
            None => {
                println!(
                    "no customer was completed in order: run the same backfill again to resume"
                );
            }
        }
    }
}

async fn list_dead_letters(args: &ConfigArg, json: bool) -> Result<u8, RunnerError> {
    let doc = document(args)?;
    let plan = Plan::new(doc, &HandlerRegistry::linked(), Services::new())?;
    let store = plan.open_dead_letters().await?;
    let letters = store.list().await?;
    if json {
        for letter in &letters {
            match serde_json::to_string(letter) {
                Ok(line) => println!("{line}"),
                Err(error) => eprintln!("error: cannot encode dead letter {}: {error}", letter.id),
            }
        }
        return Ok(EXIT_OK);
    }
    if letters.is_empty() {
        println!("no dead letters");
        return Ok(EXIT_OK);
    }
    println!(
        "{:<36}  {:<18}  {:<8}  {:<36}  {:<20}  ERROR",
        "ID", "KIND", "ATTEMPTS", "RESOURCE", "WHEN"
    );
    for letter in &letters {
        println!(
            "{:<36}  {:<18}  {:>8}  {:<36}  {:<20}  {}",
            letter.id,
            letter.kind.as_str(),
            letter.attempts,
            resource_of(letter),
            letter.dead_lettered_at.format("%Y-%m-%d %H:%M:%S"),
            one_line(&letter.error, 100)
        );
    }
    println!(
        "{} dead letter(s); replay with `connect dead-letters replay --config {} --all`",
        letters.len(),
        args.config.display()
    );
    Ok(EXIT_OK)
}

fn resource_of(letter: &DeadLetter) -> String {
    letter
        .message
        .as_ref()
        .and_then(|m| m.resource.as_ref())
        .map_or_else(|| "-".to_owned(), |r| format!("{}/{}", r.type_id, r.id))
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    if flat.chars().count() > max {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

async fn replay(
    args: &ConfigArg,
    ids: Vec<String>,
    kind: Option<Kind>,
    all: bool,
) -> Result<u8, RunnerError> {
    if !all && ids.is_empty() && kind.is_none() {
        eprintln!("error: choose what to replay: --all, --id ID (repeatable) or --kind KIND");
        return Ok(EXIT_CONFIG);
    }
    let shutdown = Shutdown::on_signals();
    let connector = Connector::builder(document(args)?).build().await?;
    connector.check().await?;
    let connector_handled = connector.is_end_to_end();
    if connector_handled {
        println!("the event queue is in-memory: handling the replayed messages here");
    } else {
        println!("sending the dead letters to the event queue");
    }
    let interrupted_by_signal = shutdown.clone();
    let report = connector
        .replay_dead_letters(
            |letter| {
                all || ids.contains(&letter.id) || kind.is_some_and(|k| k.matches(letter.kind))
            },
            shutdown,
        )
        .await?;
    println!(
        "replayed {} dead letter(s); {} ignored; {} kept",
        report.replayed,
        report.ignored,
        report.failed.len() + report.interrupted
    );
    for (id, why) in &report.failed {
        println!("  kept {id}: {why}");
    }
    if connector_handled {
        println!(
            "  {} succeeded, {} dead-lettered again",
            report.replayed - report.failed_again,
            report.failed_again
        );
    }
    if report.interrupted > 0 && interrupted_by_signal.is_triggered() {
        println!(
            "interrupted: {} dead letter(s) not replayed are still in the store",
            report.interrupted
        );
        return Ok(EXIT_INTERRUPTED);
    }
    Ok(
        if report.failed.is_empty() && report.interrupted == 0 && report.failed_again == 0 {
            EXIT_OK
        } else {
            EXIT_PARTIAL
        },
    )
}
