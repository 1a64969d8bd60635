//! Batched deletes: acknowledgements gathered into `DeleteMessageBatch`
//! calls of up to 10, flushed when full or after a short linger.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::client::QueueClient;
use crate::error::SqsError;

/// How long the first acknowledgement of a batch waits for others.
pub(crate) const LINGER: Duration = Duration::from_millis(5);
/// Delete calls in flight at once.
const CONCURRENT_FLUSHES: usize = 16;

/// One acknowledgement waiting for its delete.
pub(crate) struct DeleteRequest {
    pub(crate) receipt: String,
    pub(crate) done: oneshot::Sender<Result<(), SqsError>>,
}

/// The sending half: cheap to clone, one per queue.
#[derive(Clone, Debug)]
pub(crate) struct Deleter {
    tx: mpsc::UnboundedSender<DeleteRequest>,
}

impl Deleter {
    /// Starts the batcher task on `handle`. It stops once every `Deleter`
    /// clone is dropped.
    pub(crate) fn spawn(client: QueueClient, handle: &tokio::runtime::Handle) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        handle.spawn(run(client, rx));
        Self { tx }
    }

    /// Deletes the message; resolves once SQS confirmed (or refused) it.
    pub(crate) async fn delete(
        &self,
        client: &QueueClient,
        receipt: String,
    ) -> Result<(), SqsError> {
        let (done, confirmed) = oneshot::channel();
        match self.tx.send(DeleteRequest { receipt, done }) {
            Ok(()) => match confirmed.await {
                Ok(result) => result,
                Err(_) => Err(SqsError::Api {
                    operation: "DeleteMessageBatch",
                    queue: client.name.clone(),
                    code: None,
                    message: "the delete batcher stopped before confirming".to_owned(),
                    hint: "; the tokio runtime that created the queue is shutting down; the message will be delivered again",
                    retryable: true,
                }),
            },
            // The batcher is gone (its runtime stopped): delete directly.
            Err(mpsc::error::SendError(request)) => client.delete(&request.receipt).await,
        }
    }
}

async fn run(client: QueueClient, mut rx: mpsc::UnboundedReceiver<DeleteRequest>) {
    let flushes = Arc::new(Semaphore::new(CONCURRENT_FLUSHES));
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = Instant::now() + LINGER;
        while batch.len() < 10 {
            match rx.try_recv() {
                Ok(request) => {
                    batch.push(request);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            tokio::select! {
                request = rx.recv() => match request {
                    Some(request) => batch.push(request),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
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

async fn flush(client: &QueueClient, batch: Vec<DeleteRequest>) {
    let receipts: Vec<&str> = batch.iter().map(|r| r.receipt.as_str()).collect();
    match client.delete_batch(&receipts).await {
        Ok(results) => {
            for (request, result) in batch.into_iter().zip(results) {
                let _ = request.done.send(result);
            }
        }
        Err(error) => {
            for request in batch {
                let _ = request.done.send(Err(error.clone()));
            }
        }
    }
}
