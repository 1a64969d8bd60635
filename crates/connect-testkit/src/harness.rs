//! [`Harness`]: a whole connector, built from its YAML, running against
//! the local emulators (feature `harness`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use connect_core::config::ConfigDocument;
use connect_core::dead_letter::MemoryDeadLetters;
use connect_core::listener::ListenerMetrics;
use connect_core::queue::{MemoryQueue, RawPayload};
use connect_core::runtime::{Metrics, MetricsSnapshot, Shutdown};
use connect_core::{HandlerRegistry, Message};
use connect_runner::{Connector, QueuePair, RunReport, RunnerError};
use tokio::task::JoinHandle;

use crate::Sandbox;
use crate::commercetools::{CommercetoolsEmulator, NotificationFormat, SubscriptionId};
use crate::fluent::FluentEmulator;

/// How long [`Harness::wait_idle`] waits unless told otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How many payloads the in-memory queues hold.
const QUEUE_CAPACITY: usize = 10_000;

/// A running connector fed by the commercetools emulator and writing to
/// the Fluent emulator: the whole flow of a test in one call.
///
/// [`start`](Harness::start) starts a [`Sandbox`], fills the `${VAR}`s of
/// the YAML from [`Sandbox::env`] (plus [`HarnessBuilder::env`]), and
/// builds the connector from it as `connect run` does: every block checked,
/// the commercetools and Fluent clients built from their blocks, every
/// route's handler from the handlers linked into the test binary, and the
/// credentials checked. Three things differ, so that tests need nothing
/// outside the process:
///
/// - the CT queue is an in-memory queue subscribed to the commercetools
///   emulator (change notifications unless
///   [`HarnessBuilder::notifications`] says otherwise): every customer the
///   test writes there arrives as a payload;
/// - the event queue is in memory, whatever the file says;
/// - dead letters are kept in memory ([`dead_letters`](Harness::dead_letters)),
///   and the `observability` endpoint is not served.
///
/// Partners reach it as `connect_sdk::testkit::Harness` (the `testkit`
/// feature of `connect-sdk`); `docs/extending.md` ("Test your handler")
/// has a whole test of a handler of one's own, with `connect_sdk` paths.
///
/// ```
/// use connect_testkit::Harness;
/// use connect_commercetools::CustomerDraft;
///
/// const YAML: &str = "
/// connector-name: demo
/// commercetools:
///   project-key: ${CT_PROJECT_KEY}
///   client-id: ${CT_CLIENT_ID}
///   client-secret: ${CT_CLIENT_SECRET}
///   auth-url: ${CT_AUTH_URL}
///   api-url: ${CT_API_URL}
/// fluent:
///   base-url: ${FLUENT_BASE_URL}
///   account: ${FLUENT_ACCOUNT}
///   retailer-id: ${FLUENT_RETAILER_ID}
///   client-id: ${FLUENT_CLIENT_ID}
///   client-secret: ${FLUENT_CLIENT_SECRET}
///   username: ${FLUENT_USERNAME}
///   password: ${FLUENT_PASSWORD}
/// route-mapping:
///   customer: customer.upsert
/// routes:
///   - route: customer.upsert
///     handler: CommercetoolsCustomerUpsert
///     props: { name: customer }
/// ";
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let harness = Harness::start(YAML).await?;
/// let customer = harness
///     .commercetools()
///     .insert_customer(CustomerDraft::new("ada@example.com").with_name("Ada", "Lovelace"))
///     .await?;
/// harness.wait_idle().await?;
/// assert!(harness.fluent().customer(&customer.id).is_some());
/// let report = harness.shutdown().await?;
/// assert_eq!(report.runtime.metrics.succeeded, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Harness {
    sandbox: Sandbox,
    ct_queue: MemoryQueue<RawPayload>,
    subscription: SubscriptionId,
    dead_letters: Arc<MemoryDeadLetters>,
    metrics: Arc<Metrics>,
    listener: Arc<ListenerMetrics>,
    shutdown: Shutdown,
    running: Option<JoinHandle<RunReport>>,
    idle_timeout: Duration,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("sandbox", &self.sandbox)
            .field("subscription", &self.subscription)
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// Starts the emulators and a connector built from `yaml` (the text of
    /// an `application-connector.yml`; `include_str!` reads one at compile
    /// time), with the defaults of [`builder`](Self::builder).
    pub async fn start(yaml: impl Into<String>) -> Result<Self, HarnessError> {
        Self::builder(yaml).start().await
    }

    /// A harness with options: more variables, an explicit handler
    /// registry, extra services, another notification format.
    pub fn builder(yaml: impl Into<String>) -> HarnessBuilder {
        HarnessBuilder {
            yaml: yaml.into(),
            origin: "application-connector.yml".to_owned(),
            env: BTreeMap::new(),
            registry: None,
            sections: None,
            syncs: None,
            sandbox: None,
            services: Vec::new(),
            format: NotificationFormat::ChangeNotifications,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }

    /// The commercetools emulator: write customers here (its writes are
    /// delivered to the connector), inject faults, read what the connector
    /// read.
    pub fn commercetools(&self) -> &CommercetoolsEmulator {
        &self.sandbox.commercetools
    }

    /// The Fluent emulator: assert on the customers and mutations the
    /// connector wrote, inject faults.
    pub fn fluent(&self) -> &FluentEmulator {
        &self.sandbox.fluent
    }

    /// Both emulators and the variables the YAML was filled from.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The CT queue: payloads can also be sent to it directly (a
    /// subscription payload fixture, say).
    pub fn ct_queue(&self) -> &MemoryQueue<RawPayload> {
        &self.ct_queue
    }

    /// The dead letters of the run so far.
    pub fn dead_letters(&self) -> &MemoryDeadLetters {
        &self.dead_letters
    }

    /// The runtime's counters now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// Waits until every payload delivered so far was handled and nothing
    /// is in flight (see [`wait_idle`](crate::wait_idle)), and returns the
    /// runtime's counters. Fails after the idle timeout (30 s unless
    /// [`HarnessBuilder::idle_timeout`] says otherwise), naming what was
    /// still pending.
    pub async fn wait_idle(&self) -> Result<MetricsSnapshot, HarnessError> {
        if self.running.as_ref().is_none_or(JoinHandle::is_finished) {
            return Err(HarnessError::Stopped);
        }
        crate::wait_idle(
            &self.ct_queue,
            &self.listener,
            &self.metrics,
            self.idle_timeout,
        )
        .await
        .map_err(HarnessError::NotIdle)
    }

    /// Stops the connector as SIGTERM would (in-flight messages finish,
    /// within `runtime.shutdown-timeout`) and returns what the run did.
    /// The emulators stop when the harness is dropped, here.
    pub async fn shutdown(mut self) -> Result<RunReport, HarnessError> {
        self.commercetools().unsubscribe(self.subscription);
        self.shutdown.trigger();
        let running = self.running.take().ok_or(HarnessError::Stopped)?;
        running
            .await
            .map_err(|error| HarnessError::Panicked(error.to_string()))
    }
}

