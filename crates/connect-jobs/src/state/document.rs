//! The state of every job and their leases, as one JSON document: what the
//! file store keeps on disk and the memory store in memory.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{JobState, Lease, StateError};
use crate::clock::to_chrono;

/// Format version of the document.
const VERSION: u32 = 1;

/// Every job's state and lease.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StateDocument {
    #[serde(default = "version")]
    version: u32,
    #[serde(default)]
    pub(crate) jobs: BTreeMap<String, JobState>,
    #[serde(default)]
    pub(crate) leases: BTreeMap<String, Lease>,
}

fn version() -> u32 {
    VERSION
}

impl StateDocument {
    pub(crate) fn new() -> Self {
        Self {
            version: VERSION,
            ..Self::default()
        }
    }

    /// The lease of `job` if it is held at `now`.
    pub(crate) fn held(&self, job: &str, now: DateTime<Utc>) -> Option<&Lease> {
        self.leases.get(job).filter(|lease| lease.expires_at > now)
    }

    pub(crate) fn try_acquire(
        &mut self,
        job: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Option<Lease> {
        if self.held(job, now).is_some() {
            return None;
        }
        let lease = Lease {
            job: job.to_owned(),
            holder: holder.to_owned(),
            token: uuid::Uuid::new_v4().to_string(),
            expires_at: now + to_chrono(ttl),
        };
        self.leases.insert(job.to_owned(), lease.clone());
        Some(lease)
    }

    /// `Ok` when `lease` is the one held at `now`.
    pub(crate) fn check(&self, lease: &Lease, now: DateTime<Utc>) -> Result<(), StateError> {
        match self.held(&lease.job, now) {
            Some(current) if current.token == lease.token => Ok(()),
            other => Err(StateError::LeaseLost {
                job: lease.job.clone(),
                holder: other.map(|l| l.holder.clone()),
            }),
        }
    }

    pub(crate) fn renew(
        &mut self,
        lease: &Lease,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Option<Lease> {
        self.check(lease, now).ok()?;
        let renewed = Lease {
            expires_at: now + to_chrono(ttl),
            ..lease.clone()
        };
        self.leases.insert(lease.job.clone(), renewed.clone());
        Some(renewed)
    }

    /// `true` when something changed.
    pub(crate) fn release(&mut self, lease: &Lease) -> bool {
        let ours = self
            .leases
            .get(&lease.job)
            .is_some_and(|current| current.token == lease.token);
        if ours {
            self.leases.remove(&lease.job);
        }
        ours
    }

    pub(crate) fn save_checkpoint(
        &mut self,
        lease: &Lease,
        checkpoint: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        self.check(lease, now)?;
        let state = self.jobs.entry(lease.job.clone()).or_default();
        state.checkpoint = Some(checkpoint.clone());
        state.checkpoint_at = Some(now);
        Ok(())
    }
}
