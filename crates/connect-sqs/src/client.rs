//! Thin wrappers over the SQS API calls this crate makes, with errors that
//! name the queue and say what to do, and batch results per entry.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::Region;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry,
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};

use connect_core::runtime::Backoff;

use crate::config::{SqsQueueConfig, queue_name};
use crate::error::SqsError;

/// The wait before the first resend of failed batch entries; it doubles
/// per round.
const RESEND_BACKOFF: Duration = Duration::from_millis(100);
/// Rounds of a batch send: the first one and two resends.
const SEND_ROUNDS: u32 = 3;

/// Builds an SQS client from the standard AWS chain (credentials, region)
/// plus the block's `region` and `endpoint-url`.
pub async fn client_for(config: &SqsQueueConfig) -> Result<Client, SqsError> {
    client_from_loader(config, aws_config::defaults(BehaviorVersion::latest())).await
}

/// Like [`client_for`], starting from a loader the caller prepared (for
/// example with explicit credentials or a profile):
///
/// ```no_run
/// use aws_config::BehaviorVersion;
/// use connect_sqs::aws_sdk_sqs::config::Credentials;
/// use connect_sqs::{SqsQueueConfig, client_from_loader};
///
/// # async fn run() -> Result<(), connect_sqs::SqsError> {
/// let config = SqsQueueConfig::new("http://127.0.0.1:4566/000000000000/ct-events")
///     .with_region("us-east-1")
///     .with_endpoint_url("http://127.0.0.1:4566");
/// let loader = aws_config::defaults(BehaviorVersion::latest())
///     .credentials_provider(Credentials::new("testing", "testing", None, None, "local"));
/// let client = client_from_loader(&config, loader).await?;
/// # let _ = client; Ok(()) }
/// ```
pub async fn client_from_loader(
    config: &SqsQueueConfig,
    mut loader: aws_config::ConfigLoader,
) -> Result<Client, SqsError> {
    if let Some(region) = config.effective_region() {
        loader = loader.region(Region::new(region));
    }
    if !config.endpoint_url.trim().is_empty() {
        loader = loader.endpoint_url(config.endpoint_url.trim());
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        return Err(SqsError::Config(format!(
            "no AWS region for queue `{}`: set `region:` in the queue block or the AWS_REGION environment variable",
            config.queue_name()
        )));
    }
    Ok(Client::new(&sdk))
}

/// One body to send, with its FIFO ids.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) body: String,
    pub(crate) group_id: Option<String>,
    pub(crate) dedup_id: Option<String>,
}

/// The outcome of one entry of a batch call.
pub(crate) type EntryResult = Result<(), SqsError>;

/// A client bound to one queue.
#[derive(Clone)]
pub(crate) struct QueueClient {
    pub(crate) client: Client,
    pub(crate) url: String,
    pub(crate) name: String,
}

impl std::fmt::Debug for QueueClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl QueueClient {
    pub(crate) fn new(client: Client, url: &str) -> Self {
        Self {
            client,
            url: url.to_owned(),
            name: queue_name(url).to_owned(),
        }
    }

