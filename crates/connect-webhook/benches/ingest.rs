//! Webhook ingest over loopback HTTP: the listener (signature check, field
//! checks, message, send into an in-memory event queue drained by a
//! consumer) against a bare axum endpoint doing only the same signature
//! check. Both are measured in the same run, alternating rounds, and the
//! ratio of their throughputs is printed; so is the cost of one RSA
//! verification, and the answer latency (p50, p99) of the listener when
//! webhooks arrive at a steady 200 per second, as Fluent sends them.
//!
//! `cargo bench -p connect-webhook --bench ingest -- --warm-up-time 1 --measurement-time 3`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use connect_core::Message;
use connect_core::queue::{MemoryQueue, Source};
use connect_webhook::signature::{SignatureCheck, verify};
use connect_webhook::{
    FluentWebhookConfig, Intake, WebhookListener, WebhookMapping, WebhookPublicKey,
};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rsa::PrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::Sha512;

/// Requests in flight at once.
const CONCURRENCY: usize = 8;
/// Requests per measured round, and alternating rounds per side.
const ROUND: usize = 2_000;
const ROUNDS: usize = 15;
/// The steady rate of the latency run, and how many webhooks it sends.
const PACED_RATE: u32 = 200;
const PACED: usize = 1_000;

struct Setup {
    body: Vec<u8>,
    signature: String,
    key: WebhookPublicKey,
}

fn setup() -> Setup {
    let mut rng = StdRng::seed_from_u64(7);
    let private = PrivateKey::new(&mut rng, 1024).unwrap();
    let der = private.to_public_key().to_public_key_der().unwrap();
    let key = WebhookPublicKey::parse(&STANDARD.encode(der.as_bytes())).unwrap();
    let body = serde_json::to_vec(&serde_json::json!({
        "id": "5f7f0e6a-1", "name": "OrderStatus", "accountId": "ACME", "retailerId": "1",
        "entityId": "3786", "entityRef": "HD_387_56", "entityType": "ORDER",
        "entityStatus": "COMPLETE", "type": "NORMAL", "attributes": {},
        "rootEntityId": "3786", "rootEntityType": "ORDER", "rootEntityRef": "HD_387_56"
    }))
    .unwrap();
    let signature = STANDARD.encode(SigningKey::<Sha512>::new(private).sign(&body).to_bytes());
    Setup {
        body,
        signature,
        key,
    }
}

/// The listener into a drained memory queue; returns its URL.
async fn serve_listener(setup: &Setup) -> String {
    let events: MemoryQueue<Message> = MemoryQueue::new("events", 10_000);
    let drain = events.clone();
    tokio::spawn(async move {
        loop {
            let Ok(batch) = drain.receive(64, Duration::from_millis(100)).await else {
                return;
            };
            for delivery in batch {
                delivery.ack().await.unwrap();
            }
        }
    });
    let config = FluentWebhookConfig::new("127.0.0.1:0", vec![setup.key.clone()]);
    let mapping = WebhookMapping::from_iter([("OrderStatus", "fluent.connect.order.status")]);
    let listener = WebhookListener::fluent(config, mapping, "ACME", "1");
    let tcp = listener.bind().await.unwrap();
    let (server, _) = listener
        .serve(tcp, Intake::Durable(Arc::new(events)))
        .unwrap();
    let url = format!(
        "http://{}/api/v1/fluent-connect/webhook",
        server.local_addr()
    );
    // Served until the process ends.
    Box::leak(Box::new(server));
    url
}

/// A bare axum endpoint doing only the signature check; returns its URL.
async fn serve_baseline(setup: &Setup) -> String {
    let keys = Arc::new(vec![setup.key.clone()]);
    let app = axum::Router::new().route(
        "/webhook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let keys = Arc::clone(&keys);
            async move {
                let header = headers
                    .get("fluent-signature")
                    .and_then(|v| v.to_str().ok());
                match verify(&keys, header, &body) {
                    SignatureCheck::Valid => StatusCode::OK,
                    _ => StatusCode::UNAUTHORIZED,
                }
            }
        }),
    );
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", tcp.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(tcp, app).await.unwrap() });
    url
}

