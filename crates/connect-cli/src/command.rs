//! The `connect` command line: parsing and the subcommands.
//!
//! Exit codes: `0` success (for `run`, also a stop by SIGINT/SIGTERM);
//! `1` failure while running (a service or queue cannot be reached); `2`
//! invalid command line, configuration or credentials (the message says what
//! to fix); `3` finished, but some items failed (see the dead-letter store);
//! `5` a job's lease is held by another run (`connect job run`); `130` a
//! backfill, replay or job run interrupted by a signal before it finished
//! (the summary says where to resume).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use connect_core::config::ConfigDocument;
use connect_core::dead_letter::{DeadLetter, FailureKind};
use connect_core::runtime::Shutdown;
use connect_core::{ConfigSections, HandlerRegistry};

use connect_runner::sync::{SyncRegistry, outcome};
use connect_runner::{BackfillOptions, BackfillSummary, Checkpoints, RunnerError};

use crate::app::{App, Context};
use crate::logging::LogFormat;
use crate::progress::Progress;

/// Success.
pub const EXIT_OK: u8 = 0;
/// A failure while running.
pub const EXIT_FAILURE: u8 = 1;
/// An invalid command line or configuration.
pub const EXIT_CONFIG: u8 = 2;
/// Finished, but some items failed.
pub const EXIT_PARTIAL: u8 = 3;
/// A job could not run: another run holds its lease.
pub const EXIT_BUSY: u8 = 5;
/// A backfill, replay or job run stopped by a signal before it finished.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "connect",
    subcommand_required = true,
    arg_required_else_help = true,
    version,
    about = "Run and operate a commercetools → Fluent OMS connector",
    after_help = "Exit codes: 0 success, 1 failure while running, 2 invalid command line, configuration or credentials, 3 finished with failed items, 4 drift found and not fixed, 5 a job's lease is held by another run, 130 backfill, replay or job run interrupted by a signal.\nSignals: the first SIGINT/SIGTERM stops intake and finishes or returns in-flight work within runtime.shutdown-timeout; a second one returns everything to its queue at once.\nDocs: docs/operations.md and docs/configuration.md."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    pub(crate) global: Global,
}

impl Cli {
    /// `true` when `name` is a builtin subcommand.
    pub(crate) fn has_builtin(name: &str) -> bool {
        <Command as Subcommand>::has_subcommand(name)
    }
}

/// The options every subcommand takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Log filter, e.g. `info` or `connect_core=debug,info` (default: $RUST_LOG, else `info`).
    #[arg(long, global = true, env = "CONNECT_LOG")]
    pub(crate) log: Option<String>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "CONNECT_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
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
    pub(crate) worker_threads: usize,
}

/// `--config FILE` (or `$CONNECT_CONFIG`): flatten it into a partner's
/// subcommand (`#[command(flatten)] config: ConfigArg`) to read the file the
/// way the builtin subcommands do, then build with
/// [`Context::connector`](crate::Context::connector).
#[derive(Debug, Clone, Args)]
pub struct ConfigArg {
    /// The connector's YAML configuration file.
    #[arg(long, short, env = "CONNECT_CONFIG", value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the connector until SIGINT or SIGTERM, then finish in-flight messages and stop.
    Run(ConfigArg),
    /// Check a configuration file (syntax, unknown keys, environment variables, handler names) without connecting to anything.
    Validate(ConfigArg),
    /// List the registered handlers, syncs (with their scans) and configuration blocks.
    Handlers,
    /// Stream every commercetools resource of one type through its route (initial load, recovery).
    Backfill(Backfill),
    /// Compare commercetools with Fluent under the route's mapping: missing, differing, stale and only-in-Fluent resources (exit 4 when any); --fix sends the drifted ones through their route.
    Drift(crate::drift::Drift),
    /// Show and replay messages that failed for good.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLetters),
    /// List the jobs: schedule, last run and its outcome, next run, checkpoint.
    Jobs(crate::jobs::JobsArgs),
    /// Run a job now, or set its checkpoint.
    #[command(subcommand)]
    Job(crate::jobs::JobCommand),
}

