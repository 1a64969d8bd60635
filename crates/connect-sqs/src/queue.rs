//! [`SqsQueue`]: an SQS queue as a connect-core [`Source`] and [`Sink`].

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message as SqsMessage, MessageSystemAttributeName};
use connect_core::QueueError;
use connect_core::queue::{Acker, Delivery, QueueItem, Sink, Source};
use tokio::time::Instant;

use crate::batcher::Settler;
use crate::client::{Outgoing, QueueClient, chunk_batches, client_for};
use crate::config::{DEFAULT_MAX_MESSAGE_SIZE, MAX_VISIBILITY_TIMEOUT, SqsQueueConfig, ceil_secs};
use crate::error::SqsError;
use crate::fifo;
use crate::heartbeat::{self, Heartbeat, Tracker};
use crate::info::QueueInfo;

/// Transport attribute: the SQS message id.
pub const ATTR_MESSAGE_ID: &str = "sqs-message-id";
/// Transport attribute: how many times SQS delivered the message.
pub const ATTR_RECEIVE_COUNT: &str = "sqs-receive-count";
/// Transport attribute: when the message was sent (epoch milliseconds).
pub const ATTR_SENT_TIMESTAMP: &str = "sqs-sent-timestamp";
/// Transport attribute: the FIFO message group id.
pub const ATTR_MESSAGE_GROUP_ID: &str = "sqs-message-group-id";
/// Transport attribute: the FIFO sequence number.
pub const ATTR_SEQUENCE_NUMBER: &str = "sqs-sequence-number";

/// An SQS queue carrying items of type `T` (a connect
/// [`Message`](connect_core::Message) for the event queue, a
/// [`RawPayload`](connect_core::queue::RawPayload) for the CT queue).
///
/// - **receive** long-polls (`WaitTimeSeconds`, the smaller of the caller's
///   wait and `wait-time`) for up to `batch-size` messages; the delivery's
///   receive count is SQS's `ApproximateReceiveCount`, and a
///   `RawPayload`'s attributes carry the transport's (`sqs-message-id`,
///   `sqs-receive-count`, `sqs-sent-timestamp`, FIFO group and sequence
///   number, `sqs-aws-trace-header`, and every string message attribute
///   under its own name; other system attributes are not requested).
/// - **ack** deletes the message. Deletes of many messages are gathered
///   into `DeleteMessageBatch` calls (flushed at 10 entries, or when the
///   oldest has waited `batch-window`); the ack resolves once SQS confirmed
///   the delete.
/// - **nack(delay)** sets the message's visibility timeout to `delay`
///   (whole seconds, rounded up, capped at SQS's 12 hours from receipt), so
///   SQS delivers it again after the delay with a higher receive count.
///   Visibility changes are batched like deletes
///   (`ChangeMessageVisibilityBatch`); `nack(0)` returns a message at once.
/// - **release** (a delivery dropped unsettled) makes the message visible
///   at once, best effort, through the same batches; if the process dies
///   first, it reappears when its visibility timeout passes.
/// - **heartbeat** (on by default): every half visibility timeout, messages
///   still held get their visibility extended, so handlers that outlive the
///   timeout keep their message and nobody else receives it meanwhile.
/// - **send** uses `SendMessage` / `SendMessageBatch` (chunks of 10, within
///   the queue's size limit; a body over the limit is a [`SqsError::TooLarge`]).
///   On a FIFO queue (URL ending in `.fifo`) `MessageGroupId` is the item's
///   [`ordering_key`](QueueItem::ordering_key) (else `message-group-id`) and
///   `MessageDeduplicationId` its [`dedup_id`](QueueItem::dedup_id) (else a
///   SHA-256 of the body).
/// - A body that cannot be **decoded** is logged (without its content) and
///   hidden for `undecodable-delay`; each receive counts towards the queue's
///   redrive policy, so SQS moves it to the queue's dead-letter queue after
///   `maxReceiveCount` receives. Without a redrive policy it comes back
///   every `undecodable-delay` until it expires with the retention period.
///
/// A receive that is cancelled while SQS is answering (a shutdown racing a
/// long poll) may leave the messages of that answer hidden until their
/// visibility timeout passes; they are then delivered again, nothing is lost.
///
/// Clones share the client, the settlement batcher and the heartbeat.
///
/// ```no_run
/// use std::time::Duration;
/// use connect_core::Message;
/// use connect_core::queue::{Sink, Source};
/// use connect_sqs::{SqsQueue, SqsQueueConfig};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = SqsQueueConfig::new("https://sqs.eu-west-1.amazonaws.com/123456789012/events");
/// let queue: SqsQueue<Message> = SqsQueue::connect(&config).await?;
/// queue.send(Message::new("demo.route")).await?;
/// for delivery in queue.receive(10, Duration::from_secs(20)).await? {
///     println!("{}", delivery.item().route);
///     delivery.ack().await?;
/// }
/// # Ok(()) }
/// ```
pub struct SqsQueue<T> {
    shared: Arc<Shared>,
    _item: PhantomData<fn() -> T>,
}

