//! The [`Runtime`]: receives messages from the event queue and runs their
//! handlers with bounded concurrency, per-resource ordering, coalescing,
//! retries with backoff, dead letters and graceful shutdown.
//!
//! ```text
//!  event queue ──fetcher──▶ router ──▶ scheduler ──▶ worker tasks ──▶ ack / nack / dead letter
//!              (prefetch    (filter,   (one message    (≤ concurrency)
//!               permits)     route)     per resource)
//! ```

mod backoff;
mod metrics;
mod panic;
mod scheduler;
mod shutdown;

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::RuntimeConfig;
use crate::dead_letter::{DeadLetter, DeadLetterStore, FailureKind, MemoryDeadLetters};
use crate::error::HandlerError;
use crate::handler::HandlerContext;
use crate::message::Message;
use crate::queue::{Delivery, Sink, Source};
use crate::router::{Decision, Router};
use crate::services::Services;

pub use backoff::Backoff;
pub use metrics::{LatencySummary, Metrics, MetricsSnapshot, WaitTimeout};
pub use shutdown::Shutdown;

pub(crate) use metrics::Signal;
use panic::CatchUnwind;
use scheduler::{Pending, Scheduler, Work};

/// Runs handlers for the messages of one event queue.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use connect_core::{
///     ConnectorConfig, HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler,
///     Outcome, RouteConfig, Router, Services,
/// };
/// use connect_core::queue::{MemoryQueue, Sink};
/// use connect_core::runtime::{Runtime, Shutdown};
///
/// #[derive(Default)]
/// struct Noop;
///
/// #[connect_core::async_trait]
/// impl MessageHandler for Noop {
///     async fn handle(&self, _: &HandlerContext<'_>, _: &Message) -> Result<Outcome, HandlerError> {
///         Ok(Outcome::done())
///     }
/// }
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let config = ConnectorConfig::new("demo", vec![RouteConfig::new("demo.route", "Noop")]);
/// let mut registry = HandlerRegistry::new();
/// registry.register::<Noop>("Noop", 0);
/// let router = Router::build(&config, &registry, &Services::new()).unwrap();
///
/// let events = MemoryQueue::new("events", 100);
/// events.send(Message::new("demo.route")).await.unwrap();
///
/// let runtime = Runtime::new(Arc::new(router), Arc::new(events.clone()));
/// let metrics = runtime.metrics();
/// let shutdown = Shutdown::new();
/// let running = tokio::spawn(runtime.run(shutdown.clone()));
/// metrics.wait_until(|m| m.succeeded == 1, Duration::from_secs(5)).await.unwrap();
/// shutdown.trigger();
/// let report = running.await.unwrap();
/// assert_eq!(report.metrics.succeeded, 1);
/// # });
/// ```
pub struct Runtime {
    router: Arc<Router>,
    source: Arc<dyn Source<Message>>,
    publisher: Option<Arc<dyn Sink<Message>>>,
    dead_letters: Arc<dyn DeadLetterStore>,
    services: Arc<Services>,
    settings: Settings,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct Settings {
    concurrency: usize,
    prefetch: usize,
    max_attempts: u32,
    backoff: Backoff,
    shutdown_timeout: Duration,
    receive_batch: usize,
    receive_wait: Duration,
}

impl Settings {
    fn from_config(config: &RuntimeConfig) -> Self {
        let concurrency = config.concurrency.max(1);
        Self {
            concurrency,
            prefetch: config.prefetch.unwrap_or(concurrency * 4).max(concurrency),
            max_attempts: config.max_attempts.max(1),
            backoff: Backoff::new(config.backoff.clone()),
            shutdown_timeout: config.shutdown_timeout,
            receive_batch: 64,
            receive_wait: Duration::from_secs(1),
        }
    }
}

/// What a run did, returned when the runtime stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The counters at the end of the run.
    pub metrics: MetricsSnapshot,
    /// Deliveries returned to the queue unstarted at shutdown.
    pub released: usize,
    /// Handlers still running when the shutdown timeout passed; their
    /// messages were returned to the queue.
    pub interrupted: usize,
}

