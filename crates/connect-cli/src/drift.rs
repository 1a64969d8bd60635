//! `connect backfill --dry-run` and `connect drift`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;

use clap::Args;
use connect_core::runtime::Shutdown;
use connect_runner::dry_run::{DryRun, FieldChange, PlannedKind};
use connect_runner::{BackfillOptions, DriftKind, DriftReport, DryRunReport, RunnerError};
use serde_json::{Value, json};

use crate::app::Context;
use crate::command::{ConfigArg, EXIT_OK, EXIT_PARTIAL};

/// Drift found and not fixed.
pub const EXIT_DRIFT: u8 = 4;

/// `connect drift <resource>`.
#[derive(Debug, Args)]
pub(crate) struct Drift {
    /// The resources: the plural (or type id) of a registered sync, e.g. `customers`; `connect handlers` lists them.
    #[arg(value_name = "RESOURCE", value_parser = crate::command::resources())]
    resource: String,
    #[command(flatten)]
    config: ConfigArg,
    /// Send the missing, differing and stale resources through their route (a backfill of just those); only-in-Fluent entities are reported, never changed.
    #[arg(long)]
    fix: bool,
    /// Print one JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// Resources per commercetools and Fluent page (1 to 500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=500))]
    page_size: u32,
}

/// What `connect backfill --dry-run` needs of the backfill's arguments.
pub(crate) struct DryRunArgs<'a> {
    pub(crate) resource: &'a str,
    pub(crate) config: &'a ConfigArg,
    pub(crate) options: BackfillOptions,
    pub(crate) json: bool,
}

/// `connect backfill <resource> --dry-run [--json]`: exit 0, or 3 when
/// some resources would fail.
pub(crate) async fn dry_run_backfill(
    args: DryRunArgs<'_>,
    ctx: &Context,
) -> Result<u8, RunnerError> {
    let shutdown = Shutdown::on_signals();
    let plan = Arc::new(DryRun::new());
    let connector = ctx.connector(args.config)?.dry_run(plan).build().await?;
    connector.check_until(&shutdown).await?;
    let report = connector
        .dry_run_backfill(args.resource, args.options, shutdown, |_| {})
        .await?;
    if args.json {
        print_dry_run_json(&report);
    } else {
        print_dry_run_text(&report);
    }
    if report.summary.interrupted {
        return Ok(crate::command::EXIT_INTERRUPTED);
    }
    Ok(
        if report.failed.is_empty() && report.not_dry_runnable.is_empty() {
            EXIT_OK
        } else {
            EXIT_PARTIAL
        },
    )
}

fn print_dry_run_text(report: &DryRunReport) {
    let plural = &report.summary.plural;
    println!("dry run of {plural}: nothing was written to Fluent");
    for write in &report.writes {
        let versions = versions(write.version, write.written_version);
        match write.kind {
            PlannedKind::Create => {
                println!(
                    "would create {} {} ({versions})",
                    write.entity, write.reference
                );
                for (field, value) in &write.fields {
                    println!("  {field}: {value}");
                }
            }
            PlannedKind::Update => {
                println!(
                    "would update {} {} ({versions})",
                    write.entity, write.reference
                );
                print_changes(&write.changes);
            }
            PlannedKind::Unchanged => {
                println!(
                    "unchanged {} {} ({versions})",
                    write.entity, write.reference
                );
            }
            PlannedKind::Stale => {
                println!(
                    "stale {} {} ({versions}): Fluent holds a newer version, not overwritten",
                    write.entity, write.reference
                );
            }
        }
    }
    for letter in &report.failed {
        println!(
            "would fail {}: {}",
            resource_of(&letter.message),
            letter.error
        );
    }
    for letter in &report.not_dry_runnable {
        println!(
            "not dry-runnable {}: its handler writes to Fluent without connect_fluent::upsert; nothing was sent",
            resource_of(&letter.message)
        );
    }
    println!(
        "summary: {} scanned, {} would create, {} would update, {} unchanged, {} stale, {} would fail, {} not dry-runnable",
        report.summary.scanned,
        report.count(PlannedKind::Create),
        report.count(PlannedKind::Update),
        report.count(PlannedKind::Unchanged),
        report.count(PlannedKind::Stale),
        report.failed.len(),
        report.not_dry_runnable.len(),
    );
}

fn print_dry_run_json(report: &DryRunReport) {
    for write in &report.writes {
        print_json(&tagged("write", serde_json::to_value(write)));
    }
    for letter in &report.failed {
        print_json(&json!({
            "type": "would-fail",
            "resource": resource_of(&letter.message),
            "error": letter.error,
        }));
    }
    for letter in &report.not_dry_runnable {
        print_json(&json!({
            "type": "not-dry-runnable",
            "resource": resource_of(&letter.message),
        }));
    }
    print_json(&json!({
        "type": "summary",
        "resource": report.summary.plural,
        "scanned": report.summary.scanned,
        "create": report.count(PlannedKind::Create),
        "update": report.count(PlannedKind::Update),
        "unchanged": report.count(PlannedKind::Unchanged),
        "stale": report.count(PlannedKind::Stale),
        "would_fail": report.failed.len(),
        "not_dry_runnable": report.not_dry_runnable.len(),
    }));
}