impl<T> Clone for SqsQueue<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            _item: PhantomData,
        }
    }
}

impl<T> fmt::Debug for SqsQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqsQueue")
            .field("queue_url", &self.shared.client.url)
            .field("fifo", &self.shared.fifo)
            .field(
                "held",
                &self.shared.tracker.as_ref().map_or(0, Tracker::len),
            )
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    client: QueueClient,
    config: SqsQueueConfig,
    fifo: bool,
    max_message_size: AtomicUsize,
    settler: Settler,
    tracker: Option<Tracker>,
}

impl Heartbeat for Shared {
    fn tracker(&self) -> Option<&Tracker> {
        self.tracker.as_ref()
    }
    fn queue_client(&self) -> &QueueClient {
        &self.client
    }
}

impl<T: QueueItem> SqsQueue<T> {
    /// Connects with the standard AWS credentials chain, the block's
    /// `region` and `endpoint-url`, then reads the queue's attributes: a
    /// missing queue or a missing permission fails here, with what to do.
    pub async fn connect(config: &SqsQueueConfig) -> Result<Self, SqsError> {
        config.validate().map_err(SqsError::Config)?;
        Self::connect_with(client_for(config).await?, config).await
    }

    /// Like [`connect`](Self::connect) with a client the caller built (see
    /// [`client_from_loader`](crate::client_from_loader)): checks the queue
    /// and reads its size limit and redrive policy.
    pub async fn connect_with(client: Client, config: &SqsQueueConfig) -> Result<Self, SqsError> {
        let queue = Self::from_client(client, config)?;
        let info = queue.info().await?;
        match &info.redrive_policy {
            Some(policy) => tracing::info!(
                queue = %queue.name(),
                fifo = queue.is_fifo(),
                max_receive_count = policy.max_receive_count,
                dead_letter_queue = %policy.dead_letter_target_arn,
                "connected to SQS queue"
            ),
            None => tracing::info!(
                queue = %queue.name(),
                fifo = queue.is_fifo(),
                "connected to SQS queue (no redrive policy: messages that can never be received successfully stay until the retention period ends)"
            ),
        }
        Ok(queue)
    }

