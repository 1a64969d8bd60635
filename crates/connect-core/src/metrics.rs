//! The runtime's and each route's counters, readable from code, and a way
//! to wait for them (re-exported by [`runtime`](crate::runtime)).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::lifecycle::Signal;

const BUCKETS: usize = 40;

/// The runtime's counters. Every received message ends as exactly one of
/// filtered, succeeded, coalesced or dead-lettered; a retried one is received
/// again.
#[derive(Debug, Default)]
pub struct Metrics {
    received: AtomicU64,
    filtered: AtomicU64,
    succeeded: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    coalesced: AtomicU64,
    in_flight: AtomicU64,
    waiting: AtomicU64,
    held: AtomicU64,
    latency: Latency,
    outcomes: Outcomes,
    changed: Signal,
}

#[derive(Debug)]
struct Latency {
    buckets: [AtomicU64; BUCKETS],
    total_micros: AtomicU64,
    max_micros: AtomicU64,
}

impl Default for Latency {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            total_micros: AtomicU64::new(0),
            max_micros: AtomicU64::new(0),
        }
    }
}

impl Latency {
    fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = (u64::BITS - micros.leading_zeros()) as usize;
        self.buckets[bucket.min(BUCKETS - 1)].fetch_add(1, Relaxed);
        self.total_micros.fetch_add(micros, Relaxed);
        self.max_micros.fetch_max(micros, Relaxed);
    }

    fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let count: u64 = counts.iter().sum();
        let quantile = |q: f64| {
            if count == 0 {
                return Duration::ZERO;
            }
            let target = ((count as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (bucket, n) in counts.iter().enumerate() {
                seen += n;
                if seen >= target {
                    // Upper bound of the bucket: values below 2^bucket µs.
                    return Duration::from_micros(1u64 << bucket.min(63));
                }
            }
            Duration::from_micros(self.max_micros.load(Relaxed))
        };
        LatencySummary {
            count,
            mean: Duration::from_micros(
                self.total_micros
                    .load(Relaxed)
                    .checked_div(count)
                    .unwrap_or(0),
            ),
            p50: quantile(0.50),
            p99: quantile(0.99),
            max: Duration::from_micros(self.max_micros.load(Relaxed)),
        }
    }
}

/// Successes by outcome label. A connector has a handful of labels: each
/// gets a slot on first use and is counted there without a lock; labels
/// beyond the slots share a locked list.
#[derive(Debug, Default)]
struct Outcomes {
    slots: [(OnceLock<Box<str>>, AtomicU64); 16],
    overflow: Mutex<Vec<(String, u64)>>,
}

impl Outcomes {
    fn count(&self, label: &str) {
        for (slot, count) in &self.slots {
            let taken = slot.get_or_init(|| label.into());
            if **taken == *label {
                count.fetch_add(1, Relaxed);
                return;
            }
        }
        let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        match overflow.iter_mut().find(|(l, _)| l == label) {
            Some((_, count)) => *count += 1,
            None => overflow.push((label.to_owned(), 1)),
        }
    }

    fn snapshot(&self) -> BTreeMap<String, u64> {
        let mut counts: BTreeMap<String, u64> = self
            .slots
            .iter()
            .filter_map(|(slot, count)| Some((slot.get()?.to_string(), count.load(Relaxed))))
            .collect();
        for (label, count) in self
            .overflow
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            *counts.entry(label.clone()).or_default() += count;
        }
        counts
    }
}

/// Handler latency (from the start of handling to the settlement).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Messages measured.
    pub count: u64,
    /// Mean.
    pub mean: Duration,
    /// Median (upper bound of its power-of-two bucket).
    pub p50: Duration,
    /// 99th percentile (upper bound of its power-of-two bucket).
    pub p99: Duration,
    /// Maximum.
    pub max: Duration,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Deliveries received from the event queue (a retry counts again).
    pub received: u64,
    /// Acknowledged because the route's inclusion filter excluded them.
    pub filtered: u64,
    /// Handled successfully.
    pub succeeded: u64,
    /// Failed with a retryable error and returned to the queue.
    pub retried: u64,
    /// Sent to the dead-letter store.
    pub dead_lettered: u64,
    /// Acknowledged because a later message for the same resource was
    /// handled in their place.
    pub coalesced: u64,
    /// Being handled right now.
    pub in_flight: u64,
    /// Waiting for a dependency that is down (their attempts untouched).
    pub waiting: u64,
    /// Received and not settled yet: in flight, waiting for their resource
    /// or for a dependency (bounded by `prefetch`).
    pub held: u64,
    /// Successful outcomes by label (`done`, `created`, `unchanged`, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// Handler latency.
    pub latency: LatencySummary,
}