impl Drop for Harness {
    /// A harness dropped without [`shutdown`](Harness::shutdown) (a failed
    /// assertion, say) still stops its connector.
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

type AddService =
    Box<dyn FnOnce(connect_runner::ConnectorBuilder) -> connect_runner::ConnectorBuilder + Send>;

/// Options of a [`Harness`], from [`Harness::builder`].
pub struct HarnessBuilder {
    yaml: String,
    origin: String,
    env: BTreeMap<String, String>,
    registry: Option<HandlerRegistry>,
    sections: Option<connect_core::ConfigSections>,
    syncs: Option<connect_commercetools::SyncRegistry>,
    sandbox: Option<Sandbox>,
    services: Vec<AddService>,
    format: NotificationFormat,
    idle_timeout: Duration,
}

impl std::fmt::Debug for HarnessBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HarnessBuilder")
            .field("origin", &self.origin)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl HarnessBuilder {
    /// Sets a variable the YAML reads (besides the emulators' ones, which
    /// it may override). The process environment is not read.
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// The name of the YAML in error messages (default
    /// `application-connector.yml`).
    #[must_use]
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = origin.into();
        self
    }

    /// Handlers to use instead of every `#[handler]` linked into the test
    /// binary (to hand in a shared handler the test observes, say).
    #[must_use]
    pub fn registry(mut self, registry: HandlerRegistry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Partner configuration blocks to read instead of every
    /// `config_section!` linked into the test binary.
    #[must_use]
    pub fn sections(mut self, sections: connect_core::ConfigSections) -> Self {
        self.sections = Some(sections);
        self
    }

    /// Syncs (their routes' scopes) to use instead of every `register_sync!`
    /// linked into the test binary.
    #[must_use]
    pub fn syncs(mut self, syncs: connect_commercetools::SyncRegistry) -> Self {
        self.syncs = Some(syncs);
        self
    }

    /// Runs against these emulators instead of default ones: built with
    /// their own builders, e.g. a commercetools emulator serving a partner
    /// resource type (`CommercetoolsEmulatorBuilder::resource_type`) and a
    /// Fluent emulator with a partner's `SchemaExtension`:
    /// `.sandbox(Sandbox { commercetools, fluent })`. What was written to
    /// the commercetools emulator before [`start`](Self::start) is not
    /// delivered; what is written after is.
    #[must_use]
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = Some(sandbox);
        self
    }

