//! The dead-letter store: messages that failed for good, with why, how often
//! and when, ready to be listed and replayed.

mod file;
mod memory;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{BoxError, QueueError};
use crate::message::Message;
use crate::queue::{Delivery, MemoryQueue, RawPayload, Sink, Source};
use crate::translate::{Translate, Translation};

/// The dependency named (in [`Health`](crate::runtime::Health) and logs)
/// when the dead-letter store cannot be written.
pub const DEAD_LETTERS: &str = "dead-letters";

pub use file::FileDeadLetters;
pub use memory::MemoryDeadLetters;

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The handler said the message can never succeed.
    Unprocessable,
    /// Retryable failures used up every attempt.
    AttemptsExhausted,
    /// The handler panicked.
    Panic,
    /// No route has the message's name.
    Unroutable,
    /// A listener could not understand the raw payload.
    Unparseable,
}

impl FailureKind {
    /// The kebab-case name used in files and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unprocessable => "unprocessable",
            Self::AttemptsExhausted => "attempts-exhausted",
            Self::Panic => "panic",
            Self::Unroutable => "unroutable",
            Self::Unparseable => "unparseable",
        }
    }
}

/// One failed message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// Unique id of the dead letter (for replay and removal).
    pub id: String,
    /// Why it failed.
    pub kind: FailureKind,
    /// The last error, as text.
    pub error: String,
    /// The message, when the failure happened after the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// The raw payload, when a listener could not turn it into a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// The route, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The handler name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// When the message was first created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen_at: Option<DateTime<Utc>>,
    /// When it was dead-lettered.
    pub dead_lettered_at: DateTime<Utc>,
}

impl DeadLetter {
    /// A dead letter for a message that failed in (or before) its handler.
    pub fn for_message(
        message: Message,
        kind: FailureKind,
        error: impl Into<String>,
        attempts: u32,
    ) -> Self {
        Self {
            id: crate::message::new_id(),
            kind,
            error: error.into(),
            route: Some(message.route.clone()),
            handler: None,
            attempts,
            first_seen_at: Some(message.created_at),
            message: Some(message),
            raw: None,
            dead_lettered_at: Utc::now(),
        }
    }

    /// A dead letter for a raw payload a listener could not understand.
    pub fn for_raw(raw: impl Into<String>, error: impl Into<String>) -> Self {
        Self {
            id: crate::message::new_id(),
            kind: FailureKind::Unparseable,
            error: error.into(),
            message: None,
            raw: Some(raw.into()),
            route: None,
            handler: None,
            attempts: 1,
            first_seen_at: None,
            dead_lettered_at: Utc::now(),
        }
    }

    /// Records the handler name.
    #[must_use]
    pub fn with_handler(mut self, handler: impl Into<String>) -> Self {
        self.handler = Some(handler.into());
        self
    }
}

