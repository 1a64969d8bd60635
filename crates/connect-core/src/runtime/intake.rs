//! [`Intake`]: one source the runtime receives from.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use super::backoff::Backoff;
use crate::error::QueueError;
use crate::lifecycle::Health;
use crate::message::Message;
use crate::queue::{Delivery, Source};

type ReceiveFuture =
    Pin<Box<dyn Future<Output = Result<Vec<Delivery<Message>>, QueueError>> + Send>>;

/// Receives from one source. The receive in progress is kept across the
/// dispatcher's iterations (never cancelled mid-flight, which would strand
/// messages in a wire queue until their visibility timeout) and re-armed
/// only while the prefetch bound leaves room for a worthwhile batch.
///
/// A source that fails is reported down in [`Health`] once, retried with a
/// capped exponential delay, and reported up again when it answers.
pub(crate) struct Intake {
    pub(crate) name: &'static str,
    source: Arc<dyn Source<Message>>,
    receiving: Option<ReceiveFuture>,
    pub(crate) open: bool,
    failures: u32,
    max_batch: usize,
    wait: Duration,
}

/// The longest pause between two failed receives.
const MAX_RECEIVE_BACKOFF: Duration = Duration::from_secs(5);
/// The wait after the first failed receive; it doubles per failure.
const RECEIVE_BACKOFF: Duration = Duration::from_millis(100);

impl Intake {
    pub(crate) fn new(
        name: &'static str,
        source: Arc<dyn Source<Message>>,
        max_batch: usize,
        wait: Duration,
    ) -> Self {
        Self {
            name,
            source,
            receiving: None,
            open: true,
            failures: 0,
            max_batch: max_batch.max(1),
            wait,
        }
    }

    /// Starts a receive for at most `room` messages if none is running.
    pub(crate) fn arm(&mut self, room: usize) {
        if !self.open || self.receiving.is_some() || room == 0 {
            return;
        }
        let source = Arc::clone(&self.source);
        let max = room.min(self.max_batch);
        let wait = self.wait;
        let backoff = (self.failures > 0).then(|| {
            Backoff::doubling(RECEIVE_BACKOFF, MAX_RECEIVE_BACKOFF).delay(self.failures, None)
        });
        self.receiving = Some(Box::pin(async move {
            if let Some(delay) = backoff {
                tokio::time::sleep(delay).await;
            }
            source.receive(max, wait).await
        }));
    }

    /// The next batch (empty after a failed or closing receive); pending
    /// while no receive is armed.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        health: &Health,
    ) -> Poll<Vec<Delivery<Message>>> {
        let Some(receiving) = self.receiving.as_mut() else {
            return Poll::Pending;
        };
        let result = ready!(receiving.as_mut().poll(cx));
        self.receiving = None;
        Poll::Ready(self.received(result, health))
    }

    fn received(
        &mut self,
        result: Result<Vec<Delivery<Message>>, QueueError>,
        health: &Health,
    ) -> Vec<Delivery<Message>> {
        match result {
            Ok(batch) => {
                if self.failures > 0 {
                    self.failures = 0;
                    if health.up(self.name) {
                        tracing::info!(queue = self.name, "receiving again");
                    }
                }
                batch
            }
            Err(QueueError::Closed(queue)) => {
                tracing::debug!(%queue, "queue closed; no more messages from it");
                self.open = false;
                Vec::new()
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                if health.down(self.name, &error.to_string()) {
                    tracing::warn!(queue = self.name, %error, "cannot receive; retrying with backoff");
                } else {
                    tracing::debug!(queue = self.name, %error, failures = self.failures, "cannot receive; retrying");
                }
                Vec::new()
            }
        }
    }

    /// Drops the receive in flight (shutdown). Messages a wire queue handed
    /// out in an answer that is dropped reappear after their visibility
    /// timeout.
    pub(crate) fn stop(&mut self) {
        self.receiving = None;
        self.open = false;
    }
}
