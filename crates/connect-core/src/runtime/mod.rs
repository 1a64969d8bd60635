//! The [`Runtime`]: receives messages from its sources and runs their
//! handlers with bounded concurrency, per-resource ordering, coalescing,
//! retries with backoff, dead letters, circuit breakers for dependencies
//! that are down, and a two-stage shutdown.
//!
//! ```text
//!  sources ──intake──▶ router ──▶ scheduler ──▶ worker tasks ──▶ settlements ──▶ ack / nack / dead letter
//!          (prefetch    (filter,   (one message    (≤ concurrency)   (started together,
//!           permits)     route)     per resource)                      awaited together)
//! ```
//!
//! Nothing is acknowledged before it is done. A message is settled in its
//! source when it was handled, filtered, coalesced into a newer one that was
//! handled, or written to the dead-letter store. At shutdown, whatever is not
//! finished goes back to its source (`nack` with no delay); a crash leaves it
//! unsettled there, to be delivered again.

mod backoff;
mod breaker;
mod intake;
mod panic;
mod process;
mod scheduler;
mod settle;

use std::collections::{HashMap, VecDeque};
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::RuntimeConfig;
use crate::dead_letter::{DeadLetter, DeadLetterStore, FailureKind, MemoryDeadLetters};
use crate::message::Message;
use crate::queue::{Delivery, Sink, Source};
use crate::router::{Decision, Router};
use crate::services::Services;

pub use crate::dead_letter::DEAD_LETTERS;
pub use crate::lifecycle::{
    DependencyStatus, HEARTBEAT_INTERVAL, Health, Heartbeat, LoopState, Shutdown,
};
pub use crate::metrics::{
    DURATION_BUCKETS, HistogramSnapshot, LatencySummary, Metrics, MetricsSnapshot, RouteMetrics,
    RouteSnapshot, WaitTimeout,
};
pub use backoff::Backoff;

tokio::task_local! {
    /// The resource of the message whose handler runs on this task.
    static CURRENT_RESOURCE: Option<crate::ResourceRef>;
}

/// The resource (type id, id, version) of the message whose handler is
/// running, when called from inside a handler the [`Runtime`] runs (and
/// anything it awaits); `None` elsewhere or for a message without one.
/// Lets a shared client say which message a call was made for, e.g. in a
/// dry run's report.
pub fn current_resource() -> Option<crate::ResourceRef> {
    CURRENT_RESOURCE.try_with(Clone::clone).ok().flatten()
}

use breaker::Breakers;
use intake::Intake;
use process::{Finished, Shared, process};
use scheduler::{Pending, Scheduler, Work};
use settle::{Kind, Settling};

/// Runs handlers for the messages of one or more sources (the event queue;
/// with an in-memory event queue, the CT queue through its listener too).
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
    sources: Vec<(&'static str, Arc<dyn Source<Message>>)>,
    publisher: Option<Arc<dyn Sink<Message>>>,
    dead_letters: Arc<dyn DeadLetterStore>,
    services: Arc<Services>,
    settings: Settings,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    heartbeat: Arc<Heartbeat>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field(
                "sources",
                &self
                    .sources
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
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
    breaker: crate::config::BreakerConfig,
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
            breaker: config.circuit_breaker.clone(),
            shutdown_timeout: config.shutdown_timeout,
            receive_batch: 64,
            receive_wait: Duration::from_secs(1),
        }
    }

    /// Under load, wait for a quarter of the prefetch window to free up
    /// rather than receiving one message per settlement.
    fn min_batch(&self) -> usize {
        (self.prefetch / 4).clamp(1, self.receive_batch)
    }
}

/// What a run did, returned when the runtime stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The counters at the end of the run.
    pub metrics: MetricsSnapshot,
    /// Messages returned to their source unstarted at shutdown (received
    /// but not yet handled, or waiting for a dependency).
    pub returned: usize,
    /// Messages whose handler was still running when the shutdown timeout
    /// passed (or a second signal came): interrupted and returned to their
    /// source.
    pub interrupted: usize,
}

/// How long shutdown waits for settlements (acknowledgements, returns) to
/// reach the queues once handlers are done.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
/// The same, after a second signal.
const FORCED_SETTLE_TIMEOUT: Duration = Duration::from_secs(3);
/// A parked message that failed this many probes gives way to fresh
/// messages as probes (a message failing on its own must not pass for an
/// outage forever).
const PROBES_BEFORE_FRESH: u32 = 2;

