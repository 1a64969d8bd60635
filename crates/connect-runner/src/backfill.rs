//! Backfill: every commercetools resource of one type through its route,
//! scanned as its [`ResourceSync`] declares, resumable from a checkpoint
//! in the state store; and [`RouteFeed`], the machinery a backfill and the
//! delta job share: a scan streamed through a route by an in-process
//! runtime, with a cursor that advances only over settled messages.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use connect_commercetools::sync::{ResourceSync, ScanRequest, ScanStream, SyncRegistry, outcome};
use connect_commercetools::{CommercetoolsClient, ScanKey, ScanOrder, SubscriptionTranslator};
use connect_core::config::ConnectorConfig;
use connect_core::dead_letter::DeadLetterStore;
use connect_core::queue::{Delivery, MemoryQueue, Sink, Source};
use connect_core::runtime::{Health, Heartbeat, MetricsSnapshot, Runtime, Shutdown};
use connect_core::{Message, QueueError, ResourceRef, Router, Services, async_trait};
use connect_jobs::{JobState, StateStore};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::connector::Connector;
use crate::error::RunnerError;
use crate::observability::{BackfillGauges, Telemetry};

/// How often a route-fed scan saves its checkpoint while the done-through
/// point advances (and once more at the end): a SIGKILL loses at most this
/// much progress, plus what was in flight. A backfill whose state store is
/// a file saves every [`FILE_CHECKPOINT_EVERY`] instead.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// How often a backfill saves its checkpoint in a `file` state store (an
/// atomic replace of a small local file, cheap enough to do often).
pub const FILE_CHECKPOINT_EVERY: Duration = Duration::from_millis(10);

/// How a backfill uses its checkpoint in the state store (`state:`), kept
/// under the name `backfill-<plural>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Checkpoints {
    /// Neither read nor write a checkpoint (the library default: a dry
    /// run, a test, a one-off load from code).
    #[default]
    Off,
    /// Record checkpoints; refuse to start ([`RunnerError::Checkpoint`])
    /// while the last run left an unfinished one (`connect backfill`
    /// without `--resume` or `--restart`).
    New,
    /// Continue after the unfinished checkpoint's done-through id, with the
    /// same `--where` (`--resume`); without an unfinished checkpoint, start
    /// from the beginning.
    Resume,
    /// Discard any checkpoint and start from the beginning, recording
    /// (`--restart`).
    Restart,
}

/// What to backfill.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// Only resources matching this commercetools predicate, e.g.
    /// `lastModifiedAt > "2024-01-01T00:00:00.000Z"`.
    pub predicate: Option<String>,
    /// Start after this resource id (exclusive): the cursor an interrupted
    /// backfill printed. Not with [`Checkpoints::Resume`].
    pub after: Option<String>,
    /// Resources per page (1 to 500).
    pub page_size: u32,
    /// How often progress is reported.
    pub progress_every: Duration,
    /// Whether a checkpoint is read and recorded in the state store.
    pub checkpoints: Checkpoints,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        Self {
            predicate: None,
            after: None,
            page_size: 500,
            progress_every: Duration::from_millis(250),
            checkpoints: Checkpoints::Off,
        }
    }
}

/// Where a backfill is.
#[derive(Debug, Clone)]
pub struct BackfillProgress {
    /// Resources read from commercetools so far.
    pub scanned: u64,
    /// How many resources match, when commercetools said.
    pub total: Option<u64>,
    /// The runtime's counters.
    pub metrics: MetricsSnapshot,
    /// Time since the start.
    pub elapsed: Duration,
}

impl BackfillProgress {
    /// Resources whose handling finished (successfully or not).
    pub fn done(&self) -> u64 {
        self.metrics.settled()
    }
}

/// What a backfill did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillSummary {
    /// The resource type id, e.g. `category`.
    pub type_id: String,
    /// Its plural, e.g. `categories`: the `connect backfill` argument.
    pub plural: String,
    /// Resources read from commercetools.
    pub scanned: u64,
    /// Resources created in the target (outcome `created`).
    pub created: u64,
    /// Resources updated in the target (outcome `updated`).
    pub updated: u64,
    /// Resources already up to date (outcome `unchanged`).
    pub unchanged: u64,
    /// Resources that failed (now in the dead-letter store).
    pub failed: u64,
    /// Every outcome label with its count.
    pub outcomes: BTreeMap<String, u64>,
    /// How long it took.
    pub elapsed: Duration,
    /// `true` when a signal (or a scan error) stopped the backfill before
    /// every resource was handled; never for a backfill that read and
    /// handled every resource without either.
    pub interrupted: bool,
    /// Resources read but not handled because the backfill was interrupted.
    pub unfinished: u64,
    /// Every resource up to this id (inclusive) was handled: resume with
    /// `--after` this id. `None` when nothing was completed in order (start
    /// again from the same place, or the scan was refused as out of id
    /// order: then no id is a safe resume point).
    pub resume_after: Option<String>,
    /// Where the checkpoint was recorded (`backfill-<plural>` in the state
    /// store), when it was: an interrupted backfill then resumes with
    /// `--resume`.
    pub checkpoint: Option<String>,
    /// The id this run resumed after (from `--resume` or `--after`).
    pub resumed_after: Option<String>,
}