impl Runtime {
    /// A runtime for `router` reading `source`, with default settings, an
    /// in-memory dead-letter store and no shared services.
    pub fn new(router: Arc<Router>, source: Arc<dyn Source<Message>>) -> Self {
        Self {
            router,
            source,
            publisher: None,
            dead_letters: Arc::new(MemoryDeadLetters::new()),
            services: Arc::new(Services::new()),
            settings: Settings::from_config(&RuntimeConfig::default()),
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Applies the `runtime` block of the configuration.
    #[must_use]
    pub fn with_config(mut self, config: &RuntimeConfig) -> Self {
        let batch = self.settings.receive_batch;
        let wait = self.settings.receive_wait;
        self.settings = Settings::from_config(config);
        self.settings.receive_batch = batch;
        self.settings.receive_wait = wait;
        self
    }

    /// Where handlers' [`publish`](HandlerContext::publish) sends messages
    /// (normally the event queue itself).
    #[must_use]
    pub fn with_publisher(mut self, publisher: Arc<dyn Sink<Message>>) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Where failed messages go.
    #[must_use]
    pub fn with_dead_letters(mut self, store: Arc<dyn DeadLetterStore>) -> Self {
        self.dead_letters = store;
        self
    }

    /// Shared services handlers can read.
    #[must_use]
    pub fn with_services(mut self, services: Arc<Services>) -> Self {
        self.services = services;
        self
    }

    /// How many messages one receive asks for, and how long it waits.
    #[must_use]
    pub fn with_receive(mut self, batch: usize, wait: Duration) -> Self {
        self.settings.receive_batch = batch.max(1);
        self.settings.receive_wait = wait;
        self
    }

    /// The counters, live.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Runs until `shutdown` fires, then stops receiving, releases unstarted
    /// messages, waits up to the shutdown timeout for running handlers and
    /// releases what is still running after that.
    pub async fn run(self, shutdown: Shutdown) -> RunReport {
        let settings = self.settings.clone();
        let shared = Arc::new(Shared {
            publisher: self.publisher.clone(),
            dead_letters: Arc::clone(&self.dead_letters),
            services: Arc::clone(&self.services),
            metrics: Arc::clone(&self.metrics),
            max_attempts: settings.max_attempts,
            backoff: settings.backoff.clone(),
        });
        let (done_tx, mut done) = mpsc::unbounded_channel::<Settled>();
        let mut scheduler = Scheduler::default();
        let mut tasks = JoinSet::new();
        let mut intake = Intake::new(Arc::clone(&self.source), &settings);
        // Deliveries received and not yet settled (prefetch bound).
        let mut held = 0usize;
        let mut running = 0usize;
        let stopping = shutdown.triggered();
        tokio::pin!(stopping);

        loop {
            while running < settings.concurrency {
                let Some(work) = scheduler.next_ready() else {
                    break;
                };
                running += 1;
                self.metrics.started();
                let guard = Done::armed(&work, done_tx.clone());
                let mut handling = Box::pin(process(Arc::clone(&shared), work, guard));
                // Poll once here: work that completes without waiting (a
                // handler that decides from the message alone) settles
                // without a task; anything that waits continues as a task.
                match handling
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
                {
                    Poll::Ready(settled) => {
                        running -= 1;
                        held -= settled.count;
                        self.metrics.finished();
                        scheduler.complete(settled.key);
                    }
                    Poll::Pending => {
                        let done = done_tx.clone();
                        tasks.spawn(async move {
                            let settled = handling.await;
                            let _ = done.send(settled);
                        });
                    }
                }
            }
            while tasks.try_join_next().is_some() {}
            if !intake.open && held == 0 {
                tracing::info!("event queue closed and drained; stopping");
                break;
            }
            intake.arm(held);

            tokio::select! {
                biased;
                () = &mut stopping => break,
                Some(settled) = done.recv() => {
                    running -= 1;
                    held -= settled.count;
                    self.metrics.finished();
                    scheduler.complete(settled.key);
                }
                batch = intake.next() => {
                    self.metrics.received(batch.len() as u64);
                    held += batch.len();
                    for delivery in batch {
                        if !self.accept(&mut scheduler, delivery).await {
                            held -= 1;
                        }
                    }
                }
            }
        }

        // Shutdown: stop intake, return unstarted work, drain in-flight work.
        drop(intake);
        let mut released = scheduler.release_all();
        let deadline = Instant::now() + settings.shutdown_timeout;
        while running > 0 {
            match tokio::time::timeout_at(deadline, done.recv()).await {
                Ok(Some(_)) => {
                    running -= 1;
                    self.metrics.finished();
                }
                Ok(None) | Err(_) => break,
            }
        }
        let interrupted = running;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "shutdown timeout passed; releasing messages still being handled"
            );
            tasks.abort_all();
        }
        while tasks.join_next().await.is_some() {}
        for _ in 0..interrupted {
            self.metrics.finished();
        }
        released += scheduler.release_all();
        tracing::info!(released, interrupted, "runtime stopped");
        RunReport {
            metrics: self.metrics.snapshot(),
            released,
            interrupted,
        }
    }

