//! Helpers shared by the tests that run against a local SQS server (moto,
//! started by `scripts/sqs-server.sh start`; its address is in
//! `CONNECT_SQS_ENDPOINT`). Queues come from `connect_testkit::sqs`.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::future::Future;
use std::time::Duration;

use connect_sqs::SqsQueueConfig;
use connect_sqs::aws_sdk_sqs::Client;
pub use connect_testkit::sqs::{
    Queue, REGION, create_queue, create_queue_with, create_with_dlq, unique,
};
use tokio::time::Instant;

/// The local server's address. Fails the test with what to do when it is
/// not set: these tests are never skipped silently.
pub fn endpoint() -> String {
    connect_testkit::sqs::endpoint().unwrap()
}

/// A client for the local server with dummy credentials.
pub fn client() -> Client {
    connect_testkit::sqs::client(&endpoint())
}

/// The queue block for a queue of the local server.
pub fn config(url: &str) -> SqsQueueConfig {
    SqsQueueConfig::new(url)
        .with_region(REGION)
        .with_endpoint_url(endpoint())
}

/// Polls `probe` until it returns `Some`, or fails the test after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Logs to the test output (`RUST_LOG=connect_sqs=debug` to see more).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}