impl BackfillSummary {
    /// Resources per second.
    pub fn rate(&self) -> f64 {
        self.scanned as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// A backfill's checkpoint, as stored (camelCase JSON) in the state store
/// under `backfill-<plural>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BackfillCheckpoint {
    /// The resource plural.
    pub resource: String,
    /// Every resource up to this id (inclusive) was handled.
    pub done_through: Option<String>,
    /// The `--where` predicate of the run.
    #[serde(rename = "where")]
    pub predicate: Option<String>,
    /// `true` once a run handled every resource.
    pub finished: bool,
    /// When the run (the first of a resumed series) started.
    pub started_at: DateTime<Utc>,
    /// When this checkpoint was saved.
    pub saved_at: DateTime<Utc>,
}

/// The state store name of the checkpoint of a backfill of `plural`.
pub fn checkpoint_name(plural: &str) -> String {
    format!("backfill-{plural}")
}

/// What a route-fed scan needs: the connector's router, dead-letter store,
/// services, runtime settings, route mapping, syncs, health and
/// commercetools client. A backfill and the bundled delta job
/// ([`CommercetoolsDeltaScan`](crate::delta)) both stream their scan
/// through it: each resource becomes a message on the resource's route,
/// handled by an in-process runtime over a bounded in-memory queue with
/// the route's handler, concurrency, retries, circuit breakers and
/// dead-letter store, and a cursor that advances only over settled
/// messages.
///
/// A job gets it from its services ([`Connector::job_services`]):
///
/// ```no_run
/// # async fn job(ctx: &connect_jobs::JobContext<'_>) -> Result<(), connect_jobs::JobError> {
/// let feed = ctx.service::<connect_runner::RouteFeed>()?;
/// println!("syncs: {:?}", feed.syncs().names());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RouteFeed {
    origin: String,
    config: ConnectorConfig,
    router: Arc<Router>,
    dead_letters: Arc<dyn DeadLetterStore>,
    services: Arc<Services>,
    translator: Arc<SubscriptionTranslator>,
    syncs: SyncRegistry,
    health: Arc<Health>,
    telemetry: Arc<Telemetry>,
}

/// The route of `sync`'s resources and the event type their messages
/// carry: the one `route-mapping` gives the type, else the sync's default
/// route if the file defines it.
pub(crate) fn route_of(
    origin: &str,
    config: &ConnectorConfig,
    translator: &SubscriptionTranslator,
    sync: &ResourceSync,
) -> Result<FeedRoute, RunnerError> {
    let type_id = sync.type_id;
    let plural = sync.plural;
    let route_name = match translator.route_for(type_id) {
        Some(route) => route.to_owned(),
        None if config.route(sync.route).is_some() => sync.route.to_owned(),
        None => {
            return Err(backend(
                origin,
                format!(
                    "scanning {plural} needs `route-mapping: {{ {type_id}: <route> }}` or a route named `{}`",
                    sync.route
                ),
            ));
        }
    };
    let route = config.route(&route_name).ok_or_else(|| {
        backend(
            origin,
            format!("route-mapping points `{type_id}` at `{route_name}`, which is not a route"),
        )
    })?;
    // The event type every message carries: one the route's inclusion
    // filter lets through.
    let event_type = match &route.inclusion_filter {
        None => "ResourceUpdated".to_owned(),
        Some(filter) => filter
            .iter()
            .find(|t| *t == "ResourceUpdated")
            .or_else(|| filter.iter().find(|t| !t.contains("Deleted")))
            .cloned()
            .ok_or_else(|| {
                backend(origin, format!(
                    "route `{route_name}`'s inclusion-filter lets no create or update event through, so a scan of {plural} would send nothing"
                ))
            })?,
    };
    Ok(FeedRoute {
        route: route_name,
        event_type,
    })
}

fn backend(origin: &str, message: String) -> RunnerError {
    RunnerError::Backend {
        origin: origin.to_owned(),
        message,
    }
}

/// What a job's setup checks against when the connector is not built yet
/// (`connect validate`, `connect jobs`): the file's routes and the
/// registered syncs, without the runtime a [`RouteFeed`] feeds.
#[derive(Debug, Clone)]
pub(crate) struct FeedCheck {
    pub(crate) origin: String,
    pub(crate) config: ConnectorConfig,
    pub(crate) translator: Arc<SubscriptionTranslator>,
    pub(crate) syncs: SyncRegistry,
}

impl FeedCheck {
    pub(crate) fn route_of(&self, sync: &ResourceSync) -> Result<FeedRoute, RunnerError> {
        route_of(&self.origin, &self.config, &self.translator, sync)
    }
}

impl std::fmt::Debug for RouteFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteFeed")
            .field("origin", &self.origin)
            .field("syncs", &self.syncs.names())
            .finish_non_exhaustive()
    }
}

