#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Systemic failures of the real clients against the emulators: refused
//! tokens and outages pause the connector instead of dead-lettering healthy
//! customers, and it resumes by itself.

mod common;

use std::time::Duration;

use common::{Harness, ROUTE};
use connect_commercetools::CustomerDraft;
use connect_core::dead_letter::DeadLetterStore;
use connect_core::queue::MemoryQueue;
use connect_core::runtime::Shutdown;
use connect_runner::BackfillOptions;
use connect_testkit::Fault;
use connect_testkit::commercetools::CommercetoolsEmulator;
use connect_testkit::fluent::FluentEmulator;

fn yaml() -> String {
    format!(
        r#"connector-name: outage-test
route-mapping:
  customer: {ROUTE}
runtime:
  concurrency: 8
  max-attempts: 3
  backoff: {{ initial: 5ms, max: 50ms }}
  circuit-breaker: {{ initial: 50ms, max: 400ms }}
  shutdown-timeout: 5s
routes:
  - route: {ROUTE}
    handler: CommercetoolsCustomerUpsert
    inclusion-filter: [ResourceCreated, ResourceUpdated]
"#
    )
}

async fn customers(ct: &CommercetoolsEmulator, n: usize) {
    for i in 0..n {
        ct.insert_customer_silently(CustomerDraft::new(format!("outage-{i}@example.com")))
            .unwrap();
    }
}

/// Runs a backfill of `n` customers; `during` breaks something once a few
/// are in Fluent. Returns the summary and the dead letters.
async fn backfill_with(
    n: usize,
    during: impl FnOnce(&FluentEmulator) + Send + 'static,
) -> (connect_runner::BackfillSummary, usize, FluentEmulator) {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    customers(&ct, n).await;
    let (connector, dead_letters) =
        Harness::connector_yaml(&ct, &fluent, yaml(), MemoryQueue::new("ct", 10)).await;
    let health = connector.health();
    let connector = std::sync::Arc::new(connector);
    let running = tokio::spawn({
        let connector = std::sync::Arc::clone(&connector);
        async move {
            connector
                .backfill(
                    "customers",
                    BackfillOptions::default(),
                    Shutdown::new(),
                    |_| {},
                )
                .await
        }
    });
    tokio::time::timeout(Duration::from_secs(20), async {
        while fluent.customers().len() < 10 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the backfill starts");
    during(&fluent);
    let summary = tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("the backfill finishes once Fluent is back")
        .unwrap()
        .unwrap();
    assert!(health.all_up(), "{:?}", health.dependencies());
    let letters = dead_letters.list().await.unwrap().len();
    (summary, letters, fluent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_refused_logins_during_a_backfill_dead_letter_nothing() {
    let (summary, dead_letters, fluent) = backfill_with(79, |fluent| {
        fluent.expire_tokens();
        fluent.faults().inject_for(
            "/oauth/token",
            Fault::Status {
                status: 401,
                retry_after: None,
            },
            2,
        );
    })
    .await;
    assert_eq!(dead_letters, 0, "{summary:?}");
    assert_eq!(summary.failed, 0);
    assert_eq!(summary.created, 79, "{summary:?}");
    assert_eq!(fluent.customers().len(), 79);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fluent_refusing_every_login_for_a_while_pauses_then_recovers() {
    let (summary, dead_letters, fluent) = backfill_with(60, |fluent| {
        fluent.expire_tokens();
        // Thirty refusals in a row: far more than the retries of any
        // message, as when the password was rotated and fixed later.
        fluent.faults().inject_for(
            "/oauth/token",
            Fault::Status {
                status: 401,
                retry_after: None,
            },
            30,
        );
    })
    .await;
    assert_eq!(dead_letters, 0, "{summary:?}");
    assert_eq!(summary.created, 60);
    assert_eq!(fluent.faults().pending(), 0, "every refusal was consumed");
    assert!(
        fluent.token_requests() < 30 + 10,
        "probes, not a login per message: {} token requests",
        fluent.token_requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_fluent_dead_letters_nothing() {
    let (summary, dead_letters, fluent) = backfill_with(60, |fluent| {
        fluent
            .faults()
            .inject_for("/graphql", Fault::unavailable(), 60);
    })
    .await;
    assert_eq!(dead_letters, 0, "{summary:?}");
    assert_eq!(summary.created, 60);
    assert_eq!(fluent.faults().pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_found_at_startup_and_name_the_setting() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::builder()
        .user("connect_api", "the-real-password")
        .start()
        .await
        .unwrap();
    let mut config = fluent.config();
    config.password = "a-wrong-password".into();
    let connector = connect_runner::Connector::builder(
        connect_core::config::ConfigDocument::from_yaml("test.yml", yaml()),
    )
    .service(ct.client().unwrap())
    .service(connect_fluent::FluentClient::new(config).unwrap())
    .ct_queue(connect_runner::QueuePair::memory(MemoryQueue::new(
        "ct", 10,
    )))
    .build()
    .await
    .unwrap();
    let error = connector.check().await.unwrap_err();
    assert!(error.is_configuration(), "exit code 2: {error}");
    let text = error.to_string();
    assert!(text.contains("fluent refused the credentials"), "{text}");
    assert!(text.contains("fluent.password"), "{text}");
    assert!(!text.contains("a-wrong-password"), "{text}");
}
