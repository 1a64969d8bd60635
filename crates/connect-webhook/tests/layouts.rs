//! When each layout answers: durable, after the event queue took the
//! message; in process, after the runtime acknowledged it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use connect_core::queue::{MemoryQueue, Sink, Source};
use connect_core::{Message, QueueError};
use connect_webhook::{Intake, WebhookListener};
use tokio::sync::Semaphore;

/// How long a test waits for something that must happen.
const WAIT: Duration = Duration::from_secs(10);
/// How long a test watches for something that must not happen.
const QUIET: Duration = Duration::from_millis(300);

/// A sink whose sends wait for a permit, then go to a memory queue.
struct GatedSink {
    gate: Semaphore,
    started: AtomicUsize,
    queue: MemoryQueue<Message>,
}

#[async_trait]
impl Sink<Message> for GatedSink {
    async fn send(&self, item: Message) -> Result<(), QueueError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.gate.acquire().await.unwrap().forget();
        self.queue.send(item).await
    }

    fn is_durable(&self) -> bool {
        true
    }
}

struct FailingSink;

#[async_trait]
impl Sink<Message> for FailingSink {
    async fn send(&self, _item: Message) -> Result<(), QueueError> {
        Err(QueueError::backend(
            "SQS is down",
            std::io::Error::other("connection refused"),
        ))
    }
}

fn signed_body(id: &str) -> Vec<u8> {
    let mut body = webhook("OrderStatus");
    body["id"] = id.into();
    serde_json::to_vec(&body).unwrap()
}

async fn wait_for(condition: impl Fn() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !condition() {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("condition not reached in time");
}

#[tokio::test]
async fn durable_answers_200_after_the_send() {
    let sink = Arc::new(GatedSink {
        gate: Semaphore::new(0),
        started: AtomicUsize::new(0),
        queue: MemoryQueue::new("events", 10),
    });
    let listener = WebhookListener::fluent(config(), mapping(), ACCOUNT, RETAILER);
    let served = serve(listener, Intake::Durable(sink.clone())).await;
    let url = served.url();
    let body = signed_body("w-1");
    let mut request = tokio::spawn(async move { post_signed(&url, &body).await.status() });
    wait_for(|| sink.started.load(Ordering::SeqCst) == 1).await;
    assert!(
        tokio::time::timeout(QUIET, &mut request).await.is_err(),
        "answered before the send finished"
    );
    sink.gate.add_permits(1);
    assert_eq!(
        tokio::time::timeout(WAIT, request).await.unwrap().unwrap(),
        200
    );
    assert_eq!(sink.queue.len(), 1);
}

#[tokio::test]
async fn a_failing_event_queue_is_503_and_holds_nothing() {
    let listener = WebhookListener::fluent(config(), mapping(), ACCOUNT, RETAILER);
    let served = serve(listener, Intake::Durable(Arc::new(FailingSink))).await;
    let response = post_signed(&served.url(), &signed_body("w-1")).await;
    assert_eq!(response.status(), 503);
    let counts = served.server.metrics().snapshot().fluent;
    assert_eq!((counts.unavailable, counts.accepted), (1, 0));
}

#[tokio::test]
async fn a_full_event_queue_is_503_after_answer_timeout() {
    let events = MemoryQueue::new("events", 1);
    events.send(Message::new("already-there")).await.unwrap();
    let config = config().with_answer_timeout(Duration::from_millis(200));
    let listener = WebhookListener::fluent(config, mapping(), ACCOUNT, RETAILER);
    let served = serve(listener, Intake::Durable(Arc::new(events.clone()))).await;
    let response = post_signed(&served.url(), &signed_body("w-1")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(events.len(), 1, "only what was there before");
    let delivery = events.receive(1, Duration::ZERO).await.unwrap().remove(0);
    assert_eq!(delivery.item().route, "already-there");
}

async fn in_process(
    config: connect_webhook::FluentWebhookConfig,
) -> (Served, Arc<dyn Source<Message>>) {
    let listener = WebhookListener::fluent(config, mapping(), ACCOUNT, RETAILER);
    let mut served = serve(listener, Intake::InProcess).await;
    let source = served
        .source
        .take()
        .expect("in process, the listener is a source");
    (served, source)
}

#[tokio::test]
async fn in_process_answers_200_only_once_the_message_is_acknowledged() {
    let (served, source) = in_process(config()).await;
    let url = served.url();
    let mut request =
        tokio::spawn(async move { post_signed(&url, &signed_body("w-1")).await.status() });
    let delivery = source.receive(10, WAIT).await.unwrap().remove(0);
    assert_eq!(delivery.item().route, ROUTE);
    assert_eq!(delivery.receive_count(), 1);
    assert!(
        tokio::time::timeout(QUIET, &mut request).await.is_err(),
        "answered before the ack"
    );
    delivery.ack().await.unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, request).await.unwrap().unwrap(),
        200
    );
    assert_eq!(served.server.metrics().snapshot().fluent.accepted, 1);
}

