//! [`SqsDeadLetters`]: a connect-core [`DeadLetterStore`] kept in an SQS
//! queue.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message as SqsMessage, MessageSystemAttributeName};
use chrono::{DateTime, Utc};
use connect_core::Message;
use connect_core::dead_letter::{DeadLetter, DeadLetterError, DeadLetterStore, FailureKind};

use crate::client::{Outgoing, QueueClient, client_for};
use crate::config::{DEFAULT_MAX_MESSAGE_SIZE, SqsQueueConfig, ceil_secs};
use crate::error::SqsError;
use crate::fifo;
use crate::info::QueueInfo;

/// Receives made by one scan at most (100 000 messages).
const MAX_SCAN_RECEIVES: usize = 10_000;

/// Dead letters kept as JSON messages in an SQS queue
/// (`runtime.dead-letter: { type: sqs, queue-url: ... }`).
///
/// - **put** sends the [`DeadLetter`] as JSON (on a FIFO queue each letter
///   is its own message group, deduplicated by its id).
/// - **list** receives every message (hiding each for `visibility-timeout`
///   while the scan runs), then makes them all visible again.
/// - **remove** deletes the letters with the given ids: through the receipt
///   handles of the latest scan when it has them (so `list` then `replay`
///   costs one scan), else by scanning again; the others are made visible.
///
/// The queue may also be the **dead-letter queue of a redrive policy**: a
/// message SQS moved there after `maxReceiveCount` receives is not a
/// `DeadLetter` but the original body. It is listed as a dead letter of
/// kind `attempts-exhausted` with the id `sqs-<message id>`, holding the
/// connect message (when the body is one) or the raw payload, so `connect
/// dead-letters list|replay` shows and replays both kinds.
///
/// Listing and removing receive messages, so they count towards the
/// store queue's *own* redrive policy: give the store queue none (or a
/// high `maxReceiveCount`), and run one `list`/`replay` at a time (a
/// concurrent scan hides the messages it holds from the other one). A FIFO
/// dead-letter queue filled by a redrive policy keeps the original message
/// groups, and SQS hands out one batch per group at a time: a scan then
/// sees only the first messages of each group.
pub struct SqsDeadLetters {
    client: QueueClient,
    config: SqsQueueConfig,
    fifo: bool,
    max_message_size: AtomicUsize,
    /// Letter id → receipt handle, from the latest scan.
    receipts: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for SqsDeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsDeadLetters")
            .field("queue_url", &self.client.url)
            .field("fifo", &self.fifo)
            .finish_non_exhaustive()
    }
}

/// One message received by a scan.
struct Scanned {
    receipt: String,
    letter: DeadLetter,
}

impl SqsDeadLetters {
    /// Connects with the standard AWS chain and checks the queue; warns
    /// when the store queue has a redrive policy of its own.
    pub async fn connect(config: &SqsQueueConfig) -> Result<Self, SqsError> {
        config.validate().map_err(SqsError::Config)?;
        Self::connect_with(client_for(config).await?, config).await
    }

    /// Like [`connect`](Self::connect) with a client the caller built.
    pub async fn connect_with(client: Client, config: &SqsQueueConfig) -> Result<Self, SqsError> {
        let store = Self::from_client(client, config)?;
        let info = store.info().await?;
        if let Some(policy) = info.redrive_policy {
            tracing::warn!(
                queue = %store.client.name,
                max_receive_count = policy.max_receive_count,
                "the dead-letter store queue has a redrive policy: listing dead letters counts as receives, so SQS may move them away; remove the policy from this queue"
            );
        }
        Ok(store)
    }

