//! Messages per second through `SqsQueue` (receive, then acknowledge =
//! batched delete) against the local SQS server, with batch receives of 10
//! against single receives, in one run.
//!
//! ```text
//! scripts/sqs-server.sh start && eval "$(scripts/sqs-server.sh env)"
//! cargo bench -p connect-sqs --bench sqs_receive
//! ```
//!
//! Without `CONNECT_SQS_ENDPOINT` it says what it needs and exits
//! successfully, so `cargo bench --workspace` works everywhere.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::time::{Duration, Instant};

use connect_core::queue::{RawPayload, Sink, Source};
use connect_sqs::{SqsQueue, SqsQueueConfig};
use connect_testkit::sqs;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};

/// Messages moved per measured iteration.
const MESSAGES: usize = 100;

async fn queue_for(endpoint: &str, prefix: &str) -> SqsQueue<RawPayload> {
    let client = sqs::client(endpoint);
    let url = sqs::create_queue(&client, prefix, false).await.unwrap().url;
    let config = SqsQueueConfig::new(url)
        .with_region(sqs::REGION)
        .with_endpoint_url(endpoint);
    SqsQueue::connect_with(client, &config).await.unwrap()
}

/// Fills the queue (not measured), then receives and acknowledges
/// `MESSAGES` with receives of `batch` (measured). Acks run concurrently
/// with the next receives, as in the runtime.
async fn drain(queue: &SqsQueue<RawPayload>, batch: usize) -> Duration {
    queue
        .send_batch(
            (0..MESSAGES)
                .map(|n| RawPayload::new(format!("{{\"n\":{n}}}")))
                .collect(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut acks = tokio::task::JoinSet::new();
    let mut received = 0;
    while received < MESSAGES {
        let deliveries = queue.receive(batch, Duration::from_secs(1)).await.unwrap();
        received += deliveries.len();
        for delivery in deliveries {
            acks.spawn(delivery.ack());
        }
    }
    while let Some(ack) = acks.join_next().await {
        ack.unwrap().unwrap();
    }
    started.elapsed()
}

fn main() {
    let Ok(endpoint) = sqs::endpoint() else {
        eprintln!(
            "sqs_receive: needs a local SQS server; run `scripts/sqs-server.sh start` and \
             `eval \"$(scripts/sqs-server.sh env)\"` first (nothing measured)"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let queues: Vec<(usize, SqsQueue<RawPayload>)> = [10, 1]
        .into_iter()
        .map(|batch| {
            (
                batch,
                runtime.block_on(queue_for(&endpoint, &format!("bench-receive-{batch}"))),
            )
        })
        .collect();

    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    let mut group = criterion.benchmark_group("sqs_receive");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(MESSAGES as u64));
    for (batch, queue) in &queues {
        group.bench_with_input(
            BenchmarkId::new("receive_ack", format!("batch_{batch}")),
            batch,
            |b, &batch| {
                b.to_async(&runtime).iter_custom(|iters| async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += drain(queue, batch).await;
                    }
                    total
                });
            },
        );
    }
    group.finish();
    criterion.final_summary();

    for (_, queue) in queues {
        let url = queue.queue_url().to_owned();
        let client = queue.client().clone();
        runtime.block_on(async move {
            let _ = client.delete_queue().queue_url(url).send().await;
        });
    }
}
