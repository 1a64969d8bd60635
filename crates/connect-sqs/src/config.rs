//! The `type: sqs` queue block.

use std::time::Duration;

use connect_core::config::{BackendRef, ConfigDocument, ConfigError};
use serde::Deserialize;

use crate::error::SqsError;

/// The longest long poll SQS allows (`WaitTimeSeconds`).
pub const MAX_WAIT_TIME: Duration = Duration::from_secs(20);
/// The most messages one SQS batch call carries.
pub const MAX_BATCH_SIZE: usize = 10;
/// The longest visibility timeout SQS allows (12 hours).
pub const MAX_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(12 * 60 * 60);
/// The message size limit assumed until the queue's own
/// `MaximumMessageSize` has been read (256 KiB, the smallest default any
/// SQS queue has had).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 262_144;

/// The queue block used for `listeners.ct-queue`, `event-queue` and
/// `runtime.dead-letter` when it says `type: sqs`.
///
/// ```yaml
/// listeners:
///   ct-queue:
///     type: sqs
///     queue-url: ${CT_QUEUE_URL}
///     region: eu-west-1
///     endpoint-url: ${AWS_ENDPOINT_URL:-}   # empty = AWS; set for local servers
///     wait-time: 20s           # long poll, at most 20s
///     batch-size: 10           # messages per receive, 1..=10
///     visibility-timeout: 30s  # how long a received message stays hidden
///     heartbeat: true          # keep extending it while a handler runs
/// ```
///
/// Credentials come from the standard AWS chain (environment variables,
/// profile, web identity, ECS or EC2 instance role), never from this file.
///
/// ```
/// use std::time::Duration;
/// use connect_core::config::ConfigDocument;
/// use connect_sqs::SqsQueueConfig;
///
/// let doc = ConfigDocument::from_yaml("inline.yml", r#"
/// event-queue:
///   type: sqs
///   queue-url: https://sqs.eu-west-1.amazonaws.com/123456789012/events.fifo
///   visibility-timeout: 2m
/// "#);
/// let config = SqsQueueConfig::from_section(&doc, "event-queue")?;
/// assert!(config.is_fifo());
/// assert_eq!(config.visibility_timeout, Duration::from_secs(120));
/// assert_eq!(config.effective_region().as_deref(), Some("eu-west-1"));
/// # Ok::<(), connect_sqs::SqsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SqsQueueConfig {
    /// Always `sqs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The queue URL, e.g. `https://sqs.eu-west-1.amazonaws.com/123456789012/ct-events`.
    /// A URL ending in `.fifo` is a FIFO queue.
    pub queue_url: String,
    /// The AWS region. Empty: taken from the queue URL
    /// (`sqs.<region>.amazonaws.com`), else from the AWS chain (`AWS_REGION`).
    #[serde(default)]
    pub region: String,
    /// The SQS endpoint. Empty means AWS's own; set it for a local server
    /// such as `http://127.0.0.1:4566`.
    #[serde(default)]
    pub endpoint_url: String,
    /// How long one receive waits for messages (long polling; at most 20s).
    #[serde(
        default = "default_wait_time",
        deserialize_with = "connect_core::config::duration"
    )]
    pub wait_time: Duration,
    /// Messages asked for per receive call, 1 to 10.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// How long a received message stays invisible to other consumers
    /// (whole seconds, 1s to 12h).
    #[serde(
        default = "default_visibility_timeout",
        deserialize_with = "connect_core::config::duration"
    )]
    pub visibility_timeout: Duration,
    /// Extends the visibility of received, unsettled messages every half
    /// visibility timeout, so a handler that runs longer keeps its message.
    #[serde(default = "default_true")]
    pub heartbeat: bool,
    /// How long an acknowledgement (a delete) or a visibility change waits
    /// for others to share its batch call (up to 10 entries per call).
    /// Longer windows mean fewer SQS requests per message; a crash loses at
    /// most this much of acknowledgements (those messages are delivered
    /// again, which is harmless).
    #[serde(
        default = "default_batch_window",
        deserialize_with = "connect_core::config::duration"
    )]
    pub batch_window: Duration,
    /// How long a body that cannot be decoded stays hidden before it is
    /// received again (and counted again towards the queue's
    /// `maxReceiveCount`, after which SQS moves it to the queue's
    /// dead-letter queue).
    #[serde(
        default = "default_undecodable_delay",
        deserialize_with = "connect_core::config::duration"
    )]
    pub undecodable_delay: Duration,
    /// FIFO queues only: the message group of items that have no ordering
    /// key (one group means one global order).
    #[serde(default = "default_message_group")]
    pub message_group_id: String,
    /// The largest body this connector sends, in bytes. Default: the queue's
    /// own `MaximumMessageSize`, read at connect time.
    #[serde(default)]
    pub max_message_size: Option<usize>,
}