/// A resource's route: its name and the event type its messages carry.
#[derive(Debug, Clone)]
pub(crate) struct FeedRoute {
    pub(crate) route: String,
    pub(crate) event_type: String,
}

/// How a scan is fed.
pub(crate) struct FeedSpec<'a> {
    pub(crate) sync: &'a ResourceSync,
    pub(crate) route: FeedRoute,
    pub(crate) scan: ScanStream,
    pub(crate) order: ScanOrder,
    /// The scan starts strictly after this key (its reads must ascend from
    /// it); the done-through point starts there too.
    pub(crate) after: Option<ScanKey>,
    /// The value of the `source` attribute and the runtime's source name.
    pub(crate) source: &'static str,
    pub(crate) total: Option<u64>,
    pub(crate) progress_every: Duration,
    /// Report to the observability endpoint's backfill gauges.
    pub(crate) gauges: bool,
    /// How often the done-through point is saved while it advances.
    pub(crate) checkpoint_every: Duration,
}

/// Told whenever the contiguous settled prefix advances (at most every
/// [`CHECKPOINT_EVERY`]).
#[async_trait]
pub(crate) trait Advance: Send {
    async fn advanced(&mut self, through: &ScanKey);
}

/// An [`Advance`] that ignores every advance.
pub(crate) struct Ignore;

#[async_trait]
impl Advance for Ignore {
    async fn advanced(&mut self, _through: &ScanKey) {}
}

/// What a fed scan did.
pub(crate) struct Fed {
    pub(crate) scanned: u64,
    pub(crate) metrics: MetricsSnapshot,
    pub(crate) elapsed: Duration,
    pub(crate) unfinished: u64,
    pub(crate) done_through: Option<ScanKey>,
    /// A signal (the shutdown) stopped it.
    pub(crate) stopped: bool,
    /// The scan failed or the runtime ended early.
    pub(crate) scan_error: Option<String>,
    /// The scan was refused as out of order.
    pub(crate) refused: Option<connect_commercetools::Error>,
}

impl RouteFeed {
    pub(crate) fn of(connector: &Connector) -> Self {
        let plan = connector.plan();
        Self {
            origin: plan.document().origin().to_owned(),
            config: plan.config().clone(),
            router: Arc::clone(connector.router()),
            dead_letters: Arc::clone(connector.dead_letters()),
            services: Arc::clone(plan.services()),
            translator: Arc::clone(plan.translator()),
            syncs: plan.syncs().clone(),
            health: connector.health(),
            telemetry: connector.telemetry(),
        }
    }

    /// What a job's setup checks its props against.
    pub(crate) fn check(&self) -> FeedCheck {
        FeedCheck {
            origin: self.origin.clone(),
            config: self.config.clone(),
            translator: Arc::clone(&self.translator),
            syncs: self.syncs.clone(),
        }
    }

    /// The syncs a scan can feed (the connector's registered syncs).
    pub fn syncs(&self) -> &SyncRegistry {
        &self.syncs
    }

    /// The commercetools client, when the file has a `commercetools:` block.
    pub fn commercetools(&self) -> Option<Arc<CommercetoolsClient>> {
        self.services.get::<CommercetoolsClient>()
    }

