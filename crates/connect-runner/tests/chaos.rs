#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The seeded chaos test: "every customer created or changed in
//! commercetools ends up, correct and current, in Fluent" while everything
//! that can go wrong does.
//!
//! One seed drives the whole run:
//! - the workload: commercetools creates, updates, email changes and
//!   deletes, plus a few customers Fluent can never accept (an email over
//!   its 250 characters), which must be the only dead letters;
//! - delivery faults: duplicates, delays and reordering of subscription
//!   payloads ([`ChaosSink`]);
//! - HTTP faults on both emulators: 429 with `Retry-After`, 503, dropped
//!   connections, slow answers, timeouts (commercetools reads and token
//!   calls), expired tokens, a burst of token-endpoint 401s, and outages of
//!   a second or more;
//! - restarts of the pipeline, graceful and abrupt (the connector dropped
//!   without settling anything).
//!
//! At the end every commercetools customer is in Fluent exactly once and
//! matches the mapping field by field, and the dead letters are exactly the
//! unprocessable customers. A failing run prints its seed;
//! `CHAOS_SEED=<seed>` replays the same workload, faults and restarts
//! (thread timing still varies). `CHAOS_OPS=<n>` sets the number of
//! operations (default 300; the documented long run uses 20000).

mod common;

use connect_fluent::WithHttpSettings;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ROUTE;
use connect_commercetools::{Address, CommercetoolsClient, CustomerDraft, CustomerUpdateAction};
use connect_core::config::ConfigDocument;
use connect_core::dead_letter::{DeadLetterStore, MemoryDeadLetters};
use connect_core::queue::{MemoryQueue, RawPayload};
use connect_core::runtime::Shutdown;
use connect_customer_sync::{CustomerMapper, CustomerSyncSettings, attribute};
use connect_fluent::FluentClient;
use connect_runner::{Connector, QueuePair, RunReport};
use connect_testkit::Fault;
use connect_testkit::chaos::{ChaosSink, DeliveryChaos};
use connect_testkit::commercetools::{CommercetoolsEmulator, NotificationFormat};
use connect_testkit::fluent::FluentEmulator;

/// Seeds every CI run covers.
const CI_SEEDS: [u64; 3] = [0x5eed_0001, 0x5eed_0002, 0x5eed_0003];
const DEFAULT_OPS: usize = 300;

fn yaml() -> String {
    format!(
        r#"connector-name: chaos
route-mapping:
  customer: {ROUTE}
runtime:
  concurrency: 8
  max-attempts: 8
  backoff: {{ initial: 10ms, max: 200ms, max-retry-after: 2s }}
  circuit-breaker: {{ initial: 50ms, max: 500ms }}
  shutdown-timeout: 2s
routes:
  - route: {ROUTE}
    handler: CommercetoolsCustomerUpsert
    inclusion-filter: [ResourceCreated, ResourceUpdated, ResourceDeleted]
"#
    )
}

/// Prints the seed if the run panics.
struct SeedGuard(u64);

impl Drop for SeedGuard {
    #[allow(clippy::print_stderr)] // the seed is what a failing run must tell
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "chaos run failed with seed {seed}; replay it with CHAOS_SEED={seed}",
                seed = self.0
            );
        }
    }
}

/// What a run did, for the report.
#[derive(Debug, Default)]
struct Tally {
    ops: BTreeMap<&'static str, u64>,
    faults: BTreeMap<&'static str, u64>,
    restarts: BTreeMap<&'static str, u64>,
}

impl Tally {
    fn op(&mut self, what: &'static str) {
        *self.ops.entry(what).or_default() += 1;
    }
    fn fault(&mut self, what: &'static str) {
        *self.faults.entry(what).or_default() += 1;
    }
    fn restart(&mut self, what: &'static str) {
        *self.restarts.entry(what).or_default() += 1;
    }
}

/// The connector under test, restarted at will.
struct Pipeline {
    ct_queue: QueuePair<RawPayload>,
    dead_letters: Arc<MemoryDeadLetters>,
    commercetools: CommercetoolsClient,
    fluent: FluentClient,
    running: Option<(Shutdown, tokio::task::JoinHandle<RunReport>)>,
    reports: Vec<RunReport>,
}

