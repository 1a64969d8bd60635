//! [`Connector`]: a connector built from its configuration file.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use connect_commercetools::{CommercetoolsClient, CommercetoolsConfig, SubscriptionTranslator};
use connect_core::config::{ConfigDocument, ConnectorConfig};
use connect_core::dead_letter::{self, DeadLetter, DeadLetterStore, ReplayReport};
use connect_core::listener::{Listener, ListenerMetrics, ListenerReport};
use connect_core::queue::RawPayload;
use connect_core::runtime::{Metrics, Runtime, Shutdown};
use connect_core::{HandlerRegistry, Message, Router, Services};
use connect_fluent::{FluentClient, FluentConfig};

use crate::backends::{self, QueuePair};
use crate::error::RunnerError;

/// The checked configuration: every block parsed strictly, clients created
/// and every route's handler built. Nothing is connected yet, so this is
/// what `connect validate` checks.
pub struct Plan {
    doc: ConfigDocument,
    config: ConnectorConfig,
    services: Arc<Services>,
    router: Arc<Router>,
    translator: Arc<SubscriptionTranslator>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("origin", &self.doc.origin())
            .field("connector", &self.config.connector_name)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// Checks `doc` with the handlers of `registry`, adding the commercetools
    /// and Fluent clients (from their blocks) to `services` unless present.
    pub fn new(
        doc: ConfigDocument,
        registry: &HandlerRegistry,
        mut services: Services,
    ) -> Result<Self, RunnerError> {
        let config = doc.connector()?;
        // Blocks are checked even when a client was handed in, so that
        // `validate` and `run` accept exactly the same files.
        let commercetools = doc.section::<CommercetoolsConfig>("commercetools")?;
        let fluent = doc.section::<FluentConfig>("fluent")?;
        if let Some(ct) = commercetools
            && services.get::<CommercetoolsClient>().is_none()
        {
            services.insert(CommercetoolsClient::new(ct)?);
        }
        if let Some(fluent) = fluent
            && services.get::<FluentClient>().is_none()
        {
            services.insert(FluentClient::new(fluent)?);
        }
        backends::check_queue(&doc, &config.ct_queue)?;
        backends::check_queue(&doc, &config.event_queue)?;
        backends::check_dead_letters(&doc, &config.runtime.dead_letter)?;
        let router =
            Router::build(&config, registry, &services).map_err(|source| RunnerError::Routes {
                origin: doc.origin().to_owned(),
                source,
            })?;
        let translator = SubscriptionTranslator::from_config(&config);
        Ok(Self {
            doc,
            config,
            services: Arc::new(services),
            router: Arc::new(router),
            translator: Arc::new(translator),
        })
    }

    /// connect-core's part of the configuration.
    pub fn config(&self) -> &ConnectorConfig {
        &self.config
    }

    /// The configuration document.
    pub fn document(&self) -> &ConfigDocument {
        &self.doc
    }

    /// The router with every route's handler.
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// The shared services.
    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }
}

/// Builds a [`Connector`], optionally replacing parts of what the file says
/// (tests and examples hand in in-memory queues and emulator clients).
pub struct ConnectorBuilder {
    doc: ConfigDocument,
    registry: Option<HandlerRegistry>,
    services: Services,
    ct_queue: Option<QueuePair<RawPayload>>,
    event_queue: Option<QueuePair<Message>>,
    dead_letters: Option<Arc<dyn DeadLetterStore>>,
    receive: Option<(usize, Duration)>,
}

impl std::fmt::Debug for ConnectorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorBuilder")
            .field("origin", &self.doc.origin())
            .finish_non_exhaustive()
    }
}

impl ConnectorBuilder {
    /// Handlers to use instead of every `#[handler]` linked into the binary.
    #[must_use]
    pub fn registry(mut self, registry: HandlerRegistry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Adds a shared service (it wins over one built from the file).
    #[must_use]
    pub fn service<T: Send + Sync + 'static>(mut self, service: T) -> Self {
        self.services.insert(service);
        self
    }

    /// Uses this CT queue instead of `listeners.ct-queue`.
    #[must_use]
    pub fn ct_queue(mut self, queue: QueuePair<RawPayload>) -> Self {
        self.ct_queue = Some(queue);
        self
    }

