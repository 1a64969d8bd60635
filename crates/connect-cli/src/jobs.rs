//! `connect jobs`, `connect job run <name>` and `connect job reset <name>`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use connect_core::runtime::Shutdown;
use connect_jobs::{JobStatus, RunError, RunOutcome, Scheduler};
use connect_runner::RunnerError;

use crate::app::Context;
use crate::command::{ConfigArg, EXIT_BUSY, EXIT_CONFIG, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK};

/// `connect jobs`.
#[derive(Debug, Args)]
pub(crate) struct JobsArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Print one JSON object per job and line instead of a table.
    #[arg(long)]
    json: bool,
}

/// `connect job ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum JobCommand {
    /// Run a job now, under its lease (refused while another run holds it); SIGINT/SIGTERM stops it at its next checkpoint.
    Run {
        /// The job's name (`job:` in `jobs:`; `connect jobs` lists them).
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Set a job's checkpoint: cleared (the next run starts from the beginning), or from a time with --since.
    Reset {
        /// The job's name.
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        config: ConfigArg,
        /// The checkpoint's time, RFC 3339, e.g. 2026-03-01T00:00:00Z: the next run starts from there.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        since: Option<DateTime<Utc>>,
    },
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("`{text}` is not an RFC 3339 time ({e}); write e.g. 2026-03-01T00:00:00Z")
        })
}

/// `connect jobs`: every job with its schedule, last run and outcome, next
/// run and checkpoint.
pub(crate) async fn list(args: &JobsArgs, ctx: &Context) -> Result<u8, RunnerError> {
    let plan = ctx.plan(&args.config)?;
    let scheduler = plan.job_status_scheduler()?;
    let statuses = status(&scheduler, &plan).await?;
    if args.json {
        for status in &statuses {
            println!("{}", json_line(status));
        }
        return Ok(EXIT_OK);
    }
    if statuses.is_empty() {
        println!(
            "{} has no jobs; add a `jobs:` list (docs/operations.md, \"Jobs\")",
            args.config.config.display()
        );
        return Ok(EXIT_OK);
    }
    println!("state: {}", scheduler.store().describe());
    println!(
        "{:<20}  {:<24}  {:<14}  {:<24}  {:<10}  {:<24}  CHECKPOINT",
        "JOB", "HANDLER", "SCHEDULE", "LAST RUN", "OUTCOME", "NEXT RUN"
    );
    for status in &statuses {
        let state = status.state.as_ref();
        let last_run = state
            .and_then(|s| s.last_run)
            .map_or_else(|| "never".to_owned(), time);
        let checkpoint = state
            .and_then(|s| s.checkpoint.as_ref())
            .map_or_else(|| "-".to_owned(), ToString::to_string);
        println!(
            "{:<20}  {:<24}  {:<14}  {:<24}  {:<10}  {:<24}  {checkpoint}",
            status.job,
            status.handler,
            status.schedule,
            last_run,
            outcome(status),
            time(status.next_run),
        );
        if let Some(error) = state.and_then(|s| s.last_error.as_ref()) {
            println!("  last error: {error}");
        }
        if let Some(lease) = &status.lease {
            println!(
                "  running now: lease held by `{}` until {}",
                lease.holder,
                time(lease.expires_at)
            );
        }
    }
    Ok(EXIT_OK)
}

async fn status(
    scheduler: &Scheduler,
    plan: &connect_runner::Plan,
) -> Result<Vec<JobStatus>, RunnerError> {
    scheduler
        .status()
        .await
        .map_err(|error| RunnerError::Backend {
            origin: plan.document().origin().to_owned(),
            message: format!("state: {error}"),
        })
}