#[derive(Debug, Args)]
struct Backfill {
    /// The resources: the plural (or type id) of a registered sync, e.g. `categories`; `connect handlers` lists them.
    #[arg(value_name = "RESOURCE", value_parser = resources())]
    resource: String,
    #[command(flatten)]
    config: ConfigArg,
    /// Only resources matching this commercetools predicate, e.g. 'lastModifiedAt > "2024-01-01T00:00:00.000Z"'.
    #[arg(long = "where", value_name = "PREDICATE")]
    predicate: Option<String>,
    /// Start after this resource id: the cursor an interrupted backfill printed.
    #[arg(long, value_name = "ID", conflicts_with = "resume")]
    after: Option<String>,
    /// Continue the last backfill of these resources that did not finish (however it ended, SIGKILL included), from its checkpoint in the state store.
    #[arg(long, conflicts_with = "restart")]
    resume: bool,
    /// Discard the checkpoint of an unfinished backfill and start from the beginning.
    #[arg(long)]
    restart: bool,
    /// Resources per commercetools page (1 to 500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=500))]
    page_size: u32,
    /// Write nothing: report what would be created, updated (field by field, old → new) or left unchanged. Reads and writes no checkpoint.
    #[arg(long, conflicts_with_all = ["resume", "restart"])]
    dry_run: bool,
    /// With --dry-run: print one JSON object per line instead of text.
    #[arg(long, requires = "dry_run")]
    json: bool,
}