    /// Routes one delivery; returns `true` when it is kept for a handler and
    /// `false` when it was settled at once (filtered or unroutable).
    async fn accept(&self, scheduler: &mut Scheduler, delivery: Delivery<Message>) -> bool {
        match self.router.decide(delivery.item()) {
            Decision::Deliver(route) => {
                scheduler.accept(Pending {
                    route: Arc::clone(route),
                    delivery,
                });
                true
            }
            Decision::Filtered(route) => {
                tracing::debug!(
                    route = route.name(),
                    event_type = delivery.item().event_type.as_deref().unwrap_or(""),
                    "filtered by the route's inclusion filter"
                );
                if let Err(error) = delivery.ack().await {
                    tracing::warn!(%error, "cannot acknowledge a filtered message; it will be delivered again");
                }
                self.metrics.filtered();
                false
            }
            Decision::Unroutable => {
                let message = delivery.item().clone();
                let error = format!(
                    "no route is named `{}`; add it under `routes` or fix `route-mapping`",
                    message.name
                );
                tracing::error!(route = %message.name, message_id = %message.id, "{error}");
                let attempts = delivery.receive_count();
                let letter =
                    DeadLetter::for_message(message, FailureKind::Unroutable, error, attempts);
                settle_dead_letter(&*self.dead_letters, &self.metrics, delivery, letter, None)
                    .await;
                false
            }
        }
    }
}

/// Everything a worker task needs.
struct Shared {
    publisher: Option<Arc<dyn Sink<Message>>>,
    dead_letters: Arc<dyn DeadLetterStore>,
    services: Arc<Services>,
    metrics: Arc<Metrics>,
    max_attempts: u32,
    backoff: Backoff,
}

/// Receives from the source. The receive in progress is kept across loop
/// iterations (never cancelled mid-flight, which would strand messages in a
/// wire queue until their visibility timeout) and re-armed only while the
/// prefetch bound leaves room for a worthwhile batch.
struct Intake {
    source: Arc<dyn Source<Message>>,
    receiving: Option<ReceiveFuture>,
    open: bool,
    failures: u32,
    prefetch: usize,
    max_batch: usize,
    min_batch: usize,
    wait: Duration,
}

type ReceiveFuture = std::pin::Pin<
    Box<dyn Future<Output = Result<Vec<Delivery<Message>>, crate::error::QueueError>> + Send>,
>;

