//! Helpers of the end-to-end tests: the local SQS server (moto, started by
//! `scripts/sqs-server.sh start`, address in `CONNECT_SQS_ENDPOINT`), the
//! commercetools and Fluent emulators, the configuration file, and the
//! `connect` binary run as child processes.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use connect_core::QueueError;
use connect_core::queue::{RawPayload, Sink};
use connect_sqs::aws_sdk_sqs::Client;
use connect_sqs::{SqsQueue, SqsQueueConfig};
use connect_testkit::commercetools::CommercetoolsEmulator;
use connect_testkit::fluent::FluentEmulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use connect_testkit::sqs::{
    REGION, counts, create_queue, create_with_dlq, delete_queues, unique,
};

/// The route of customer payloads.
pub const ROUTE: &str = "commercetools.connect.customer.upsert";

/// The local server's address; fails the test with what to do when unset
/// (these tests are never skipped silently).
pub fn endpoint() -> String {
    connect_testkit::sqs::endpoint().unwrap()
}

/// An SQS client for the local server with dummy credentials (the child
/// processes get the same ones through the environment).
pub fn sqs_client() -> Client {
    connect_testkit::sqs::client(&endpoint())
}

/// The CT queue as the commercetools emulator's subscription sink.
pub async fn ct_queue_sink(client: &Client, url: &str) -> SqsQueue<RawPayload> {
    let config = SqsQueueConfig::new(url)
        .with_region(REGION)
        .with_endpoint_url(endpoint())
        .with_heartbeat(false);
    SqsQueue::connect_with(client.clone(), &config)
        .await
        .expect("connect to the CT queue")
}

/// A subscription sink in front of the CT queue that sends in batches of
/// up to ten (`SendMessageBatch`): the emulator delivers one payload per
/// write and waits for it, and one `SendMessage` per customer would make
/// feeding the slowest part of a test. `send` only queues the payload;
/// [`flushed`](Self::flushed) waits until every queued one reached SQS.
pub struct BatchingSink {
    queue: mpsc::UnboundedSender<RawPayload>,
    queued: AtomicU64,
    sent: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
}

