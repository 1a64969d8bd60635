//! The [`Listener`]: moves raw payloads from a source queue (the CT queue)
//! to the event queue as connect [`Message`]s.
//!
//! What a payload means is the job of a [`Translate`] implementation (for
//! commercetools: `connect_commercetools::SubscriptionTranslator`). The
//! listener owns the delivery guarantees: a raw payload is acknowledged only
//! after the event queue accepted its message; a payload that cannot be
//! understood goes to the dead-letter store with its raw body and is
//! acknowledged, so it is not redelivered forever.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::time::Duration;

use crate::dead_letter::{DeadLetter, DeadLetterStore, MemoryDeadLetters};
use crate::error::{BoxError, QueueError};
use crate::message::Message;
use crate::queue::{Delivery, RawPayload, Sink, Source};
use crate::runtime::{Shutdown, Signal};

/// What a raw payload becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Translation {
    /// A message for the event queue.
    Message(Message),
    /// Nothing to do (for example a resource type with no route); the reason
    /// is logged at debug level.
    Ignore(String),
}

/// Turns a raw payload into a [`Translation`]. An `Err` means the payload is
/// malformed: it is dead-lettered with its body.
pub trait Translate: Send + Sync {
    /// Translates one payload.
    fn translate(&self, raw: &RawPayload) -> Result<Translation, BoxError>;
}

/// The listener's counters.
#[derive(Debug, Default)]
pub struct ListenerMetrics {
    received: AtomicU64,
    forwarded: AtomicU64,
    ignored: AtomicU64,
    dead_lettered: AtomicU64,
    changed: Signal,
}

/// A copy of the listener's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerSnapshot {
    /// Raw payloads received.
    pub received: u64,
    /// Messages accepted by the event queue.
    pub forwarded: u64,
    /// Payloads acknowledged without a message.
    pub ignored: u64,
    /// Malformed payloads moved to the dead-letter store.
    pub dead_lettered: u64,
}

impl ListenerSnapshot {
    /// Payloads that reached a final state.
    pub fn settled(&self) -> u64 {
        self.forwarded + self.ignored + self.dead_lettered
    }
}

impl ListenerMetrics {
    /// Reads the counters.
    pub fn snapshot(&self) -> ListenerSnapshot {
        ListenerSnapshot {
            received: self.received.load(Relaxed),
            forwarded: self.forwarded.load(Relaxed),
            ignored: self.ignored.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
        }
    }

    /// Waits until `condition` holds, or `timeout` passes (`Err` carries the
    /// last counters).
    pub async fn wait_until(
        &self,
        condition: impl Fn(&ListenerSnapshot) -> bool,
        timeout: Duration,
    ) -> Result<ListenerSnapshot, ListenerSnapshot> {
        self.changed
            .wait_for(|| self.snapshot(), condition, timeout)
            .await
    }

    fn add(&self, counter: &AtomicU64, n: u64) {
        if n > 0 {
            // Sequentially consistent, as `Signal::notify` requires.
            counter.fetch_add(n, SeqCst);
            self.changed.notify();
        }
    }
}

/// Moves payloads from a raw source to the event queue.
pub struct Listener {
    name: String,
    source: Arc<dyn Source<RawPayload>>,
    translator: Arc<dyn Translate>,
    sink: Arc<dyn Sink<Message>>,
    dead_letters: Arc<dyn DeadLetterStore>,
    metrics: Arc<ListenerMetrics>,
    batch: usize,
    wait: Duration,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("name", &self.name)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

/// What a listener run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerReport {
    /// The counters at the end.
    pub metrics: ListenerSnapshot,
}

impl Listener {
    /// A listener named `name` (for logs) from `source` through `translator`
    /// to `sink`, dead-lettering into memory until told otherwise.
    pub fn new(
        name: impl Into<String>,
        source: Arc<dyn Source<RawPayload>>,
        translator: Arc<dyn Translate>,
        sink: Arc<dyn Sink<Message>>,
    ) -> Self {
        Self {
            name: name.into(),
            source,
            translator,
            sink,
            dead_letters: Arc::new(MemoryDeadLetters::new()),
            metrics: Arc::new(ListenerMetrics::default()),
            batch: 64,
            wait: Duration::from_secs(1),
        }
    }

