//! [`Connector`]: a connector built from its configuration file.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use connect_commercetools::{
    CommercetoolsClient, CommercetoolsConfig, SubscriptionTranslator, SyncRegistry,
};
use connect_core::config::{ConfigDocument, ConnectorConfig};
use connect_core::dead_letter::{
    DeadLetter, DeadLetterStore, ReplayPlan, ReplayReport, ReplaySource, replay_to,
};
use connect_core::listener::{Listener, ListenerMetrics, ListenerReport, Translate, Translating};
use connect_core::queue::RawPayload;
use connect_core::runtime::{Health, Metrics, Runtime, Shutdown};
use connect_core::{ConfigSections, HandlerRegistry, Message, Router, Services};
use connect_fluent::dry_run::DryRun;
use connect_fluent::{FluentClient, FluentConfig};

use crate::backends::{self, QueuePair};
use crate::backfill::FeedCheck;

/// The top-level blocks read above connect-core: by the clients, the
/// translator (`route-mapping`), the webhook listener (`webhook-mapping`)
/// and the observability endpoint. Any other block is refused as a typo.
const SECTIONS: &[&str] = &[
    "commercetools",
    "fluent",
    connect_commercetools::ROUTE_MAPPING,
    connect_webhook::config::WEBHOOK_MAPPING_SECTION,
    "observability",
];
use crate::error::RunnerError;
use crate::jobs::JobsPlan;
use crate::observability::{
    DEFAULT_LIVENESS_TIMEOUT, ObservabilityConfig, ObservabilityServer, Sources, Telemetry,
};
use crate::webhooks::{Serving, WebhookPlan};

/// What a connector is built with besides its file: the handlers routes
/// can name, the partner configuration blocks it reads and the syncs it can
/// backfill. [`Registries::linked`] has everything linked into the binary.
#[derive(Debug, Clone, Default)]
pub struct Registries {
    /// The handlers routes can name.
    pub handlers: HandlerRegistry,
    /// The partner configuration blocks (`config_section!`).
    pub sections: ConfigSections,
    /// The syncs `backfill` can run and whose scopes a connector asks for.
    pub syncs: SyncRegistry,
}

impl Registries {
    /// Every handler, configuration block and sync linked into the binary.
    pub fn linked() -> Self {
        Self {
            handlers: HandlerRegistry::linked(),
            sections: ConfigSections::linked(),
            syncs: SyncRegistry::linked(),
        }
    }
}

/// The checked configuration: every block parsed strictly, clients created
/// and every route's handler built. Nothing is connected yet, so this is
/// what `connect validate` checks.
pub struct Plan {
    doc: ConfigDocument,
    config: ConnectorConfig,
    services: Arc<Services>,
    router: Arc<Router>,
    translator: Arc<SubscriptionTranslator>,
    observability: Option<ObservabilityConfig>,
    webhooks: Option<WebhookPlan>,
    syncs: SyncRegistry,
    jobs: JobsPlan,
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
    /// Checks `doc` with the handlers of `registry` and every linked
    /// configuration block and sync, adding the commercetools and Fluent
    /// clients (from their blocks) to `services` unless present.
    pub fn new(
        doc: ConfigDocument,
        registry: &HandlerRegistry,
        services: Services,
    ) -> Result<Self, RunnerError> {
        let registries = Registries {
            handlers: registry.clone(),
            ..Registries::linked()
        };
        Self::with_registries(doc, &registries, services)
    }

    /// Checks `doc` with `registries`: every route's handler, every partner
    /// block (read strictly and added to `services`), the commercetools and
    /// Fluent clients (from their blocks, unless in `services`; without
    /// `scopes` in the file, the client asks for those of the syncs whose
    /// routes the file defines).
    pub fn with_registries(
        doc: ConfigDocument,
        registries: &Registries,
        services: Services,
    ) -> Result<Self, RunnerError> {
        Self::checked(doc, registries, services, None)
    }