/// An error of a dead-letter store.
#[derive(Debug, thiserror::Error)]
#[error("dead-letter store: {message}")]
pub struct DeadLetterError {
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl DeadLetterError {
    /// An error with a message and its cause.
    pub fn new(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// An error with a message only.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }
}

impl crate::error::Retryability for DeadLetterError {
    fn is_retryable(&self) -> bool {
        true
    }
}

/// Where dead letters are kept.
#[async_trait]
pub trait DeadLetterStore: Send + Sync {
    /// Stores one dead letter durably.
    async fn put(&self, letter: DeadLetter) -> Result<(), DeadLetterError>;
    /// Every stored dead letter, oldest first.
    async fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError>;
    /// Removes the dead letters with these ids; returns how many were removed.
    async fn remove(&self, ids: &[String]) -> Result<usize, DeadLetterError>;

    /// Checks, without storing anything, that dead letters can be stored
    /// (`connect validate`, and every command at startup), so that a store
    /// that cannot be written is found before the first message fails.
    async fn check(&self) -> Result<(), DeadLetterError> {
        Ok(())
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Dead letters whose message was settled again (handled, or
    /// dead-lettered anew), or accepted by a durable event queue; removed
    /// from the store.
    pub replayed: usize,
    /// Raw payloads that are now ignored by the listener (removed).
    pub ignored: usize,
    /// Dead letters that could not be replayed (kept), with why.
    pub failed: Vec<(String, String)>,
    /// Dead letters left in the store because the replay was interrupted.
    pub interrupted: usize,
    /// Replayed messages that were handled here and failed again (they are
    /// back in the store as new dead letters).
    pub failed_again: usize,
}

/// The dead letters a replay will send, read and translated.
#[derive(Debug, Default)]
pub struct ReplayPlan {
    /// Letter id and the message to handle again.
    pub messages: Vec<(String, Message)>,
    /// Letters of raw payloads that translate to nothing now.
    pub ignored: Vec<String>,
    /// Letters that cannot be replayed, with why.
    pub failed: Vec<(String, String)>,
}

impl ReplayPlan {
    /// Reads the letters `select` picks from `store`; raw payloads are
    /// translated with `translator` (without one they cannot be replayed).
    pub async fn read(
        store: &dyn DeadLetterStore,
        translator: Option<&dyn Translate>,
        select: impl Fn(&DeadLetter) -> bool + Send,
    ) -> Result<Self, DeadLetterError> {
        let mut plan = Self::default();
        for letter in store.list().await? {
            if !select(&letter) {
                continue;
            }
            match (letter.message, letter.raw, translator) {
                (Some(message), _, _) => {
                    plan.messages.push((letter.id, message));
                }
                (None, Some(raw), Some(translator)) => {
                    match translator.translate(&RawPayload::new(raw)) {
                        Ok(Translation::Message(message)) => {
                            plan.messages.push((letter.id, message));
                        }
                        Ok(Translation::Ignore(_)) => plan.ignored.push(letter.id),
                        Err(error) => plan.failed.push((letter.id, error.to_string())),
                    }
                }
                (None, Some(_), None) => plan.failed.push((
                    letter.id,
                    "a raw payload needs a listener translator to be replayed".to_owned(),
                )),
                (None, None, _) => plan.ignored.push(letter.id),
            }
        }
        Ok(plan)
    }

    /// How many letters the plan covers.
    pub fn len(&self) -> usize {
        self.messages.len() + self.ignored.len() + self.failed.len()
    }

    /// `true` when nothing was selected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Replays to a durable event queue: each message is sent, and its letter
/// is removed once the queue accepted it (a crash in between replays it
/// twice rather than never). Stops at the first send that fails (the rest
/// stay in the store) or when `stop` completes.
pub async fn replay_to(
    store: &dyn DeadLetterStore,
    sink: &dyn Sink<Message>,
    plan: ReplayPlan,
    stop: impl Future<Output = ()> + Send,
) -> Result<ReplayReport, DeadLetterError> {
    let mut report = ReplayReport {
        failed: plan.failed,
        ..ReplayReport::default()
    };
    let mut settled = plan.ignored;
    report.ignored = settled.len();
    let mut messages = plan.messages.into_iter();
    tokio::pin!(stop);
    while let Some((id, message)) = messages.next() {
        let sent = tokio::select! {
            biased;
            () = &mut stop => {
                report.interrupted = 1 + messages.len();
                break;
            }
            sent = sink.send(message) => sent,
        };
        match sent {
            Ok(()) => {
                settled.push(id);
                report.replayed += 1;
            }
            Err(error) => {
                report
                    .failed
                    .push((id, format!("the event queue refused it: {error}")));
                report.interrupted = messages.len();
                break;
            }
        }
        if settled.len() >= 100 {
            store.remove(&settled).await?;
            settled.clear();
        }
    }
    store.remove(&settled).await?;
    Ok(report)
}

/// The messages of a [`ReplayPlan`] as a [`Source`] for the runtime (when
/// the event queue is in memory): a letter is settled when its message is
/// (handled, or dead-lettered again). [`settled`](Self::settled) lists the
/// letters to remove; the others stay in the store.
#[derive(Debug)]
pub struct ReplaySource {
    queue: MemoryQueue<(String, Message)>,
    settled: Arc<Mutex<Vec<String>>>,
}

impl ReplaySource {
    /// A closed source of `messages` (letter id, message).
    pub fn new(messages: Vec<(String, Message)>) -> Self {
        let queue = MemoryQueue::new("replay", messages.len().max(1));
        for item in messages {
            queue.push_now(item);
        }
        queue.close();
        Self {
            queue,
            settled: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The letters whose message was settled so far.
    pub fn settled(&self) -> Vec<String> {
        self.settled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl Source<Message> for ReplaySource {
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<Message>>, QueueError> {
        let batch = self.queue.receive(max, wait).await?;
        Ok(batch
            .into_iter()
            .map(|delivery| {
                let (id, message) = delivery.item().clone();
                let settled = Arc::clone(&self.settled);
                delivery.with_item(message).on_ack(move || {
                    settled
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(id);
                })
            })
            .collect())
    }
}