impl Runtime {
    /// A runtime for `router` reading `source` (named `event-queue` in
    /// logs and [`Health`]), with default settings, an in-memory dead-letter
    /// store and no shared services.
    pub fn new(router: Arc<Router>, source: Arc<dyn Source<Message>>) -> Self {
        Self {
            router,
            sources: vec![("event-queue", source)],
            publisher: None,
            dead_letters: Arc::new(MemoryDeadLetters::new()),
            services: Arc::new(Services::new()),
            settings: Settings::from_config(&RuntimeConfig::default()),
            metrics: Arc::new(Metrics::new()),
            health: Arc::new(Health::new()),
            heartbeat: Arc::new(Heartbeat::new("runtime")),
        }
    }

    /// Names the first source (default `event-queue`).
    #[must_use]
    pub fn with_source_name(mut self, name: &'static str) -> Self {
        self.sources[0].0 = name;
        self
    }

    /// Also receives from `source`, named `name`. The runtime stops by
    /// itself once every source is closed and drained.
    #[must_use]
    pub fn with_source(mut self, name: &'static str, source: Arc<dyn Source<Message>>) -> Self {
        self.sources.push((name, source));
        self
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

    /// Where handlers' [`publish`](crate::HandlerContext::publish) sends
    /// messages (normally the event queue).
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

    /// Where dependency states are reported (shared with the rest of the
    /// connector).
    #[must_use]
    pub fn with_health(mut self, health: Arc<Health>) -> Self {
        self.health = health;
        self
    }

    /// Where the dispatcher proves it is alive (default: a heartbeat named
    /// `runtime`).
    #[must_use]
    pub fn with_heartbeat(mut self, heartbeat: Arc<Heartbeat>) -> Self {
        self.heartbeat = heartbeat;
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

    /// The dependencies' states, live.
    pub fn health(&self) -> Arc<Health> {
        Arc::clone(&self.health)
    }

    /// The dispatcher's heartbeat: [`LoopState::Running`] while it takes in
    /// messages, beating at least every [`HEARTBEAT_INTERVAL`].
    pub fn heartbeat(&self) -> Arc<Heartbeat> {
        Arc::clone(&self.heartbeat)
    }

    /// Runs until `shutdown` fires (or every source is closed and drained).
    ///
    /// On the graceful stage it stops receiving, returns unstarted messages
    /// to their source, waits up to the shutdown timeout for running
    /// handlers, then interrupts the rest and returns them too. The forced
    /// stage interrupts at once. Either way it waits (briefly) for every
    /// acknowledgement and return to reach its queue before it reports.
    pub async fn run(self, shutdown: Shutdown) -> RunReport {
        let settings = self.settings.clone();
        for (name, _) in &self.sources {
            self.health.register(name);
        }
        let interrupt = CancellationToken::new();
        let shared = Arc::new(Shared {
            publisher: self.publisher.clone(),
            dead_letters: Arc::clone(&self.dead_letters),
            services: Arc::clone(&self.services),
            metrics: Arc::clone(&self.metrics),
            max_attempts: settings.max_attempts,
            backoff: settings.backoff.clone(),
            interrupt: interrupt.clone(),
        });
        let mut intakes: Vec<Intake> = self
            .sources
            .iter()
            .map(|(name, source)| {
                Intake::new(
                    name,
                    Arc::clone(source),
                    settings.receive_batch,
                    settings.receive_wait,
                )
            })
            .collect();
        let mut d = Dispatch {
            router: &self.router,
            dead_letters: &*self.dead_letters,
            metrics: &self.metrics,
            health: &self.health,
            shared,
            settings: &settings,
            scheduler: Scheduler::default(),
            breakers: Breakers::new(settings.breaker.clone()),
            parked: VecDeque::new(),
            suspects: HashMap::new(),
            tasks: JoinSet::new(),
            settling: FuturesUnordered::new(),
            held: 0,
            running: 0,
            returned: 0,
            interrupted: 0,
            stopping: false,
        };
        let stopping = shutdown.triggered();
        tokio::pin!(stopping);
        // An idle dispatcher still beats; a busy one beats between events
        // (the tick comes first among them, so load cannot starve it).
        let mut beat =
            tokio::time::interval_at(Instant::now() + HEARTBEAT_INTERVAL, HEARTBEAT_INTERVAL);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.heartbeat.set_state(LoopState::Running);

        loop {
            self.metrics.held_now(d.held);
            d.start_work();
            while let Some(joined) = d.tasks.try_join_next() {
                d.joined(joined);
            }
            if d.held == 0 && intakes.iter().all(|i| !i.open) {
                tracing::info!("every source closed and drained; stopping");
                break;
            }
            let room = settings.prefetch.saturating_sub(d.held);
            if d.intake_allowed() && (room >= settings.min_batch() || d.held == 0) {
                for intake in &mut intakes {
                    intake.arm(room);
                }
            }
            let next_probe = d.breakers.next_probe();
            tokio::select! {
                biased;
                () = &mut stopping => break,
                _ = beat.tick() => self.heartbeat.beat(),
                Some(joined) = d.tasks.join_next(), if !d.tasks.is_empty() => d.joined(joined),
                Some(()) = d.settling.next(), if !d.settling.is_empty() => {}
                batch = poll_fn(|cx| poll_intakes(&mut intakes, cx, &self.health)) => {
                    d.accept_batch(batch).await;
                }
                () = sleep_until_some(next_probe), if next_probe.is_some() => {}
            }
        }

        // Shutdown: stop intake, return unstarted and parked work, give
        // running handlers the shutdown timeout, then interrupt them.
        self.heartbeat.set_state(LoopState::Stopping);
        d.stopping = true;
        for intake in &mut intakes {
            intake.stop();
        }
        let unstarted: Vec<Delivery<Message>> = d
            .scheduler
            .take_all()
            .into_iter()
            .chain(d.parked.drain(..).flat_map(Work::into_deliveries))
            .collect();
        d.returned += unstarted.len();
        d.held -= unstarted.len();
        d.return_now(unstarted);
        let deadline = Instant::now() + settings.shutdown_timeout;
        let forced = shutdown.forced();
        tokio::pin!(forced);
        while d.running > 0 {
            tokio::select! {
                biased;
                Some(joined) = d.tasks.join_next(), if !d.tasks.is_empty() => d.joined(joined),
                () = &mut forced, if !interrupt.is_cancelled() => {
                    tracing::warn!(running = d.running, "interrupting running handlers now");
                    interrupt.cancel();
                }
                () = tokio::time::sleep_until(deadline), if !interrupt.is_cancelled() => {
                    tracing::warn!(
                        running = d.running,
                        "shutdown timeout passed; interrupting running handlers and returning their messages"
                    );
                    interrupt.cancel();
                }
                Some(()) = d.settling.next(), if !d.settling.is_empty() => {}
                () = tokio::time::sleep_until(deadline + SETTLE_TIMEOUT), if interrupt.is_cancelled() => {
                    tracing::error!(running = d.running, "handlers ignored the interruption; aborting their tasks");
                    d.tasks.abort_all();
                    break;
                }
            }
        }
        // Only aborted tasks are left after the loop; their deliveries were
        // released as they were dropped.
        while d.tasks.join_next().await.is_some() {}
        let settle_for = if shutdown.is_forced() {
            FORCED_SETTLE_TIMEOUT
        } else {
            SETTLE_TIMEOUT
        };
        let settle_deadline = Instant::now() + settle_for;
        while !d.settling.is_empty() {
            tokio::select! {
                biased;
                Some(()) = d.settling.next() => {}
                () = &mut forced, if settle_for != FORCED_SETTLE_TIMEOUT => break,
                () = tokio::time::sleep_until(settle_deadline) => {
                    tracing::warn!(
                        pending = d.settling.len(),
                        "settlements did not complete in time; those messages will be delivered again"
                    );
                    break;
                }
            }
        }
        let (returned, interrupted) = (d.returned, d.interrupted);
        self.metrics.held_now(d.held);
        self.heartbeat.set_state(LoopState::Stopped);
        tracing::info!(returned, interrupted, "runtime stopped");
        RunReport {
            metrics: self.metrics.snapshot(),
            returned,
            interrupted,
        }
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn poll_intakes(
    intakes: &mut [Intake],
    cx: &mut Context<'_>,
    health: &Health,
) -> Poll<Vec<Delivery<Message>>> {
    for intake in intakes.iter_mut() {
        if let Poll::Ready(batch) = intake.poll_next(cx, health) {
            return Poll::Ready(batch);
        }
    }
    Poll::Pending
}

/// The dispatcher's state during one run.
struct Dispatch<'a> {
    router: &'a Router,
    dead_letters: &'a dyn DeadLetterStore,
    metrics: &'a Metrics,
    health: &'a Health,
    shared: Arc<Shared>,
    settings: &'a Settings,
    scheduler: Scheduler,
    breakers: Breakers,
    /// Work waiting for a dependency, oldest first.
    parked: VecDeque<Work>,
    /// Resources whose last failure was systemic: the dependency and its
    /// recovery count then.
    suspects: HashMap<u64, (&'static str, u64)>,
    tasks: JoinSet<Finished>,
    /// Settlements in progress.
    settling: FuturesUnordered<Settling>,
    /// Deliveries received and not yet settled (the prefetch bound).
    held: usize,
    running: usize,
    returned: usize,
    interrupted: usize,
    stopping: bool,
}

impl Dispatch<'_> {
    /// Intake runs while no dependency is down, or to find a fresh probe
    /// when the parked messages keep failing theirs.
    fn intake_allowed(&self) -> bool {
        self.breakers.all_closed()
            || self
                .parked
                .front()
                .is_none_or(|w| w.failed_probes >= PROBES_BEFORE_FRESH)
    }

    /// Starts ready work: as much as concurrency allows while every
    /// dependency is up, else one probe when one is due.
    fn start_work(&mut self) {
        if self.breakers.all_closed() {
            while self.running < self.settings.concurrency {
                let Some(work) = self.scheduler.next_ready() else {
                    break;
                };
                self.launch(work);
            }
            return;
        }
        let Some(dependency) = self.breakers.due(Instant::now()) else {
            return;
        };
        let fresh_first = self
            .parked
            .front()
            .is_none_or(|w| w.failed_probes >= PROBES_BEFORE_FRESH);
        let candidate = if fresh_first {
            self.scheduler
                .next_ready()
                .or_else(|| self.parked.pop_front())
        } else {
            self.parked
                .pop_front()
                .or_else(|| self.scheduler.next_ready())
        };
        if let Some(mut work) = candidate {
            tracing::debug!(dependency, "probing with one message");
            self.breakers.probing(dependency);
            work.probe = Some(dependency);
            self.launch(work);
        }
    }

    fn launch(&mut self, mut work: Work) {
        work.counts_systemic = match self.suspects.get(&work.key) {
            Some(&(dependency, generation))
                if work.probe.is_none() && self.breakers.generation(dependency) > generation =>
            {
                Some(dependency)
            }
            _ => None,
        };
        self.running += 1;
        self.metrics.started();
        let lost = Finished::Lost {
            key: work.key,
            count: work.len(),
            probe: work.probe,
        };
        let mut handling = Box::pin(process(Arc::clone(&self.shared), work));
        // Poll once here: work that completes without waiting (a handler
        // that decides from the message alone) settles without a task;
        // anything that waits continues as a task.
        match handling
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(finished) => self.finished(finished),
            Poll::Pending => {
                self.tasks.spawn(async move {
                    // A panic outside the handler (which is caught on its
                    // own) is a bug; the resource must not stay blocked.
                    AssertUnwindSafe(handling)
                        .catch_unwind()
                        .await
                        .unwrap_or(lost)
                });
            }
        }
    }

    /// A task ended: its work finished, or it was aborted at shutdown.
    fn joined(&mut self, joined: Result<Finished, tokio::task::JoinError>) {
        match joined {
            Ok(finished) => self.finished(finished),
            Err(error) => tracing::debug!(%error, "a handler task was aborted"),
        }
    }

    fn finished(&mut self, finished: Finished) {
        self.running -= 1;
        self.metrics.finished();
        match finished {
            Finished::Settled {
                key,
                count,
                probe,
                done,
                settling,
            } => {
                self.held -= count;
                self.scheduler.complete(key);
                if done {
                    self.suspects.remove(&key);
                }
                if let Some(settling) = settling {
                    self.settling.push(settling);
                }
                if let Some(dependency) = probe {
                    self.breakers
                        .passed(dependency, self.health, Instant::now());
                    if self.breakers.all_closed() {
                        for work in self.parked.drain(..).rev() {
                            self.scheduler.resume(work);
                        }
                    }
                }
            }
            Finished::Parked {
                mut work,
                dependency,
                error,
            } => {
                let now = Instant::now();
                let generation = self.breakers.generation(dependency);
                if self.suspects.len() >= 100_000 {
                    self.suspects.clear();
                }
                self.suspects.insert(work.key, (dependency, generation));
                if let Some(probed) = work.probe.take() {
                    work.failed_probes += 1;
                    if probed != dependency {
                        self.breakers.failed(probed, &error, self.health, now);
                    }
                }
                self.breakers.failed(dependency, &error, self.health, now);
                if self.stopping {
                    self.held -= work.len();
                    self.returned += work.len();
                    self.return_now(work.into_deliveries());
                } else {
                    self.parked.push_back(work);
                }
            }
            Finished::Interrupted { mut work } => {
                if let Some(dependency) = work.probe.take() {
                    self.breakers.inconclusive(dependency, Instant::now());
                }
                self.held -= work.len();
                self.interrupted += work.len();
                self.return_now(work.into_deliveries());
            }
            Finished::Lost { key, count, probe } => {
                self.held -= count;
                self.scheduler.complete(key);
                if let Some(dependency) = probe {
                    self.breakers.inconclusive(dependency, Instant::now());
                }
            }
        }
        self.metrics.waiting_now(self.parked.len() as u64);
    }

    /// Returns deliveries to their source at once (`nack` without delay);
    /// the returns join the settlements in progress.
    fn return_now(&mut self, deliveries: impl IntoIterator<Item = Delivery<Message>>) {
        let returns: Vec<_> = deliveries
            .into_iter()
            .map(|d| (Kind::Return, d.nack(Duration::ZERO)))
            .collect();
        if returns.is_empty() {
            return;
        }
        self.settling.push(Box::pin(async move {
            if let Some(pending) = settle::start(returns, &tracing::Span::current()).await {
                pending.await;
            }
        }));
    }

    async fn accept_batch(&mut self, batch: Vec<Delivery<Message>>) {
        self.metrics.received(batch.len() as u64);
        self.held += batch.len();
        let mut acks = Vec::new();
        for delivery in batch {
            match self.router.decide(delivery.item()) {
                Decision::Deliver(route) => {
                    self.scheduler.accept(Pending {
                        route: Arc::clone(route),
                        delivery,
                    });
                }
                Decision::Filtered(route) => {
                    let message = delivery.item();
                    tracing::debug!(
                        route = route.name(),
                        handler = route.handler_name(),
                        resource_id = message.resource_id().unwrap_or(""),
                        message_id = %message.id,
                        event_type = message.event_type.as_deref().unwrap_or(""),
                        attempt = delivery.receive_count().max(1),
                        "filtered by the route's inclusion filter"
                    );
                    self.held -= 1;
                    self.metrics.filtered();
                    route.metrics().filtered();
                    acks.push((Kind::Ack, delivery.ack()));
                }
                Decision::Unroutable => {
                    self.held -= 1;
                    self.unroutable(delivery, &mut acks).await;
                }
            }
        }
        if !acks.is_empty()
            && let Some(pending) = settle::start(acks, &tracing::Span::current()).await
        {
            self.settling.push(pending);
        }
    }

    /// Dead-letters a message no route has a name for. When the store
    /// fails, the message goes back to its queue after a delay.
    async fn unroutable(
        &mut self,
        delivery: Delivery<Message>,
        acks: &mut Vec<(Kind, crate::queue::Settlement)>,
    ) {
        let message = delivery.item().clone();
        let error = format!(
            "no route is named `{}`; add it under `routes` or fix `route-mapping`",
            message.route
        );
        tracing::error!(
            route = %message.route,
            resource_id = message.resource_id().unwrap_or(""),
            message_id = %message.id,
            event_type = message.event_type.as_deref().unwrap_or(""),
            attempt = delivery.receive_count().max(1),
            "{error}"
        );
        let attempts = delivery.receive_count();
        let letter = DeadLetter::for_message(message, FailureKind::Unroutable, error, attempts);
        match self.dead_letters.put(letter).await {
            Ok(()) => {
                self.metrics.dead_lettered();
                self.router.count_unroutable();
                acks.push((Kind::Ack, delivery.ack()));
            }
            Err(error) => {
                if self.health.down(DEAD_LETTERS, &error.to_string()) {
                    tracing::error!(%error, "cannot store a dead letter; the message goes back to its queue");
                }
                let delay = self.settings.breaker.max;
                acks.push((Kind::Return, delivery.nack(delay)));
            }
        }
    }
}
