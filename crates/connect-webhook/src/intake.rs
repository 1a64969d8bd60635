//! Where accepted webhooks go: a durable event queue, or the runtime
//! directly (in process), and when each layout answers 200.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use connect_core::queue::{Acker, Delivery, Sink, Source};
use connect_core::{Message, QueueError};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Outcome;

/// Where the listener puts the messages of accepted webhooks; the layout
/// decides when a webhook is answered 200, so that a webhook answered 200
/// is never lost.
pub enum Intake {
    /// A durable event queue (SQS): a webhook is answered 200 once
    /// [`Sink::send`] succeeded, 503 when it failed or did not finish
    /// within `answer-timeout` (a full queue).
    Durable(Arc<dyn Sink<Message>>),
    /// No durable queue: the listener is itself a [`Source`] of messages
    /// for the runtime (returned by
    /// [`WebhookListener::serve`](crate::WebhookListener::serve)), and a
    /// webhook is answered 200 only once the runtime *acknowledged* its
    /// message, that is once its handler finished (or the message was
    /// filtered or dead-lettered). Until then nothing but the open request
    /// holds it, and Fluent still has it: a crash loses nothing, Fluent
    /// retries.
    ///
    /// - nacked (a retryable failure), released (shutdown) or dropped: 503,
    ///   and the message is dropped here; Fluent's retry brings it back
    ///   (its `receive_count` grows with each of Fluent's retries of the
    ///   same webhook id, so `max-attempts` still applies).
    /// - not acknowledged within `answer-timeout`: 503. A message still
    ///   waiting for the runtime is withdrawn (never handed out); one
    ///   already in a handler runs to its end, but its acknowledgement
    ///   answers nothing, so Fluent retries and the handler may run once
    ///   more: handlers must be idempotent (they are, since they read the
    ///   current state from Fluent).
    /// - `intake-capacity` webhooks already waiting for the runtime: 503 at
    ///   once.
    InProcess,
}

impl fmt::Debug for Intake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Durable(sink) => f
                .debug_tuple("Durable")
                .field(&if sink.is_durable() {
                    "durable"
                } else {
                    "not durable"
                })
                .finish(),
            Self::InProcess => f.write_str("InProcess"),
        }
    }
}

/// The intake as the request handlers use it.
pub(crate) enum Taker {
    Durable(Arc<dyn Sink<Message>>),
    InProcess(mpsc::Sender<Pending>, Arc<Attempts>),
}

/// A message waiting for the runtime, with the request that waits for its
/// settlement.
pub(crate) struct Pending {
    message: Message,
    answer: oneshot::Sender<Settled>,
}

/// How the runtime settled a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Handled,
    Returned,
}

impl Taker {
    /// Puts `message` in the intake and waits for what the layout needs:
    /// `Accepted` (answer 200) or why not.
    pub(crate) async fn take(&self, message: Message, answer_timeout: Duration) -> Outcome {
        match self {
            Self::Durable(sink) => {
                match tokio::time::timeout(answer_timeout, sink.send(message)).await {
                    Ok(Ok(())) => Outcome::Accepted,
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "the event queue refused a webhook; answered 503 so that the sender retries");
                        Outcome::Unavailable
                    }
                    Err(_) => {
                        tracing::warn!(
                            ?answer_timeout,
                            "the event queue did not take a webhook in time (full?); answered 503 so that the sender retries"
                        );
                        Outcome::Unavailable
                    }
                }
            }
            Self::InProcess(sender, attempts) => {
                let id = message.id.clone();
                let (answer, settled) = oneshot::channel();
                if let Err(error) = sender.try_send(Pending { message, answer }) {
                    let reason = match error {
                        mpsc::error::TrySendError::Full(_) => "full",
                        mpsc::error::TrySendError::Closed(_) => "closed",
                    };
                    tracing::warn!(
                        reason,
                        "the webhook intake cannot take a webhook; answered 503 so that the sender retries"
                    );
                    return Outcome::Unavailable;
                }
                match tokio::time::timeout(answer_timeout, settled).await {
                    Ok(Ok(Settled::Handled)) => {
                        attempts.forget(&id);
                        Outcome::Accepted
                    }
                    Ok(Ok(Settled::Returned) | Err(_)) => Outcome::Unavailable,
                    Err(_) => {
                        tracing::warn!(
                            webhook_id = %id,
                            ?answer_timeout,
                            "a webhook was not handled within answer-timeout; answered 503 so that the sender retries"
                        );
                        Outcome::AnswerTimeout
                    }
                }
            }
        }
    }
}