    /// Uses `client` (built by the caller, e.g. with explicit credentials)
    /// for the queue in `config`. Must be called inside a tokio runtime: it
    /// starts the settlement batcher and the heartbeat. The size limit is
    /// `max-message-size`, else 256 KiB until [`info`](Self::info) reads the
    /// queue's own.
    pub fn from_client(client: Client, config: &SqsQueueConfig) -> Result<Self, SqsError> {
        config.validate().map_err(SqsError::Config)?;
        let handle = tokio::runtime::Handle::try_current().map_err(|_| SqsError::NoRuntime)?;
        let client = QueueClient::new(client, config.queue_url.trim());
        let shared = Arc::new(Shared {
            settler: Settler::spawn(client.clone(), config.batch_window, &handle),
            tracker: config
                .heartbeat
                .then(|| Tracker::new(config.visibility_timeout)),
            client,
            fifo: config.is_fifo(),
            max_message_size: AtomicUsize::new(
                config.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE),
            ),
            config: config.clone(),
        });
        if let Some(tracker) = &shared.tracker {
            let weak: Weak<Shared> = Arc::downgrade(&shared);
            handle.spawn(heartbeat::run(weak, tracker.period()));
        }
        Ok(Self {
            shared,
            _item: PhantomData,
        })
    }

    /// The queue URL.
    pub fn queue_url(&self) -> &str {
        &self.shared.client.url
    }

    /// The queue name (for logs).
    pub fn name(&self) -> &str {
        &self.shared.client.name
    }

    /// `true` for a FIFO queue.
    pub fn is_fifo(&self) -> bool {
        self.shared.fifo
    }

    /// The configuration this queue was built from.
    pub fn config(&self) -> &SqsQueueConfig {
        &self.shared.config
    }

    /// The SQS client.
    pub fn client(&self) -> &Client {
        &self.shared.client.client
    }

    /// Messages received and not yet settled that the heartbeat keeps
    /// invisible (0 when the heartbeat is off).
    pub fn held(&self) -> usize {
        self.shared.tracker.as_ref().map_or(0, Tracker::len)
    }

    /// The largest body [`send`](Sink::send) accepts, in bytes.
    pub fn max_message_size(&self) -> usize {
        self.shared.max_message_size.load(Ordering::Relaxed)
    }

    /// Reads the queue's attributes: message counts, limits and the redrive
    /// policy. Also adopts the queue's `MaximumMessageSize` as the send
    /// limit unless `max-message-size` is configured.
    pub async fn info(&self) -> Result<QueueInfo, SqsError> {
        let info = QueueInfo::from_attributes(self.shared.client.attributes().await?);
        if self.shared.config.max_message_size.is_none()
            && let Some(size) = info.max_message_size
        {
            self.shared.max_message_size.store(size, Ordering::Relaxed);
        }
        Ok(info)
    }

    /// The queue's redrive policy `maxReceiveCount`: after that many
    /// receives SQS moves a message to the queue's dead-letter queue.
    /// `None` when the queue has no redrive policy. A runner should warn
    /// when `runtime.max-attempts` is larger: SQS would move a message away
    /// before the runtime's last attempt.
    pub async fn max_receive_count(&self) -> Result<Option<u32>, SqsError> {
        Ok(self
            .info()
            .await?
            .redrive_policy
            .map(|p| p.max_receive_count))
    }

    /// Hides undecodable messages for `undecodable-delay`, best effort.
    async fn hide_undecodable(&self, receipts: &[String]) {
        let secs = ceil_secs(self.shared.config.undecodable_delay);
        let entries: Vec<(&str, i32)> = receipts.iter().map(|r| (r.as_str(), secs)).collect();
        for chunk in entries.chunks(10) {
            let failed = match self.shared.client.change_visibility_batch(chunk).await {
                Ok(results) => results.into_iter().filter_map(Result::err).next(),
                Err(error) => Some(error),
            };
            if let Some(error) = failed {
                tracing::warn!(queue = %self.name(), %error, "cannot hide an undecodable message; it reappears after its visibility timeout");
            }
        }
    }

    fn outgoing(&self, item: &T) -> Result<Outgoing, SqsError> {
        let body = item.encode().map_err(|e| SqsError::Codec {
            queue: self.name().to_owned(),
            message: e.to_string(),
        })?;
        let limit = self.max_message_size();
        if body.len() > limit {
            return Err(SqsError::TooLarge {
                queue: self.name().to_owned(),
                size: body.len(),
                limit,
            });
        }
        let (group_id, dedup_id) = if self.shared.fifo {
            (
                Some(fifo::group_id(
                    item.ordering_key(),
                    &self.shared.config.message_group_id,
                )),
                Some(fifo::dedup_id(item.dedup_id(), &body)),
            )
        } else {
            (None, None)
        };
        Ok(Outgoing {
            body,
            group_id,
            dedup_id,
        })
    }

    fn delivery(
        &self,
        message: SqsMessage,
        received_at: Instant,
        undecodable: &mut Vec<String>,
    ) -> Option<Delivery<T>> {
        let Some(receipt) = message.receipt_handle else {
            tracing::warn!(queue = %self.name(), "SQS returned a message without a receipt handle; skipping it");
            return None;
        };
        let message_id = message.message_id.unwrap_or_default();
        let system = message.attributes.unwrap_or_default();
        let receive_count = system
            .get(&MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(1)
            .max(1);
        let mut attributes = BTreeMap::new();
        for (name, value) in message.message_attributes.unwrap_or_default() {
            if let Some(text) = value.string_value {
                attributes.insert(name, text);
            }
        }
        for (name, value) in system {
            attributes.insert(system_attribute_key(&name), value);
        }
        attributes.insert(ATTR_MESSAGE_ID.to_owned(), message_id.clone());
        attributes.insert(ATTR_RECEIVE_COUNT.to_owned(), receive_count.to_string());
        let body = message.body.unwrap_or_default();
        let body_len = body.len();
        match T::decode(body, attributes) {
            Ok(item) => {
                let tracked = self
                    .shared
                    .tracker
                    .as_ref()
                    .map(|t| t.track(&receipt, received_at));
                Some(Delivery::new(
                    item,
                    receive_count,
                    Box::new(SqsAcker {
                        shared: Arc::clone(&self.shared),
                        receipt,
                        tracked,
                        received_at,
                    }),
                ))
            }
            Err(error) => {
                let delay = self.shared.config.undecodable_delay;
                tracing::error!(
                    queue = %self.name(),
                    message_id = %message_id,
                    receive_count,
                    body_bytes = body_len,
                    %error,
                    ?delay,
                    "cannot decode a message body; hiding it for undecodable-delay, after the queue's maxReceiveCount SQS moves it to its dead-letter queue"
                );
                undecodable.push(receipt);
                None
            }
        }
    }
}