    /// [`with_registries`](Self::with_registries); with `dry_run`, every
    /// handler gets a dry-run Fluent client recording into it.
    fn checked(
        doc: ConfigDocument,
        registries: &Registries,
        mut services: Services,
        dry_run: Option<Arc<DryRun>>,
    ) -> Result<Self, RunnerError> {
        let mut config = doc.connector()?;
        let partner = registries.sections.names();
        let known: Vec<&str> = SECTIONS
            .iter()
            .chain(connect_jobs::SECTIONS)
            .copied()
            .chain(partner)
            .collect();
        doc.check_sections(&config, &known)?;
        registries.sections.load(&doc, &mut services)?;
        // Blocks are checked even when a client was handed in, so that
        // `validate` and `run` accept exactly the same files.
        let commercetools = doc
            .section::<CommercetoolsConfig>("commercetools")?
            .map(|ct| with_sync_scopes(ct, &config, &registries.syncs));
        let fluent = doc.section::<FluentConfig>("fluent")?;
        let observability = doc.section::<ObservabilityConfig>("observability")?;
        let webhooks = WebhookPlan::read(&doc, &config, fluent.as_ref(), observability.as_ref())?;
        // Both clients share one HTTP client: one connection pool, one TLS
        // trust store (each client still applies its own request timeout).
        let mut http = None;
        if let Some(ct) = commercetools
            && services.get::<CommercetoolsClient>().is_none()
        {
            let http = shared_http(&mut http, &doc)?;
            services.insert(CommercetoolsClient::with_http_client(ct, http)?);
        }
        if let Some(fluent) = fluent
            && services.get::<FluentClient>().is_none()
        {
            let http = shared_http(&mut http, &doc)?;
            services.insert(FluentClient::with_http_client(fluent, http)?);
        }
        // Before any handler is built: each one gets the dry-run client.
        if let Some(plan) = dry_run
            && let Some(client) = services.get::<FluentClient>()
        {
            services.insert(client.with_dry_run(plan));
        }
        backends::check_queue(&doc, &config.ct_queue)?;
        backends::check_queue(&doc, &config.event_queue)?;
        backends::check_dead_letters(&doc, &config.runtime.dead_letter)?;
        let mut handlers = registries.handlers.clone();
        let jobs = JobsPlan::read(&doc, &mut config, &mut handlers)?;
        let router =
            Router::build(&config, &handlers, &services).map_err(|source| RunnerError::Routes {
                origin: doc.origin().to_owned(),
                source,
            })?;
        // Payloads of another commercetools project are ignored, not
        // handled against this one.
        let mut translator = SubscriptionTranslator::from_document(&doc, &config)?;
        if let Some(client) = services.get::<CommercetoolsClient>() {
            translator = translator.with_project_key(client.project_key());
        }
        let translator = Arc::new(translator);
        let check = FeedCheck {
            origin: doc.origin().to_owned(),
            config: config.clone(),
            translator: Arc::clone(&translator),
            syncs: registries.syncs.clone(),
        };
        jobs.check(&doc, &Services::clone(&services).with(check))?;
        Ok(Self {
            doc,
            config,
            services: Arc::new(services),
            router: Arc::new(router),
            translator,
            observability,
            webhooks,
            syncs: registries.syncs.clone(),
            jobs,
        })
    }

    /// The jobs (`jobs:`) and where their state lives (`state:`).
    pub fn jobs(&self) -> &JobsPlan {
        &self.jobs
    }

    /// The syncs this connector can backfill.
    pub fn syncs(&self) -> &SyncRegistry {
        &self.syncs
    }

    /// The `observability` block, when the file has one.
    pub fn observability(&self) -> Option<&ObservabilityConfig> {
        self.observability.as_ref()
    }

