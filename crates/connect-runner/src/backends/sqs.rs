//! `type: sqs`: Amazon SQS queues and dead letters (feature `sqs`).

use std::sync::Arc;

use connect_core::Message;
use connect_core::dead_letter::DeadLetterStore;
use connect_core::queue::{QueueItem, RawPayload};
use connect_sqs::{SqsDeadLetters, SqsQueue, SqsQueueConfig};

use super::{Backend, Block, DeadLetterBackend, Opened, QueueBackend, QueueOptions, QueuePair};
use crate::error::RunnerError;

/// The SQS backend.
#[derive(Debug)]
pub(super) struct Sqs;

crate::register_backend!(Sqs);

impl Backend for Sqs {
    fn kind(&self) -> &'static str {
        "sqs"
    }

    fn queue(&self) -> Option<&dyn QueueBackend> {
        Some(self)
    }

    fn dead_letters(&self) -> Option<&dyn DeadLetterBackend> {
        Some(self)
    }
}

fn config(block: Block<'_>) -> Result<SqsQueueConfig, RunnerError> {
    SqsQueueConfig::from_backend(block.doc, block.backend).map_err(|e| block.error(e))
}

async fn open<T: QueueItem>(
    block: Block<'_>,
    options: QueueOptions<'_>,
) -> Result<Opened<T>, RunnerError> {
    let config = config(block)?;
    let queue = SqsQueue::<T>::connect(&config)
        .await
        .map_err(|e| block.error(e))?;
    if let Some(max_attempts) = options.max_attempts {
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

#[connect_core::async_trait]
impl QueueBackend for Sqs {
    fn check(&self, block: Block<'_>) -> Result<(), RunnerError> {
        config(block).map(drop)
    }

    async fn open_payloads(
        &self,
        block: Block<'_>,
        options: QueueOptions<'_>,
    ) -> Result<Opened<RawPayload>, RunnerError> {
        open(block, options).await
    }

    async fn open_messages(
        &self,
        block: Block<'_>,
        options: QueueOptions<'_>,
    ) -> Result<Opened<Message>, RunnerError> {
        open(block, options).await
    }
}

#[connect_core::async_trait]
impl DeadLetterBackend for Sqs {
    fn check(&self, block: Block<'_>) -> Result<(), RunnerError> {
        config(block).map(drop)
    }

    async fn open(&self, block: Block<'_>) -> Result<Arc<dyn DeadLetterStore>, RunnerError> {
        let store = SqsDeadLetters::connect(&config(block)?)
            .await
            .map_err(|e| block.error(e))?;
        Ok(Arc::new(store))
    }
}
