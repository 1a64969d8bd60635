#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The observability endpoint of a real connector over the emulators:
//! `/metrics` after a sync, `/ready` and `connect_dependency_up` during a
//! Fluent outage and after it, a backfill's progress, and the
//! `observability:` block's checks. Every wait is on a condition with a
//! deadline.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Harness, ROUTE};
use connect_commercetools::{CustomerDraft, CustomerUpdateAction};
use connect_core::HandlerRegistry;
use connect_core::Services;
use connect_core::config::ConfigDocument;
use connect_core::dead_letter::DeadLetterStore;
use connect_core::queue::{MemoryQueue, RawPayload, Sink};
use connect_core::runtime::Shutdown;
use connect_runner::observability::METRIC_NAMES;
use connect_runner::{BackfillOptions, Plan};
use connect_testkit::Fault;
use connect_testkit::commercetools::{CommercetoolsEmulator, NotificationFormat};
use connect_testkit::fluent::FluentEmulator;
use serde_json::Value;

const HANDLER: &str = "CommercetoolsCustomerUpsert";

fn yaml() -> String {
    format!(
        r#"connector-name: observed-connector
route-mapping:
  customer: {ROUTE}
runtime:
  concurrency: 8
  max-attempts: 3
  backoff: {{ initial: 5ms, max: 50ms }}
  circuit-breaker: {{ initial: 50ms, max: 200ms }}
  shutdown-timeout: 5s
routes:
  - route: {ROUTE}
    handler: {HANDLER}
    inclusion-filter: [ResourceCreated, ResourceUpdated]
observability:
  listen: 127.0.0.1:0
"#
    )
}

/// A parsed scrape in the Prometheus text format.
struct Scrape(String);

impl Scrape {
    /// The value of the series `name{labels}` (labels in any order, all of
    /// them given).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        wanted.sort();
        self.0
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (series_name, series_labels) = match series.split_once('{') {
                    Some((n, rest)) => (n, rest.trim_end_matches('}')),
                    None => (series, ""),
                };
                let mut have: Vec<String> = if series_labels.is_empty() {
                    Vec::new()
                } else {
                    series_labels.split(',').map(str::to_owned).collect()
                };
                have.sort();
                (series_name == name && have == wanted).then(|| value.parse().unwrap())
            })
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no series {name}{labels:?} in:\n{}", self.0))
    }

    /// The metric families (`# TYPE` lines).
    fn families(&self) -> BTreeSet<String> {
        self.0
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_owned)
            .collect()
    }

    fn messages(&self, outcome: &str) -> f64 {
        self.get(
            "connect_messages_total",
            &[("route", ROUTE), ("handler", HANDLER), ("outcome", outcome)],
        )
    }
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    Scrape(body)
}