    /// The webhook listener's blocks (`listeners.fluent-webhook`,
    /// `listeners.external-webhook`, `webhook-mapping`), when the file has
    /// a webhook listener. Only [`Connector::serve_webhooks`] (called by
    /// `run`) binds its port.
    pub fn webhooks(&self) -> Option<&WebhookPlan> {
        self.webhooks.as_ref()
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

    /// The translator of commercetools payloads, which holds the
    /// `route-mapping` (resource type id → route).
    pub fn translator(&self) -> &Arc<SubscriptionTranslator> {
        &self.translator
    }

    /// Checks, without connecting or writing anything, that the dead-letter
    /// store can be used where that can be known offline (a `type: file`
    /// store's directory is writable); other stores are checked when opened.
    pub async fn check_dead_letter_store(&self) -> Result<(), RunnerError> {
        backends::check_dead_letters_offline(&self.doc, &self.config.runtime.dead_letter).await
    }

    /// Opens the dead-letter store `runtime.dead-letter` describes.
    pub async fn open_dead_letters(&self) -> Result<Arc<dyn DeadLetterStore>, RunnerError> {
        backends::open_dead_letters(&self.doc, &self.config.runtime.dead_letter).await
    }
}

/// `config` with the scopes of every sync whose route the file defines,
/// unless the file wrote `scopes` itself.
fn with_sync_scopes(
    config: CommercetoolsConfig,
    connector: &ConnectorConfig,
    syncs: &SyncRegistry,
) -> CommercetoolsConfig {
    let mut scopes: Vec<&str> = Vec::new();
    for sync in syncs.syncs() {
        let routed = connector
            .routes
            .iter()
            .any(|r| r.route == sync.route || r.handler == sync.handler);
        if routed {
            scopes.extend(sync.scopes.iter().copied());
        }
    }
    // Does nothing when the file wrote `scopes`, or no routed sync needs any.
    config.with_default_scopes(&scopes)
}

/// The HTTP client of the commercetools and Fluent clients, built once.
fn shared_http(
    http: &mut Option<reqwest::Client>,
    doc: &ConfigDocument,
) -> Result<reqwest::Client, RunnerError> {
    if let Some(http) = http {
        return Ok(http.clone());
    }
    let client = connect_http::client_builder(connect_http::CONNECT_TIMEOUT)
        .build()
        .map_err(|error| RunnerError::Backend {
            origin: doc.origin().to_owned(),
            message: format!("cannot build the HTTP client: {error}"),
        })?;
    *http = Some(client.clone());
    Ok(client)
}

/// Builds a [`Connector`], optionally replacing parts of what the file says
/// (tests and examples hand in in-memory queues and emulator clients).
pub struct ConnectorBuilder {
    doc: ConfigDocument,
    registry: Option<HandlerRegistry>,
    sections: Option<ConfigSections>,
    syncs: Option<SyncRegistry>,
    services: Services,
    ct_queue: Option<QueuePair<RawPayload>>,
    event_queue: Option<QueuePair<Message>>,
    dead_letters: Option<Arc<dyn DeadLetterStore>>,
    receive: Option<(usize, Duration)>,
    dry_run: Option<Arc<DryRun>>,
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

    /// Partner configuration blocks to read instead of every
    /// `config_section!` linked into the binary.
    #[must_use]
    pub fn sections(mut self, sections: ConfigSections) -> Self {
        self.sections = Some(sections);
        self
    }

    /// Syncs to use instead of every `register_sync!` linked into the
    /// binary.
    #[must_use]
    pub fn syncs(mut self, syncs: SyncRegistry) -> Self {
        self.syncs = Some(syncs);
        self
    }