    /// Adds a shared service for handlers (`ctx.service::<T>()`); it wins
    /// over one built from the file.
    #[must_use]
    pub fn service<T: Send + Sync + 'static>(mut self, service: T) -> Self {
        self.services
            .push(Box::new(move |builder| builder.service(service)));
        self
    }

    /// The format in which the commercetools emulator delivers its
    /// payloads (default: change notifications).
    #[must_use]
    pub fn notifications(mut self, format: NotificationFormat) -> Self {
        self.format = format;
        self
    }

    /// How long [`Harness::wait_idle`] waits (default 30 s).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Starts the emulators and the connector.
    pub async fn start(self) -> Result<Harness, HarnessError> {
        let sandbox = match self.sandbox {
            Some(sandbox) => sandbox,
            None => Sandbox::start().await.map_err(HarnessError::Emulators)?,
        };
        let mut env = sandbox.env();
        env.extend(self.env);
        let doc = ConfigDocument::from_yaml(self.origin, self.yaml).with_env(env);
        let ct_queue = MemoryQueue::<RawPayload>::new(connect_runner::CT_QUEUE, QUEUE_CAPACITY);
        let event_queue = MemoryQueue::<Message>::new(connect_runner::EVENT_QUEUE, QUEUE_CAPACITY);
        let dead_letters = Arc::new(MemoryDeadLetters::new());
        let mut builder = Connector::builder(doc)
            .ct_queue(QueuePair::memory(ct_queue.clone()))
            .event_queue(QueuePair::memory(event_queue))
            .dead_letters(Arc::clone(&dead_letters) as _)
            .receive(64, Duration::from_millis(20));
        if let Some(registry) = self.registry {
            builder = builder.registry(registry);
        }
        if let Some(sections) = self.sections {
            builder = builder.sections(sections);
        }
        if let Some(syncs) = self.syncs {
            builder = builder.syncs(syncs);
        }
        for add in self.services {
            builder = add(builder);
        }
        let connector = builder.build().await?;
        connector.check().await?;
        let subscription = sandbox
            .commercetools
            .subscribe(Arc::new(ct_queue.clone()), self.format);
        let metrics = connector.metrics();
        let listener = connector.listener_metrics();
        let shutdown = Shutdown::new();
        let running = tokio::spawn(connector.run(shutdown.clone()));
        Ok(Harness {
            sandbox,
            ct_queue,
            subscription,
            dead_letters,
            metrics,
            listener,
            shutdown,
            running: Some(running),
            idle_timeout: self.idle_timeout,
        })
    }
}