impl MetricsSnapshot {
    /// Messages that reached a final state (acknowledged or dead-lettered).
    pub fn settled(&self) -> u64 {
        self.filtered + self.succeeded + self.dead_lettered + self.coalesced
    }

    /// The count of successful outcomes labelled `label`.
    pub fn outcome(&self, label: &str) -> u64 {
        self.outcomes.get(label).copied().unwrap_or(0)
    }
}

/// [`Metrics::wait_until`] gave up.
#[derive(Debug, thiserror::Error)]
#[error("condition not met within {timeout:?}; last counters: {last:?}")]
pub struct WaitTimeout {
    /// How long it waited.
    pub timeout: Duration,
    /// The counters when it gave up.
    pub last: Box<MetricsSnapshot>,
}

impl Metrics {
    /// Fresh counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            received: self.received.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            // Acquire: the outcome counted before a success is seen with it.
            succeeded: self.succeeded.load(Acquire),
            retried: self.retried.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            waiting: self.waiting.load(Relaxed),
            held: self.held.load(Relaxed),
            outcomes: self.outcomes.snapshot(),
            latency: self.latency.summary(),
        }
    }

    /// Waits until `condition` holds for the counters, or `timeout` passes.
    ///
    /// Meant for tests, examples and tools: every change wakes the waiter,
    /// which re-reads all counters. Await it from a task of the same tokio
    /// runtime; nothing in the message path waits on it.
    pub async fn wait_until(
        &self,
        condition: impl Fn(&MetricsSnapshot) -> bool,
        timeout: Duration,
    ) -> Result<MetricsSnapshot, WaitTimeout> {
        self.changed
            .wait_for(|| self.snapshot(), condition, timeout)
            .await
            .map_err(|last| WaitTimeout {
                timeout,
                last: Box::new(last),
            })
    }

    pub(crate) fn received(&self, n: u64) {
        self.received.fetch_add(n, SeqCst);
        self.changed.notify();
    }

    pub(crate) fn started(&self) {
        self.in_flight.fetch_add(1, SeqCst);
        self.changed.notify();
    }

    pub(crate) fn finished(&self) {
        self.in_flight.fetch_sub(1, SeqCst);
        self.changed.notify();
    }

    pub(crate) fn waiting_now(&self, n: u64) {
        if self.waiting.swap(n, SeqCst) != n {
            self.changed.notify();
        }
    }

    /// The dispatcher's count of received, unsettled deliveries (stored,
    /// not signalled: it changes with every batch and waiters never need it).
    pub(crate) fn held_now(&self, n: usize) {
        self.held.store(n as u64, Relaxed);
    }

    pub(crate) fn filtered(&self) {
        self.filtered.fetch_add(1, SeqCst);
        self.changed.notify();
    }

    pub(crate) fn succeeded(&self, label: &str, elapsed: Duration) {
        self.outcomes.count(label);
        self.latency.record(elapsed);
        self.succeeded.fetch_add(1, SeqCst);
        self.changed.notify();
    }

    pub(crate) fn retried(&self, elapsed: Duration) {
        self.latency.record(elapsed);
        self.retried.fetch_add(1, SeqCst);
        self.changed.notify();
    }

    pub(crate) fn dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, SeqCst);
        self.changed.notify();
    }

    pub(crate) fn coalesced(&self, n: u64) {
        if n > 0 {
            self.coalesced.fetch_add(n, SeqCst);
            self.changed.notify();
        }
    }
}

/// Upper bounds, in seconds, of the buckets of every route's handler
/// duration histogram (`connect_handler_duration_seconds`). A call longer
/// than the last bound is counted in the implicit `+Inf` bucket only.
pub const DURATION_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// [`DURATION_BUCKETS`] in microseconds, for recording without floats.
const DURATION_BUCKETS_MICROS: [u64; 15] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// A fixed-bucket histogram of durations, recorded with relaxed atomics.
#[derive(Debug, Default)]
struct DurationHistogram {
    /// Per bucket (not cumulative); the last slot counts what exceeds every
    /// bound.
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl DurationHistogram {
    fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = DURATION_BUCKETS_MICROS
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        HistogramSnapshot {
            buckets: DURATION_BUCKETS
                .iter()
                .copied()
                .zip(counts.iter().copied())
                .collect(),
            // The count is the sum of the buckets read, so that it always
            // equals the `+Inf` bucket, even while calls are recorded.
            count: counts.iter().sum(),
            sum: Duration::from_nanos(self.sum_nanos.load(Relaxed)),
        }
    }
}

