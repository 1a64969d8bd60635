//! The CT queue listener: raw payloads from a source queue (the CT queue)
//! become connect [`Message`]s.
//!
//! What a payload means is the job of a [`Translate`] implementation (for
//! commercetools: `connect_commercetools::SubscriptionTranslator`). The
//! listener owns the delivery guarantees, in one of two ways:
//!
//! - [`Translating`] is the CT queue seen as a [`Source`] of messages: each
//!   message's delivery *is* its raw payload's delivery, so the payload is
//!   settled in the CT queue only when the runtime settles the message
//!   (end-to-end acknowledgement). Connectors use it whenever the event
//!   queue is not durable (in memory), so nothing waits in memory that the
//!   CT queue has forgotten.
//! - [`Listener`] forwards messages to a durable event queue (SQS) and
//!   acknowledges each raw payload once the event queue accepted its
//!   message, a whole batch at a time.
//!
//! Either way, a payload that cannot be understood goes to the dead-letter
//! store with its raw body and is acknowledged (not redelivered forever),
//! and a payload that needs no handling is acknowledged and counted as
//! ignored.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::time::Duration;

use async_trait::async_trait;

use crate::dead_letter::{DEAD_LETTERS, DeadLetter, DeadLetterStore, MemoryDeadLetters};
use crate::error::{BoxError, QueueError};
use crate::lifecycle::{Health, Heartbeat, LoopState, Shutdown, Signal};
use crate::message::Message;
use crate::queue::{Delivery, RawPayload, Settlement, Sink, Source};
use crate::runtime::Backoff;

pub use crate::translate::{Translate, Translation};

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

/// Receives and translates raw payloads; shared by [`Translating`] and
/// [`Listener`].
struct Inner {
    name: String,
    source: Arc<dyn Source<RawPayload>>,
    translator: Arc<dyn Translate>,
    dead_letters: Arc<dyn DeadLetterStore>,
    metrics: Arc<ListenerMetrics>,
    health: Arc<Health>,
    /// Consecutive failures to store a dead letter.
    store_failures: AtomicU32,
}

/// The longest a malformed payload waits in its queue while the
/// dead-letter store cannot be written.
const MAX_STORE_RETRY: Duration = Duration::from_secs(60);

/// The wait after a failed receive; it doubles per consecutive failure.
const RECEIVE_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between two failed receives.
const MAX_RECEIVE_RETRY: Duration = Duration::from_secs(5);

impl Inner {
    fn new(
        name: String,
        source: Arc<dyn Source<RawPayload>>,
        translator: Arc<dyn Translate>,
    ) -> Self {
        Self {
            name,
            source,
            translator,
            dead_letters: Arc::new(MemoryDeadLetters::new()),
            metrics: Arc::new(ListenerMetrics::default()),
            health: Arc::new(Health::new()),
            store_failures: AtomicU32::new(0),
        }
    }

    /// Receives a batch and translates it: the messages with the deliveries
    /// of their payloads. Payloads that need no handling are acknowledged,
    /// malformed ones dead-lettered, all of a batch's settlements together.
    async fn receive<O: Send>(
        &self,
        max: usize,
        wait: Duration,
        keep: impl Fn(Message, Delivery<RawPayload>) -> O + Send,
    ) -> Result<Vec<O>, QueueError> {
        let batch = self.source.receive(max, wait).await?;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.metrics.add(&self.metrics.received, batch.len() as u64);
        let mut messages = Vec::with_capacity(batch.len());
        let mut settlements: Vec<Settlement> = Vec::new();
        for delivery in batch {
            match self.translator.translate(delivery.item()) {
                Ok(Translation::Message(message)) => messages.push(keep(message, delivery)),
                Ok(Translation::Ignore(reason)) => {
                    tracing::debug!(listener = %self.name, %reason, "payload ignored");
                    self.metrics.add(&self.metrics.ignored, 1);
                    settlements.push(delivery.ack());
                }
                Err(error) => settlements.push(self.dead_letter(delivery, &error).await),
            }
        }
        settle_all(settlements).await;
        Ok(messages)
    }

