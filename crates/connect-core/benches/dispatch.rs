//! Dispatch overhead: parse a commercetools payload → route → filter →
//! no-op handler → ack, through the in-memory CT queue read end to end by
//! the runtime (the listener's `Translating` source: what a connector with
//! an in-memory event queue runs), next to the baseline of only parsing the
//! same payload with serde_json, in the same run.
//!
//! Both sides run under the same global allocator (mimalloc, which the
//! `connect` binary also uses), so the ratio measures the SDK's work rather
//! than the system allocator's behaviour with longer-lived objects.
//!
//! Run: `cargo bench -p connect-core --bench dispatch`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use connect_commercetools::SubscriptionTranslator;
use connect_core::listener::Translating;
use connect_core::queue::{MemoryQueue, RawPayload, Sink};
use connect_core::runtime::{Runtime, Shutdown};
use connect_core::{
    ConnectorConfig, HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler,
    Outcome, RouteConfig, Router, Services, async_trait,
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

fn config() -> ConnectorConfig {
    ConnectorConfig::new(
        "bench",
        vec![
            RouteConfig::new(ROUTE, "Noop")
                .with_inclusion_filter(["ResourceCreated", "ResourceUpdated"]),
        ],
    )
}

fn router() -> Arc<Router> {
    let config = config();
    let mut registry = HandlerRegistry::new();
    registry.register::<Noop>("Noop", 0);
    Arc::new(Router::build(&config, &registry, &Services::new()).unwrap())
}

/// Pushes `BATCH` raw payloads through the translation and the runtime;
/// returns the time from start to the last acknowledgement. Default runtime
/// settings.
async fn pipeline(router: Arc<Router>, translator: Arc<SubscriptionTranslator>) -> Duration {
    let raw = MemoryQueue::new("ct", BATCH + 1);
    let bodies: Vec<RawPayload> = (0..BATCH).map(|_| RawPayload::new(PAYLOAD)).collect();
    raw.send_batch(bodies).await.unwrap();
    raw.close();
    let source = Translating::new("ct", Arc::new(raw.clone()), translator);
    let runtime = Runtime::new(router, Arc::new(source)).with_source_name("ct-queue");
    let start = Instant::now();
    let report = runtime.run(Shutdown::new()).await;
    let elapsed = start.elapsed();
    assert_eq!(report.metrics.succeeded, BATCH as u64);
    assert!(raw.is_idle());
    elapsed
}

/// Parses `BATCH` payloads; returns the time it took.
fn baseline() -> Duration {
    let start = Instant::now();
    for _ in 0..BATCH {
        let value: serde_json::Value = serde_json::from_str(std::hint::black_box(PAYLOAD)).unwrap();
        std::hint::black_box(value);
    }
    start.elapsed()
}

/// Alternates baseline and pipeline rounds so that load from other
/// processes hits both alike, and prints the median ratio of each flavour.
fn ratios(
    router: &Arc<Router>,
    translator: &Arc<SubscriptionTranslator>,
    runtimes: &[(&str, &tokio::runtime::Runtime)],
) {
    const ROUNDS: usize = 15;
    for (name, rt) in runtimes {
        let mut ratios: Vec<f64> = (0..ROUNDS)
            .map(|_| {
                let base = baseline();
                let piped = rt.block_on(pipeline(Arc::clone(router), Arc::clone(translator)));
                piped.as_secs_f64() / base.as_secs_f64()
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "dispatch/{name}: pipeline / serde_json parse = {:.2} (median of {ROUNDS} alternating rounds; min {:.2}, max {:.2})",
            ratios[ROUNDS / 2],
            ratios[0],
            ratios[ROUNDS - 1]
        );
    }
}

fn bench(c: &mut Criterion) {
    let router = router();
    let translator = Arc::new(SubscriptionTranslator::new(
        [("customer".to_owned(), ROUTE.to_owned())].into(),
    ));
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
        b.iter_custom(|iters| (0..iters).map(|_| baseline()).sum());
    });
    for (name, rt) in [
        ("pipeline_current_thread", &current),
        ("pipeline_multi_thread", &multi),
    ] {
        group.bench_function(name, |b| {
            b.to_async(rt).iter_custom(|iters| {
                let router = Arc::clone(&router);
                let translator = Arc::clone(&translator);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += pipeline(Arc::clone(&router), Arc::clone(&translator)).await;
                    }
                    total
                }
            });
        });
    }
    group.finish();
    ratios(
        &router,
        &translator,
        &[
            ("pipeline_current_thread", &current),
            ("pipeline_multi_thread", &multi),
        ],
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(10));
    targets = bench
}
criterion_main!(benches);
