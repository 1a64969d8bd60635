//! Dispatch overhead: parse a commercetools payload → route → filter →
//! no-op handler → ack, through the in-memory CT queue, the listener, the
//! in-memory event queue and the runtime, next to the baseline of only
//! parsing the same payload with serde_json, in the same run.
//!
//! Both sides run under the same global allocator (mimalloc, which the
//! `connect` binary also uses), so the ratio measures the SDK's work rather
//! than the system allocator's behaviour with longer-lived objects.
//!
//! Run: `cargo bench -p connect-core --bench dispatch`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use connect_core::listener::{Listener, Translate, Translation};
use connect_core::queue::{MemoryQueue, RawPayload, Sink};
use connect_core::runtime::{Runtime, Shutdown};
use connect_core::{
    BoxError, ConnectorConfig, HandlerContext, HandlerError, HandlerRegistry, Message,
    MessageHandler, Outcome, ResourceRef, RouteConfig, Router, Services, async_trait,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const PAYLOAD: &str =
    include_str!("../../connect-testkit/fixtures/commercetools/change-resource-created.json");
const BATCH: usize = 10_000;
const ROUTE: &str = "commercetools.connect.customer.upsert";

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Default)]
struct Noop;

#[async_trait]
impl MessageHandler for Noop {
    async fn handle(&self, _: &HandlerContext<'_>, _: &Message) -> Result<Outcome, HandlerError> {
        Ok(Outcome::done())
    }
}

struct Translator;

impl Translate for Translator {
    fn translate(&self, raw: &RawPayload) -> Result<Translation, BoxError> {
        let payload: serde_json::Value = serde_json::from_str(&raw.body)?;
        let resource = &payload["resource"];
        let id = resource["id"].as_str().ok_or("no id")?.to_owned();
        let event = match payload["notificationType"].as_str().ok_or("no type")? {
            "ResourceCreated" => "ResourceCreated",
            _ => "ResourceUpdated",
        };
        let version = payload["version"].as_u64().unwrap_or(0);
        let project = payload["projectKey"].as_str().unwrap_or("").to_owned();
        Ok(Translation::Message(
            Message::new(ROUTE)
                .with_event_type(event)
                .with_resource(ResourceRef::new("customer", id).with_version(version))
                .with_attribute("source", "commercetools")
                .with_attribute("project-key", project)
                .with_attribute("format", "platform")
                .with_payload(payload),
        ))
    }
}

fn router() -> Arc<Router> {
    let config = ConnectorConfig::new(
        "bench",
        vec![
            RouteConfig::new(ROUTE, "Noop")
                .with_inclusion_filter(["ResourceCreated", "ResourceUpdated"]),
        ],
    );
    let mut registry = HandlerRegistry::new();
    registry.register::<Noop>("Noop", 0);
    Arc::new(Router::build(&config, &registry, &Services::new()).unwrap())
}

/// Pushes `BATCH` raw payloads through listener and runtime; returns the time
/// from start to the last acknowledgement. Default queue and batch settings,
/// except the event queue's capacity (backpressure keeps it bounded).
async fn pipeline(router: Arc<Router>) -> Duration {
    let raw = MemoryQueue::new("ct", BATCH + 1);
    let events = MemoryQueue::<Message>::new("events", 512);
    let bodies: Vec<RawPayload> = (0..BATCH).map(|_| RawPayload::new(PAYLOAD)).collect();
    raw.send_batch(bodies).await.unwrap();
    raw.close();
    let listener = Listener::new(
        "ct",
        Arc::new(raw),
        Arc::new(Translator),
        Arc::new(events.clone()),
    );
    let runtime = Runtime::new(router, Arc::new(events.clone()));
    let start = Instant::now();
    let listening = tokio::spawn(listener.run(Shutdown::new()));
    let running = tokio::spawn(runtime.run(Shutdown::new()));
    listening.await.unwrap();
    events.close();
    let report = running.await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(report.metrics.succeeded, BATCH as u64);
    elapsed
}

fn bench(c: &mut Criterion) {
    let router = router();
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let multi = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("baseline_serde_json_parse", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let value: serde_json::Value =
                    serde_json::from_str(std::hint::black_box(PAYLOAD)).unwrap();
                std::hint::black_box(value);
            }
        });
    });
    for (name, rt) in [
        ("pipeline_current_thread", &current),
        ("pipeline_multi_thread", &multi),
    ] {
        group.bench_function(name, |b| {
            b.to_async(rt).iter_custom(|iters| {
                let router = Arc::clone(&router);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += pipeline(Arc::clone(&router)).await;
                    }
                    total
                }
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(10));
    targets = bench
}
criterion_main!(benches);
