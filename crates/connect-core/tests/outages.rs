#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Systemic failures are not message failures: a dependency that is down
//! pauses intake, keeps messages with their attempts untouched, probes with
//! one message, and resumes by itself; only a message that fails on its own
//! is dead-lettered. Time is paused: backoffs and probes run instantly and
//! deterministically.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{config, message};
use connect_core::config::{BackoffConfig, BreakerConfig, RuntimeConfig};
use connect_core::dead_letter::{
    DeadLetter, DeadLetterError, DeadLetterStore, FailureKind, MemoryDeadLetters,
};
use connect_core::queue::{MemoryQueue, Sink};
use connect_core::runtime::{Runtime, Shutdown};
use connect_core::{
    HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler, Outcome, Router,
    Services, async_trait,
};

const ROUTE: &str = "customer.sync";

fn router<H: MessageHandler>(handler: Arc<H>) -> Arc<Router> {
    let config = config(&format!(
        "connector-name: outage-test\nroutes:\n  - route: {ROUTE}\n    handler: H\n"
    ));
    let mut registry = HandlerRegistry::new();
    registry.register_shared("H", 0, handler);
    Arc::new(Router::build(&config, &registry, &Services::new()).unwrap())
}

fn settings(concurrency: usize, prefetch: usize, max_attempts: u32) -> RuntimeConfig {
    RuntimeConfig {
        concurrency,
        prefetch: Some(prefetch),
        max_attempts,
        backoff: BackoffConfig {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
            multiplier: 2.0,
            max_retry_after: Duration::from_secs(1),
        },
        circuit_breaker: BreakerConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        },
        shutdown_timeout: Duration::from_secs(5),
        ..RuntimeConfig::default()
    }
}

/// Fails systemically (`fluent` down) while `down` is set, except for the
/// resources in `poison`, which always fail so.
#[derive(Debug, Default)]
struct Dependent {
    down: AtomicBool,
    poison: Vec<String>,
    calls: AtomicUsize,
    calls_while_down: AtomicUsize,
    /// (resource id, attempt) of every success.
    handled: Mutex<Vec<(String, u32)>>,
}

#[async_trait]
impl MessageHandler for Dependent {
    async fn handle(
        &self,
        ctx: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        self.calls.fetch_add(1, SeqCst);
        let id = message.resource_id().unwrap().to_owned();
        // Let the dispatcher run between calls, as a network call would.
        tokio::task::yield_now().await;
        if self.poison.contains(&id) {
            return Err(HandlerError::systemic("fluent", "503 after 3 retries"));
        }
        if self.down.load(SeqCst) {
            self.calls_while_down.fetch_add(1, SeqCst);
            return Err(HandlerError::systemic("fluent", "connection refused"));
        }
        self.handled.lock().unwrap().push((id, ctx.attempt()));
        Ok(Outcome::done())
    }
}

async fn queue_of(n: usize) -> MemoryQueue<Message> {
    let queue = MemoryQueue::new("events", 1_000);
    for i in 0..n {
        queue
            .send(message(ROUTE, "ResourceUpdated", &format!("c-{i}")))
            .await
            .unwrap();
    }
    queue
}