    /// Stores a malformed payload and acknowledges it; while the store
    /// cannot be written, returns it to its queue after a growing delay
    /// (logged once per outage, not per payload).
    async fn dead_letter(&self, delivery: Delivery<RawPayload>, error: &BoxError) -> Settlement {
        let body = delivery.item().body.clone();
        tracing::error!(listener = %self.name, %error, "malformed payload; moving it to the dead-letter store");
        match self
            .dead_letters
            .put(DeadLetter::for_raw(body, error.to_string()))
            .await
        {
            Ok(()) => {
                if self.store_failures.swap(0, Relaxed) > 0 && self.health.up(DEAD_LETTERS) {
                    tracing::info!(listener = %self.name, "the dead-letter store works again");
                }
                self.metrics.add(&self.metrics.dead_lettered, 1);
                delivery.ack()
            }
            Err(store_error) => {
                let failures = self.store_failures.fetch_add(1, Relaxed).saturating_add(1);
                let delay = Backoff::doubling(Duration::from_secs(1), MAX_STORE_RETRY)
                    .delay(failures, None);
                if self.health.down(DEAD_LETTERS, &store_error.to_string()) {
                    tracing::error!(%store_error, ?delay, "cannot store dead letters; malformed payloads stay in their queue until the store works again");
                }
                delivery.nack(delay)
            }
        }
    }
}

/// Awaits settlements together, logging failures (a failed acknowledgement
/// only means the payload is delivered again).
async fn settle_all(settlements: Vec<Settlement>) {
    if settlements.is_empty() {
        return;
    }
    for result in futures_util::future::join_all(settlements).await {
        if let Err(error) = result {
            tracing::warn!(%error, "cannot settle a payload; it will be delivered again");
        }
    }
}

/// The CT queue as a [`Source`] of messages, with end-to-end
/// acknowledgement: each message's delivery settles its raw payload's
/// delivery (see [`Delivery::with_item`]). Ack the message and the payload
/// leaves the CT queue; nack it and the payload comes back after the delay;
/// drop it (a crash) and the CT queue delivers the payload again.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use connect_core::listener::{Translate, Translating, Translation};
/// use connect_core::queue::{MemoryQueue, RawPayload, Sink, Source};
/// use connect_core::{BoxError, Message};
///
/// struct Echo;
/// impl Translate for Echo {
///     fn translate(&self, raw: &RawPayload) -> Result<Translation, BoxError> {
///         Ok(Translation::Message(Message::new(raw.body.clone())))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ct_queue = MemoryQueue::new("ct-queue", 10);
/// ct_queue.send(RawPayload::new("customer.upsert")).await.unwrap();
/// let source = Translating::new("ct-queue", Arc::new(ct_queue.clone()), Arc::new(Echo));
/// let delivery = source.receive(10, Duration::ZERO).await.unwrap().remove(0);
/// assert_eq!(delivery.item().route, "customer.upsert");
/// assert_eq!(ct_queue.in_flight(), 1, "the payload is held while its message is");
/// delivery.ack().await.unwrap();
/// assert!(ct_queue.is_idle());
/// # });
/// ```
pub struct Translating {
    inner: Inner,
}

impl std::fmt::Debug for Translating {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translating")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl Translating {
    /// `source` (named `name` in logs) through `translator`, dead-lettering
    /// into memory until told otherwise.
    pub fn new(
        name: impl Into<String>,
        source: Arc<dyn Source<RawPayload>>,
        translator: Arc<dyn Translate>,
    ) -> Self {
        Self {
            inner: Inner::new(name.into(), source, translator),
        }
    }

    /// Where malformed payloads go.
    #[must_use]
    pub fn with_dead_letters(mut self, store: Arc<dyn DeadLetterStore>) -> Self {
        self.inner.dead_letters = store;
        self
    }

    /// Where dependency states are reported.
    #[must_use]
    pub fn with_health(mut self, health: Arc<Health>) -> Self {
        self.inner.health = health;
        self
    }

    /// The counters, live (`forwarded` counts messages handed out).
    pub fn metrics(&self) -> Arc<ListenerMetrics> {
        Arc::clone(&self.inner.metrics)
    }
}

#[async_trait]
impl Source<Message> for Translating {
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<Message>>, QueueError> {
        let messages = self
            .inner
            .receive(max, wait, |message, delivery| delivery.with_item(message))
            .await?;
        self.inner
            .metrics
            .add(&self.inner.metrics.forwarded, messages.len() as u64);
        Ok(messages)
    }
}

