//! The webhook listener of a connector (connect-webhook): the
//! `listeners.fluent-webhook`, `listeners.external-webhook` and
//! `webhook-mapping` blocks, checked with the [`Plan`](crate::Plan) and
//! served only by `run` (a `validate`, backfill or replay never takes the
//! port).
//!
//! The layout follows the event queue, so that a webhook answered 200 is
//! never lost:
//!
//! - a durable event queue (SQS): the listener sends each accepted webhook
//!   to it and answers 200 once the send succeeded;
//! - the in-memory event queue: the listener is one more source of the
//!   runtime, and a webhook is answered 200 only once its handler finished
//!   (503 past `answer-timeout`, so that Fluent retries).
//!
//! On the first signal the listener stops accepting connections and lets
//! open requests finish while the runtime drains; webhooks still waiting
//! for the runtime are answered 503.

use std::net::SocketAddr;
use std::sync::Arc;

use connect_core::Message;
use connect_core::config::{ConfigDocument, ConnectorConfig};
use connect_core::queue::Sink;
use connect_core::runtime::{HEARTBEAT_INTERVAL, Heartbeat, LoopState, Shutdown};
use connect_fluent::FluentConfig;
use connect_webhook::config::{
    EXTERNAL_WEBHOOK_SECTION, FLUENT_WEBHOOK_SECTION, WEBHOOK_MAPPING_SECTION,
};
use connect_webhook::{
    ExternalWebhookConfig, FluentWebhookConfig, Intake, MessageSource, WebhookListener,
    WebhookMapping, WebhookMetrics, WebhookServer,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::RunnerError;
use crate::observability::ObservabilityConfig;

/// The name of the webhook listener's loop in `/health`.
pub const WEBHOOK_LOOP: &str = "webhook listener";

/// The checked webhook blocks: what `run` serves.
#[derive(Debug, Clone)]
pub struct WebhookPlan {
    fluent: FluentWebhookConfig,
    external: Option<ExternalWebhookConfig>,
    mapping: WebhookMapping,
    account: String,
    retailer: String,
}

impl WebhookPlan {
    /// Reads the webhook blocks of `doc`; `Ok(None)` when the file has no
    /// `listeners.fluent-webhook`. Checks what connect-webhook cannot see
    /// alone: the `fluent` block names the account and retailer webhooks
    /// must be for, every mapped route is defined under `routes`, the
    /// external endpoint has the Fluent listener to be served on, and the
    /// listener does not share the observability endpoint's address.
    pub(crate) fn read(
        doc: &ConfigDocument,
        config: &ConnectorConfig,
        fluent: Option<&FluentConfig>,
        observability: Option<&ObservabilityConfig>,
    ) -> Result<Option<Self>, RunnerError> {
        let webhook = FluentWebhookConfig::read(doc)?;
        let external = ExternalWebhookConfig::read(doc)?;
        let mapping = WebhookMapping::read(doc)?;
        let Some(webhook) = webhook else {
            if external.is_some() {
                return Err(doc
                    .error_at_key(
                        EXTERNAL_WEBHOOK_SECTION,
                        "other systems' webhooks are served on the Fluent webhook listener; add `listeners.fluent-webhook` (its `listen`, timeouts and `max-connections` apply to both endpoints)",
                    )
                    .into());
            }
            if let Some((name, _)) = mapping.iter().next() {
                return Err(doc
                    .error_at_key(
                        &format!("{WEBHOOK_MAPPING_SECTION}.{name}"),
                        "`webhook-mapping` needs a webhook listener; add `listeners.fluent-webhook` (listen, public-keys) or remove the mapping",
                    )
                    .into());
            }
            return Ok(None);
        };
        let Some(fluent) = fluent else {
            return Err(doc
                .error_at_key(
                    FLUENT_WEBHOOK_SECTION,
                    "Fluent webhooks are checked against the `fluent` block's `account` and `retailer-id`; add the `fluent` block",
                )
                .into());
        };
        let defined: Vec<&str> = config.routes.iter().map(|r| r.route.as_str()).collect();
        for (name, route) in mapping.iter() {
            if config.route(route).is_none() {
                return Err(doc
                    .error_at(
                        &format!("{WEBHOOK_MAPPING_SECTION}.{name}"),
                        format!(
                            "webhook `{name}` maps to `{route}`, which is not defined under `routes` (defined routes: {}); add a route `{route}` with its handler, or map `{name}` to one of them",
                            defined.join(", ")
                        ),
                    )
                    .into());
            }
        }
        if let Some(external) = &external
            && external.path == webhook.path
        {
            return Err(doc
                .error_at(
                    &format!("{EXTERNAL_WEBHOOK_SECTION}.path"),
                    format!(
                        "`{}` is also the Fluent webhook path; give the two endpoints different paths (the default is `{}`)",
                        external.path,
                        connect_webhook::config::DEFAULT_EXTERNAL_PATH
                    ),
                )
                .into());
        }
        if let Some(observability) = observability
            && observability.listen == webhook.listen
            && !webhook.listen.ends_with(":0")
        {
            return Err(doc
                .error_at(
                    &format!("{FLUENT_WEBHOOK_SECTION}.listen"),
                    format!(
                        "`{}` is also `observability.listen`; webhooks get a port of their own (reachable by Fluent, with read timeouts and a connection bound), e.g. `0.0.0.0:8080` beside `0.0.0.0:9464`",
                        webhook.listen
                    ),
                )
                .into());
        }
        if mapping.is_empty() {
            tracing::warn!(
                "listeners.fluent-webhook has no `webhook-mapping`: every webhook is acknowledged and ignored; map webhook names to routes, e.g. `webhook-mapping: {{ OrderStatus: fluent.connect.order.status }}`"
            );
        }
        Ok(Some(Self {
            fluent: webhook,
            external,
            mapping,
            account: fluent.account.clone(),
            retailer: fluent.retailer_id.clone(),
        }))
    }

    /// `listeners.fluent-webhook`.
    pub fn fluent(&self) -> &FluentWebhookConfig {
        &self.fluent
    }

    /// `listeners.external-webhook`, when the file has it.
    pub fn external(&self) -> Option<&ExternalWebhookConfig> {
        self.external.as_ref()
    }

    /// `webhook-mapping`: webhook name → route.
    pub fn mapping(&self) -> &WebhookMapping {
        &self.mapping
    }

    fn listener(&self) -> WebhookListener {
        let mut listener = WebhookListener::fluent(
            self.fluent.clone(),
            self.mapping.clone(),
            self.account.clone(),
            self.retailer.clone(),
        );
        if let Some(external) = &self.external {
            listener = listener.external(external.clone(), self.mapping.clone());
        }
        listener
    }

    /// Binds `listen` and serves: into `event_queue` when it is durable,
    /// else in process (the returned source is then the runtime's).
    pub(crate) async fn serve(
        &self,
        origin: &str,
        event_queue: &Arc<dyn Sink<Message>>,
    ) -> Result<Serving, RunnerError> {
        let error = |source| RunnerError::Webhooks {
            origin: origin.to_owned(),
            source,
        };
        let listener = self.listener();
        let tcp = listener.bind().await.map_err(error)?;
        let intake = if event_queue.is_durable() {
            Intake::Durable(Arc::clone(event_queue))
        } else {
            Intake::InProcess
        };
        let in_process = matches!(intake, Intake::InProcess);
        let (server, source) = listener.serve(tcp, intake).map_err(error)?;
        let heartbeat = Arc::new(Heartbeat::new(WEBHOOK_LOOP));
        heartbeat.set_state(LoopState::Running);
        let (stop, stopped) = watch::channel(false);
        let beating = tokio::spawn(beat(Arc::clone(&heartbeat), stopped));
        tracing::info!(
            address = %server.local_addr(),
            path = %self.fluent.path,
            layout = if in_process { "in process: answered once handled" } else { "durable event queue: answered once sent" },
            "webhook listener serving"
        );
        Ok(Serving {
            server,
            source,
            external: self.external.is_some(),
            heartbeat,
            stop,
            beating,
        })
    }
}

/// Beats for the webhook listener while it serves.
async fn beat(heartbeat: Arc<Heartbeat>, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            _ = tick.tick() => heartbeat.beat(),
        }
    }
}