impl BatchingSink {
    pub async fn start(client: &Client, url: &str) -> Self {
        let target = ct_queue_sink(client, url).await;
        let (queue, mut incoming) = mpsc::unbounded_channel::<RawPayload>();
        let sent = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        {
            let sent = Arc::clone(&sent);
            let failures = Arc::clone(&failures);
            tokio::spawn(async move {
                while let Some(first) = incoming.recv().await {
                    let mut batch = vec![first];
                    while batch.len() < 10 {
                        match incoming.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    let n = batch.len() as u64;
                    match target.send_batch(batch).await {
                        Ok(()) => {
                            sent.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(error) => failures
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(error.to_string()),
                    }
                }
            });
        }
        Self {
            queue,
            queued: AtomicU64::new(0),
            sent,
            failures,
        }
    }

    /// Waits until every payload queued so far was sent; fails the test if
    /// a batch failed or `limit` passes.
    pub async fn flushed(&self, limit: Duration) {
        let queued = self.queued.load(Ordering::Relaxed);
        eventually(
            &format!("{queued} payloads sent to the CT queue"),
            limit,
            || async {
                let failures = self
                    .failures
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                assert!(
                    failures.is_empty(),
                    "sending to the CT queue failed: {failures:?}"
                );
                (self.sent.load(Ordering::Relaxed) >= queued).then_some(())
            },
            || format!("{} sent", self.sent.load(Ordering::Relaxed)),
        )
        .await;
    }
}

#[connect_core::async_trait]
impl Sink<RawPayload> for BatchingSink {
    async fn send(&self, item: RawPayload) -> Result<(), QueueError> {
        self.queue
            .send(item)
            .map_err(|_| QueueError::Closed("ct-queue feeder".to_owned()))?;
        self.queued.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Polls `probe` every 100 ms until it returns `Some`; fails the test after
/// `limit` with `what` and what `diagnose` says about the state then.
pub async fn eventually<T, F, Fut>(
    what: &str,
    limit: Duration,
    mut probe: F,
    diagnose: impl Fn() -> String,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}; {}",
            diagnose()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The queue blocks and runtime settings of one configuration file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// commercetools auth and API URL (the emulator, or a proxy in front).
    pub ct_url: String,
    pub ct_queue: String,
    /// `None`: an in-memory event queue.
    pub event_queue: Option<String>,
    /// The SQS dead-letter store queue.
    pub dead_letters: String,
    pub visibility_timeout: Duration,
    pub concurrency: usize,
}

fn sqs_block(url: &str, visibility_timeout: Duration, indent: &str) -> String {
    format!(
        "{indent}type: sqs\n\
         {indent}queue-url: {url}\n\
         {indent}region: {REGION}\n\
         {indent}endpoint-url: {endpoint}\n\
         {indent}wait-time: 1s\n\
         {indent}batch-size: 10\n\
         {indent}visibility-timeout: {secs}s\n",
        endpoint = endpoint(),
        secs = visibility_timeout.as_secs().max(1),
    )
}

/// A complete configuration file for the emulators and the queues.
pub fn config_yaml(ct: &CommercetoolsEmulator, fluent: &FluentEmulator, s: &Settings) -> String {
    let fl = fluent.config();
    let pk = ct.project_key();
    let event_queue = match &s.event_queue {
        Some(url) => sqs_block(url, s.visibility_timeout, "  "),
        None => "  type: in-memory\n".to_owned(),
    };
    let mut yaml = String::new();
    write!(
        yaml,
        r#"connector-name: sqs-end-to-end
commercetools:
  project-key: {pk}
  client-id: {ct_client}
  client-secret: {ct_secret}
  auth-url: {ct_url}
  api-url: {ct_url}
  scopes: [view_customers:{pk}]
  request-timeout: 30s
  retry-initial-backoff: 10ms
fluent:
  base-url: {fl_url}
  account: {fl_account}
  retailer-id: "{fl_retailer}"
  client-id: {fl_client}
  client-secret: {fl_secret}
  username: {fl_user}
  password: {fl_password}
  request-timeout: 10s
  retry-initial-backoff: 10ms
listeners:
  ct-queue:
{ct_queue}event-queue:
{event_queue}runtime:
  concurrency: {concurrency}
  max-attempts: 5
  backoff: {{ initial: 50ms, max: 1s }}
  shutdown-timeout: 5s
  dead-letter:
{dead_letters}route-mapping:
  customer: {ROUTE}
routes:
  - route: {ROUTE}
    handler: CommercetoolsCustomerUpsert
    inclusion-filter: [ResourceCreated, ResourceUpdated]
"#,
        ct_client = ct.client_id(),
        ct_secret = ct.client_secret(),
        ct_url = s.ct_url,
        fl_url = fl.base_url,
        fl_account = fl.account,
        fl_retailer = fl.retailer_id,
        fl_client = fl.client_id,
        fl_secret = fl.client_secret.expose(),
        fl_user = fl.username,
        fl_password = fl.password.expose(),
        ct_queue = sqs_block(&s.ct_queue, s.visibility_timeout, "    "),
        concurrency = s.concurrency,
        dead_letters = sqs_block(&s.dead_letters, Duration::from_secs(30), "    "),
    )
    .expect("write to a String");
    yaml
}

/// Writes `yaml` as `name` into `dir`.
pub fn write_config(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, yaml).expect("write the configuration file");
    path
}

/// A `connect` child process; SIGKILLed when dropped (also when a test
/// panics, whose log tail is then printed).
pub struct Connect {
    name: String,
    child: Mutex<tokio::process::Child>,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// What a finished `connect` printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

fn command(args: &[&str], stdout: &Path, stderr: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_connect"));
    command
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // One line per handled customer would drown the interesting ones.
        .env("CONNECT_LOG", "info,connect_customer_sync=warn")
        .env("CONNECT_LOG_FORMAT", "text")
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_SQS")
        .env_remove("CONNECT_CONFIG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout).expect("create the stdout file"))
        .stderr(std::fs::File::create(stderr).expect("create the stderr file"))
        .kill_on_drop(true);
    command
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Connect {
    /// Starts `connect ARGS`, its output going to `NAME.stdout` / `NAME.stderr` in `dir`.
    pub fn spawn(name: &str, dir: &Path, args: &[&str]) -> Self {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let child = command(args, &stdout, &stderr)
            .spawn()
            .expect("start the connect binary");
        Self {
            name: name.to_owned(),
            child: Mutex::new(child),
            stdout,
            stderr,
        }
    }

    /// `connect run --config CONFIG`.
    pub fn run(name: &str, dir: &Path, config: &Path) -> Self {
        Self::spawn(
            name,
            dir,
            &["run", "--config", config.to_str().expect("a UTF-8 path")],
        )
    }

    /// Runs `connect ARGS` to completion (at most `limit`).
    pub async fn output(name: &str, dir: &Path, args: &[&str], limit: Duration) -> Finished {
        let mut child = Self::spawn(name, dir, args);
        let status = tokio::time::timeout(limit, child.child_mut().wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "`connect {}` did not finish within {limit:?}",
                    args.join(" ")
                )
            })
            .expect("wait for connect");
        child.finished(status)
    }

    fn finished(&self, status: ExitStatus) -> Finished {
        Finished {
            status,
            stdout: read(&self.stdout),
            stderr: read(&self.stderr),
        }
    }

    fn child_mut(&mut self) -> &mut tokio::process::Child {
        self.child
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn pid(&mut self) -> u32 {
        self.child_mut()
            .id()
            .expect("the child has not been reaped")
    }

    /// Fails the test when the process has exited.
    pub fn assert_running(&self) {
        let exited = self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .try_wait()
            .expect("poll the child");
        if let Some(status) = exited {
            panic!(
                "`connect` {} exited early with {status}; stderr:\n{}",
                self.name,
                tail(&read(&self.stderr), 40)
            );
        }
    }

    /// The last lines of the child's log.
    pub fn log_tail(&self, lines: usize) -> String {
        format!(
            "--- {} stderr (last {lines} lines) ---\n{}",
            self.name,
            tail(&read(&self.stderr), lines)
        )
    }

    /// SIGKILL: the process dies at once, holding whatever it received.
    pub async fn kill(&mut self) -> ExitStatus {
        let child = self.child_mut();
        child.kill().await.expect("SIGKILL the child");
        child.wait().await.expect("reap the child")
    }

    /// Sends `signal` (e.g. `TERM`, `INT`) to the process.
    pub fn signal(&mut self, signal: &str) {
        let pid = self.pid().to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {pid} failed");
    }

    /// SIGTERM, then waits (at most `limit`) for the graceful exit.
    pub async fn terminate(mut self, limit: Duration) -> Finished {
        self.signal("TERM");
        self.wait_finished(limit).await
    }

    /// SIGTERM; once the process logged that it is shutting down, a second
    /// SIGTERM; then waits (at most `limit`) for the exit.
    pub async fn terminate_twice(mut self, limit: Duration) -> Finished {
        self.signal("TERM");
        let stderr = self.stderr.clone();
        eventually(
            "the first SIGTERM to be seen",
            Duration::from_secs(10),
            || async { read(&stderr).contains("shutdown requested").then_some(()) },
            || tail(&read(&stderr), 20),
        )
        .await;
        self.signal("TERM");
        self.wait_finished(limit).await
    }

    /// Waits (at most `limit`) for the process to exit.
    pub async fn wait_finished(mut self, limit: Duration) -> Finished {
        let status = match tokio::time::timeout(limit, self.child_mut().wait()).await {
            Ok(status) => status.expect("wait for connect"),
            Err(_) => panic!(
                "`connect` {} did not stop within {limit:?} after the signal\n{}",
                self.name,
                self.log_tail(40)
            ),
        };
        self.finished(status)
    }
}

impl Drop for Connect {
    fn drop(&mut self) {
        let _ = self.child_mut().start_kill();
        if std::thread::panicking() {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{}", self.log_tail(30));
            }
        }
    }
}

/// The counters of a `connect run` that stopped gracefully (its last
/// stdout line, `stopped: N received, N succeeded, ...`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stopped {
    pub received: u64,
    pub succeeded: u64,
    pub filtered: u64,
    pub coalesced: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    /// Payloads the listener dead-lettered (not commercetools payloads).
    pub malformed: u64,
    /// Messages returned to their queue (unstarted, waiting or interrupted).
    pub returned: u64,
    /// Of those, messages interrupted while being handled.
    pub interrupted: u64,
}

impl Stopped {
    /// Parses the `stopped:` line of `stdout`.
    pub fn parse(stdout: &str) -> Self {
        let line = stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("stopped: "))
            .unwrap_or_else(|| panic!("no `stopped:` line in stdout:\n{stdout}"));
        let number = |label: &str| -> u64 {
            let at = line
                .find(label)
                .unwrap_or_else(|| panic!("no `{label}` in `{line}`"));
            line[..at]
                .trim_end()
                .rsplit(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no number before `{label}` in `{line}`"))
        };
        Self {
            received: number(" received"),
            succeeded: number(" succeeded"),
            filtered: number(" filtered"),
            coalesced: number(" coalesced"),
            retried: number(" retried"),
            dead_lettered: number(" dead-lettered"),
            malformed: number(" malformed payloads"),
            returned: number(" returned"),
            interrupted: number(" interrupted"),
        }
    }
}

/// A TCP proxy in front of an HTTP server that can be frozen: once frozen,
/// every request sent through it is held (never forwarded), so whoever sent
/// it waits mid-request. Used to make sure a process is in the middle of
/// handling messages when it is killed.
pub struct FreezableProxy {
    url: String,
    frozen: watch::Sender<bool>,
    held: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FreezableProxy {
    /// Listens on 127.0.0.1 and forwards to `upstream` (`http://HOST:PORT`).
    pub async fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("the upstream is http://IP:PORT");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let (frozen, _) = watch::channel(false);
        let held = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let frozen = frozen.clone();
            let held = Arc::clone(&held);
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    tokio::spawn(pipe(
                        inbound,
                        upstream,
                        frozen.subscribe(),
                        Arc::clone(&held),
                    ));
                }
            })
        };
        Self {
            url,
            frozen,
            held,
            task,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Holds every request sent from now on.
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    /// The request lines (`GET /path HTTP/1.1`) held since the freeze.
    pub fn held(&self) -> Vec<String> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FreezableProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    inbound: TcpStream,
    upstream: SocketAddr,
    mut frozen: watch::Receiver<bool>,
    held: Arc<Mutex<Vec<String>>>,
) {
    let Ok(outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut from_client, mut to_client) = inbound.into_split();
    let (mut from_server, mut to_server) = outbound.into_split();
    let up = async move {
        let mut buf = vec![0_u8; 64 * 1024];
        loop {
            let n = match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if *frozen.borrow_and_update() {
                let head = String::from_utf8_lossy(&buf[..n]);
                let line = head.lines().next().unwrap_or_default().to_owned();
                held.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(line);
                // Held until the proxy is dropped (the sender goes away).
                if frozen.wait_for(|f| !*f).await.is_err() {
                    break;
                }
            }
            if to_server.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = to_server.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
        let _ = to_client.shutdown().await;
    };
    tokio::join!(up, down);
}

/// The customer id of a held `GET /{pk}/customers/{id}` request line.
pub fn customer_id_of(request_line: &str) -> Option<String> {
    let path = request_line.split_whitespace().nth(1)?;
    let id = path.split("/customers/").nth(1)?;
    let id = id.split(['?', '/']).next()?;
    (!id.is_empty() && !id.starts_with("key=")).then(|| id.to_owned())
}
