#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
//! The conformance kit: the bundled customer and category syncs pass it
//! (alone and mixed in one connector), and deliberately broken handlers
//! are each caught by the named check they break.
//!
//! These replace the hand-written chaos test of the customer sync: the
//! same storm (workload, delivery faults, HTTP faults on both systems,
//! outages, graceful and abrupt restarts), the same end state (every
//! customer in Fluent once and current, only the unprocessable ones
//! dead-lettered), and checks 4 to 6 on top. `CONFORMANCE_SEED` and
//! `CONFORMANCE_OPS` replay a seed or make a long run.

use std::sync::Arc;

use connect_commercetools::CommercetoolsClient;
use connect_core::prelude::*;
use connect_core::{HandlerRegistry, Message};
use connect_customer_sync::{CustomerMapper, CustomerSync, CustomerSyncSettings, attribute};
use connect_fluent::{AttributeInput, FluentClient};
use connect_order_sync::{MAX_UPDATE_ATTEMPTS, OrderStatusSettings, actions};
use connect_testkit::conformance::{Check, Conformance, Failure, expect};

const RUNTIME: &str = "runtime:
  concurrency: 8
  max-attempts: 8
  backoff: { initial: 10ms, max: 200ms, max-retry-after: 2s }
  circuit-breaker: { initial: 50ms, max: 500ms }
  shutdown-timeout: 2s
";

const CLIENTS: &str = "commercetools:
  project-key: ${CT_PROJECT_KEY}
  client-id: ${CT_CLIENT_ID}
  client-secret: ${CT_CLIENT_SECRET}
  auth-url: ${CT_AUTH_URL}
  api-url: ${CT_API_URL}
fluent:
  base-url: ${FLUENT_BASE_URL}
  account: ${FLUENT_ACCOUNT}
  retailer-id: ${FLUENT_RETAILER_ID}
  client-id: ${FLUENT_CLIENT_ID}
  client-secret: ${FLUENT_CLIENT_SECRET}
  username: ${FLUENT_USERNAME}
  password: ${FLUENT_PASSWORD}
";

const CUSTOMER_ROUTE: &str = "  - route: commercetools.connect.customer.upsert
    handler: CUSTOMER_HANDLER
    inclusion-filter: [ResourceCreated, ResourceUpdated, ResourceDeleted]
";

const CATEGORY_ROUTE: &str = "  - route: commercetools.connect.category.upsert
    handler: CommercetoolsCategoryUpsert
    inclusion-filter: [ResourceCreated, ResourceUpdated, ResourceDeleted]
    props:
      catalogue-ref: DEFAULT:${FLUENT_RETAILER_ID}
";

/// A connector with the customer route (its handler `handler`), the
/// category route, or both.
fn yaml(customers: Option<&str>, categories: bool) -> String {
    let mut yaml = format!("connector-name: conformance\n{CLIENTS}{RUNTIME}route-mapping:\n");
    if customers.is_some() {
        yaml.push_str("  customer: commercetools.connect.customer.upsert\n");
    }
    if categories {
        yaml.push_str("  category: commercetools.connect.category.upsert\n");
    }
    yaml.push_str("routes:\n");
    if let Some(handler) = customers {
        yaml.push_str(&CUSTOMER_ROUTE.replace("CUSTOMER_HANDLER", handler));
    }
    if categories {
        yaml.push_str(CATEGORY_ROUTE);
    }
    yaml
}