    /// The configuration file the connector was built from, for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn backend(&self, message: String) -> RunnerError {
        RunnerError::Backend {
            origin: self.origin.clone(),
            message,
        }
    }

    pub(crate) fn require_commercetools(
        &self,
        plural: &str,
    ) -> Result<Arc<CommercetoolsClient>, RunnerError> {
        self.commercetools().ok_or_else(|| {
            self.backend(format!(
                "scanning {plural} reads commercetools: add the `commercetools:` block"
            ))
        })
    }

    /// The route of `sync`'s resources and the event type their messages
    /// carry: the one `route-mapping` gives the type, else the sync's
    /// default route if the file defines it.
    pub(crate) fn route_of(&self, sync: &ResourceSync) -> Result<FeedRoute, RunnerError> {
        route_of(&self.origin, &self.config, &self.translator, sync)
    }

    /// Streams `spec.scan` through its route; see [`Connector::backfill`].
    pub(crate) async fn feed(
        &self,
        spec: FeedSpec<'_>,
        shutdown: Shutdown,
        progress: &mut (dyn FnMut(&BackfillProgress) + Send),
        advance: &mut dyn Advance,
    ) -> Result<Fed, RunnerError> {
        let FeedSpec {
            sync,
            route,
            scan: mut resources,
            order,
            after,
            source,
            total,
            progress_every,
            gauges: with_gauges,
            checkpoint_every,
        } = spec;
        let type_id = sync.type_id;
        let plural = sync.plural;
        let started = Instant::now();
        let runtime_config = &self.config.runtime;
        // Read-ahead: what is read and not settled when a run dies is
        // scanned again when it resumes, so it is bounded; but it must hold
        // the messages that wait for others (a category retried until its
        // parent, read later, lands), so it is not small either.
        let capacity = (runtime_config.concurrency * 4).max(64);
        let batch = runtime_config.concurrency.clamp(1, 64);
        let queue = MemoryQueue::<Message>::new(source, capacity);
        let cursor = Arc::new(Mutex::new(Cursor::starting_after(after)));
        let tracked = Tracked {
            queue: queue.clone(),
            cursor: Arc::clone(&cursor),
        };
        let runtime = Runtime::new(Arc::clone(&self.router), Arc::new(tracked))
            .with_source_name(source)
            .with_config(runtime_config)
            .with_dead_letters(Arc::clone(&self.dead_letters))
            .with_services(Arc::clone(&self.services))
            .with_health(Arc::clone(&self.health))
            .with_heartbeat(Arc::new(Heartbeat::new(source)))
            .with_receive(batch, Duration::from_millis(50));
        let metrics = runtime.metrics();
        let gauges = Arc::new(BackfillGauges::new(total, Arc::clone(&metrics)));
        if with_gauges {
            self.telemetry.backfill_started(Arc::clone(&gauges));
            self.telemetry.watch(runtime.heartbeat());
        }
        // Dropped with the feed (a job's run that is dropped stops its
        // runtime too, as a crash would).
        let mut running = AbortOnDrop(tokio::spawn(runtime.run(shutdown.clone())));
        let mut saver = Saver {
            cursor: Arc::clone(&cursor),
            saved: None,
            last: Instant::now(),
            every: checkpoint_every,
        };

        let mut scanned = 0u64;
        let mut last_report = Instant::now();
        let mut scan_error = None;
        let mut refused = None;
        let stopping = shutdown.triggered();
        tokio::pin!(stopping);
        loop {
            let next = tokio::select! {
                biased;
                () = &mut stopping => break,
                () = tokio::time::sleep(checkpoint_every) => {
                    saver.save_if_due(advance).await;
                    continue;
                }
                next = resources.next() => next,
            };
            let resource = match next {
                None => break,
                Some(Ok(resource)) => resource,
                Some(Err(error)) if error.is_out_of_order() => {
                    refused = Some(error);
                    break;
                }
                Some(Err(error)) => {
                    scan_error = Some(error.to_string());
                    break;
                }
            };
            let key = match ScanKey::of_json(&resource, order) {
                Ok(key) => key,
                Err(problem) => {
                    scan_error = Some(format!(
                        "commercetools returned one of the {plural} that cannot be paged on: {problem}"
                    ));
                    break;
                }
            };
            let mut reference = ResourceRef::new(type_id, key.id.clone());
            if let Some(version) = resource.get("version").and_then(serde_json::Value::as_u64) {
                reference = reference.with_version(version);
            }
            let message = Message::new(route.route.clone())
                .with_event_type(route.event_type.clone())
                .with_resource(reference)
                .with_attribute(connect_core::attributes::SOURCE, source);
            // A custom scan is checked here too: the cursor takes only
            // ascending keys.
            let read = cursor
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .read(&key);
            if let Err(before) = read {
                refused = Some(match order {
                    ScanOrder::LastModified => connect_commercetools::Error::out_of_modified_order(
                        plural,
                        &before.to_string(),
                        &key.to_string(),
                    ),
                    _ => connect_commercetools::Error::out_of_order(plural, &before.id, &key.id),
                });
                break;
            }
            let sent = tokio::select! {
                biased;
                () = &mut stopping => {
                    cursor.lock().unwrap_or_else(PoisonError::into_inner).unread();
                    break;
                }
                sent = queue.send(message) => sent,
            };
            if let Err(error) = sent {
                cursor
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .unread();
                scan_error = Some(format!(
                    "the {source} queue refused one of the {plural}: {error}"
                ));
                break;
            }
            scanned += 1;
            gauges.scanned(scanned);
            saver.save_if_due(advance).await;
            if last_report.elapsed() >= progress_every {
                last_report = Instant::now();
                progress(&BackfillProgress {
                    scanned,
                    total,
                    metrics: metrics.snapshot(),
                    elapsed: started.elapsed(),
                });
            }
        }
        if let Some(error) = &refused {
            // Handle what was read; no key past it is a safe resume point.
            tracing::error!(
                resource = plural,
                %error,
                "the scan was refused; finishing the resources already read"
            );
        } else if scan_error.is_some() {
            tracing::error!(
                resource = plural,
                "the scan failed; finishing the resources already read"
            );
        }
        queue.close();
        // Keep reporting (and checkpointing) while the last messages are
        // handled.
        let tick = progress_every.min(checkpoint_every);
        let mut last_progress = Instant::now();
        let report = loop {
            tokio::select! {
                report = &mut running.0 => break report,
                () = tokio::time::sleep(tick) => {
                    saver.save_if_due(advance).await;
                    if last_progress.elapsed() >= progress_every {
                        last_progress = Instant::now();
                        progress(&BackfillProgress {
                            scanned,
                            total,
                            metrics: metrics.snapshot(),
                            elapsed: started.elapsed(),
                        });
                    }
                }
            }
        };
        gauges.finished();
        let report =
            report.map_err(|e| self.backend(format!("the {source} runtime failed: {e}")))?;
        progress(&BackfillProgress {
            scanned,
            total,
            metrics: report.metrics.clone(),
            elapsed: started.elapsed(),
        });
        let (unfinished, done_through) = {
            let cursor = cursor.lock().unwrap_or_else(PoisonError::into_inner);
            (cursor.unfinished(), cursor.done_through.clone())
        };
        let stopped = shutdown.is_triggered();
        if !stopped && scan_error.is_none() && refused.is_none() && unfinished > 0 {
            // Neither a signal nor the scan stopped it, yet some were not
            // handled: the runtime ended early. Say so, not "interrupted".
            scan_error = Some(format!(
                "{unfinished} of the {plural} read were not handled: the {source} runtime stopped before handling them"
            ));
        }
        Ok(Fed {
            scanned,
            metrics: report.metrics,
            elapsed: started.elapsed(),
            unfinished,
            done_through,
            stopped,
            scan_error,
            refused,
        })
    }
}

