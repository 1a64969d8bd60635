//! What happened to every resource of a storm, and the checks made at the
//! moment a delivery is acknowledged (checks 4 and 5).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use connect_commercetools::payload::SubscriptionEvent;
use connect_core::QueueError;
use connect_core::dead_letter::MemoryDeadLetters;
use connect_core::queue::{Acker, Delivery, RawPayload, Sink, Source};
use serde_json::Value;

use super::expect_impl::{Expectation, Systems, id_of, version_field};
use super::{Check, Finding};
use crate::Sandbox;

/// The most events kept per resource (the oldest are dropped first).
const MAX_EVENTS: usize = 200;
/// The most findings kept per check.
const MAX_FINDINGS: usize = 20;

/// A resource: the index of its expectation and its id.
pub(crate) type Key = (usize, String);

/// One resource's life.
#[derive(Debug, Default)]
pub(crate) struct Track {
    /// Every state written to commercetools, oldest first.
    pub(crate) states: Vec<Value>,
    /// Deleted (or being deleted) in commercetools.
    pub(crate) deleted: bool,
    /// Some state of it was unprocessable.
    pub(crate) unprocessable: bool,
    /// What happened to it: `(operation, what)`.
    pub(crate) events: Vec<(u64, String)>,
    /// The highest commercetools version seen in Fluent.
    pub(crate) observed: Option<u64>,
    /// The versions of its payloads in the CT queue not acknowledged yet
    /// (one entry per payload).
    pub(crate) outstanding: Vec<u64>,
}

impl Track {
    fn event(&mut self, op: u64, what: String) {
        if self.events.len() == MAX_EVENTS {
            self.events.remove(0);
        }
        self.events.push((op, what));
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) tracks: HashMap<Key, Track>,
    pub(crate) faults: Vec<(u64, String)>,
    pub(crate) findings: Vec<Finding>,
    pub(crate) deliveries: u64,
    pub(crate) acks: u64,
}

/// The shared record of a storm.
pub(crate) struct Ledger {
    state: Mutex<State>,
    op: AtomicU64,
    pub(crate) expectations: Vec<Arc<dyn Expectation>>,
    pub(crate) sandbox: Arc<Sandbox>,
    pub(crate) dead_letters: Arc<MemoryDeadLetters>,
}

impl Ledger {
    pub(crate) fn new(
        expectations: Vec<Arc<dyn Expectation>>,
        sandbox: Arc<Sandbox>,
        dead_letters: Arc<MemoryDeadLetters>,
    ) -> Self {
        Self {
            state: Mutex::new(State::default()),
            op: AtomicU64::new(0),
            expectations,
            sandbox,
            dead_letters,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn systems(&self) -> Systems<'_> {
        Systems {
            commercetools: &self.sandbox.commercetools,
            fluent: &self.sandbox.fluent,
        }
    }

    /// The operation the storm is at.
    pub(crate) fn op(&self) -> u64 {
        self.op.load(Ordering::Relaxed)
    }

    pub(crate) fn set_op(&self, op: u64) {
        self.op.store(op, Ordering::Relaxed);
    }

    /// A state of a resource written to commercetools.
    pub(crate) fn written(&self, expectation: usize, state: &Value, what: &str) {
        let op = self.op();
        let unprocessable = self.expectations[expectation].unprocessable(state);
        let mut ledger = self.lock();
        let track = ledger
            .tracks
            .entry((expectation, id_of(state).to_owned()))
            .or_default();
        track.unprocessable |= unprocessable;
        track.event(
            op,
            format!(
                "{what} in commercetools: version {}{}",
                version_field(state),
                if unprocessable {
                    " (unprocessable)"
                } else {
                    ""
                }
            ),
        );
        track.states.push(state.clone());
    }

    /// A resource is about to be deleted in commercetools.
    pub(crate) fn deleting(&self, key: &Key) {
        let op = self.op();
        if let Some(track) = self.lock().tracks.get_mut(key) {
            track.deleted = true;
            track.event(op, "deleted in commercetools".to_owned());
        }
    }

    pub(crate) fn fault(&self, what: &str) {
        let op = self.op();
        self.lock().faults.push((op, what.to_owned()));
    }

    pub(crate) fn finding(&self, check: Check, resource: Option<String>, message: String) {
        let operation = self.op();
        let mut ledger = self.lock();
        if ledger.findings.iter().filter(|f| f.check == check).count() < MAX_FINDINGS {
            ledger.findings.push(Finding {
                check,
                resource,
                message,
                operation,
            });
        }
    }

    fn key_of(&self, event: &SubscriptionEvent) -> Option<Key> {
        let index = self
            .expectations
            .iter()
            .position(|e| e.type_id() == event.type_id)?;
        Some((index, event.resource_id.clone()))
    }

    /// A human name for a resource.
    pub(crate) fn name(&self, key: &Key) -> String {
        format!("{} {}", self.expectations[key.0].type_id(), key.1)
    }

    fn delivered(&self, key: &Key, event: &SubscriptionEvent, receive_count: u32) {
        let op = self.op();
        let mut ledger = self.lock();
        ledger.deliveries += 1;
        if let Some(track) = ledger.tracks.get_mut(key) {
            track.event(
                op,
                format!(
                    "delivered: {} version {} (receive {receive_count})",
                    event.event_type,
                    event
                        .version
                        .map_or_else(|| "?".to_owned(), |v| v.to_string())
                ),
            );
        }
    }

    /// A payload entered the CT queue.
    fn queued(&self, key: &Key, event: &SubscriptionEvent) {
        // The subscription delivers while the storm's write is under way,
        // before the write is recorded.
        self.lock()
            .tracks
            .entry(key.clone())
            .or_default()
            .outstanding
            .push(event.version.unwrap_or(0));
    }

    /// Checks 4 and 5 when the delivery of `event` is about to be
    /// acknowledged.
    fn acknowledging(&self, key: &Key, event: &SubscriptionEvent) {
        let op = self.op();
        let version = event.version.unwrap_or(0);
        let (states, deleted, covered) = {
            let mut ledger = self.lock();
            ledger.acks += 1;
            let Some(track) = ledger.tracks.get_mut(key) else {
                return;
            };
            if let Some(index) = track.outstanding.iter().position(|v| *v == version) {
                track.outstanding.swap_remove(index);
            }
            // A payload of the same or a newer version still in the queue
            // stands for this one (the runtime acknowledges the messages it
            // coalesced into a newer one that it retries).
            let covered = track.outstanding.iter().any(|v| *v >= version);
            track.event(
                op,
                format!(
                    "acknowledged: {} version {}",
                    event.event_type,
                    event
                        .version
                        .map_or_else(|| "?".to_owned(), |v| v.to_string())
                ),
            );
            (track.states.clone(), track.deleted, covered)
        };
        let Some(latest) = states.last() else {
            return;
        };
        let expectation = &self.expectations[key.0];
        let systems = self.systems();
        let held = expectation.fluent_version(latest, systems);
        // Check 4: what Fluent holds never goes back.
        if let Some(held) = held {
            let mut ledger = self.lock();
            let previous = ledger.tracks.get(key).and_then(|t| t.observed);
            if let Some(track) = ledger.tracks.get_mut(key) {
                track.observed = Some(previous.map_or(held, |p| p.max(held)));
            }
            drop(ledger);
            if let Some(previous) = previous
                && held < previous
            {
                self.finding(
                    Check::NoRegression,
                    Some(self.name(key)),
                    format!(
                        "{} went back from commercetools version {previous} to {held} in Fluent (seen when a delivery of version {} was acknowledged, operation {op})",
                        self.name(key),
                        event.version.unwrap_or(0)
                    ),
                );
            }
        }
        // Check 5: the write of what was acknowledged happened before.
        let Some(version) = event.version else {
            return;
        };
        if deleted
            || covered
            || event.notification_type == "ResourceDeleted"
            || expectation.unprocessable(latest)
        {
            return;
        }
        if held.is_some_and(|held| held >= version) {
            return;
        }
        if states
            .iter()
            .filter(|s| version_field(s) >= version)
            .any(|s| expectation.holds(s, systems).is_ok())
        {
            return;
        }
        let dead_lettered = self.dead_letters.snapshot().iter().any(|letter| {
            letter
                .message
                .as_ref()
                .and_then(|m| m.resource_id())
                .is_some_and(|id| id == key.1)
        });
        if dead_lettered {
            return;
        }
        let what = match expectation.holds(latest, systems) {
            Err(divergence) => format!("it {divergence}"),
            Ok(()) => "it held an older state".to_owned(),
        };
        self.finding(
            Check::AckAfterWrite,
            Some(self.name(key)),
            format!(
                "a delivery of {} version {version} was acknowledged (operation {op}) before Fluent held that version: Fluent held {}; {what}",
                self.name(key),
                held.map_or_else(|| "no version".to_owned(), |h| format!("version {h}")),
            ),
        );
    }
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("op", &self.op())
            .finish_non_exhaustive()
    }
}