    /// Uses this event queue instead of `event-queue`.
    #[must_use]
    pub fn event_queue(mut self, queue: QueuePair<Message>) -> Self {
        self.event_queue = Some(queue);
        self
    }

    /// Uses this dead-letter store instead of `runtime.dead-letter`.
    #[must_use]
    pub fn dead_letters(mut self, store: Arc<dyn DeadLetterStore>) -> Self {
        self.dead_letters = Some(store);
        self
    }

    /// How many messages the listener and the runtime ask for per receive,
    /// and how long a receive waits.
    #[must_use]
    pub fn receive(mut self, batch: usize, wait: Duration) -> Self {
        self.receive = Some((batch, wait));
        self
    }

    /// Checks the configuration and opens the queues and the store.
    pub async fn build(self) -> Result<Connector, RunnerError> {
        let registry = self.registry.unwrap_or_else(HandlerRegistry::linked);
        let plan = Plan::new(self.doc, &registry, self.services)?;
        let (ct_queue, ct_receive) = match self.ct_queue {
            Some(queue) => (queue, None),
            None => {
                let opened =
                    backends::open_queue(&plan.doc, &plan.config.ct_queue, "ct-queue", None)
                        .await?;
                (opened.pair, opened.receive)
            }
        };
        let (event_queue, event_receive) = match self.event_queue {
            Some(queue) => (queue, None),
            None => {
                let opened = backends::open_queue(
                    &plan.doc,
                    &plan.config.event_queue,
                    "event-queue",
                    Some(plan.config.runtime.max_attempts),
                )
                .await?;
                (opened.pair, opened.receive)
            }
        };
        let dead_letters = match self.dead_letters {
            Some(store) => store,
            None => {
                backends::open_dead_letters(&plan.doc, &plan.config.runtime.dead_letter).await?
            }
        };
        let mut listener = Listener::new(
            "ct-queue",
            Arc::clone(&ct_queue.source),
            Arc::clone(&plan.translator) as Arc<dyn connect_core::listener::Translate>,
            Arc::clone(&event_queue.sink),
        )
        .with_dead_letters(Arc::clone(&dead_letters));
        let mut runtime = Runtime::new(Arc::clone(&plan.router), Arc::clone(&event_queue.source))
            .with_config(&plan.config.runtime)
            .with_publisher(Arc::clone(&event_queue.sink))
            .with_dead_letters(Arc::clone(&dead_letters))
            .with_services(Arc::clone(&plan.services));
        if let Some((batch, wait)) = self.receive.or(ct_receive) {
            listener = listener.with_receive(batch, wait);
        }
        if let Some((batch, wait)) = self.receive.or(event_receive) {
            runtime = runtime.with_receive(batch, wait);
        }
        Ok(Connector {
            metrics: runtime.metrics(),
            listener_metrics: listener.metrics(),
            plan,
            ct_queue,
            event_queue,
            dead_letters,
            listener,
            runtime,
        })
    }
}

/// A connector ready to run: CT queue → listener → event queue → runtime.
pub struct Connector {
    plan: Plan,
    ct_queue: QueuePair<RawPayload>,
    event_queue: QueuePair<Message>,
    dead_letters: Arc<dyn DeadLetterStore>,
    listener: Listener,
    runtime: Runtime,
    metrics: Arc<Metrics>,
    listener_metrics: Arc<ListenerMetrics>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The runtime's report.
    pub runtime: connect_core::runtime::RunReport,
    /// The CT queue listener's report.
    pub listener: ListenerReport,
}

impl Connector {
    /// Reads `path` and builds the connector with every linked handler.
    pub async fn from_file(path: impl AsRef<Path>) -> Result<Self, RunnerError> {
        Self::builder(ConfigDocument::from_file(path)?)
            .build()
            .await
    }

    /// A builder over a configuration document.
    pub fn builder(doc: ConfigDocument) -> ConnectorBuilder {
        ConnectorBuilder {
            doc,
            registry: None,
            services: Services::new(),
            ct_queue: None,
            event_queue: None,
            dead_letters: None,
            receive: None,
        }
    }

