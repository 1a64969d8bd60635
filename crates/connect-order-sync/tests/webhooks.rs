#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
//! End to end over loopback: the Fluent emulator signs and sends
//! `OrderStatus` webhooks, connect-webhook's listener checks them and puts
//! them on an in-memory event queue (the durable layout), the runtime
//! routes them to `FluentOrderStatusUpdate`, and commercetools changes.
//! Also: a 503 is re-delivered, a missing commercetools order is dead
//! lettered, and a load of 2,000 webhooks at concurrency 32.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use connect_commercetools::{OrderState, ShipmentState};
use connect_core::dead_letter::MemoryDeadLetters;
use connect_core::queue::{MemoryQueue, Sink};
use connect_core::runtime::{Runtime, Shutdown};
use connect_core::{Message, QueueError};
use connect_order_sync::{ORDER_STATUS_ROUTE, WEBHOOK_NAME};
use connect_testkit::fluent::{FluentEmulator, NewOrder};
use connect_webhook::{
    FluentWebhookConfig, Intake, WebhookListener, WebhookMapping, WebhookPublicKey, WebhookServer,
};

/// The listener, its event queue and the runtime behind it.
struct Pipeline {
    server: WebhookServer,
    url: String,
    metrics: Arc<connect_core::runtime::Metrics>,
    dead_letters: Arc<MemoryDeadLetters>,
    shutdown: Shutdown,
    running: tokio::task::JoinHandle<connect_core::runtime::RunReport>,
}

impl Pipeline {
    async fn start(
        s: &Systems,
        sink: Arc<dyn Sink<Message>>,
        events: MemoryQueue<Message>,
        concurrency: usize,
    ) -> Self {
        let key = WebhookPublicKey::parse(&s.fluent.public_key_base64().unwrap()).unwrap();
        let config = FluentWebhookConfig::new("127.0.0.1:0", vec![key])
            .with_answer_timeout(Duration::from_secs(5))
            .with_max_connections(64);
        let mapping = WebhookMapping::from_iter([(WEBHOOK_NAME, ORDER_STATUS_ROUTE)]);
        let settings = s.fluent.config();
        let listener = WebhookListener::fluent(
            config,
            mapping,
            settings.account.clone(),
            settings.retailer_id.clone(),
        );
        let tcp = listener.bind().await.unwrap();
        let (server, source) = listener.serve(tcp, Intake::Durable(sink)).unwrap();
        assert!(source.is_none());
        let url = format!(
            "http://{}/api/v1/fluent-connect/webhook",
            server.local_addr()
        );
        let dead_letters = Arc::new(MemoryDeadLetters::new());
        let runtime = Runtime::new(router(s, "{}"), Arc::new(events))
            .with_config(&runtime_config(concurrency))
            .with_dead_letters(dead_letters.clone())
            .with_receive(32, Duration::from_millis(10));
        let metrics = runtime.metrics();
        let shutdown = Shutdown::new();
        let running = tokio::spawn(runtime.run(shutdown.clone()));
        Self {
            server,
            url,
            metrics,
            dead_letters,
            shutdown,
            running,
        }
    }

