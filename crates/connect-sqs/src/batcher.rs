//! Batched settlements: deletes (acknowledgements) and visibility changes
//! (nacks, returns) gathered into `DeleteMessageBatch` and
//! `ChangeMessageVisibilityBatch` calls of up to 10 entries, flushed when
//! full or when the oldest entry has waited the batch window.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::client::QueueClient;
use crate::config::MAX_BATCH_SIZE;
use crate::error::SqsError;

/// Batch calls in flight at once.
const CONCURRENT_FLUSHES: usize = 16;

/// What to do with one received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Delete,
    /// Make it visible again after this many seconds.
    Visibility(i32),
}

/// One settlement waiting for its batch call.
struct Request {
    receipt: String,
    action: Action,
    done: Option<oneshot::Sender<Result<(), SqsError>>>,
}

/// The sending half: cheap to clone, one per queue.
#[derive(Clone, Debug)]
pub(crate) struct Settler {
    tx: mpsc::UnboundedSender<Request>,
    client: QueueClient,
}

impl Settler {
    /// Starts the batcher task on `handle`; entries wait at most `window`
    /// for others to share their call. It stops once every `Settler` clone
    /// is dropped, after flushing what it holds.
    pub(crate) fn spawn(
        client: QueueClient,
        window: Duration,
        handle: &tokio::runtime::Handle,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        handle.spawn(run(client.clone(), window, rx));
        Self { tx, client }
    }

    /// Deletes the message; resolves once SQS confirmed (or refused) it.
    pub(crate) async fn delete(&self, receipt: String) -> Result<(), SqsError> {
        self.settle(receipt, Action::Delete).await
    }

    /// Makes the message visible again after `secs`; resolves once SQS
    /// confirmed it.
    pub(crate) async fn change_visibility(
        &self,
        receipt: String,
        secs: i32,
    ) -> Result<(), SqsError> {
        self.settle(receipt, Action::Visibility(secs)).await
    }

    /// Makes the message visible again after `secs`, without waiting.
    pub(crate) fn change_visibility_later(&self, receipt: String, secs: i32) {
        let request = Request {
            receipt,
            action: Action::Visibility(secs),
            done: None,
        };
        if self.tx.send(request).is_err() {
            tracing::debug!(
                queue = %self.client.name,
                "the settlement batcher stopped; the message reappears after its visibility timeout"
            );
        }
    }

    async fn settle(&self, receipt: String, action: Action) -> Result<(), SqsError> {
        let (done, confirmed) = oneshot::channel();
        let request = Request {
            receipt,
            action,
            done: Some(done),
        };
        match self.tx.send(request) {
            Ok(()) => confirmed.await.unwrap_or_else(|_| {
                Err(SqsError::Api {
                    operation: "DeleteMessageBatch",
                    queue: self.client.name.clone(),
                    code: None,
                    message: "the settlement batcher stopped before confirming".to_owned(),
                    hint: "; the tokio runtime that created the queue is shutting down; the message will be delivered again",
                    retryable: true,
                })
            }),
            // The batcher is gone (its runtime stopped): settle directly.
            Err(mpsc::error::SendError(request)) => match request.action {
                Action::Delete => self.client.delete(&request.receipt).await,
                Action::Visibility(secs) => {
                    self.client
                        .change_visibility(&request.receipt, secs)
                        .await
                }
            },
        }
    }
}

/// Requests of one kind waiting for their call.
struct Pending {
    requests: Vec<Request>,
    since: Option<Instant>,
}

impl Pending {
    fn new() -> Self {
        Self {
            requests: Vec::with_capacity(MAX_BATCH_SIZE),
            since: None,
        }
    }

    fn push(&mut self, request: Request) {
        if self.requests.is_empty() {
            self.since = Some(Instant::now());
        }
        self.requests.push(request);
    }

    fn take(&mut self) -> Vec<Request> {
        self.since = None;
        std::mem::replace(&mut self.requests, Vec::with_capacity(MAX_BATCH_SIZE))
    }
}

async fn run(client: QueueClient, window: Duration, mut rx: mpsc::UnboundedReceiver<Request>) {
    let flushes = Arc::new(Semaphore::new(CONCURRENT_FLUSHES));
    let mut deletes = Pending::new();
    let mut changes = Pending::new();
    let mut open = true;
    while open || !deletes.requests.is_empty() || !changes.requests.is_empty() {
        let due = [deletes.since, changes.since]
            .into_iter()
            .flatten()
            .min()
            .map(|since| since + window);
        tokio::select! {
            biased;
            request = rx.recv(), if open => match request {
                Some(request) => match request.action {
                    Action::Delete => deletes.push(request),
                    Action::Visibility(_) => changes.push(request),
                },
                // Every sender is gone: flush what is held and stop.
                None => open = false,
            },
            () = sleep_until_some(due), if due.is_some() => {}
        }
        let now = Instant::now();
        for pending in [&mut deletes, &mut changes] {
            let expired = pending.since.is_some_and(|since| since + window <= now);
            if pending.requests.len() >= MAX_BATCH_SIZE
                || expired
                || (!open && !pending.requests.is_empty())
            {
                let batch = pending.take();
                let Ok(permit) = Arc::clone(&flushes).acquire_owned().await else {
                    return;
                };
                let client = client.clone();
                tokio::spawn(async move {
                    flush(&client, batch).await;
                    drop(permit);
                });
            }
        }
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn flush(client: &QueueClient, batch: Vec<Request>) {
    let results = match batch.first().map(|r| r.action) {
        None => return,
        Some(Action::Delete) => {
            let receipts: Vec<&str> = batch.iter().map(|r| r.receipt.as_str()).collect();
            client.delete_batch(&receipts).await
        }
        Some(Action::Visibility(_)) => {
            let entries: Vec<(&str, i32)> = batch
                .iter()
                .map(|r| match r.action {
                    Action::Visibility(secs) => (r.receipt.as_str(), secs),
                    Action::Delete => (r.receipt.as_str(), 0),
                })
                .collect();
            client.change_visibility_batch(&entries).await
        }
    };
    match results {
        Ok(results) => {
            for (request, result) in batch.into_iter().zip(results) {
                match request.done {
                    Some(done) => {
                        let _ = done.send(result);
                    }
                    None => {
                        if let Err(error) = result {
                            tracing::debug!(%error, "cannot return a message; it reappears after its visibility timeout");
                        }
                    }
                }
            }
        }
        Err(error) => {
            for request in batch {
                if let Some(done) = request.done {
                    let _ = done.send(Err(error.clone()));
                }
            }
        }
    }
}
