//! Counters readable from code, and a way to wait for them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst, fence};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

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
    latency: Latency,
    // Few labels per connector: a short list beats a map.
    outcomes: Mutex<Vec<(String, u64)>>,
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
            succeeded: self.succeeded.load(Relaxed),
            retried: self.retried.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            waiting: self.waiting.load(Relaxed),
            outcomes: self
                .outcomes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .cloned()
                .collect(),
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

    pub(crate) fn filtered(&self) {
        self.filtered.fetch_add(1, SeqCst);
        self.changed.notify();
    }

    pub(crate) fn succeeded(&self, label: &str, elapsed: Duration) {
        {
            let mut outcomes = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
            match outcomes.iter_mut().find(|(l, _)| l == label) {
                Some((_, count)) => *count += 1,
                None => outcomes.push((label.to_owned(), 1)),
            }
        }
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

/// Wakes tasks waiting for counters to change. Counters are updated with
/// sequentially consistent read-modify-writes (on x86 as cheap as relaxed
/// ones); notifying then costs one load when nobody waits, so hot paths can
/// call it freely.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    notify: Notify,
    waiters: AtomicUsize,
}

impl Signal {
    /// Wakes every current waiter, if there is one.
    pub(crate) fn notify(&self) {
        // With the sequentially consistent counter update before it and the
        // fence in `wait_for`, either the waiter reads the new counters, or
        // this load sees the waiter and wakes it.
        if self.waiters.load(SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// Re-reads `read()` after each notification until `condition` holds;
    /// `Err` carries the last value read when `timeout` passes.
    pub(crate) async fn wait_for<S>(
        &self,
        read: impl Fn() -> S,
        condition: impl Fn(&S) -> bool,
        timeout: Duration,
    ) -> Result<S, S> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.waiters.fetch_add(1, SeqCst);
        let _registered = Registered(&self.waiters);
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            fence(SeqCst);
            let value = read();
            if condition(&value) {
                return Ok(value);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(read());
            }
        }
    }
}

/// Unregisters a waiter however its wait ends.
struct Registered<'a>(&'a AtomicUsize);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}
