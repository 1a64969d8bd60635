//! Dead letters in a JSON-lines file: one dead letter per line, appended and
//! flushed to disk before the message is acknowledged.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::{DeadLetter, DeadLetterError, DeadLetterStore};

/// A durable dead-letter store in a JSON-lines file.
///
/// Appends are serialised and synced to disk; `remove` rewrites the file
/// through a temporary file and an atomic rename. One process should own a
/// file at a time.
#[derive(Debug)]
pub struct FileDeadLetters {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileDeadLetters {
    /// A store at `path`; the file and its directory are created on first use.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_all(path: &Path) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(DeadLetterError::new(
                    format!("cannot read `{}`", path.display()),
                    e,
                ));
            }
        };
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, line)| {
                serde_json::from_str(line).map_err(|e| {
                    DeadLetterError::new(
                        format!(
                            "`{}` line {} is not a dead letter; fix or remove that line",
                            path.display(),
                            index + 1
                        ),
                        e,
                    )
                })
            })
            .collect()
    }
}

fn io_error(path: &Path, action: &str, error: std::io::Error) -> DeadLetterError {
    DeadLetterError::new(format!("cannot {action} `{}`", path.display()), error)
}

#[async_trait]
impl DeadLetterStore for FileDeadLetters {
    async fn put(&self, letter: DeadLetter) -> Result<(), DeadLetterError> {
        let mut line = serde_json::to_vec(&letter)
            .map_err(|e| DeadLetterError::new("cannot encode a dead letter", e))?;
        line.push(b'\n');
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| io_error(dir, "create directory", e))?;
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| io_error(&path, "open", e))?;
            file.write_all(&line)
                .and_then(|()| file.sync_data())
                .map_err(|e| io_error(&path, "append to", e))
        })
        .await
        .map_err(|e| DeadLetterError::new("dead-letter writer task failed", e))?
    }

    async fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || Self::read_all(&path))
            .await
            .map_err(|e| DeadLetterError::new("dead-letter reader task failed", e))?
    }

    async fn remove(&self, ids: &[String]) -> Result<usize, DeadLetterError> {
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        let ids = ids.to_vec();
        tokio::task::spawn_blocking(move || {
            let letters = Self::read_all(&path)?;
            let before = letters.len();
            let kept: Vec<&DeadLetter> = letters.iter().filter(|l| !ids.contains(&l.id)).collect();
            let removed = before - kept.len();
            if removed == 0 {
                return Ok(0);
            }
            let mut text = Vec::new();
            for letter in kept {
                serde_json::to_writer(&mut text, letter)
                    .map_err(|e| DeadLetterError::new("cannot encode a dead letter", e))?;
                text.push(b'\n');
            }
            let tmp = path.with_extension("jsonl.tmp");
            std::fs::write(&tmp, &text).map_err(|e| io_error(&tmp, "write", e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io_error(&path, "replace", e))?;
            Ok(removed)
        })
        .await
        .map_err(|e| DeadLetterError::new("dead-letter writer task failed", e))?
    }
}