/// How many times each webhook id was handed to the runtime (Fluent
/// retries a webhook with the same id), bounded.
#[derive(Debug, Default)]
pub(crate) struct Attempts(Mutex<HashMap<String, u32>>);

/// Ids remembered at most; past it the counts start again from 1.
const MAX_REMEMBERED: usize = 10_000;

impl Attempts {
    fn next(&self, id: &str) -> u32 {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_REMEMBERED && !map.contains_key(id) {
            map.clear();
        }
        let count = map.entry(id.to_owned()).or_insert(0);
        *count = count.saturating_add(1);
        *count
    }

    fn forget(&self, id: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

/// The webhook listener as a [`Source`] of messages (the in-process
/// layout): each delivery's settlement answers its webhook's request (see
/// [`Intake::InProcess`]). Once the server has stopped and every waiting
/// message was received, `receive` fails with [`QueueError::Closed`].
pub(crate) struct WebhookSource {
    name: String,
    receiver: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    attempts: Arc<Attempts>,
}

impl WebhookSource {
    /// A bounded intake of `capacity` and its source.
    pub(crate) fn channel(name: &str, capacity: usize) -> (Taker, Self) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let attempts = Arc::new(Attempts::default());
        (
            Taker::InProcess(sender, Arc::clone(&attempts)),
            Self {
                name: name.to_owned(),
                receiver: tokio::sync::Mutex::new(receiver),
                attempts,
            },
        )
    }

    fn delivery(&self, pending: Pending) -> Delivery<Message> {
        let count = self.attempts.next(&pending.message.id);
        Delivery::new(
            pending.message,
            count,
            Box::new(Answer(Some(pending.answer))),
        )
    }
}

#[async_trait]
impl Source<Message> for WebhookSource {
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<Message>>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut receiver = self.receiver.lock().await;
        let mut batch = Vec::new();
        // The first live one, waiting at most `wait`; requests that gave up
        // (answer-timeout, client gone) are withdrawn, never handed out.
        loop {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Err(_) => return Ok(batch),
                Ok(None) => return Err(QueueError::Closed(self.name.clone())),
                Ok(Some(pending)) if pending.answer.is_closed() => {}
                Ok(Some(pending)) => {
                    batch.push(self.delivery(pending));
                    break;
                }
            }
        }
        while batch.len() < max.max(1) {
            match receiver.try_recv() {
                Ok(pending) if pending.answer.is_closed() => {}
                Ok(pending) => batch.push(self.delivery(pending)),
                Err(_) => break,
            }
        }
        Ok(batch)
    }
}

/// Answers the request of one delivery when it is settled.
struct Answer(Option<oneshot::Sender<Settled>>);

impl Answer {
    fn send(mut self, settled: Settled) {
        if let Some(answer) = self.0.take() {
            // The request may have given up (answer-timeout): then nothing
            // waits, and nothing is answered.
            let _ = answer.send(settled);
        }
    }
}

#[async_trait]
impl Acker<Message> for Answer {
    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        (*self).send(Settled::Handled);
        Ok(())
    }

    async fn nack(self: Box<Self>, _item: Message, _delay: Duration) -> Result<(), QueueError> {
        // Fluent keeps the webhook and retries it after the 503.
        (*self).send(Settled::Returned);
        Ok(())
    }

    fn release(self: Box<Self>, _item: Message) {
        (*self).send(Settled::Returned);
    }
}