/// A webhook listener that serves.
pub(crate) struct Serving {
    server: WebhookServer,
    source: Option<MessageSource>,
    external: bool,
    heartbeat: Arc<Heartbeat>,
    stop: watch::Sender<bool>,
    beating: JoinHandle<()>,
}

impl Serving {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub(crate) fn metrics(&self) -> Arc<WebhookMetrics> {
        self.server.metrics()
    }

    /// Whether the external endpoint is served too.
    pub(crate) fn has_external(&self) -> bool {
        self.external
    }

    pub(crate) fn heartbeat(&self) -> Arc<Heartbeat> {
        Arc::clone(&self.heartbeat)
    }

    /// The in-process layout's source, for the runtime (taken once).
    pub(crate) fn take_source(&mut self) -> Option<MessageSource> {
        self.source.take()
    }

    /// Stops on the first stage of `shutdown`, or when `done` fires (the
    /// runtime stopped by itself): no new connections, open requests
    /// finish (in process: each waits for its message to settle or be
    /// returned, then gets its answer).
    pub(crate) fn stop_on(self, shutdown: Shutdown, done: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut done = done;
            tokio::select! {
                () = shutdown.triggered() => {}
                _ = done.wait_for(|d| *d) => {}
            }
            self.heartbeat.set_state(LoopState::Stopping);
            tracing::info!("webhook listener: no new webhooks; finishing the open requests");
            self.server.shutdown().await;
            let _ = self.stop.send(true);
            let _ = self.beating.await;
            self.heartbeat.set_state(LoopState::Stopped);
            tracing::info!("webhook listener stopped");
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use connect_core::config::ConfigDocument;
    use connect_core::runtime::{LoopState, Shutdown};
    use connect_core::{
        HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler, Outcome, Services,
    };
    use connect_testkit::fluent::{FluentEmulator, NewOrder, Webhook};

    use crate::{Connector, Plan, WEBHOOK_LOOP};

    /// A 1024-bit RSA public key (bare base64 SubjectPublicKeyInfo).
    const KEY: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC/pOOyloUFfcdQXr/EMdp9AHXFMNHIx9j0yQxtdeB7PUS9Kne35RIdo6nUgzyhgdJgxFlx+q5n+gFu7Q9dBj4vLDuKXdjMmU9RL+/it3gMNYa++zxv3BNuB7eUvnB/ouw19OAY3StEGDMgv3BxYoRFyhzTnAuLbrUDeyALFqGpAwIDAQAB";

    const FLUENT: &str = "fluent:\n  base-url: http://127.0.0.1:1\n  account: ACME\n  retailer-id: \"1\"\n  client-id: c\n  client-secret: s\n  username: u\n  password: p\n";

    #[derive(Default)]
    struct Noop;

    #[connect_core::async_trait]
    impl MessageHandler for Noop {
        async fn handle(
            &self,
            _: &HandlerContext<'_>,
            _: &Message,
        ) -> Result<Outcome, HandlerError> {
            Ok(Outcome::done())
        }
    }

    fn registry() -> HandlerRegistry {
        let mut registry = HandlerRegistry::new();
        registry.register::<Noop>("Noop", 0);
        registry
    }

    /// A file with `fluent` (unless `fluent` is false), `blocks` and one
    /// route `order.status`.
    fn file(fluent: bool, blocks: &str) -> String {
        format!(
            "connector-name: hooks\n{}{blocks}routes:\n  - route: order.status\n    handler: Noop\n",
            if fluent { FLUENT } else { "" }
        )
    }

    fn plan(yaml: &str) -> Result<Plan, String> {
        Plan::new(
            ConfigDocument::from_yaml("app.yml", yaml),
            &registry(),
            Services::new(),
        )
        .map_err(|e| e.to_string())
    }

    fn listener(extra: &str) -> String {
        format!(
            "listeners:\n  fluent-webhook:\n    listen: 127.0.0.1:0\n    public-keys: [\"{KEY}\"]\n{extra}"
        )
    }

    #[test]
    fn the_webhook_blocks_are_read_and_checked_with_their_lines() {
        let ok = plan(&file(
            true,
            &format!(
                "{}webhook-mapping:\n  OrderStatus: order.status\n",
                listener("")
            ),
        ))
        .unwrap();
        let webhooks = ok.webhooks().unwrap();
        assert_eq!(webhooks.fluent().public_keys[0].bits(), 1024);
        assert_eq!(
            webhooks.mapping().route_for("OrderStatus"),
            Some("order.status")
        );
        assert!(webhooks.external().is_none());
        assert!(plan(&file(true, "")).unwrap().webhooks().is_none());

        // A mapped route that `routes` does not define, at its line.
        let error = plan(&file(
            true,
            &format!(
                "{}webhook-mapping:\n  OrderStatus: order.statuz\n",
                listener("")
            ),
        ))
        .unwrap_err();
        assert!(error.starts_with("app.yml:15:"), "{error}");
        assert!(
            error.contains(
                "`order.statuz`, which is not defined under `routes` (defined routes: order.status)"
            ),
            "{error}"
        );

        // The account and retailer come from the `fluent` block.
        let error = plan(&file(false, &listener(""))).unwrap_err();
        assert!(error.contains("add the `fluent` block"), "{error}");

        // The external endpoint lives on the Fluent listener.
        let error = plan(&file(
            true,
            "listeners:\n  external-webhook:\n    auth:\n      bearer: { token: t }\n",
        ))
        .unwrap_err();
        assert!(error.contains("add `listeners.fluent-webhook`"), "{error}");

        // A mapping without a listener.
        let error = plan(&file(
            true,
            "webhook-mapping:\n  OrderStatus: order.status\n",
        ))
        .unwrap_err();
        assert!(
            error.contains("`webhook-mapping` needs a webhook listener"),
            "{error}"
        );

        // Two endpoints on one path.
        let error = plan(&file(
            true,
            &listener("  external-webhook:\n    path: /api/v1/fluent-connect/webhook\n    auth:\n      bearer: { token: t }\n"),
        ))
        .unwrap_err();
        assert!(
            error.contains("give the two endpoints different paths"),
            "{error}"
        );

        // Not on the observability endpoint's port.
        let error = plan(&file(
            true,
            "listeners:\n  fluent-webhook:\n    listen: 0.0.0.0:9464\n    public-keys: [\"KEY\"]\nobservability:\n  listen: 0.0.0.0:9464\n"
                .replace("KEY", KEY)
                .as_str(),
        ))
        .unwrap_err();
        assert!(error.contains("is also `observability.listen`"), "{error}");

        // connect-webhook's own checks come through with their lines.
        let error = plan(&file(true, &listener("    max-bodee: 1MiB\n"))).unwrap_err();
        assert!(error.contains("unknown field `max-bodee`"), "{error}");
        let error = plan(&file(
            true,
            "listeners:\n  fluent-webhook:\n    listen: 127.0.0.1:0\n    public-keys: [\"bm90IGEga2V5\"]\n",
        ))
        .unwrap_err();
        assert!(error.contains("public key 1 of the list"), "{error}");
        // connect-core still refuses unknown listeners.
        let error = plan(&file(true, "listeners:\n  fluent-webhok:\n    listen: x\n")).unwrap_err();
        assert!(error.contains("unknown field `fluent-webhok`"), "{error}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_serves_webhooks_in_process_exports_them_and_stops_them_first() {
        let fluent = FluentEmulator::start().await.unwrap();
        let config = fluent.config();
        let yaml = format!(
            "connector-name: hooks\nfluent:\n  base-url: {}\n  account: {}\n  retailer-id: \"{}\"\n  client-id: c\n  client-secret: s\n  username: u\n  password: p\nlisteners:\n  fluent-webhook:\n    listen: 127.0.0.1:0\n    public-keys: [\"{}\"]\nwebhook-mapping:\n  OrderStatus: order.status\nroutes:\n  - route: order.status\n    handler: Noop\n",
            config.base_url,
            config.account,
            config.retailer_id,
            fluent.public_key_base64().unwrap()
        );
        let mut connector = Connector::builder(ConfigDocument::from_yaml("app.yml", yaml))
            .registry(registry())
            .receive(16, Duration::from_millis(20))
            .build()
            .await
            .unwrap();
        assert!(connector.webhook_addr().is_none(), "not bound by build");
        let addr = connector.serve_webhooks().await.unwrap().unwrap();
        assert_eq!(connector.serve_webhooks().await.unwrap(), Some(addr));
        let url = format!("http://{addr}/api/v1/fluent-connect/webhook");
        let telemetry = connector.telemetry();
        let metrics = connector.webhook_metrics().unwrap();
        let shutdown = Shutdown::new();
        let running = tokio::spawn(connector.run(shutdown.clone()));

        let order = fluent
            .insert_order(&NewOrder::new("HD_1", "BOOKED"))
            .unwrap();
        let post = |webhook: Webhook, signed: bool| {
            let body = webhook.body();
            let mut request = reqwest::Client::new().post(&url).body(body.clone());
            if signed {
                request = request.header("fluent-signature", fluent.sign(&body).unwrap());
            }
            async move { request.send().await.unwrap().status().as_u16() }
        };
        let account = config.account.clone();
        // Handled by the runtime, then answered.
        assert_eq!(
            post(Webhook::order_status(&account, &order), true).await,
            200
        );
        let mut ignored = Webhook::order_status(&account, &order);
        ignored.name = "FulfilmentStatus".to_owned();
        assert_eq!(post(ignored, true).await, 200);
        assert_eq!(
            post(Webhook::order_status(&account, &order), false).await,
            401
        );

        let text = telemetry.render(false);
        for series in [
            "connect_webhook_requests_total{endpoint=\"fluent\",outcome=\"accepted\"} 1",
            "connect_webhook_requests_total{endpoint=\"fluent\",outcome=\"ignored\"} 1",
            "connect_webhook_requests_total{endpoint=\"fluent\",outcome=\"unauthorized\"} 1",
            "connect_webhook_requests_total{endpoint=\"fluent\",outcome=\"answer_timeout\"} 0",
            "connect_webhook_header_timeouts_total 0",
            "connect_messages_total{route=\"order.status\",handler=\"Noop\",outcome=\"succeeded\"} 1",
        ] {
            assert!(text.contains(series), "no `{series}` in\n{text}");
        }
        assert!(!text.contains("endpoint=\"external\""), "{text}");
        let liveness = telemetry.liveness();
        let webhook_loop = liveness
            .loops
            .iter()
            .find(|(name, _, _)| name == WEBHOOK_LOOP)
            .unwrap();
        assert_eq!(webhook_loop.1, LoopState::Running);
        assert_eq!(telemetry.readiness().intake, "running");

        shutdown.trigger();
        let report = tokio::time::timeout(Duration::from_secs(15), running)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.runtime.metrics.succeeded, 1);
        let liveness = telemetry.liveness();
        let webhook_loop = liveness
            .loops
            .iter()
            .find(|(name, _, _)| name == WEBHOOK_LOOP)
            .unwrap();
        assert_eq!(webhook_loop.1, LoopState::Stopped);
        assert!(
            reqwest::Client::new()
                .post(&url)
                .timeout(Duration::from_secs(2))
                .body("{}")
                .send()
                .await
                .is_err(),
            "the port is closed after the run"
        );
        assert_eq!(metrics.snapshot().fluent.accepted, 1);
    }
}
