//! What the `connect` process costs: CPU time per customer and resident
//! memory (idle and peak), while `connect run` (release build, the
//! recommended single-replica layout: SQS CT queue, in-memory event queue,
//! concurrency 16) syncs N customers from the local SQS server into the
//! emulators.
//!
//! CPU time is the process's user + system time from `/proc/<pid>/stat`
//! over the load (from the first notification sent until every customer is
//! in Fluent), divided by N. Idle RSS is `VmRSS` once the connector has
//! been up and waiting on an empty queue; peak RSS is `VmHWM` (the
//! high-water mark) at the end. The log level is given by
//! `CONNECT_PROCESS_LOG` (default `info`, what `connect run` logs by
//! default), so the cost of logging can be measured by comparing runs.
//!
//! Run: `scripts/measure-process.sh` (it builds the release binary, starts
//! the local SQS server and runs this with `CONNECT_BINARY` set), or by hand:
//! `scripts/sqs-server.sh start && eval "$(scripts/sqs-server.sh env)"`, then
//! `CONNECT_BINARY=target/release/connect cargo bench -p connect-cli --bench
//! process`. N comes from `CONNECT_PROCESS_CUSTOMERS` (default 1000); the
//! binary's own settings (`CONNECT_WORKER_THREADS`, ...) from the
//! environment.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use connect_testkit::Sandbox;
use support::CountingProxy;

const CONCURRENCY: usize = 16;

/// CPU time (user + system) of `pid` so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses).
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Clock ticks per second: 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Prints the mappings holding the most resident memory (`/proc/<pid>/smaps`).
fn print_largest_mappings(pid: u32) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut mappings: Vec<(u64, String)> = Vec::new();
    let mut name = String::new();
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            name = line
                .split_whitespace()
                .skip(5)
                .collect::<Vec<_>>()
                .join(" ");
            if name.is_empty() {
                name = format!("[anon {first}]");
            }
        } else if let Some(rss) = line.strip_prefix("Rss:") {
            let kib: u64 = rss
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse()
                .unwrap_or(0);
            mappings.push((kib, name.clone()));
        }
    }
    mappings.sort_by_key(|m| std::cmp::Reverse(m.0));
    for (kib, name) in mappings.iter().take(15) {
        println!("  {kib:>7} KiB  {name}");
    }
}