    /// The checked configuration, router and services.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// connect-core's part of the configuration.
    pub fn config(&self) -> &ConnectorConfig {
        &self.plan.config
    }

    /// The runtime's counters (live while it runs).
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// The listener's counters (live while it runs).
    pub fn listener_metrics(&self) -> Arc<ListenerMetrics> {
        Arc::clone(&self.listener_metrics)
    }

    /// The CT queue.
    pub fn ct_queue(&self) -> &QueuePair<RawPayload> {
        &self.ct_queue
    }

    /// The event queue.
    pub fn event_queue(&self) -> &QueuePair<Message> {
        &self.event_queue
    }

    /// The dead-letter store.
    pub fn dead_letters(&self) -> &Arc<dyn DeadLetterStore> {
        &self.dead_letters
    }

    /// The commercetools client, when the file has a `commercetools:` block.
    pub fn commercetools(&self) -> Option<Arc<CommercetoolsClient>> {
        self.plan.services.get::<CommercetoolsClient>()
    }

    /// The Fluent client, when the file has a `fluent:` block.
    pub fn fluent(&self) -> Option<Arc<FluentClient>> {
        self.plan.services.get::<FluentClient>()
    }

    /// Runs the listener and the runtime until `shutdown` fires (or, for
    /// closed in-memory queues, until everything was handled), then stops
    /// intake, finishes or releases in-flight messages, and reports.
    pub async fn run(self, shutdown: Shutdown) -> RunReport {
        tracing::info!(
            connector = %self.plan.config.connector_name,
            routes = self.plan.config.routes.len(),
            ct_queue = %self.plan.config.ct_queue.kind,
            event_queue = %self.plan.config.event_queue.kind,
            "connector starting"
        );
        let listening = tokio::spawn(self.listener.run(shutdown.clone()));
        let running = tokio::spawn(self.runtime.run(shutdown.clone()));
        let listener = match listening.await {
            Ok(report) => report,
            Err(error) => {
                tracing::error!(%error, "the listener task failed");
                ListenerReport {
                    metrics: self.listener_metrics.snapshot(),
                }
            }
        };
        let runtime = match running.await {
            Ok(report) => report,
            Err(error) => {
                tracing::error!(%error, "the runtime task failed");
                connect_core::runtime::RunReport {
                    metrics: self.metrics.snapshot(),
                    released: 0,
                    interrupted: 0,
                }
            }
        };
        tracing::info!(
            received = listener.metrics.received,
            succeeded = runtime.metrics.succeeded,
            dead_lettered = runtime.metrics.dead_lettered + listener.metrics.dead_lettered,
            "connector stopped"
        );
        RunReport { runtime, listener }
    }

    /// Sends the dead letters `select` picks back to the event queue (raw
    /// payloads through the listener's translation) and removes them.
    pub async fn replay_dead_letters(
        &self,
        select: impl Fn(&DeadLetter) -> bool + Send,
    ) -> Result<ReplayReport, RunnerError> {
        dead_letter::replay(
            self.dead_letters.as_ref(),
            self.event_queue.sink.as_ref(),
            Some(self.plan.translator.as_ref()),
            select,
        )
        .await
        .map_err(Into::into)
    }

    /// Runs only the runtime (no listener) until `expected` messages have
    /// settled (succeeded, filtered, coalesced or dead-lettered) or `shutdown`
    /// fires. Used after a replay into an in-memory event queue, which
    /// nothing else would read.
    pub async fn drain(
        self,
        expected: u64,
        shutdown: Shutdown,
    ) -> connect_core::runtime::RunReport {
        let metrics = Arc::clone(&self.metrics);
        let stop = shutdown.clone();
        let watcher = tokio::spawn(async move {
            loop {
                if metrics
                    .wait_until(|m| m.settled() >= expected, Duration::from_secs(3600))
                    .await
                    .is_ok()
                {
                    break;
                }
            }
            stop.trigger();
        });
        let report = self.runtime.run(shutdown).await;
        watcher.abort();
        report
    }

    pub(crate) fn router(&self) -> &Arc<Router> {
        &self.plan.router
    }
}
