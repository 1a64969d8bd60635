//! The visibility heartbeat: received messages that are still held (not
//! acknowledged, nacked or released) get their visibility timeout extended
//! before it runs out, so a slow handler (or a message waiting behind
//! another one for the same resource) keeps it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::client::QueueClient;
use crate::config::{MAX_VISIBILITY_TIMEOUT, ceil_secs};

/// A message this process holds.
#[derive(Debug)]
struct Held {
    receipt: String,
    received_at: Instant,
    expires: Instant,
}

/// The messages held, and the lock that orders heartbeat rounds against
/// nacks (so a round never undoes a nack's visibility change).
#[derive(Debug)]
pub(crate) struct Tracker {
    next_id: AtomicU64,
    held: Mutex<HashMap<u64, Held>>,
    round: tokio::sync::Mutex<()>,
    visibility: Duration,
}

impl Tracker {
    pub(crate) fn new(visibility: Duration) -> Self {
        Self {
            next_id: AtomicU64::new(1),
            held: Mutex::new(HashMap::new()),
            round: tokio::sync::Mutex::new(()),
            visibility,
        }
    }

    fn held(&self) -> MutexGuard<'_, HashMap<u64, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The heartbeat period: half the visibility timeout.
    pub(crate) fn period(&self) -> Duration {
        (self.visibility / 2).max(Duration::from_millis(250))
    }

    /// Starts tracking a message received at `received_at`.
    pub(crate) fn track(&self, receipt: &str, received_at: Instant) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.held().insert(
            id,
            Held {
                receipt: receipt.to_owned(),
                received_at,
                expires: received_at + self.visibility,
            },
        );
        id
    }

    /// Stops tracking (the message was settled).
    pub(crate) fn untrack(&self, id: u64) {
        self.held().remove(&id);
    }

    /// Stops tracking and waits for a heartbeat round that may still be
    /// extending the message, so a visibility change made next is final.
    pub(crate) async fn untrack_and_settle(&self, id: u64) {
        self.untrack(id);
        drop(self.round.lock().await);
    }

    /// How many messages are held.
    pub(crate) fn len(&self) -> usize {
        self.held().len()
    }

    /// Extends every held message whose visibility ends before the next
    /// round (plus a margin).
    pub(crate) async fn extend_due(&self, client: &QueueClient) {
        let _round = self.round.lock().await;
        let now = Instant::now();
        let period = self.period();
        let horizon = now + period + period / 2;
        let wanted = ceil_secs(self.visibility);
        let mut due: Vec<(u64, String, i32)> = Vec::new();
        let mut expired = Vec::new();
        for (id, held) in self.held().iter() {
            if held.expires > horizon {
                continue;
            }
            // SQS refuses to keep a message invisible for more than 12h
            // after it was received.
            let left = MAX_VISIBILITY_TIMEOUT.saturating_sub(now.duration_since(held.received_at));
            let secs = wanted.min(i32::try_from(left.as_secs().saturating_sub(1)).unwrap_or(0));
            if secs <= 0 {
                expired.push(*id);
            } else {
                due.push((*id, held.receipt.clone(), secs));
            }
        }
        if !expired.is_empty() {
            tracing::warn!(
                queue = %client.name,
                count = expired.len(),
                "messages held for 12 hours cannot be extended further; SQS will deliver them again"
            );
            let mut held = self.held();
            for id in expired {
                held.remove(&id);
            }
        }
        for chunk in due.chunks(10) {
            let entries: Vec<(&str, i32)> =
                chunk.iter().map(|(_, r, s)| (r.as_str(), *s)).collect();
            let sent_at = Instant::now();
            match client.change_visibility_batch(&entries).await {
                Ok(results) => {
                    let mut held = self.held();
                    for ((id, _, secs), result) in chunk.iter().zip(results) {
                        match result {
                            Ok(()) => {
                                if let Some(entry) = held.get_mut(id) {
                                    entry.expires = sent_at
                                        + Duration::from_secs(u64::try_from(*secs).unwrap_or(0));
                                }
                            }
                            // Settled meanwhile, or already visible again.
                            Err(error) => {
                                if held.contains_key(id) {
                                    tracing::warn!(queue = %client.name, %error, "cannot extend the visibility of a held message; it may be delivered again while it is being handled");
                                }
                            }
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(queue = %client.name, %error, count = chunk.len(), "visibility heartbeat failed; retrying next round");
                }
            }
        }
        tracing::trace!(queue = %client.name, extended = due.len(), "visibility heartbeat");
    }
}

/// Something the heartbeat task can extend.
pub(crate) trait Heartbeat: Send + Sync + 'static {
    fn tracker(&self) -> Option<&Tracker>;
    fn queue_client(&self) -> &QueueClient;
}

/// Runs rounds every `period` until the owner is dropped.
pub(crate) async fn run<S: Heartbeat>(owner: Weak<S>, period: Duration) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(owner) = owner.upgrade() else {
            return;
        };
        if let Some(tracker) = owner.tracker() {
            tracker.extend_due(owner.queue_client()).await;
        }
    }
}
