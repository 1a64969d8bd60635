#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `connect backfill --dry-run`, `connect drift [--fix]` and the startup
//! window (`runtime.startup-timeout`) against the local emulators.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use connect_commercetools::{CustomerDraft, CustomerUpdateAction};
use connect_fluent::{FluentClient, UpdateCustomerInput};
use connect_testkit::Fault;
use connect_testkit::Sandbox;
use serde_json::Value;

const EXAMPLE: &str = include_str!("../../../examples/application-connector.yml");

async fn connect(args: &[&str], env: &BTreeMap<String, String>) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_connect"))
        .args(args)
        .envs(env)
        .env("NO_COLOR", "1")
        .env("CONNECT_LOG", "warn")
        .env_remove("CONNECT_CONFIG")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the connect binary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

fn both(output: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(output), stderr(output))
}

/// The example configuration with `runtime.startup-timeout`, written into
/// `dir`, with the environment that points it at the sandbox.
fn setup(sandbox: &Sandbox, dir: &Path, startup: &str) -> (PathBuf, BTreeMap<String, String>) {
    let yaml = EXAMPLE.replacen(
        "  shutdown-timeout: 30s",
        &format!("  startup-timeout: {startup}\n  shutdown-timeout: 30s"),
        1,
    );
    assert_ne!(yaml, EXAMPLE, "the example has runtime.shutdown-timeout");
    let yaml = yaml.replacen(
        "backoff: { initial: 200ms, max: 60s,",
        "backoff: { initial: 20ms, max: 200ms,",
        1,
    );
    let path = dir.join("connector.yml");
    std::fs::write(&path, yaml).unwrap();
    let mut env = sandbox.env();
    env.insert(
        "DEAD_LETTER_FILE".to_owned(),
        dir.join("dead-letters.jsonl").display().to_string(),
    );
    env.insert(
        "STATE_FILE".to_owned(),
        dir.join("connect-state.json").display().to_string(),
    );
    (path, env)
}

fn seed(sandbox: &Sandbox, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            sandbox
                .commercetools
                .insert_customer_silently(
                    CustomerDraft::new(format!("{prefix}{i}@example.com"))
                        .with_name("Back", format!("Fill {i}")),
                )
                .unwrap()
                .id
        })
        .collect()
}