/// The connector's file: the emulators through the `${VAR}`s of
/// [`Sandbox::env`], the CT queue on the local SQS server.
fn config(queue: &str, sqs: &str) -> String {
    format!(
        r#"connector-name: process-bench
commercetools:
  project-key: ${{CT_PROJECT_KEY}}
  client-id: ${{CT_CLIENT_ID}}
  client-secret: ${{CT_CLIENT_SECRET}}
  auth-url: ${{CT_AUTH_URL}}
  api-url: ${{CT_API_URL}}
  scopes: [manage_customers:${{CT_PROJECT_KEY}}]
fluent:
  base-url: ${{FLUENT_BASE_URL}}
  account: ${{FLUENT_ACCOUNT}}
  retailer-id: "${{FLUENT_RETAILER_ID}}"
  client-id: ${{FLUENT_CLIENT_ID}}
  client-secret: ${{FLUENT_CLIENT_SECRET}}
  username: ${{FLUENT_USERNAME}}
  password: ${{FLUENT_PASSWORD}}
listeners:
  ct-queue:
    type: sqs
    queue-url: {queue}
    region: {region}
    endpoint-url: {sqs}
event-queue:
  type: in-memory
runtime:
  concurrency: {CONCURRENCY}
  dead-letter: {{ type: in-memory }}
route-mapping:
  customer: commercetools.connect.customer.upsert
routes:
  - route: commercetools.connect.customer.upsert
    handler: CommercetoolsCustomerUpsert
    inclusion-filter: [ResourceCreated, ResourceUpdated]
"#,
        region = support::REGION,
    )
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let customers: usize = std::env::var("CONNECT_PROCESS_CUSTOMERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let log = std::env::var("CONNECT_PROCESS_LOG").unwrap_or_else(|_| "info".to_owned());
    let sandbox = Sandbox::start().await.unwrap();
    let (ct, fluent) = (&sandbox.commercetools, &sandbox.fluent);
    let proxy = CountingProxy::start(&support::endpoint()).await;
    // The bench's own calls (create, fill, delete the queue) bypass the
    // counting proxy; only the connector's are counted.
    let sqs = support::sqs_client(&support::endpoint());
    let queue = connect_testkit::sqs::create_queue(&sqs, "process-bench", false)
        .await
        .unwrap()
        .url;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("process.yml");
    std::fs::write(&path, config(&queue, proxy.url())).unwrap();
    let stderr = dir.path().join("connect.stderr");

    // The binary `cargo build --release -p connect-cli` makes, when given:
    // the one `cargo bench` builds has the dev-dependencies' features too.
    let binary = std::env::var("CONNECT_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_connect").to_owned());
    let mut child = tokio::process::Command::new(&binary)
        .args(["run", "--config", path.to_str().unwrap()])
        .envs(sandbox.env())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("CONNECT_LOG", &log)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    // Up and idle: started, logged in, long-polling an empty queue.
    wait_for("the connector to receive", Duration::from_secs(30), || {
        proxy.calls().contains_key("ReceiveMessage")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_kib = status_kib(pid, "VmRSS");
    if std::env::var_os("CONNECT_PROCESS_MAPS").is_some() {
        print_largest_mappings(pid);
    }
    let idle_anon_kib = status_kib(pid, "RssAnon");
    let idle_file_kib = status_kib(pid, "RssFile");
    let calls_before = proxy.calls();
    // `CONNECT_PROCESS_PERF=FILE` records a CPU profile of the load with
    // `perf record -g` (read it with `perf report -i FILE`).
    let mut perf = std::env::var("CONNECT_PROCESS_PERF").ok().map(|file| {
        std::process::Command::new("perf")
            .args([
                "record",
                "-F",
                "1999",
                "--call-graph",
                "dwarf,16384",
                "-o",
                &file,
                "-p",
                &pid.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run perf (install linux-perf)")
    });

    let mut serial = 0;
    let ids = support::seed(ct, &mut serial, customers);
    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    support::notify(&sqs, ct, &queue, &ids).await;
    wait_for("every customer in Fluent", Duration::from_secs(600), || {
        fluent.customers().len() >= customers
    })
    .await;
    let elapsed = started.elapsed();
    let cpu = cpu_time(pid) - cpu_before;
    if let Some(perf) = perf.as_mut() {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &perf.id().to_string()])
            .status();
        let _ = perf.wait();
    }
    let peak_kib = status_kib(pid, "VmHWM");
    let after_kib = status_kib(pid, "VmRSS");

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "connect exited with {status}");
    let calls = support::since(&proxy.calls(), &calls_before);
    let total_calls: u64 = calls.values().sum();
    let threads = std::env::var("CONNECT_WORKER_THREADS").unwrap_or_else(|_| "default".to_owned());
    println!(
        "connect process ({binary}, worker threads {threads}, concurrency {CONCURRENCY}, log `{log}`): {customers} customers in {:.1}s ({:.0}/s); \
         CPU {:.3} ms per customer ({} ms in all); RSS idle {:.1} MiB ({:.1} anonymous, {:.1} file-backed), \
         peak {:.1} MiB, after load {:.1} MiB; {:.3} SQS calls per customer ({calls:?})",
        elapsed.as_secs_f64(),
        customers as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1000.0 / customers as f64,
        cpu.as_millis(),
        idle_kib as f64 / 1024.0,
        idle_anon_kib as f64 / 1024.0,
        idle_file_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0,
        after_kib as f64 / 1024.0,
        total_calls as f64 / customers as f64,
    );
    support::delete_queue(&sqs, &queue).await;
}
