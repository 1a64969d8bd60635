//! A partner's job handler (`PartnerRecordRuns`, registered with
//! `connect_sdk::jobs::register_job!`) run by the partner's own binary:
//! two replicas of `run` on one schedule and one `file` state store never
//! overlap, and `jobs`, `job run`, `job reset` and `/metrics` show and
//! drive the job.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(60);

/// The connector's file: one job, its state in `dir/state.json`, its runs
/// recorded in `runs`.
fn yaml(dir: &Path, runs: &Path, schedule: &str, hold_ms: u64, extra: &str) -> String {
    format!(
        "connector-name: partner-jobs
locations:
  location-type: STORE
  locale: en
routes:
  - route: connect.job
    handler: connect.JobTrigger
jobs:
  - job: record
    handler: PartnerRecordRuns
    schedule: '{schedule}'
    props: {{ file: '{runs}', hold-ms: {hold_ms} }}
state:
  type: file
  path: '{state}'
{extra}",
        runs = runs.display(),
        state = dir.join("state.json").display(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

struct Replica {
    name: String,
    child: tokio::process::Child,
    stderr: PathBuf,
    stdout: PathBuf,
}

impl Replica {
    fn spawn(dir: &Path, name: &str, args: &[&str]) -> Self {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_partner-connect"))
            .args(args)
            .env("CONNECT_JOB_HOLDER", name)
            .env("CONNECT_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("CONNECT_CONFIG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Self {
            name: name.to_owned(),
            child,
            stderr,
            stdout,
        }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} {pid}");
    }

    async fn wait(mut self, limit: Duration) -> (ExitStatus, String, String) {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not exit within {limit:?}", self.name))
            .unwrap();
        (
            status,
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        )
    }
}

async fn output(dir: &Path, name: &str, args: &[&str]) -> (ExitStatus, String, String) {
    Replica::spawn(dir, name, args).wait(LIMIT).await
}

/// One run as the job recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    holder: String,
    start: u128,
    end: Option<u128>,
}

fn runs(path: &Path) -> Vec<Run> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut runs: Vec<Run> = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["start", holder, start] => runs.push(Run {
                holder: (*holder).to_owned(),
                start: start.parse().unwrap(),
                end: None,
            }),
            ["end", holder, start, end] => {
                let start: u128 = start.parse().unwrap();
                let run = runs
                    .iter_mut()
                    .find(|r| r.holder == *holder && r.start == start)
                    .unwrap_or_else(|| panic!("an end without its start: {line}"));
                assert_eq!(run.end, None, "a run ended twice: {line}");
                run.end = Some(end.parse().unwrap());
            }
            _ => panic!("not a run line: {line:?}"),
        }
    }
    runs
}

/// Pairs of runs whose intervals overlap.
fn overlaps(runs: &[Run]) -> Vec<(Run, Run)> {
    let mut sorted = runs.to_vec();
    sorted.sort_by_key(|r| r.start);
    sorted
        .windows(2)
        .filter(|w| w[1].start < w[0].end.unwrap_or(u128::MAX))
        .map(|w| (w[0].clone(), w[1].clone()))
        .collect()
}

