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

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
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

pub(crate) use metrics::wait_for;
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
        let permits = Arc::new(Semaphore::new(settings.prefetch));
        let (batches_tx, mut batches) = mpsc::channel::<Vec<(Delivery<Message>, _)>>(4);
        let fetch_stop = shutdown.child();
        let fetcher = tokio::spawn(fetch(
            Arc::clone(&self.source),
            Arc::clone(&permits),
            batches_tx,
            settings.receive_batch,
            settings.receive_wait,
            fetch_stop.clone(),
        ));

        let shared = Arc::new(Shared {
            publisher: self.publisher.clone(),
            dead_letters: Arc::clone(&self.dead_letters),
            services: Arc::clone(&self.services),
            metrics: Arc::clone(&self.metrics),
            max_attempts: settings.max_attempts,
            backoff: settings.backoff.clone(),
        });
        let (done_tx, mut done) = mpsc::unbounded_channel::<String>();
        let mut scheduler = Scheduler::default();
        let mut tasks = JoinSet::new();
        let mut running = 0usize;
        let mut fetching = true;

        loop {
            if !fetching && running == 0 && scheduler.is_idle() {
                tracing::info!("event queue closed and drained; stopping");
                break;
            }
            while running < settings.concurrency {
                let Some(work) = scheduler.next_ready() else {
                    break;
                };
                running += 1;
                self.metrics.started();
                tasks.spawn(process(Arc::clone(&shared), work, done_tx.clone()));
            }
            while tasks.try_join_next().is_some() {}

            tokio::select! {
                biased;
                () = shutdown.triggered() => break,
                Some(key) = done.recv() => {
                    running -= 1;
                    self.metrics.finished();
                    scheduler.complete(&key);
                }
                batch = batches.recv(), if fetching => match batch {
                    Some(batch) => {
                        self.metrics.received(batch.len() as u64);
                        for (delivery, permit) in batch {
                            self.accept(&mut scheduler, delivery, permit).await;
                        }
                    }
                    None => fetching = false,
                },
            }
        }

        // Shutdown: stop intake, return unstarted work, drain in-flight work.
        fetch_stop.trigger();
        batches.close();
        let mut released = 0;
        while let Some(batch) = batches.recv().await {
            released += batch.len();
        }
        let _ = fetcher.await;
        released += scheduler.release_all();
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

    async fn accept(
        &self,
        scheduler: &mut Scheduler,
        delivery: Delivery<Message>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        match self.router.decide(delivery.item()) {
            Decision::Deliver(route) => scheduler.accept(Pending {
                route: Arc::clone(route),
                delivery,
                _permit: permit,
            }),
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

/// Receives batches while prefetch permits are free.
async fn fetch(
    source: Arc<dyn Source<Message>>,
    permits: Arc<Semaphore>,
    batches: mpsc::Sender<Vec<(Delivery<Message>, tokio::sync::OwnedSemaphorePermit)>>,
    batch_size: usize,
    wait: Duration,
    stop: Shutdown,
) {
    let mut failures = 0u32;
    loop {
        let wanted = permits.available_permits().clamp(1, batch_size) as u32;
        let mut held = tokio::select! {
            () = stop.triggered() => return,
            permit = Arc::clone(&permits).acquire_many_owned(wanted) => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let received = tokio::select! {
            () = stop.triggered() => return,
            received = source.receive(wanted as usize, wait) => received,
        };
        match received {
            Ok(deliveries) => {
                failures = 0;
                if deliveries.is_empty() {
                    continue;
                }
                let mut batch = Vec::with_capacity(deliveries.len());
                for delivery in deliveries {
                    match held.split(1) {
                        Some(permit) => batch.push((delivery, permit)),
                        None => {
                            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                                return;
                            };
                            batch.push((delivery, permit));
                        }
                    }
                }
                drop(held);
                if batches.send(batch).await.is_err() {
                    return;
                }
            }
            Err(crate::error::QueueError::Closed(name)) => {
                tracing::info!(queue = %name, "event queue closed; no more messages");
                return;
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let delay = Duration::from_millis(100 * u64::from(failures.min(50)));
                tracing::warn!(%error, ?delay, "cannot receive from the event queue; retrying");
                tokio::select! {
                    () = stop.triggered() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Sends the key back to the dispatcher however the task ends.
struct Done {
    key: Option<String>,
    tx: mpsc::UnboundedSender<String>,
}

impl Drop for Done {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let _ = self.tx.send(key);
        }
    }
}

async fn process(shared: Arc<Shared>, work: Work, done: mpsc::UnboundedSender<String>) {
    let Work { lead, followers } = work;
    let Pending {
        route,
        mut delivery,
        _permit,
    } = lead;
    let _done = Done {
        key: Some(delivery.item().ordering_key().to_owned()),
        tx: done,
    };
    let attempt = delivery.receive_count().max(1);
    delivery.item_mut().attempt = attempt;
    let message = delivery.item();
    let span = tracing::info_span!(
        "message",
        route = route.name(),
        handler = route.handler_name(),
        resource_id = message.resource_id().unwrap_or(""),
        message_id = %message.id,
        event_type = message.event_type.as_deref().unwrap_or(""),
        attempt,
    );
    async move {
        let started = Instant::now();
        let result = {
            let ctx = HandlerContext::new(route.config(), &shared.services)
                .with_attempt(attempt, shared.max_attempts);
            let ctx = match &shared.publisher {
                Some(publisher) => ctx.with_publisher(publisher.as_ref()),
                None => ctx,
            };
            CatchUnwind::new(route.handler().handle(&ctx, delivery.item())).await
        };
        let elapsed = started.elapsed();
        let coalesced = followers.len() as u64;
        match result {
            Ok(Ok(outcome)) => {
                tracing::debug!(outcome = outcome.label(), ?elapsed, "handled");
                if let Err(error) = delivery.ack().await {
                    tracing::warn!(%error, "cannot acknowledge; the message will be delivered again");
                }
                shared.metrics.succeeded(outcome.label(), elapsed);
            }
            Ok(Err(error)) if error.is_retryable() && attempt < shared.max_attempts => {
                let delay = shared.backoff.delay(attempt, error.retry_after());
                tracing::warn!(error = %error, ?delay, "retryable failure; will retry");
                if let Err(nack_error) = delivery.nack(delay).await {
                    tracing::warn!(error = %nack_error, "cannot return the message to its queue; it will reappear after its visibility timeout");
                }
                shared.metrics.retried(elapsed);
            }
            Ok(Err(error)) => {
                let kind = if error.is_retryable() {
                    FailureKind::AttemptsExhausted
                } else {
                    FailureKind::Unprocessable
                };
                dead_letter(&shared, &route, delivery, kind, &error, attempt).await;
            }
            Err(panic) => {
                tracing::error!(panic = %panic, "handler panicked");
                let error = HandlerError::unprocessable(format!("handler panicked: {panic}"));
                dead_letter(&shared, &route, delivery, FailureKind::Panic, &error, attempt).await;
            }
        }
        for follower in followers {
            if let Err(error) = follower.delivery.ack().await {
                tracing::warn!(%error, "cannot acknowledge a coalesced message; it will be delivered again");
            }
        }
        shared.metrics.coalesced(coalesced);
    }
    .instrument(span)
    .await;
}

async fn dead_letter(
    shared: &Shared,
    route: &crate::router::Route,
    delivery: Delivery<Message>,
    kind: FailureKind,
    error: &HandlerError,
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
