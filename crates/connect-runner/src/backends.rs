//! Queues and dead-letter stores named in the configuration file.

use std::sync::Arc;

use connect_core::config::{BackendRef, ConfigDocument, FileDeadLetterConfig, MemoryQueueConfig};
use connect_core::dead_letter::{DeadLetterStore, FileDeadLetters, MemoryDeadLetters};
use connect_core::queue::{MemoryQueue, QueueItem, Sink, Source};

use crate::error::RunnerError;

/// A queue seen as both ends: where items are received and where they are
/// sent.
pub struct QueuePair<T: Send + 'static> {
    /// The receiving end.
    pub source: Arc<dyn Source<T>>,
    /// The sending end.
    pub sink: Arc<dyn Sink<T>>,
}

impl<T: Send + 'static> Clone for QueuePair<T> {
    fn clone(&self) -> Self {
        Self {
            source: Arc::clone(&self.source),
            sink: Arc::clone(&self.sink),
        }
    }
}

impl<T: Send + 'static> std::fmt::Debug for QueuePair<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueuePair")
    }
}

impl<T: Send + 'static> QueuePair<T> {
    /// Both ends of an in-memory queue.
    pub fn memory(queue: MemoryQueue<T>) -> Self {
        Self {
            source: Arc::new(queue.clone()),
            sink: Arc::new(queue),
        }
    }

    /// Both ends of one backend that implements both traits.
    pub fn of<Q: Source<T> + Sink<T> + 'static>(queue: Q) -> Self {
        let queue = Arc::new(queue);
        Self {
            source: Arc::clone(&queue) as Arc<dyn Source<T>>,
            sink: queue,
        }
    }
}

const QUEUE_TYPES: &str = if cfg!(feature = "sqs") {
    "`in-memory` or `sqs`"
} else {
    "`in-memory` (this build has no `sqs` feature; the `connect` command has it)"
};

const DEAD_LETTER_TYPES: &str = if cfg!(feature = "sqs") {
    "`in-memory`, `file` or `sqs`"
} else {
    "`in-memory` or `file` (this build has no `sqs` feature; the `connect` command has it)"
};

fn where_(backend: &BackendRef) -> &str {
    backend.section.as_deref().unwrap_or("(default)")
}

fn unknown(doc: &ConfigDocument, backend: &BackendRef, allowed: &str) -> RunnerError {
    RunnerError::Backend {
        origin: doc.origin().to_owned(),
        message: format!(
            "{}: `type: {}` is not supported; use {allowed}",
            where_(backend),
            backend.kind
        ),
    }
}

#[cfg(feature = "sqs")]
fn sqs_error(
    doc: &ConfigDocument,
    backend: &BackendRef,
    error: &connect_sqs::SqsError,
) -> RunnerError {
    RunnerError::Backend {
        origin: doc.origin().to_owned(),
        message: format!("{}: {error}", where_(backend)),
    }
}

/// Checks a queue block without connecting to anything.
pub(crate) fn check_queue(doc: &ConfigDocument, backend: &BackendRef) -> Result<(), RunnerError> {
    match backend.kind.as_str() {
        "in-memory" => doc
            .backend::<MemoryQueueConfig>(backend)
            .map(drop)
            .map_err(Into::into),
        #[cfg(feature = "sqs")]
        "sqs" => connect_sqs::SqsQueueConfig::from_backend(doc, backend)
            .map(drop)
            .map_err(|e| sqs_error(doc, backend, &e)),
        _ => Err(unknown(doc, backend, QUEUE_TYPES)),
    }
}

/// An opened queue, with how its consumer should receive from it.
pub(crate) struct Opened<T: Send + 'static> {
    pub(crate) pair: QueuePair<T>,
    /// Batch size and wait per receive suited to the backend, if it has a
    /// preference (SQS: up to 10 messages, long polling).
    pub(crate) receive: Option<(usize, std::time::Duration)>,
}

