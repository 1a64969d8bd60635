#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The runtime: retries, dead letters, panics, per-resource ordering,
//! coalescing, filters, publishing and graceful shutdown. Every wait is on a
//! condition with a deadline; nothing sleeps and hopes.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Completed, config, fast_runtime, message, run_to_completion, run_with_dead_letters};
use connect_core::dead_letter::{
    DeadLetterStore, FailureKind, FileDeadLetters, MemoryDeadLetters, ReplayPlan, replay_to,
};
use connect_core::listener::{Listener, Translate, Translation};
use connect_core::queue::{MemoryQueue, RawPayload, Sink};
use connect_core::runtime::{Runtime, Shutdown};
use connect_core::{
    HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler, Outcome, ResourceRef,
    Router, Services, async_trait,
};
use tokio::sync::{Barrier, Notify};

const ROUTE: &str = "customer.sync";

fn one_route(handler: &str) -> connect_core::ConnectorConfig {
    config(&format!(
        "connector-name: runtime-test\nroutes:\n  - route: {ROUTE}\n    handler: {handler}\n    inclusion-filter: [ResourceCreated, ResourceUpdated]\n"
    ))
}

fn registry_with<H: MessageHandler>(name: &str, handler: Arc<H>) -> HandlerRegistry {
    let mut registry = HandlerRegistry::new();
    registry.register_shared(name, 0, handler);
    registry
}

/// Fails with a retryable error `failures` times per message, then succeeds;
/// records every attempt number it saw.
#[derive(Debug, Default)]
struct Flaky {
    failures: u32,
    retry_after: Option<Duration>,
    attempts: Mutex<Vec<u32>>,
}

#[async_trait]
impl MessageHandler for Flaky {
    async fn handle(&self, ctx: &HandlerContext<'_>, _: &Message) -> Result<Outcome, HandlerError> {
        self.attempts.lock().unwrap().push(ctx.attempt());
        if ctx.attempt() <= self.failures {
            let error = HandlerError::retryable("service busy");
            return Err(match self.retry_after {
                Some(delay) => error.with_retry_after(delay),
                None => error,
            });
        }
        Ok(Outcome::done())
    }
}

#[tokio::test]
async fn a_retryable_failure_is_retried_with_backoff_then_succeeds() {
    let handler = Arc::new(Flaky {
        failures: 2,
        ..Flaky::default()
    });
    let report = run_to_completion(
        &one_route("Flaky"),
        &registry_with("Flaky", Arc::clone(&handler)),
        &fast_runtime(4, 5),
        vec![message(ROUTE, "ResourceUpdated", "c-1")],
    )
    .await;
    assert_eq!(*handler.attempts.lock().unwrap(), [1, 2, 3]);
    assert_eq!(report.metrics.succeeded, 1);
    assert_eq!(report.metrics.retried, 2);
    assert_eq!(report.metrics.received, 3);
    assert_eq!(report.metrics.dead_lettered, 0);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_delays_the_next_attempt() {
    let handler = Arc::new(Flaky {
        failures: 1,
        retry_after: Some(Duration::from_secs(42)),
        ..Flaky::default()
    });
    let started = tokio::time::Instant::now();
    let report = run_to_completion(
        &one_route("Flaky"),
        &registry_with("Flaky", Arc::clone(&handler)),
        &fast_runtime(4, 5),
        vec![message(ROUTE, "ResourceUpdated", "c-1")],
    )
    .await;
    assert_eq!(report.metrics.succeeded, 1);
    // The test clock only moves when every task is idle, so the elapsed
    // virtual time is the delay the runtime chose.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1),
        "the hint outweighs the 5ms backoff: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(42),
        "the hint is capped by max-retry-after: {elapsed:?}"
    );
}

