//! `type: file`: dead letters appended to a JSON-lines file.

use std::sync::Arc;

use connect_core::config::FileDeadLetterConfig;
use connect_core::dead_letter::{DeadLetterStore, FileDeadLetters};

use super::{Backend, Block, DeadLetterBackend};
use crate::error::RunnerError;

/// The file backend.
#[derive(Debug)]
pub(super) struct File;

crate::register_backend!(File);

impl Backend for File {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn dead_letters(&self) -> Option<&dyn DeadLetterBackend> {
        Some(self)
    }
}

fn config(block: Block<'_>) -> Result<FileDeadLetterConfig, RunnerError> {
    block
        .doc
        .backend::<FileDeadLetterConfig>(block.backend)?
        .ok_or_else(|| RunnerError::Backend {
            origin: block.doc.origin().to_owned(),
            message: "runtime.dead-letter: `type: file` needs `path: ./dead-letters.jsonl`"
                .to_owned(),
        })
}

#[connect_core::async_trait]
impl DeadLetterBackend for File {
    fn check(&self, block: Block<'_>) -> Result<(), RunnerError> {
        config(block).map(drop)
    }

    async fn check_offline(&self, block: Block<'_>) -> Result<(), RunnerError> {
        let path = config(block)?.path;
        FileDeadLetters::new(path)
            .check()
            .await
            .map_err(|error| block.error(error))
    }

    async fn open(&self, block: Block<'_>) -> Result<Arc<dyn DeadLetterStore>, RunnerError> {
        Ok(Arc::new(FileDeadLetters::new(config(block)?.path)))
    }
}