    /// Uses `client` for the queue in `config`.
    pub fn from_client(client: Client, config: &SqsQueueConfig) -> Result<Self, SqsError> {
        config.validate().map_err(SqsError::Config)?;
        Ok(Self {
            client: QueueClient::new(client, config.queue_url.trim()),
            fifo: config.is_fifo(),
            max_message_size: AtomicUsize::new(
                config.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE),
            ),
            config: config.clone(),
            receipts: Mutex::new(HashMap::new()),
        })
    }

    /// The queue URL.
    pub fn queue_url(&self) -> &str {
        &self.client.url
    }

    /// Reads the queue's attributes (and adopts its size limit).
    pub async fn info(&self) -> Result<QueueInfo, SqsError> {
        let info = QueueInfo::from_attributes(self.client.attributes().await?);
        if self.config.max_message_size.is_none()
            && let Some(size) = info.max_message_size
        {
            self.max_message_size.store(size, Ordering::Relaxed);
        }
        Ok(info)
    }

    fn remember(&self, scanned: &[Scanned]) {
        let mut receipts = self.receipts.lock().unwrap_or_else(PoisonError::into_inner);
        receipts.clear();
        receipts.extend(
            scanned
                .iter()
                .map(|s| (s.letter.id.clone(), s.receipt.clone())),
        );
    }

    /// Receives every visible message, stopping early once `enough` holds.
    /// On an error, releases what it holds before returning.
    async fn scan(&self, enough: impl Fn(&[Scanned]) -> bool) -> Result<Vec<Scanned>, SqsError> {
        let visibility = ceil_secs(self.config.visibility_timeout);
        let mut scanned: Vec<Scanned> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for _ in 0..MAX_SCAN_RECEIVES {
            if enough(&scanned) {
                return Ok(scanned);
            }
            let batch = match self.client.receive(10, 1, visibility).await {
                Ok(batch) => batch,
                Err(error) => {
                    self.release(scanned.iter().map(|s| s.receipt.as_str()))
                        .await;
                    return Err(error);
                }
            };
            if batch.is_empty() {
                return Ok(scanned);
            }
            for message in batch {
                let Some(receipt) = message.receipt_handle.clone() else {
                    continue;
                };
                let message_id = message.message_id.clone().unwrap_or_default();
                if !seen.insert(message_id.clone()) {
                    // Received again: the scan outlived the visibility
                    // timeout. Keep the newest receipt handle.
                    if let Some(known) = scanned
                        .iter_mut()
                        .find(|s| s.letter.id == letter_id_hint(&message, &message_id))
                    {
                        known.receipt = receipt;
                    }
                    continue;
                }
                scanned.push(Scanned {
                    receipt,
                    letter: letter_from(message, &message_id),
                });
            }
        }
        tracing::warn!(
            queue = %self.client.name,
            scanned = scanned.len(),
            "the dead-letter queue holds more messages than one scan reads; listing the first ones"
        );
        Ok(scanned)
    }

    /// Makes messages visible again, best effort.
    async fn release<'a>(&self, receipts: impl Iterator<Item = &'a str>) {
        let entries: Vec<(&str, i32)> = receipts.map(|r| (r, 0)).collect();
        for chunk in entries.chunks(10) {
            let failed = match self.client.change_visibility_batch(chunk).await {
                Ok(results) => results.into_iter().filter_map(Result::err).next(),
                Err(error) => Some(error),
            };
            if let Some(error) = failed {
                tracing::warn!(queue = %self.client.name, %error, "cannot make dead letters visible again; they reappear after the visibility timeout");
            }
        }
    }

    /// Deletes messages; returns the letter ids deleted.
    async fn delete(&self, targets: &[(String, String)]) -> Result<Vec<String>, SqsError> {
        let mut deleted = Vec::new();
        for chunk in targets.chunks(10) {
            let receipts: Vec<&str> = chunk.iter().map(|(_, r)| r.as_str()).collect();
            let results = self.client.delete_batch(&receipts).await?;
            for ((id, _), result) in chunk.iter().zip(results) {
                match result {
                    Ok(()) => deleted.push(id.clone()),
                    Err(error) => {
                        tracing::debug!(letter = %id, %error, "cannot delete with a remembered receipt handle; scanning");
                    }
                }
            }
        }
        Ok(deleted)
    }
}

/// The letter id a message would get (cheap path for duplicates in a scan).
fn letter_id_hint(message: &SqsMessage, message_id: &str) -> String {
    message
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<DeadLetter>(b).ok())
        .map_or_else(|| format!("sqs-{message_id}"), |l| l.id)
}