impl Intake {
    fn new(source: Arc<dyn Source<Message>>, settings: &Settings) -> Self {
        Self {
            source,
            receiving: None,
            open: true,
            failures: 0,
            prefetch: settings.prefetch,
            max_batch: settings.receive_batch,
            // Under load, wait for a quarter of the prefetch window to free
            // up rather than receiving one message per settlement.
            min_batch: (settings.prefetch / 4).clamp(1, settings.receive_batch),
            wait: settings.receive_wait,
        }
    }

    /// Starts a receive if none is running and there is room.
    fn arm(&mut self, held: usize) {
        let room = self.prefetch.saturating_sub(held);
        let worthwhile = room >= self.min_batch || held == 0;
        if !self.open || self.receiving.is_some() || room == 0 || !worthwhile {
            return;
        }
        let source = Arc::clone(&self.source);
        let max = room.min(self.max_batch);
        let wait = self.wait;
        let backoff = (self.failures > 0)
            .then(|| Duration::from_millis(100 * u64::from(self.failures.min(50))));
        self.receiving = Some(Box::pin(async move {
            if let Some(delay) = backoff {
                tokio::time::sleep(delay).await;
            }
            source.receive(max, wait).await
        }));
    }

    /// The next batch (empty after a failed or closing receive); pending
    /// forever while no receive is armed.
    async fn next(&mut self) -> Vec<Delivery<Message>> {
        let Some(receiving) = self.receiving.as_mut() else {
            return std::future::pending().await;
        };
        let result = receiving.await;
        self.receiving = None;
        match result {
            Ok(batch) => {
                self.failures = 0;
                batch
            }
            Err(crate::error::QueueError::Closed(queue)) => {
                tracing::info!(%queue, "event queue closed; no more messages");
                self.open = false;
                Vec::new()
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                tracing::warn!(%error, failures = self.failures, "cannot receive from the event queue; retrying");
                Vec::new()
            }
        }
    }
}

/// What one processed work item settled.
#[derive(Debug, Clone, Copy)]
struct Settled {
    key: u64,
    /// Deliveries settled (the lead and its coalesced followers).
    count: usize,
}

/// Hands the settlement back to the dispatcher if processing ends without
/// returning it (a cancelled task), so the resource is never left blocked.
struct Done {
    settled: Settled,
    tx: Option<mpsc::UnboundedSender<Settled>>,
}

impl Done {
    fn armed(work: &Work, tx: mpsc::UnboundedSender<Settled>) -> Self {
        Self {
            settled: Settled {
                key: work.key,
                count: 1 + work.followers.len(),
            },
            tx: Some(tx),
        }
    }

    /// Processing finished normally: the caller reports the settlement.
    fn disarm(mut self) -> Settled {
        self.tx = None;
        self.settled
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(self.settled);
        }
    }
}