#[tokio::test]
async fn attempts_are_bounded_then_the_message_is_dead_lettered() {
    let handler = Arc::new(Flaky {
        failures: u32::MAX,
        ..Flaky::default()
    });
    let Completed {
        report,
        dead_letters: store,
        queue,
    } = run_with_dead_letters(
        &one_route("Flaky"),
        &registry_with("Flaky", Arc::clone(&handler)),
        &fast_runtime(4, 3),
        vec![message(ROUTE, "ResourceUpdated", "c-1")],
    )
    .await;
    assert_eq!(*handler.attempts.lock().unwrap(), [1, 2, 3]);
    assert_eq!(report.metrics.dead_lettered, 1);
    let letters = store.snapshot();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].kind, FailureKind::AttemptsExhausted);
    assert_eq!(letters[0].attempts, 3);
    assert_eq!(letters[0].handler.as_deref(), Some("Flaky"));
    assert_eq!(letters[0].route.as_deref(), Some(ROUTE));
    assert!(letters[0].error.contains("service busy"));
    assert!(
        queue.is_idle(),
        "the dead-lettered message was acknowledged"
    );
}

#[derive(Debug, Default)]
struct Rejecting {
    calls: AtomicUsize,
}

#[async_trait]
impl MessageHandler for Rejecting {
    async fn handle(&self, _: &HandlerContext<'_>, _: &Message) -> Result<Outcome, HandlerError> {
        self.calls.fetch_add(1, SeqCst);
        Err(HandlerError::unprocessable("email is missing"))
    }
}

#[tokio::test]
async fn an_unprocessable_message_is_dead_lettered_without_retry() {
    let handler = Arc::new(Rejecting::default());
    let Completed {
        report,
        dead_letters: store,
        ..
    } = run_with_dead_letters(
        &one_route("Rejecting"),
        &registry_with("Rejecting", Arc::clone(&handler)),
        &fast_runtime(4, 5),
        vec![message(ROUTE, "ResourceCreated", "c-1")],
    )
    .await;
    assert_eq!(handler.calls.load(SeqCst), 1);
    assert_eq!(report.metrics.retried, 0);
    assert_eq!(report.metrics.dead_lettered, 1);
    let letter = &store.snapshot()[0];
    assert_eq!(letter.kind, FailureKind::Unprocessable);
    assert_eq!(letter.attempts, 1);
    assert_eq!(letter.message.as_ref().unwrap().resource_id(), Some("c-1"));
}

/// Panics for resource `boom`, succeeds for every other one.
#[derive(Debug, Default)]
struct PanicsOnBoom;

#[async_trait]
impl MessageHandler for PanicsOnBoom {
    async fn handle(
        &self,
        _: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        tokio::task::yield_now().await;
        if message.resource_id() == Some("boom") {
            panic!("index out of bounds in partner code");
        }
        Ok(Outcome::done())
    }
}

#[tokio::test]
async fn a_panic_fails_only_its_own_message() {
    let Completed {
        report,
        dead_letters: store,
        queue,
    } = run_with_dead_letters(
        &one_route("PanicsOnBoom"),
        &registry_with("PanicsOnBoom", Arc::new(PanicsOnBoom)),
        &fast_runtime(4, 5),
        ["a", "boom", "b", "c"]
            .iter()
            .map(|id| message(ROUTE, "ResourceCreated", id))
            .collect(),
    )
    .await;
    assert_eq!(report.metrics.succeeded, 3);
    assert_eq!(report.metrics.dead_lettered, 1);
    let letter = &store.snapshot()[0];
    assert_eq!(letter.kind, FailureKind::Panic);
    assert!(
        letter.error.contains("index out of bounds in partner code"),
        "{}",
        letter.error
    );
    assert!(queue.is_idle());
}

/// Tracks concurrency per resource and overall. The first message of each
/// of the first two resources meets the other at a barrier, which can only
/// happen if different resources run in parallel.
#[derive(Debug)]
struct Tracking {
    per_key: Mutex<HashMap<String, usize>>,
    max_per_key: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    barrier: Barrier,
    met_at_barrier: AtomicUsize,
    handled: Mutex<Vec<(String, u64)>>,
}

