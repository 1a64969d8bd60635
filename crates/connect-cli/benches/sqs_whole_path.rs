//! The production path, whole: commercetools change notifications waiting in
//! an SQS queue (the local server) are consumed and synced into Fluent, by
//! the SDK and by a hand-written consumer, alternately, in one run.
//!
//! - `sdk`: the `connect run` pipeline in process — an SQS CT queue
//!   (`SqsQueue`, batch receives of 10), the in-memory event queue (so the
//!   runtime reads the CT queue end to end), the runtime at concurrency 16,
//!   the bundled `CommercetoolsCustomerUpsert`, and SQS deletes in batch
//!   calls. Timed from the start of the run until N customers succeeded;
//!   the SQS calls are counted until the run stopped (every delete
//!   included).
//! - `baseline`: what an integrator would write instead: `aws-sdk-sqs`
//!   batch receives of 10 (1 s long poll), each message handled by one of
//!   16 concurrent tasks doing the same three HTTP calls with reqwest
//!   (commercetools GET by id, Fluent lookup by ref, Fluent create), and one
//!   `DeleteMessageBatch` per received batch once it is handled.
//!
//! Both start from a queue holding N notifications (filled untimed, through
//! a proxy that counts SQS calls by operation) and share the emulators,
//! tokens, the tokio runtime and the allocator. The local SQS server (a
//! Python process) is usually the bottleneck of both.
//!
//! Run: `scripts/sqs-server.sh start && eval "$(scripts/sqs-server.sh env)"`,
//! then `cargo bench -p connect-cli --bench sqs_whole_path`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use connect_commercetools::CommercetoolsClient;
use connect_core::config::ConfigDocument;
use connect_core::dead_letter::MemoryDeadLetters;
use connect_core::queue::RawPayload;
use connect_core::runtime::Shutdown;
use connect_fluent::FluentClient;
use connect_runner::{Connector, QueuePair};
use connect_sqs::aws_sdk_sqs::Client;
use connect_sqs::aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use connect_sqs::{SqsQueue, SqsQueueConfig};
use connect_testkit::baseline::RawCustomerSync;
use connect_testkit::commercetools::CommercetoolsEmulator;
use connect_testkit::fluent::FluentEmulator;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use support::{Calls, CountingProxy};
use tokio::sync::Semaphore;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Customers per round.
const CUSTOMERS: usize = 300;
/// Concurrency of both sides.
const CONCURRENCY: usize = 16;
/// Alternating rounds of each side for the printed ratio.
const RATIO_ROUNDS: usize = 8;
const BOUND: Duration = Duration::from_secs(120);
const ROUTE: &str = "commercetools.connect.customer.upsert";

fn yaml() -> String {
    format!(
        r#"connector-name: sqs-whole-path-bench
route-mapping:
  customer: {ROUTE}
runtime:
  concurrency: {CONCURRENCY}
  max-attempts: 4
  backoff: {{ initial: 5ms, max: 50ms }}
  shutdown-timeout: 5s
routes:
  - route: {ROUTE}
    handler: CommercetoolsCustomerUpsert
    inclusion-filter: [ResourceCreated, ResourceUpdated, ResourceDeleted]
"#
    )
}

/// One timed round: its duration and the SQS calls it made.
struct Round {
    elapsed: Duration,
    calls: Calls,
}

struct Fixture {
    ct: CommercetoolsEmulator,
    fluent: FluentEmulator,
    proxy: CountingProxy,
    /// Through the counting proxy: what the consumers use.
    sqs: Client,
    /// Straight to the server: what the bench itself uses.
    direct: Client,
    serial: std::sync::Mutex<u64>,
    commercetools: CommercetoolsClient,
    fluent_client: FluentClient,
    raw: Arc<RawCustomerSync>,
}

