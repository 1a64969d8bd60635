//! Emulators, seeded order pairs and a routed runtime for the tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use connect_commercetools::{CommercetoolsClient, Order};
use connect_core::config::{BackoffConfig, ConfigDocument, RuntimeConfig};
use connect_core::{ConnectorConfig, HandlerRegistry, Message, ResourceRef, Router, Services};
use connect_fluent::FluentClient;
use connect_order_sync::{ORDER_STATUS_ROUTE, OrderStatusSettings, OrderStatusSync};
use connect_testkit::commercetools::CommercetoolsEmulator;
use connect_testkit::fluent::{FluentEmulator, NewOrder, WebhookRetry};
use serde_json::json;

pub const WAIT: Duration = Duration::from_secs(20);

/// Both emulators and the clients the handler uses.
pub struct Systems {
    pub ct: CommercetoolsEmulator,
    pub fluent: FluentEmulator,
    pub ct_client: Arc<CommercetoolsClient>,
    pub fluent_client: Arc<FluentClient>,
}

impl Systems {
    pub async fn start() -> Self {
        Self::start_with(FluentEmulator::builder()).await
    }

    pub async fn start_with(fluent: connect_testkit::fluent::FluentEmulatorBuilder) -> Self {
        let ct = CommercetoolsEmulator::start().await.unwrap();
        let fluent = fluent
            .webhook_retry(WebhookRetry::fast(
                Duration::from_secs(5),
                Duration::from_millis(50),
            ))
            .start()
            .await
            .unwrap();
        let ct_client = Arc::new(CommercetoolsClient::new(ct.config()).unwrap());
        let fluent_client = Arc::new(FluentClient::new(fluent.config()).unwrap());
        Self {
            ct,
            fluent,
            ct_client,
            fluent_client,
        }
    }

    pub fn services(&self) -> Services {
        Services::new()
            .with_arc(Arc::clone(&self.ct_client))
            .with_arc(Arc::clone(&self.fluent_client))
    }

    pub fn sync(&self, settings: OrderStatusSettings) -> OrderStatusSync {
        OrderStatusSync::new(
            Arc::clone(&self.ct_client),
            Arc::clone(&self.fluent_client),
            settings,
        )
    }

    /// A Fluent order `reference` in `status` and the commercetools order
    /// with that order number; returns (Fluent id, commercetools id).
    pub async fn order_pair(&self, reference: &str, status: &str) -> (String, String) {
        let fluent = self
            .fluent
            .insert_order(&NewOrder::new(reference, status))
            .unwrap();
        let ct = self.ct_order(reference);
        (fluent["id"].as_str().unwrap().to_owned(), ct)
    }

    /// A commercetools order with `number`, silently (no notifications).
    pub fn ct_order(&self, number: &str) -> String {
        let created = self
            .ct
            .insert_resource_silently(
                "order",
                json!({ "orderNumber": number, "lineItems": [], "totalPrice": { "type": "centPrecision", "currencyCode": "EUR", "centAmount": 1000, "fractionDigits": 2 } }),
            )
            .unwrap();
        created["id"].as_str().unwrap().to_owned()
    }

    /// The commercetools order `id`, typed.
    pub fn ct_order_now(&self, id: &str) -> Order {
        serde_json::from_value(self.ct.resource("order", id).unwrap()).unwrap()
    }
}

/// A message as the webhook listener makes it for an order webhook.
pub fn order_message(fluent_id: &str) -> Message {
    Message::new(ORDER_STATUS_ROUTE)
        .with_event_type("OrderStatus")
        .with_resource(ResourceRef::new("ORDER", fluent_id))
}

/// The connector's routes, as in a YAML file.
pub fn connector(props: &str) -> ConnectorConfig {
    let yaml = format!(
        "connector-name: order-status-test\nroutes:\n  - route: {ORDER_STATUS_ROUTE}\n    handler: FluentOrderStatusUpdate\n    props: {props}\n"
    );
    ConfigDocument::from_yaml("test.yml", &yaml)
        .connector()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The router `connect run` / `connect validate` build, with the linked
/// handlers.
pub fn router(systems: &Systems, props: &str) -> Arc<Router> {
    let _ = connect_order_sync::HANDLER_NAME; // links the crate's handler
    Arc::new(
        Router::build(
            &connector(props),
            &HandlerRegistry::linked(),
            &systems.services(),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    )
}

/// Fast runtime settings.
pub fn runtime_config(concurrency: usize) -> RuntimeConfig {
    RuntimeConfig {
        concurrency,
        max_attempts: 3,
        backoff: BackoffConfig {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(5),
            multiplier: 2.0,
            max_retry_after: Duration::from_secs(1),
        },
        shutdown_timeout: Duration::from_secs(5),
        ..RuntimeConfig::default()
    }
}

/// WARN events logged by connect_order_sync, as text.
#[derive(Clone, Default)]
pub struct Warnings(Arc<Mutex<Vec<String>>>);

impl Warnings {
    /// Collects this crate's warnings for the current thread while the
    /// returned guard lives.
    pub fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        use tracing_subscriber::layer::SubscriberExt;
        let warnings = Self::default();
        let subscriber = tracing_subscriber::registry().with(warnings.clone());
        (warnings, tracing::subscriber::set_default(subscriber))
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let meta = event.metadata();
        if *meta.level() != tracing::Level::WARN || !meta.target().starts_with("connect_order_sync")
        {
            return;
        }
        struct Text(String);
        impl tracing::field::Visit for Text {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        let mut text = Text(String::new());
        event.record(&mut text);
        self.0.lock().unwrap().push(text.0);
    }
}