/// Moves payloads from a raw source to a durable event queue: a batch's
/// messages are sent together, then its payloads are acknowledged together.
pub struct Listener {
    inner: Inner,
    sink: Arc<dyn Sink<Message>>,
    batch: usize,
    wait: Duration,
    heartbeat: Arc<Heartbeat>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("name", &self.inner.name)
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
        let name = name.into();
        let heartbeat = Arc::new(Heartbeat::new(format!("{name} listener")));
        Self {
            inner: Inner::new(name, source, translator),
            sink,
            batch: 64,
            wait: Duration::from_secs(1),
            heartbeat,
        }
    }

    /// Where malformed payloads go.
    #[must_use]
    pub fn with_dead_letters(mut self, store: Arc<dyn DeadLetterStore>) -> Self {
        self.inner.dead_letters = store;
        self
    }

    /// Where dependency states are reported.
    #[must_use]
    pub fn with_health(mut self, health: Arc<Health>) -> Self {
        self.inner.health = health;
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
        Arc::clone(&self.inner.metrics)
    }

    /// The listener loop's heartbeat (named `<name> listener`):
    /// [`LoopState::Running`] while it forwards payloads, beating at least
    /// every [`HEARTBEAT_INTERVAL`](crate::runtime::HEARTBEAT_INTERVAL),
    /// also while a receive waits.
    pub fn heartbeat(&self) -> Arc<Heartbeat> {
        Arc::clone(&self.heartbeat)
    }

    /// Runs until `shutdown` fires or the source is closed. The batch in
    /// hand when the signal comes is forwarded and settled first.
    pub async fn run(self, shutdown: Shutdown) -> ListenerReport {
        self.heartbeat.set_state(LoopState::Running);
        let report = self.listen(shutdown).await;
        self.heartbeat.set_state(LoopState::Stopped);
        report
    }

    async fn listen(&self, shutdown: Shutdown) -> ListenerReport {
        let name = self.inner.name.clone();
        self.inner.health.register(&name);
        let mut failures = 0u32;
        let backoff = Backoff::doubling(RECEIVE_RETRY, MAX_RECEIVE_RETRY);
        let stopping = shutdown.triggered();
        tokio::pin!(stopping);
        loop {
            self.heartbeat.beat();
            let received = tokio::select! {
                biased;
                () = &mut stopping => break,
                received = self.heartbeat.beating(self.inner.receive(self.batch, self.wait, |m, d| (m, d))) => received,
            };
            match received {
                Ok(batch) => {
                    if failures > 0 {
                        failures = 0;
                        if self.inner.health.up(&name) {
                            tracing::info!(listener = %name, "receiving again");
                        }
                    }
                    if !batch.is_empty() && !self.heartbeat.beating(self.forward(batch)).await {
                        break;
                    }
                }
                Err(QueueError::Closed(queue)) => {
                    tracing::info!(listener = %name, %queue, "source closed; listener stopping");
                    break;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let delay = backoff.delay(failures, None);
                    if self.inner.health.down(&name, &error.to_string()) {
                        tracing::warn!(listener = %name, %error, "cannot receive; retrying with backoff");
                    }
                    tokio::select! {
                        () = &mut stopping => break,
                        () = self.heartbeat.beating(tokio::time::sleep(delay)) => {}
                    }
                }
            }
        }
        ListenerReport {
            metrics: self.inner.metrics.snapshot(),
        }
    }

    /// Forwards one batch, then settles its payloads together. Returns
    /// `false` when the event queue is closed and the listener should stop.
    async fn forward(&self, batch: Vec<(Message, Delivery<RawPayload>)>) -> bool {
        let (messages, deliveries): (Vec<Message>, Vec<Delivery<RawPayload>>) =
            batch.into_iter().unzip();
        let count = messages.len() as u64;
        match self.sink.send_batch(messages).await {
            Ok(()) => {
                settle_all(deliveries.into_iter().map(Delivery::ack).collect()).await;
                self.inner.metrics.add(&self.inner.metrics.forwarded, count);
                true
            }
            Err(error) => {
                let closed = matches!(error, QueueError::Closed(_));
                tracing::warn!(listener = %self.inner.name, %error, "event queue refused the batch; payloads will be delivered again");
                settle_all(
                    deliveries
                        .into_iter()
                        .map(|d| d.nack(Duration::from_secs(1)))
                        .collect(),
                )
                .await;
                !closed
            }
        }
    }
}