/// Why a [`Harness`] could not start, go idle or stop.
///
/// `Debug` shows the same text as `Display`, so a test returning
/// `Result<(), Box<dyn Error>>` prints the hint.
#[derive(thiserror::Error)]
pub enum HarnessError {
    /// The emulators could not listen on loopback.
    #[error("cannot start the commercetools and Fluent emulators: {0}")]
    Emulators(#[source] std::io::Error),
    /// The connector could not be built from the YAML or refused to start
    /// (the message names the file, line and setting).
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// The connector did not finish its work in time.
    #[error("{0}; a handler may be waiting on a fault, or retrying: see its logs")]
    NotIdle(String),
    /// The connector stopped before [`Harness::shutdown`].
    #[error("the connector stopped before the test asked it to (a panic outside a handler?)")]
    Stopped,
    /// The connector's task panicked.
    #[error("the connector's task failed: {0}")]
    Panicked(String),
}

impl std::fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The runner's Debug already adds the causes it does not name.
            Self::Runner(error) => std::fmt::Debug::fmt(error, f),
            other => std::fmt::Display::fmt(other, f),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_connector_that_cannot_start_says_why_through_debug_too() {
        let yaml = "connector-name: demo\nroutes:\n  - route: r\n    handler: NoSuchHandler\n";
        let error = Harness::start(yaml).await.unwrap_err();
        let debug = format!("{error:?}");
        assert!(debug.contains("NoSuchHandler"), "{debug}");
        assert!(debug.starts_with(&error.to_string()), "{debug}");
    }

    #[derive(Debug, Default)]
    struct Noop;

    #[async_trait::async_trait]
    impl connect_core::MessageHandler for Noop {
        async fn handle(
            &self,
            _: &connect_core::HandlerContext<'_>,
            _: &Message,
        ) -> Result<connect_core::Outcome, connect_core::HandlerError> {
            Ok(connect_core::Outcome::labeled("noop"))
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn variables_of_the_builder_fill_the_yaml() {
        let yaml = "connector-name: ${NAME}\nroutes:\n  - route: r\n    handler: Noop\n";
        let error = Harness::start(yaml).await.unwrap_err();
        assert!(error.to_string().contains("NAME"), "{error}");
        let mut registry = HandlerRegistry::new();
        registry.register::<Noop>("Noop", 0);
        let harness = Harness::builder(yaml)
            .env("NAME", "demo")
            .registry(registry)
            .idle_timeout(Duration::from_secs(5))
            .start()
            .await
            .unwrap();
        assert_eq!(harness.wait_idle().await.unwrap().settled(), 0);
        let report = harness.shutdown().await.unwrap();
        assert_eq!(report.runtime.metrics.succeeded, 0);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_harness_runs_on_emulators_built_with_their_builders() {
        let yaml = "connector-name: demo
commercetools:
  project-key: ${CT_PROJECT_KEY}
  client-id: ${CT_CLIENT_ID}
  client-secret: ${CT_CLIENT_SECRET}
  auth-url: ${CT_AUTH_URL}
  api-url: ${CT_API_URL}
  scopes: [\"view_channels:${CT_PROJECT_KEY}\"]
route-mapping:
  channel: channel.noop
routes:
  - route: channel.noop
    handler: Noop
";
        let sandbox = Sandbox {
            commercetools: CommercetoolsEmulator::builder()
                .resource_type("channels", "channel")
                .start()
                .await
                .unwrap(),
            fluent: FluentEmulator::builder()
                .retailer_id("42")
                .start()
                .await
                .unwrap(),
        };
        let mut registry = HandlerRegistry::new();
        registry.register::<Noop>("Noop", 0);
        let harness = Harness::builder(yaml)
            .sandbox(sandbox)
            .registry(registry)
            .start()
            .await
            .unwrap();
        assert_eq!(harness.fluent().retailer_id(), "42");
        harness
            .commercetools()
            .insert_resource("channels", serde_json::json!({ "key": "store-1" }))
            .await
            .unwrap();
        let metrics = harness.wait_idle().await.unwrap();
        assert_eq!(metrics.outcome("noop"), 1);
        harness.shutdown().await.unwrap();
    }
}