    // By value so that it fits `map_err(|e| self.api(..., e))`.
    #[allow(clippy::needless_pass_by_value)]
    fn api<E, R>(
        &self,
        operation: &'static str,
        error: aws_sdk_sqs::error::SdkError<E, R>,
    ) -> SqsError
    where
        E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        SqsError::api(operation, &self.name, &error)
    }

    fn entry_error(&self, operation: &'static str, failure: &BatchResultErrorEntry) -> SqsError {
        SqsError::Batch {
            operation,
            queue: self.name.clone(),
            failed: 1,
            total: 1,
            details: format!(
                "{}: {}",
                failure.code(),
                failure.message().unwrap_or("no message")
            ),
            retryable: !failure.sender_fault(),
        }
    }

    /// Receives up to `max` (1..=10) messages, waiting up to `wait_secs`,
    /// hiding them for `visibility_secs`.
    pub(crate) async fn receive(
        &self,
        max: usize,
        wait_secs: i32,
        visibility_secs: i32,
    ) -> Result<Vec<Message>, SqsError> {
        let max = i32::try_from(max.clamp(1, 10)).unwrap_or(10);
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_secs.clamp(0, 20))
            .visibility_timeout(visibility_secs)
            // Only the system attributes the connector reads: asking for
            // all of them makes every answer (and its parsing) larger.
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::MessageDeduplicationId)
            .message_system_attribute_names(MessageSystemAttributeName::SequenceNumber)
            .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| self.api("ReceiveMessage", e))?;
        Ok(output.messages.unwrap_or_default())
    }

    pub(crate) async fn change_visibility(&self, receipt: &str, secs: i32) -> Result<(), SqsError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(|e| self.api("ChangeMessageVisibility", e))?;
        Ok(())
    }

    /// Changes the visibility of up to 10 messages; one result per entry,
    /// in order.
    pub(crate) async fn change_visibility_batch(
        &self,
        entries: &[(&str, i32)],
    ) -> Result<Vec<EntryResult>, SqsError> {
        let mut request = Vec::with_capacity(entries.len());
        for (index, (receipt, secs)) in entries.iter().enumerate() {
            request.push(
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(*receipt)
                    .visibility_timeout(*secs)
                    .build()
                    .map_err(|e| {
                        SqsError::Config(format!("cannot build a visibility change: {e}"))
                    })?,
            );
        }
        let output = self
            .client
            .change_message_visibility_batch()
            .queue_url(&self.url)
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| self.api("ChangeMessageVisibilityBatch", e))?;
        Ok(self.per_entry(
            "ChangeMessageVisibilityBatch",
            entries.len(),
            output.failed(),
        ))
    }

    /// Deletes up to 10 messages; one result per entry, in order.
    pub(crate) async fn delete_batch(
        &self,
        receipts: &[&str],
    ) -> Result<Vec<EntryResult>, SqsError> {
        let mut request = Vec::with_capacity(receipts.len());
        for (index, receipt) in receipts.iter().enumerate() {
            request.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(*receipt)
                    .build()
                    .map_err(|e| SqsError::Config(format!("cannot build a delete: {e}")))?,
            );
        }
        let output = self
            .client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| self.api("DeleteMessageBatch", e))?;
        Ok(self.per_entry("DeleteMessageBatch", receipts.len(), output.failed()))
    }

    pub(crate) async fn delete(&self, receipt: &str) -> Result<(), SqsError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| self.api("DeleteMessage", e))?;
        Ok(())
    }

    fn per_entry(
        &self,
        operation: &'static str,
        len: usize,
        failed: &[BatchResultErrorEntry],
    ) -> Vec<EntryResult> {
        let failed: HashMap<&str, &BatchResultErrorEntry> =
            failed.iter().map(|f| (f.id(), f)).collect();
        (0..len)
            .map(|index| match failed.get(index.to_string().as_str()) {
                Some(failure) => Err(self.entry_error(operation, failure)),
                None => Ok(()),
            })
            .collect()
    }

    pub(crate) async fn send(&self, message: &Outgoing) -> Result<(), SqsError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(&message.body)
            .set_message_group_id(message.group_id.clone())
            .set_message_deduplication_id(message.dedup_id.clone())
            .send()
            .await
            .map_err(|e| self.api("SendMessage", e))?;
        Ok(())
    }

    /// Sends up to 10 messages in one call. Entries that fail for a
    /// transient reason are sent again (up to three rounds); an entry SQS
    /// refuses (sender fault) fails the call at once.
    pub(crate) async fn send_batch(&self, messages: &[Outgoing]) -> Result<(), SqsError> {
        let mut pending: Vec<usize> = (0..messages.len()).collect();
        let mut round = 0u32;
        let backoff = Backoff::doubling(RESEND_BACKOFF, RESEND_BACKOFF * SEND_ROUNDS);
        loop {
            let mut request = Vec::with_capacity(pending.len());
            for &index in &pending {
                let message = &messages[index];
                request.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .message_body(&message.body)
                        .set_message_group_id(message.group_id.clone())
                        .set_message_deduplication_id(message.dedup_id.clone())
                        .build()
                        .map_err(|e| SqsError::Config(format!("cannot build a send: {e}")))?,
                );
            }
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(request))
                .send()
                .await
                .map_err(|e| self.api("SendMessageBatch", e))?;
            let failed = output.failed();
            if failed.is_empty() {
                return Ok(());
            }
            let details = failed
                .iter()
                .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or("no message")))
                .collect::<Vec<_>>()
                .join("; ");
            let sender_fault = failed.iter().any(BatchResultErrorEntry::sender_fault);
            round += 1;
            if sender_fault || round >= SEND_ROUNDS {
                return Err(SqsError::Batch {
                    operation: "SendMessageBatch",
                    queue: self.name.clone(),
                    failed: failed.len(),
                    total: messages.len(),
                    details,
                    retryable: !sender_fault,
                });
            }
            tracing::debug!(queue = %self.name, failed = failed.len(), %details, "resending failed batch entries");
            pending = failed.iter().filter_map(|f| f.id().parse().ok()).collect();
            tokio::time::sleep(backoff.delay(round, None)).await;
        }
    }

    pub(crate) async fn attributes(&self) -> Result<BTreeMap<String, String>, SqsError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| self.api("GetQueueAttributes", e))?;
        Ok(output
            .attributes
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_owned(), v))
            .collect())
    }
}

/// Splits `messages` into SQS batches: at most 10 entries and at most
/// `max_bytes` of bodies each.
pub(crate) fn chunk_batches(messages: &[Outgoing], max_bytes: usize) -> Vec<&[Outgoing]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, message) in messages.iter().enumerate() {
        let len = message.body.len();
        if index > start && (index - start == 10 || bytes + len > max_bytes) {
            chunks.push(&messages[start..index]);
            start = index;
            bytes = 0;
        }
        bytes += len;
    }
    if start < messages.len() {
        chunks.push(&messages[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(len: usize) -> Outgoing {
        Outgoing {
            body: "x".repeat(len),
            group_id: None,
            dedup_id: None,
        }
    }

    #[test]
    fn batches_hold_ten_entries_at_most() {
        let messages: Vec<_> = (0..23).map(|_| out(1)).collect();
        let sizes: Vec<usize> = chunk_batches(&messages, 1000)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(sizes, [10, 10, 3]);
    }

    #[test]
    fn batches_respect_the_byte_limit() {
        let messages = [out(60), out(60), out(30), out(100)];
        let sizes: Vec<usize> = chunk_batches(&messages, 100)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(sizes, [1, 2, 1]);
        assert!(chunk_batches(&[], 100).is_empty());
    }
}
