//! A partner handler that extends the bundled customer mapping, selected by
//! changing one line of YAML:
//!
//! ```text
//! cargo run --example custom_handler
//! ```
//!
//! `FluentCustomerUpsert` below reuses [`CustomerSync`] (fetch, map, upsert,
//! version checks) and adds a `loyalty.tier` attribute from the
//! commercetools custom field `loyaltyTier`. The configuration is
//! `examples/application-connector.yml` with one change:
//!
//! ```yaml
//!     handler: FluentCustomerUpsert   # was: CommercetoolsCustomerUpsert
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use connect_sdk::commercetools::{CustomFieldsDraft, CustomerDraft, ResourceIdentifier};
use connect_sdk::config::ConfigDocument;
use connect_sdk::customer_sync::CustomerSync;
use connect_sdk::fluent::AttributeInput;
use connect_sdk::prelude::*;
use connect_sdk::queue::{MemoryQueue, RawPayload};
use connect_sdk::runner::{Connector, QueuePair};
use connect_sdk::runtime::Shutdown;
use connect_testkit::Sandbox;
use connect_testkit::commercetools::NotificationFormat;

const CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/application-connector.yml"
);

/// How many messages the partner handler handled (to show it ran).
static HANDLED: AtomicUsize = AtomicUsize::new(0);

/// The bundled customer sync, plus a loyalty attribute.
#[derive(Debug)]
#[handler(name = "FluentCustomerUpsert")]
struct FluentCustomerUpsert {
    sync: CustomerSync,
}

impl FromRoute for FluentCustomerUpsert {
    fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        Ok(Self {
            sync: CustomerSync::from_setup(setup)?,
        })
    }
}

#[async_trait]
impl MessageHandler for FluentCustomerUpsert {
    async fn handle(
        &self,
        _ctx: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        HANDLED.fetch_add(1, Ordering::Relaxed);
        self.sync
            .handle_with(message, |customer, draft| {
                let tier = customer
                    .custom_field("loyaltyTier")
                    .and_then(|v| v.as_str())
                    .unwrap_or("none");
                draft.set_attribute(AttributeInput::string("loyalty.tier", tier));
            })
            .await
    }

    /// Like the bundled handler, it reads the current customer, so a burst
    /// of messages for one customer may be handled once.
    fn coalesce(&self) -> bool {
        true
    }
}

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

async fn run() -> Result<bool, Box<dyn Error>> {
    let sandbox = Sandbox::start().await?;
    let mut env = sandbox.env();
    env.insert(
        "DEAD_LETTER_FILE".to_owned(),
        std::env::temp_dir()
            .join(format!("connect-sdk-custom-{}.jsonl", std::process::id()))
            .display()
            .to_string(),
    );

    // The one change: route the customer messages to the partner handler.
    let yaml = std::fs::read_to_string(CONFIG)?;
    let bundled = "handler: CommercetoolsCustomerUpsert";
    if !yaml.contains(bundled) {
        return Err(format!("{CONFIG} no longer contains `{bundled}`").into());
    }
    let yaml = yaml.replace(bundled, "handler: FluentCustomerUpsert");
    println!(
        "routes:\n  - route: commercetools.connect.customer.upsert\n    handler: FluentCustomerUpsert   # was: CommercetoolsCustomerUpsert"
    );

    let ct_queue = MemoryQueue::<RawPayload>::new("ct-queue", 1_000);
    sandbox.commercetools.subscribe(
        Arc::new(ct_queue.clone()),
        NotificationFormat::ChangeNotifications,
    );
    let connector = Connector::builder(ConfigDocument::from_yaml(CONFIG, yaml).with_env(env))
        .ct_queue(QueuePair::memory(ct_queue.clone()))
        .receive(64, Duration::from_millis(20))
        .build()
        .await?;
    let metrics = connector.metrics();
    let listener = connector.listener_metrics();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(connector.run(shutdown.clone()));

    let tiers = ["gold", "silver", "bronze", "platinum", "gold"];
    let mut ids = Vec::new();
    for (i, tier) in tiers.iter().enumerate() {
        let mut draft = CustomerDraft::new(format!("member{i}@example.com"))
            .with_name("Member", format!("{i}"));
        draft.custom = Some(CustomFieldsDraft {
            type_ref: ResourceIdentifier::by_key("type", "customer-profile"),
            fields: Some(serde_json::Map::from_iter([(
                "loyaltyTier".to_owned(),
                serde_json::json!(tier),
            )])),
        });
        ids.push((
            sandbox.commercetools.insert_customer(draft).await?.id,
            *tier,
        ));
    }
    let snapshot =
        connect_testkit::wait_idle(&ct_queue, &listener, &metrics, Duration::from_secs(30)).await?;
    shutdown.trigger();
    running.await?;

    println!();
    println!(
        "{:<36}  {:<10}  LOYALTY.TIER IN FLUENT",
        "CUSTOMER", "CT TIER"
    );
    let mut ok = true;
    for (id, tier) in &ids {
        let in_fluent = sandbox.fluent.customer(id).and_then(|c| {
            c.attribute("loyalty.tier")
                .and_then(|a| a.value.as_str().map(str::to_owned))
        });
        ok &= in_fluent.as_deref() == Some(*tier);
        println!(
            "{id:<36}  {tier:<10}  {}",
            in_fluent.as_deref().unwrap_or("(missing)")
        );
    }
    let handled = HANDLED.load(Ordering::Relaxed);
    println!();
    println!(
        "FluentCustomerUpsert handled {handled} message(s) ({} created in Fluent); the bundled CommercetoolsCustomerUpsert handled none.",
        snapshot.outcome("created")
    );
    Ok(ok && handled == ids.len() && snapshot.outcome("created") == ids.len() as u64)
}
