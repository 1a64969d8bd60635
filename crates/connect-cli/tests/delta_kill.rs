#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
//! `connect job run customer-delta` (the bundled `CommercetoolsDeltaScan`)
//! SIGKILLed twice while its handlers are busy, then run to the end. The
//! checkpoint in the state file only ever covers customers already in
//! Fluent and never moves back; while the killed run's lease is unexpired
//! the next run is refused (exit 5) without reading commercetools; once it
//! expires, the next run rescans from the checkpoint minus the overlap and
//! no further. Every customer lands once. Stopped with SIGTERM instead, a
//! run exits 130 with its checkpoint saved and its lease released, and the
//! next run starts at once from that checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use connect_commercetools::CustomerDraft;
use connect_testkit::Sandbox;
use serde_json::Value;

const EXAMPLE: &str = include_str!("../../../examples/application-connector.yml");
const JOB: &str = "customer-delta";
const CUSTOMERS: usize = 1_000;
const PAGE: usize = 50;
/// The job's `overlap`: each run starts this long before its checkpoint.
const OVERLAP_MS: i64 = 25;
/// What a run can have read and not settled when it dies: the feed's
/// queue (4 × `runtime.concurrency`, at least 64) and the runtime's
/// prefetch window (4 × concurrency), as for a backfill.
const IN_FLIGHT: usize = 128 + 128;