async fn until<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs two replicas of `run` until `count` runs ended, stops both with
/// SIGTERM and returns every recorded run.
async fn two_replicas(
    dir: &Path,
    config_a: &Path,
    config_b: &Path,
    runs_file: &Path,
    count: usize,
) -> Vec<Run> {
    let a = Replica::spawn(
        dir,
        "replica-a",
        &["run", "--config", config_a.to_str().unwrap()],
    );
    let b = Replica::spawn(
        dir,
        "replica-b",
        &["run", "--config", config_b.to_str().unwrap()],
    );
    until("the runs", Duration::from_secs(40), || {
        (runs(runs_file).iter().filter(|r| r.end.is_some()).count() >= count).then_some(())
    })
    .await;
    a.signal("TERM");
    b.signal("TERM");
    for replica in [a, b] {
        let name = replica.name.clone();
        let (status, _, stderr) = replica.wait(Duration::from_secs(20)).await;
        assert!(status.success(), "{name} exited with {status}:\n{stderr}");
    }
    runs(runs_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_schedule_and_one_file_store_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let runs_file = dir.path().join("runs.log");
    // Each run holds the lease for 600 ms of every second: both replicas
    // wake at every tick, so without the lease their runs would overlap.
    let config = write(
        dir.path(),
        "app.yml",
        &yaml(dir.path(), &runs_file, "every 1s", 600, ""),
    );
    let runs = two_replicas(dir.path(), &config, &config, &runs_file, 6).await;

    assert!(runs.len() >= 6, "{runs:?}");
    assert!(
        runs.iter().all(|r| r.end.is_some()),
        "every run ended, also the one running at SIGTERM: {runs:?}"
    );
    assert_eq!(overlaps(&runs), vec![], "runs overlapped: {runs:?}");
    let holders: std::collections::BTreeSet<&str> =
        runs.iter().map(|r| r.holder.as_str()).collect();
    assert!(
        holders
            .iter()
            .all(|h| ["replica-a", "replica-b"].contains(h)),
        "{holders:?}"
    );
    // Each tick ran once: the stored count is the number of runs recorded.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json")).unwrap())
            .unwrap();
    assert_eq!(
        state["jobs"]["record"]["runs"].as_u64(),
        Some(runs.len() as u64),
        "{state}"
    );
    assert_eq!(
        state["leases"],
        serde_json::json!({}),
        "leases released: {state}"
    );
}

/// The control: the same two replicas, each with a store of its own (no
/// shared lease), do overlap, so the check above can fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_without_a_shared_store_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let runs_file = dir.path().join("runs.log");
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let config_a = write(
        &dir_a,
        "app.yml",
        &yaml(&dir_a, &runs_file, "every 1s", 600, ""),
    );
    let config_b = write(
        &dir_b,
        "app.yml",
        &yaml(&dir_b, &runs_file, "every 1s", 600, ""),
    );
    let runs = two_replicas(dir.path(), &config_a, &config_b, &runs_file, 4).await;
    assert!(!overlaps(&runs).is_empty(), "{runs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_job_run_and_job_reset_drive_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let runs_file = dir.path().join("runs.log");
    // Once a year: the scheduler never runs it during the test.
    let config = write(
        dir.path(),
        "app.yml",
        &yaml(dir.path(), &runs_file, "0 0 1 1 *", 200, ""),
    );
    let config = config.to_str().unwrap();

    let (status, stdout, stderr) =
        output(dir.path(), "jobs-before", &["jobs", "--config", config]).await;
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("state: file "), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("record "))
        .expect(&stdout);
    assert!(
        line.contains("PartnerRecordRuns") && line.contains("0 0 1 1 *") && line.contains("never"),
        "{line}"
    );
    assert!(
        line.contains("-01-01T00:00:00Z"),
        "next run on 1 January: {line}"
    );

    let (status, stdout, stderr) = output(
        dir.path(),
        "run-1",
        &["job", "run", "record", "--config", config],
    )
    .await;
    assert_eq!(status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("job record: succeeded") && stdout.contains("run 1 recorded"),
        "{stdout}"
    );
    assert_eq!(runs(&runs_file).len(), 1);

    let (status, stdout, _) = output(
        dir.path(),
        "jobs-after",
        &["jobs", "--config", config, "--json"],
    )
    .await;
    assert!(status.success());
    let job: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(job["job"], "record");
    assert_eq!(job["outcome"], "succeeded");
    assert_eq!(job["runs"], 1);
    assert_eq!(job["checkpoint"]["runs"], 1);
    assert_eq!(job["checkpoint"]["holder"], "run-1");
    assert!(
        job["lastRun"].is_string() && job["lastDurationMs"].as_u64().unwrap() >= 200,
        "{job}"
    );

    // Busy: a long run holds the lease; a second `job run` is refused and
    // names the holder and the lease's expiry.
    let long = write(
        dir.path(),
        "long.yml",
        &yaml(dir.path(), &runs_file, "0 0 1 1 *", 20_000, ""),
    );
    let holder = Replica::spawn(
        dir.path(),
        "holder-one",
        &["job", "run", "record", "--config", long.to_str().unwrap()],
    );
    until("the long run to start", Duration::from_secs(30), || {
        (runs(&runs_file).len() == 2).then_some(())
    })
    .await;
    let (status, _, stderr) = output(
        dir.path(),
        "run-2",
        &["job", "run", "record", "--config", config],
    )
    .await;
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("lease held by `holder-one`") && stderr.contains("expires at"),
        "{stderr}"
    );
    let (status, stdout, _) = output(dir.path(), "jobs-busy", &["jobs", "--config", config]).await;
    assert!(status.success());
    assert!(
        stdout.contains("running now: lease held by `holder-one`"),
        "{stdout}"
    );
    // SIGINT stops the long run at once; it checkpoints, ends, and the
    // command says it stopped (130).
    holder.signal("INT");
    let (status, stdout, stderr) = holder.wait(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("job record: stopped by a signal"),
        "{stdout}"
    );
    assert!(runs(&runs_file).iter().all(|r| r.end.is_some()));

    // Unknown: exit 2, listing the jobs.
    let (status, _, stderr) = output(
        dir.path(),
        "run-unknown",
        &["job", "run", "nightly", "--config", config],
    )
    .await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no job is named `nightly`") && stderr.contains("[record]"),
        "{stderr}"
    );

    // Reset --since, then `jobs` shows the checkpoint.
    let (status, stdout, stderr) = output(
        dir.path(),
        "reset",
        &[
            "job",
            "reset",
            "record",
            "--since",
            "2026-03-01T12:00:00Z",
            "--config",
            config,
        ],
    )
    .await;
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("checkpoint set from 2026-03-01T12:00:00Z"),
        "{stdout}"
    );
    let (_, stdout, _) = output(dir.path(), "jobs-reset", &["jobs", "--config", config]).await;
    assert!(stdout.contains("\"2026-03-01T12:00:00.000Z\""), "{stdout}");
    let (status, _, stderr) = output(
        dir.path(),
        "reset-bad",
        &[
            "job",
            "reset",
            "record",
            "--since",
            "yesterday",
            "--config",
            config,
        ],
    )
    .await;
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("not an RFC 3339 time"), "{stderr}");
    let (status, stdout, _) = output(
        dir.path(),
        "reset-clear",
        &["job", "reset", "record", "--config", config],
    )
    .await;
    assert!(status.success());
    assert!(stdout.contains("checkpoint cleared"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_job_errors_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let runs_file = dir.path().join("runs.log");
    let good = yaml(dir.path(), &runs_file, "every 1s", 10, "");
    let cases = [
        (
            good.replace("handler: PartnerRecordRuns", "handler: PartnerRecordRun"),
            "app.yml:10:",
            "no job handler is registered as `PartnerRecordRun`; registered job handlers: [",
        ),
        (
            good.replace("'every 1s'", "'every often'"),
            "app.yml:11:",
            "every often",
        ),
        (
            good.replace("  type: file", "  type: redis"),
            "app.yml:",
            "`type: redis` is not a state store",
        ),
        (
            good.replace("hold-ms: 10", "hold-ms: lots"),
            "app.yml:12:",
            "invalid props.hold-ms",
        ),
        (good.replace("jobs:", "jobz:"), "app.yml:8:", "jobz"),
    ];
    for (yaml, at, says) in cases {
        let config = write(dir.path(), "app.yml", &yaml);
        let (status, _, stderr) = output(
            dir.path(),
            "validate",
            &["validate", "--config", config.to_str().unwrap()],
        )
        .await;
        assert_eq!(status.code(), Some(2), "{yaml}\n{stderr}");
        assert!(
            stderr.contains(at) && stderr.contains(says),
            "wanted {at} … {says}:\n{stderr}"
        );
    }
    assert!(
        {
            let config = write(dir.path(), "app.yml", &good);
            output(
                dir.path(),
                "validate-good",
                &["validate", "--config", config.to_str().unwrap()],
            )
            .await
            .0
            .success()
        },
        "the good file validates"
    );
}

async fn scrape(port: u16) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_job_gauges_after_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let runs_file = dir.path().join("runs.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = write(
        dir.path(),
        "app.yml",
        &yaml(
            dir.path(),
            &runs_file,
            "every 1s",
            100,
            &format!("observability:\n  listen: 127.0.0.1:{port}\n"),
        ),
    );
    let replica = Replica::spawn(
        dir.path(),
        "metrics",
        &["run", "--config", config.to_str().unwrap()],
    );
    until("a run", Duration::from_secs(30), || {
        runs(&runs_file)
            .iter()
            .any(|r| r.end.is_some())
            .then_some(())
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let metrics = scrape(port).await;
        if metrics.contains("connect_job_last_success_timestamp_seconds{job_name=\"record\"}") {
            break metrics;
        }
        assert!(Instant::now() < deadline, "no job gauges:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let value = |prefix: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix}:\n{metrics}"))
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let success = value("connect_job_last_success_timestamp_seconds{job_name=\"record\"}");
    assert!(
        (now - 30.0..=now + 1.0).contains(&success),
        "{success} vs {now}"
    );
    let duration = value("connect_job_last_duration_seconds{job_name=\"record\"}");
    assert!((0.1..5.0).contains(&duration), "{duration}");
    assert!(value("connect_job_runs_total{job_name=\"record\",outcome=\"succeeded\"}") >= 1.0);
    assert_eq!(
        value("connect_job_runs_total{job_name=\"record\",outcome=\"failed\"}"),
        0.0
    );
    assert_eq!(
        value("connect_job_interval_seconds{job_name=\"record\"}"),
        1.0
    );
    replica.signal("TERM");
    let (status, _, stderr) = replica.wait(Duration::from_secs(20)).await;
    assert!(status.success(), "{stderr}");
}