impl Tracking {
    fn new() -> Self {
        Self {
            per_key: Mutex::new(HashMap::new()),
            max_per_key: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            max_running: AtomicUsize::new(0),
            barrier: Barrier::new(2),
            met_at_barrier: AtomicUsize::new(0),
            handled: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl MessageHandler for Tracking {
    async fn handle(
        &self,
        _: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        let key = message.resource_id().unwrap().to_owned();
        let version = message.resource.as_ref().and_then(|r| r.version).unwrap();
        {
            let mut per_key = self.per_key.lock().unwrap();
            let count = per_key.entry(key.clone()).or_default();
            *count += 1;
            self.max_per_key.fetch_max(*count, SeqCst);
        }
        let running = self.running.fetch_add(1, SeqCst) + 1;
        self.max_running.fetch_max(running, SeqCst);
        if version == 1
            && (key == "k0" || key == "k1")
            && tokio::time::timeout(Duration::from_secs(10), self.barrier.wait())
                .await
                .is_ok()
        {
            self.met_at_barrier.fetch_add(1, SeqCst);
        }
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.handled.lock().unwrap().push((key.clone(), version));
        self.running.fetch_sub(1, SeqCst);
        *self.per_key.lock().unwrap().get_mut(&key).unwrap() -= 1;
        Ok(Outcome::done())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_resource_never_runs_twice_at_once_while_different_resources_run_in_parallel() {
    let handler = Arc::new(Tracking::new());
    let mut messages = Vec::new();
    for version in 1..=40u64 {
        for key in 0..5 {
            messages.push(
                Message::new(ROUTE)
                    .with_event_type("ResourceUpdated")
                    .with_resource(
                        ResourceRef::new("customer", format!("k{key}")).with_version(version),
                    ),
            );
        }
    }
    let report = run_to_completion(
        &one_route("Tracking"),
        &registry_with("Tracking", Arc::clone(&handler)),
        &fast_runtime(8, 1),
        messages,
    )
    .await;
    assert_eq!(report.metrics.succeeded, 200);
    assert_eq!(
        handler.max_per_key.load(SeqCst),
        1,
        "two messages of one resource overlapped"
    );
    assert_eq!(
        handler.met_at_barrier.load(SeqCst),
        2,
        "different resources did not run in parallel"
    );
    assert!(handler.max_running.load(SeqCst) >= 2);
    assert!(
        handler.max_running.load(SeqCst) <= 8,
        "concurrency bound exceeded"
    );
    // Per resource, messages were handled in the order they were queued.
    let handled = handler.handled.lock().unwrap();
    for key in 0..5 {
        let versions: Vec<u64> = handled
            .iter()
            .filter(|(k, _)| *k == format!("k{key}"))
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(versions, (1..=40).collect::<Vec<_>>(), "k{key}");
    }
}

/// A coalescing handler whose first call waits for a gate, so that later
/// messages for the same resource pile up behind it.
#[derive(Debug, Default)]
struct Gated {
    gate: Notify,
    entered: Notify,
    gated_once: AtomicBool,
    versions: Mutex<Vec<u64>>,
}

#[async_trait]
impl MessageHandler for Gated {
    async fn handle(
        &self,
        _: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        let version = message
            .resource
            .as_ref()
            .and_then(|r| r.version)
            .unwrap_or(0);
        self.versions.lock().unwrap().push(version);
        if !self.gated_once.swap(true, SeqCst) {
            self.entered.notify_one();
            self.gate.notified().await;
        }
        Ok(Outcome::done())
    }

    fn coalesce(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn queued_messages_for_one_resource_are_coalesced_into_the_newest() {
    let handler = Arc::new(Gated::default());
    let config = one_route("Gated");
    let router = Router::build(
        &config,
        &registry_with("Gated", Arc::clone(&handler)),
        &Services::new(),
    )
    .unwrap();
    let queue = MemoryQueue::new("events", 100);
    let versioned = |v: u64| {
        Message::new(ROUTE)
            .with_event_type("ResourceUpdated")
            .with_resource(ResourceRef::new("customer", "c-1").with_version(v))
    };
    queue.send(versioned(1)).await.unwrap();
    let runtime = Runtime::new(Arc::new(router), Arc::new(queue.clone()))
        .with_config(&fast_runtime(4, 3))
        .with_receive(64, Duration::from_millis(10));
    let metrics = runtime.metrics();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(runtime.run(shutdown.clone()));

    tokio::time::timeout(Duration::from_secs(5), handler.entered.notified())
        .await
        .unwrap();
    // Out of order on purpose: the newest version must win, not the last arrival.
    for v in [3, 7, 2, 11, 5, 9, 4, 10, 6, 8] {
        queue.send(versioned(v)).await.unwrap();
    }
    metrics
        .wait_until(|m| m.received == 11, Duration::from_secs(5))
        .await
        .unwrap();
    handler.gate.notify_one();
    let snapshot = metrics
        .wait_until(|m| m.settled() == 11, Duration::from_secs(5))
        .await
        .unwrap();
    shutdown.trigger();
    running.await.unwrap();

    assert_eq!(*handler.versions.lock().unwrap(), [1, 11]);
    assert_eq!(snapshot.succeeded, 2);
    assert_eq!(snapshot.coalesced, 9);
    assert!(queue.is_idle(), "coalesced messages were acknowledged");
}

#[tokio::test]
async fn the_inclusion_filter_acknowledges_and_counts_excluded_events() {
    let handler = Arc::new(Flaky::default());
    let report = run_to_completion(
        &one_route("Flaky"),
        &registry_with("Flaky", Arc::clone(&handler)),
        &fast_runtime(4, 5),
        vec![
            message(ROUTE, "ResourceCreated", "a"),
            message(ROUTE, "ResourceDeleted", "b"),
            message(ROUTE, "CustomerEmailChanged", "c"),
            Message::new(ROUTE).with_resource(ResourceRef::new("customer", "d")),
        ],
    )
    .await;
    assert_eq!(report.metrics.filtered, 3);
    assert_eq!(report.metrics.succeeded, 1);
    assert_eq!(report.metrics.dead_lettered, 0);
    assert_eq!(handler.attempts.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_message_for_an_unknown_route_is_dead_lettered_with_the_reason() {
    let Completed {
        report,
        dead_letters: store,
        ..
    } = run_with_dead_letters(
        &one_route("Flaky"),
        &registry_with("Flaky", Arc::new(Flaky::default())),
        &fast_runtime(4, 5),
        vec![message("customer.snyc", "ResourceCreated", "a")],
    )
    .await;
    assert_eq!(report.metrics.dead_lettered, 1);
    let letter = &store.snapshot()[0];
    assert_eq!(letter.kind, FailureKind::Unroutable);
    assert!(
        letter.error.contains("no route is named `customer.snyc`"),
        "{}",
        letter.error
    );
}

/// Publishes a follow-up message to the audit route.
#[derive(Debug, Default)]
struct Publishing {
    audited: AtomicUsize,
}

#[async_trait]
impl MessageHandler for Publishing {
    async fn handle(
        &self,
        ctx: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        if message.route == "audit" {
            self.audited.fetch_add(1, SeqCst);
            return Ok(Outcome::labeled("audited"));
        }
        ctx.publish(Message::new("audit").with_attribute("origin", message.id.clone()))
            .await?;
        Ok(Outcome::labeled("published"))
    }
}

#[tokio::test]
async fn a_handler_can_publish_follow_up_messages() {
    let config = config(
        "connector-name: runtime-test\nroutes:\n  - route: customer.sync\n    handler: Publishing\n  - route: audit\n    handler: Publishing\n",
    );
    let handler = Arc::new(Publishing::default());
    let router = Router::build(
        &config,
        &registry_with("Publishing", Arc::clone(&handler)),
        &Services::new(),
    )
    .unwrap();
    let queue = MemoryQueue::new("events", 100);
    for id in ["a", "b", "c"] {
        queue
            .send(message(ROUTE, "ResourceCreated", id))
            .await
            .unwrap();
    }
    let runtime = Runtime::new(Arc::new(router), Arc::new(queue.clone()))
        .with_config(&fast_runtime(4, 5))
        .with_publisher(Arc::new(queue.clone()));
    let metrics = runtime.metrics();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(runtime.run(shutdown.clone()));
    let snapshot = metrics
        .wait_until(|m| m.succeeded == 6, Duration::from_secs(5))
        .await
        .unwrap();
    shutdown.trigger();
    running.await.unwrap();
    assert_eq!(snapshot.outcome("published"), 3);
    assert_eq!(snapshot.outcome("audited"), 3);
    assert_eq!(handler.audited.load(SeqCst), 3);
}

/// Holds every message until released, counting what it finished.
#[derive(Debug, Default)]
struct Slow {
    release: Notify,
    started: AtomicUsize,
    finished: Mutex<Vec<String>>,
}

#[async_trait]
impl MessageHandler for Slow {
    async fn handle(
        &self,
        _: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        self.started.fetch_add(1, SeqCst);
        self.release.notified().await;
        self.finished
            .lock()
            .unwrap()
            .push(message.resource_id().unwrap().to_owned());
        Ok(Outcome::done())
    }
}

#[tokio::test]
async fn shutdown_finishes_in_flight_work_releases_the_rest_and_loses_nothing() {
    let config = one_route("Slow");
    let handler = Arc::new(Slow::default());
    let registry = registry_with("Slow", Arc::clone(&handler));
    let queue = MemoryQueue::new("events", 1_000);
    for i in 0..100 {
        queue
            .send(message(ROUTE, "ResourceCreated", &format!("c-{i}")))
            .await
            .unwrap();
    }
    let router = Arc::new(Router::build(&config, &registry, &Services::new()).unwrap());
    let runtime = Runtime::new(Arc::clone(&router), Arc::new(queue.clone()))
        .with_config(&fast_runtime(4, 5))
        .with_receive(16, Duration::from_millis(10));
    let metrics = runtime.metrics();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(runtime.run(shutdown.clone()));

    // Four handlers are running and more messages are prefetched.
    metrics
        .wait_until(
            |m| m.in_flight == 4 && m.received >= 16,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    shutdown.trigger();
    // In-flight handlers finish within the shutdown timeout.
    while handler.finished.lock().unwrap().len() < 4 {
        handler.release.notify_waiters();
        tokio::task::yield_now().await;
    }
    let report = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.metrics.succeeded, 4);
    assert_eq!(report.interrupted, 0);
    assert!(
        report.returned >= 12,
        "prefetched messages were released: {report:?}"
    );
    assert_eq!(queue.in_flight(), 0);
    assert_eq!(
        queue.len(),
        96,
        "nothing acknowledged without being handled, nothing lost"
    );

    // A new runtime on the same queue handles every remaining message once.
    queue.close();
    let second = Runtime::new(router, Arc::new(queue.clone())).with_config(&fast_runtime(4, 5));
    let second_metrics = second.metrics();
    let handler_for_release = Arc::clone(&handler);
    let releaser = tokio::spawn(async move {
        loop {
            handler_for_release.release.notify_waiters();
            tokio::task::yield_now().await;
        }
    });
    let report = tokio::time::timeout(Duration::from_secs(10), second.run(Shutdown::new()))
        .await
        .unwrap();
    releaser.abort();
    assert_eq!(
        report.metrics.succeeded,
        96,
        "{:?}",
        second_metrics.snapshot()
    );
    let mut finished = handler.finished.lock().unwrap().clone();
    finished.sort();
    finished.dedup();
    assert_eq!(finished.len(), 100, "every message handled exactly once");
}

#[tokio::test]
async fn a_handler_outliving_the_shutdown_timeout_is_interrupted_and_its_message_released() {
    let config = one_route("Slow");
    let handler = Arc::new(Slow::default());
    let router = Router::build(
        &config,
        &registry_with("Slow", Arc::clone(&handler)),
        &Services::new(),
    )
    .unwrap();
    let queue = MemoryQueue::new("events", 10);
    queue
        .send(message(ROUTE, "ResourceCreated", "stuck"))
        .await
        .unwrap();
    let mut runtime_config = fast_runtime(1, 5);
    runtime_config.shutdown_timeout = Duration::from_millis(50);
    let runtime =
        Runtime::new(Arc::new(router), Arc::new(queue.clone())).with_config(&runtime_config);
    let metrics = runtime.metrics();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(runtime.run(shutdown.clone()));
    metrics
        .wait_until(|m| m.in_flight == 1, Duration::from_secs(5))
        .await
        .unwrap();
    shutdown.trigger();
    let report = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.interrupted, 1);
    assert_eq!(report.metrics.succeeded, 0);
    assert_eq!(
        queue.len(),
        1,
        "the interrupted message is back in the queue"
    );
    assert_eq!(queue.in_flight(), 0);
}

#[tokio::test]
async fn file_dead_letters_survive_and_replay_to_the_event_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dead-letters.jsonl");
    let handler = Arc::new(Rejecting::default());
    let config = one_route("Rejecting");
    let router = Router::build(
        &config,
        &registry_with("Rejecting", Arc::clone(&handler)),
        &Services::new(),
    )
    .unwrap();
    let queue = MemoryQueue::new("events", 100);
    for id in ["a", "b", "c"] {
        queue
            .send(message(ROUTE, "ResourceCreated", id))
            .await
            .unwrap();
    }
    queue.close();
    let report = Runtime::new(Arc::new(router), Arc::new(queue))
        .with_config(&fast_runtime(4, 5))
        .with_dead_letters(Arc::new(FileDeadLetters::new(&path)))
        .run(Shutdown::new())
        .await;
    assert_eq!(report.metrics.dead_lettered, 3);

    // A fresh store over the same file sees them (durable), with details.
    let store = FileDeadLetters::new(&path);
    let letters = store.list().await.unwrap();
    assert_eq!(letters.len(), 3);
    assert!(
        letters
            .iter()
            .all(|l| l.kind == FailureKind::Unprocessable && l.attempts == 1)
    );
    assert!(letters.iter().all(|l| l.error.contains("email is missing")));

    // Replay only resource `b`: it is sent back and removed; the others stay.
    let events = MemoryQueue::new("replayed", 100);
    let plan = ReplayPlan::read(&store, None, |l| {
        l.message.as_ref().and_then(Message::resource_id) == Some("b")
    })
    .await
    .unwrap();
    let replayed = replay_to(&store, &events, plan, std::future::pending())
        .await
        .unwrap();
    assert_eq!(replayed.replayed, 1);
    assert_eq!(events.len(), 1);
    assert_eq!(store.list().await.unwrap().len(), 2);
    assert!(std::fs::read_to_string(&path).unwrap().lines().count() == 2);
}

/// Translates `route:id` bodies; `skip:*` is ignored; anything else is
/// malformed.
#[derive(Debug)]
struct ColonTranslator;

impl Translate for ColonTranslator {
    fn translate(&self, raw: &RawPayload) -> Result<Translation, connect_core::BoxError> {
        match raw.body.split_once(':') {
            Some(("skip", _)) => Ok(Translation::Ignore("skipped".to_owned())),
            Some((route, id)) => Ok(Translation::Message(message(route, "ResourceCreated", id))),
            None => Err(format!("`{}` has no `:`", raw.body).into()),
        }
    }
}

#[tokio::test]
async fn the_listener_forwards_ignores_and_dead_letters_malformed_payloads() {
    let raw = MemoryQueue::new("ct-queue", 100);
    let events = MemoryQueue::<Message>::new("events", 100);
    for body in ["customer.sync:a", "garbage", "skip:x", "customer.sync:b"] {
        raw.send(RawPayload::new(body)).await.unwrap();
    }
    raw.close();
    let store = Arc::new(MemoryDeadLetters::new());
    let report = Listener::new(
        "ct-queue",
        Arc::new(raw.clone()),
        Arc::new(ColonTranslator),
        Arc::new(events.clone()),
    )
    .with_dead_letters(store.clone())
    .with_receive(2, Duration::from_millis(10))
    .run(Shutdown::new())
    .await;
    assert_eq!(report.metrics.received, 4);
    assert_eq!(report.metrics.forwarded, 2);
    assert_eq!(report.metrics.ignored, 1);
    assert_eq!(report.metrics.dead_lettered, 1);
    assert!(raw.is_idle(), "every raw payload was acknowledged");
    assert_eq!(events.len(), 2);
    let letter = &store.snapshot()[0];
    assert_eq!(letter.kind, FailureKind::Unparseable);
    assert_eq!(letter.raw.as_deref(), Some("garbage"));
    assert!(letter.error.contains("has no `:`"));
}

#[tokio::test]
async fn raw_payloads_are_acknowledged_only_after_the_event_queue_accepted_them() {
    let raw = MemoryQueue::new("ct-queue", 100);
    let events = MemoryQueue::<Message>::new("events", 1);
    for id in ["a", "b", "c"] {
        raw.send(RawPayload::new(format!("customer.sync:{id}")))
            .await
            .unwrap();
    }
    let listener = Listener::new(
        "ct-queue",
        Arc::new(raw.clone()),
        Arc::new(ColonTranslator),
        Arc::new(events.clone()),
    )
    .with_receive(10, Duration::from_millis(10));
    let metrics = listener.metrics();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(listener.run(shutdown.clone()));
    // The event queue holds one message: the batch waits, unacknowledged.
    metrics
        .wait_until(|m| m.received == 3, Duration::from_secs(5))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while events.is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    assert_eq!(
        raw.in_flight(),
        3,
        "nothing acknowledged while the event queue is full"
    );
    assert_eq!(metrics.snapshot().forwarded, 0);
    // Draining the event queue lets the batch through; then the raw payloads are acked.
    let drained = tokio::spawn({
        let events = events.clone();
        async move {
            let mut got = 0;
            while got < 3 {
                for delivery in
                    connect_core::queue::Source::receive(&events, 10, Duration::from_millis(50))
                        .await
                        .unwrap()
                {
                    delivery.ack().await.unwrap();
                    got += 1;
                }
            }
        }
    });
    metrics
        .wait_until(|m| m.forwarded == 3, Duration::from_secs(5))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), drained)
        .await
        .unwrap()
        .unwrap();
    assert!(raw.is_idle());
    shutdown.trigger();
    running.await.unwrap();
}

#[tokio::test]
async fn replay_re_translates_raw_payloads() {
    let store = MemoryDeadLetters::new();
    store
        .put(connect_core::dead_letter::DeadLetter::for_raw(
            "customer.sync:z",
            "was broken",
        ))
        .await
        .unwrap();
    store
        .put(connect_core::dead_letter::DeadLetter::for_raw(
            "still broken",
            "no colon",
        ))
        .await
        .unwrap();
    let events = MemoryQueue::<Message>::new("events", 10);
    let plan = ReplayPlan::read(&store, Some(&ColonTranslator), |_| true)
        .await
        .unwrap();
    let report = replay_to(&store, &events, plan, std::future::pending())
        .await
        .unwrap();
    assert_eq!(report.replayed, 1);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(events.len(), 1);
    assert_eq!(store.len(), 1, "the payload that still fails is kept");
}
