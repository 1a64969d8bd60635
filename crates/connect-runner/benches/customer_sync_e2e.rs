//! End-to-end customer sync throughput through the local emulators, next to
//! raw reqwest doing the same HTTP work at the same concurrency, in one run
//! (DESIGN §8: the SDK at 80% or more of the baseline).
//!
//! - `sdk`: N new customers, seeded silently in the commercetools emulator,
//!   then N `ResourceCreated` change notifications (fixture-shaped) pushed
//!   into the in-memory CT queue of a running connector: listener → event
//!   queue → runtime (concurrency C) → `CommercetoolsCustomerUpsert` → Fluent
//!   emulator. Timed from the push until the runtime counted N successes.
//! - `baseline_raw_reqwest`: for N other new customers, C tasks with one
//!   `reqwest::Client` do what the handler does per message: commercetools
//!   `GET /{projectKey}/customers/{id}` (bearer token obtained once up front),
//!   Fluent `CustomerByRef` query, Fluent `CreateCustomer` mutation with the
//!   same mapped fields and the same GraphQL documents.
//!
//! Both sides hit the same emulator instances on the same tokio multi-thread
//! runtime under the same global allocator (mimalloc). Seeding is outside the
//! timed part. After criterion's group, a few alternating rounds of both are
//! timed again and their throughput ratio is printed on one line.
//!
//! Run: `cargo bench -p connect-runner --bench customer_sync_e2e`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use connect_core::config::ConfigDocument;
use connect_core::dead_letter::MemoryDeadLetters;
use connect_core::queue::{MemoryQueue, RawPayload, Sink};
use connect_core::runtime::{Metrics, Shutdown};
use connect_fluent::FluentClient;
use connect_runner::{Connector, QueuePair};
use connect_testkit::baseline::{RawCustomerSync, seed_customers};
use connect_testkit::commercetools::{CommercetoolsEmulator, NotificationFormat};
use connect_testkit::fluent::FluentEmulator;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Customers per measured iteration.
const CUSTOMERS: usize = 200;
/// Concurrency of both sides (`runtime.concurrency` and baseline tasks).
const CONCURRENCY: usize = 16;
/// Alternating rounds of each side timed for the printed ratio.
const RATIO_ROUNDS: usize = 10;
/// The longest an iteration may take before the bench gives up.
const BOUND: Duration = Duration::from_secs(60);
const ROUTE: &str = "commercetools.connect.customer.upsert";