fn default_wait_time() -> Duration {
    MAX_WAIT_TIME
}
fn default_batch_size() -> usize {
    MAX_BATCH_SIZE
}
fn default_visibility_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_true() -> bool {
    true
}
fn default_batch_window() -> Duration {
    Duration::from_millis(50)
}
fn default_undecodable_delay() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_message_group() -> String {
    "connect".to_owned()
}

impl SqsQueueConfig {
    /// A configuration for `queue_url` with every default.
    pub fn new(queue_url: impl Into<String>) -> Self {
        Self {
            kind: "sqs".to_owned(),
            queue_url: queue_url.into(),
            region: String::new(),
            endpoint_url: String::new(),
            wait_time: default_wait_time(),
            batch_size: default_batch_size(),
            visibility_timeout: default_visibility_timeout(),
            heartbeat: true,
            batch_window: default_batch_window(),
            undecodable_delay: default_undecodable_delay(),
            message_group_id: default_message_group(),
            max_message_size: None,
        }
    }

    /// Sets the region.
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Sets the endpoint (for a local server).
    #[must_use]
    pub fn with_endpoint_url(mut self, endpoint_url: impl Into<String>) -> Self {
        self.endpoint_url = endpoint_url.into();
        self
    }

    /// Sets the long-poll wait.
    #[must_use]
    pub fn with_wait_time(mut self, wait_time: Duration) -> Self {
        self.wait_time = wait_time;
        self
    }

    /// Sets the receive batch size.
    #[must_use]
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets the visibility timeout.
    #[must_use]
    pub fn with_visibility_timeout(mut self, visibility_timeout: Duration) -> Self {
        self.visibility_timeout = visibility_timeout;
        self
    }

    /// Turns the visibility heartbeat on or off.
    #[must_use]
    pub fn with_heartbeat(mut self, heartbeat: bool) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Sets how long settlements wait to share a batch call.
    #[must_use]
    pub fn with_batch_window(mut self, window: Duration) -> Self {
        self.batch_window = window;
        self
    }

    /// Sets how long an undecodable body stays hidden.
    #[must_use]
    pub fn with_undecodable_delay(mut self, delay: Duration) -> Self {
        self.undecodable_delay = delay;
        self
    }

    /// Reads and validates the block at `path` (e.g. `listeners.ct-queue`).
    /// A missing block is an error.
    pub fn from_section(doc: &ConfigDocument, path: &str) -> Result<Self, SqsError> {
        let config: Self = doc.require_section(path).map_err(SqsError::from)?;
        config
            .validate()
            .map_err(|message| SqsError::from(doc.invalid(None, format!("{path}: {message}"))))?;
        Ok(config)
    }

    /// Reads the block a [`BackendRef`] points at (from
    /// `ConnectorConfig::ct_queue`, `event_queue` or
    /// `runtime.dead_letter`); the backend must be `sqs`.
    pub fn from_backend(doc: &ConfigDocument, backend: &BackendRef) -> Result<Self, SqsError> {
        match (&backend.section, backend.kind.as_str()) {
            (Some(path), "sqs") => Self::from_section(doc, path),
            (path, kind) => Err(SqsError::from(doc.invalid(
                None,
                format!(
                    "{}: `type: {kind}` is not an SQS queue; write `type: sqs` with a `queue-url` to use SQS",
                    path.as_deref().unwrap_or("queue")
                ),
            ))),
        }
    }