#[tokio::test]
async fn in_process_answers_503_when_the_message_is_released_nacked_or_dropped() {
    let (served, source) = in_process(config()).await;
    for (settle, id) in [("release", "w-1"), ("nack", "w-2"), ("drop", "w-3")] {
        let url = served.url();
        let request =
            tokio::spawn(async move { post_signed(&url, &signed_body(id)).await.status() });
        let delivery = source.receive(10, WAIT).await.unwrap().remove(0);
        match settle {
            "release" => delivery.release(),
            "nack" => delivery.nack(Duration::from_secs(1)).await.unwrap(),
            _ => drop(delivery),
        }
        assert_eq!(
            tokio::time::timeout(WAIT, request).await.unwrap().unwrap(),
            503,
            "{settle}"
        );
    }
    let counts = served.server.metrics().snapshot().fluent;
    assert_eq!((counts.unavailable, counts.accepted), (3, 0));
    // Nothing comes back by itself: Fluent's retry brings the webhook again.
    assert!(source.receive(10, QUIET).await.unwrap().is_empty());
}

#[tokio::test]
async fn fluent_retries_of_one_webhook_count_as_further_attempts() {
    let (served, source) = in_process(config()).await;
    for attempt in 1..=3 {
        let url = served.url();
        let request =
            tokio::spawn(async move { post_signed(&url, &signed_body("w-1")).await.status() });
        let delivery = source.receive(10, WAIT).await.unwrap().remove(0);
        assert_eq!(delivery.receive_count(), attempt);
        if attempt < 3 {
            delivery.nack(Duration::ZERO).await.unwrap();
            assert_eq!(request.await.unwrap(), 503);
        } else {
            delivery.ack().await.unwrap();
            assert_eq!(request.await.unwrap(), 200);
        }
    }
    // Acknowledged: a later webhook with that id starts again from 1.
    let url = served.url();
    let request =
        tokio::spawn(async move { post_signed(&url, &signed_body("w-1")).await.status() });
    let delivery = source.receive(10, WAIT).await.unwrap().remove(0);
    assert_eq!(delivery.receive_count(), 1);
    delivery.ack().await.unwrap();
    assert_eq!(request.await.unwrap(), 200);
}

#[tokio::test]
async fn in_process_answers_503_past_answer_timeout_and_withdraws_the_waiting_message() {
    let config = config().with_answer_timeout(Duration::from_millis(200));
    let (served, source) = in_process(config).await;
    let response = post_signed(&served.url(), &signed_body("w-1")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(served.server.metrics().snapshot().fluent.answer_timeout, 1);
    // Never handed to the runtime after its request was answered 503.
    assert!(source.receive(10, QUIET).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_late_acknowledgement_answers_nothing() {
    let config = config().with_answer_timeout(Duration::from_millis(200));
    let (served, source) = in_process(config).await;
    let url = served.url();
    let request =
        tokio::spawn(async move { post_signed(&url, &signed_body("w-1")).await.status() });
    let delivery = source.receive(10, WAIT).await.unwrap().remove(0);
    assert_eq!(
        request.await.unwrap(),
        503,
        "the handler took longer than answer-timeout"
    );
    delivery.ack().await.unwrap();
    let counts = served.server.metrics().snapshot().fluent;
    assert_eq!((counts.answer_timeout, counts.accepted), (1, 0));
}

#[tokio::test]
async fn a_full_intake_is_503_at_once() {
    let config = config().with_intake_capacity(1);
    let (served, source) = in_process(config).await;
    let requests: Vec<_> = ["w-1", "w-2"]
        .into_iter()
        .map(|id| {
            let url = served.url();
            tokio::spawn(async move { post_signed(&url, &signed_body(id)).await.status() })
        })
        .collect();
    // One waits in the intake (nobody receives yet); the other is refused
    // at once, long before answer-timeout (5 s here).
    let metrics = served.server.metrics();
    metrics
        .wait_until(|s| s.fluent.unavailable == 1, Duration::from_secs(3))
        .await
        .unwrap();
    let delivery = source.receive(10, WAIT).await.unwrap().remove(0);
    delivery.ack().await.unwrap();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 503]);
}

#[tokio::test]
async fn after_shutdown_the_source_is_closed() {
    let (served, source) = in_process(config()).await;
    served.server.shutdown().await;
    let error = source.receive(10, WAIT).await.unwrap_err();
    assert!(matches!(error, QueueError::Closed(_)), "{error}");
}
