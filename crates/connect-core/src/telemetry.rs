//! Counters shared by the parts of a connector that talk to the outside
//! world, for operators (the runner renders them for Prometheus).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

/// HTTP requests an API client sent, counted by the status of their
/// response; requests that got no response (connection refused, timeout,
/// connection broken before the status line) are counted as errors.
///
/// The commercetools and Fluent clients each keep one, for their API and
/// token endpoint calls alike. Counting takes a short lock per request,
/// nothing next to the request itself.
///
/// ```
/// use connect_core::telemetry::HttpRequests;
///
/// let requests = HttpRequests::new();
/// requests.record(200);
/// requests.record(200);
/// requests.record(503);
/// requests.record_error();
/// let counts = requests.snapshot();
/// assert_eq!(counts.by_status.get(&200), Some(&2));
/// assert_eq!(counts.errors, 1);
/// assert_eq!(counts.total(), 4);
/// ```
#[derive(Debug, Default)]
pub struct HttpRequests {
    by_status: Mutex<BTreeMap<u16, u64>>,
    errors: AtomicU64,
}

/// A copy of [`HttpRequests`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequestsSnapshot {
    /// Responses by HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests that got no response.
    pub errors: u64,
}

impl HttpRequestsSnapshot {
    /// Every request counted.
    pub fn total(&self) -> u64 {
        self.by_status.values().sum::<u64>() + self.errors
    }
}

impl HttpRequests {
    /// No request counted yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A response with `status` arrived.
    pub fn record(&self, status: u16) {
        *self
            .by_status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(status)
            .or_default() += 1;
    }

    /// A request got no response.
    pub fn record_error(&self) {
        self.errors.fetch_add(1, Relaxed);
    }

    /// Reads the counts.
    pub fn snapshot(&self) -> HttpRequestsSnapshot {
        HttpRequestsSnapshot {
            by_status: self
                .by_status
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            errors: self.errors.load(Relaxed),
        }
    }
}