async fn json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = get(addr, path).await;
    (status, serde_json::from_str(&body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_through_the_emulators_shows_in_the_metrics() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let ct_queue = MemoryQueue::new("ct-queue", 1_000);
    ct.subscribe(
        Arc::new(ct_queue.clone()),
        NotificationFormat::ChangeNotifications,
    );
    let (connector, dead_letters) =
        Harness::connector_yaml(&ct, &fluent, yaml(), ct_queue.clone()).await;
    let endpoint = connector.serve_observability().await.unwrap().unwrap();
    let addr = endpoint.local_addr();
    assert_ne!(addr.port(), 0, "port 0 became a real port");
    let metrics = connector.metrics();
    let listener = connector.listener_metrics();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(connector.run(shutdown.clone()));

    let mut ids = Vec::new();
    for i in 0..5 {
        let customer = ct
            .insert_customer(CustomerDraft::new(format!("observed-{i}@example.com")))
            .await
            .unwrap();
        ids.push(customer.id);
    }
    ct.update_customer(
        &ids[0],
        vec![CustomerUpdateAction::SetFirstName {
            first_name: Some("Ada".to_owned()),
        }],
    )
    .await
    .unwrap();
    ct.delete_customer(&ids[4]).await.unwrap();
    ct_queue
        .send(RawPayload::new("this is not a subscription payload"))
        .await
        .unwrap();
    let m = connect_testkit::wait_idle(&ct_queue, &listener, &metrics, Duration::from_secs(20))
        .await
        .unwrap();

    let s = scrape(addr).await;
    assert_eq!(s.messages("succeeded"), m.succeeded as f64, "{m:?}");
    assert_eq!(
        m.succeeded + m.coalesced,
        6,
        "five creations and one update: {m:?}"
    );
    assert_eq!(s.messages("coalesced"), m.coalesced as f64);
    assert_eq!(s.messages("filtered"), 1.0, "the deletion is filtered out");
    assert_eq!(s.messages("retried"), 0.0);
    assert_eq!(s.messages("dead_lettered"), 0.0);
    let route = [("route", ROUTE), ("handler", HANDLER)];
    assert_eq!(
        s.get("connect_handler_duration_seconds_count", &route),
        m.succeeded as f64,
        "one observation per handler call"
    );
    assert_eq!(
        s.get(
            "connect_handler_duration_seconds_bucket",
            &[("route", ROUTE), ("handler", HANDLER), ("le", "+Inf")]
        ),
        m.succeeded as f64
    );
    assert!(s.get("connect_handler_duration_seconds_sum", &route) > 0.0);
    assert_eq!(
        s.get("connect_dead_letters_total", &[("route", ROUTE)]),
        0.0
    );
    assert_eq!(
        s.get("connect_dead_letters_total", &[("route", "<unroutable>")]),
        0.0
    );
    assert_eq!(s.get("connect_ct_queue_received_total", &[]), 8.0);
    assert_eq!(s.get("connect_ct_queue_malformed_total", &[]), 1.0);
    assert_eq!(s.get("connect_inflight_messages", &[]), 0.0);
    assert_eq!(s.get("connect_held_messages", &[]), 0.0);
    for dependency in ["commercetools", "fluent", "ct-queue", "event-queue"] {
        assert_eq!(
            s.get("connect_dependency_up", &[("dependency", dependency)]),
            1.0,
            "{dependency}"
        );
    }
    assert!(
        s.get(
            "connect_http_requests_total",
            &[("dependency", "fluent"), ("status", "200")]
        ) >= m.succeeded as f64,
        "at least one Fluent call per handled customer"
    );
    assert!(
        s.get(
            "connect_http_requests_total",
            &[("dependency", "commercetools"), ("status", "200")]
        ) >= m.succeeded as f64
    );
    assert_eq!(
        s.get(
            "connect_http_requests_total",
            &[("dependency", "fluent"), ("status", "error")]
        ),
        0.0
    );
    assert_eq!(
        s.get(
            "connect_build_info",
            &[
                ("connector", "observed-connector"),
                ("version", env!("CARGO_PKG_VERSION"))
            ]
        ),
        1.0
    );
    assert_eq!(
        dead_letters.list().await.unwrap().len(),
        1,
        "the malformed payload"
    );

    let (status, health) = json(addr, "/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "alive");
    assert_eq!(health["loops"][0]["name"], "runtime");
    assert_eq!(health["loops"][0]["state"], "running");
    let (status, ready) = json(addr, "/ready").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["intake"], "running");
    assert_eq!(ready["down"], Value::Array(Vec::new()));

    // A scraper asking for OpenMetrics gets it.
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# UNIT connect_handler_duration_seconds seconds"));

    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap();
    let (status, ready) = json(addr, "/ready").await;
    assert_eq!(status, 503, "a stopped connector takes in nothing: {ready}");
    assert_eq!(ready["intake"], "stopped");
    let (status, _) = get(addr, "/health").await;
    assert_eq!(status, 200, "a loop that ended on purpose is not stuck");
    endpoint.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fluent_refusing_every_token_shows_as_not_ready_and_heals_by_itself() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let ct_queue = MemoryQueue::new("ct-queue", 1_000);
    ct.subscribe(
        Arc::new(ct_queue.clone()),
        NotificationFormat::ChangeNotifications,
    );
    let (connector, dead_letters) =
        Harness::connector_yaml(&ct, &fluent, yaml(), ct_queue.clone()).await;
    connector.check().await.unwrap();
    let endpoint = connector.serve_observability().await.unwrap().unwrap();
    let addr = endpoint.local_addr();
    let metrics = connector.metrics();
    let listener = connector.listener_metrics();
    let health = connector.health();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(connector.run(shutdown.clone()));

    for i in 0..3 {
        ct.insert_customer(CustomerDraft::new(format!("before-{i}@example.com")))
            .await
            .unwrap();
    }
    connect_testkit::wait_idle(&ct_queue, &listener, &metrics, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(json(addr, "/ready").await.0, 200);

    // Every login is refused from now on (as after a password rotation).
    fluent.expire_tokens();
    fluent.faults().inject_for(
        "/oauth/token",
        Fault::Status {
            status: 401,
            retry_after: None,
        },
        usize::MAX / 2,
    );
    for i in 0..5 {
        ct.insert_customer(CustomerDraft::new(format!("during-{i}@example.com")))
            .await
            .unwrap();
    }
    health
        .wait_until(
            |deps| deps.iter().any(|d| d.name == "fluent" && !d.up),
            Duration::from_secs(10),
        )
        .await
        .expect("fluent is reported down");

    let (status, ready) = json(addr, "/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["status"], "not ready");
    assert_eq!(ready["intake"], "running");
    let down = ready["down"].as_array().unwrap();
    assert_eq!(down.len(), 1, "{ready}");
    assert_eq!(down[0]["dependency"], "fluent");
    let since = down[0]["since"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(since).expect("since is RFC 3339");
    let error = down[0]["error"].as_str().unwrap();
    assert!(error.contains("401"), "{error}");
    assert!(
        !error.contains(fluent.config().password.expose()),
        "no secret in the body"
    );
    let s = scrape(addr).await;
    assert_eq!(
        s.get("connect_dependency_up", &[("dependency", "fluent")]),
        0.0
    );
    assert_eq!(
        s.get("connect_dependency_up", &[("dependency", "commercetools")]),
        1.0
    );
    assert!(
        s.get(
            "connect_http_requests_total",
            &[("dependency", "fluent"), ("status", "401")]
        ) >= 1.0
    );
    assert_eq!(s.messages("dead_lettered"), 0.0);
    assert_eq!(
        s.get("connect_dead_letters_total", &[("route", ROUTE)]),
        0.0
    );
    assert!(s.get("connect_held_messages", &[]) >= 1.0, "customers wait");
    assert_eq!(
        json(addr, "/health").await.0,
        200,
        "an outage is not a stuck process"
    );

    // The password works again: the connector finds out by itself.
    fluent.faults().clear();
    health
        .wait_until(|deps| deps.iter().all(|d| d.up), Duration::from_secs(10))
        .await
        .expect("fluent is reported up again");
    let m = connect_testkit::wait_idle(&ct_queue, &listener, &metrics, Duration::from_secs(20))
        .await
        .unwrap();
    let (status, ready) = json(addr, "/ready").await;
    assert_eq!(status, 200, "{ready}");
    let s = scrape(addr).await;
    assert_eq!(
        s.get("connect_dependency_up", &[("dependency", "fluent")]),
        1.0
    );
    assert_eq!(fluent.customers().len(), 8, "the pending customers landed");
    assert_eq!(m.dead_lettered, 0);
    assert!(dead_letters.list().await.unwrap().is_empty());
    assert_eq!(s.messages("dead_lettered"), 0.0);

    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_shows_its_progress_and_every_exported_family_is_listed() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    for i in 0..20 {
        ct.insert_customer_silently(CustomerDraft::new(format!("backfill-{i}@example.com")))
            .unwrap();
    }
    let (connector, _) =
        Harness::connector_yaml(&ct, &fluent, yaml(), MemoryQueue::new("ct", 10)).await;
    let endpoint = connector.serve_observability().await.unwrap().unwrap();
    let addr = endpoint.local_addr();
    let health = connector.health();
    // Fluent refuses logins until told otherwise: the backfill reads every
    // customer, then waits.
    fluent.faults().inject_for(
        "/oauth/token",
        Fault::Status {
            status: 401,
            retry_after: None,
        },
        usize::MAX / 2,
    );
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0u64);
    let connector = Arc::new(connector);
    let backfill = tokio::spawn({
        let connector = Arc::clone(&connector);
        async move {
            let options = BackfillOptions {
                progress_every: Duration::from_millis(10),
                ..BackfillOptions::default()
            };
            connector
                .backfill("customers", options, Shutdown::new(), move |p| {
                    progress_tx.send_replace(p.scanned);
                })
                .await
        }
    });
    tokio::time::timeout(Duration::from_secs(10), progress.wait_for(|n| *n == 20))
        .await
        .unwrap()
        .unwrap();
    health
        .wait_until(
            |deps| deps.iter().any(|d| d.name == "fluent" && !d.up),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    let s = scrape(addr).await;
    assert_eq!(s.get("connect_backfill_running", &[]), 1.0);
    assert_eq!(s.get("connect_backfill_scanned", &[]), 20.0);
    assert_eq!(s.get("connect_backfill_total", &[]), 20.0);
    assert_eq!(s.get("connect_backfill_handled", &[]), 0.0);
    let (status, ready) = json(addr, "/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(
        ready["intake"], "running",
        "the backfill takes in customers"
    );
    assert_eq!(ready["down"][0]["dependency"], "fluent");

    fluent.faults().clear();
    let summary = tokio::time::timeout(Duration::from_secs(30), backfill)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(summary.created, 20);
    let s = scrape(addr).await;
    assert_eq!(s.get("connect_backfill_running", &[]), 0.0);
    assert_eq!(s.get("connect_backfill_handled", &[]), 20.0);
    assert_eq!(s.messages("succeeded"), 20.0);
    assert!(
        s.get(
            "connect_handler_duration_seconds_count",
            &[("route", ROUTE), ("handler", HANDLER)]
        ) > 20.0,
        "the successes and the calls that found Fluent down"
    );

    // What a backfill process exports is every family the docs may use.
    let exported: BTreeSet<String> = s.families();
    let listed: BTreeSet<String> = METRIC_NAMES.iter().map(|n| (*n).to_owned()).collect();
    assert_eq!(exported, listed);
}

#[derive(Default)]
struct Noop;

#[connect_core::async_trait]
impl connect_core::MessageHandler for Noop {
    async fn handle(
        &self,
        _: &connect_core::HandlerContext<'_>,
        _: &connect_core::Message,
    ) -> Result<connect_core::Outcome, connect_core::HandlerError> {
        Ok(connect_core::Outcome::done())
    }
}

fn noop_registry() -> HandlerRegistry {
    let mut registry = HandlerRegistry::new();
    registry.register::<Noop>("Noop", 0);
    registry
}

#[tokio::test]
async fn the_observability_block_is_checked_with_its_position() {
    let check = |block: &str| {
        let yaml = format!(
            "connector-name: checked\nroutes:\n  - route: r\n    handler: Noop\nobservability:\n{block}"
        );
        Plan::new(
            ConfigDocument::from_yaml("app.yml", yaml),
            &noop_registry(),
            Services::new(),
        )
        .map(|plan| plan.observability().cloned())
    };
    let config = check("  listen: 0.0.0.0:9464\n").unwrap().unwrap();
    assert_eq!(config.listen, "0.0.0.0:9464");
    assert_eq!(config.liveness_timeout, Duration::from_secs(30));

    let error = check("  listen: 9464\n").unwrap_err().to_string();
    assert!(
        error.starts_with("app.yml:6:11: observability.listen: `9464` is not host:port;"),
        "{error}"
    );
    assert!(
        error.contains("0.0.0.0:9464"),
        "says how to write it: {error}"
    );
    let error = check("  listen: 0.0.0.0:9464\n  liveness-timeout: 1s\n")
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("app.yml:7:21: "), "{error}");
    assert!(error.contains("at least 2s"), "{error}");
    let error = check("  listen: 0.0.0.0:9464\n  port: 9464\n")
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("app.yml:7:3: "), "{error}");
    assert!(error.contains("unknown field `port`"), "{error}");

    // A taken port is an error naming the setting.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let yaml = format!(
        "connector-name: checked\nroutes:\n  - route: r\n    handler: Noop\nobservability:\n  listen: {address}\n"
    );
    let connector = connect_runner::Connector::builder(ConfigDocument::from_yaml("app.yml", yaml))
        .registry(noop_registry())
        .build()
        .await
        .unwrap();
    let error = connector.serve_observability().await.unwrap_err();
    assert!(error.is_configuration());
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "app.yml: observability.listen `{address}`: cannot listen there"
        )),
        "{text}"
    );
}
