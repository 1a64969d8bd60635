#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
//! `connect backfill customers --resume` after SIGKILLs: the `connect`
//! binary is killed at a seeded random point three times in a row and
//! resumed each time from its checkpoint in the state file. Every customer
//! lands, none is created twice, and the rescanned total stays within a
//! page plus what was in flight per kill. A run that finds an unfinished
//! checkpoint without `--resume` or `--restart` stops with exit 2 and says
//! how to choose; a `--resume` with another `--where` is refused naming
//! both; `--restart` starts over.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use connect_commercetools::CustomerDraft;
use connect_testkit::Sandbox;

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/application-connector.yml"
);
const CUSTOMERS: usize = 1_000;
const PAGE: usize = 100;
/// What can be read and not settled when a run dies: the backfill queue
/// (4 × `runtime.concurrency`, at least 64) and what the runtime received and has
/// not settled (its prefetch window, 4 × concurrency, the messages being
/// handled included).
const IN_FLIGHT: usize = 128 + 128;

fn command(dir: &Path, env: &BTreeMap<String, String>, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_connect"));
    command
        .args(["backfill", "customers", "--config", EXAMPLE, "--page-size"])
        .arg(PAGE.to_string())
        .args(args)
        .current_dir(dir)
        .envs(env)
        .env("NO_COLOR", "1")
        .env("CONNECT_LOG", "off")
        .env_remove("CONNECT_CONFIG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn backfill(dir: &Path, env: &BTreeMap<String, String>, args: &[&str]) -> Output {
    let output = command(dir, env, args).output();
    tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("the backfill finished in time")
        .expect("run the connect binary")
}

/// Starts a backfill and SIGKILLs it once Fluent holds `landed` customers.
async fn kill_at(
    sandbox: &Sandbox,
    dir: &Path,
    env: &BTreeMap<String, String>,
    args: &[&str],
    landed: usize,
) {
    let mut child = command(dir, env, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sandbox.fluent.customers().len() < landed {
        assert!(
            Instant::now() < deadline,
            "the backfill never reached {landed} customers"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the backfill ended ({status}) before it was killed at {landed}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().await.unwrap();
}

/// A small seeded generator: the kill points are random but repeatable.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_killed_three_times_resumes_each_time_and_lands_every_customer_once() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut env = sandbox.env();
    env.insert(
        "DEAD_LETTER_FILE".to_owned(),
        dir.path().join("dead-letters.jsonl").display().to_string(),
    );
    let ids: Vec<String> = (0..CUSTOMERS)
        .map(|i| {
            sandbox
                .commercetools
                .insert_customer_silently(
                    CustomerDraft::new(format!("resume{i}@example.com"))
                        .with_name("Re", format!("{i}")),
                )
                .unwrap()
                .id
        })
        .collect();
    let seed = std::env::var("RESUME_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(18);
    let mut random = Lcg(seed);
    let mut at = 0;
    let mut points = Vec::new();
    for _ in 0..3 {
        at += 100 + random.below(200) as usize;
        points.push(at);
    }
    let mut runs = 0u64;

    // First run, killed.
    kill_at(&sandbox, dir.path(), &env, &[], points[0]).await;
    runs += 1;
    assert!(
        dir.path().join("connect-state.json").exists(),
        "no checkpoint file"
    );

    // Neither flag: exit 2, saying how to choose; nothing is read.
    let queries = sandbox.commercetools.resource_stats("customers").queries;
    let output = backfill(dir.path(), &env, &[]).await;
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("did not finish"), "{stderr}");
    assert!(
        stderr.contains("--resume") && stderr.contains("--restart"),
        "{stderr}"
    );
    assert!(stderr.contains("backfill-customers"), "{stderr}");
    // Another --where: refused, naming both.
    let output = backfill(dir.path(), &env, &["--resume", "--where", "version > 0"]).await;
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("--where none") && stderr.contains("`version > 0`"),
        "{stderr}"
    );
    // --after with --resume: the command line refuses it.
    let output = backfill(dir.path(), &env, &["--resume", "--after", "x"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        sandbox.commercetools.resource_stats("customers").queries,
        queries,
        "a refused run read commercetools"
    );

    // Resumed and killed twice more, then resumed to the end.
    for &point in &points[1..] {
        kill_at(&sandbox, dir.path(), &env, &["--resume"], point).await;
        runs += 1;
    }
    let output = backfill(dir.path(), &env, &["--resume"]).await;
    runs += 1;
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("finished in"), "{stdout}");

    for id in &ids {
        assert_eq!(
            sandbox.fluent.create_count(id),
            1,
            "{id} created {} times",
            sandbox.fluent.create_count(id)
        );
    }
    assert_eq!(sandbox.fluent.customers().len(), CUSTOMERS);
    // Every resource commercetools returned, less the one each run's
    // count query (`limit=1`) returns.
    let scanned = sandbox
        .commercetools
        .resource_stats("customers")
        .query_results
        - runs;
    let bound = CUSTOMERS + 3 * (PAGE + IN_FLIGHT);
    println!(
        "resume: killed at {points:?} customers landed (seed {seed}); scanned {scanned} in {runs} runs \
         for {CUSTOMERS} customers (bound {bound} = {CUSTOMERS} + 3 × ({PAGE} page + {IN_FLIGHT} in flight))"
    );
    assert!(
        (scanned as usize) < bound,
        "scanned {scanned}, bound {bound}"
    );
    assert!(scanned as usize >= CUSTOMERS);

    // A finished checkpoint does not stop a new run; kill that one, and
    // --restart starts over from the beginning.
    let landed = sandbox.fluent.mutations().len();
    let mut child = command(dir.path(), &env, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sandbox
        .commercetools
        .resource_stats("customers")
        .query_results
        < scanned + runs + 300
    {
        assert!(Instant::now() < deadline, "the new run made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the new run ended early"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().await.unwrap();
    let output = backfill(dir.path(), &env, &[]).await;
    assert_eq!(
        output.status.code(),
        Some(2),
        "the killed run left an unfinished checkpoint"
    );
    let output = backfill(dir.path(), &env, &["--restart"]).await;
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("scanned    {CUSTOMERS:>8}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("unchanged  {CUSTOMERS:>8}")),
        "{stdout}"
    );
    assert_eq!(
        sandbox.fluent.mutations().len(),
        landed,
        "an unchanged project was written"
    );
}