/// A spawned task, aborted when this is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Saves the done-through point through an [`Advance`] when it moved and
/// its interval passed since the last save.
struct Saver {
    cursor: Arc<Mutex<Cursor>>,
    saved: Option<ScanKey>,
    last: Instant,
    every: Duration,
}

impl Saver {
    async fn save_if_due(&mut self, advance: &mut dyn Advance) {
        if self.last.elapsed() < self.every {
            return;
        }
        let through = self
            .cursor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .done_through
            .clone();
        self.last = Instant::now();
        if let Some(through) = through
            && self.saved.as_ref() != Some(&through)
        {
            advance.advanced(&through).await;
            self.saved = Some(through);
        }
    }
}

/// Which resources, in the scan's key order, have been handled: the first
/// unhandled one bounds where an interrupted scan resumes. It holds only
/// keys that ascend strictly ([`read`](Self::read) refuses any other).
#[derive(Debug, Default)]
struct Cursor {
    /// Keys read and not yet all handled, ascending, with whether each one
    /// was handled; `window[0]` was read `base`-th.
    window: VecDeque<(ScanKey, bool)>,
    base: u64,
    /// The read numbers of each id read and not handled (a delta scan may
    /// read one id twice: it changed during the scan).
    pending: HashMap<String, VecDeque<u64>>,
    /// Every key up to this one was handled.
    done_through: Option<ScanKey>,
    /// The last key read (at first the scan's `after`): the next one must
    /// come after it.
    last_read: Option<ScanKey>,
}

impl Cursor {
    /// A cursor for a scan that starts after `after` (exclusive).
    fn starting_after(after: Option<ScanKey>) -> Self {
        Self {
            done_through: after.clone(),
            last_read: after,
            ..Self::default()
        }
    }

    /// Records `key` as read and not yet handled. A key that does not come
    /// strictly after the last one read (or the scan's `after`) is refused,
    /// with that last key: the cursor cannot say what an unordered scan
    /// has handled.
    fn read(&mut self, key: &ScanKey) -> Result<(), ScanKey> {
        if let Some(last) = &self.last_read
            && key <= last
        {
            return Err(last.clone());
        }
        let number = self.base + self.window.len() as u64;
        self.window.push_back((key.clone(), false));
        self.pending
            .entry(key.id.clone())
            .or_default()
            .push_back(number);
        self.last_read = Some(key.clone());
        Ok(())
    }

    /// Forgets the last key read: it was never sent.
    fn unread(&mut self) {
        if let Some((key, false)) = self.window.back().cloned() {
            self.window.pop_back();
            if let Some(numbers) = self.pending.get_mut(&key.id) {
                numbers.pop_back();
                if numbers.is_empty() {
                    self.pending.remove(&key.id);
                }
            }
            self.last_read = self
                .window
                .back()
                .map(|(k, _)| k.clone())
                .or_else(|| self.done_through.clone());
        }
    }

    /// Keys read and not handled.
    fn unfinished(&self) -> u64 {
        self.window.iter().filter(|(_, handled)| !handled).count() as u64
    }

    fn handled(&mut self, id: &str) {
        let Some(numbers) = self.pending.get_mut(id) else {
            return;
        };
        let number = numbers.pop_front();
        if numbers.is_empty() {
            self.pending.remove(id);
        }
        if let Some(number) = number
            && let Some(index) = number.checked_sub(self.base)
            && let Some(entry) = usize::try_from(index)
                .ok()
                .and_then(|i| self.window.get_mut(i))
        {
            entry.1 = true;
        }
        while self.window.front().is_some_and(|(_, handled)| *handled) {
            if let Some((key, _)) = self.window.pop_front() {
                self.base += 1;
                self.done_through = Some(key);
            }
        }
    }
}

/// The feed's queue, reporting every acknowledged message to the cursor.
struct Tracked {
    queue: MemoryQueue<Message>,
    cursor: Arc<Mutex<Cursor>>,
}

#[async_trait]
impl Source<Message> for Tracked {
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<Message>>, QueueError> {
        let batch = self.queue.receive(max, wait).await?;
        Ok(batch
            .into_iter()
            .map(|delivery| {
                let id = delivery.item().resource_id().unwrap_or_default().to_owned();
                let cursor = Arc::clone(&self.cursor);
                delivery.on_ack(move || {
                    cursor
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .handled(&id);
                })
            })
            .collect())
    }
}

