//! Both directions in one connector, on the emulators, with no setup:
//!
//! ```text
//! cargo run --example order_status
//! ```
//!
//! It starts a local commercetools and a local Fluent OMS (the testkit
//! emulators) and one connector with two routes:
//!
//! - **in**: customers created in commercetools reach Fluent (CT queue →
//!   runtime → `CommercetoolsCustomerUpsert`);
//! - **out**: orders move through their Fluent workflow; each status change
//!   makes Fluent send an `OrderStatus` webhook, signed with the emulator's
//!   key, to the connector's webhook listener, which checks the signature
//!   (the public key is in the YAML) and hands it to
//!   `FluentOrderStatusUpdate`, which reads the order's current status from
//!   Fluent and writes the mapped states to the commercetools order.
//!
//! It prints what changed in commercetools and exits 0 only if every
//! commercetools order matches its Fluent order and every customer is in
//! Fluent.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use connect_sdk::commercetools::CustomerDraft;
use connect_sdk::config::ConfigDocument;
use connect_sdk::queue::{MemoryQueue, RawPayload};
use connect_sdk::runner::{Connector, QueuePair};
use connect_sdk::runtime::Shutdown;
use connect_testkit::Sandbox;
use connect_testkit::commercetools::NotificationFormat;
use connect_testkit::fluent::NewOrder;
use serde_json::{Value, json};

/// The connector: customers in, order statuses out.
const CONFIG: &str = r#"
connector-name: order-status-example
commercetools:
  project-key: ${CT_PROJECT_KEY}
  client-id: ${CT_CLIENT_ID}
  client-secret: ${CT_CLIENT_SECRET}
  auth-url: ${CT_AUTH_URL}
  api-url: ${CT_API_URL}
  scopes: [view_customers:${CT_PROJECT_KEY}, view_orders:${CT_PROJECT_KEY}, manage_orders:${CT_PROJECT_KEY}]
fluent:
  base-url: ${FLUENT_BASE_URL}
  account: ${FLUENT_ACCOUNT}
  retailer-id: ${FLUENT_RETAILER_ID}
  client-id: ${FLUENT_CLIENT_ID}
  client-secret: ${FLUENT_CLIENT_SECRET}
  username: ${FLUENT_USERNAME}
  password: ${FLUENT_PASSWORD}
listeners:
  ct-queue:
    type: in-memory
  fluent-webhook:
    listen: 127.0.0.1:0               # any free port; 0.0.0.0:8080 in production
    public-keys: ["${FLUENT_WEBHOOK_PUBLIC_KEY}"]
event-queue:
  type: in-memory                     # webhooks are answered 200 once handled
runtime:
  concurrency: 8
  dead-letter:
    type: in-memory
route-mapping:
  customer: commercetools.connect.customer.upsert
webhook-mapping:
  OrderStatus: fluent.connect.order.status
routes:
  - route: commercetools.connect.customer.upsert
    handler: CommercetoolsCustomerUpsert
    inclusion-filter: [ResourceCreated, ResourceUpdated]
    props:
      username-template: "{id}"
  - route: fluent.connect.order.status
    handler: FluentOrderStatusUpdate
    props:
      order-lookup: order-number
      order-state-mapping:    { RECEIVED: Open, BOOKED: Confirmed, COMPLETE: Complete, CANCELLED: Cancelled }
      shipment-state-mapping: { PICK_PACK: Pending, SHIPPED: Shipped, COMPLETE: Delivered }
"#;

/// Each order's ref and the statuses its workflow goes through.
const ORDERS: &[(&str, &[&str])] = &[
    ("HD_1001", &["BOOKED", "PICK_PACK", "SHIPPED", "COMPLETE"]),
    ("HD_1002", &["BOOKED", "PICK_PACK", "SHIPPED"]),
    ("HD_1003", &["BOOKED", "PICK_PACK"]),
    ("HD_1004", &["BOOKED"]),
    ("HD_1005", &["BOOKED", "CANCELLED"]),
    ("CC_1006", &["BOOKED", "PICK_PACK", "COMPLETE"]),
];

