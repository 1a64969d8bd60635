#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Per-route counters and handler durations, the unroutable count, and the
//! dispatcher's heartbeat, as the runtime records them.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{config, fast_runtime, message};
use connect_core::dead_letter::MemoryDeadLetters;
use connect_core::queue::{MemoryQueue, Sink};
use connect_core::runtime::{LoopState, Runtime, Shutdown};
use connect_core::{
    HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler, Outcome, Router,
    Services, async_trait,
};
use tokio::sync::Semaphore;

/// Decides by resource id: `ok-*` succeed, `bad-*` are unprocessable,
/// `flaky-*` fail retryably on their first attempt; `slow-*` wait for a
/// permit first.
#[derive(Debug)]
struct Scripted {
    gate: Arc<Semaphore>,
}

#[async_trait]
impl MessageHandler for Scripted {
    async fn handle(
        &self,
        ctx: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        let id = message.resource_id().unwrap_or("");
        if id.starts_with("slow-") {
            self.gate.acquire().await.unwrap().forget();
        }
        if id.starts_with("bad-") {
            return Err(HandlerError::unprocessable("refused"));
        }
        if id.starts_with("flaky-") && ctx.attempt() == 1 {
            return Err(HandlerError::retryable("busy"));
        }
        Ok(Outcome::done())
    }
}

const YAML: &str = r"connector-name: route-metrics
routes:
  - route: first.route
    handler: Scripted
    coalesce: true
    inclusion-filter: [ResourceCreated, ResourceUpdated]
  - route: second.route
    handler: Other
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_is_counted_on_its_route_and_every_returned_call_is_timed() {
    let gate = Arc::new(Semaphore::new(0));
    let mut registry = HandlerRegistry::new();
    registry.register_shared(
        "Scripted",
        0,
        Arc::new(Scripted {
            gate: Arc::clone(&gate),
        }),
    );
    registry.register_shared(
        "Other",
        0,
        Arc::new(Scripted {
            gate: Arc::clone(&gate),
        }),
    );
    let router = Arc::new(Router::build(&config(YAML), &registry, &Services::new()).unwrap());
    let queue = MemoryQueue::new("events", 1_000);
    let runtime = Runtime::new(Arc::clone(&router), Arc::new(queue.clone()))
        .with_config(&fast_runtime(4, 3))
        .with_dead_letters(Arc::new(MemoryDeadLetters::new()))
        .with_receive(16, Duration::from_millis(10));
    let metrics = runtime.metrics();
    let heartbeat = runtime.heartbeat();
    assert_eq!(heartbeat.state(), LoopState::Idle);
    let running = tokio::spawn(runtime.run(Shutdown::new()));

    // Four messages of one resource while the first one is held: the
    // other three wait in line and two of them are coalesced into the
    // newest.
    for _ in 0..4 {
        queue
            .send(message("first.route", "ResourceUpdated", "slow-1"))
            .await
            .unwrap();
    }
    metrics
        .wait_until(
            // `held` is published once per turn of the runtime's loop, so
            // it may trail `received` on a busy machine: wait for it too.
            |m| m.received == 4 && m.in_flight == 1 && m.held == 4,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(heartbeat.state(), LoopState::Running);
    assert_eq!(metrics.snapshot().held, 4, "one running, three in line");
    gate.add_permits(2);
    metrics
        .wait_until(|m| m.settled() == 4, Duration::from_secs(10))
        .await
        .unwrap();

    for m in [
        message("first.route", "ResourceCreated", "ok-1"),
        message("first.route", "ResourceCreated", "ok-2"),
        message("first.route", "ResourceDeleted", "ok-3"),
        message("first.route", "ResourceUpdated", "bad-1"),
        message("first.route", "ResourceUpdated", "flaky-1"),
        message("second.route", "Anything", "ok-4"),
        message("no.such.route", "ResourceCreated", "ok-5"),
    ] {
        queue.send(m).await.unwrap();
    }
    queue.close();
    let report = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(heartbeat.state(), LoopState::Stopped);
    assert_eq!(report.metrics.held, 0);

    let first = router.route("first.route").unwrap().metrics().snapshot();
    assert_eq!(
        first.succeeded,
        2 + 2 + 1,
        "slow-1 twice, ok-1, ok-2, flaky-1"
    );
    assert_eq!(first.coalesced, 2);
    assert_eq!(first.filtered, 1, "ok-3 is a deletion");
    assert_eq!(first.retried, 1);
    assert_eq!(first.dead_lettered, 1);
    assert_eq!(
        first.duration.count,
        5 + 1 + 1,
        "every call that returned: successes, the retried and the refused one"
    );
    assert_eq!(
        first.duration.buckets.iter().map(|(_, n)| n).sum::<u64>(),
        first.duration.count,
        "no call of this handler takes a minute"
    );
    assert!(first.duration.sum > Duration::ZERO);

    let second = router.route("second.route").unwrap().metrics().snapshot();
    assert_eq!(second.succeeded, 1);
    assert_eq!(second.duration.count, 1);
    assert_eq!(router.unroutable_dead_letters(), 1);
    assert_eq!(
        report.metrics.dead_lettered, 2,
        "bad-1 and the unroutable one"
    );
}
