#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end acknowledgement: with the CT queue read through
//! [`Translating`], a raw payload leaves the CT queue only when the message it
//! became is settled. Shutdown (graceful, forced) and a crash (the runtime
//! dropped mid-flight) leave every unfinished payload in the CT queue, and
//! settlements of many messages are in flight together.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{config, fast_runtime, message};
use connect_core::listener::{Translate, Translating, Translation};
use connect_core::queue::{Acker, Delivery, MemoryQueue, RawPayload, Sink, Source};
use connect_core::runtime::{Runtime, Shutdown};
use connect_core::{
    BoxError, HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler, Outcome,
    QueueError, Router, Services, async_trait,
};
use tokio::sync::{Barrier, Notify};

const ROUTE: &str = "customer.sync";

/// `route:id` bodies.
#[derive(Debug)]
struct ColonTranslator;

impl Translate for ColonTranslator {
    fn translate(&self, raw: &RawPayload) -> Result<Translation, BoxError> {
        let (route, id) = raw.body.split_once(':').ok_or("no colon")?;
        Ok(Translation::Message(message(route, "ResourceUpdated", id)))
    }
}

fn router<H: MessageHandler>(handler: Arc<H>, coalesce: bool) -> Arc<Router> {
    let config = config(&format!(
        "connector-name: end-to-end-test\nroutes:\n  - route: {ROUTE}\n    handler: H\n    coalesce: {coalesce}\n"
    ));
    let mut registry = HandlerRegistry::new();
    registry.register_shared("H", 0, handler);
    Arc::new(Router::build(&config, &registry, &Services::new()).unwrap())
}

async fn ct_queue(ids: impl IntoIterator<Item = String>) -> MemoryQueue<RawPayload> {
    let queue = MemoryQueue::new("ct-queue", 10_000);
    for id in ids {
        queue
            .send(RawPayload::new(format!("{ROUTE}:{id}")))
            .await
            .unwrap();
    }
    queue
}

fn translating(queue: &MemoryQueue<RawPayload>) -> Arc<Translating> {
    Arc::new(Translating::new(
        "ct-queue",
        Arc::new(queue.clone()),
        Arc::new(ColonTranslator),
    ))
}

/// Blocks every call until released; counts starts and finishes.
#[derive(Debug, Default)]
struct Gate {
    open: Notify,
    started: AtomicUsize,
    finished: Mutex<Vec<String>>,
}

#[async_trait]
impl MessageHandler for Gate {
    async fn handle(
        &self,
        _: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        self.started.fetch_add(1, SeqCst);
        self.open.notified().await;
        self.finished
            .lock()
            .unwrap()
            .push(message.resource_id().unwrap().to_owned());
        Ok(Outcome::done())
    }
}