#[tokio::test(start_paused = true)]
async fn an_outage_pauses_intake_keeps_attempts_and_resumes_by_itself() {
    let handler = Arc::new(Dependent {
        down: AtomicBool::new(true),
        ..Dependent::default()
    });
    let queue = queue_of(40).await;
    let dead_letters = Arc::new(MemoryDeadLetters::new());
    let runtime = Runtime::new(router(handler.clone()), Arc::new(queue.clone()))
        .with_config(&settings(4, 8, 3))
        .with_dead_letters(dead_letters.clone())
        .with_receive(8, Duration::from_millis(10));
    let metrics = runtime.metrics();
    let health = runtime.health();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(runtime.run(shutdown.clone()));

    health
        .wait_until(
            |d| d.iter().any(|d| d.name == "fluent" && !d.up),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    // Ten probe rounds, far more than max-attempts, while fluent is down.
    let before = handler.calls_while_down.load(SeqCst);
    tokio::time::timeout(Duration::from_secs(60), async {
        while handler.calls_while_down.load(SeqCst) < before + 10 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    let during = metrics.snapshot();
    assert_eq!(during.received, 8, "intake paused at the prefetch bound");
    assert_eq!(during.dead_lettered, 0);
    assert_eq!(during.retried, 0, "no attempt used by the outage");
    assert!(during.waiting >= 4, "the failed messages wait: {during:?}");
    assert!(during.in_flight <= 1, "one probe at a time: {during:?}");
    assert_eq!(queue.len(), 32, "the rest waits in its queue");
    let down = health.down_list();
    assert_eq!(down.len(), 1);
    assert_eq!(down[0].error.as_deref(), Some("connection refused"));

    handler.down.store(false, SeqCst);
    metrics
        .wait_until(|m| m.succeeded == 40, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(health.all_up());
    assert!(dead_letters.is_empty());
    let handled = handler.handled.lock().unwrap().clone();
    assert!(
        handled.iter().all(|(_, attempt)| *attempt == 1),
        "every message succeeded on its first attempt: {handled:?}"
    );
    shutdown.trigger();
    let report = running.await.unwrap();
    assert_eq!(report.metrics.waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn a_message_failing_systemically_on_its_own_is_dead_lettered_while_others_flow() {
    let handler = Arc::new(Dependent {
        poison: vec!["c-3".to_owned()],
        ..Dependent::default()
    });
    let queue = queue_of(20).await;
    queue.close();
    let dead_letters = Arc::new(MemoryDeadLetters::new());
    let report = tokio::time::timeout(
        Duration::from_secs(600),
        Runtime::new(router(handler.clone()), Arc::new(queue.clone()))
            .with_config(&settings(2, 4, 3))
            .with_dead_letters(dead_letters.clone())
            .with_receive(4, Duration::from_millis(10))
            .run(Shutdown::new()),
    )
    .await
    .expect("a poison message must not stall the runtime");
    assert_eq!(report.metrics.succeeded, 19);
    assert_eq!(report.metrics.dead_lettered, 1);
    let letters = dead_letters.snapshot();
    assert_eq!(letters[0].kind, FailureKind::AttemptsExhausted);
    assert_eq!(letters[0].attempts, 3);
    assert_eq!(
        letters[0].message.as_ref().and_then(Message::resource_id),
        Some("c-3")
    );
    assert!(queue.is_idle());
}

/// A store that fails while `broken` is set.
#[derive(Debug, Default)]
struct Unwritable {
    broken: AtomicBool,
    attempts: AtomicUsize,
    inner: MemoryDeadLetters,
}

#[async_trait]
impl DeadLetterStore for Unwritable {
    async fn put(&self, letter: DeadLetter) -> Result<(), DeadLetterError> {
        self.attempts.fetch_add(1, SeqCst);
        if self.broken.load(SeqCst) {
            return Err(DeadLetterError::msg(
                "cannot append to `dl.jsonl`: No space left on device",
            ));
        }
        self.inner.put(letter).await
    }
    async fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        self.inner.list().await
    }
    async fn remove(&self, ids: &[String]) -> Result<usize, DeadLetterError> {
        self.inner.remove(ids).await
    }
}

#[derive(Debug, Default)]
struct Rejecting;

#[async_trait]
impl MessageHandler for Rejecting {
    async fn handle(&self, _: &HandlerContext<'_>, _: &Message) -> Result<Outcome, HandlerError> {
        tokio::task::yield_now().await;
        Err(HandlerError::unprocessable("email is missing"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_dead_letter_store_that_cannot_be_written_pauses_intake_instead_of_looping() {
    let store = Arc::new(Unwritable {
        broken: AtomicBool::new(true),
        ..Unwritable::default()
    });
    let queue = queue_of(10).await;
    let runtime = Runtime::new(router(Arc::new(Rejecting)), Arc::new(queue.clone()))
        .with_config(&settings(2, 4, 3))
        .with_dead_letters(store.clone())
        .with_receive(4, Duration::from_millis(10));
    let metrics = runtime.metrics();
    let health = runtime.health();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(runtime.run(shutdown.clone()));
    health
        .wait_until(
            |d| d.iter().any(|d| d.name == "dead-letters" && !d.up),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    // A minute of outage costs a handful of probes, not a loop.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let attempts = store.attempts.load(SeqCst);
    assert!(
        attempts <= 2 + 65,
        "about one probe per second (capped backoff), not a loop: {attempts}"
    );
    assert_eq!(metrics.snapshot().received, 4, "intake paused");
    assert_eq!(
        queue.in_flight(),
        4,
        "nothing acknowledged that was not stored"
    );
    assert_eq!(queue.len(), 6);

    store.broken.store(false, SeqCst);
    metrics
        .wait_until(|m| m.dead_lettered == 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.inner.len(), 10);
    assert!(health.all_up());
    shutdown.trigger();
    running.await.unwrap();
    assert!(queue.is_idle());
}