/// The CT queue as the subscription writes to it: every payload counted
/// until acknowledged.
pub(crate) struct ObservedSink {
    pub(crate) inner: Arc<dyn Sink<RawPayload>>,
    pub(crate) ledger: Arc<Ledger>,
}

#[async_trait]
impl Sink<RawPayload> for ObservedSink {
    async fn send(&self, item: RawPayload) -> Result<(), QueueError> {
        if let Ok(event) = SubscriptionEvent::parse(&item.body)
            && let Some(key) = self.ledger.key_of(&event)
        {
            self.ledger.queued(&key, &event);
        }
        self.inner.send(item).await
    }
}

/// The CT queue as the connector reads it: every delivery recorded, every
/// acknowledgement checked first.
pub(crate) struct ObservedSource {
    pub(crate) inner: Arc<dyn Source<RawPayload>>,
    pub(crate) ledger: Arc<Ledger>,
}

#[async_trait]
impl Source<RawPayload> for ObservedSource {
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<RawPayload>>, QueueError> {
        let deliveries = self.inner.receive(max, wait).await?;
        Ok(deliveries
            .into_iter()
            .map(|delivery| {
                let Ok(event) = SubscriptionEvent::parse(&delivery.item().body) else {
                    return delivery;
                };
                let Some(key) = self.ledger.key_of(&event) else {
                    return delivery;
                };
                self.ledger
                    .delivered(&key, &event, delivery.receive_count());
                let item = delivery.item().clone();
                let receive_count = delivery.receive_count();
                Delivery::new(
                    item,
                    receive_count,
                    Box::new(CheckedAck {
                        ledger: Arc::clone(&self.ledger),
                        key,
                        event,
                        inner: delivery,
                    }),
                )
            })
            .collect())
    }
}

/// Settles a delivery of the CT queue, checking an acknowledgement first.
struct CheckedAck {
    ledger: Arc<Ledger>,
    key: Key,
    event: SubscriptionEvent,
    inner: Delivery<RawPayload>,
}

#[async_trait]
impl Acker<RawPayload> for CheckedAck {
    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        self.ledger.acknowledging(&self.key, &self.event);
        self.inner.ack().await
    }

    async fn nack(self: Box<Self>, _item: RawPayload, delay: Duration) -> Result<(), QueueError> {
        self.inner.nack(delay).await
    }

    fn release(self: Box<Self>, _item: RawPayload) {
        self.inner.release();
    }
}