    /// Checks every value; the message says what to write instead.
    pub fn validate(&self) -> Result<(), String> {
        if self.kind != "sqs" {
            return Err(format!(
                "type is `{}`, but this block is read as an SQS queue; write `type: sqs`",
                self.kind
            ));
        }
        if self.queue_url.trim().is_empty() {
            return Err(
                "queue-url is empty; set it to the queue's URL, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/ct-events"
                    .to_owned(),
            );
        }
        if !(self.queue_url.starts_with("https://") || self.queue_url.starts_with("http://")) {
            return Err(format!(
                "queue-url `{}` is not a URL; use the queue's URL (https://sqs.<region>.amazonaws.com/<account>/<name>), not its name or ARN",
                self.queue_url
            ));
        }
        let endpoint = self.endpoint_url.trim();
        if !(endpoint.is_empty()
            || endpoint.starts_with("https://")
            || endpoint.starts_with("http://"))
        {
            return Err(format!(
                "endpoint-url `{}` is not a URL; leave it empty for AWS or write e.g. http://127.0.0.1:4566",
                self.endpoint_url
            ));
        }
        if self.wait_time > MAX_WAIT_TIME {
            return Err(format!(
                "wait-time is {:?}; SQS long polling waits at most 20s, write `wait-time: 20s` or less",
                self.wait_time
            ));
        }
        if self.batch_window > Duration::from_secs(5) {
            return Err(format!(
                "batch-window is {:?}; keep it short (at most 5s, default 50ms): acknowledgements wait that long",
                self.batch_window
            ));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(format!(
                "batch-size is {}; SQS returns 1 to 10 messages per receive",
                self.batch_size
            ));
        }
        if self.visibility_timeout < Duration::from_secs(1)
            || self.visibility_timeout > MAX_VISIBILITY_TIMEOUT
        {
            return Err(format!(
                "visibility-timeout is {:?}; SQS accepts 1s to 12h",
                self.visibility_timeout
            ));
        }
        if self.undecodable_delay > MAX_VISIBILITY_TIMEOUT {
            return Err(format!(
                "undecodable-delay is {:?}; SQS accepts at most 12h",
                self.undecodable_delay
            ));
        }
        if self.is_fifo() && crate::fifo::checked_id(&self.message_group_id).is_none() {
            return Err(format!(
                "message-group-id `{}` is not a valid FIFO group id: use 1 to 128 letters, digits or punctuation",
                self.message_group_id
            ));
        }
        if let Some(size) = self.max_message_size
            && size == 0
        {
            return Err("max-message-size must be at least 1 byte".to_owned());
        }
        Ok(())
    }

    /// `true` when the queue URL names a FIFO queue (ends in `.fifo`).
    pub fn is_fifo(&self) -> bool {
        self.queue_url.trim_end_matches('/').ends_with(".fifo")
    }

    /// The region to use: `region` when set, else the one in an AWS queue
    /// URL (`https://sqs.<region>.amazonaws.com/...`), else `None` (the AWS
    /// chain decides).
    pub fn effective_region(&self) -> Option<String> {
        if !self.region.trim().is_empty() {
            return Some(self.region.trim().to_owned());
        }
        let host = self
            .queue_url
            .split("://")
            .nth(1)?
            .split('/')
            .next()?
            .split(':')
            .next()?;
        let mut parts = host.split('.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("sqs"), Some(region), Some("amazonaws")) => Some(region.to_owned()),
            _ => None,
        }
    }

    /// The queue's name: the last path segment of its URL.
    pub fn queue_name(&self) -> &str {
        queue_name(&self.queue_url)
    }
}