/// The last run's outcome, as `connect jobs` shows it.
fn outcome(status: &JobStatus) -> &'static str {
    let Some(state) = &status.state else {
        return "-";
    };
    match (state.last_run, state.last_success, &state.last_error) {
        (None, _, _) => "-",
        (Some(_), _, Some(_)) => "failed",
        (Some(run), Some(success), None) if run == success => "succeeded",
        (Some(_), _, None) => "stopped",
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn json_line(status: &JobStatus) -> serde_json::Value {
    let state = status.state.as_ref();
    serde_json::json!({
        "job": status.job,
        "handler": status.handler,
        "schedule": status.schedule,
        "nextRun": status.next_run,
        "lastRun": state.and_then(|s| s.last_run),
        "lastSuccess": state.and_then(|s| s.last_success),
        "lastDurationMs": state.and_then(|s| s.last_duration_ms),
        "outcome": match outcome(status) { "-" => None, other => Some(other) },
        "lastError": state.and_then(|s| s.last_error.clone()),
        "runs": state.map_or(0, |s| s.runs),
        "failures": state.map_or(0, |s| s.failures),
        "checkpoint": state.and_then(|s| s.checkpoint.clone()),
        "checkpointAt": state.and_then(|s| s.checkpoint_at),
        "lease": status.lease.as_ref().map(|l| serde_json::json!({
            "holder": l.holder,
            "expiresAt": l.expires_at,
        })),
    })
}

/// `connect job run` and `connect job reset`.
pub(crate) async fn job(command: JobCommand, ctx: &Context) -> Result<u8, RunnerError> {
    match command {
        JobCommand::Run { name, config } => run(&name, &config, ctx).await,
        JobCommand::Reset {
            name,
            config,
            since,
        } => reset(&name, &config, since, ctx).await,
    }
}

async fn run(name: &str, config: &ConfigArg, ctx: &Context) -> Result<u8, RunnerError> {
    let shutdown = Shutdown::on_signals();
    // An unknown name is refused before anything is connected.
    let plan = ctx.plan(config)?;
    if plan.jobs().config().job(name).is_none() {
        return Ok(refused(&unknown(name, &plan)));
    }
    drop(plan);
    let connector = ctx.connector(config)?.build().await?;
    connector.check_until(&shutdown).await?;
    match connector.run_job(name, shutdown).await {
        Ok(report) => {
            let seconds = report.duration.as_secs_f64();
            match &report.outcome {
                RunOutcome::Succeeded(outcome) => {
                    println!(
                        "job {name}: succeeded in {seconds:.1}s, {} messages published{}",
                        report.published,
                        outcome
                            .text()
                            .map(|t| format!(" ({t})"))
                            .unwrap_or_default()
                    );
                    Ok(EXIT_OK)
                }
                RunOutcome::Failed(error) => {
                    eprintln!(
                        "error: job {name} failed after {seconds:.1}s: {error}; the next run starts from its last checkpoint"
                    );
                    Ok(EXIT_FAILURE)
                }
                RunOutcome::Stopped => {
                    println!(
                        "job {name}: stopped by a signal after {seconds:.1}s ({} messages published); the next run starts from its last checkpoint",
                        report.published
                    );
                    Ok(EXIT_INTERRUPTED)
                }
            }
        }
        Err(error) => Ok(refused(&error)),
    }
}

async fn reset(
    name: &str,
    config: &ConfigArg,
    since: Option<DateTime<Utc>>,
    ctx: &Context,
) -> Result<u8, RunnerError> {
    let plan = ctx.plan(config)?;
    if plan.jobs().config().job(name).is_none() {
        return Ok(refused(&unknown(name, &plan)));
    }
    let scheduler = plan.job_status_scheduler()?;
    if let Err(error) = scheduler.reset(name, since).await {
        return Ok(refused(&error));
    }
    match since {
        Some(since) => println!(
            "job {name}: checkpoint set from {}; the next run starts there",
            time(since)
        ),
        None => println!("job {name}: checkpoint cleared; the next run starts from the beginning"),
    }
    Ok(EXIT_OK)
}

fn unknown(name: &str, plan: &connect_runner::Plan) -> RunError {
    RunError::UnknownJob {
        job: name.to_owned(),
        known: plan
            .jobs()
            .config()
            .jobs
            .iter()
            .map(|j| j.job.clone())
            .collect(),
    }
}

/// Prints why a job could not run or be reset; its exit code.
fn refused(error: &RunError) -> u8 {
    eprintln!("error: {error}");
    match error {
        RunError::UnknownJob { .. } => EXIT_CONFIG,
        RunError::Busy { .. } => EXIT_BUSY,
        _ => EXIT_FAILURE,
    }
}

/// What `connect validate` prints about jobs.
pub(crate) fn print_plan(plan: &connect_runner::Plan) {
    let jobs = plan.jobs().config();
    for job in &jobs.jobs {
        println!(
            "  job {} → job handler {} ({})",
            job.job, job.handler, job.schedule
        );
    }
    if !jobs.jobs.is_empty() {
        let state = match &jobs.state {
            connect_jobs::StateConfig::File { path } => format!("file {}", path.display()),
            connect_jobs::StateConfig::FluentSetting { context, .. } => {
                format!("fluent-setting ({context:?})")
            }
            _ => "other".to_owned(),
        };
        println!("  job state: {state}");
    }
}