    /// Where malformed payloads go.
    #[must_use]
    pub fn with_dead_letters(mut self, store: Arc<dyn DeadLetterStore>) -> Self {
        self.dead_letters = store;
        self
    }

    /// How many payloads one receive asks for, and how long it waits.
    #[must_use]
    pub fn with_receive(mut self, batch: usize, wait: Duration) -> Self {
        self.batch = batch.max(1);
        self.wait = wait;
        self
    }

    /// The counters, live.
    pub fn metrics(&self) -> Arc<ListenerMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Runs until `shutdown` fires or the source is closed.
    pub async fn run(self, shutdown: Shutdown) -> ListenerReport {
        let mut failures = 0u32;
        let stopping = shutdown.triggered();
        tokio::pin!(stopping);
        loop {
            let received = tokio::select! {
                biased;
                () = &mut stopping => break,
                received = self.source.receive(self.batch, self.wait) => received,
            };
            match received {
                Ok(batch) => {
                    failures = 0;
                    if !batch.is_empty() && !self.forward(batch).await {
                        break;
                    }
                }
                Err(QueueError::Closed(queue)) => {
                    tracing::info!(listener = %self.name, %queue, "source closed; listener stopping");
                    break;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let delay = Duration::from_millis(100 * u64::from(failures.min(50)));
                    tracing::warn!(listener = %self.name, %error, ?delay, "cannot receive; retrying");
                    tokio::select! {
                        () = &mut stopping => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        ListenerReport {
            metrics: self.metrics.snapshot(),
        }
    }

    /// Translates and forwards one batch. Returns `false` when the event
    /// queue is closed and the listener should stop.
    async fn forward(&self, batch: Vec<Delivery<RawPayload>>) -> bool {
        self.metrics.add(&self.metrics.received, batch.len() as u64);
        let mut messages = Vec::with_capacity(batch.len());
        let mut carried = Vec::with_capacity(batch.len());
        for delivery in batch {
            match self.translator.translate(delivery.item()) {
                Ok(Translation::Message(message)) => {
                    messages.push(message);
                    carried.push(delivery);
                }
                Ok(Translation::Ignore(reason)) => {
                    tracing::debug!(listener = %self.name, %reason, "payload ignored");
                    ack(delivery).await;
                    self.metrics.add(&self.metrics.ignored, 1);
                }
                Err(error) => self.dead_letter(delivery, &error).await,
            }
        }
        if messages.is_empty() {
            return true;
        }
        let count = messages.len() as u64;
        match self.sink.send_batch(messages).await {
            Ok(()) => {
                for delivery in carried {
                    ack(delivery).await;
                }
                self.metrics.add(&self.metrics.forwarded, count);
                true
            }
            Err(error) => {
                let closed = matches!(error, QueueError::Closed(_));
                tracing::warn!(listener = %self.name, %error, "event queue refused the batch; payloads will be delivered again");
                for delivery in carried {
                    if let Err(error) = delivery.nack(Duration::from_secs(1)).await {
                        tracing::warn!(%error, "cannot return a payload to its queue");
                    }
                }
                !closed
            }
        }
    }

    async fn dead_letter(&self, delivery: Delivery<RawPayload>, error: &BoxError) {
        let body = delivery.item().body.clone();
        tracing::error!(listener = %self.name, %error, "malformed payload; moving it to the dead-letter store");
        let letter = DeadLetter::for_raw(body, error.to_string());
        match self.dead_letters.put(letter).await {
            Ok(()) => {
                ack(delivery).await;
                self.metrics.add(&self.metrics.dead_lettered, 1);
            }
            Err(store_error) => {
                tracing::error!(%store_error, "cannot store the dead letter; returning the payload to its queue");
                if let Err(error) = delivery.nack(Duration::from_secs(5)).await {
                    tracing::warn!(%error, "cannot return a payload to its queue");
                }
            }
        }
    }
}

async fn ack(delivery: Delivery<RawPayload>) {
    if let Err(error) = delivery.ack().await {
        tracing::warn!(%error, "cannot acknowledge a payload; it will be delivered again");
    }
}