/// The example connector with the delta job, written into `dir`, and the
/// environment that points it at the sandbox and keeps its files in `dir`.
fn setup(sandbox: &Sandbox, dir: &Path) -> (PathBuf, BTreeMap<String, String>) {
    let yaml = format!(
        "{EXAMPLE}
jobs:
  - job: {JOB}
    handler: CommercetoolsDeltaScan
    schedule: every 24h
    props: {{ resource: customer, overlap: {OVERLAP_MS}ms, page-size: {PAGE} }}
"
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

fn command(config: &Path, env: &BTreeMap<String, String>) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_connect"));
    command
        .args(["job", "run", JOB, "--config"])
        .arg(config)
        .envs(env)
        .env("NO_COLOR", "1")
        .env("CONNECT_LOG", "off")
        .env_remove("CONNECT_CONFIG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn run(config: &Path, env: &BTreeMap<String, String>) -> Output {
    let output = command(config, env).output();
    tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("the job run finished in time")
        .expect("run the connect binary")
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Starts a run and SIGKILLs it once Fluent holds `landed` customers.
async fn kill_at(sandbox: &Sandbox, config: &Path, env: &BTreeMap<String, String>, landed: usize) {
    let mut child = command(config, env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sandbox.fluent.customers().len() < landed {
        assert!(
            Instant::now() < deadline,
            "the delta scan never reached {landed} customers"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the delta scan ended ({status}) before it was killed at {landed}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().await.unwrap();
}

/// The state file as JSON.
fn state(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("connect-state.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The job's checkpoint: `(lastModifiedAt, id)`.
fn checkpoint(dir: &Path) -> Option<(DateTime<Utc>, String)> {
    let state = state(dir);
    let checkpoint = &state["jobs"][JOB]["checkpoint"];
    let at = checkpoint["lastModifiedAt"].as_str()?.parse().unwrap();
    Some((at, checkpoint["id"].as_str()?.to_owned()))
}

/// Moves the lease a killed run left to the past, as its 60 s ttl would.
fn expire_lease(dir: &Path) {
    let mut state = state(dir);
    let lease = state["leases"]
        .get_mut(JOB)
        .expect("the killed run left its lease");
    lease["expiresAt"] = Value::from((Utc::now() - chrono::Duration::seconds(1)).to_rfc3339());
    std::fs::write(
        dir.join("connect-state.json"),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
}

/// Creates the customers; every one's scan key, in scan order.
fn seed(sandbox: &Sandbox) -> Vec<(DateTime<Utc>, String)> {
    let mut keys: Vec<(DateTime<Utc>, String)> = (0..CUSTOMERS)
        .map(|i| {
            let customer = sandbox
                .commercetools
                .insert_customer_silently(
                    CustomerDraft::new(format!("delta{i}@example.com"))
                        .with_name("Del", format!("Ta {i}")),
                )
                .unwrap();
            (customer.last_modified_at, customer.id)
        })
        .collect();
    keys.sort();
    keys
}

/// Resources commercetools returned to queries so far.
fn scanned(sandbox: &Sandbox) -> u64 {
    sandbox
        .commercetools
        .resource_stats("customers")
        .query_results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_scan_killed_twice_keeps_its_checkpoint_behind_fluent_and_lands_every_customer_once()
 {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, env) = setup(&sandbox, dir.path());
    let keys = seed(&sandbox);
    let overlap = chrono::Duration::milliseconds(OVERLAP_MS);
    // How many customers a run from `checkpoint` reads: those at or after
    // its lastModifiedAt minus the overlap.
    let from = |checkpoint: &(DateTime<Utc>, String)| {
        keys.iter()
            .filter(|(at, _)| *at >= checkpoint.0 - overlap)
            .count()
    };
    // Every customer up to the checkpoint is in Fluent.
    let covered = |checkpoint: &(DateTime<Utc>, String)| {
        for key in keys.iter().take_while(|key| **key <= *checkpoint) {
            assert!(
                sandbox.fluent.create_count(&key.1) >= 1,
                "the checkpoint {checkpoint:?} covers {key:?}, which is not in Fluent"
            );
        }
        keys.iter().take_while(|key| **key <= *checkpoint).count()
    };

    let mut killed = Vec::new();
    let mut checkpoints = Vec::new();
    let mut reads = Vec::new();
    for (round, landed) in [300, 600].into_iter().enumerate() {
        let before = scanned(&sandbox);
        kill_at(&sandbox, &config, &env, landed).await;
        let at_kill = sandbox.fluent.customers().len();
        reads.push(scanned(&sandbox) - before);
        let saved = checkpoint(dir.path()).expect("the killed run saved a checkpoint");
        let through = covered(&saved);
        if let Some(previous) = checkpoints.last() {
            assert!(
                saved >= *previous,
                "the checkpoint went back from {previous:?} to {saved:?}"
            );
        }
        assert!(
            through + IN_FLIGHT + PAGE >= at_kill,
            "the checkpoint {saved:?} covers {through} customers, far behind the {at_kill} in Fluent"
        );
        killed.push((at_kill, through));
        checkpoints.push(saved);

        if round == 0 {
            // The lease is the killed run's until its ttl runs out: the
            // next run is refused, naming the holder, and reads nothing.
            let queries = sandbox.commercetools.resource_stats("customers").queries;
            let output = run(&config, &env).await;
            assert_eq!(output.status.code(), Some(5), "{}", text(&output));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(JOB), "{stderr}");
            assert_eq!(
                sandbox.commercetools.resource_stats("customers").queries,
                queries,
                "a refused run read commercetools"
            );
        }
        expire_lease(dir.path());
    }

    // The last run: from the second checkpoint minus the overlap, to the end.
    let before = scanned(&sandbox);
    let output = run(&config, &env).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let last = scanned(&sandbox) - before;
    let expected = from(&checkpoints[1]);
    assert_eq!(
        last as usize, expected,
        "the resumed run read {last} customers; from {:?} minus the overlap there are {expected}",
        checkpoints[1]
    );
    let end = checkpoint(dir.path()).unwrap();
    assert_eq!(
        end,
        *keys.last().unwrap(),
        "the final checkpoint is the last customer"
    );

    for (_, id) in &keys {
        assert_eq!(
            sandbox.fluent.create_count(id),
            1,
            "{id} created {} times",
            sandbox.fluent.create_count(id)
        );
    }
    assert_eq!(sandbox.fluent.customers().len(), CUSTOMERS);
    let total = reads.iter().sum::<u64>() + last;
    // Run 2 rereads from checkpoint 1 minus the overlap; run 3 from
    // checkpoint 2 minus the overlap: at most what each kill left
    // unsettled plus the overlap window, on top of every customer once.
    let bound = CUSTOMERS
        + (from(&checkpoints[0]) + killed[0].1 - CUSTOMERS)
        + (from(&checkpoints[1]) + killed[1].1 - CUSTOMERS)
        + 2 * (IN_FLIGHT + PAGE);
    println!(
        "delta kill: killed at {:?} (customers in Fluent, covered by the checkpoint); reads per run {reads:?} + {last}; \
         the last run read {last} = {} after the checkpoint + {} in the overlap window; \
         {total} customers read in 3 runs for {CUSTOMERS} (bound {bound})",
        killed,
        CUSTOMERS - killed[1].1,
        last as usize - (CUSTOMERS - killed[1].1),
    );
    assert!((total as usize) < bound, "read {total}, bound {bound}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("dead-letters.jsonl")).unwrap_or_default(),
        "",
        "nothing was dead-lettered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_scan_stopped_with_sigterm_saves_its_checkpoint_releases_its_lease_and_resumes() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, env) = setup(&sandbox, dir.path());
    let keys = seed(&sandbox);
    let overlap = chrono::Duration::milliseconds(OVERLAP_MS);

    let mut child = command(&config, &env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sandbox.fluent.customers().len() < 400 {
        assert!(
            Instant::now() < deadline,
            "the delta scan never reached 400 customers"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the delta scan ended early"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let pid = child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the run stopped within its shutdown timeout")
        .unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", text(&output));
    let stopped_with = sandbox.fluent.customers().len();

    // The checkpoint covers only customers in Fluent, and the lease is
    // released: the next run starts at once.
    let saved = checkpoint(dir.path()).expect("the stopped run saved its checkpoint");
    let through = keys.iter().take_while(|key| **key <= saved).count();
    for key in &keys[..through] {
        assert_eq!(sandbox.fluent.create_count(&key.1), 1, "{key:?}");
    }
    assert!(
        through <= stopped_with && stopped_with - through <= IN_FLIGHT,
        "the checkpoint covers {through} customers of the {stopped_with} in Fluent"
    );
    let lease = &state(dir.path())["leases"][JOB];
    let held = lease["expiresAt"]
        .as_str()
        .is_some_and(|at| at.parse::<DateTime<Utc>>().unwrap() > Utc::now());
    assert!(!held, "SIGTERM left the lease held: {lease}");

    let before = scanned(&sandbox);
    let output = run(&config, &env).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let reread = scanned(&sandbox) - before;
    let expected = keys
        .iter()
        .filter(|(at, _)| *at >= saved.0 - overlap)
        .count();
    assert_eq!(
        reread as usize, expected,
        "the next run starts at the checkpoint minus the overlap"
    );
    for (_, id) in &keys {
        assert_eq!(sandbox.fluent.create_count(id), 1, "{id}");
    }
    assert_eq!(sandbox.fluent.customers().len(), CUSTOMERS);
    println!(
        "delta SIGTERM: stopped with {stopped_with} customers in Fluent, the checkpoint covering {through}; \
         the next run read {reread} = {} after the checkpoint + {} in the overlap window",
        CUSTOMERS - through,
        reread as usize - (CUSTOMERS - through),
    );
}
