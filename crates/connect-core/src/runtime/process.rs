//! Handling one piece of work and deciding how its deliveries settle.

use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tracing::Instrument;

use super::backoff::Backoff;
use super::panic::panic_message;
use super::scheduler::Work;
use super::settle::{self, Kind, Settling};
use crate::dead_letter::{DEAD_LETTERS, DeadLetter, DeadLetterStore, FailureKind};
use crate::error::{ErrorKind, HandlerError};
use crate::handler::HandlerContext;
use crate::message::Message;
use crate::metrics::Metrics;
use crate::queue::Sink;
use crate::router::Route;
use crate::services::Services;

/// Everything a worker needs.
pub(crate) struct Shared {
    pub(crate) publisher: Option<Arc<dyn Sink<Message>>>,
    pub(crate) dead_letters: Arc<dyn DeadLetterStore>,
    pub(crate) services: Arc<Services>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    /// Fired when shutdown stops waiting for handlers.
    pub(crate) interrupt: CancellationToken,
}

/// How one piece of work ended.
pub(crate) enum Finished {
    /// Its deliveries are settled (acknowledged, returned for a retry, or
    /// dead-lettered and acknowledged); `settling` drives what is pending.
    Settled {
        key: u64,
        count: usize,
        probe: Option<&'static str>,
        /// `true` unless the message goes back for a retry.
        done: bool,
        settling: Option<Settling>,
    },
    /// A dependency is down: the work waits, untouched.
    Parked {
        work: Work,
        dependency: &'static str,
        error: String,
    },
    /// Shutdown interrupted the handler; the work goes back to its queue.
    Interrupted { work: Work },
    /// The processing panicked outside the handler (its deliveries were
    /// released as they were dropped).
    Lost {
        key: u64,
        count: usize,
        probe: Option<&'static str>,
    },
}

/// The handler's future, watched for the shutdown's interruption once it
/// waits (a handler that completes at once costs no watch).
struct Interruptible<'a, F> {
    handling: F,
    interrupt: &'a CancellationToken,
    watching: Option<Pin<Box<WaitForCancellationFuture<'a>>>>,
}

impl<F: Future + Unpin> Future for Interruptible<'_, F> {
    /// `None` when interrupted.
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(output) = Pin::new(&mut this.handling).poll(cx) {
            return Poll::Ready(Some(output));
        }
        let interrupt = this.interrupt;
        let watching = this
            .watching
            .get_or_insert_with(|| Box::pin(interrupt.cancelled()));
        match watching.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Handles one work item and decides how its deliveries settle.