/// The attribute key of an SQS system attribute: `sqs-` plus kebab case.
fn system_attribute_key(name: &MessageSystemAttributeName) -> String {
    let known = match name {
        MessageSystemAttributeName::ApproximateReceiveCount => Some(ATTR_RECEIVE_COUNT),
        MessageSystemAttributeName::SentTimestamp => Some(ATTR_SENT_TIMESTAMP),
        MessageSystemAttributeName::MessageGroupId => Some(ATTR_MESSAGE_GROUP_ID),
        MessageSystemAttributeName::SequenceNumber => Some(ATTR_SEQUENCE_NUMBER),
        MessageSystemAttributeName::AwsTraceHeader => Some("sqs-aws-trace-header"),
        _ => None,
    };
    if let Some(key) = known {
        return key.to_owned();
    }
    let mut key = String::from("sqs");
    for c in name.as_str().chars() {
        if c.is_ascii_uppercase() {
            key.push('-');
            key.push(c.to_ascii_lowercase());
        } else {
            key.push(c);
        }
    }
    key
}

#[async_trait]
impl<T: QueueItem> Source<T> for SqsQueue<T> {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery<T>>, QueueError> {
        let config = &self.shared.config;
        let max = max.clamp(1, config.batch_size);
        let wait_secs = i32::try_from(wait.min(config.wait_time).as_secs()).unwrap_or(20);
        let visibility = ceil_secs(config.visibility_timeout);
        let received_at = Instant::now();
        let messages = self
            .shared
            .client
            .receive(max, wait_secs, visibility)
            .await?;
        let mut undecodable = Vec::new();
        let deliveries = messages
            .into_iter()
            .filter_map(|m| self.delivery(m, received_at, &mut undecodable))
            .collect();
        if !undecodable.is_empty() {
            self.hide_undecodable(&undecodable).await;
        }
        Ok(deliveries)
    }
}

#[async_trait]
impl<T: QueueItem> Sink<T> for SqsQueue<T> {
    async fn send(&self, item: T) -> Result<(), QueueError> {
        let message = self.outgoing(&item)?;
        self.shared.client.send(&message).await?;
        Ok(())
    }

    async fn send_batch(&self, items: Vec<T>) -> Result<(), QueueError> {
        let messages = items
            .iter()
            .map(|item| self.outgoing(item))
            .collect::<Result<Vec<_>, _>>()?;
        if let [message] = messages.as_slice() {
            self.shared.client.send(message).await?;
            return Ok(());
        }
        for chunk in chunk_batches(&messages, self.max_message_size()) {
            self.shared.client.send_batch(chunk).await?;
        }
        Ok(())
    }

    fn is_durable(&self) -> bool {
        true
    }
}

struct SqsAcker {
    shared: Arc<Shared>,
    receipt: String,
    tracked: Option<u64>,
    received_at: Instant,
}

impl SqsAcker {
    /// The visibility for a redelivery after `delay`, within SQS's 12 hours
    /// from receipt.
    fn delay_secs(&self, delay: Duration) -> i32 {
        let left = MAX_VISIBILITY_TIMEOUT.saturating_sub(self.received_at.elapsed());
        let cap = i32::try_from(left.as_secs().saturating_sub(1)).unwrap_or(0);
        ceil_secs(delay).min(cap).max(0)
    }
}

#[async_trait]
impl<T: Send + 'static> Acker<T> for SqsAcker {
    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        if let (Some(tracker), Some(id)) = (&self.shared.tracker, self.tracked) {
            tracker.untrack(id);
        }
        self.shared.settler.delete(self.receipt).await?;
        Ok(())
    }

    async fn nack(self: Box<Self>, _item: T, delay: Duration) -> Result<(), QueueError> {
        if let (Some(tracker), Some(id)) = (&self.shared.tracker, self.tracked) {
            tracker.untrack_and_settle(id).await;
        }
        let secs = self.delay_secs(delay);
        self.shared
            .settler
            .change_visibility(self.receipt, secs)
            .await?;
        Ok(())
    }

    fn release(self: Box<Self>, _item: T) {
        if let (Some(tracker), Some(id)) = (&self.shared.tracker, self.tracked) {
            tracker.untrack(id);
        }
        self.shared.settler.change_visibility_later(self.receipt, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_attributes_get_sqs_prefixed_kebab_keys() {
        assert_eq!(
            system_attribute_key(&MessageSystemAttributeName::ApproximateReceiveCount),
            ATTR_RECEIVE_COUNT
        );
        assert_eq!(
            system_attribute_key(&MessageSystemAttributeName::MessageDeduplicationId),
            "sqs-message-deduplication-id"
        );
        assert_eq!(
            system_attribute_key(&MessageSystemAttributeName::ApproximateFirstReceiveTimestamp),
            "sqs-approximate-first-receive-timestamp"
        );
        assert_eq!(
            system_attribute_key(&MessageSystemAttributeName::AwsTraceHeader),
            "sqs-aws-trace-header"
        );
    }
}