fn yaml() -> String {
    format!(
        r#"connector-name: customer-sync-bench
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

/// Everything both sides share, started once.
struct Fixture {
    ct: CommercetoolsEmulator,
    fluent: FluentEmulator,
    /// Unique suffix source for seeded customers.
    serial: AtomicU64,
    // The SDK side: a running connector fed through `ct_queue`.
    ct_queue: MemoryQueue<RawPayload>,
    metrics: Arc<Metrics>,
    dead_letters: Arc<MemoryDeadLetters>,
    shutdown: Shutdown,
    // The baseline side.
    raw: Arc<RawCustomerSync>,
}

impl Fixture {
    async fn start() -> Arc<Self> {
        let ct = CommercetoolsEmulator::start().await.unwrap();
        let fluent = FluentEmulator::start().await.unwrap();

        let ct_queue = MemoryQueue::new("ct-queue", 100_000);
        ct.subscribe(
            Arc::new(ct_queue.clone()),
            NotificationFormat::ChangeNotifications,
        );
        let dead_letters = Arc::new(MemoryDeadLetters::new());
        let connector = Connector::builder(ConfigDocument::from_yaml("bench.yml", yaml()))
            .service(ct.client().unwrap())
            .service(FluentClient::new(fluent.config()).unwrap())
            .ct_queue(QueuePair::memory(ct_queue.clone()))
            .dead_letters(dead_letters.clone())
            .build()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let metrics = connector.metrics();
        let shutdown = Shutdown::new();
        tokio::spawn(connector.run(shutdown.clone()));

        let raw = Arc::new(RawCustomerSync::login(&ct, &fluent).await.unwrap());
        Arc::new(Self {
            ct,
            fluent,
            serial: AtomicU64::new(0),
            ct_queue,
            metrics,
            dead_letters,
            shutdown,
            raw,
        })
    }

    /// Seeds `n` new customers without notifications; returns their ids.
    fn seed(&self, n: usize) -> Vec<String> {
        let first = self.serial.fetch_add(n as u64, Ordering::Relaxed);
        seed_customers(&self.ct, first, n).unwrap()
    }

    /// `ResourceCreated` change notifications, shaped like the fixture.
    fn notifications(&self, ids: &[String]) -> Vec<RawPayload> {
        ids.iter()
            .map(|id| {
                let customer = self.ct.customer(id).unwrap();
                RawPayload::new(
                    json!({
                        "notificationType": "ResourceCreated",
                        "projectKey": self.ct.project_key(),
                        "resource": { "typeId": "customer", "id": id },
                        "resourceUserProvidedIdentifiers": {
                            "key": customer.key,
                            "customerNumber": customer.customer_number,
                        },
                        "version": customer.version,
                        "modifiedAt": "2024-01-30T08:00:00.000Z"
                    })
                    .to_string(),
                )
            })
            .collect()
    }

    /// One SDK iteration: the time from pushing N notifications into the CT
    /// queue until the runtime counted N more successes.
    async fn sdk_round(&self) -> Duration {
        let ids = self.seed(CUSTOMERS);
        let payloads = self.notifications(&ids);
        let before = self.metrics.snapshot();
        let target = before.succeeded + CUSTOMERS as u64;
        // The waiter is a task on the runtime: the runtime's counter updates
        // wake it as a task. Waiting on this (`block_on`) thread instead
        // would make every counter update unpark it with a futex call on a
        // worker, a cost of the measurement (10-15% here), not of the SDK.
        let metrics = Arc::clone(&self.metrics);
        let finished = tokio::spawn(async move {
            metrics
                .wait_until(|m| m.succeeded >= target, BOUND)
                .await
                .map(drop)
        });
        let start = Instant::now();
        self.ct_queue.send_batch(payloads).await.unwrap();
        finished
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("sdk round did not finish: {e}"));
        let elapsed = start.elapsed();
        let after = self.metrics.snapshot();
        assert_eq!(
            after.outcome("created") - before.outcome("created"),
            CUSTOMERS as u64,
            "{after:?}"
        );
        assert_eq!(after.dead_lettered, 0, "{after:?}");
        assert!(self.dead_letters.is_empty());
        self.check_created(&ids);
        elapsed
    }

    /// One baseline iteration: the same HTTP work with raw reqwest.
    async fn baseline_round(&self) -> Duration {
        let ids: Arc<[String]> = self.seed(CUSTOMERS).into();
        let start = Instant::now();
        self.raw
            .sync_all(Arc::clone(&ids), CONCURRENCY)
            .await
            .unwrap();
        let elapsed = start.elapsed();
        self.check_created(&ids);
        elapsed
    }

    fn check_created(&self, ids: &[String]) {
        for id in [ids.first(), ids.last()].into_iter().flatten() {
            assert_eq!(self.fluent.create_count(id), 1, "{id} created once");
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fixture = rt.block_on(Fixture::start());
    // Tokens, connection pools and the emulators' stores warm for both.
    rt.block_on(async {
        fixture.sdk_round().await;
        fixture.baseline_round().await;
    });

    let mut group = c.benchmark_group("customer_sync_e2e");
    group.throughput(Throughput::Elements(CUSTOMERS as u64));
    group.bench_function("sdk", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let fixture = Arc::clone(&fixture);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += fixture.sdk_round().await;
                }
                total
            }
        });
    });
    group.bench_function("baseline_raw_reqwest", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let fixture = Arc::clone(&fixture);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += fixture.baseline_round().await;
                }
                total
            }
        });
    });
    group.finish();

    // The ratio from alternating rounds, so drift on a shared machine hits
    // both sides alike.
    let (sdk, baseline) = rt.block_on(async {
        let (mut sdk, mut baseline) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..RATIO_ROUNDS {
            sdk += fixture.sdk_round().await;
            baseline += fixture.baseline_round().await;
        }
        (sdk, baseline)
    });
    let customers = (CUSTOMERS * RATIO_ROUNDS) as f64;
    let sdk_rate = customers / sdk.as_secs_f64();
    let baseline_rate = customers / baseline.as_secs_f64();
    println!(
        "customer_sync_e2e ratio ({RATIO_ROUNDS} alternating rounds of {CUSTOMERS} customers, concurrency {CONCURRENCY}): sdk {sdk_rate:.0} customers/s, baseline_raw_reqwest {baseline_rate:.0} customers/s, sdk/baseline = {:.2} (target >= 0.80)",
        sdk_rate / baseline_rate
    );
    fixture.shutdown.trigger();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(15));
    targets = bench
}
criterion_main!(benches);
