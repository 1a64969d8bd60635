//! `type: in-memory`: queues inside this process and dead letters kept in
//! memory (the default of every block).

use std::sync::Arc;

use connect_core::Message;
use connect_core::config::MemoryQueueConfig;
use connect_core::dead_letter::{DeadLetterStore, MemoryDeadLetters};
use connect_core::queue::{MemoryQueue, QueueItem, RawPayload};

use super::{Backend, Block, DeadLetterBackend, Opened, QueueBackend, QueueOptions, QueuePair};
use crate::error::RunnerError;

/// The in-memory backend.
#[derive(Debug)]
pub(super) struct Memory;

crate::register_backend!(Memory);

impl Backend for Memory {
    fn kind(&self) -> &'static str {
        "in-memory"
    }

    fn queue(&self) -> Option<&dyn QueueBackend> {
        Some(self)
    }

    fn dead_letters(&self) -> Option<&dyn DeadLetterBackend> {
        Some(self)
    }
}

fn open<T: QueueItem>(
    block: Block<'_>,
    options: QueueOptions<'_>,
) -> Result<Opened<T>, RunnerError> {
    let config: MemoryQueueConfig = block.doc.backend(block.backend)?.unwrap_or_default();
    Ok(Opened {
        pair: QueuePair::memory(MemoryQueue::new(options.name, config.capacity)),
        receive: None,
    })
}

#[connect_core::async_trait]
impl QueueBackend for Memory {
    fn check(&self, block: Block<'_>) -> Result<(), RunnerError> {
        block
            .doc
            .backend::<MemoryQueueConfig>(block.backend)
            .map(drop)
            .map_err(Into::into)
    }

    async fn open_payloads(
        &self,
        block: Block<'_>,
        options: QueueOptions<'_>,
    ) -> Result<Opened<RawPayload>, RunnerError> {
        open(block, options)
    }

    async fn open_messages(
        &self,
        block: Block<'_>,
        options: QueueOptions<'_>,
    ) -> Result<Opened<Message>, RunnerError> {
        open(block, options)
    }
}

#[connect_core::async_trait]
impl DeadLetterBackend for Memory {
    fn check(&self, _block: Block<'_>) -> Result<(), RunnerError> {
        Ok(())
    }

    async fn open(&self, _block: Block<'_>) -> Result<Arc<dyn DeadLetterStore>, RunnerError> {
        Ok(Arc::new(MemoryDeadLetters::new()))
    }
}