///
/// Kept small on purpose (it is allocated per message): the rare paths
/// (dead letters) run in futures of their own.
pub(crate) async fn process(shared: Arc<Shared>, work: Work) -> Finished {
    let route = Arc::clone(&work.lead.route);
    let attempt = work.lead.delivery.receive_count().max(1);
    let span = {
        let message = work.lead.delivery.item();
        tracing::info_span!(
            "message",
            route = route.name(),
            handler = route.handler_name(),
            resource_id = message.resource_id().unwrap_or(""),
            message_id = %message.id,
            event_type = message.event_type.as_deref().unwrap_or(""),
            attempt,
        )
    };
    // Wall time of the handler, for latency metrics (std's clock: tokio's
    // can be paused in tests, and costs more to read).
    let started = std::time::Instant::now();
    let result = {
        let ctx = HandlerContext::new(route.config(), &shared.services)
            .with_attempt(attempt, shared.max_attempts);
        let ctx = match &shared.publisher {
            Some(publisher) => ctx.with_publisher(publisher.as_ref()),
            None => ctx,
        };
        let handling = Interruptible {
            handling: AssertUnwindSafe(route.handler().handle(&ctx, work.lead.delivery.item()))
                .catch_unwind()
                .instrument(span.clone()),
            interrupt: &shared.interrupt,
            watching: None,
        };
        // `connect_core::runtime::current_resource()` inside the handler.
        super::CURRENT_RESOURCE
            .scope(work.lead.delivery.item().resource.clone(), handling)
            .await
    };
    let Some(result) = result else {
        tracing::warn!(parent: &span, "shutdown interrupted the handler; returning the message to its queue");
        return Finished::Interrupted { work };
    };
    let elapsed = started.elapsed();
    route.metrics().observe(elapsed);
    let error = match result {
        Ok(Ok(outcome)) => {
            tracing::debug!(parent: &span, outcome = outcome.label(), ?elapsed, "handled");
            shared.metrics.succeeded(outcome.label(), elapsed);
            route.metrics().succeeded();
            return settled(&shared, work, None, true, &span).await;
        }
        Ok(Err(error)) => error,
        Err(payload) => {
            let panic = panic_message(payload.as_ref());
            tracing::error!(parent: &span, panic = %panic, "handler panicked");
            let error = HandlerError::unprocessable(format!("handler panicked: {panic}"));
            return Box::pin(dead_letter(
                shared,
                work,
                FailureKind::Panic,
                error,
                attempt,
                span.clone(),
            ))
            .instrument(span)
            .await;
        }
    };
    match (error.kind(), error.dependency()) {
        (ErrorKind::Systemic, Some(dependency))
            if work.counts_systemic != Some(dependency) || work.probe.is_some() =>
        {
            tracing::debug!(parent: &span, %error, dependency, "dependency down; the message waits");
            return Finished::Parked {
                work,
                dependency,
                error: error.to_string(),
            };
        }
        _ => {}
    }
    let error = error.into_retryable();
    if error.is_retryable() && attempt < shared.max_attempts {
        let delay = shared.backoff.delay(attempt, error.retry_after());
        tracing::warn!(parent: &span, error = %error, ?delay, "retryable failure; will retry");
        shared.metrics.retried(elapsed);
        route.metrics().retried();
        return settled(&shared, work, Some(delay), false, &span).await;
    }
    let kind = if error.is_retryable() {
        FailureKind::AttemptsExhausted
    } else {
        FailureKind::Unprocessable
    };
    Box::pin(dead_letter(
        shared,
        work,
        kind,
        error,
        attempt,
        span.clone(),
    ))
    .instrument(span)
    .await
}

/// Settles a work's deliveries: the lead is acknowledged, or returned for a
/// retry after `retry`; the followers are acknowledged (the lead stands for
/// them). Failures to settle are logged in the message's `span`.
async fn settled(
    shared: &Shared,
    work: Work,
    retry: Option<Duration>,
    done: bool,
    span: &tracing::Span,
) -> Finished {
    let key = work.key;
    let count = work.len();
    let probe = work.probe;
    let coalesced = work.followers.len() as u64;
    work.lead.route.metrics().coalesced(coalesced);
    let lead = match retry {
        Some(delay) => (Kind::Return, work.lead.delivery.nack(delay)),
        None => (Kind::Ack, work.lead.delivery.ack()),
    };
    let settling = if work.followers.is_empty() {
        settle::start_one(lead.0, lead.1, span).await
    } else {
        let mut settlements = Vec::with_capacity(count);
        settlements.push(lead);
        for follower in work.followers {
            settlements.push((Kind::Ack, follower.delivery.ack()));
        }
        settle::start(settlements, span).await
    };
    shared.metrics.coalesced(coalesced);
    Finished::Settled {
        key,
        count,
        probe,
        done,
        settling,
    }
}

/// Stores the dead letter durably, then acknowledges. When the store
/// cannot be written, the work waits like any work whose dependency is
/// down: nothing is acknowledged that was not stored.
async fn dead_letter(
    shared: Arc<Shared>,
    work: Work,
    kind: FailureKind,
    error: HandlerError,
    attempt: u32,
    span: tracing::Span,
) -> Finished {
    tracing::error!(error = %error, kind = kind.as_str(), "message failed; moving it to the dead-letter store");
    let route: &Route = &work.lead.route;
    let letter = DeadLetter::for_message(
        work.lead.delivery.item().clone(),
        kind,
        error.to_string(),
        attempt,
    )
    .with_handler(route.handler_name());
    match shared.dead_letters.put(letter).await {
        Ok(()) => {
            shared.metrics.dead_lettered();
            work.lead.route.metrics().dead_lettered();
            settled(&shared, work, None, true, &span).await
        }
        Err(store_error) => Finished::Parked {
            work,
            dependency: DEAD_LETTERS,
            error: store_error.to_string(),
        },
    }
}
