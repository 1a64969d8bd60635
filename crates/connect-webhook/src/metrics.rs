//! Counters of the webhook listener, by endpoint and outcome.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use tokio::sync::Notify;

/// What became of one request (each answer is counted once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// 200: the message was sent to the event queue (durable) or handled
    /// (in process).
    Accepted,
    /// 200: a webhook `name` with no mapping; nothing enqueued.
    Ignored,
    /// 401: no valid signature or credentials.
    Unauthorized,
    /// 403: another Fluent account or retailer.
    Forbidden,
    /// 400: not JSON, or a required field missing.
    BadRequest,
    /// 413: the body is over `max-body`.
    TooLarge,
    /// 503: the event queue could not take the message (full, failing,
    /// closed), or the runtime returned it unhandled.
    Unavailable,
    /// 503: in process, the message was not handled within
    /// `answer-timeout`.
    AnswerTimeout,
    /// 408 (body) or a closed connection (headers): the client was too
    /// slow.
    Timeout,
}

impl Outcome {
    /// Every outcome, in the order of [`OutcomeCounts`]' fields.
    pub const ALL: [Outcome; 9] = [
        Self::Accepted,
        Self::Ignored,
        Self::Unauthorized,
        Self::Forbidden,
        Self::BadRequest,
        Self::TooLarge,
        Self::Unavailable,
        Self::AnswerTimeout,
        Self::Timeout,
    ];

    /// The outcome's name, e.g. for a metrics label (`bad_request`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Ignored => "ignored",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::BadRequest => "bad_request",
            Self::TooLarge => "too_large",
            Self::Unavailable => "unavailable",
            Self::AnswerTimeout => "answer_timeout",
            Self::Timeout => "timeout",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Accepted => 0,
            Self::Ignored => 1,
            Self::Unauthorized => 2,
            Self::Forbidden => 3,
            Self::BadRequest => 4,
            Self::TooLarge => 5,
            Self::Unavailable => 6,
            Self::AnswerTimeout => 7,
            Self::Timeout => 8,
        }
    }
}

/// The counts of one endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutcomeCounts {
    /// See [`Outcome::Accepted`].
    pub accepted: u64,
    /// See [`Outcome::Ignored`].
    pub ignored: u64,
    /// See [`Outcome::Unauthorized`].
    pub unauthorized: u64,
    /// See [`Outcome::Forbidden`].
    pub forbidden: u64,
    /// See [`Outcome::BadRequest`].
    pub bad_request: u64,
    /// See [`Outcome::TooLarge`].
    pub too_large: u64,
    /// See [`Outcome::Unavailable`].
    pub unavailable: u64,
    /// See [`Outcome::AnswerTimeout`].
    pub answer_timeout: u64,
    /// See [`Outcome::Timeout`].
    pub timeout: u64,
}

impl OutcomeCounts {
    /// The count of `outcome`.
    pub fn get(&self, outcome: Outcome) -> u64 {
        match outcome {
            Outcome::Accepted => self.accepted,
            Outcome::Ignored => self.ignored,
            Outcome::Unauthorized => self.unauthorized,
            Outcome::Forbidden => self.forbidden,
            Outcome::BadRequest => self.bad_request,
            Outcome::TooLarge => self.too_large,
            Outcome::Unavailable => self.unavailable,
            Outcome::AnswerTimeout => self.answer_timeout,
            Outcome::Timeout => self.timeout,
        }
    }

    /// Every request counted.
    pub fn total(&self) -> u64 {
        Outcome::ALL.iter().map(|o| self.get(*o)).sum()
    }

    /// Every request refused or not taken (everything but accepted and
    /// ignored).
    pub fn refused(&self) -> u64 {
        self.total() - self.accepted - self.ignored
    }
}

/// A copy of the listener's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookSnapshot {
    /// The Fluent webhook endpoint.
    pub fluent: OutcomeCounts,
    /// The external endpoint.
    pub external: OutcomeCounts,
    /// Connections closed because their request headers did not arrive
    /// within `header-read-timeout` (no endpoint is known yet).
    pub header_timeouts: u64,
}

/// Which endpoint a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `listeners.fluent-webhook`.
    Fluent,
    /// `listeners.external-webhook`.
    External,
}

/// The listener's live counters.
#[derive(Debug, Default)]
pub struct WebhookMetrics {
    fluent: [AtomicU64; 9],
    external: [AtomicU64; 9],
    header_timeouts: AtomicU64,
    changed: Notify,
}

impl WebhookMetrics {
    /// Reads the counters.
    pub fn snapshot(&self) -> WebhookSnapshot {
        let read = |counters: &[AtomicU64; 9]| {
            let c = |o: Outcome| counters[o.index()].load(SeqCst);
            OutcomeCounts {
                accepted: c(Outcome::Accepted),
                ignored: c(Outcome::Ignored),
                unauthorized: c(Outcome::Unauthorized),
                forbidden: c(Outcome::Forbidden),
                bad_request: c(Outcome::BadRequest),
                too_large: c(Outcome::TooLarge),
                unavailable: c(Outcome::Unavailable),
                answer_timeout: c(Outcome::AnswerTimeout),
                timeout: c(Outcome::Timeout),
            }
        };
        WebhookSnapshot {
            fluent: read(&self.fluent),
            external: read(&self.external),
            header_timeouts: self.header_timeouts.load(SeqCst),
        }
    }

    /// Waits until `condition` holds or `timeout` passes (`Err` carries the
    /// last counters).
    pub async fn wait_until(
        &self,
        condition: impl Fn(&WebhookSnapshot) -> bool,
        timeout: Duration,
    ) -> Result<WebhookSnapshot, WebhookSnapshot> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let snapshot = self.snapshot();
            if condition(&snapshot) {
                return Ok(snapshot);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let snapshot = self.snapshot();
                return if condition(&snapshot) {
                    Ok(snapshot)
                } else {
                    Err(snapshot)
                };
            }
        }
    }

    pub(crate) fn count(&self, endpoint: Endpoint, outcome: Outcome) {
        let counters = match endpoint {
            Endpoint::Fluent => &self.fluent,
            Endpoint::External => &self.external,
        };
        counters[outcome.index()].fetch_add(1, SeqCst);
        self.changed.notify_waiters();
    }

    pub(crate) fn header_timeout(&self) {
        self.header_timeouts.fetch_add(1, SeqCst);
        self.changed.notify_waiters();
    }
}
