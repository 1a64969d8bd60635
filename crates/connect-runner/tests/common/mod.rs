//! A connector wired to the local commercetools and Fluent emulators.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use connect_commercetools::CommercetoolsClient;
use connect_core::config::ConfigDocument;
use connect_core::dead_letter::MemoryDeadLetters;
use connect_core::listener::ListenerMetrics;
use connect_core::queue::{MemoryQueue, RawPayload};
use connect_core::runtime::{Metrics, MetricsSnapshot, Shutdown};
use connect_fluent::FluentClient;
use connect_runner::{Connector, QueuePair, RunReport};
use connect_testkit::commercetools::{CommercetoolsEmulator, NotificationFormat};
use connect_testkit::fluent::FluentEmulator;

pub const ROUTE: &str = "commercetools.connect.customer.upsert";

/// The configuration used by the pipeline tests; `props` is inserted under
/// the route's `props:` (indented by six spaces).
pub fn yaml(props: &str) -> String {
    yaml_with_filter("[ResourceCreated, ResourceUpdated, ResourceDeleted]", props)
}

/// Like [`yaml`], with another inclusion filter.
pub fn yaml_with_filter(filter: &str, props: &str) -> String {
    let props = if props.trim().is_empty() {
        String::new()
    } else {
        format!("    props:\n{props}")
    };
    format!(
        r#"connector-name: customer-sync-test
route-mapping:
  customer: {ROUTE}
runtime:
  concurrency: 8
  max-attempts: 4
  backoff: {{ initial: 5ms, max: 50ms }}
  shutdown-timeout: 5s
routes:
  - route: {ROUTE}
    handler: CommercetoolsCustomerUpsert
    inclusion-filter: {filter}
{props}
"#
    )
}

pub struct Harness {
    pub ct: CommercetoolsEmulator,
    pub fluent: FluentEmulator,
    pub ct_client: CommercetoolsClient,
    pub ct_queue: MemoryQueue<RawPayload>,
    pub dead_letters: Arc<MemoryDeadLetters>,
    pub metrics: Arc<Metrics>,
    pub listener: Arc<ListenerMetrics>,
    shutdown: Shutdown,
    running: Option<tokio::task::JoinHandle<RunReport>>,
}

impl Harness {
    /// Emulators, an in-memory CT queue fed by a change-notification
    /// subscription, and a running connector with `props`.
    pub async fn start(props: &str) -> Self {
        Self::start_with(props, NotificationFormat::ChangeNotifications).await
    }

    pub async fn start_with(props: &str, format: NotificationFormat) -> Self {
        Self::start_yaml(yaml(props), format).await
    }

    pub async fn start_yaml(yaml: String, format: NotificationFormat) -> Self {
        let ct = CommercetoolsEmulator::start().await.unwrap();
        let fluent = FluentEmulator::start().await.unwrap();
        let ct_queue = MemoryQueue::new("ct-queue", 100_000);
        ct.subscribe(Arc::new(ct_queue.clone()), format);
        let connector = Self::connector_yaml(&ct, &fluent, yaml, ct_queue.clone()).await;
        let dead_letters = Arc::clone(&connector.1);
        let connector = connector.0;
        let metrics = connector.metrics();
        let listener = connector.listener_metrics();
        let shutdown = Shutdown::new();
        let running = tokio::spawn(connector.run(shutdown.clone()));
        Self {
            ct_client: ct.client().unwrap(),
            ct,
            fluent,
            ct_queue,
            dead_letters,
            metrics,
            listener,
            shutdown,
            running: Some(running),
        }
    }

    /// A connector (not running) over the emulators.
    pub async fn connector(
        ct: &CommercetoolsEmulator,
        fluent: &FluentEmulator,
        props: &str,
        ct_queue: MemoryQueue<RawPayload>,
    ) -> (Connector, Arc<MemoryDeadLetters>) {
        Self::connector_yaml(ct, fluent, yaml(props), ct_queue).await
    }

    pub async fn connector_yaml(
        ct: &CommercetoolsEmulator,
        fluent: &FluentEmulator,
        yaml: String,
        ct_queue: MemoryQueue<RawPayload>,
    ) -> (Connector, Arc<MemoryDeadLetters>) {
        let dead_letters = Arc::new(MemoryDeadLetters::new());
        let connector = Connector::builder(ConfigDocument::from_yaml("test.yml", yaml))
            .service(ct.client().unwrap())
            .service(FluentClient::new(fluent.config()).unwrap())
            .ct_queue(QueuePair::memory(ct_queue))
            .dead_letters(dead_letters.clone())
            .receive(64, Duration::from_millis(20))
            .build()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (connector, dead_letters)
    }

    /// Waits until the runtime has settled `n` messages in total.
    pub async fn settled(&self, n: u64) -> MetricsSnapshot {
        self.metrics
            .wait_until(|m| m.settled() >= n, Duration::from_secs(20))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until every payload delivered so far has been forwarded and
    /// every forwarded message has settled.
    pub async fn idle(&self) -> MetricsSnapshot {
        connect_testkit::wait_idle(
            &self.ct_queue,
            &self.listener,
            &self.metrics,
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Stops the connector and returns its report.
    pub async fn stop(mut self) -> RunReport {
        self.shutdown.trigger();
        let running = self.running.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .unwrap()
            .unwrap()
    }
}
