//! [`JobHandler`]: what a job does, and what it sees while it runs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connect_core::queue::Sink;
use connect_core::runtime::Shutdown;
use connect_core::{BoxError, Message, QueueError, Services};
use serde::de::DeserializeOwned;

use crate::config::JobConfig;
use crate::state::{Checkpoint, Lease, StateError, StateStore};

/// One scheduled job: scans something and publishes its work as messages
/// (which reach their handlers through the usual routes, with the
/// runtime's guarantees; a job never calls a message handler itself).
///
/// Register it under a name with [`register_job!`](crate::register_job) or
/// [`JobRegistry::with`](crate::JobRegistry::with), and select it in YAML
/// with `handler:` in a `jobs:` entry.
///
/// ```
/// use connect_jobs::{JobContext, JobError, JobHandler, JobOutcome};
/// use connect_core::{Message, ResourceRef};
///
/// #[derive(Debug)]
/// struct Heartbeat;
///
/// #[connect_core::async_trait]
/// impl JobHandler for Heartbeat {
///     async fn run(&self, ctx: &JobContext<'_>) -> Result<JobOutcome, JobError> {
///         let runs = ctx.last_checkpoint().and_then(|c| c.value.as_u64()).unwrap_or(0);
///         ctx.publish(Message::new("heartbeat").with_resource(ResourceRef::new("job", ctx.name()))).await?;
///         ctx.checkpoint(serde_json::json!(runs + 1)).await?;
///         Ok(JobOutcome::done())
///     }
/// }
/// ```
#[async_trait]
pub trait JobHandler: Send + Sync + fmt::Debug {
    /// Runs the job once. Save progress with
    /// [`ctx.checkpoint`](JobContext::checkpoint) as it goes, so that a run
    /// that dies resumes from there; stop early when
    /// [`ctx.stop`](JobContext::stop) fires.
    async fn run(&self, ctx: &JobContext<'_>) -> Result<JobOutcome, JobError>;

    /// The checkpoint `connect job reset <job> --since <time>` writes.
    /// Default: the time as an RFC 3339 string; a job whose checkpoint has
    /// another shape overrides it.
    fn checkpoint_since(&self, since: DateTime<Utc>) -> serde_json::Value {
        serde_json::Value::String(since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobOutcome {
    summary: Option<String>,
}

impl JobOutcome {
    /// Done.
    pub fn done() -> Self {
        Self::default()
    }

    /// Done, with a line for logs and `connect job run`, e.g. `scanned 120,
    /// published 3`.
    pub fn summary(text: impl Into<String>) -> Self {
        Self {
            summary: Some(text.into()),
        }
    }

    /// The summary, if any.
    pub fn text(&self) -> Option<&str> {
        self.summary.as_deref()
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The job failed; the next scheduled run tries again from the last
    /// checkpoint.
    #[error("{0}")]
    Failed(BoxError),
    /// The job stopped because it was asked to (shutdown, or the lease was
    /// lost). Not counted as a failure.
    #[error("stopped before it finished")]
    Stopped,
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// Publishing a message failed.
    #[error("cannot publish a message: {0}")]
    Publish(#[from] QueueError),
}

impl JobError {
    /// A failure with `error` as its cause.
    pub fn failed(error: impl Into<BoxError>) -> Self {
        Self::Failed(error.into())
    }
}

impl From<connect_core::HandlerError> for JobError {
    fn from(error: connect_core::HandlerError) -> Self {
        Self::Failed(error.into_source())
    }
}

/// What a job sees while it runs.
pub struct JobContext<'a> {
    pub(crate) job: &'a JobConfig,
    pub(crate) services: &'a Services,
    pub(crate) last: Option<Checkpoint>,
    pub(crate) store: &'a dyn StateStore,
    pub(crate) lease: &'a Lease,
    pub(crate) publisher: &'a dyn Sink<Message>,
    pub(crate) stop: Shutdown,
    pub(crate) published: Arc<AtomicU64>,
    pub(crate) started: DateTime<Utc>,
}

impl fmt::Debug for JobContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("job", &self.job.job)
            .field("holder", &self.lease.holder)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl JobContext<'_> {
    /// The job's name (`job:`).
    pub fn name(&self) -> &str {
        &self.job.job
    }

    /// The job's configuration.
    pub fn config(&self) -> &JobConfig {
        self.job
    }

    /// The job's props.
    pub fn props(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.job.props
    }

    /// The shared service of type `T` (the same services message handlers
    /// get).
    pub fn service<T: Send + Sync + 'static>(&self) -> Result<Arc<T>, JobError> {
        self.services.get::<T>().ok_or_else(|| {
            JobError::failed(format!(
                "no shared service of type `{}` was provided; available: [{}]",
                std::any::type_name::<T>(),
                self.services.names().join(", ")
            ))
        })
    }

    /// All shared services.
    pub fn services(&self) -> &Services {
        self.services
    }

    /// The checkpoint the run started from (`None` on the first run or
    /// after a reset without `--since`).
    pub fn last_checkpoint(&self) -> Option<&Checkpoint> {
        self.last.as_ref()
    }

    /// Who runs it: the holder of the job's lease (a replica's name).
    pub fn holder(&self) -> &str {
        &self.lease.holder
    }

    /// When this run started.
    pub fn started(&self) -> DateTime<Utc> {
        self.started
    }

    /// Saves `value` as the job's checkpoint, durably, before returning;
    /// refused ([`StateError::LeaseLost`]) when this run no longer holds
    /// the job's lease.
    pub async fn checkpoint(&self, value: serde_json::Value) -> Result<(), JobError> {
        self.store
            .save_checkpoint(self.lease, &value)
            .await
            .map_err(|error| {
                if matches!(error, StateError::LeaseLost { .. }) {
                    self.stop.trigger();
                }
                JobError::from(error)
            })
    }

    /// Publishes `message` to the event queue, to be routed to its handler.
    pub async fn publish(&self, message: Message) -> Result<(), JobError> {
        self.publisher.send(message).await?;
        self.published.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Where messages go (to send batches).
    pub fn publisher(&self) -> &dyn Sink<Message> {
        self.publisher
    }

    /// Fires when the run should stop: shutdown was requested, or the
    /// lease could not be renewed.
    pub fn stop(&self) -> &Shutdown {
        &self.stop
    }

    /// `true` once [`stop`](Self::stop) fired.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_triggered()
    }
}

/// What a job factory sees when the job is built at startup.
#[derive(Debug)]
pub struct JobSetup<'a> {
    job: &'a JobConfig,
    services: &'a Services,
}

impl<'a> JobSetup<'a> {
    /// A setup for `job` with `services`.
    pub fn new(job: &'a JobConfig, services: &'a Services) -> Self {
        Self { job, services }
    }

    /// The job being built.
    pub fn job(&self) -> &JobConfig {
        self.job
    }

    /// Its props.
    pub fn props(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.job.props
    }

    /// Reads all props as `T` (use `#[serde(deny_unknown_fields)]` on `T`
    /// to reject typos).
    pub fn props_as<T: DeserializeOwned>(&self) -> Result<T, JobSetupError> {
        serde_json::from_value(serde_json::Value::Object(self.job.props.clone()))
            .map_err(|e| self.error(format!("invalid props: {e}")))
    }

    /// Reads prop `key` as `T`; `Ok(None)` when absent.
    pub fn prop<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, JobSetupError> {
        self.job
            .props
            .get(key)
            .map(|value| {
                serde_json::from_value(value.clone())
                    .map_err(|e| self.error(format!("invalid props.{key}: {e}")))
            })
            .transpose()
    }

    /// The shared service of type `T`.
    pub fn service<T: Send + Sync + 'static>(&self) -> Result<Arc<T>, JobSetupError> {
        self.services.get::<T>().ok_or_else(|| {
            self.error(format!(
                "no shared service of type `{}` was provided; available: [{}]. Add it with `Services::with(...)`",
                std::any::type_name::<T>(),
                self.services.names().join(", ")
            ))
        })
    }

    /// All shared services.
    pub fn services(&self) -> &Services {
        self.services
    }

    /// An error about this job.
    pub fn error(&self, message: impl Into<String>) -> JobSetupError {
        JobSetupError {
            job: self.job.job.clone(),
            handler: self.job.handler.clone(),
            message: message.into(),
        }
    }
}

/// A job that cannot be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job `{job}` (handler `{handler}`): {message}")]
pub struct JobSetupError {
    /// The job.
    pub job: String,
    /// Its handler name.
    pub handler: String,
    /// What is wrong and what to do.
    pub message: String,
}