pub(crate) fn queue_name(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

impl From<ConfigError> for SqsError {
    fn from(error: ConfigError) -> Self {
        SqsError::Config(error.to_string())
    }
}

/// Whole seconds for an SQS API parameter, rounded up so that a short delay
/// never becomes "now".
pub(crate) fn ceil_secs(duration: Duration) -> i32 {
    let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn parse(yaml: &str) -> Result<SqsQueueConfig, SqsError> {
        SqsQueueConfig::from_section(&ConfigDocument::from_yaml("test.yml", yaml), "q")
    }

    #[test]
    fn defaults_apply() {
        let config = parse("q:\n  type: sqs\n  queue-url: http://127.0.0.1:5000/123/q\n").unwrap();
        assert_eq!(config, SqsQueueConfig::new("http://127.0.0.1:5000/123/q"));
        assert_eq!(config.wait_time, Duration::from_secs(20));
        assert_eq!(config.batch_size, 10);
        assert_eq!(config.visibility_timeout, Duration::from_secs(30));
        assert!(config.heartbeat);
        assert!(!config.is_fifo());
        assert_eq!(config.effective_region(), None);
        assert_eq!(config.queue_name(), "q");
    }

    #[test]
    fn every_key_is_read() {
        let config = parse(
            "q:\n  type: sqs\n  queue-url: https://sqs.eu-west-1.amazonaws.com/123/ev.fifo\n  region: eu-central-1\n  endpoint-url: http://localhost:4566\n  wait-time: 5s\n  batch-size: 3\n  visibility-timeout: 2m\n  heartbeat: false\n  undecodable-delay: 1h\n  message-group-id: all\n  max-message-size: 1000\n",
        )
        .unwrap();
        assert!(config.is_fifo());
        assert_eq!(config.effective_region().as_deref(), Some("eu-central-1"));
        assert_eq!(config.endpoint_url, "http://localhost:4566");
        assert_eq!(config.wait_time, Duration::from_secs(5));
        assert_eq!(config.batch_size, 3);
        assert_eq!(config.visibility_timeout, Duration::from_secs(120));
        assert!(!config.heartbeat);
        assert_eq!(config.undecodable_delay, Duration::from_secs(3600));
        assert_eq!(config.message_group_id, "all");
        assert_eq!(config.max_message_size, Some(1000));
    }

    #[test]
    fn region_comes_from_an_aws_queue_url() {
        let config = SqsQueueConfig::new("https://sqs.us-east-2.amazonaws.com/123/q");
        assert_eq!(config.effective_region().as_deref(), Some("us-east-2"));
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let error = parse("q:\n  type: sqs\n  queue-url: http://x/1/q\n  wait: 5s\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("wait"), "{error}");
        assert!(error.contains("test.yml:4"), "{error}");
    }

    #[test]
    fn out_of_range_values_say_what_to_write() {
        let cases = [
            ("wait-time: 21s", "at most 20s"),
            ("batch-size: 11", "1 to 10"),
            ("batch-size: 0", "1 to 10"),
            ("visibility-timeout: 13h", "1s to 12h"),
            ("visibility-timeout: 10ms", "1s to 12h"),
            ("wait-time: 20", "has no unit"),
        ];
        for (line, expected) in cases {
            let yaml = format!("q:\n  type: sqs\n  queue-url: http://x/1/q\n  {line}\n");
            let error = parse(&yaml).unwrap_err().to_string();
            assert!(error.contains(expected), "{line}: {error}");
        }
    }

    #[test]
    fn a_queue_name_or_arn_is_not_a_url() {
        let error = parse("q:\n  type: sqs\n  queue-url: arn:aws:sqs:eu-west-1:1:q\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a URL"), "{error}");
    }

    #[test]
    fn other_backends_are_refused() {
        let doc = ConfigDocument::from_yaml("t.yml", "x: 1\n");
        let error = SqsQueueConfig::from_backend(&doc, &BackendRef::in_memory())
            .unwrap_err()
            .to_string();
        assert!(error.contains("type: sqs"), "{error}");
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_millis(200)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(5)), 5);
        assert_eq!(ceil_secs(Duration::from_millis(5001)), 6);
    }
}