/// Saves a backfill's checkpoint in the state store as it advances.
struct BackfillSaver {
    store: Arc<dyn StateStore>,
    name: String,
    checkpoint: BackfillCheckpoint,
    origin: String,
}

impl BackfillSaver {
    async fn save(&mut self) -> Result<(), RunnerError> {
        self.checkpoint.saved_at = Utc::now();
        let value = serde_json::to_value(&self.checkpoint).map_err(|e| RunnerError::Backend {
            origin: self.origin.clone(),
            message: format!("cannot encode the backfill checkpoint: {e}"),
        })?;
        let mut state = self
            .store
            .load(&self.name)
            .await
            .map_err(|source| self.state_error(source))?
            .unwrap_or_default();
        state.checkpoint = Some(value);
        state.checkpoint_at = Some(self.checkpoint.saved_at);
        self.store
            .save(&self.name, &state)
            .await
            .map_err(|source| self.state_error(source))
    }

    fn state_error(&self, source: connect_jobs::StateError) -> RunnerError {
        RunnerError::State {
            origin: self.origin.clone(),
            name: self.name.clone(),
            source: Box::new(source),
        }
    }
}

#[async_trait]
impl Advance for BackfillSaver {
    async fn advanced(&mut self, through: &ScanKey) {
        self.checkpoint.done_through = Some(through.id.clone());
        if let Err(error) = self.save().await {
            tracing::warn!(%error, checkpoint = %self.name, "cannot save the backfill checkpoint; retrying at the next advance");
        }
    }
}

/// Reads a stored backfill checkpoint.
fn stored_checkpoint(state: Option<JobState>) -> Option<BackfillCheckpoint> {
    state
        .and_then(|s| s.checkpoint)
        .and_then(|value| serde_json::from_value(value).ok())
}

fn shown(predicate: Option<&str>) -> String {
    predicate.map_or_else(|| "none".to_owned(), |p| format!("`{p}`"))
}

impl Connector {
    /// What a route-fed scan needs (see [`RouteFeed`]).
    pub fn route_feed(&self) -> RouteFeed {
        RouteFeed::of(self)
    }

    /// The services scheduled jobs get: the plan's services (the
    /// commercetools and Fluent clients, partner blocks) plus a
    /// [`RouteFeed`], with which a job streams resources through their
    /// routes (the bundled `CommercetoolsDeltaScan` needs it).
    pub fn job_services(&self) -> Arc<Services> {
        let services = Services::clone(self.plan().services()).with(self.route_feed());
        Arc::new(services)
    }

    /// Opens the state store of the file's `state:` block (default: the
    /// file `./connect-state.json`), where job and backfill checkpoints
    /// live.
    pub fn state_store(&self) -> Result<Arc<dyn StateStore>, RunnerError> {
        let origin = self.plan().document().origin().to_owned();
        let jobs = connect_jobs::JobsConfig::from_document(self.plan().document())?;
        let fluent = self.fluent();
        jobs.state
            .open(fluent.as_deref())
            .map_err(|source| RunnerError::State {
                origin,
                name: "state".to_owned(),
                source: Box::new(source),
            })
    }

    /// Streams every commercetools resource of `resource` (a registered
    /// sync's type id or plural, e.g. `category` or `categories`) through
    /// its route: the one `route-mapping` gives the type, else the sync's
    /// default route if the file defines it. The scan is the sync's (cursor
    /// paging by id, one page in memory); each resource is one message with
    /// its id and version, handled with the route's handler, concurrency,
    /// retries, circuit breakers and dead-letter store. `progress` is called
    /// every `options.progress_every` and at the end.
    ///
    /// `shutdown` stops it: the first stage stops reading and lets running
    /// handlers finish within `shutdown-timeout`; the second stops at once.
    /// The summary then says it was interrupted and where to resume.
    ///
    /// With [`Checkpoints`] other than `Off`, the checkpoint
    /// `backfill-<plural>` in the state store (`state:`) records the
    /// done-through id, the predicate and whether the run finished, saved
    /// as the done-through point advances (at most every
    /// [`CHECKPOINT_EVERY`]) and at the end, so that a run that dies in any
    /// way (SIGKILL included) resumes with [`Checkpoints::Resume`]. A
    /// resume with another predicate than the checkpoint's, a resume with
    /// `after`, and a [`Checkpoints::New`] run that finds an unfinished
    /// checkpoint are refused with [`RunnerError::Checkpoint`], which says
    /// what to do.
    ///
    /// The scan must return ids in strictly ascending order, page after
    /// page (the cursor and `--after` rely on it). One that does not is
    /// refused: the resources read before are handled, then the backfill
    /// fails with [`RunnerError::ScanRefused`], naming the ids seen out of
    /// order, with no resume point. A scan that fails otherwise fails with
    /// [`RunnerError::Interrupted`] and where to resume.
    pub async fn backfill(
        &self,
        resource: &str,
        options: BackfillOptions,
        shutdown: Shutdown,
        progress: impl FnMut(&BackfillProgress) + Send,
    ) -> Result<BackfillSummary, RunnerError> {
        let origin = self.plan().document().origin().to_owned();
        let sync = *self
            .plan()
            .syncs()
            .find(resource)
            .ok_or_else(|| RunnerError::Backend {
                origin: origin.clone(),
                message: self.plan().syncs().unknown(resource),
            })?;
        self.backfill_sync(&sync, options, shutdown, progress).await
    }

