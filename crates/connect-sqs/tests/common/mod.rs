//! Helpers shared by the tests that run against a local SQS server (moto,
//! started by `scripts/sqs-server.sh start`; its address is in
//! `CONNECT_SQS_ENDPOINT`).

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use aws_config::BehaviorVersion;
use connect_sqs::aws_sdk_sqs::Client;
use connect_sqs::aws_sdk_sqs::config::Credentials;
use connect_sqs::aws_sdk_sqs::types::QueueAttributeName;
use connect_sqs::{SqsQueueConfig, client_from_loader};
use tokio::time::Instant;

pub const REGION: &str = "us-east-1";

/// The local server's address. Panics (fails the test) with what to do
/// when it is not set: these tests are never skipped silently.
pub fn endpoint() -> String {
    match std::env::var("CONNECT_SQS_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint.trim().to_owned(),
        _ => panic!(
            "CONNECT_SQS_ENDPOINT is not set: run scripts/test.sh, or start the local server with \
             `scripts/sqs-server.sh start` and `eval \"$(scripts/sqs-server.sh env)\"`"
        ),
    }
}

/// A client for the local server with dummy credentials.
pub async fn client() -> Client {
    let loader = aws_config::defaults(BehaviorVersion::latest()).credentials_provider(
        Credentials::new("testing", "testing", None, None, "connect-sqs-tests"),
    );
    let config = SqsQueueConfig::new(format!("{}/123456789012/unused", endpoint()))
        .with_region(REGION)
        .with_endpoint_url(endpoint());
    client_from_loader(&config, loader)
        .await
        .expect("build an SQS client for the local server")
}

/// A queue name no other test uses (FIFO names end in `.fifo`).
pub fn unique(prefix: &str, fifo: bool) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("{prefix}-{}", &id[..12]);
    if fifo { format!("{name}.fifo") } else { name }
}

/// Creates a queue and returns its URL.
pub async fn create_queue(
    client: &Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> String {
    let mut request = client.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        request = request.attributes(QueueAttributeName::FifoQueue, "true");
    }
    for (key, value) in attributes {
        request = request.attributes(key.clone(), value.clone());
    }
    request
        .send()
        .await
        .expect("create a queue on the local server")
        .queue_url
        .expect("CreateQueue returns the queue URL")
}

/// The queue's ARN.
pub async fn queue_arn(client: &Client, url: &str) -> String {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("read the queue ARN")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("the queue has an ARN")
}

/// Creates a dead-letter queue and a queue that moves messages there after
/// `max_receive_count` receives; returns (queue URL, DLQ URL).
pub async fn create_with_redrive(
    client: &Client,
    prefix: &str,
    max_receive_count: u32,
    fifo: bool,
) -> (String, String) {
    let dlq = create_queue(client, &unique(&format!("{prefix}-dlq"), fifo), &[]).await;
    let dlq_arn = queue_arn(client, &dlq).await;
    let policy = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count.to_string(),
    })
    .to_string();
    let queue = create_queue(
        client,
        &unique(prefix, fifo),
        &[(QueueAttributeName::RedrivePolicy, policy)],
    )
    .await;
    (queue, dlq)
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
