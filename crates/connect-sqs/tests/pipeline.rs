//! The whole flow on SQS: CT queue (SQS) → connect-core `Listener` → event
//! queue (SQS FIFO) → connect-core `Runtime` → handler, with a retryable
//! failure, a malformed payload dead-lettered into an SQS dead-letter
//! store, and every message handled exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{client, config, create_queue, eventually, init_tracing};
use connect_core::dead_letter::{DeadLetterStore, FailureKind};
use connect_core::listener::{Listener, Translate, Translation};
use connect_core::queue::{RawPayload, Sink};
use connect_core::runtime::{Runtime, Shutdown};
use connect_core::{
    BoxError, ConnectorConfig, HandlerContext, HandlerError, HandlerRegistry, Message,
    MessageHandler, Outcome, ResourceRef, RouteConfig, Router, Services,
};
use connect_sqs::{SqsDeadLetters, SqsQueue};
use serde_json::Value;

const ROUTE: &str = "commercetools.connect.customer.upsert";

/// A trivial translator: a change notification becomes a message for the
/// customer route.
struct ChangeNotifications;

impl Translate for ChangeNotifications {
    fn translate(&self, raw: &RawPayload) -> Result<Translation, BoxError> {
        let payload: Value = serde_json::from_str(&raw.body)?;
        let event_type = payload["notificationType"]
            .as_str()
            .ok_or("no notificationType")?;
        let resource = &payload["resource"];
        let type_id = resource["typeId"].as_str().ok_or("no resource.typeId")?;
        let id = resource["id"].as_str().ok_or("no resource.id")?;
        let mut reference = ResourceRef::new(type_id.to_owned(), id);
        if let Some(version) = payload["version"].as_u64() {
            reference = reference.with_version(version);
        }
        Ok(Translation::Message(
            Message::new(ROUTE)
                .with_event_type(event_type.to_owned())
                .with_resource(reference)
                .with_payload(payload.clone()),
        ))
    }
}

/// Counts successful handling per customer; fails the first attempt for
/// one customer with a retryable error.
#[derive(Default)]
struct Counting {
    flaky: String,
    attempts: Mutex<HashMap<String, Vec<u32>>>,
    handled: Mutex<HashMap<String, u32>>,
}

#[connect_core::async_trait]
impl MessageHandler for Counting {
    async fn handle(
        &self,
        ctx: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        let id = message.resource_id().unwrap_or_default().to_owned();
        let first = {
            let mut attempts = self.attempts.lock().unwrap();
            let seen = attempts.entry(id.clone()).or_default();
            seen.push(ctx.attempt());
            seen.len() == 1
        };
        if id == self.flaky && first {
            return Err(HandlerError::retryable("upstream busy (injected)"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        *self.handled.lock().unwrap().entry(id).or_default() += 1;
        Ok(Outcome::done())
    }
}

fn change_notification(customer: &str) -> String {
    serde_json::json!({
        "notificationType": "ResourceCreated",
        "projectKey": "fluent-ct-dev",
        "resource": { "typeId": "customer", "id": customer },
        "version": 1,
        "modifiedAt": "2024-01-30T08:00:00.000Z",
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn listener_and_runtime_over_sqs_handle_every_message_once() {
    init_tracing();
    let sqs = client();
    let ct_url = create_queue(&sqs, "ct", false).await.unwrap().url;
    let events_url = create_queue(&sqs, "events", true).await.unwrap().url;
    let letters_url = create_queue(&sqs, "letters", false).await.unwrap().url;

    let ct_queue: SqsQueue<RawPayload> = SqsQueue::connect_with(sqs.clone(), &config(&ct_url))
        .await
        .unwrap();
    let events: SqsQueue<Message> = SqsQueue::connect_with(sqs.clone(), &config(&events_url))
        .await
        .unwrap();
    let letters = Arc::new(
        SqsDeadLetters::connect_with(sqs.clone(), &config(&letters_url))
            .await
            .unwrap(),
    );

    // 40 customers created in commercetools, and one payload nobody can read.
    let customers: Vec<String> = (0..40).map(|n| format!("customer-{n:02}")).collect();
    ct_queue
        .send_batch(
            customers
                .iter()
                .map(|c| RawPayload::new(change_notification(c)))
                .collect(),
        )
        .await
        .unwrap();
    ct_queue.send(RawPayload::new("{ not json")).await.unwrap();

    let handler = Arc::new(Counting {
        flaky: customers[7].clone(),
        ..Counting::default()
    });
    let connector = ConnectorConfig::new(
        "sqs-pipeline",
        vec![
            RouteConfig::new(ROUTE, "Counting")
                .with_inclusion_filter(["ResourceCreated", "ResourceUpdated"]),
        ],
    );
    let mut registry = HandlerRegistry::new();
    registry.register_shared("Counting", 0, Arc::clone(&handler));
    let router = Router::build(&connector, &registry, &Services::new()).unwrap();

    let shutdown = Shutdown::new();
    let listener = Listener::new(
        "ct-queue",
        Arc::new(ct_queue.clone()),
        Arc::new(ChangeNotifications),
        Arc::new(events.clone()),
    )
    .with_dead_letters(Arc::clone(&letters) as Arc<dyn DeadLetterStore>)
    .with_receive(10, Duration::from_secs(1));
    let listener_metrics = listener.metrics();
    let runtime = Runtime::new(Arc::new(router), Arc::new(events.clone()))
        .with_config(&connector.runtime)
        .with_dead_letters(Arc::clone(&letters) as Arc<dyn DeadLetterStore>)
        .with_publisher(Arc::new(events.clone()) as Arc<dyn Sink<Message>>)
        .with_receive(10, Duration::from_secs(1));
    let metrics = runtime.metrics();
    let listening = tokio::spawn(listener.run(shutdown.clone()));
    let running = tokio::spawn(runtime.run(shutdown.clone()));

    let forwarded = listener_metrics
        .wait_until(
            |m| m.forwarded == 40 && m.dead_lettered == 1,
            Duration::from_secs(60),
        )
        .await
        .expect("the listener forwards every payload and dead-letters the malformed one");
    assert_eq!(forwarded.received, 41);
    let done = metrics
        .wait_until(|m| m.succeeded == 40, Duration::from_secs(60))
        .await
        .expect("the runtime handles every message");
    assert_eq!(done.retried, 1, "{done:?}");
    assert_eq!(done.dead_lettered, 0, "{done:?}");

    // Both queues drain: every delivery was acknowledged (deleted).
    eventually(
        "both queues to be empty",
        Duration::from_secs(20),
        || async {
            let ct = ct_queue.info().await.unwrap();
            let ev = events.info().await.unwrap();
            (ct.is_empty() && ev.is_empty()).then_some(())
        },
    )
    .await;
    shutdown.trigger();
    let report = running.await.unwrap();
    listening.await.unwrap();
    assert_eq!(report.interrupted, 0);

    let handled = handler.handled.lock().unwrap().clone();
    assert_eq!(handled.len(), 40);
    for customer in &customers {
        assert_eq!(
            handled.get(customer),
            Some(&1),
            "{customer} handled {:?} times",
            handled.get(customer)
        );
    }
    // The retried message came back from SQS with its receive count as attempt.
    let attempts = handler.attempts.lock().unwrap().clone();
    assert_eq!(attempts[&customers[7]], [1, 2]);
    assert_eq!(attempts[&customers[0]], [1]);

    // The malformed payload waits in the SQS dead-letter store.
    let stored = letters.list().await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].kind, FailureKind::Unparseable);
    assert_eq!(stored[0].raw.as_deref(), Some("{ not json"));
}