    /// [`backfill`](Self::backfill) with a sync that need not be registered.
    pub async fn backfill_sync(
        &self,
        sync: &ResourceSync,
        mut options: BackfillOptions,
        shutdown: Shutdown,
        mut progress: impl FnMut(&BackfillProgress) + Send,
    ) -> Result<BackfillSummary, RunnerError> {
        let origin = self.plan().document().origin().to_owned();
        let plural = sync.plural;
        let feed = self.route_feed();
        let commercetools = feed.require_commercetools(plural)?;
        let route = feed.route_of(sync)?;
        let checkpoint_error = |message: String| RunnerError::Checkpoint {
            origin: origin.clone(),
            message,
        };

        // The checkpoint: where to start, and what to record.
        let name = checkpoint_name(plural);
        let mut saver = None;
        let mut checkpoint_every = CHECKPOINT_EVERY;
        if options.checkpoints != Checkpoints::Off {
            let store = self.state_store()?;
            let described = store.describe();
            if described.starts_with("file") {
                checkpoint_every = FILE_CHECKPOINT_EVERY;
            }
            let state_error = |source| RunnerError::State {
                origin: origin.clone(),
                name: name.clone(),
                source: Box::new(source),
            };
            let stored = stored_checkpoint(store.load(&name).await.map_err(state_error)?);
            let unfinished = stored.filter(|c| !c.finished);
            let mut started_at = Utc::now();
            match (options.checkpoints, unfinished) {
                (Checkpoints::New, Some(unfinished)) => {
                    return Err(checkpoint_error(format!(
                        "an earlier backfill of {plural} did not finish (checkpoint `{name}` in {described}: done through {}, --where {}, started {}); choose: `connect backfill {plural} --resume` continues after it, `--restart` discards it and starts from the beginning",
                        unfinished
                            .done_through
                            .as_deref()
                            .map_or_else(|| "nothing yet".to_owned(), |id| format!("id {id}")),
                        shown(unfinished.predicate.as_deref()),
                        unfinished
                            .started_at
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    )));
                }
                (Checkpoints::Resume, _) if options.after.is_some() => {
                    return Err(checkpoint_error(
                        "--after and --resume both say where to start: use one of them".to_owned(),
                    ));
                }
                (Checkpoints::Resume, Some(unfinished)) => {
                    if unfinished.predicate != options.predicate {
                        return Err(checkpoint_error(format!(
                            "--resume continues the unfinished backfill of {plural}, which ran with --where {}, but this one has --where {}; repeat the first one's --where to resume it, or use --restart to start over with the new one",
                            shown(unfinished.predicate.as_deref()),
                            shown(options.predicate.as_deref()),
                        )));
                    }
                    tracing::info!(
                        checkpoint = %name,
                        after = unfinished.done_through.as_deref().unwrap_or(""),
                        "resuming the unfinished backfill"
                    );
                    options.after.clone_from(&unfinished.done_through);
                    started_at = unfinished.started_at;
                }
                (Checkpoints::Resume, None) => {
                    tracing::info!(checkpoint = %name, "no unfinished backfill to resume; starting from the beginning");
                }
                _ => {}
            }
            let mut recorder = BackfillSaver {
                store,
                name: name.clone(),
                checkpoint: BackfillCheckpoint {
                    resource: plural.to_owned(),
                    done_through: options.after.clone(),
                    predicate: options.predicate.clone(),
                    finished: false,
                    started_at,
                    saved_at: Utc::now(),
                },
                origin: origin.clone(),
            };
            // Record the run before the first resource is read: a run
            // killed at once is unfinished too.
            recorder.save().await?;
            saver = Some(recorder);
        }

        let request = ScanRequest {
            predicate: options.predicate.clone(),
            after: options.after.clone(),
            page_size: options.page_size,
        };
        let total = match sync.count(&commercetools, &request).await {
            Ok(total) => total,
            Err(error) => {
                tracing::warn!(%error, resource = plural, "cannot count the resources; progress shows no total");
                None
            }
        };
        let spec = FeedSpec {
            sync,
            route,
            scan: sync.scan(&commercetools, &request),
            order: ScanOrder::Id,
            after: options.after.clone().map(ScanKey::id),
            source: "backfill",
            total,
            progress_every: options.progress_every,
            gauges: true,
            checkpoint_every,
        };
        let mut ignore = Ignore;
        let advance: &mut dyn Advance = match saver.as_mut() {
            Some(saver) => saver,
            None => &mut ignore,
        };
        let fed = feed.feed(spec, shutdown, &mut progress, advance).await?;

        let m = &fed.metrics;
        let interrupted = fed.stopped || fed.scan_error.is_some() || fed.refused.is_some();
        // After an unordered scan no id bounds what was handled.
        let resume_after = if fed.refused.is_some() {
            None
        } else {
            fed.done_through.as_ref().map(|k| k.id.clone())
        };
        let mut checkpoint = None;
        if let Some(saver) = saver.as_mut() {
            if fed.refused.is_some() {
                // No point of an unordered scan is safe to resume from:
                // leave none behind.
                saver.checkpoint.done_through = None;
                saver.checkpoint.finished = true;
            } else {
                saver.checkpoint.done_through.clone_from(&resume_after);
                saver.checkpoint.finished = !interrupted;
            }
            saver.save().await?;
            checkpoint = (fed.refused.is_none() && interrupted).then(|| name.clone());
        }
        let summary = BackfillSummary {
            type_id: sync.type_id.to_owned(),
            plural: plural.to_owned(),
            scanned: fed.scanned,
            created: m.outcome(outcome::CREATED),
            updated: m.outcome(outcome::UPDATED),
            unchanged: m.outcome(outcome::UNCHANGED),
            failed: m.dead_lettered,
            outcomes: m.outcomes.clone(),
            elapsed: fed.elapsed,
            interrupted,
            unfinished: fed.unfinished,
            resume_after,
            checkpoint,
            resumed_after: options.after.clone(),
        };
        if let Some(cause) = fed.refused {
            return Err(RunnerError::ScanRefused {
                origin,
                summary: Box::new(summary),
                cause,
            });
        }
        match fed.scan_error {
            Some(error) => Err(RunnerError::Interrupted {
                origin,
                summary: Box::new(summary),
                cause: error,
            }),
            None => Ok(summary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(id: &str) -> ScanKey {
        ScanKey::id(id)
    }

    fn at(seconds: i64, id: &str) -> ScanKey {
        ScanKey::modified(
            DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap_or_default(),
            id,
        )
    }

    #[test]
    fn the_cursor_advances_only_through_handled_ids_in_order() {
        let mut cursor = Cursor::default();
        for key in ["a", "b", "c", "d"] {
            cursor.read(&id(key)).unwrap();
        }
        cursor.handled("b");
        assert_eq!(cursor.done_through, None, "a is not handled yet");
        cursor.handled("a");
        assert_eq!(cursor.done_through, Some(id("b")));
        cursor.handled("d");
        assert_eq!(cursor.done_through, Some(id("b")));
        cursor.handled("c");
        assert_eq!(cursor.done_through, Some(id("d")));
        assert!(cursor.window.is_empty());
        assert!(cursor.pending.is_empty());
    }

    #[test]
    fn the_cursor_refuses_an_id_that_does_not_ascend() {
        let mut cursor = Cursor::starting_after(Some(id("m")));
        assert_eq!(cursor.read(&id("k")), Err(id("m")), "before `after`");
        assert_eq!(cursor.read(&id("m")), Err(id("m")), "`after` itself");
        cursor.read(&id("n")).unwrap();
        cursor.read(&id("p")).unwrap();
        assert_eq!(cursor.read(&id("o")), Err(id("p")), "descending");
        assert_eq!(cursor.read(&id("p")), Err(id("p")), "repeated");
        // What was refused is not in the window: the handled ones still
        // advance the cursor.
        cursor.handled("n");
        cursor.handled("p");
        assert_eq!(cursor.done_through, Some(id("p")));
        assert_eq!(cursor.unfinished(), 0);
    }

    #[test]
    fn a_modified_key_cursor_orders_by_time_then_id_and_tracks_a_repeated_id() {
        let mut cursor = Cursor::starting_after(Some(at(0, "z")));
        // Same time, smaller id: refused; later time, smaller id: fine.
        assert_eq!(cursor.read(&at(0, "a")), Err(at(0, "z")));
        cursor.read(&at(1, "a")).unwrap();
        cursor.read(&at(1, "b")).unwrap();
        assert_eq!(cursor.read(&at(0, "zz")), Err(at(1, "b")), "time went back");
        // `a` changed during the scan: read again, later.
        cursor.read(&at(2, "a")).unwrap();
        cursor.handled("a");
        assert_eq!(cursor.done_through, Some(at(1, "a")));
        cursor.handled("a");
        assert_eq!(cursor.done_through, Some(at(1, "a")), "b is in flight");
        cursor.handled("b");
        assert_eq!(cursor.done_through, Some(at(2, "a")));
        assert_eq!(cursor.unfinished(), 0);
    }

    #[test]
    fn an_unsent_key_is_forgotten() {
        let mut cursor = Cursor::starting_after(Some(id("a")));
        cursor.read(&id("b")).unwrap();
        cursor.read(&id("c")).unwrap();
        cursor.unread();
        assert_eq!(cursor.unfinished(), 1);
        cursor.handled("b");
        assert_eq!(cursor.done_through, Some(id("b")));
        cursor.read(&id("c")).unwrap();
        cursor.unread();
        cursor.unread();
        assert_eq!(cursor.last_read, Some(id("b")));
    }
}