impl Pipeline {
    async fn start(&mut self) {
        let connector = Connector::builder(ConfigDocument::from_yaml("chaos.yml", yaml()))
            .service(self.commercetools.clone())
            .service(self.fluent.clone())
            .ct_queue(self.ct_queue.clone())
            .dead_letters(self.dead_letters.clone())
            .receive(32, Duration::from_millis(20))
            .build()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let shutdown = Shutdown::new();
        let running = tokio::spawn(connector.run(shutdown.clone()));
        self.running = Some((shutdown, running));
    }

    /// Stops gracefully: in-flight work finishes or goes back to the queue.
    async fn stop(&mut self) {
        if let Some((shutdown, running)) = self.running.take() {
            shutdown.trigger();
            let report = tokio::time::timeout(Duration::from_secs(30), running)
                .await
                .expect("a graceful stop ends within the shutdown timeout")
                .unwrap();
            self.reports.push(report);
        }
    }

    /// Drops everything mid-flight, settling nothing (a crash).
    async fn crash(&mut self) {
        if let Some((_, running)) = self.running.take() {
            running.abort();
            let _ = running.await;
        }
    }
}

#[allow(clippy::print_stdout)] // the run's figures are this test's report
async fn run(seed: u64, ops: usize) {
    let _guard = SeedGuard(seed);
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tally = Tally::default();
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let queue = MemoryQueue::<RawPayload>::new("ct-queue", 1_000_000);
    let delivery = DeliveryChaos {
        duplicate: 0.15,
        delay: 0.2,
        max_hold: 8,
    };
    let sink = Arc::new(ChaosSink::new(
        Arc::new(queue.clone()),
        delivery,
        rng.u64(..),
    ));
    let format = [
        NotificationFormat::ChangeNotifications,
        NotificationFormat::CloudEvents,
        NotificationFormat::EventBridge,
    ][rng.usize(0..3)];
    ct.subscribe(sink.clone(), format);

    let commercetools = CommercetoolsClient::new(
        ct.config()
            .with_request_timeout(Duration::from_millis(500))
            .with_max_retries(2)
            .with_retry_initial_backoff(Duration::from_millis(10)),
    )
    .unwrap();
    let fluent_client = FluentClient::new(
        fluent
            .config()
            .with_request_timeout(Duration::from_secs(2))
            .with_max_retries(2),
    )
    .unwrap();
    let mut pipeline = Pipeline {
        ct_queue: QueuePair::memory(queue.clone()),
        dead_letters: Arc::new(MemoryDeadLetters::new()),
        commercetools,
        fluent: fluent_client,
        running: None,
        reports: Vec::new(),
    };
    pipeline.start().await;

    let mut good: Vec<String> = Vec::new();
    let mut bad: BTreeSet<String> = BTreeSet::new();
    let mut deleted: BTreeSet<String> = BTreeSet::new();
    let mut emails = 0u64;
    let mut next_email = |rng: &mut fastrand::Rng| {
        emails += 1;
        format!("c{emails}-{}@chaos.example", rng.u32(..))
    };
    let mut outages: Vec<(Instant, &'static str)> = Vec::new();

    for op in 0..ops {
        // Outages end by themselves.
        let now = Instant::now();
        outages.retain(|(until, which)| {
            if *until > now {
                return true;
            }
            match *which {
                "fluent" => fluent.faults().clear(),
                _ => ct.faults().clear(),
            }
            false
        });
        let roll = rng.u32(0..100);
        match roll {
            0..30 => {
                let mut draft = CustomerDraft::new(next_email(&mut rng))
                    .with_name(format!("First{op}"), format!("Last{op}"));
                if rng.bool() {
                    let mut address = Address::new(["DE", "FR", "NL", "US"][rng.usize(0..4)]);
                    address.phone = Some(format!("+49 30 {:07}", rng.u32(0..10_000_000)));
                    draft = draft.with_address(address);
                }
                let customer = ct.insert_customer(draft).await.unwrap();
                good.push(customer.id);
                tally.op("create");
            }
            30..33 => {
                // Fluent never takes an email over 250 characters: this
                // customer is genuinely unprocessable.
                let email = format!("{}-{}", "x".repeat(251), next_email(&mut rng));
                let customer = ct.insert_customer(CustomerDraft::new(email)).await.unwrap();
                bad.insert(customer.id);
                tally.op("create-unprocessable");
            }
            33..58 if !good.is_empty() => {
                let id = good[rng.usize(0..good.len())].clone();
                let action = match rng.u32(0..3) {
                    0 => CustomerUpdateAction::SetFirstName {
                        first_name: Some(format!("Renamed{op}")),
                    },
                    1 => CustomerUpdateAction::SetLastName {
                        last_name: (!rng.bool()).then(|| format!("Family{op}")),
                    },
                    _ => CustomerUpdateAction::SetTitle {
                        title: Some(["Dr", "Prof", "Mx"][rng.usize(0..3)].to_owned()),
                    },
                };
                ct.update_customer(&id, vec![action]).await.unwrap();
                tally.op("update");
            }
            58..70 if !good.is_empty() => {
                let id = good[rng.usize(0..good.len())].clone();
                let email = next_email(&mut rng);
                ct.update_customer(&id, vec![CustomerUpdateAction::ChangeEmail { email }])
                    .await
                    .unwrap();
                tally.op("change-email");
            }
            70..76 if !good.is_empty() => {
                let id = good.swap_remove(rng.usize(0..good.len()));
                ct.delete_customer(&id).await.unwrap();
                deleted.insert(id);
                tally.op("delete");
            }
            76..94 => {
                let times = rng.usize(1..6);
                match rng.u32(0..13) {
                    0 => {
                        fluent
                            .faults()
                            .inject_for("/graphql", Fault::too_many_requests(1), times);
                        tally.fault("fluent 429 Retry-After");
                    }
                    1 => {
                        fluent
                            .faults()
                            .inject_for("/graphql", Fault::unavailable(), times);
                        tally.fault("fluent 503");
                    }
                    2 => {
                        fluent
                            .faults()
                            .inject_for("/graphql", Fault::DropConnection, times);
                        tally.fault("fluent dropped connection");
                    }
                    3 => {
                        // Slower than usual, within the request timeout: a
                        // write that timed out could still land later, out
                        // of order (see docs/operations.md).
                        fluent.faults().inject_for(
                            "/graphql",
                            Fault::Delay(Duration::from_millis(300)),
                            times,
                        );
                        tally.fault("fluent slow answer");
                    }
                    4 => {
                        fluent.expire_tokens();
                        tally.fault("fluent token expiry");
                    }
                    5 => {
                        fluent.expire_tokens();
                        fluent.faults().inject_for(
                            "/oauth/token",
                            Fault::Status {
                                status: 401,
                                retry_after: None,
                            },
                            rng.usize(2..6),
                        );
                        tally.fault("fluent token 401 burst");
                    }
                    6 => {
                        fluent.faults().inject_for(
                            "/oauth/token",
                            Fault::Delay(Duration::from_millis(2_500)),
                            1,
                        );
                        fluent.expire_tokens();
                        tally.fault("fluent token timeout");
                    }
                    7 => {
                        ct.faults().inject(Fault::too_many_requests(1), times);
                        tally.fault("commercetools 429 Retry-After");
                    }
                    8 => {
                        ct.faults().inject(Fault::unavailable(), times);
                        tally.fault("commercetools 503");
                    }
                    9 => {
                        ct.faults().inject(Fault::DropConnection, times);
                        tally.fault("commercetools dropped connection");
                    }
                    10 => {
                        // Over the 500 ms request timeout: reads time out.
                        ct.faults()
                            .inject(Fault::Delay(Duration::from_millis(800)), times);
                        tally.fault("commercetools timeout");
                    }
                    11 => {
                        ct.expire_tokens();
                        tally.fault("commercetools token expiry");
                    }
                    _ => {
                        let (name, which) = if rng.bool() {
                            fluent.faults().inject_for(
                                "/graphql",
                                Fault::unavailable(),
                                usize::MAX / 2,
                            );
                            ("fluent outage", "fluent")
                        } else {
                            ct.faults().inject(Fault::unavailable(), usize::MAX / 2);
                            ("commercetools outage", "commercetools")
                        };
                        let length = Duration::from_millis(rng.u64(1_000..3_000));
                        outages.push((Instant::now() + length, which));
                        tally.fault(name);
                    }
                }
            }
            94..97 => {
                if rng.bool() {
                    pipeline.stop().await;
                    tally.restart("graceful");
                } else {
                    pipeline.crash().await;
                    tally.restart("abrupt");
                }
                pipeline.start().await;
            }
            _ => {
                // Let the pipeline catch up completely, for a moment.
                pace(&queue, 0, Duration::from_millis(500)).await;
                tally.op("pause");
            }
        }
        // Keep the workload interleaved with the pipeline: a small backlog,
        // not everything at once (bounded: an outage does not stall it).
        pace(&queue, 16, Duration::from_millis(150)).await;
    }

    // Calm: every fault cleared, every held payload delivered.
    fluent.faults().clear();
    ct.faults().clear();
    sink.set_chaos(DeliveryChaos::NONE);
    sink.flush().await.unwrap();

    let mapper = CustomerMapper::new(CustomerSyncSettings::default(), fluent.retailer_id());
    let version_attribute = mapper.attribute_name(attribute::VERSION);
    let converged = |report: bool| -> Vec<String> {
        let mut problems = Vec::new();
        for customer in ct.customers() {
            if bad.contains(&customer.id) {
                continue;
            }
            match fluent.customer(&customer.id) {
                None => problems.push(format!("{} is not in Fluent", customer.id)),
                Some(synced) => {
                    let draft = mapper.map(&customer).unwrap();
                    let diff = draft.diff(&synced, &version_attribute);
                    if !diff.is_empty() {
                        problems.push(format!("{} differs: {diff:?}", customer.id));
                    }
                }
            }
            if report && problems.len() > 5 {
                break;
            }
        }
        problems
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let problems = converged(false);
        let dead: BTreeSet<String> = pipeline
            .dead_letters
            .snapshot()
            .iter()
            .filter_map(|l| l.message.as_ref()?.resource_id().map(str::to_owned))
            .collect();
        let live_bad: BTreeSet<String> = bad
            .iter()
            .filter(|id| ct.customer(id).is_some())
            .cloned()
            .collect();
        if problems.is_empty() && queue.is_idle() && live_bad.is_subset(&dead) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: no convergence within 120s: {:?}; queue {} waiting, {} in flight; dead letters {:?} of bad {:?}",
            converged(true),
            queue.len(),
            queue.in_flight(),
            dead,
            live_bad
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pipeline.stop().await;

    // Exactly once, and only the unprocessable ones dead-lettered.
    let customers = ct.customers();
    let duplicated: Vec<&str> = customers
        .iter()
        .filter(|c| fluent.create_count(&c.id) > 1)
        .map(|c| c.id.as_str())
        .collect();
    assert!(
        duplicated.is_empty(),
        "seed {seed}: created twice: {duplicated:?}"
    );
    for id in &deleted {
        assert!(
            fluent.create_count(id) <= 1,
            "seed {seed}: deleted {id} created twice"
        );
    }
    let letters = pipeline.dead_letters.list().await.unwrap();
    for letter in &letters {
        let id = letter
            .message
            .as_ref()
            .and_then(|m| m.resource_id())
            .unwrap_or_default();
        assert!(
            bad.contains(id),
            "seed {seed}: a healthy customer was dead-lettered: {letter:?}"
        );
    }
    let reports: Vec<(u64, u64, usize)> = pipeline
        .reports
        .iter()
        .map(|r| {
            (
                r.runtime.metrics.succeeded,
                r.runtime.metrics.retried,
                r.runtime.returned + r.runtime.interrupted,
            )
        })
        .collect();
    let stats = sink.stats();
    println!(
        "chaos seed {seed:#x}: {ops} operations in {:.1}s ({format:?}); customers: {} in commercetools, {} deleted, {} unprocessable; \
         dead letters {} (all unprocessable), created twice 0; deliveries: {} payloads, {} duplicated, {} delayed; \
         ops {:?}; faults {:?}; restarts {:?}; (succeeded, retried, returned) per graceful stop {:?}",
        started.elapsed().as_secs_f64(),
        customers.len(),
        deleted.len(),
        bad.len(),
        letters.len(),
        stats.payloads,
        stats.duplicated,
        stats.delayed,
        tally.ops,
        tally.faults,
        tally.restarts,
        reports,
    );
}

/// Waits until at most `backlog` payloads wait or are in flight in the CT
/// queue, or `limit` passed.
async fn pace(queue: &MemoryQueue<RawPayload>, backlog: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && queue.len() + queue.in_flight() > backlog {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn seeds() -> Vec<u64> {
    match std::env::var("CHAOS_SEED") {
        Ok(seed) => {
            let seed = seed.trim();
            let parsed = seed
                .strip_prefix("0x")
                .map_or_else(|| seed.parse(), |hex| u64::from_str_radix(hex, 16));
            vec![parsed.unwrap_or_else(|_| panic!("CHAOS_SEED `{seed}` is not a number"))]
        }
        Err(_) => CI_SEEDS.to_vec(),
    }
}

fn ops() -> usize {
    std::env::var("CHAOS_OPS")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(DEFAULT_OPS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_customer_lands_once_and_current_through_chaos() {
    for seed in seeds() {
        run(seed, ops()).await;
    }
}