impl Fixture {
    async fn start() -> Arc<Self> {
        let ct = CommercetoolsEmulator::start().await.unwrap();
        let fluent = FluentEmulator::start().await.unwrap();
        let proxy = CountingProxy::start(&support::endpoint()).await;
        let sqs = support::sqs_client(proxy.url());
        let direct = support::sqs_client(&support::endpoint());
        let commercetools = ct.client().unwrap();
        let fluent_client = FluentClient::new(fluent.config()).unwrap();
        let raw = Arc::new(RawCustomerSync::login(&ct, &fluent).await.unwrap());
        Arc::new(Self {
            ct,
            fluent,
            proxy,
            sqs,
            direct,
            serial: std::sync::Mutex::new(0),
            commercetools,
            fluent_client,
            raw,
        })
    }

    /// A queue holding a notification for each of N new customers.
    async fn filled_queue(&self, name: &str) -> (String, Vec<String>) {
        let url = connect_testkit::sqs::create_queue(&self.direct, name, false)
            .await
            .unwrap()
            .url;
        let ids = {
            let mut serial = self.serial.lock().unwrap();
            support::seed(&self.ct, &mut serial, CUSTOMERS)
        };
        support::notify(&self.direct, &self.ct, &url, &ids).await;
        (url, ids)
    }

    async fn sdk_round(&self) -> Round {
        let (url, ids) = self.filled_queue("whole-path-sdk").await;
        let config = SqsQueueConfig::new(&url)
            .with_region(support::REGION)
            .with_endpoint_url(self.proxy.url())
            .with_wait_time(Duration::from_secs(1));
        let queue: SqsQueue<RawPayload> = SqsQueue::connect_with(self.sqs.clone(), &config)
            .await
            .unwrap();
        let connector = Connector::builder(ConfigDocument::from_yaml("bench.yml", yaml()))
            .service(self.commercetools.clone())
            .service(self.fluent_client.clone())
            .ct_queue(QueuePair::of(queue))
            .dead_letters(Arc::new(MemoryDeadLetters::new()))
            .receive(10, Duration::from_secs(1))
            .build()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let metrics = connector.metrics();
        let before = self.proxy.calls();
        let shutdown = Shutdown::new();
        let start = Instant::now();
        let running = tokio::spawn(connector.run(shutdown.clone()));
        metrics
            .wait_until(|m| m.succeeded >= CUSTOMERS as u64, BOUND)
            .await
            .unwrap_or_else(|e| panic!("sdk round did not finish: {e}"));
        let elapsed = start.elapsed();
        shutdown.trigger();
        let report = running.await.unwrap();
        let calls = support::since(&self.proxy.calls(), &before);
        assert_eq!(report.runtime.metrics.dead_lettered, 0);
        self.check_created(&ids);
        support::delete_queue(&self.direct, &url).await;
        Round { elapsed, calls }
    }

    async fn baseline_round(&self) -> Round {
        let (url, ids) = self.filled_queue("whole-path-baseline").await;
        let before = self.proxy.calls();
        let start = Instant::now();
        consume(&self.raw, &self.sqs, &url, CUSTOMERS).await;
        let elapsed = start.elapsed();
        let calls = support::since(&self.proxy.calls(), &before);
        self.check_created(&ids);
        support::delete_queue(&self.direct, &url).await;
        Round { elapsed, calls }
    }

    fn check_created(&self, ids: &[String]) {
        for id in [ids.first(), ids.last()].into_iter().flatten() {
            assert_eq!(self.fluent.create_count(id), 1, "{id} created once");
        }
    }
}