async fn passes(conformance: Conformance) {
    match conformance.run().await {
        Ok(reports) => {
            for report in reports {
                println!("{report}");
            }
        }
        Err(failure) => panic!("{failure}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_sync_conforms() {
    passes(
        Conformance::new(yaml(Some("CommercetoolsCustomerUpsert"), false))
            .expect(expect::customers()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_category_sync_conforms() {
    passes(
        Conformance::new(yaml(None, true))
            .expect(expect::categories("DEFAULT:1"))
            .ops(200),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_and_categories_in_one_connector_conform_as_one_storm() {
    passes(
        Conformance::new(yaml(Some("CommercetoolsCustomerUpsert"), true))
            .expect(expect::customers())
            .expect(expect::categories("DEFAULT:1"))
            .seeds([0x5eed_0004])
            .ops(200),
    )
    .await;
}

// Broken handlers: each is caught by the check it breaks.

/// The clients and mapping the broken handlers use.
#[derive(Debug, Clone)]
struct Parts {
    commercetools: Arc<CommercetoolsClient>,
    fluent: Arc<FluentClient>,
    mapper: CustomerMapper,
    sync: CustomerSync,
}

impl Parts {
    fn from_setup(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        let fluent = setup.service::<FluentClient>()?;
        Ok(Self {
            commercetools: setup.service::<CommercetoolsClient>()?,
            mapper: CustomerMapper::new(CustomerSyncSettings::default(), fluent.retailer_id()),
            fluent,
            sync: CustomerSync::from_setup(setup)?,
        })
    }
}

/// Creates a Fluent customer for every delivery, never looking one up
/// (Fluent refuses a username twice, so each gets a fresh one).
#[derive(Debug)]
struct AlwaysCreates(Parts);

#[async_trait]
impl MessageHandler for AlwaysCreates {
    async fn handle(
        &self,
        _: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        let id = message.resource_id().unwrap_or_default();
        let Some(customer) = self.0.commercetools.find_customer(id).await? else {
            return Ok(Outcome::labeled("deleted"));
        };
        let mut draft = self
            .0
            .mapper
            .map(&customer)
            .map_err(HandlerError::unprocessable)?;
        draft.username = format!("{}-{}", draft.username, message.id);
        self.0
            .fluent
            .create_customer(&draft.to_create(self.0.fluent.retailer_id()))
            .await?;
        Ok(Outcome::labeled("created"))
    }
}

/// Writes the version the payload names, without reading what Fluent
/// holds: a late delivery overwrites a newer write.
#[derive(Debug)]
struct TrustsThePayload(Parts);

#[async_trait]
impl MessageHandler for TrustsThePayload {
    async fn handle(
        &self,
        _: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        let id = message.resource_id().unwrap_or_default();
        let Some(customer) = self.0.commercetools.find_customer(id).await? else {
            return Ok(Outcome::labeled("deleted"));
        };
        let mut draft = self
            .0
            .mapper
            .map(&customer)
            .map_err(HandlerError::unprocessable)?;
        let version = message
            .resource
            .as_ref()
            .and_then(|r| r.version)
            .unwrap_or(customer.version);
        draft.set_attribute(AttributeInput::new(
            self.0.mapper.attribute_name(attribute::VERSION),
            "INTEGER",
            version,
        ));
        let nobody: connect_fluent::Customer =
            serde_json::from_value(serde_json::json!({ "id": "0", "username": draft.username }))
                .unwrap();
        let update = draft.diff(&nobody, &self.0.mapper.attribute_name(attribute::VERSION));
        match self.0.fluent.update_customer(&update).await {
            Ok(_) => Ok(Outcome::labeled("updated")),
            Err(_) => {
                let create = draft.to_create(self.0.fluent.retailer_id());
                match self.0.fluent.create_customer(&create).await {
                    Ok(_) => Ok(Outcome::labeled("created")),
                    Err(_) => {
                        self.0.fluent.update_customer(&update).await?;
                        Ok(Outcome::labeled("updated"))
                    }
                }
            }
        }
    }
}

/// The bundled sync, except that a 503 (an outage, say) is reported as
/// unprocessable instead of retried.
#[derive(Debug)]
struct GivesUpOn503(Parts);

#[async_trait]
impl MessageHandler for GivesUpOn503 {
    async fn handle(
        &self,
        _: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        self.0.sync.handle(message).await.map_err(|error| {
            if error.is_retryable() && error.to_string().contains("503") {
                HandlerError::unprocessable(format!("gave up: {error}"))
            } else {
                error
            }
        })
    }
}

/// Spawns the write and returns at once: the message is acknowledged
/// before anything reached Fluent.
#[derive(Debug)]
struct AcksBeforeWriting(Parts);

#[async_trait]
impl MessageHandler for AcksBeforeWriting {
    async fn handle(
        &self,
        _: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        let sync = self.0.sync.clone();
        let message = message.clone();
        tokio::spawn(async move {
            let _ = sync.handle(&message).await;
        });
        Ok(Outcome::labeled("spawned"))
    }
}

/// Runs `H` as the customer route through one storm, and returns how it
/// failed.
async fn broken<H: MessageHandler + 'static>(
    make: fn(Parts) -> H,
    seed: u64,
    ops: usize,
) -> Failure {
    let conformance = Conformance::new(yaml(Some("Broken"), false))
        .expect(expect::customers())
        .seeds([seed])
        .ops(ops)
        .converge_within(std::time::Duration::from_secs(30))
        .registry(move || {
            let mut registry = HandlerRegistry::new();
            registry.register_fn("Broken", 0, move |setup| {
                Ok(make(Parts::from_setup(setup)?))
            });
            registry
        });
    match conformance.run().await {
        Ok(reports) => panic!("a broken handler passed: {reports:?}"),
        Err(failure) => {
            println!("{failure}");
            failure
        }
    }
}

fn tripped(failure: &Failure, check: Check, says: &str) {
    assert!(
        failure.tripped().contains(&check),
        "expected {check} to fail; tripped {:?}:\n{failure}",
        failure.tripped()
    );
    assert!(
        failure.of(check).any(|f| f.message.contains(says)),
        "{check} does not say `{says}`:\n{failure}"
    );
    let text = failure.to_string();
    assert!(text.contains(&format!("{:#x}", failure.seed)), "{text}");
    assert!(text.contains("CONFORMANCE_SEED="), "{text}");
    assert!(text.contains("first diverging resource"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_always_creates_fails_check_2() {
    let failure = broken(AlwaysCreates, 0xbad_0001, 120).await;
    tripped(&failure, Check::CreatedOnce, "times in Fluent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_trusts_the_payload_version_fails_check_4() {
    let failure = broken(TrustsThePayload, 0xbad_0002, 200).await;
    tripped(
        &failure,
        Check::NoRegression,
        "went back from commercetools version",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_gives_up_on_a_503_fails_check_3() {
    let failure = broken(GivesUpOn503, 0xbad_0003, 200).await;
    tripped(
        &failure,
        Check::DeadLetters,
        "dead-lettered though the expectation can process it",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_acknowledges_before_writing_fails_check_5() {
    let failure = broken(AcksBeforeWriting, 0xbad_0004, 120).await;
    tripped(
        &failure,
        Check::AckAfterWrite,
        "before Fluent held that version",
    );
}

// Fluent webhooks: the order status sync under a webhook storm.

/// The order status route's props, shared by the connector and the
/// expectation so both map Fluent statuses alike.
const ORDER_PROPS: &str = r#"{
  "order-lookup": "order-number",
  "order-state-mapping": { "RECEIVED": "Open", "BOOKED": "Confirmed", "COMPLETE": "Complete", "CANCELLED": "Cancelled" },
  "shipment-state-mapping": { "PICK_PACK": "Pending", "SHIPPED": "Shipped", "COMPLETE": "Delivered" }
}"#;

/// A connector whose only input is signed Fluent webhooks, routed to
/// `handler`.
fn order_yaml(handler: &str) -> String {
    format!(
        "connector-name: conformance\n{CLIENTS}listeners:
  ct-queue:
    type: in-memory
  fluent-webhook:
    listen: 127.0.0.1:0
    public-keys: [\"${{FLUENT_WEBHOOK_PUBLIC_KEY}}\"]
    answer-timeout: 5s
{RUNTIME}webhook-mapping:
  OrderStatus: fluent.connect.order.status
routes:
  - route: fluent.connect.order.status
    handler: {handler}
    props: {props}
",
        props = ORDER_PROPS.replace('\n', " ")
    )
}

fn order_expectation() -> connect_testkit::conformance::OrderStatusExpectation {
    expect::OrderStatusExpectation::from_props(&serde_json::from_str(ORDER_PROPS).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_status_sync_conforms_under_a_webhook_storm() {
    passes(
        Conformance::new(order_yaml("FluentOrderStatusUpdate"))
            .expect_webhooks(order_expectation()),
    )
    .await;
}

/// Writes the status the webhook carries instead of reading the order
/// from Fluent: a late or duplicated webhook of an older status
/// overwrites a newer one.
#[derive(Debug)]
struct TrustsTheWebhook {
    commercetools: Arc<CommercetoolsClient>,
    settings: OrderStatusSettings,
}

#[async_trait]
impl MessageHandler for TrustsTheWebhook {
    async fn handle(
        &self,
        _: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        let body = message
            .payload
            .json()
            .map_err(|e| HandlerError::unprocessable(e.to_string()))?;
        let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
        let target = self.settings.target(&field("entityStatus"));
        let reference = field("entityRef");
        match self
            .commercetools
            .update_order_with_by_number(&reference, MAX_UPDATE_ATTEMPTS, |order| {
                actions(&target, order)
            })
            .await
        {
            Ok(_) => Ok(Outcome::labeled("updated")),
            Err(e) if e.is_not_found() => Err(HandlerError::unprocessable(e.to_string())),
            Err(e) => Err(e.into()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_handler_that_trusts_the_webhook_status_fails_check_4() {
    let conformance = Conformance::new(order_yaml("Broken"))
        .expect_webhooks(order_expectation())
        .seeds([0xbad_0005])
        .ops(200)
        .converge_within(std::time::Duration::from_secs(30))
        .registry(|| {
            let mut registry = HandlerRegistry::new();
            registry.register_fn("Broken", 0, |setup| {
                Ok(TrustsTheWebhook {
                    commercetools: setup.service::<CommercetoolsClient>()?,
                    settings: OrderStatusSettings::from_setup(setup)?,
                })
            });
            registry
        });
    let failure = match conformance.run().await {
        Ok(reports) => panic!("a broken handler passed: {reports:?}"),
        Err(failure) => failure,
    };
    println!("{failure}");
    tripped(&failure, Check::NoRegression, "went back");
}