    async fn settled(&self, count: u64) -> connect_core::runtime::MetricsSnapshot {
        self.metrics
            .wait_until(|m| m.settled() >= count, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn stop(self) {
        self.shutdown.trigger();
        self.running.await.unwrap();
        self.server.shutdown().await;
    }
}

async fn durable(s: &Systems, concurrency: usize) -> (Pipeline, MemoryQueue<Message>) {
    let events = MemoryQueue::new("events", 10_000);
    let pipeline = Pipeline::start(s, Arc::new(events.clone()), events.clone(), concurrency).await;
    (pipeline, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_status_changes_reach_commercetools_through_the_listener_and_runtime() {
    let s = Systems::start().await;
    let (pipeline, _events) = durable(&s, 4).await;
    s.fluent.send_webhooks_to(pipeline.url.clone());
    let (fluent_id, ct_id) = s.order_pair("HD_E2E", "RECEIVED").await;

    s.fluent.set_order_status(&fluent_id, "BOOKED").unwrap();
    assert!(s.fluent.wait_for_webhook_deliveries(1, WAIT).await);
    pipeline.settled(1).await;
    assert_eq!(s.ct_order_now(&ct_id).order_state, OrderState::Confirmed);

    // Two quick steps: however the two webhooks interleave, commercetools
    // ends at the current status.
    s.fluent.set_order_status(&fluent_id, "PICK_PACK").unwrap();
    s.fluent.set_order_status(&fluent_id, "SHIPPED").unwrap();
    assert!(s.fluent.wait_for_webhook_deliveries(3, WAIT).await);
    let snapshot = pipeline.settled(3).await;
    let order = s.ct_order_now(&ct_id);
    assert_eq!(
        (order.order_state, order.shipment_state),
        (OrderState::Confirmed, Some(ShipmentState::Shipped))
    );
    assert!(
        s.fluent
            .webhook_deliveries()
            .iter()
            .all(|d| d.delivered() && d.attempts.len() == 1)
    );
    assert_eq!(snapshot.dead_lettered, 0);
    assert_eq!(pipeline.server.metrics().snapshot().fluent.accepted, 3);

    // A webhook signed by another key is refused (401) and changes nothing.
    let stranger = FluentEmulator::builder()
        .webhook_key_seed(99)
        .start()
        .await
        .unwrap();
    let forged = s.fluent.order_webhook(&fluent_id).unwrap();
    let delivery = stranger.deliver(&pipeline.url, &forged).await;
    assert_eq!(delivery.final_status(), Some(401));
    assert_eq!(delivery.attempts.len(), 1, "a 4xx is not retried");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_commercetools_order_goes_to_the_dead_letters() {
    let s = Systems::start().await;
    let (pipeline, _events) = durable(&s, 2).await;
    let order = s
        .fluent
        .insert_order(&NewOrder::new("HD_NOT_IN_CT", "BOOKED"))
        .unwrap();
    let webhook = s
        .fluent
        .order_webhook(order["id"].as_str().unwrap())
        .unwrap();
    let delivery = s.fluent.deliver(&pipeline.url, &webhook).await;
    assert_eq!(
        delivery.final_status(),
        Some(200),
        "accepted: the queue holds it"
    );
    let snapshot = pipeline.settled(1).await;
    assert_eq!(snapshot.dead_lettered, 1);
    let letters = pipeline.dead_letters.snapshot();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0]
            .error
            .contains("commercetools has no order with order number `HD_NOT_IN_CT`"),
        "{}",
        letters[0].error
    );
    assert_eq!(letters[0].attempts, 1, "unprocessable: not retried");
    assert_eq!(letters[0].message.as_ref().unwrap().id, webhook.id);
    pipeline.stop().await;
}

/// An event queue that refuses its first `failures` sends (SQS down).
struct Flaky {
    failures: AtomicUsize,
    queue: MemoryQueue<Message>,
}

#[async_trait]
impl Sink<Message> for Flaky {
    async fn send(&self, item: Message) -> Result<(), QueueError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(QueueError::backend(
                "the event queue is down",
                std::io::Error::other("refused"),
            ));
        }
        self.queue.send(item).await
    }

    fn is_durable(&self) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_is_redelivered_by_the_emulator_and_then_handled() {
    let s = Systems::start().await;
    let events = MemoryQueue::new("events", 100);
    let sink = Arc::new(Flaky {
        failures: AtomicUsize::new(2),
        queue: events.clone(),
    });
    let pipeline = Pipeline::start(&s, sink, events, 2).await;
    let (fluent_id, ct_id) = s.order_pair("HD_503", "CANCELLED").await;
    let webhook = s.fluent.order_webhook(&fluent_id).unwrap();
    let delivery = s.fluent.deliver(&pipeline.url, &webhook).await;
    let statuses: Vec<_> = delivery.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(200)]);
    pipeline.settled(1).await;
    assert_eq!(s.ct_order_now(&ct_id).order_state, OrderState::Cancelled);
    let answers = pipeline.server.metrics().snapshot().fluent;
    assert_eq!((answers.unavailable, answers.accepted), (2, 1));
    pipeline.stop().await;
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_2000_webhooks_at_concurrency_32_lose_nothing() {
    const WEBHOOKS: usize = 2_000;
    const CONCURRENCY: usize = 32;
    let s = Arc::new(Systems::start().await);
    let (pipeline, _events) = durable(&s, CONCURRENCY).await;
    let mut work = Vec::with_capacity(WEBHOOKS);
    for n in 0..WEBHOOKS {
        let (fluent_id, ct_id) = s.order_pair(&format!("HD_L{n:04}"), "RECEIVED").await;
        s.fluent.set_order_status(&fluent_id, "BOOKED").unwrap();
        work.push((s.fluent.order_webhook(&fluent_id).unwrap(), ct_id));
    }
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let senders: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (s, work, next, url) =
                (s.clone(), work.clone(), next.clone(), pipeline.url.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((webhook, _)) = work.get(i) else {
                        break;
                    };
                    let delivery = s.fluent.deliver(&url, webhook).await;
                    assert_eq!(delivery.attempts.len(), 1, "{:?}", delivery.attempts);
                    assert_eq!(delivery.final_status(), Some(200));
                    latencies.push(delivery.attempts[0].latency);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(WEBHOOKS);
    for sender in senders {
        latencies.extend(sender.await.unwrap());
    }
    let sent_in = started.elapsed();
    let snapshot = pipeline
        .metrics
        .wait_until(|m| m.settled() >= WEBHOOKS as u64, Duration::from_secs(300))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let handled_in = started.elapsed();
    assert_eq!(latencies.len(), WEBHOOKS);
    assert_eq!(snapshot.dead_lettered, 0, "0 errors");
    assert_eq!(snapshot.retried, 0, "0 errors");
    assert_eq!(
        snapshot.outcome("updated"),
        WEBHOOKS as u64,
        "every webhook changed its order"
    );
    let answers = pipeline.server.metrics().snapshot().fluent;
    assert_eq!(answers.accepted, WEBHOOKS as u64);
    assert_eq!(answers.total(), WEBHOOKS as u64, "no answer but 200");
    let lost = work
        .iter()
        .filter(|(_, ct_id)| s.ct_order_now(ct_id).order_state != OrderState::Confirmed)
        .count();
    assert_eq!(lost, 0, "every webhook answered 200 reached commercetools");
    latencies.sort();
    println!(
        "load: {WEBHOOKS} webhooks at concurrency {CONCURRENCY}: answered in {sent_in:?}, handled in {handled_in:?}; answer latency p50 {:?}, p99 {:?}, max {:?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
    );
    pipeline.stop().await;
}
