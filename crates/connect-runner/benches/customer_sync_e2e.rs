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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use connect_commercetools::{Address, CustomerDraft};
use connect_core::config::ConfigDocument;
use connect_core::dead_letter::MemoryDeadLetters;
use connect_core::queue::{MemoryQueue, RawPayload, Sink};
use connect_core::runtime::{Metrics, Shutdown};
use connect_fluent::{CREATE_CUSTOMER, CUSTOMER_BY_REF, FluentClient};
use connect_runner::{Connector, QueuePair};
use connect_testkit::commercetools::{CommercetoolsEmulator, NotificationFormat};
use connect_testkit::fluent::FluentEmulator;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reqwest::header::ACCEPT;
use serde_json::{Value, json};

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
    raw: Arc<Raw>,
}

/// What the raw reqwest baseline needs: one client, tokens obtained once.
struct Raw {
    http: reqwest::Client,
    customer_url: String,
    ct_bearer: String,
    graphql_url: String,
    fluent_bearer: String,
    retailer_id: String,
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

        let raw = Arc::new(Raw::login(&ct, &fluent).await);
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
        (0..n)
            .map(|_| {
                let i = self.serial.fetch_add(1, Ordering::Relaxed);
                let mut draft = CustomerDraft::new(format!("customer{i}@example.com"))
                    .with_key(format!("cust-{i}"))
                    .with_name("Ada", format!("Lovelace {i}"));
                draft.title = Some("Dr".to_owned());
                draft.customer_number = Some(format!("{i}"));
                let mut address = Address::new("GB");
                address.phone = Some("+44 20 7946 0000".to_owned());
                address.city = Some("London".to_owned());
                draft.addresses = vec![address];
                draft.default_shipping_address = Some(0);
                self.ct.insert_customer_silently(draft).unwrap().id
            })
            .collect()
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
        self.raw.sync_all(Arc::clone(&ids)).await;
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

impl Raw {
    /// Obtains both tokens, as the clients would on their first call.
    async fn login(ct: &CommercetoolsEmulator, fluent: &FluentEmulator) -> Self {
        let http = reqwest::Client::new();
        let pk = ct.project_key();
        let scope = format!("manage_customers:{pk}");
        let ct_token: Value = http
            .post(format!("{}/oauth/token", ct.auth_url()))
            .basic_auth(ct.client_id(), Some(ct.client_secret()))
            .query(&[
                ("grant_type", "client_credentials"),
                ("scope", scope.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        let config = fluent.config();
        let fluent_token: Value = http
            .post(format!("{}/oauth/token", fluent.base_url()))
            .header("fluent.account", &config.account)
            .form(&[
                ("client_id", config.client_id.as_str()),
                ("client_secret", config.client_secret.expose()),
                ("grant_type", "password"),
                ("username", config.username.as_str()),
                ("password", config.password.expose()),
                ("scope", "api"),
            ])
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            http,
            customer_url: format!("{}/{pk}/customers/", ct.api_url()),
            ct_bearer: ct_token["access_token"].as_str().unwrap().to_owned(),
            graphql_url: format!("{}/graphql", fluent.base_url()),
            fluent_bearer: fluent_token["access_token"].as_str().unwrap().to_owned(),
            retailer_id: config.retailer_id,
        }
    }

    /// Syncs every customer with `CONCURRENCY` tasks taking the next id.
    async fn sync_all(self: &Arc<Self>, ids: Arc<[String]>) {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CONCURRENCY {
            let raw = Arc::clone(self);
            let ids = Arc::clone(&ids);
            let next = Arc::clone(&next);
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = ids.get(i) else { break };
                    raw.sync_one(id).await;
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.unwrap();
        }
    }

    /// CT GET by id → Fluent lookup by ref → Fluent create.
    async fn sync_one(&self, id: &str) {
        let customer: Value = self
            .http
            .get(format!("{}{id}", self.customer_url))
            .bearer_auth(&self.ct_bearer)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        let found = self
            .graphql(
                "CustomerByRef",
                CUSTOMER_BY_REF,
                json!({ "ref": customer["id"] }),
            )
            .await;
        assert!(found["customer"].is_null(), "{id} is new");
        let created = self
            .graphql(
                "CreateCustomer",
                CREATE_CUSTOMER,
                json!({ "input": self.create_input(&customer) }),
            )
            .await;
        assert!(created["createCustomer"]["id"].is_string(), "{created}");
    }

    /// One GraphQL request; returns `data` after checking for `errors`.
    async fn graphql(&self, operation: &str, query: &str, variables: Value) -> Value {
        let mut response: Value = self
            .http
            .post(&self.graphql_url)
            .bearer_auth(&self.fluent_bearer)
            .header(ACCEPT, "application/json")
            .json(&json!({
                "query": query,
                "operationName": operation,
                "variables": variables,
            }))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(response.get("errors").is_none(), "{response}");
        response["data"].take()
    }

    /// The `createCustomer` input customer sync maps this customer to with
    /// the default settings (username = id, contact address = default
    /// shipping, then default billing, then first address).
    fn create_input(&self, c: &Value) -> Value {
        let addresses = c["addresses"].as_array().map_or(&[][..], Vec::as_slice);
        let by_id = |field: &str| {
            c[field]
                .as_str()
                .and_then(|id| addresses.iter().find(|a| a["id"] == id))
        };
        let address = by_id("defaultShippingAddressId")
            .or_else(|| by_id("defaultBillingAddressId"))
            .or_else(|| addresses.first());
        let text = |v: &Value| {
            v.as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let phone = address.and_then(|a| text(&a["phone"]).or_else(|| text(&a["mobile"])));
        let mut attributes =
            vec![json!({ "name": "commercetools.id", "type": "STRING", "value": c["id"] })];
        for (name, field) in [
            ("commercetools.key", "key"),
            ("commercetools.customerNumber", "customerNumber"),
            ("commercetools.externalId", "externalId"),
        ] {
            if let Some(value) = c[field].as_str() {
                attributes.push(json!({ "name": name, "type": "STRING", "value": value }));
            }
        }
        attributes.push(
            json!({ "name": "commercetools.version", "type": "INTEGER", "value": c["version"] }),
        );
        let mut input = json!({
            "username": c["id"],
            "attributes": attributes,
            "primaryEmail": c["email"],
            "promotionOptIn": false,
            "retailer": { "id": self.retailer_id },
        });
        let fields = [
            ("title", text(&c["title"])),
            ("country", address.and_then(|a| text(&a["country"]))),
            ("firstName", text(&c["firstName"])),
            ("lastName", text(&c["lastName"])),
            ("primaryPhone", phone),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                input[name] = Value::String(value);
            }
        }
        input
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
