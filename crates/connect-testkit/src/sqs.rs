//! Helpers of tests against an SQS server (feature `sqs`): a client with
//! dummy credentials, queues with unique names (with a dead-letter queue
//! when asked), their message counts, and clean-up.
//!
//! The workspace's SQS tests run against a local server (moto), started by
//! `scripts/test.sh` or `scripts/sqs-server.sh start`, whose address is in
//! `CONNECT_SQS_ENDPOINT`:
//!
//! ```no_run
//! use connect_testkit::sqs;
//!
//! # async fn demo() -> Result<(), sqs::SqsTestError> {
//! let client = sqs::client(&sqs::endpoint()?);
//! let (queue, dlq) = sqs::create_with_dlq(&client, "orders", false, 3).await?;
//! assert_eq!(sqs::counts(&client, &queue.url).await?.total(), 0);
//! sqs::delete_queues(&client, &[&queue, &dlq]).await;
//! # Ok(()) }
//! ```

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;

/// The region of every queue (moto's default account lives there).
pub const REGION: &str = "us-east-1";

/// The variable that holds the SQS server's address.
pub const ENDPOINT_VAR: &str = "CONNECT_SQS_ENDPOINT";

/// The SQS server's address, from `CONNECT_SQS_ENDPOINT`. Unset or empty
/// is an error that says how to start the local server: tests that need
/// SQS are never skipped silently.
pub fn endpoint() -> Result<String, SqsTestError> {
    match std::env::var(ENDPOINT_VAR) {
        Ok(endpoint) if !endpoint.trim().is_empty() => Ok(endpoint.trim().to_owned()),
        _ => Err(SqsTestError::NoEndpoint),
    }
}

/// An SQS client for `endpoint` in [`REGION`], with dummy credentials
/// (`testing`/`testing`, as moto expects; child processes of a test get
/// the same ones through `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`).
pub fn client(endpoint: &str) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "connect-testkit",
        ))
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

/// A queue name no other test (or earlier run) uses:
/// `{prefix}-{process id}-{clock}-{counter}`.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A queue of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    /// Its URL (what queue blocks and the SDK take).
    pub url: String,
    /// Its ARN (what redrive policies and EventBridge targets take).
    pub arn: String,
}

/// Creates a queue named [`unique`]`(prefix)` (FIFO when `fifo`; the name
/// then ends in `.fifo`).
pub async fn create_queue(
    client: &Client,
    prefix: &str,
    fifo: bool,
) -> Result<Queue, SqsTestError> {
    create_queue_with(client, prefix, fifo, &[]).await
}

/// Like [`create_queue`], with more queue attributes (a
/// `MaximumMessageSize`, a `RedrivePolicy`, ...).
pub async fn create_queue_with(
    client: &Client,
    prefix: &str,
    fifo: bool,
    attributes: &[(QueueAttributeName, String)],
) -> Result<Queue, SqsTestError> {
    let mut name = unique(prefix);
    let mut request = client.create_queue();
    if fifo {
        name.push_str(".fifo");
        request = request.attributes(QueueAttributeName::FifoQueue, "true");
    }
    for (key, value) in attributes {
        request = request.attributes(key.clone(), value.clone());
    }
    let url = request
        .queue_name(&name)
        .send()
        .await
        .map_err(|error| SqsTestError::sqs(format!("cannot create the queue `{name}`"), &error))?
        .queue_url
        .ok_or_else(|| SqsTestError::Sqs {
            what: format!("cannot create the queue `{name}`"),
            message: "CreateQueue returned no queue URL".to_owned(),
        })?;
    let arn = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|error| SqsTestError::sqs(format!("cannot read the ARN of `{url}`"), &error))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| SqsTestError::Sqs {
            what: format!("cannot read the ARN of `{url}`"),
            message: "GetQueueAttributes returned no QueueArn".to_owned(),
        })?;
    Ok(Queue { url, arn })
}

/// Creates a queue with its own dead-letter queue (of the same type,
/// named `{prefix}-dlq-...`) that takes the messages received
/// `max_receive_count` times: `(queue, dead-letter queue)`.
pub async fn create_with_dlq(
    client: &Client,
    prefix: &str,
    fifo: bool,
    max_receive_count: u32,
) -> Result<(Queue, Queue), SqsTestError> {
    let dlq = create_queue(client, &format!("{prefix}-dlq"), fifo).await?;
    let policy = serde_json::json!({
        "deadLetterTargetArn": dlq.arn,
        "maxReceiveCount": max_receive_count.to_string(),
    });
    let queue = create_queue_with(
        client,
        prefix,
        fifo,
        &[(QueueAttributeName::RedrivePolicy, policy.to_string())],
    )
    .await?;
    Ok((queue, dlq))
}

/// Deletes a queue, best effort (a queue a failed test leaves behind is
/// there to be inspected).
pub async fn delete_queue(client: &Client, url: &str) {
    if let Err(error) = client.delete_queue().queue_url(url).send().await {
        tracing::debug!(url, error = %DisplayErrorContext(&error), "cannot delete a test queue");
    }
}

/// Deletes the queues a test is done with, best effort.
pub async fn delete_queues(client: &Client, queues: &[&Queue]) {
    for queue in queues {
        delete_queue(client, &queue.url).await;
    }
}

/// A queue's approximate message counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages that can be received (`ApproximateNumberOfMessages`).
    pub visible: u64,
    /// Messages received and not deleted yet
    /// (`ApproximateNumberOfMessagesNotVisible`).
    pub in_flight: u64,
    /// Messages sent with a delay, not visible yet
    /// (`ApproximateNumberOfMessagesDelayed`).
    pub delayed: u64,
}

impl Counts {
    /// Every message still in the queue.
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// The approximate message counts of the queue at `url`.
pub async fn counts(client: &Client, url: &str) -> Result<Counts, SqsTestError> {
    let attributes = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(|error| SqsTestError::sqs(format!("cannot read the counts of `{url}`"), &error))?
        .attributes
        .unwrap_or_default();
    let number = |name: QueueAttributeName| {
        attributes
            .get(&name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Counts {
        visible: number(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        delayed: number(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    })
}

/// Why an SQS test helper failed.
///
/// `Debug` shows the same text as `Display`, so `.unwrap()` and tests
/// returning `Result<(), Box<dyn Error>>` print what to do.
#[derive(thiserror::Error)]
pub enum SqsTestError {
    /// `CONNECT_SQS_ENDPOINT` is not set.
    #[error(
        "CONNECT_SQS_ENDPOINT is not set: run scripts/test.sh, or start the local server with \
         `scripts/sqs-server.sh start` and `eval \"$(scripts/sqs-server.sh env)\"`"
    )]
    NoEndpoint,
    /// The server refused a call or could not be reached.
    #[error("{what}: {message}")]
    Sqs {
        /// What the helper was doing.
        what: String,
        /// The SDK's error with its causes.
        message: String,
    },
}

impl SqsTestError {
    fn sqs(what: String, error: &(dyn std::error::Error + 'static)) -> Self {
        Self::Sqs {
            what,
            message: DisplayErrorContext(error).to_string(),
        }
    }
}

impl std::fmt::Debug for SqsTestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