    /// Starts from these shared services instead of none (they win over
    /// ones built from the file; [`service`](Self::service) adds more).
    #[must_use]
    pub fn services(mut self, services: Services) -> Self {
        self.services = services;
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

    /// Builds a dry run: every handler gets a Fluent client that sends no
    /// mutation and records in `plan` what [`connect_fluent::upsert`]
    /// would write (see [`connect_fluent::dry_run`]), and dead letters go
    /// to memory, not to `runtime.dead-letter` (unless
    /// [`dead_letters`](Self::dead_letters) names a store).
    #[must_use]
    pub fn dry_run(mut self, plan: Arc<DryRun>) -> Self {
        self.dry_run = Some(plan);
        self
    }

    /// Checks the configuration and opens the queues and the store.
    pub async fn build(self) -> Result<Connector, RunnerError> {
        let registries = Registries {
            handlers: self.registry.unwrap_or_else(HandlerRegistry::linked),
            sections: self.sections.unwrap_or_else(ConfigSections::linked),
            syncs: self.syncs.unwrap_or_else(SyncRegistry::linked),
        };
        let dry_run = self.dry_run.is_some();
        let plan = Plan::checked(self.doc, &registries, self.services, self.dry_run)?;
        let max_attempts = Some(plan.config.runtime.max_attempts);
        let (ct_queue, ct_receive) = match self.ct_queue {
            Some(queue) => (queue, None),
            None => {
                let opened = backends::open_queue(
                    &plan.doc,
                    &plan.config.ct_queue,
                    "ct-queue",
                    max_attempts,
                )
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
                    max_attempts,
                )
                .await?;
                (opened.pair, opened.receive)
            }
        };
        let dead_letters = match self.dead_letters {
            Some(store) => store,
            None if dry_run => Arc::new(connect_core::dead_letter::MemoryDeadLetters::new()),
            None => {
                backends::open_dead_letters(&plan.doc, &plan.config.runtime.dead_letter).await?
            }
        };
        let health = Arc::new(Health::new());
        for dependency in [CT_QUEUE, EVENT_QUEUE] {
            health.register(dependency);
        }
        if plan.services.get::<CommercetoolsClient>().is_some() {
            health.register(connect_commercetools::DEPENDENCY);
        }
        if plan.services.get::<FluentClient>().is_some() {
            health.register(connect_fluent::DEPENDENCY);
        }
        let translator = Arc::clone(&plan.translator) as Arc<dyn Translate>;
        let ct_receive = self.receive.or(ct_receive);
        let event_receive = self.receive.or(event_receive);
        let durable = event_queue.sink.is_durable();
        let (intake, runtime) = if durable {
            // The event queue keeps messages across restarts: forward each
            // batch to it, then acknowledge the batch's payloads.
            let mut listener = Listener::new(
                CT_QUEUE,
                Arc::clone(&ct_queue.source),
                translator,
                Arc::clone(&event_queue.sink),
            )
            .with_dead_letters(Arc::clone(&dead_letters))
            .with_health(Arc::clone(&health));
            if let Some((batch, wait)) = ct_receive {
                listener = listener.with_receive(batch, wait);
            }
            let mut runtime =
                Runtime::new(Arc::clone(&plan.router), Arc::clone(&event_queue.source));
            if let Some((batch, wait)) = event_receive {
                runtime = runtime.with_receive(batch, wait);
            }
            (Intake::Forwarding(listener), runtime)
        } else {
            // The event queue lives and dies with this process: the runtime
            // reads the CT queue itself, and a payload stays unsettled there
            // until its message is settled (end-to-end acknowledgement).
            // The in-memory event queue still carries handlers' follow-up
            // messages.
            let translating = Translating::new(CT_QUEUE, Arc::clone(&ct_queue.source), translator)
                .with_dead_letters(Arc::clone(&dead_letters))
                .with_health(Arc::clone(&health));
            let metrics = translating.metrics();
            let mut runtime = Runtime::new(Arc::clone(&plan.router), Arc::new(translating))
                .with_source_name(CT_QUEUE)
                .with_source(EVENT_QUEUE, Arc::clone(&event_queue.source));
            if let Some((batch, wait)) = ct_receive {
                runtime = runtime.with_receive(batch, wait);
            }
            (Intake::EndToEnd(metrics), runtime)
        };
        let runtime = runtime
            .with_config(&plan.config.runtime)
            .with_publisher(Arc::clone(&event_queue.sink))
            .with_dead_letters(Arc::clone(&dead_letters))
            .with_services(Arc::clone(&plan.services))
            .with_health(Arc::clone(&health));
        let mut http = Vec::new();
        if let Some(client) = plan.services.get::<CommercetoolsClient>() {
            http.push((connect_commercetools::DEPENDENCY, client.http_requests()));
        }
        if let Some(client) = plan.services.get::<FluentClient>() {
            http.push((connect_fluent::DEPENDENCY, client.http_requests()));
        }
        let telemetry = Arc::new(Telemetry::new(Sources {
            connector: plan.config.connector_name.clone(),
            router: Arc::clone(&plan.router),
            health: Arc::clone(&health),
            runtime: runtime.metrics(),
            listener: intake.metrics(),
            http,
            liveness_timeout: plan
                .observability
                .as_ref()
                .map_or(DEFAULT_LIVENESS_TIMEOUT, |o| o.liveness_timeout),
        }));
        let mut connector = Connector {
            metrics: runtime.metrics(),
            listener_metrics: intake.metrics(),
            telemetry,
            health,
            plan,
            ct_queue,
            event_queue,
            dead_letters,
            intake,
            runtime,
            webhooks: None,
            jobs: None,
        };
        connector.jobs = crate::jobs::connector_scheduler(&connector)?;
        Ok(connector)
    }
}

/// The name of the CT queue in logs and health.
pub const CT_QUEUE: &str = "ct-queue";
/// The name of the event queue in logs and health.
pub const EVENT_QUEUE: &str = "event-queue";

/// How raw payloads reach the runtime.
enum Intake {
    /// A listener task forwards them to a durable event queue.
    Forwarding(Listener),
    /// The runtime reads the CT queue through the translation; its counters.
    EndToEnd(Arc<ListenerMetrics>),
}

impl Intake {
    fn metrics(&self) -> Arc<ListenerMetrics> {
        match self {
            Self::Forwarding(listener) => listener.metrics(),
            Self::EndToEnd(metrics) => Arc::clone(metrics),
        }
    }
}

/// A connector ready to run: CT queue → listener → event queue → runtime.
///
/// With a durable event queue (SQS), a listener task forwards payloads to
/// it and the runtime reads it. With an in-memory event queue, the runtime
/// reads the CT queue directly through the listener's translation, so that
/// a payload leaves the CT queue only when its message was handled,
/// filtered, coalesced or dead-lettered.
pub struct Connector {
    plan: Plan,
    ct_queue: QueuePair<RawPayload>,
    event_queue: QueuePair<Message>,
    dead_letters: Arc<dyn DeadLetterStore>,
    intake: Intake,
    runtime: Runtime,
    metrics: Arc<Metrics>,
    listener_metrics: Arc<ListenerMetrics>,
    health: Arc<Health>,
    telemetry: Arc<Telemetry>,
    webhooks: Option<Serving>,
    jobs: Option<Arc<connect_jobs::Scheduler>>,
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
            sections: None,
            syncs: None,
            services: Services::new(),
            ct_queue: None,
            event_queue: None,
            dead_letters: None,
            receive: None,
            dry_run: None,
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