/// Handles one work item and settles its deliveries.
///
/// Kept small on purpose (it is allocated per message): deliveries are
/// moved out only to be settled, and the rare paths (dead letters) run in
/// futures of their own.
async fn process(shared: Arc<Shared>, work: Work, done: Done) -> Settled {
    let route = Arc::clone(&work.lead.route);
    let attempt = work.lead.delivery.receive_count().max(1);
    let span = {
        let message = work.lead.delivery.item();
        tracing::info_span!(
            "message",
            route = route.name(),
            handler = route.handler_name(),
            resource_id = message.resource_id().unwrap_or(""),
            message_id = %message.id,
            event_type = message.event_type.as_deref().unwrap_or(""),
            attempt,
        )
    };
    let mut work = work;
    work.lead.delivery.item_mut().attempt = attempt;
    let started = Instant::now();
    let result = {
        let ctx = HandlerContext::new(route.config(), &shared.services)
            .with_attempt(attempt, shared.max_attempts);
        let ctx = match &shared.publisher {
            Some(publisher) => ctx.with_publisher(publisher.as_ref()),
            None => ctx,
        };
        CatchUnwind::new(route.handler().handle(&ctx, work.lead.delivery.item()))
            .instrument(span.clone())
            .await
    };
    let elapsed = started.elapsed();
    let Work {
        lead, followers, ..
    } = work;
    let delivery = lead.delivery;
    let coalesced = followers.len() as u64;
    match result {
        Ok(Ok(outcome)) => {
            let acked = delivery.ack();
            if let Err(error) = acked.await {
                tracing::warn!(parent: &span, %error, "cannot acknowledge; the message will be delivered again");
            }
            tracing::debug!(parent: &span, outcome = outcome.label(), ?elapsed, "handled");
            shared.metrics.succeeded(outcome.label(), elapsed);
        }
        Ok(Err(error)) if error.is_retryable() && attempt < shared.max_attempts => {
            let delay = shared.backoff.delay(attempt, error.retry_after());
            tracing::warn!(parent: &span, error = %error, ?delay, "retryable failure; will retry");
            let nacked = delivery.nack(delay);
            if let Err(nack_error) = nacked.await {
                tracing::warn!(parent: &span, error = %nack_error, "cannot return the message to its queue; it will reappear after its visibility timeout");
            }
            shared.metrics.retried(elapsed);
        }
        Ok(Err(error)) => {
            let kind = if error.is_retryable() {
                FailureKind::AttemptsExhausted
            } else {
                FailureKind::Unprocessable
            };
            Box::pin(dead_letter(&shared, &route, delivery, kind, error, attempt))
                .instrument(span.clone())
                .await;
        }
        Err(panic) => {
            tracing::error!(parent: &span, panic = %panic, "handler panicked");
            let error = HandlerError::unprocessable(format!("handler panicked: {panic}"));
            Box::pin(dead_letter(
                &shared,
                &route,
                delivery,
                FailureKind::Panic,
                error,
                attempt,
            ))
            .instrument(span.clone())
            .await;
        }
    }
    for follower in followers {
        let acked = follower.delivery.ack();
        if let Err(error) = acked.await {
            tracing::warn!(parent: &span, %error, "cannot acknowledge a coalesced message; it will be delivered again");
        }
    }
    shared.metrics.coalesced(coalesced);
    done.disarm()
}

async fn dead_letter(
    shared: &Shared,
    route: &crate::router::Route,
    delivery: Delivery<Message>,
    kind: FailureKind,
    error: HandlerError,
    attempt: u32,
) {
    tracing::error!(error = %error, kind = kind.as_str(), "message failed; moving it to the dead-letter store");
    let letter = DeadLetter::for_message(delivery.item().clone(), kind, error.to_string(), attempt)
        .with_handler(route.handler_name());
    let retry = shared.backoff.delay(attempt, None);
    settle_dead_letter(
        &*shared.dead_letters,
        &shared.metrics,
        delivery,
        letter,
        Some(retry),
    )
    .await;
}

/// Stores the dead letter, then acknowledges. When the store fails, the
/// message goes back to its queue instead, so it is never lost.
async fn settle_dead_letter(
    store: &dyn DeadLetterStore,
    metrics: &Metrics,
    delivery: Delivery<Message>,
    letter: DeadLetter,
    retry_delay: Option<Duration>,
) {
    match store.put(letter).await {
        Ok(()) => {
            if let Err(error) = delivery.ack().await {
                tracing::warn!(%error, "cannot acknowledge a dead-lettered message; it will be delivered again");
            }
            metrics.dead_lettered();
        }
        Err(error) => {
            let delay = retry_delay.unwrap_or(Duration::from_secs(1));
            tracing::error!(%error, ?delay, "cannot store the dead letter; returning the message to its queue");
            if let Err(error) = delivery.nack(delay).await {
                tracing::warn!(%error, "cannot return the message to its queue");
            }
        }
    }
}
