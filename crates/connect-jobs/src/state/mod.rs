//! Where job state lives: the [`StateStore`] trait, what it holds
//! ([`JobState`], [`Checkpoint`], [`Lease`]) and its backends:
//! [`FileStateStore`], [`FluentSettingStore`] and [`MemoryStateStore`].
//!
//! # Leases
//!
//! A run holds its job's lease for as long as it lasts, so that two runs of
//! one job never overlap, across replicas too. A lease has a holder, a
//! random token and an expiry: the scheduler renews it while the run lasts
//! (every third of its ttl) and releases it at the end; the lease of a
//! holder that crashed expires after its ttl, and another holder may then
//! take it. What each backend guarantees is written on it.

mod document;
pub(crate) mod file;
pub(crate) mod fluent;
mod memory;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use file::FileStateStore;
pub use fluent::{FluentSettingStore, SettingContext};
pub use memory::MemoryStateStore;

pub(crate) use document::StateDocument;

/// Everything stored about one job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct JobState {
    /// What the job saved with [`JobContext::checkpoint`](crate::JobContext::checkpoint)
    /// (or `connect job reset` set), as JSON.
    pub checkpoint: Option<serde_json::Value>,
    /// When the checkpoint was saved.
    pub checkpoint_at: Option<DateTime<Utc>>,
    /// When the last run started.
    pub last_run: Option<DateTime<Utc>>,
    /// When the last successful run started.
    pub last_success: Option<DateTime<Utc>>,
    /// How long the last run took, in milliseconds.
    pub last_duration_ms: Option<u64>,
    /// Why the last run failed (empty after a success).
    pub last_error: Option<String>,
    /// Runs started, successful or not.
    pub runs: u64,
    /// Runs that failed.
    pub failures: u64,
}

impl JobState {
    /// The checkpoint a run starts from, `None` when nothing was saved.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        self.checkpoint.as_ref().map(|value| Checkpoint {
            value: value.clone(),
            saved_at: self.checkpoint_at,
            last_run: self.last_run,
            last_success: self.last_success,
        })
    }
}

/// The last checkpoint of a job, as a run sees it when it starts.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Checkpoint {
    /// The JSON the job saved.
    pub value: serde_json::Value,
    /// When it was saved.
    pub saved_at: Option<DateTime<Utc>>,
    /// When the last run started.
    pub last_run: Option<DateTime<Utc>>,
    /// When the last successful run started.
    pub last_success: Option<DateTime<Utc>>,
}

impl Checkpoint {
    /// Reads the value as `T`.
    pub fn value_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(self.value.clone())
    }
}

/// A job's lease, held by one run at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// The job it is for.
    pub job: String,
    /// Who holds it (a replica's name: host and process id by default).
    pub holder: String,
    /// Unique per acquisition: a renewal, a release or a checkpoint with
    /// another token is refused.
    pub token: String,
    /// When it expires unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// A state store failure: what happened and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The file store could not read, write or lock its file.
    #[error(
        "job state file `{path}`: cannot {action}: {source}; check that the directory exists and is writable (`state.path`)"
    )]
    Io {
        /// The file.
        path: String,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file holds something that is not job state.
    #[error(
        "job state file `{path}` is not valid job state ({message}); fix or move it away, or point `state.path` at another file"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// The parse error.
        message: String,
    },
    /// Fluent answered with an error.
    #[error("job state in Fluent Setting `{setting}`: {source}")]
    Fluent {
        /// The setting.
        setting: String,
        /// Fluent's error.
        source: connect_fluent::Error,
    },
    /// A Fluent Setting holds a value that is not job state.
    #[error(
        "Fluent Setting `{setting}` does not hold job state ({message}); fix its value or delete it"
    )]
    InvalidSetting {
        /// The setting.
        setting: String,
        /// What is wrong.
        message: String,
    },
    /// The lease is no longer held by this run (it expired and another
    /// holder took it, or it was released).
    #[error("job `{job}`: the lease is no longer held by this run{}; the run stops without writing", holder.as_ref().map(|h| format!(" (now held by `{h}`)")).unwrap_or_default())]
    LeaseLost {
        /// The job.
        job: String,
        /// Who holds it now, when known.
        holder: Option<String>,
    },
}

/// Where job state and leases live. Implement it for another backend;
/// every method must be safe to call from several replicas at once, to the
/// degree its documentation says.
#[async_trait]
pub trait StateStore: Send + Sync + fmt::Debug {
    /// The state of `job`, `None` before its first run.
    async fn load(&self, job: &str) -> Result<Option<JobState>, StateError>;

    /// Replaces the state of `job`.
    async fn save(&self, job: &str, state: &JobState) -> Result<(), StateError>;

    /// Saves `checkpoint` for the job of `lease`, only while `lease` is
    /// still held (else [`StateError::LeaseLost`]).
    async fn save_checkpoint(
        &self,
        lease: &Lease,
        checkpoint: &serde_json::Value,
    ) -> Result<(), StateError>;

    /// Takes the lease of `job` for `ttl` when nobody holds it (or its
    /// holder's lease expired); `None` while another holder has it.
    async fn try_acquire(
        &self,
        job: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StateError>;

    /// Extends `lease` to `ttl` from now; `None` when it is no longer held
    /// (expired and taken, or released).
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, StateError>;

    /// Gives `lease` up (nothing happens when it is no longer held).
    async fn release(&self, lease: &Lease) -> Result<(), StateError>;

    /// Who holds the lease of `job` now, if anyone (expired leases are not
    /// held).
    async fn holder(&self, job: &str) -> Result<Option<Lease>, StateError>;

    /// Where the state lives, for `connect jobs` and logs, e.g.
    /// `file ./connect-state.json`.
    fn describe(&self) -> String;
}