fn dead_letters(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("dead-letters.jsonl"))
        .map(|text| text.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0)
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_token_401s_at_startup_are_retried_and_the_backfill_completes() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, env) = setup(&sandbox, dir.path(), "10s");
    seed(&sandbox, "blip", 20);
    let unauthorized = Fault::Status {
        status: 401,
        retry_after: None,
    };
    sandbox
        .fluent
        .faults()
        .inject_for("/oauth/token", unauthorized, 2);

    let config = config.to_str().unwrap();
    let output = connect(&["backfill", "customers", "--config", config], &env).await;
    assert_eq!(code(&output), 0, "{}", both(&output));
    let text = stdout(&output);
    assert!(text.contains("created          20"), "{text}");
    assert!(text.contains("failed            0"), "{text}");
    assert_eq!(dead_letters(dir.path()), 0);
    assert_eq!(sandbox.fluent.customers().len(), 20);
    assert_eq!(
        sandbox.fluent.faults().pending(),
        0,
        "both 401s were served"
    );
    let retries = stderr(&output)
        .lines()
        .filter(|l| l.contains("retrying within runtime.startup-timeout"))
        .count();
    assert_eq!(
        retries,
        2,
        "one WARN per failed attempt: {}",
        stderr(&output)
    );
    let warn = stderr(&output);
    for part in [
        "dependency=\"fluent\"",
        "attempt=1",
        "next_delay_ms=",
        "error=",
    ] {
        assert!(warn.contains(part), "{part} in {warn}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_still_exits_2_once_the_startup_window_is_over() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, mut env) = setup(&sandbox, dir.path(), "2s");
    env.insert("FLUENT_PASSWORD".to_owned(), "not-the-password".to_owned());
    let config = config.to_str().unwrap();

    let started = Instant::now();
    let output = connect(&["backfill", "customers", "--config", config], &env).await;
    let elapsed = started.elapsed();
    assert_eq!(code(&output), 2, "{}", both(&output));
    assert!(
        stderr(&output).contains("fluent refused the credentials"),
        "the same message as before: {}",
        stderr(&output)
    );
    assert!(
        elapsed >= Duration::from_millis(1_900),
        "retried for the window: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "bounded by the 2 s window: {elapsed:?}"
    );
    assert!(
        sandbox.fluent.token_requests() >= 4,
        "retried with backoff: {} logins",
        sandbox.fluent.token_requests()
    );

    // `validate` connects to nothing: it never enters the window.
    let started = Instant::now();
    let output = connect(&["validate", "--config", config], &env).await;
    let before = sandbox.fluent.token_requests();
    assert_eq!(code(&output), 0, "{}", both(&output));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        sandbox.fluent.token_requests(),
        before,
        "no login, no retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_startup_timeout_over_the_limit_is_refused_with_the_key() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, env) = setup(&sandbox, dir.path(), "2h");
    let output = connect(&["validate", "--config", config.to_str().unwrap()], &env).await;
    assert_eq!(code(&output), 2, "{}", both(&output));
    let text = stderr(&output);
    assert!(text.contains("startup-timeout"), "{text}");
    assert!(text.contains("at most 10m"), "{text}");
}

/// The (kind, ref, fields) of a planned write or of a recorded mutation:
/// for a create every input field, for an update every changed field
/// (attributes by name) with its new value.
type Writes = BTreeMap<(String, String), BTreeMap<String, Value>>;

fn update_fields(input: &Value) -> BTreeMap<String, Value> {
    let mut fields = BTreeMap::new();
    for (field, value) in input.as_object().unwrap() {
        if field == "username" || field == "ref" {
            continue;
        }
        if field == "attributes" {
            for attribute in value.as_array().unwrap() {
                fields.insert(
                    format!("attributes.{}", attribute["name"].as_str().unwrap()),
                    attribute["value"].clone(),
                );
            }
        } else {
            fields.insert(field.clone(), value.clone());
        }
    }
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_writes_nothing_and_reports_the_writes_of_the_real_run() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, env) = setup(&sandbox, dir.path(), "5s");
    let config = config.to_str().unwrap();
    let existing = seed(&sandbox, "old", 6);
    let first = connect(&["backfill", "customers", "--config", config], &env).await;
    assert_eq!(code(&first), 0, "{}", both(&first));
    // Two change in commercetools, three are new, four stay as they are.
    for id in &existing[..2] {
        sandbox
            .commercetools
            .update_customer(
                id,
                vec![CustomerUpdateAction::SetFirstName {
                    first_name: Some("Changed".into()),
                }],
            )
            .await
            .unwrap();
    }
    let new = seed(&sandbox, "new", 3);
    let before = sandbox.fluent.mutations().len();

    let dry = connect(
        &[
            "backfill",
            "customers",
            "--config",
            config,
            "--dry-run",
            "--json",
        ],
        &env,
    )
    .await;
    assert_eq!(code(&dry), 0, "{}", both(&dry));
    assert_eq!(
        sandbox.fluent.mutations().len(),
        before,
        "a dry run sends no mutation"
    );
    assert_eq!(dead_letters(dir.path()), 0);
    let lines = json_lines(&dry);
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary", "{summary}");
    assert_eq!(summary["scanned"], 9);
    assert_eq!(summary["create"], 3);
    assert_eq!(summary["update"], 2);
    assert_eq!(summary["unchanged"], 4);
    let planned: Writes = lines
        .iter()
        .filter(|l| l["type"] == "write" && l["kind"] != "unchanged")
        .map(|l| {
            let fields = match l["kind"].as_str().unwrap() {
                "create" => serde_json::from_value(l["fields"].clone()).unwrap(),
                _ => l["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| (c["field"].as_str().unwrap().to_owned(), c["new"].clone()))
                    .collect(),
            };
            (
                (
                    l["kind"].as_str().unwrap().to_owned(),
                    l["ref"].as_str().unwrap().to_owned(),
                ),
                fields,
            )
        })
        .collect();
    let unchanged: BTreeSet<&str> = lines
        .iter()
        .filter(|l| l["kind"] == "unchanged")
        .map(|l| l["ref"].as_str().unwrap())
        .collect();
    let expected_unchanged: BTreeSet<&str> = existing[2..].iter().map(String::as_str).collect();
    assert_eq!(unchanged, expected_unchanged);
    // Old → new for an update.
    let update = lines
        .iter()
        .find(|l| l["kind"] == "update" && l["ref"] == existing[0].as_str())
        .unwrap();
    let first_name = update["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "firstName")
        .unwrap();
    assert_eq!(first_name["old"], "Back");
    assert_eq!(first_name["new"], "Changed");
    assert_eq!(update["version"], 2);
    assert_eq!(update["written_version"], 1);
    assert_eq!(update["resource_id"], existing[0].as_str());

    // The real run right after: the same writes, one for one.
    let real = connect(&["backfill", "customers", "--config", config], &env).await;
    assert_eq!(code(&real), 0, "{}", both(&real));
    let written: Writes = sandbox.fluent.mutations()[before..]
        .iter()
        .map(|m| match m.name.as_str() {
            "createCustomer" => (
                (
                    "create".to_owned(),
                    m.input["username"].as_str().unwrap().to_owned(),
                ),
                serde_json::from_value(m.input.clone()).unwrap(),
            ),
            "updateCustomer" => (
                (
                    "update".to_owned(),
                    m.input["username"].as_str().unwrap().to_owned(),
                ),
                update_fields(&m.input),
            ),
            other => panic!("unexpected mutation {other}"),
        })
        .collect();
    assert_eq!(written.len(), 5, "3 creates and 2 updates");
    assert_eq!(planned, written);
    let created: BTreeSet<&str> = planned
        .keys()
        .filter(|(kind, _)| kind == "create")
        .map(|(_, reference)| reference.as_str())
        .collect();
    assert_eq!(created, new.iter().map(String::as_str).collect());

    // The text report says the same.
    let text = connect(
        &["backfill", "customers", "--config", config, "--dry-run"],
        &env,
    )
    .await;
    assert_eq!(code(&text), 0, "{}", both(&text));
    let text = stdout(&text);
    assert!(text.contains("nothing was written to Fluent"), "{text}");
    assert!(
        text.contains("summary: 9 scanned, 0 would create, 0 would update, 9 unchanged"),
        "{text}"
    );
}

/// The (kind, commercetools id) of every drift line, and the summary.
fn drift_of(output: &Output) -> (BTreeSet<(String, String)>, Value) {
    let lines = json_lines(output);
    let summary = lines
        .iter()
        .find(|l| l["type"] == "summary")
        .cloned()
        .unwrap_or_else(|| panic!("no summary in {}", stdout(output)));
    let entries = lines
        .iter()
        .filter(|l| l["type"] == "drift")
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["resource_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (entries, summary)
}

/// Plants one missing, one differing and one stale customer among `ids`
/// (all in Fluent and in sync); returns (missing, differs, stale).
async fn plant(sandbox: &Sandbox, ids: &[String], tag: &str) -> (String, String, String) {
    let missing = seed(sandbox, &format!("missing-{tag}-"), 1).remove(0);
    // Edited in Fluent by hand: same commercetools version, other name.
    let fluent = FluentClient::new(sandbox.fluent.config()).unwrap();
    let mut edit = UpdateCustomerInput::new(&ids[0]);
    edit.first_name = Some("Edited in Fluent".into());
    fluent.update_customer(&edit).await.unwrap();
    // Changed in commercetools while no notification was delivered.
    sandbox
        .commercetools
        .update_customer(
            &ids[1],
            vec![CustomerUpdateAction::SetFirstName {
                first_name: Some("Missed".into()),
            }],
        )
        .await
        .unwrap();
    (missing, ids[0].clone(), ids[1].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_names_every_planted_difference_and_fix_clears_what_it_may() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, env) = setup(&sandbox, dir.path(), "5s");
    let config = config.to_str().unwrap();
    let ids = seed(&sandbox, "drift", 12);
    let load = connect(&["backfill", "customers", "--config", config], &env).await;
    assert_eq!(code(&load), 0, "{}", both(&load));
    let clean = connect(&["drift", "customers", "--config", config], &env).await;
    assert_eq!(code(&clean), 0, "{}", both(&clean));
    assert!(stdout(&clean).contains("no drift"), "{}", stdout(&clean));

    let (missing, differs, stale) = plant(&sandbox, &ids, "a").await;
    // Deleted in commercetools while no notification was delivered.
    let gone = ids[2].clone();
    sandbox.commercetools.delete_customer(&gone).await.unwrap();
    let before = sandbox.fluent.mutations().len();

    let report = connect(
        &[
            "drift",
            "customers",
            "--config",
            config,
            "--json",
            "--page-size",
            "5",
        ],
        &env,
    )
    .await;
    assert_eq!(code(&report), 4, "{}", both(&report));
    assert_eq!(
        sandbox.fluent.mutations().len(),
        before,
        "drift writes nothing"
    );
    let (entries, summary) = drift_of(&report);
    let expected: BTreeSet<(String, String)> = [
        ("missing", &missing),
        ("differs", &differs),
        ("stale", &stale),
        ("only-in-fluent", &gone),
    ]
    .into_iter()
    .map(|(k, id)| (k.to_owned(), id.clone()))
    .collect();
    assert_eq!(entries, expected);
    for kind in ["missing", "differs", "stale", "only-in-fluent"] {
        assert_eq!(summary[kind], 1, "{kind}: {summary}");
    }
    assert_eq!(summary["compared"], 12);
    assert_eq!(summary["fluent_checked"], 12);
    let lines = json_lines(&report);
    let differing = lines.iter().find(|l| l["kind"] == "differs").unwrap();
    let change = &differing["changes"][0];
    assert_eq!(change["field"], "firstName");
    assert_eq!(change["old"], "Edited in Fluent");
    assert_eq!(change["new"], "Back");

    let text = connect(&["drift", "customers", "--config", config], &env).await;
    assert_eq!(code(&text), 4);
    let text = stdout(&text);
    assert!(
        text.contains("1 missing, 1 differs, 1 stale, 1 only-in-fluent"),
        "{text}"
    );
    assert!(text.contains(&format!("stale          {stale}")), "{text}");
    assert!(text.contains("fix with: connect drift customers"), "{text}");

    let fix = connect(&["drift", "customers", "--config", config, "--fix"], &env).await;
    assert_eq!(
        code(&fix),
        4,
        "the only-in-Fluent one is left: {}",
        both(&fix)
    );
    let text = stdout(&fix);
    assert!(
        text.contains("fix: 3 sent through the route: 1 created, 2 updated, 0 unchanged, 0 failed"),
        "{text}"
    );
    assert!(text.contains("1 only in Fluent left as they are"), "{text}");
    assert_eq!(
        sandbox
            .fluent
            .customer(&differs)
            .unwrap()
            .first_name
            .as_deref(),
        Some("Back")
    );

    let after = connect(&["drift", "customers", "--config", config, "--json"], &env).await;
    assert_eq!(code(&after), 4, "{}", both(&after));
    let (entries, _) = drift_of(&after);
    assert_eq!(
        entries,
        BTreeSet::from([("only-in-fluent".to_owned(), gone.clone())])
    );
    assert_eq!(dead_letters(dir.path()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_fix_clears_missing_differing_and_stale_and_a_second_drift_exits_0() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, env) = setup(&sandbox, dir.path(), "5s");
    let config = config.to_str().unwrap();
    let ids = seed(&sandbox, "fix", 5);
    let load = connect(&["backfill", "customers", "--config", config], &env).await;
    assert_eq!(code(&load), 0, "{}", both(&load));
    let (missing, differs, stale) = plant(&sandbox, &ids, "b").await;

    let fix = connect(
        &["drift", "customers", "--config", config, "--fix", "--json"],
        &env,
    )
    .await;
    assert_eq!(code(&fix), 0, "{}", both(&fix));
    let (entries, _) = drift_of(&fix);
    assert_eq!(
        entries
            .iter()
            .map(|(_, id)| id.clone())
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([missing.clone(), differs, stale])
    );
    let line = json_lines(&fix)
        .into_iter()
        .find(|l| l["type"] == "fix")
        .unwrap();
    assert_eq!(line["sent"], 3);
    assert_eq!(line["failed"], 0);
    assert!(sandbox.fluent.customer(&missing).is_some());

    let second = connect(&["drift", "customers", "--config", config], &env).await;
    assert_eq!(code(&second), 0, "{}", both(&second));
    assert!(stdout(&second).contains("no drift"), "{}", stdout(&second));
}

/// Wall time and peak RSS of `connect drift` over `DRIFT_CUSTOMERS`
/// customers (default 2,000) that are all in sync, measured with
/// `/usr/bin/time -v`. A manual measurement, not a CI test:
/// `DRIFT_CUSTOMERS=10000 cargo test -p connect-cli --test drift -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand"]
async fn drift_figures() {
    let n: usize = std::env::var("DRIFT_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, env) = setup(&sandbox, dir.path(), "5s");
    let config = config.to_str().unwrap();
    seed(&sandbox, "perf", n);
    let load = connect(&["backfill", "customers", "--config", config], &env).await;
    assert_eq!(code(&load), 0, "{}", both(&load));
    let before = sandbox.fluent.mutations().len();
    let started = Instant::now();
    let output = tokio::process::Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_connect"))
        .args(["drift", "customers", "--config", config])
        .envs(&env)
        .env("CONNECT_LOG", "warn")
        .env_remove("CONNECT_CONFIG")
        .output()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(code(&output), 0, "{}", both(&output));
    assert_eq!(sandbox.fluent.mutations().len(), before);
    let peak = stderr(&output)
        .lines()
        .find(|l| l.contains("Maximum resident set size"))
        .map(|l| l.trim().to_owned())
        .unwrap();
    println!(
        "drift over {n} customers: {:.2}s wall, {peak}; {}",
        elapsed.as_secs_f64(),
        stdout(&output).lines().next().unwrap_or_default()
    );
}
