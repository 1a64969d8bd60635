//! `type: jsonl-dir`: a dead-letter store writing one JSON file per dead
//! letter (`{id}.json`) into a directory, with its own configuration type.

use std::path::PathBuf;
use std::sync::Arc;

use connect_sdk::dead_letter::{DeadLetter, DeadLetterError, DeadLetterStore};
use connect_sdk::runner::{Backend, Block, DeadLetterBackend, RunnerError, register_backend};

/// The block: `runtime.dead-letter: { type: jsonl-dir, path: ./dead-letters }`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct JsonlDirConfig {
    #[serde(rename = "type")]
    _kind: String,
    /// The directory (created when missing).
    pub path: PathBuf,
}

/// The backend, registered at link time.
#[derive(Debug)]
pub struct JsonlDir;

register_backend!(JsonlDir);

impl Backend for JsonlDir {
    fn kind(&self) -> &'static str {
        "jsonl-dir"
    }
    fn dead_letters(&self) -> Option<&dyn DeadLetterBackend> {
        Some(self)
    }
}

fn config(block: Block<'_>) -> Result<JsonlDirConfig, RunnerError> {
    block.require_config("`path: ./dead-letters`")
}

#[connect_sdk::async_trait]
impl DeadLetterBackend for JsonlDir {
    fn check(&self, block: Block<'_>) -> Result<(), RunnerError> {
        config(block).map(drop)
    }
    async fn open(&self, block: Block<'_>) -> Result<Arc<dyn DeadLetterStore>, RunnerError> {
        Ok(Arc::new(Store(config(block)?.path)))
    }
}

/// The store: a directory of `{id}.json` files.
#[derive(Debug)]
struct Store(PathBuf);

fn io(what: &str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> DeadLetterError {
    let message = format!("cannot {what} {}", path.display());
    move |error| DeadLetterError::new(message, error)
}

#[connect_sdk::async_trait]
impl DeadLetterStore for Store {
    async fn put(&self, letter: DeadLetter) -> Result<(), DeadLetterError> {
        tokio::fs::create_dir_all(&self.0)
            .await
            .map_err(io("create", &self.0))?;
        let path = self.0.join(format!("{}.json", letter.id));
        let json = serde_json::to_vec(&letter)
            .map_err(|e| DeadLetterError::new("cannot encode a dead letter", e))?;
        tokio::fs::write(&path, json)
            .await
            .map_err(io("write", &path))
    }

    async fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let mut letters = Vec::new();
        let Ok(mut entries) = tokio::fs::read_dir(&self.0).await else {
            return Ok(letters); // no directory yet: no dead letters
        };
        while let Some(entry) = entries.next_entry().await.map_err(io("read", &self.0))? {
            let path = entry.path();
            let bytes = tokio::fs::read(&path).await.map_err(io("read", &path))?;
            let letter = serde_json::from_slice(&bytes).map_err(|e| {
                DeadLetterError::new(format!("{} is not a dead letter", path.display()), e)
            })?;
            letters.push(letter);
        }
        letters.sort_by_key(|l: &DeadLetter| l.dead_lettered_at);
        Ok(letters)
    }

    async fn remove(&self, ids: &[String]) -> Result<usize, DeadLetterError> {
        let mut removed = 0;
        // Ids name files in the directory, never a path out of it.
        for id in ids
            .iter()
            .filter(|id| !id.contains(['/', '\\']) && !id.starts_with('.'))
        {
            let path = self.0.join(format!("{id}.json"));
            match tokio::fs::remove_file(&path).await {
                Ok(()) => removed += 1,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(io("remove", &path)(error)),
            }
        }
        Ok(removed)
    }

    async fn check(&self) -> Result<(), DeadLetterError> {
        tokio::fs::create_dir_all(&self.0)
            .await
            .map_err(io("create", &self.0))
    }
}