/// Posts `n` signed webhooks to `url`, `CONCURRENCY` at a time.
async fn round(client: &reqwest::Client, url: &str, setup: &Setup, n: usize) -> Duration {
    let started = Instant::now();
    let per_worker = n.div_ceil(CONCURRENCY);
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let client = client.clone();
            let url = url.to_owned();
            let body = setup.body.clone();
            let signature = setup.signature.clone();
            tokio::spawn(async move {
                for _ in 0..per_worker {
                    let response = client
                        .post(&url)
                        .header("fluent-signature", &signature)
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    started.elapsed() / (per_worker * CONCURRENCY) as u32
}

fn ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let setup = setup();
    let (listener_url, baseline_url) =
        runtime.block_on(async { (serve_listener(&setup).await, serve_baseline(&setup).await) });
    let client = reqwest::Client::new();

    // The cost of one verification (1024-bit key, SHA-512 of the body).
    let keys = [setup.key.clone()];
    c.bench_function("rsa-1024 verify (sha-512 of a 300-byte body)", |b| {
        b.iter(|| verify(&keys, Some(&setup.signature), &setup.body));
    });

    // Alternating rounds, same run, the order flipped every round so that
    // load from other processes hits both sides alike: the median of the
    // per-round ratios of throughput.
    let (mut listener_time, mut baseline_time) = (Duration::ZERO, Duration::ZERO);
    let mut ratios = Vec::with_capacity(ROUNDS);
    runtime.block_on(async {
        round(&client, &listener_url, &setup, ROUND).await;
        round(&client, &baseline_url, &setup, ROUND).await;
        for n in 0..ROUNDS {
            let (listener, baseline) = if n % 2 == 0 {
                let listener = round(&client, &listener_url, &setup, ROUND).await;
                (listener, round(&client, &baseline_url, &setup, ROUND).await)
            } else {
                let baseline = round(&client, &baseline_url, &setup, ROUND).await;
                (round(&client, &listener_url, &setup, ROUND).await, baseline)
            };
            listener_time += listener;
            baseline_time += baseline;
            ratios.push(baseline.as_secs_f64() / listener.as_secs_f64());
        }
    });
    ratios.sort_by(f64::total_cmp);
    println!(
        "webhook ingest: {:.0} webhooks/s; bare signature check: {:.0} requests/s; listener / bare = {:.2} (median of {ROUNDS} alternating rounds of {ROUND}; min {:.2}, max {:.2}; goal >= 0.80)",
        ROUNDS as f64 / listener_time.as_secs_f64(),
        ROUNDS as f64 / baseline_time.as_secs_f64(),
        ratios[ROUNDS / 2],
        ratios[0],
        ratios[ROUNDS - 1],
    );

    let (p50, p99) = runtime.block_on(paced(&client, &listener_url, &setup));
    println!(
        "webhook answers at {PACED_RATE} webhooks/s ({PACED} webhooks): p50 {:.2} ms, p99 {:.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );

    let mut group = c.benchmark_group("ingest over loopback HTTP");
    group.bench_function("webhook listener (verify + checks + enqueue)", |b| {
        b.to_async(&runtime)
            .iter_custom(|iters| sum_rounds(&client, &listener_url, &setup, iters));
    });
    group.bench_function("bare axum endpoint (verify only)", |b| {
        b.to_async(&runtime)
            .iter_custom(|iters| sum_rounds(&client, &baseline_url, &setup, iters));
    });
    group.finish();
}

/// Sends `PACED` webhooks at `PACED_RATE` per second, each on its own tick
/// whatever the answers before it; returns the p50 and p99 answer latency.
async fn paced(client: &reqwest::Client, url: &str, setup: &Setup) -> (Duration, Duration) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / PACED_RATE);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = Vec::with_capacity(PACED);
    for _ in 0..PACED {
        ticks.tick().await;
        let request = client
            .post(url)
            .header("fluent-signature", &setup.signature)
            .body(setup.body.clone());
        sent.push(tokio::spawn(async move {
            let started = Instant::now();
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            started.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(PACED);
    for request in sent {
        latencies.push(request.await.unwrap());
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.99))
}

/// The time of `iters` requests, sent `CONCURRENCY` at a time.
async fn sum_rounds(client: &reqwest::Client, url: &str, setup: &Setup, iters: u64) -> Duration {
    let n = usize::try_from(iters)
        .unwrap_or(usize::MAX)
        .max(CONCURRENCY);
    round(client, url, setup, n).await * iters as u32
}

criterion_group!(benches, ingest);
criterion_main!(benches);
