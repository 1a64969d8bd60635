//! Dead letters in a JSON-lines file: one dead letter per line, appended and
//! synced to disk before the message is acknowledged.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::{DeadLetter, DeadLetterError, DeadLetterStore};

/// A durable dead-letter store in a JSON-lines file.
///
/// - **Durability**: `put` appends one whole line and calls `fsync`
///   (`sync_data`) before it returns; the runtime acknowledges a message
///   only after that, so a dead letter acknowledged in its queue is on disk.
/// - **Crash safety**: a crash in the middle of an append can leave a torn
///   last line. Reading skips it with a warning, and the next append first
///   ends the torn line, so every later record stays readable. Any other
///   line that is not a dead letter is skipped with a warning (naming the
///   line) and kept as it is when the file is rewritten.
/// - **Removal** (`remove`, after a replay) rewrites the file through a
///   temporary file and an atomic rename.
///
/// One process should own a file at a time. [`check`](DeadLetterStore::check)
/// finds a path that cannot be written (a directory, a missing or read-only
/// directory) before the first message.
#[derive(Debug)]
pub struct FileDeadLetters {
    path: PathBuf,
    lock: Mutex<()>,
}

/// What reading the file found.
struct Contents {
    letters: Vec<DeadLetter>,
    /// Complete lines that are not dead letters, kept verbatim on rewrite.
    foreign: Vec<String>,
}

impl FileDeadLetters {
    /// A store at `path`; the file and its directory are created on first
    /// write.
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

