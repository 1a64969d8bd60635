//! Settlements started together and awaited together.
//!
//! Handlers never wait for their acknowledgements: a finished message's
//! settlements are started at once (an in-memory queue settles right away)
//! and whatever is still pending is handed to the dispatcher, which drives
//! every pending settlement concurrently. A wire backend therefore sees the
//! acknowledgements of many messages at the same time and batches them.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use tracing::Span;

use crate::queue::Settlement;

/// Settlements still in progress, as one future that logs failures.
pub(crate) type Settling = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a failed settlement means, for the log.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Ack,
    Return,
}

impl Kind {
    fn log(self, error: &crate::QueueError, span: &Span) {
        match self {
            Self::Ack => tracing::warn!(
                parent: span,
                %error,
                "cannot acknowledge a message; it will be delivered again"
            ),
            Self::Return => tracing::warn!(
                parent: span,
                %error,
                "cannot return a message to its queue; it reappears after its visibility timeout"
            ),
        }
    }
}

/// Polls one settlement once (the common case: a message with no
/// coalesced followers); returns it as a future if it is still pending.
pub(crate) async fn start_one(
    kind: Kind,
    mut settlement: Settlement,
    span: &Span,
) -> Option<Settling> {
    match poll_fn(|cx| Poll::Ready(settlement.as_mut().poll(cx))).await {
        Poll::Ready(Ok(())) => None,
        Poll::Ready(Err(error)) => {
            kind.log(&error, span);
            None
        }
        Poll::Pending => {
            let span = span.clone();
            Some(Box::pin(async move {
                if let Err(error) = settlement.await {
                    kind.log(&error, &span);
                }
            }))
        }
    }
}

/// Polls each settlement once; returns the ones still pending as one
/// future (`None` when every one completed). Failures are logged under
/// `span`.
pub(crate) async fn start(settlements: Vec<(Kind, Settlement)>, span: &Span) -> Option<Settling> {
    let mut settlements = settlements.into_iter();
    let mut pending: Vec<(Kind, Settlement)> = Vec::new();
    poll_fn(|cx| {
        for (kind, mut settlement) in settlements.by_ref() {
            match settlement.as_mut().poll(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(error)) => kind.log(&error, span),
                Poll::Pending => pending.push((kind, settlement)),
            }
        }
        Poll::Ready(())
    })
    .await;
    if pending.is_empty() {
        return None;
    }
    let span = span.clone();
    Some(Box::pin(async move {
        let (kinds, futures): (Vec<Kind>, Vec<Settlement>) = pending.into_iter().unzip();
        let results = futures_util::future::join_all(futures).await;
        for (kind, result) in kinds.into_iter().zip(results) {
            if let Err(error) = result {
                kind.log(&error, &span);
            }
        }
    }))
}
