//! The dead-letter store: messages that failed for good, with why, how often
//! and when, ready to be listed and replayed.

mod file;
mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::BoxError;
use crate::listener::{Translate, Translation};
use crate::message::Message;
use crate::queue::{RawPayload, Sink};

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
            route: Some(message.name.clone()),
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
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Dead letters sent back to the event queue (and removed).
    pub replayed: usize,
    /// Raw payloads that are now ignored by the listener (and removed).
    pub ignored: usize,
    /// Dead letters that could still not be replayed (kept), with why.
    pub failed: Vec<(String, String)>,
}

/// Sends the selected dead letters back to `sink` and removes them from
/// `store`. A message is sent before it is removed, so a crash in between
/// replays it twice rather than never. Raw payloads are translated with
/// `translator` first; without one they are kept.
pub async fn replay(
    store: &dyn DeadLetterStore,
    sink: &dyn Sink<Message>,
    translator: Option<&dyn Translate>,
    select: impl Fn(&DeadLetter) -> bool + Send,
) -> Result<ReplayReport, DeadLetterError> {
    let mut report = ReplayReport::default();
    for letter in store.list().await? {
        if !select(&letter) {
            continue;
        }
        let message = match (&letter.message, &letter.raw, translator) {
            (Some(message), _, _) => Some(message.clone()),
            (None, Some(raw), Some(translator)) => {
                match translator.translate(&RawPayload::new(raw.as_str())) {
                    Ok(Translation::Message(message)) => Some(message),
                    Ok(Translation::Ignore(_)) => None,
                    Err(error) => {
                        report.failed.push((letter.id.clone(), error.to_string()));
                        continue;
                    }
                }
            }
            (None, Some(_), None) => {
                report.failed.push((
                    letter.id.clone(),
                    "a raw payload needs a listener translator to be replayed".to_owned(),
                ));
                continue;
            }
            (None, None, _) => None,
        };
        match message {
            Some(mut message) => {
                message.attempt = 0;
                sink.send(message)
                    .await
                    .map_err(|e| DeadLetterError::new("cannot send to the event queue", e))?;
                report.replayed += 1;
            }
            None => report.ignored += 1,
        }
        store.remove(std::slice::from_ref(&letter.id)).await?;
    }
    Ok(report)
}