/// A copy of a duration histogram.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, calls in this bucket alone)`, one entry per
    /// [`DURATION_BUCKETS`] bound, ascending. Counts are *not* cumulative;
    /// calls longer than the last bound are in `count` only.
    pub buckets: Vec<(f64, u64)>,
    /// Calls measured.
    pub count: u64,
    /// Their total duration.
    pub sum: Duration,
}

/// The counters of one route, kept on its [`Route`](crate::Route) so that
/// the runtime updates them without looking anything up. They count every
/// message of the route in this process, whichever runtime handled it
/// (`run`, a backfill, a replay), and are never reset.
///
/// ```
/// use connect_core::{ConnectorConfig, HandlerRegistry, RouteConfig, Router, Services};
/// # #[derive(Default)] struct Noop;
/// # #[connect_core::async_trait]
/// # impl connect_core::MessageHandler for Noop {
/// #     async fn handle(&self, _: &connect_core::HandlerContext<'_>, _: &connect_core::Message)
/// #         -> Result<connect_core::Outcome, connect_core::HandlerError> { Ok(connect_core::Outcome::done()) }
/// # }
/// let config = ConnectorConfig::new("demo", vec![RouteConfig::new("demo.route", "Noop")]);
/// let mut registry = HandlerRegistry::new();
/// registry.register::<Noop>("Noop", 0);
/// let router = Router::build(&config, &registry, &Services::new()).unwrap();
/// for route in router.routes() {
///     let counts = route.metrics().snapshot();
///     println!("{} via {}: {} succeeded", route.name(), route.handler_name(), counts.succeeded);
/// }
/// ```
#[derive(Debug, Default)]
pub struct RouteMetrics {
    succeeded: AtomicU64,
    filtered: AtomicU64,
    coalesced: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    duration: DurationHistogram,
}

/// A copy of one route's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteSnapshot {
    /// Handled successfully (whatever the outcome label).
    pub succeeded: u64,
    /// Acknowledged because the inclusion filter excluded them.
    pub filtered: u64,
    /// Acknowledged because a newer message of the same resource was
    /// handled in their place.
    pub coalesced: u64,
    /// Failed with a retryable error and returned to their queue.
    pub retried: u64,
    /// Written to the dead-letter store.
    pub dead_lettered: u64,
    /// How long each handler call took that returned (successfully or not;
    /// calls interrupted by shutdown are not measured).
    pub duration: HistogramSnapshot,
}

impl RouteMetrics {
    /// Reads the counters.
    pub fn snapshot(&self) -> RouteSnapshot {
        RouteSnapshot {
            succeeded: self.succeeded.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed),
            retried: self.retried.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            duration: self.duration.snapshot(),
        }
    }

    /// A handler call of this route returned after `elapsed`.
    pub(crate) fn observe(&self, elapsed: Duration) {
        self.duration.record(elapsed);
    }

    pub(crate) fn succeeded(&self) {
        self.succeeded.fetch_add(1, Relaxed);
    }

    pub(crate) fn filtered(&self) {
        self.filtered.fetch_add(1, Relaxed);
    }

    pub(crate) fn coalesced(&self, n: u64) {
        if n > 0 {
            self.coalesced.fetch_add(n, Relaxed);
        }
    }

    pub(crate) fn retried(&self) {
        self.retried.fetch_add(1, Relaxed);
    }

    pub(crate) fn dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_the_first_bucket_whose_bound_they_do_not_exceed() {
        let histogram = DurationHistogram::default();
        histogram.record(Duration::from_micros(300));
        histogram.record(Duration::from_millis(1));
        histogram.record(Duration::from_millis(7));
        histogram.record(Duration::from_secs(61));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count, 4);
        assert_eq!(snapshot.buckets[0], (0.001, 2), "300µs and exactly 1ms");
        assert_eq!(snapshot.buckets[3], (0.01, 1), "7ms");
        assert_eq!(
            snapshot.buckets.iter().map(|(_, n)| n).sum::<u64>(),
            3,
            "61s is above every bound: only in the count"
        );
        assert_eq!(
            snapshot.sum,
            Duration::from_micros(300) + Duration::from_millis(8) + Duration::from_secs(61)
        );
    }
}