#[tokio::test]
async fn a_payload_leaves_the_ct_queue_only_when_its_message_is_settled() {
    let raw = ct_queue((0..3).map(|i| format!("c-{i}"))).await;
    let handler = Arc::new(Gate::default());
    let runtime = Runtime::new(router(handler.clone(), false), translating(&raw))
        .with_source_name("ct-queue")
        .with_config(&fast_runtime(4, 3))
        .with_receive(10, Duration::from_millis(10));
    let metrics = runtime.metrics();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(runtime.run(shutdown.clone()));
    metrics
        .wait_until(|m| m.in_flight == 3, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        raw.in_flight(),
        3,
        "handed to handlers, still held by the CT queue"
    );
    assert_eq!(raw.len(), 0);
    while metrics.snapshot().succeeded < 3 {
        handler.open.notify_waiters();
        tokio::task::yield_now().await;
    }
    tokio::time::timeout(Duration::from_secs(5), async {
        while !raw.is_idle() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("settled messages are acknowledged in the CT queue");
    shutdown.trigger();
    running.await.unwrap();
}

#[tokio::test]
async fn a_retry_goes_back_to_the_ct_queue_and_counts_its_receives() {
    #[derive(Debug, Default)]
    struct FailOnce(Mutex<Vec<u32>>);
    #[async_trait]
    impl MessageHandler for FailOnce {
        async fn handle(
            &self,
            ctx: &HandlerContext<'_>,
            _: &Message,
        ) -> Result<Outcome, HandlerError> {
            self.0.lock().unwrap().push(ctx.attempt());
            if ctx.attempt() == 1 {
                return Err(HandlerError::retryable("busy"));
            }
            Ok(Outcome::done())
        }
    }
    let raw = ct_queue(["a".to_owned()]).await;
    raw.close();
    let handler = Arc::new(FailOnce::default());
    let report = Runtime::new(router(handler.clone(), false), translating(&raw))
        .with_config(&fast_runtime(1, 3))
        .with_receive(10, Duration::from_millis(10))
        .run(Shutdown::new())
        .await;
    assert_eq!(report.metrics.succeeded, 1);
    assert_eq!(*handler.0.lock().unwrap(), [1, 2]);
    assert!(raw.is_idle());
}

#[tokio::test]
async fn graceful_shutdown_returns_every_unfinished_payload_to_the_ct_queue() {
    let raw = ct_queue((0..50).map(|i| format!("c-{i}"))).await;
    let handler = Arc::new(Gate::default());
    let mut settings = fast_runtime(2, 3);
    settings.shutdown_timeout = Duration::from_millis(100);
    let runtime = Runtime::new(router(handler.clone(), false), translating(&raw))
        .with_config(&settings)
        .with_receive(10, Duration::from_millis(10));
    let metrics = runtime.metrics();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(runtime.run(shutdown.clone()));
    metrics
        .wait_until(
            |m| m.in_flight == 2 && m.received >= 8,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    shutdown.trigger();
    let report = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.metrics.succeeded, 0);
    assert_eq!(report.interrupted, 2, "{report:?}");
    assert!(report.returned >= 6, "{report:?}");
    assert_eq!(raw.in_flight(), 0);
    assert_eq!(raw.len(), 50, "every payload is back in the CT queue");
}

#[tokio::test]
async fn a_second_signal_returns_everything_at_once() {
    let raw = ct_queue((0..10).map(|i| format!("c-{i}"))).await;
    let handler = Arc::new(Gate::default());
    let mut settings = fast_runtime(2, 3);
    settings.shutdown_timeout = Duration::from_secs(3600);
    let runtime = Runtime::new(router(handler.clone(), false), translating(&raw))
        .with_config(&settings)
        .with_receive(10, Duration::from_millis(10));
    let metrics = runtime.metrics();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(runtime.run(shutdown.clone()));
    metrics
        .wait_until(|m| m.in_flight == 2, Duration::from_secs(5))
        .await
        .unwrap();
    shutdown.trigger();
    tokio::task::yield_now().await;
    assert!(
        !running.is_finished(),
        "graceful: waits for running handlers"
    );
    shutdown.force();
    let report = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("a forced stop does not wait for the shutdown timeout")
        .unwrap();
    assert_eq!(report.interrupted, 2);
    assert_eq!(raw.len(), 10);
    assert_eq!(raw.in_flight(), 0);
}

#[tokio::test]
async fn a_crash_mid_flight_leaves_every_unfinished_payload_in_the_ct_queue() {
    let raw = ct_queue((0..30).map(|i| format!("c-{i}"))).await;
    let handler = Arc::new(Gate::default());
    let runtime = Runtime::new(router(handler.clone(), false), translating(&raw))
        .with_config(&fast_runtime(4, 3))
        .with_receive(10, Duration::from_millis(10));
    let metrics = runtime.metrics();
    let running = tokio::spawn(runtime.run(Shutdown::new()));
    metrics
        .wait_until(|m| m.in_flight == 4, Duration::from_secs(5))
        .await
        .unwrap();
    // Let exactly two handlers finish, then kill the runtime mid-flight.
    handler.open.notify_one();
    handler.open.notify_one();
    metrics
        .wait_until(|m| m.succeeded == 2, Duration::from_secs(5))
        .await
        .unwrap();
    running.abort();
    let _ = running.await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while raw.in_flight() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    assert_eq!(
        raw.len(),
        28,
        "only the two handled payloads left the CT queue"
    );
}

/// A source whose acknowledgements complete only once `barrier` many of
/// them are in flight at the same time.
struct Gathering {
    queue: MemoryQueue<Message>,
    barrier: Arc<Barrier>,
    acked: Arc<AtomicUsize>,
}

struct GatheringAcker {
    barrier: Arc<Barrier>,
    acked: Arc<AtomicUsize>,
}

#[async_trait]
impl Acker<Message> for GatheringAcker {
    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        self.barrier.wait().await;
        self.acked.fetch_add(1, SeqCst);
        Ok(())
    }
    async fn nack(self: Box<Self>, _: Message, _: Duration) -> Result<(), QueueError> {
        Ok(())
    }
    fn release(self: Box<Self>, _: Message) {}
}

#[async_trait]
impl Source<Message> for Gathering {
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<Message>>, QueueError> {
        let mut deliveries = Vec::new();
        for d in self.queue.receive(max, wait).await? {
            let item = d.item().clone();
            let count = d.receive_count();
            // The memory queue's own settlement is not under test.
            d.ack().await?;
            deliveries.push(Delivery::new(
                item,
                count,
                Box::new(GatheringAcker {
                    barrier: Arc::clone(&self.barrier),
                    acked: Arc::clone(&self.acked),
                }),
            ));
        }
        Ok(deliveries)
    }
}

#[tokio::test]
async fn the_acknowledgements_of_many_messages_are_in_flight_together() {
    #[derive(Debug, Default)]
    struct Quick;
    #[async_trait]
    impl MessageHandler for Quick {
        async fn handle(
            &self,
            _: &HandlerContext<'_>,
            _: &Message,
        ) -> Result<Outcome, HandlerError> {
            tokio::task::yield_now().await;
            Ok(Outcome::done())
        }
        fn coalesce(&self) -> bool {
            true
        }
    }
    // 20 messages: 10 resources, plus 10 more for the same resources that
    // coalesce. If acknowledgements were awaited one at a time, the barrier
    // (20 at once) would never open.
    let queue = MemoryQueue::new("events", 100);
    for i in 0..20 {
        queue
            .send(message(ROUTE, "ResourceUpdated", &format!("c-{}", i % 10)))
            .await
            .unwrap();
    }
    queue.close();
    let acked = Arc::new(AtomicUsize::new(0));
    let source = Gathering {
        queue,
        barrier: Arc::new(Barrier::new(20)),
        acked: Arc::clone(&acked),
    };
    let report = tokio::time::timeout(
        Duration::from_secs(10),
        Runtime::new(router(Arc::new(Quick), true), Arc::new(source))
            .with_config(&fast_runtime(4, 3))
            .with_receive(20, Duration::from_millis(10))
            .run(Shutdown::new()),
    )
    .await
    .expect("acknowledgements are not awaited one by one");
    assert_eq!(acked.load(SeqCst), 20);
    assert_eq!(report.metrics.succeeded + report.metrics.coalesced, 20);
}
