//! [`MemoryStateStore`]: job state in this process only.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::{JobState, Lease, StateDocument, StateError, StateStore};
use crate::clock::Clock;

/// Job state in memory: lost when the process ends. For tests, and for
/// `connect job run` against a configuration without a `state:` block
/// when nothing must be remembered. Clones share the state; leases exclude
/// each other within the process.
#[derive(Debug, Clone, Default)]
pub struct MemoryStateStore {
    document: Arc<Mutex<StateDocument>>,
    clock: Clock,
}

impl MemoryStateStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads lease expiry from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn lock(&self) -> MutexGuard<'_, StateDocument> {
        self.document.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn load(&self, job: &str) -> Result<Option<JobState>, StateError> {
        Ok(self.lock().jobs.get(job).cloned())
    }

    async fn save(&self, job: &str, state: &JobState) -> Result<(), StateError> {
        self.lock().jobs.insert(job.to_owned(), state.clone());
        Ok(())
    }

    async fn save_checkpoint(
        &self,
        lease: &Lease,
        checkpoint: &serde_json::Value,
    ) -> Result<(), StateError> {
        let now = self.clock.now();
        self.lock().save_checkpoint(lease, checkpoint, now)
    }

    async fn try_acquire(
        &self,
        job: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StateError> {
        let now = self.clock.now();
        Ok(self.lock().try_acquire(job, holder, ttl, now))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, StateError> {
        let now = self.clock.now();
        Ok(self.lock().renew(lease, ttl, now))
    }

    async fn release(&self, lease: &Lease) -> Result<(), StateError> {
        self.lock().release(lease);
        Ok(())
    }

    async fn holder(&self, job: &str) -> Result<Option<Lease>, StateError> {
        let now = self.clock.now();
        Ok(self.lock().held(job, now).cloned())
    }

    fn describe(&self) -> String {
        "memory (lost when the process ends)".to_owned()
    }
}
