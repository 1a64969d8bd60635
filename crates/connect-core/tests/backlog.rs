#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Memory under a large backlog. Alone in its test binary, because it
//! measures the resident memory of the whole process.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{config, fast_runtime};
use connect_core::listener::{Listener, Translate, Translation};
use connect_core::queue::{MemoryQueue, RawPayload, Sink};
use connect_core::runtime::{Runtime, Shutdown};
use connect_core::{
    HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler, Outcome, ResourceRef,
    Router, Services, async_trait,
};

const ROUTE: &str = "customer.sync";

/// Bodies are customer ids.
#[derive(Debug)]
struct IdTranslator;

impl Translate for IdTranslator {
    fn translate(&self, raw: &RawPayload) -> Result<Translation, connect_core::BoxError> {
        Ok(Translation::Message(
            Message::new(ROUTE)
                .with_event_type("ResourceUpdated")
                .with_resource(ResourceRef::new("customer", raw.body.clone())),
        ))
    }
}

#[derive(Debug, Default)]
struct Noop;

#[async_trait]
impl MessageHandler for Noop {
    async fn handle(&self, _: &HandlerContext<'_>, _: &Message) -> Result<Outcome, HandlerError> {
        Ok(Outcome::done())
    }
}

/// Resident memory of this process, in bytes (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_backlog_flows_through_bounded_queues_with_flat_memory() {
    const BACKLOG: usize = 100_000;
    const EVENT_CAPACITY: usize = 256;
    const LISTENER_BATCH: usize = 64;
    let raw = MemoryQueue::new("ct-queue", BACKLOG);
    raw.send_batch(
        (0..BACKLOG)
            .map(|i| RawPayload::new(format!("customer-{i}")))
            .collect(),
    )
    .await
    .unwrap();
    raw.close();
    let before = resident_bytes();

    let events = MemoryQueue::<Message>::new("events", EVENT_CAPACITY);
    let listener = Listener::new(
        "ct-queue",
        Arc::new(raw.clone()),
        Arc::new(IdTranslator),
        Arc::new(events.clone()),
    )
    .with_receive(LISTENER_BATCH, Duration::from_millis(10));
    let listened = listener.metrics();
    let mut registry = HandlerRegistry::new();
    registry.register::<Noop>("Noop", 0);
    let route =
        format!("connector-name: backlog\nroutes:\n  - route: {ROUTE}\n    handler: Noop\n");
    let router = Router::build(&config(&route), &registry, &Services::new()).unwrap();
    let runtime_config = fast_runtime(16, 3);
    let prefetch = 16 * 4;
    let runtime =
        Runtime::new(Arc::new(router), Arc::new(events.clone())).with_config(&runtime_config);
    let metrics = runtime.metrics();
    let listening = tokio::spawn(listener.run(Shutdown::new()));
    let running = tokio::spawn(runtime.run(Shutdown::new()));

    // Sample the bounds while the backlog drains. (The event queue's length
    // is not worth sampling: a `MemoryQueue` never holds more than its
    // capacity, so a bound on it could not fail. What could grow is what
    // the listener reads ahead of the event queue, and what the runtime
    // holds.)
    let mut samples = 0_u32;
    let mut peak_read_ahead = 0;
    let mut peak_held = 0;
    let mut peak_resident = before.unwrap_or(0);
    while !listening.is_finished() {
        samples += 1;
        let l = listened.snapshot();
        peak_read_ahead = peak_read_ahead.max(l.received.saturating_sub(l.settled()));
        let m = metrics.snapshot();
        peak_held = peak_held.max(m.held);
        peak_held = peak_held.max(m.received.saturating_sub(m.settled() + m.retried));
        peak_resident = peak_resident.max(resident_bytes().unwrap_or(0));
        // A sampling interval, not a wait for an outcome.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    listening.await.unwrap();
    events.close();
    let report = tokio::time::timeout(Duration::from_secs(120), running)
        .await
        .unwrap()
        .unwrap();

    assert_eq!(listened.snapshot().forwarded, BACKLOG as u64);
    assert_eq!(report.metrics.succeeded, BACKLOG as u64);
    assert!(
        samples >= 10,
        "the bounds were sampled only {samples} times while the backlog drained"
    );
    assert!(
        peak_read_ahead as usize <= LISTENER_BATCH,
        "the listener read {peak_read_ahead} payloads ahead of the event queue > its batch {LISTENER_BATCH}"
    );
    assert!(
        peak_held as usize <= prefetch,
        "runtime held {peak_held} > prefetch {prefetch}"
    );
    if let Some(before) = before {
        let growth = peak_resident.saturating_sub(before);
        assert!(
            growth < 32 * 1024 * 1024,
            "resident memory grew by {} MiB while draining the backlog",
            growth / (1024 * 1024)
        );
    }
}