/// Opens the queue a block describes; `name` labels an in-memory queue.
/// `max_attempts` is the runtime's, checked against an SQS redrive policy.
#[cfg_attr(not(feature = "sqs"), allow(unused_variables))]
pub(crate) async fn open_queue<T: QueueItem>(
    doc: &ConfigDocument,
    backend: &BackendRef,
    name: &str,
    max_attempts: Option<u32>,
) -> Result<Opened<T>, RunnerError> {
    match backend.kind.as_str() {
        "in-memory" => {
            let config: MemoryQueueConfig = doc.backend(backend)?.unwrap_or_default();
            Ok(Opened {
                pair: QueuePair::memory(MemoryQueue::new(name, config.capacity)),
                receive: None,
            })
        }
        #[cfg(feature = "sqs")]
        "sqs" => {
            let config = connect_sqs::SqsQueueConfig::from_backend(doc, backend)
                .map_err(|e| sqs_error(doc, backend, &e))?;
            let queue = connect_sqs::SqsQueue::<T>::connect(&config)
                .await
                .map_err(|e| sqs_error(doc, backend, &e))?;
            if let Some(max_attempts) = max_attempts {
                match queue.max_receive_count().await {
                    Ok(Some(max_receives)) if max_attempts > max_receives => tracing::warn!(
                        queue = queue.name(),
                        max_receives,
                        max_attempts,
                        "runtime.max-attempts exceeds the queue's redrive maxReceiveCount: SQS moves a failing message to its dead-letter queue before the runtime gives up"
                    ),
                    Ok(_) => {}
                    Err(error) => tracing::debug!(%error, "cannot read the queue's redrive policy"),
                }
            }
            let receive = (config.batch_size, config.wait_time);
            Ok(Opened {
                pair: QueuePair::of(queue),
                receive: Some(receive),
            })
        }
        _ => Err(unknown(doc, backend, QUEUE_TYPES)),
    }
}

/// Checks a dead-letter block without opening anything.
pub(crate) fn check_dead_letters(
    doc: &ConfigDocument,
    backend: &BackendRef,
) -> Result<(), RunnerError> {
    match backend.kind.as_str() {
        "in-memory" => Ok(()),
        "file" => file_config(doc, backend).map(drop),
        #[cfg(feature = "sqs")]
        "sqs" => connect_sqs::SqsQueueConfig::from_backend(doc, backend)
            .map(drop)
            .map_err(|e| sqs_error(doc, backend, &e)),
        _ => Err(unknown(doc, backend, DEAD_LETTER_TYPES)),
    }
}

fn file_config(
    doc: &ConfigDocument,
    backend: &BackendRef,
) -> Result<FileDeadLetterConfig, RunnerError> {
    doc.backend::<FileDeadLetterConfig>(backend)?
        .ok_or_else(|| RunnerError::Backend {
            origin: doc.origin().to_owned(),
            message: "runtime.dead-letter: `type: file` needs `path: ./dead-letters.jsonl`"
                .to_owned(),
        })
}

/// Checks, without connecting or writing anything, that a `type: file`
/// store can be written (other stores are checked when opened).
pub(crate) async fn check_dead_letter_path(
    doc: &ConfigDocument,
    backend: &BackendRef,
) -> Result<(), RunnerError> {
    if backend.kind != "file" {
        return Ok(());
    }
    let path = file_config(doc, backend)?.path;
    FileDeadLetters::new(path)
        .check()
        .await
        .map_err(|error| RunnerError::Backend {
            origin: doc.origin().to_owned(),
            message: format!("runtime.dead-letter: {error}"),
        })
}

/// Opens the dead-letter store a block describes.
pub(crate) async fn open_dead_letters(
    doc: &ConfigDocument,
    backend: &BackendRef,
) -> Result<Arc<dyn DeadLetterStore>, RunnerError> {
    match backend.kind.as_str() {
        "in-memory" => Ok(Arc::new(MemoryDeadLetters::new())),
        "file" => Ok(Arc::new(FileDeadLetters::new(
            file_config(doc, backend)?.path,
        ))),
        #[cfg(feature = "sqs")]
        "sqs" => {
            let config = connect_sqs::SqsQueueConfig::from_backend(doc, backend)
                .map_err(|e| sqs_error(doc, backend, &e))?;
            let store = connect_sqs::SqsDeadLetters::connect(&config)
                .await
                .map_err(|e| sqs_error(doc, backend, &e))?;
            Ok(Arc::new(store))
        }
        _ => Err(unknown(doc, backend, DEAD_LETTER_TYPES)),
    }
}