    fn read_all(path: &Path) -> Result<Contents, DeadLetterError> {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Contents {
                    letters: Vec::new(),
                    foreign: Vec::new(),
                });
            }
            Err(e) => return Err(io_error(path, "read", e)),
        };
        let torn_tail = !text.is_empty() && !text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        let mut contents = Contents {
            letters: Vec::with_capacity(lines.len()),
            foreign: Vec::new(),
        };
        for (index, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<DeadLetter>(line) {
                Ok(letter) => contents.letters.push(letter),
                Err(error) if torn_tail && index + 1 == lines.len() => tracing::warn!(
                    path = %path.display(),
                    line = index + 1,
                    %error,
                    "skipping a torn last line (an append interrupted by a crash; its message was not acknowledged and was delivered again)"
                ),
                Err(error) => {
                    tracing::warn!(
                        path = %path.display(),
                        line = index + 1,
                        %error,
                        "skipping a line that is not a dead letter; it is kept in the file"
                    );
                    contents.foreign.push((*line).to_owned());
                }
            }
        }
        Ok(contents)
    }

    fn append(path: &Path, line: &[u8]) -> Result<(), DeadLetterError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, "create directory", e))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| io_error(path, "open", e))?;
        // End a torn last line left by a crash, so this record starts on a
        // line of its own.
        let len = file
            .metadata()
            .map_err(|e| io_error(path, "read the size of", e))?
            .len();
        let mut prefix: &[u8] = b"";
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(|e| io_error(path, "read", e))?;
            if last[0] != b'\n' {
                prefix = b"\n";
            }
        }
        let mut record = Vec::with_capacity(prefix.len() + line.len());
        record.extend_from_slice(prefix);
        record.extend_from_slice(line);
        file.write_all(&record)
            .and_then(|()| file.sync_data())
            .map_err(|e| io_error(path, "append to", e))
    }

    /// Checks that `path` can hold the store without writing it: it is a
    /// writable file, or it can be created in a writable directory.
    fn check_path(path: &Path) -> Result<(), DeadLetterError> {
        let hint = "set runtime.dead-letter.path to a file in a writable directory";
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return Err(DeadLetterError::msg(format!(
                    "`{}` is a directory; {hint}, e.g. `{}`",
                    path.display(),
                    path.join("dead-letters.jsonl").display()
                )));
            }
            Ok(_) => {
                return std::fs::OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map(drop)
                    .map_err(|e| {
                        DeadLetterError::new(
                            format!("cannot write `{}`; {hint}", path.display()),
                            e,
                        )
                    });
            }
            Err(e) if is_missing(&e) => {}
            Err(e) => {
                return Err(DeadLetterError::new(
                    format!("cannot use `{}`; {hint}", path.display()),
                    e,
                ));
            }
        }
        // The nearest existing ancestor must be a directory we can write
        // into (the missing ones are created on first write).
        let mut dir = path.parent();
        while let Some(candidate) = dir {
            let candidate = if candidate.as_os_str().is_empty() {
                Path::new(".")
            } else {
                candidate
            };
            match std::fs::metadata(candidate) {
                Ok(meta) if meta.is_dir() => return probe_directory(candidate, hint),
                Ok(_) => {
                    return Err(DeadLetterError::msg(format!(
                        "`{}` cannot be created: `{}` is not a directory; {hint}",
                        path.display(),
                        candidate.display()
                    )));
                }
                Err(e) if is_missing(&e) => {
                    dir = candidate.parent();
                }
                Err(e) => {
                    return Err(DeadLetterError::new(
                        format!("cannot use `{}`; {hint}", candidate.display()),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `path` does not exist (or a part of it is not a directory).
fn is_missing(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// Creates and removes a probe file in `dir`.
fn probe_directory(dir: &Path, hint: &str) -> Result<(), DeadLetterError> {
    let probe = dir.join(format!(
        ".connect-dead-letters-check-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| {
            DeadLetterError::new(
                format!("cannot create files in `{}`; {hint}", dir.display()),
                e,
            )
        })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
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
        tokio::task::spawn_blocking(move || Self::append(&path, &line))
            .await
            .map_err(|e| DeadLetterError::new("dead-letter writer task failed", e))?
    }

    async fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || Self::read_all(&path).map(|c| c.letters))
            .await
            .map_err(|e| DeadLetterError::new("dead-letter reader task failed", e))?
    }

    async fn remove(&self, ids: &[String]) -> Result<usize, DeadLetterError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        let ids: std::collections::HashSet<String> = ids.iter().cloned().collect();
        tokio::task::spawn_blocking(move || {
            let contents = Self::read_all(&path)?;
            let before = contents.letters.len();
            let kept: Vec<&DeadLetter> = contents
                .letters
                .iter()
                .filter(|l| !ids.contains(&l.id))
                .collect();
            let removed = before - kept.len();
            if removed == 0 {
                return Ok(0);
            }
            let mut text = Vec::new();
            for line in &contents.foreign {
                text.extend_from_slice(line.as_bytes());
                text.push(b'\n');
            }
            for letter in kept {
                serde_json::to_writer(&mut text, letter)
                    .map_err(|e| DeadLetterError::new("cannot encode a dead letter", e))?;
                text.push(b'\n');
            }
            let tmp = path.with_extension("jsonl.tmp");
            let mut file = std::fs::File::create(&tmp).map_err(|e| io_error(&tmp, "write", e))?;
            file.write_all(&text)
                .and_then(|()| file.sync_data())
                .map_err(|e| io_error(&tmp, "write", e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io_error(&path, "replace", e))?;
            Ok(removed)
        })
        .await
        .map_err(|e| DeadLetterError::new("dead-letter writer task failed", e))?
    }

    async fn check(&self) -> Result<(), DeadLetterError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || Self::check_path(&path))
            .await
            .map_err(|e| DeadLetterError::new("dead-letter check task failed", e))?
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::dead_letter::FailureKind;
    use crate::message::Message;

    fn letter(id: &str) -> DeadLetter {
        let mut letter =
            DeadLetter::for_message(Message::new("route"), FailureKind::Unprocessable, "bad", 1);
        letter.id = id.to_owned();
        letter
    }

    #[tokio::test]
    async fn a_torn_last_line_is_skipped_and_the_next_record_starts_on_its_own_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dl.jsonl");
        let store = FileDeadLetters::new(&path);
        store.put(letter("a")).await.unwrap();
        // A crash in the middle of the second append.
        let torn = serde_json::to_string(&letter("b")).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&torn.as_bytes()[..torn.len() / 2]).unwrap();
        drop(file);

        let ids = |letters: Vec<DeadLetter>| letters.into_iter().map(|l| l.id).collect::<Vec<_>>();
        assert_eq!(ids(store.list().await.unwrap()), ["a"]);
        store.put(letter("c")).await.unwrap();
        assert_eq!(ids(store.list().await.unwrap()), ["a", "c"]);
        // The ended fragment is an unreadable line now: skipped, and kept
        // (with a warning naming it) when the file is rewritten.
        assert_eq!(store.remove(&["a".to_owned()]).await.unwrap(), 1);
        assert_eq!(ids(store.list().await.unwrap()), ["c"]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.ends_with('\n'));
    }

    #[tokio::test]
    async fn foreign_lines_are_skipped_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dl.jsonl");
        let store = FileDeadLetters::new(&path);
        store.put(letter("a")).await.unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"not a dead letter\n").unwrap();
        drop(file);
        store.put(letter("b")).await.unwrap();
        assert_eq!(store.list().await.unwrap().len(), 2);
        store.remove(&["a".to_owned()]).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("not a dead letter\n"), "{text}");
        assert_eq!(store.list().await.unwrap()[0].id, "b");
    }

    #[tokio::test]
    async fn check_finds_paths_that_cannot_hold_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let directory = FileDeadLetters::new(dir.path());
        let error = directory.check().await.unwrap_err().to_string();
        assert!(error.contains("is a directory"), "{error}");

        let file = dir.path().join("plain");
        std::fs::write(&file, b"x").unwrap();
        let under_a_file = FileDeadLetters::new(file.join("dl.jsonl"));
        let error = under_a_file.check().await.unwrap_err().to_string();
        assert!(error.contains("is not a directory"), "{error}");

        let fresh = FileDeadLetters::new(dir.path().join("new/nested/dl.jsonl"));
        fresh.check().await.unwrap();
        assert!(!dir.path().join("new").exists(), "check writes nothing");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only the plain file: {leftovers:?}");
    }
}