    /// The job scheduler `run` starts, when the file has jobs.
    pub fn job_scheduler(&self) -> Option<&Arc<connect_jobs::Scheduler>> {
        self.jobs.as_ref()
    }

    pub(crate) fn take_job_scheduler(&mut self) -> Option<Arc<connect_jobs::Scheduler>> {
        self.jobs.take()
    }

    /// The commercetools client, when the file has a `commercetools:` block.
    pub fn commercetools(&self) -> Option<Arc<CommercetoolsClient>> {
        self.plan.services.get::<CommercetoolsClient>()
    }

    /// The Fluent client, when the file has a `fluent:` block.
    pub fn fluent(&self) -> Option<Arc<FluentClient>> {
        self.plan.services.get::<FluentClient>()
    }

    /// Which dependencies are up, live.
    pub fn health(&self) -> Arc<Health> {
        Arc::clone(&self.health)
    }

    /// What the observability endpoint serves: metrics, liveness and
    /// readiness, live.
    pub fn telemetry(&self) -> Arc<Telemetry> {
        Arc::clone(&self.telemetry)
    }

    /// Starts the `/metrics`, `/health` and `/ready` endpoint on
    /// `observability.listen`; `Ok(None)` when the file has no
    /// `observability` block. The endpoint serves until the returned
    /// handle is dropped (or shut down), so start it before
    /// [`run`](Self::run) or a backfill and keep the handle while they run:
    ///
    /// ```no_run
    /// # async fn start(connector: connect_runner::Connector) -> Result<(), connect_runner::RunnerError> {
    /// use connect_core::runtime::Shutdown;
    ///
    /// let endpoint = connector.serve_observability().await?;
    /// if let Some(endpoint) = &endpoint {
    ///     println!("metrics on http://{}/metrics", endpoint.local_addr());
    /// }
    /// connector.run(Shutdown::on_signals()).await;
    /// # Ok(()) }
    /// ```
    pub async fn serve_observability(&self) -> Result<Option<ObservabilityServer>, RunnerError> {
        let Some(config) = self.plan.observability() else {
            return Ok(None);
        };
        let listen_error = |source| RunnerError::Listen {
            origin: self.plan.doc.origin().to_owned(),
            address: config.listen.clone(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(config.listen.as_str())
            .await
            .map_err(listen_error)?;
        ObservabilityServer::start(listener, self.telemetry())
            .map(Some)
            .map_err(listen_error)
    }

    /// Binds `listeners.fluent-webhook.listen` and starts serving webhooks;
    /// `Ok(None)` when the file has no webhook listener. [`run`](Self::run)
    /// calls it when it was not called before; call it first to get the
    /// error (a port in use) and the address (port 0 picks one).
    ///
    /// With a durable event queue (SQS) each accepted webhook is sent to it
    /// and answered 200 once sent. With the in-memory event queue the
    /// listener becomes a source of the runtime: a webhook is answered 200
    /// once its handler finished, 503 past `answer-timeout`, and webhooks
    /// that arrive before `run` starts wait for it (at most
    /// `answer-timeout`). A second call does nothing.
    ///
    /// ```no_run
    /// # async fn start(mut connector: connect_runner::Connector) -> Result<(), connect_runner::RunnerError> {
    /// use connect_core::runtime::Shutdown;
    ///
    /// if let Some(addr) = connector.serve_webhooks().await? {
    ///     println!("webhooks on http://{addr}");
    /// }
    /// connector.run(Shutdown::on_signals()).await;
    /// # Ok(()) }
    /// ```
    pub async fn serve_webhooks(&mut self) -> Result<Option<std::net::SocketAddr>, RunnerError> {
        if let Some(serving) = &self.webhooks {
            return Ok(Some(serving.local_addr()));
        }
        let Some(plan) = self.plan.webhooks() else {
            return Ok(None);
        };
        let serving = plan
            .serve(self.plan.doc.origin(), &self.event_queue.sink)
            .await?;
        let addr = serving.local_addr();
        self.telemetry
            .webhooks_serving(serving.metrics(), serving.has_external());
        self.telemetry.watch(serving.heartbeat());
        self.webhooks = Some(serving);
        Ok(Some(addr))
    }

    /// The webhook listener's address, once it serves.
    pub fn webhook_addr(&self) -> Option<std::net::SocketAddr> {
        self.webhooks.as_ref().map(Serving::local_addr)
    }

    /// The webhook listener's counters by endpoint and outcome, once it
    /// serves (live).
    pub fn webhook_metrics(&self) -> Option<Arc<connect_webhook::WebhookMetrics>> {
        self.webhooks.as_ref().map(Serving::metrics)
    }

    /// `true` when the runtime reads the CT queue itself (in-memory event
    /// queue): payloads are settled end to end.
    pub fn is_end_to_end(&self) -> bool {
        matches!(self.intake, Intake::EndToEnd(_))
    }

    /// Runs until `shutdown` fires (or, for closed in-memory queues, until
    /// everything was handled): the first stage stops intake and finishes
    /// or returns in-flight messages within `shutdown-timeout`; the second
    /// returns everything at once.
    ///
    /// With a webhook listener in the file, it serves webhooks too
    /// ([`serve_webhooks`](Self::serve_webhooks), called here unless called
    /// before; if the port cannot be bound here, the error is logged and
    /// nothing runs). The first stage also stops the listener taking new
    /// webhooks; open requests get their answer (in process: 200 once
    /// handled, 503 once returned), so no webhook answered 200 is lost.
    pub async fn run(mut self, shutdown: Shutdown) -> RunReport {
        if let Err(error) = self.serve_webhooks().await {
            tracing::error!(%error, "cannot serve webhooks; the connector does not start");
            return RunReport {
                runtime: connect_core::runtime::RunReport {
                    metrics: self.metrics.snapshot(),
                    returned: 0,
                    interrupted: 0,
                },
                listener: ListenerReport {
                    metrics: self.listener_metrics.snapshot(),
                },
            };
        }
        tracing::info!(
            connector = %self.plan.config.connector_name,
            routes = self.plan.config.routes.len(),
            ct_queue = %self.plan.config.ct_queue.kind,
            event_queue = %self.plan.config.event_queue.kind,
            end_to_end = self.is_end_to_end(),
            "connector starting"
        );
        let mut runtime = self.runtime;
        let (done, done_rx) = tokio::sync::watch::channel(false);
        let webhooks = match self.webhooks {
            Some(mut serving) => {
                // In process, the listener is one more source of the
                // runtime: a webhook's request waits for its settlement.
                if let Some(source) = serving.take_source() {
                    runtime = runtime.with_source(connect_webhook::WEBHOOK_LISTENER, source);
                }
                Some(serving.stop_on(shutdown.clone(), done_rx))
            }
            None => None,
        };
        self.telemetry.watch(runtime.heartbeat());
        // Jobs run beside the runtime and stop on the same shutdown.
        let jobs = crate::jobs::start(self.jobs.as_ref(), &self.plan, &shutdown);
        let listening = match self.intake {
            Intake::Forwarding(listener) => {
                self.telemetry.watch(listener.heartbeat());
                Some(tokio::spawn(listener.run(shutdown.clone())))
            }
            Intake::EndToEnd(_) => None,
        };
        let runtime = runtime.run(shutdown.clone()).await;
        if let Some(jobs) = jobs
            && let Err(error) = jobs.await
        {
            tracing::error!(%error, "the job scheduler failed");
        }
        // The runtime has let go of the in-process source: webhooks still
        // waiting for it are answered 503 now; then the listener ends.
        let _ = done.send(true);
        if let Some(stopping) = webhooks
            && let Err(error) = stopping.await
        {
            tracing::error!(%error, "the webhook listener's shutdown failed");
        }
        let listener = match listening {
            Some(listening) => match listening.await {
                Ok(report) => report,
                Err(error) => {
                    tracing::error!(%error, "the listener task failed");
                    ListenerReport {
                        metrics: self.listener_metrics.snapshot(),
                    }
                }
            },
            None => ListenerReport {
                metrics: self.listener_metrics.snapshot(),
            },
        };
        tracing::info!(
            received = listener.metrics.received,
            succeeded = runtime.metrics.succeeded,
            dead_lettered = runtime.metrics.dead_lettered + listener.metrics.dead_lettered,
            returned = runtime.returned + runtime.interrupted,
            "connector stopped"
        );
        RunReport { runtime, listener }
    }

    /// Replays the dead letters `select` picks, until done or `shutdown`.
    ///
    /// A durable event queue (SQS) receives each message, and its letter is
    /// removed once the queue accepted it. With an in-memory event queue the
    /// messages are handled here, by this connector's runtime, and a letter
    /// is removed only once its message was settled (handled, or
    /// dead-lettered again as a new letter). Either way, a letter is never
    /// removed before its message is safe, and an interrupted replay leaves
    /// the rest in the store.
    pub async fn replay_dead_letters(
        self,
        select: impl Fn(&DeadLetter) -> bool + Send,
        shutdown: Shutdown,
    ) -> Result<ReplayReport, RunnerError> {
        let plan = ReplayPlan::read(
            self.dead_letters.as_ref(),
            Some(self.plan.translator.as_ref()),
            select,
        )
        .await?;
        if self.event_queue.sink.is_durable() {
            let stop = shutdown.triggered();
            return Ok(replay_to(
                self.dead_letters.as_ref(),
                self.event_queue.sink.as_ref(),
                plan,
                stop,
            )
            .await?);
        }
        let mut report = ReplayReport {
            failed: plan.failed,
            ignored: plan.ignored.len(),
            ..ReplayReport::default()
        };
        self.dead_letters.remove(&plan.ignored).await?;
        let total = plan.messages.len();
        if total == 0 {
            return Ok(report);
        }
        let source = Arc::new(ReplaySource::new(plan.messages));
        let runtime = Runtime::new(Arc::clone(&self.plan.router), Arc::clone(&source) as _)
            .with_source_name("dead-letters")
            .with_config(&self.plan.config.runtime)
            .with_receive(64, Duration::from_millis(50))
            .with_dead_letters(Arc::clone(&self.dead_letters))
            .with_services(Arc::clone(&self.plan.services))
            .with_health(Arc::clone(&self.health));
        let metrics = runtime.metrics();
        runtime.run(shutdown).await;
        let settled = source.settled();
        self.dead_letters.remove(&settled).await?;
        report.replayed = settled.len();
        report.interrupted = total - settled.len();
        report.failed_again =
            usize::try_from(metrics.snapshot().dead_lettered).unwrap_or(usize::MAX);
        if report.failed_again > 0 {
            tracing::warn!(
                failed_again = report.failed_again,
                "some replayed messages failed again; they are back in the dead-letter store"
            );
        }
        Ok(report)
    }

    pub(crate) fn router(&self) -> &Arc<Router> {
        &self.plan.router
    }
}