/// A received message as a dead letter: a stored [`DeadLetter`] as is; a
/// message moved here by a redrive policy as an `attempts-exhausted`
/// letter.
fn letter_from(message: SqsMessage, message_id: &str) -> DeadLetter {
    let body = message.body.unwrap_or_default();
    if let Ok(letter) = serde_json::from_str::<DeadLetter>(&body) {
        return letter;
    }
    let attributes = message.attributes.unwrap_or_default();
    let receive_count = attributes
        .get(&MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1);
    let sent_at = attributes
        .get(&MessageSystemAttributeName::SentTimestamp)
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .unwrap_or_else(Utc::now);
    let source = attributes
        .get(&MessageSystemAttributeName::DeadLetterQueueSourceArn)
        .map_or_else(|| "its source queue".to_owned(), |arn| format!("`{arn}`"));
    let error = format!(
        "moved here by the redrive policy of {source} after {receive_count} receives without success"
    );
    let id = format!("sqs-{message_id}");
    match serde_json::from_str::<Message>(&body) {
        Ok(message) => DeadLetter {
            id,
            kind: FailureKind::AttemptsExhausted,
            error,
            route: Some(message.route.clone()),
            handler: None,
            attempts: receive_count,
            first_seen_at: Some(message.created_at),
            message: Some(message),
            raw: None,
            dead_lettered_at: sent_at,
        },
        Err(_) => DeadLetter {
            id,
            kind: FailureKind::AttemptsExhausted,
            error,
            message: None,
            raw: Some(body),
            route: None,
            handler: None,
            attempts: receive_count,
            first_seen_at: Some(sent_at),
            dead_lettered_at: sent_at,
        },
    }
}

#[async_trait]
impl DeadLetterStore for SqsDeadLetters {
    async fn put(&self, letter: DeadLetter) -> Result<(), DeadLetterError> {
        let body = serde_json::to_string(&letter)
            .map_err(|e| DeadLetterError::new("cannot encode the dead letter as JSON", e))?;
        let limit = self.max_message_size.load(Ordering::Relaxed);
        if body.len() > limit {
            return Err(SqsError::TooLarge {
                queue: self.client.name.clone(),
                size: body.len(),
                limit,
            }
            .into());
        }
        let (group_id, dedup_id) = if self.fifo {
            let id = fifo::normalize_id(&letter.id);
            (Some(id.clone()), Some(id))
        } else {
            (None, None)
        };
        self.client
            .send(&Outgoing {
                body,
                group_id,
                dedup_id,
            })
            .await?;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let scanned = self.scan(|_| false).await?;
        self.release(scanned.iter().map(|s| s.receipt.as_str()))
            .await;
        self.remember(&scanned);
        let mut letters: Vec<DeadLetter> = scanned.into_iter().map(|s| s.letter).collect();
        letters.sort_by_key(|l| l.dead_lettered_at);
        Ok(letters)
    }

    async fn remove(&self, ids: &[String]) -> Result<usize, DeadLetterError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        // First through the receipt handles of the latest scan.
        let remembered: Vec<(String, String)> = {
            let receipts = self.receipts.lock().unwrap_or_else(PoisonError::into_inner);
            wanted
                .iter()
                .filter_map(|id| receipts.get(*id).map(|r| ((*id).to_owned(), r.clone())))
                .collect()
        };
        let mut removed: HashSet<String> = self.delete(&remembered).await?.into_iter().collect();
        {
            let mut receipts = self.receipts.lock().unwrap_or_else(PoisonError::into_inner);
            for id in &removed {
                receipts.remove(id);
            }
        }
        let missing: HashSet<&str> = wanted
            .iter()
            .copied()
            .filter(|id| !removed.contains(*id))
            .collect();
        if missing.is_empty() {
            return Ok(removed.len());
        }
        // Then by scanning, stopping once every missing letter is held.
        let scanned = self
            .scan(|held| {
                let found = held
                    .iter()
                    .filter(|s| missing.contains(s.letter.id.as_str()))
                    .count();
                found == missing.len()
            })
            .await?;
        let (targets, others): (Vec<&Scanned>, Vec<&Scanned>) = scanned
            .iter()
            .partition(|s| missing.contains(s.letter.id.as_str()));
        self.release(others.iter().map(|s| s.receipt.as_str()))
            .await;
        let targets: Vec<(String, String)> = targets
            .iter()
            .map(|s| (s.letter.id.clone(), s.receipt.clone()))
            .collect();
        match self.delete(&targets).await {
            Ok(deleted) => removed.extend(deleted),
            Err(error) => {
                self.release(targets.iter().map(|(_, r)| r.as_str())).await;
                return Err(error.into());
            }
        }
        Ok(removed.len())
    }
}