const CUSTOMERS: &[&str] = &[
    "ada.lovelace@example.com",
    "grace.hopper@example.com",
    "alan.turing@example.com",
];

#[tokio::main]
async fn main() -> ExitCode {
    let _ = connect_sdk::cli::init_logging(Some("warn"), connect_sdk::cli::LogFormat::Text);
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What commercetools should show for a Fluent status, per the mappings
/// above (`None`: the status is not in that mapping, the state is kept).
fn expected(status: &str) -> (Option<&'static str>, Option<&'static str>) {
    let order = match status {
        "RECEIVED" => Some("Open"),
        "BOOKED" => Some("Confirmed"),
        "COMPLETE" => Some("Complete"),
        "CANCELLED" => Some("Cancelled"),
        _ => None,
    };
    let shipment = match status {
        "PICK_PACK" => Some("Pending"),
        "SHIPPED" => Some("Shipped"),
        "COMPLETE" => Some("Delivered"),
        _ => None,
    };
    (order, shipment)
}

fn state(order: &Value, field: &str) -> String {
    order[field].as_str().unwrap_or("-").to_owned()
}

async fn run() -> Result<bool, Box<dyn Error>> {
    let sandbox = Sandbox::start().await?;
    let mut env = sandbox.env();
    env.insert(
        "FLUENT_WEBHOOK_PUBLIC_KEY".to_owned(),
        sandbox.fluent.public_key_base64()?,
    );
    let ct_queue = MemoryQueue::<RawPayload>::new("ct-queue", 10_000);
    sandbox.commercetools.subscribe(
        Arc::new(ct_queue.clone()),
        NotificationFormat::ChangeNotifications,
    );
    let mut connector = Connector::builder(
        ConfigDocument::from_yaml("order-status-example.yml", CONFIG).with_env(env),
    )
    .ct_queue(QueuePair::memory(ct_queue))
    .receive(64, Duration::from_millis(20))
    .build()
    .await?;
    let addr = connector
        .serve_webhooks()
        .await?
        .ok_or("the configuration has a webhook listener")?;
    let webhook_url = format!("http://{addr}/api/v1/fluent-connect/webhook");
    let webhooks = connector
        .webhook_metrics()
        .ok_or("the webhook listener serves")?;
    let shutdown = Shutdown::new();
    let running = tokio::spawn(connector.run(shutdown.clone()));
    // Fluent's `SendWebhook` rule: every status change is posted here.
    sandbox.fluent.send_webhooks_to(webhook_url.clone());

    println!("connect-sdk order status: one connector, both directions");
    println!(
        "  in   commercetools {} → Fluent {}",
        sandbox.commercetools.api_url(),
        sandbox.fluent.base_url()
    );
    println!("  out  Fluent webhooks (signed, 1024-bit RSA) → {webhook_url} → commercetools");
    let started = Instant::now();

    // In: customers created in commercetools.
    let ct = sandbox.commercetools.client()?;
    let mut customer_ids = Vec::new();
    for email in CUSTOMERS {
        let draft = CustomerDraft::new(*email).with_password("S3cure!pass");
        customer_ids.push(ct.create_customer(&draft).await?.id);
    }
    println!(
        "→ created {} customers in commercetools",
        customer_ids.len()
    );

    // Out: orders in both systems (the Fluent ref is the commercetools
    // orderNumber), then their workflows move them.
    let mut orders = Vec::new();
    for (reference, _) in ORDERS {
        let fluent = sandbox
            .fluent
            .insert_order(&NewOrder::new(*reference, "RECEIVED").with_type("HD"))?;
        let ct_order = sandbox.commercetools.insert_resource_silently(
            "order",
            json!({
                "orderNumber": reference,
                "lineItems": [],
                "totalPrice": { "type": "centPrecision", "currencyCode": "EUR", "centAmount": 4990, "fractionDigits": 2 }
            }),
        )?;
        let fluent_id = fluent["id"].as_str().unwrap_or_default().to_owned();
        let ct_id = ct_order["id"].as_str().unwrap_or_default().to_owned();
        orders.push((*reference, fluent_id, ct_id, ct_order));
    }
    println!(
        "→ created {} orders in Fluent (RECEIVED) and commercetools (Open)",
        orders.len()
    );
    let mut changes = 0;
    let longest = ORDERS.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
    for step in 0..longest {
        for ((_, statuses), (_, fluent_id, _, _)) in ORDERS.iter().zip(&orders) {
            if let Some(status) = statuses.get(step) {
                sandbox.fluent.set_order_status(fluent_id, status)?;
                changes += 1;
            }
        }
        // Fluent sends the webhooks of one step before the next step.
        sandbox
            .fluent
            .wait_for_webhook_deliveries(changes, Duration::from_secs(30))
            .await;
    }
    println!("→ moved them through {changes} status changes; Fluent sent {changes} webhooks");

    // Wait until commercetools matches Fluent (or give up after 30 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    let matches = |sandbox: &Sandbox| {
        orders.iter().all(|(_, fluent_id, ct_id, _)| {
            let status = sandbox
                .fluent
                .order(fluent_id)
                .map(|o| state(&o, "status"))
                .unwrap_or_default();
            let now = sandbox
                .commercetools
                .resource("order", ct_id)
                .unwrap_or_default();
            let (order_state, shipment_state) = expected(&status);
            order_state.is_none_or(|s| state(&now, "orderState") == s)
                && shipment_state.is_none_or(|s| state(&now, "shipmentState") == s)
        }) && customer_ids
            .iter()
            .all(|id| sandbox.fluent.customer(id).is_some())
    };
    while !matches(&sandbox) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    shutdown.trigger();
    let report = running.await?;

    println!();
    println!("what changed in commercetools:");
    println!(
        "  {:<8} {:<10} {:<22} {:<22} version",
        "order", "Fluent", "orderState", "shipmentState"
    );
    let mut all_match = true;
    for (reference, fluent_id, ct_id, before) in &orders {
        let status = sandbox
            .fluent
            .order(fluent_id)
            .map(|o| state(&o, "status"))
            .unwrap_or_default();
        let now = sandbox
            .commercetools
            .resource("order", ct_id)
            .unwrap_or_default();
        let (order_state, shipment_state) = expected(&status);
        let ok = order_state.is_none_or(|s| state(&now, "orderState") == s)
            && shipment_state.is_none_or(|s| state(&now, "shipmentState") == s);
        all_match &= ok;
        println!(
            "  {reference:<8} {status:<10} {:<22} {:<22} {} → {}{}",
            format!(
                "{} → {}",
                state(before, "orderState"),
                state(&now, "orderState")
            ),
            format!(
                "{} → {}",
                state(before, "shipmentState"),
                state(&now, "shipmentState")
            ),
            before["version"],
            now["version"],
            if ok {
                ""
            } else {
                "  ✗ does not match Fluent"
            }
        );
    }
    let in_fluent = customer_ids
        .iter()
        .filter(|id| sandbox.fluent.customer(id).is_some())
        .count();
    all_match &= in_fluent == customer_ids.len();
    println!();
    println!("customers in Fluent: {in_fluent} of {}", customer_ids.len());
    let w = webhooks.snapshot().fluent;
    println!(
        "webhooks: {} accepted, {} ignored, {} refused; {} messages handled in {:.2?}, {} dead-lettered",
        w.accepted,
        w.ignored,
        w.refused(),
        report.runtime.metrics.succeeded,
        elapsed,
        report.runtime.metrics.dead_lettered
    );
    if all_match {
        println!("✓ commercetools matches Fluent");
    } else {
        println!("✗ commercetools does not match Fluent");
    }
    Ok(all_match)
}