/// The registered syncs' plurals, each with its type id as an alias: an
/// unknown name is refused by clap with the list (exit code 2).
pub(crate) fn resources() -> PossibleValuesParser {
    let values: Vec<PossibleValue> = SyncRegistry::linked()
        .syncs()
        .iter()
        .map(|sync| {
            PossibleValue::new(sync.plural)
                .alias(sync.type_id)
                .help(format!("{} through {}", sync.type_id, sync.route))
        })
        .collect();
    PossibleValuesParser::new(values)
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
/// [`App`] adds a partner's services and subcommands.
pub fn main() -> ExitCode {
    App::new().main()
}

/// Runs a builtin subcommand.
pub(crate) async fn dispatch(cli: Cli, ctx: &Context) -> u8 {
    let Some(command) = cli.command else {
        eprintln!("error: choose a subcommand; see `connect --help`");
        return EXIT_CONFIG;
    };
    let result = match command {
        Command::Run(args) => run(&args, ctx).await,
        Command::Validate(args) => validate(&args, ctx).await,
        Command::Handlers => {
            handlers();
            Ok(EXIT_OK)
        }
        Command::Backfill(args) => backfill(args, ctx).await,
        Command::Drift(args) => crate::drift::drift(args, ctx).await,
        Command::DeadLetters(DeadLetters::List { config, json }) => {
            list_dead_letters(&config, json, ctx).await
        }
        Command::DeadLetters(DeadLetters::Replay {
            config,
            ids,
            kind,
            all,
        }) => replay(&config, ids, kind, all, ctx).await,
        Command::Jobs(args) => crate::jobs::list(&args, ctx).await,
        Command::Job(command) => crate::jobs::job(command, ctx).await,
    };
    report(result)
}

/// The exit code of a subcommand's result, printing the error.
pub(crate) fn report(result: Result<u8, RunnerError>) -> u8 {
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

pub(crate) fn document(args: &ConfigArg) -> Result<ConfigDocument, RunnerError> {
    Ok(ConfigDocument::from_file(&args.config)?)
}

async fn run(args: &ConfigArg, ctx: &Context) -> Result<u8, RunnerError> {
    // Listen for signals before connecting to anything: a signal during
    // startup stops the connector cleanly too.
    let shutdown = Shutdown::on_signals();
    let mut connector = ctx.connector(args)?.build().await?;
    connector.check_until(&shutdown).await?;
    if let Some(addr) = connector.serve_webhooks().await?
        && let Some(webhooks) = connector.plan().webhooks()
    {
        let layout = if connector.event_queue().sink.is_durable() {
            "answered once sent to the event queue"
        } else {
            "answered once handled"
        };
        println!(
            "webhooks: http://{addr}{} ({layout})",
            webhooks.fluent().path
        );
    }
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

async fn validate(args: &ConfigArg, ctx: &Context) -> Result<u8, RunnerError> {
    let plan = ctx.plan(args)?;
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
    let syncs: Vec<&str> = plan
        .syncs()
        .syncs()
        .iter()
        .filter(|s| config.routes.iter().any(|r| r.handler == s.handler))
        .map(|s| s.plural)
        .collect();
    if !syncs.is_empty() {
        println!("  backfill: {}", syncs.join(", "));
    }
    if let Some(webhooks) = plan.webhooks() {
        let fluent = webhooks.fluent();
        println!(
            "  fluent webhooks: {}{} ({} public key{})",
            fluent.listen,
            fluent.path,
            fluent.public_keys.len(),
            if fluent.public_keys.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        if let Some(external) = webhooks.external() {
            println!("  external webhooks: {}{}", fluent.listen, external.path);
        }
        for (name, route) in webhooks.mapping().iter() {
            println!("  {name} webhooks → {route}");
        }
    }
    crate::jobs::print_plan(&plan);
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
    let syncs = SyncRegistry::linked();
    if !syncs.is_empty() {
        println!();
        println!("syncs (`connect backfill <RESOURCE>`):");
        println!(
            "{:<14}  {:<10}  {:<40}  {:<28}  {:<20}  SCAN",
            "RESOURCE", "TYPE", "ROUTE", "HANDLER", "SCOPES"
        );
        for sync in syncs.syncs() {
            println!(
                "{:<14}  {:<10}  {:<40}  {:<28}  {:<20}  {}",
                sync.plural,
                sync.type_id,
                sync.route,
                sync.handler,
                sync.scopes.join(" "),
                sync.scan_description()
            );
        }
    }
    let sections = ConfigSections::linked();
    if !sections.is_empty() {
        println!();
        println!("configuration blocks:");
        for (name, type_name, required) in sections.entries() {
            let required = if required { "required" } else { "optional" };
            println!("  {name}: {type_name} ({required})");
        }
    }
}

async fn backfill(args: Backfill, ctx: &Context) -> Result<u8, RunnerError> {
    if args.dry_run {
        let options = BackfillOptions {
            predicate: args.predicate,
            after: args.after,
            page_size: args.page_size,
            ..BackfillOptions::default()
        };
        let dry_run = crate::drift::DryRunArgs {
            resource: &args.resource,
            config: &args.config,
            options,
            json: args.json,
        };
        return crate::drift::dry_run_backfill(dry_run, ctx).await;
    }
    let shutdown = Shutdown::on_signals();
    let connector = ctx.connector(&args.config)?.build().await?;
    connector.check_until(&shutdown).await?;
    let endpoint = connector.serve_observability().await?;
    let options = BackfillOptions {
        predicate: args.predicate,
        after: args.after,
        page_size: args.page_size,
        checkpoints: match (args.resume, args.restart) {
            (true, _) => Checkpoints::Resume,
            (false, true) => Checkpoints::Restart,
            (false, false) => Checkpoints::New,
        },
        ..BackfillOptions::default()
    };
    let mut bar = Progress::new("backfill", std::io::stderr().is_terminal());
    let summary = connector
        .backfill(&args.resource, options, shutdown, |progress| {
            bar.update(progress);
        })
        .await;
    bar.finish();
    if let Some(endpoint) = endpoint {
        endpoint.shutdown().await;
    }
    let summary = summary?;
    let origin = args.config.config.display().to_string();
    print_backfill(&summary, &origin);
    if summary.interrupted {
        return Ok(EXIT_INTERRUPTED);
    }
    if summary.failed > 0 {
        println!(
            "failed {} are in the dead-letter store: `connect dead-letters list --config {origin}`",
            summary.plural
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
        "backfill {verb} {:.1}s ({:.0} {}/s)",
        summary.elapsed.as_secs_f64(),
        summary.rate(),
        summary.plural
    );
    println!("  scanned    {:>8}", summary.scanned);
    println!("  created    {:>8}", summary.created);
    println!("  updated    {:>8}", summary.updated);
    println!("  unchanged  {:>8}", summary.unchanged);
    for (label, count) in &summary.outcomes {
        if ![outcome::CREATED, outcome::UPDATED, outcome::UNCHANGED].contains(&label.as_str()) {
            println!("  {label:<10} {count:>8}");
        }
    }
    println!("  failed     {:>8}", summary.failed);
    if summary.interrupted {
        println!("  unfinished {:>8}", summary.unfinished);
        match &summary.resume_after {
            _ if summary.checkpoint.is_some() => {
                println!(
                    "resume with: connect backfill {} --config {config} --resume",
                    summary.plural
                );
            }
            Some(id) => {
                println!(
                    "resume with: connect backfill {} --config {config} --after {id}",
                    summary.plural
                );
            }
            None => {
                println!(
                    "none of the {} was completed in order: run the same backfill again to resume",
                    summary.plural
                );
            }
        }
    }
}

async fn list_dead_letters(args: &ConfigArg, json: bool, ctx: &Context) -> Result<u8, RunnerError> {
    let plan = ctx.plan(args)?;
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
    ctx: &Context,
) -> Result<u8, RunnerError> {
    if !all && ids.is_empty() && kind.is_none() {
        eprintln!("error: choose what to replay: --all, --id ID (repeatable) or --kind KIND");
        return Ok(EXIT_CONFIG);
    }
    let shutdown = Shutdown::on_signals();
    let connector = ctx.connector(args)?.build().await?;
    connector.check_until(&shutdown).await?;
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
