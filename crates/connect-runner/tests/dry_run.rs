#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The dry run's safety net: a handler that writes to Fluent without
//! `connect_fluent::upsert` has every mutation refused, is reported as not
//! dry-runnable, and its failures stay out of the configured dead-letter
//! store.

use std::sync::Arc;

use connect_commercetools::CustomerDraft;
use connect_commercetools::sync::{ResourceSync, SyncRegistry};
use connect_core::config::ConfigDocument;
use connect_core::runtime::Shutdown;
use connect_core::{
    FromRoute, HandlerContext, HandlerError, HandlerRegistry, HandlerSetup, Message,
    MessageHandler, Outcome, SetupError,
};
use connect_fluent::dry_run::DryRun;
use connect_fluent::{FluentClient, UpdateCustomerInput};
use connect_runner::{BackfillOptions, Connector};
use connect_testkit::Sandbox;

/// Writes straight to Fluent, without `upsert`.
#[derive(Debug)]
struct Bypass {
    fluent: Arc<FluentClient>,
}

impl FromRoute for Bypass {
    fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        Ok(Self {
            fluent: setup.service::<FluentClient>()?,
        })
    }
}

#[connect_core::async_trait]
impl MessageHandler for Bypass {
    async fn handle(
        &self,
        _ctx: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        let mut input = UpdateCustomerInput::new(message.resource_id().unwrap_or_default());
        input.first_name = Some("Bypassed".into());
        self.fluent.update_customer(&input).await?;
        Ok(Outcome::labeled("updated"))
    }
}

const SYNC: ResourceSync = ResourceSync::new("customer", "customers", "bypass", "Bypass");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_bypasses_upsert_is_refused_and_reported_not_dry_runnable() {
    let sandbox = Sandbox::start().await.unwrap();
    for i in 0..7 {
        sandbox
            .commercetools
            .insert_customer_silently(CustomerDraft::new(format!("bypass{i}@example.com")))
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("dead-letters.jsonl");
    let yaml = format!(
        "connector-name: bypass
commercetools:
  project-key: ${{CT_PROJECT_KEY}}
  client-id: ${{CT_CLIENT_ID}}
  client-secret: ${{CT_CLIENT_SECRET}}
  auth-url: ${{CT_AUTH_URL}}
  api-url: ${{CT_API_URL}}
fluent:
  base-url: ${{FLUENT_BASE_URL}}
  account: ${{FLUENT_ACCOUNT}}
  retailer-id: ${{FLUENT_RETAILER_ID}}
  client-id: ${{FLUENT_CLIENT_ID}}
  client-secret: ${{FLUENT_CLIENT_SECRET}}
  username: ${{FLUENT_USERNAME}}
  password: ${{FLUENT_PASSWORD}}
runtime:
  dead-letter: {{ type: file, path: {} }}
routes:
  - route: bypass
    handler: Bypass
",
        store.display()
    );
    let doc = ConfigDocument::from_yaml("bypass.yml", yaml).with_env(sandbox.env());
    let mut handlers = HandlerRegistry::new();
    handlers.register::<Bypass>("Bypass", 0);
    let plan = Arc::new(DryRun::new());
    let connector = Connector::builder(doc)
        .registry(handlers)
        .syncs(SyncRegistry::new().with(SYNC))
        .dry_run(Arc::clone(&plan))
        .build()
        .await
        .unwrap();
    connector.check().await.unwrap();
    let report = connector
        .dry_run_backfill(
            "customers",
            BackfillOptions::default(),
            Shutdown::new(),
            |_| {},
        )
        .await
        .unwrap();
    assert!(
        sandbox.fluent.mutations().is_empty(),
        "no mutation reached Fluent"
    );
    assert_eq!(report.not_dry_runnable.len(), 7, "{report:?}");
    assert!(report.failed.is_empty());
    assert!(report.writes.is_empty());
    assert_eq!(plan.refused().len(), 7);
    assert!(
        plan.refused()
            .iter()
            .all(|r| r.operation == "mutation UpdateCustomer"),
        "{:?}",
        plan.refused()
    );
    assert_eq!(report.summary.failed, 7);
    assert!(
        !store.exists() || std::fs::read_to_string(&store).unwrap().trim().is_empty(),
        "dead letters of a dry run stay in memory"
    );
}