/// `connect drift <resource> [--fix] [--json]`: exit 0 when nothing
/// drifted (or everything drifted was fixed), 4 when drift remains.
pub(crate) async fn drift(args: Drift, ctx: &Context) -> Result<u8, RunnerError> {
    let shutdown = Shutdown::on_signals();
    let connector = ctx
        .connector(&args.config)?
        .dry_run(Arc::new(DryRun::changes_only()))
        .build()
        .await?;
    connector.check_until(&shutdown).await?;
    let options = BackfillOptions {
        page_size: args.page_size,
        ..BackfillOptions::default()
    };
    let report = connector
        .drift(&args.resource, options, shutdown.clone())
        .await?;
    drop(connector);
    if args.json {
        print_drift_json(&report);
    } else {
        print_drift_text(&report);
    }
    if shutdown.is_triggered() {
        return Ok(crate::command::EXIT_INTERRUPTED);
    }
    if report.is_clean() {
        return Ok(EXIT_OK);
    }
    if !args.fix {
        if !args.json {
            println!(
                "fix with: connect drift {} --config {} --fix",
                report.plural,
                args.config.config.display()
            );
        }
        return Ok(EXIT_DRIFT);
    }
    let fixable = report.fixable_ids().len();
    let only_in_fluent = report.count(DriftKind::OnlyInFluent);
    let connector = ctx.connector(&args.config)?.build().await?;
    connector.check_until(&shutdown).await?;
    let fix = connector.fix_drift(&report, shutdown.clone()).await?;
    if args.json {
        print_json(&json!({
            "type": "fix",
            "sent": fix.sent,
            "created": fix.created,
            "updated": fix.updated,
            "unchanged": fix.unchanged,
            "failed": fix.failed,
            "only_in_fluent_left": only_in_fluent,
        }));
    } else {
        println!(
            "fix: {} sent through the route: {} created, {} updated, {} unchanged, {} failed",
            fix.sent, fix.created, fix.updated, fix.unchanged, fix.failed
        );
        if only_in_fluent > 0 {
            println!(
                "  {only_in_fluent} only in Fluent left as they are: --fix never deletes or changes a Fluent entity without a commercetools counterpart (see docs/operations.md \"Drift\")"
            );
        }
        if fix.failed > 0 {
            println!(
                "  failed ones are in the dead-letter store: `connect dead-letters list --config {}`",
                args.config.config.display()
            );
        }
    }
    if shutdown.is_triggered() {
        return Ok(crate::command::EXIT_INTERRUPTED);
    }
    let fixed = fix.sent == fixable as u64 && fix.failed == 0;
    Ok(
        if fixed && only_in_fluent == 0 && report.failed.is_empty() {
            EXIT_OK
        } else {
            EXIT_DRIFT
        },
    )
}

fn print_drift_text(report: &DriftReport) {
    let counts: Vec<String> = DriftKind::ALL
        .iter()
        .map(|kind| format!("{} {}", report.count(*kind), kind.as_str()))
        .collect();
    let fluent = report.fluent_scanned.map_or_else(
        || "only-in-Fluent not checked for this resource".to_owned(),
        |n| format!("{n} Fluent entities checked"),
    );
    println!(
        "drift of {}: {} compared, {fluent}; {} in {:.1}s",
        report.plural,
        report.scanned,
        counts.join(", "),
        report.elapsed.as_secs_f64()
    );
    for entry in &report.entries {
        println!(
            "{:<14} {} {} ({})",
            entry.kind.as_str(),
            entry.resource_id.as_deref().unwrap_or("-"),
            entry.reference,
            match entry.version {
                Some(version) => versions(version, entry.written_version),
                None => "gone from commercetools".to_owned(),
            }
        );
        print_changes(&entry.changes);
    }
    for letter in &report.failed {
        println!(
            "{:<14} {}: {}",
            "not compared",
            resource_of(&letter.message),
            letter.error
        );
    }
    if report.is_clean() {
        println!("no drift");
    }
}

fn print_drift_json(report: &DriftReport) {
    for entry in &report.entries {
        print_json(&tagged("drift", serde_json::to_value(entry)));
    }
    for letter in &report.failed {
        print_json(&json!({
            "type": "not-compared",
            "resource": resource_of(&letter.message),
            "error": letter.error,
        }));
    }
    let mut summary = json!({
        "type": "summary",
        "resource": report.plural,
        "compared": report.scanned,
        "fluent_checked": report.fluent_scanned,
        "not_compared": report.failed.len(),
        "elapsed_ms": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
    });
    for kind in DriftKind::ALL {
        summary[kind.as_str()] = json!(report.count(kind));
    }
    print_json(&summary);
}

/// `{"type": tag, ...item's fields}`.
fn tagged(tag: &str, item: Result<Value, serde_json::Error>) -> Value {
    let mut line = json!({ "type": tag });
    if let (Value::Object(line), Ok(Value::Object(fields))) = (&mut line, item) {
        line.extend(fields);
    }
    line
}

fn print_changes(changes: &[FieldChange]) {
    for change in changes {
        println!("  {}: {} → {}", change.field, change.old, change.new);
    }
}

fn versions(version: u64, written: Option<u64>) -> String {
    match written {
        Some(written) => format!("commercetools version {version}, Fluent holds {written}"),
        None => format!("commercetools version {version}"),
    }
}

fn resource_of(message: &Option<connect_core::Message>) -> String {
    message
        .as_ref()
        .and_then(|m| m.resource.as_ref())
        .map_or_else(|| "-".to_owned(), |r| format!("{}/{}", r.type_id, r.id))
}

fn print_json(value: &Value) {
    match serde_json::to_string(value) {
        Ok(line) => println!("{line}"),
        Err(error) => eprintln!("error: cannot encode a report line: {error}"),
    }
}
