//! Dead letters kept in memory (tests, local runs).

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use super::{DeadLetter, DeadLetterError, DeadLetterStore};

/// An in-memory dead-letter store. Lost when the process exits: use
/// [`FileDeadLetters`](super::FileDeadLetters) or a queue in production.
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    letters: Mutex<Vec<DeadLetter>>,
}

impl MemoryDeadLetters {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every dead letter, oldest first.
    pub fn snapshot(&self) -> Vec<DeadLetter> {
        self.letters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many dead letters are stored.
    pub fn len(&self) -> usize {
        self.letters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// `true` when the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl DeadLetterStore for MemoryDeadLetters {
    async fn put(&self, letter: DeadLetter) -> Result<(), DeadLetterError> {
        self.letters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(letter);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        Ok(self.snapshot())
    }

    async fn remove(&self, ids: &[String]) -> Result<usize, DeadLetterError> {
        let mut letters = self.letters.lock().unwrap_or_else(PoisonError::into_inner);
        let before = letters.len();
        letters.retain(|l| !ids.contains(&l.id));
        Ok(before - letters.len())
    }
}
