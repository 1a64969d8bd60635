//! Backfill: every commercetools resource of one type through its route,
//! scanned as its [`ResourceSync`] declares.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use connect_commercetools::sync::{ResourceSync, ScanRequest, outcome};
use connect_core::queue::{Delivery, MemoryQueue, Sink, Source};
use connect_core::runtime::{Heartbeat, MetricsSnapshot, Runtime, Shutdown};
use connect_core::{Message, QueueError, ResourceRef, async_trait};
use futures_util::StreamExt;

use crate::connector::Connector;
use crate::error::RunnerError;
use crate::observability::BackfillGauges;

/// What to backfill.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// Only resources matching this commercetools predicate, e.g.
    /// `lastModifiedAt > "2024-01-01T00:00:00.000Z"`.
    pub predicate: Option<String>,
    /// Start after this resource id (exclusive): the cursor an interrupted
    /// backfill printed.
    pub after: Option<String>,
    /// Resources per page (1 to 500).
    pub page_size: u32,
    /// How often progress is reported.
    pub progress_every: Duration,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        Self {
            predicate: None,
            after: None,
            page_size: 500,
            progress_every: Duration::from_millis(250),
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
}

impl BackfillSummary {
    /// Resources per second.
    pub fn rate(&self) -> f64 {
        self.scanned as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Which resources, in id order, have been handled: the first unhandled
/// one bounds where an interrupted backfill resumes. It holds only ids
/// that ascend strictly ([`read`](Self::read) refuses any other), so its
/// window is sorted and searched as such.
#[derive(Debug, Default)]
struct Cursor {
    /// Ids read and not yet all handled, ascending, with whether each one
    /// was handled.
    window: VecDeque<(String, bool)>,
    /// Every id up to this one was handled.
    done_through: Option<String>,
    /// The last id read (at first the scan's `after`): the next one must
    /// come after it.
    last_read: Option<String>,
}

impl Cursor {
    /// A cursor for a scan that starts after `after` (exclusive).
    fn starting_after(after: Option<String>) -> Self {
        Self {
            window: VecDeque::new(),
            done_through: after.clone(),
            last_read: after,
        }
    }

    /// Records `id` as read and not yet handled. An id that does not come
    /// strictly after the last one read (or the scan's `after`) is refused,
    /// with that last id: the cursor cannot say what an unordered scan
    /// has handled.
    fn read(&mut self, id: &str) -> Result<(), String> {
        if let Some(last) = &self.last_read
            && id <= last.as_str()
        {
            return Err(last.clone());
        }
        self.window.push_back((id.to_owned(), false));
        self.last_read = Some(id.to_owned());
        Ok(())
    }

    /// Ids read and not handled.
    fn unfinished(&self) -> u64 {
        self.window.iter().filter(|(_, handled)| !handled).count() as u64
    }

    fn handled(&mut self, id: &str) {
        if let Ok(index) = self
            .window
            .binary_search_by(|(candidate, _)| candidate.as_str().cmp(id))
        {
            self.window[index].1 = true;
        }
        while self.window.front().is_some_and(|(_, handled)| *handled) {
            if let Some((id, _)) = self.window.pop_front() {
                self.done_through = Some(id);
            }
        }
    }
}

/// The backfill queue, reporting every acknowledged message to the cursor.
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

impl Connector {
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
        options: BackfillOptions,
        shutdown: Shutdown,
        mut progress: impl FnMut(&BackfillProgress) + Send,
    ) -> Result<BackfillSummary, RunnerError> {
        let origin = self.plan().document().origin().to_owned();
        let type_id = sync.type_id;
        let plural = sync.plural;
        let commercetools = self.commercetools().ok_or_else(|| RunnerError::Backend {
            origin: origin.clone(),
            message: format!(
                "backfill reads {plural} from commercetools: add the `commercetools:` block"
            ),
        })?;
        let config = self.config();
        let mapped = self.plan().translator().route_for(type_id);
        let route_name = match mapped {
            Some(route) => route.to_owned(),
            None if config.route(sync.route).is_some() => sync.route.to_owned(),
            None => {
                return Err(RunnerError::Backend {
                    origin: origin.clone(),
                    message: format!(
                        "backfill of {plural} needs `route-mapping: {{ {type_id}: <route> }}` or a route named `{}`",
                        sync.route
                    ),
                });
            }
        };
        let route = config
            .route(&route_name)
            .ok_or_else(|| RunnerError::Backend {
                origin: origin.clone(),
                message: format!(
                    "route-mapping points `{type_id}` at `{route_name}`, which is not a route"
                ),
            })?;
        // The event type every backfill message carries: one the route's
        // inclusion filter lets through.
        let event_type = match &route.inclusion_filter {
            None => "ResourceUpdated".to_owned(),
            Some(filter) => filter
                .iter()
                .find(|t| *t == "ResourceUpdated")
                .or_else(|| filter.iter().find(|t| !t.contains("Deleted")))
                .cloned()
                .ok_or_else(|| RunnerError::Backend {
                    origin: origin.clone(),
                    message: format!(
                        "route `{route_name}`'s inclusion-filter lets no create or update event through, so backfill would send nothing"
                    ),
                })?,
        };
        let request = ScanRequest {
            predicate: options.predicate.clone(),
            after: options.after.clone(),
            page_size: options.page_size,
        };

        let started = Instant::now();
        let total = match sync.count(&commercetools, &request).await {
            Ok(total) => total,
            Err(error) => {
                tracing::warn!(%error, resource = plural, "cannot count the resources; progress shows no total");
                None
            }
        };

        let capacity = (config.runtime.concurrency * 4).max(64);
        let queue = MemoryQueue::<Message>::new("backfill", capacity);
        let cursor = Arc::new(Mutex::new(Cursor::starting_after(options.after.clone())));
        let source = Tracked {
            queue: queue.clone(),
            cursor: Arc::clone(&cursor),
        };
        let runtime = Runtime::new(Arc::clone(self.router()), Arc::new(source))
            .with_source_name("backfill")
            .with_config(&config.runtime)
            .with_dead_letters(Arc::clone(self.dead_letters()))
            .with_services(Arc::clone(self.plan().services()))
            .with_health(self.health())
            .with_heartbeat(Arc::new(Heartbeat::new("backfill")))
            .with_receive(64, Duration::from_millis(50));
        let metrics = runtime.metrics();
        let telemetry = self.telemetry();
        let gauges = Arc::new(BackfillGauges::new(total, Arc::clone(&metrics)));
        telemetry.backfill_started(Arc::clone(&gauges));
        telemetry.watch(runtime.heartbeat());
        let running = tokio::spawn(runtime.run(shutdown.clone()));

        let mut resources = sync.scan(&commercetools, &request);
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
            let Some(id) = resource.get("id").and_then(serde_json::Value::as_str) else {
                scan_error = Some(format!(
                    "commercetools returned one of the {plural} without an `id`"
                ));
                break;
            };
            let mut reference = ResourceRef::new(type_id, id);
            if let Some(version) = resource.get("version").and_then(serde_json::Value::as_u64) {
                reference = reference.with_version(version);
            }
            let message = Message::new(route_name.clone())
                .with_event_type(event_type.clone())
                .with_resource(reference)
                .with_attribute(connect_core::attributes::SOURCE, "backfill");
            // A custom scan is checked here too: the cursor takes only
            // ascending ids.
            let read = cursor
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .read(id);
            if let Err(before) = read {
                refused = Some(connect_commercetools::Error::out_of_order(
                    plural, &before, id,
                ));
                break;
            }
            let sent = tokio::select! {
                biased;
                () = &mut stopping => break,
                sent = queue.send(message) => sent,
            };
            if let Err(error) = sent {
                scan_error = Some(format!(
                    "the backfill queue refused one of the {plural}: {error}"
                ));
                break;
            }
            scanned += 1;
            gauges.scanned(scanned);
            if last_report.elapsed() >= options.progress_every {
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
            // Handle what was read; there is no safe resume point.
            tracing::error!(
                resource = plural,
                %error,
                "the scan was refused; finishing the resources already read"
            );
        } else if scan_error.is_some() {
            // Handle what was read; the summary says where to resume.
            tracing::error!(
                resource = plural,
                "the scan failed; finishing the resources already read"
            );
        }
        queue.close();
        // Keep reporting while the last messages are handled.
        let mut running = running;
        let report = loop {
            tokio::select! {
                report = &mut running => break report,
                () = tokio::time::sleep(options.progress_every) => progress(&BackfillProgress {
                    scanned,
                    total,
                    metrics: metrics.snapshot(),
                    elapsed: started.elapsed(),
                }),
            }
        };
        gauges.finished();
        let report = report.map_err(|e| RunnerError::Backend {
            origin: origin.clone(),
            message: format!("the backfill runtime failed: {e}"),
        })?;
        progress(&BackfillProgress {
            scanned,
            total,
            metrics: report.metrics.clone(),
            elapsed: started.elapsed(),
        });
        let m = &report.metrics;
        let cursor = cursor.lock().unwrap_or_else(PoisonError::into_inner);
        let unfinished = cursor.unfinished();
        let stopped = shutdown.is_triggered() || scan_error.is_some() || refused.is_some();
        if !stopped && unfinished > 0 {
            // Neither a signal nor the scan stopped it, yet some were not
            // handled: the runtime ended early. Say so, not "interrupted".
            scan_error = Some(format!(
                "{unfinished} of the {plural} read were not handled: the backfill runtime stopped before handling them"
            ));
        }
        let interrupted = stopped || scan_error.is_some();
        // After an unordered scan no id bounds what was handled.
        let resume_after = if refused.is_some() {
            None
        } else {
            cursor.done_through.clone()
        };
        let summary = BackfillSummary {
            type_id: type_id.to_owned(),
            plural: plural.to_owned(),
            scanned,
            created: m.outcome(outcome::CREATED),
            updated: m.outcome(outcome::UPDATED),
            unchanged: m.outcome(outcome::UNCHANGED),
            failed: m.dead_lettered,
            outcomes: m.outcomes.clone(),
            elapsed: started.elapsed(),
            interrupted,
            unfinished,
            resume_after,
        };
        drop(cursor);
        if let Some(cause) = refused {
            return Err(RunnerError::ScanRefused {
                origin,
                summary: Box::new(summary),
                cause,
            });
        }
        match scan_error {
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

    #[test]
    fn the_cursor_advances_only_through_handled_ids_in_order() {
        let mut cursor = Cursor::default();
        for id in ["a", "b", "c", "d"] {
            cursor.read(id).unwrap();
        }
        cursor.handled("b");
        assert_eq!(cursor.done_through, None, "a is not handled yet");
        cursor.handled("a");
        assert_eq!(cursor.done_through.as_deref(), Some("b"));
        cursor.handled("d");
        assert_eq!(cursor.done_through.as_deref(), Some("b"));
        cursor.handled("c");
        assert_eq!(cursor.done_through.as_deref(), Some("d"));
        assert!(cursor.window.is_empty());
    }

    #[test]
    fn the_cursor_refuses_an_id_that_does_not_ascend() {
        let mut cursor = Cursor::starting_after(Some("m".to_owned()));
        assert_eq!(cursor.read("k"), Err("m".to_owned()), "before `after`");
        assert_eq!(cursor.read("m"), Err("m".to_owned()), "`after` itself");
        cursor.read("n").unwrap();
        cursor.read("p").unwrap();
        assert_eq!(cursor.read("o"), Err("p".to_owned()), "descending");
        assert_eq!(cursor.read("p"), Err("p".to_owned()), "repeated");
        // What was refused is not in the window: the handled ones still
        // advance the cursor.
        cursor.handled("n");
        cursor.handled("p");
        assert_eq!(cursor.done_through.as_deref(), Some("p"));
        assert_eq!(cursor.unfinished(), 0);
    }
}