/// Receives batches of ten, handles each message on one of
/// `CONCURRENCY` permits, and deletes each batch once it is handled.
async fn consume(raw: &Arc<RawCustomerSync>, sqs: &Client, url: &str, n: usize) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let deleted = Arc::new(AtomicUsize::new(0));
    let mut batches = tokio::task::JoinSet::new();
    let mut received = 0;
    while received < n {
        let output = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = output.messages.unwrap_or_default();
        received += messages.len();
        let mut handling = tokio::task::JoinSet::new();
        let mut receipts = Vec::with_capacity(messages.len());
        for message in messages {
            let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
            receipts.push(message.receipt_handle.unwrap());
            let raw = Arc::clone(raw);
            let body = message.body.unwrap();
            handling.spawn(async move {
                let payload: Value = serde_json::from_str(&body).unwrap();
                let id = payload["resource"]["id"].as_str().unwrap().to_owned();
                raw.sync_one(&id).await.unwrap();
                drop(permit);
            });
        }
        let sqs = sqs.clone();
        let url = url.to_owned();
        let deleted = Arc::clone(&deleted);
        batches.spawn(async move {
            while let Some(done) = handling.join_next().await {
                done.unwrap();
            }
            if receipts.is_empty() {
                return;
            }
            let entries = receipts
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .unwrap()
                })
                .collect();
            sqs.delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .unwrap();
            deleted.fetch_add(receipts.len(), Ordering::Relaxed);
        });
    }
    while let Some(done) = batches.join_next().await {
        done.unwrap();
    }
    assert_eq!(deleted.load(Ordering::Relaxed), n);
}

fn per_message(calls: &Calls, messages: usize) -> String {
    let total: u64 = calls.values().sum();
    let by_op: Vec<String> = calls.iter().map(|(op, n)| format!("{op} {n}")).collect();
    format!(
        "{:.3} SQS calls/message ({})",
        total as f64 / messages as f64,
        by_op.join(", ")
    )
}

fn add(into: &mut Calls, calls: &Calls) {
    for (op, n) in calls {
        *into.entry(op.clone()).or_default() += n;
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fixture = rt.block_on(Fixture::start());
    rt.block_on(async {
        fixture.sdk_round().await;
        fixture.baseline_round().await;
    });

    let mut group = c.benchmark_group("sqs_whole_path");
    group.throughput(Throughput::Elements(CUSTOMERS as u64));
    group.bench_function("sdk", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let fixture = Arc::clone(&fixture);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += fixture.sdk_round().await.elapsed;
                }
                total
            }
        });
    });
    group.bench_function("baseline_hand_written", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let fixture = Arc::clone(&fixture);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += fixture.baseline_round().await.elapsed;
                }
                total
            }
        });
    });
    group.finish();

    // Alternating rounds, the order flipped every round (the local server
    // slows down as it ages, so neither side always goes first).
    let rounds = rt.block_on(async {
        let mut rounds = Vec::with_capacity(RATIO_ROUNDS);
        for round in 0..RATIO_ROUNDS {
            let (sdk, baseline) = if round % 2 == 0 {
                let sdk = fixture.sdk_round().await;
                (sdk, fixture.baseline_round().await)
            } else {
                let baseline = fixture.baseline_round().await;
                (fixture.sdk_round().await, baseline)
            };
            rounds.push((sdk, baseline));
        }
        rounds
    });
    let mut sdk = (Duration::ZERO, Calls::new());
    let mut baseline = (Duration::ZERO, Calls::new());
    let mut ratios = Vec::with_capacity(RATIO_ROUNDS);
    for (s, b) in &rounds {
        sdk.0 += s.elapsed;
        add(&mut sdk.1, &s.calls);
        baseline.0 += b.elapsed;
        add(&mut baseline.1, &b.calls);
        ratios.push(b.elapsed.as_secs_f64() / s.elapsed.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let messages = CUSTOMERS * RATIO_ROUNDS;
    let sdk_rate = messages as f64 / sdk.0.as_secs_f64();
    let baseline_rate = messages as f64 / baseline.0.as_secs_f64();
    println!(
        "sqs_whole_path ({RATIO_ROUNDS} alternating rounds of {CUSTOMERS} customers, concurrency {CONCURRENCY}): \
         sdk {sdk_rate:.0} customers/s, {}; baseline {baseline_rate:.0} customers/s, {}; \
         sdk/baseline = {:.2} over all rounds, median of rounds {:.2} (min {:.2}, max {:.2}) \
         (target >= 0.95; SQS calls/message target <= 0.25)",
        per_message(&sdk.1, messages),
        per_message(&baseline.1, messages),
        sdk_rate / baseline_rate,
        ratios[RATIO_ROUNDS / 2],
        ratios[0],
        ratios[RATIO_ROUNDS - 1],
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    targets = bench
}
criterion_main!(benches);
