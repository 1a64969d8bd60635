//! Scheduled jobs for connect-sdk: a [`Schedule`] (`every 15m` or a 5-field
//! cron expression, UTC), [`JobHandler`]s registered by name like message
//! handlers, durable checkpoints in a pluggable [`StateStore`] (a JSON file
//! or a Fluent Setting per job) and a lease per job so that two runs of one
//! job never overlap, across replicas too. The [`Scheduler`] runs them.
//!
//! A job publishes its work as [`Message`](connect_core::Message)s on the
//! event queue, so it reaches its handler through the usual route with the
//! runtime's guarantees (retries, dead letters, per-resource ordering); a
//! job never calls a message handler itself.
//!
//! # Configuration
//!
//! ```yaml
//! jobs:
//!   - job: customer-delta                 # a-z, 0-9, '-'
//!     handler: CommercetoolsDeltaScan     # a registered job handler
//!     schedule: every 15m                 # or a 5-field cron expression, UTC
//!     props: { resource: customer, overlap: 2m }
//! state:                                  # where checkpoints and leases live
//!   type: file                            # the default; or fluent-setting
//!   path: ./connect-state.json            # (fluent-setting: context: ACCOUNT | RETAILER, name-prefix)
//! ```
//!
//! # Leases, per layout
//!
//! | layout | what keeps runs apart |
//! |---|---|
//! | one process, in-process scheduler | the scheduler never starts a job while this process runs it, and takes the store's lease anyway |
//! | replicas sharing a `file` store | a lease record with an expiry, changed only under an exclusive OS lock on `<path>.lock`: a true compare-and-set (see [`FileStateStore`]) |
//! | replicas on a `fluent-setting` store | a lease Setting written after a read and verified after a settle delay: no compare-and-set exists in Fluent, so this holds while replicas are not stalled for longer than the delay (see [`FluentSettingStore`]) |
//! | triggered by SQS (EventBridge Scheduler → event queue, route `connect.job`, attribute `job`) | the runner holds the delivery while the job runs, so the SQS heartbeat extends the message's visibility timeout and no other replica receives it (on a FIFO queue, one message group per job: the runner's `job_trigger` sets it, an EventBridge target takes `MessageGroupId`); the store's lease still applies on top, and a trigger that finds it held is acknowledged as skipped |
//! | `connect job run <name>` | the same store lease: refused with [`RunError::Busy`] (exit 5, naming the holder and the expiry) while a run holds it |
//!
//! A lease is renewed every third of its ttl while the run lasts and
//! released at the end; a crashed holder's lease expires after its ttl.
//!
//! # A job, registered and run
//!
//! ```
//! use std::sync::Arc;
//! use connect_core::config::ConfigDocument;
//! use connect_core::queue::{MemoryQueue, Source};
//! use connect_core::{Message, ResourceRef, Services};
//! use connect_jobs::{JobContext, JobError, JobHandler, JobOutcome, JobRegistry, JobsConfig, MemoryStateStore, Scheduler};
//!
//! #[derive(Debug)]
//! struct Touch { resource: String }
//!
//! #[connect_core::async_trait]
//! impl JobHandler for Touch {
//!     async fn run(&self, ctx: &JobContext<'_>) -> Result<JobOutcome, JobError> {
//!         ctx.publish(Message::new("touch").with_resource(ResourceRef::new("customer", self.resource.clone()))).await?;
//!         ctx.checkpoint(serde_json::json!({ "done": self.resource })).await?;
//!         Ok(JobOutcome::done())
//!     }
//! }
//!
//! connect_jobs::register_job!("Touch", |setup| Ok(Touch {
//!     resource: setup.prop::<String>("resource")?.unwrap_or_default(),
//! }));
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let doc = ConfigDocument::from_yaml("inline.yml", "
//! jobs:
//!   - job: touch-one
//!     handler: Touch
//!     schedule: '*/5 * * * *'
//!     props: { resource: c-1 }
//! ");
//! let config = JobsConfig::from_document(&doc).unwrap();
//! let registry = JobRegistry::linked();
//! config.check_handlers(&doc, &registry).unwrap();
//! let events = MemoryQueue::new("events", 10);
//! let store = Arc::new(MemoryStateStore::new());
//! let scheduler = Scheduler::build(&config, &registry, Arc::new(Services::new()), store, Arc::new(events.clone())).unwrap();
//! assert!(scheduler.run_now("touch-one").await.unwrap().is_success());
//! let status = scheduler.status().await.unwrap();
//! assert_eq!(status[0].state.as_ref().unwrap().checkpoint, Some(serde_json::json!({ "done": "c-1" })));
//! assert_eq!(events.receive(10, std::time::Duration::ZERO).await.unwrap().len(), 1);
//! # });
//! ```

mod clock;
mod config;
mod handler;
mod registry;
mod schedule;
mod scheduler;
mod state;

pub use clock::Clock;
pub use config::{JobConfig, JobsConfig, SECTIONS, StateConfig};
pub use handler::{JobContext, JobError, JobHandler, JobOutcome, JobSetup, JobSetupError};
pub use registry::{JobFactory, JobRegistry};
pub use schedule::{Schedule, ScheduleError};
pub use scheduler::{
    DEFAULT_LEASE_TTL, JobMetricsSnapshot, JobStatus, RunError, RunOutcome, RunReport, Scheduler,
};
pub use state::{
    Checkpoint, FileStateStore, FluentSettingStore, JobState, Lease, MemoryStateStore,
    SettingContext, StateError, StateStore,
};

/// Constants of the stores: default path, name prefix, settle delay and
/// the GraphQL documents of the Fluent Setting store.
pub mod defaults {
    pub use crate::state::file::DEFAULT_STATE_PATH;
    pub use crate::state::fluent::{
        CREATE_SETTING, DEFAULT_NAME_PREFIX, DEFAULT_SETTLE, SETTING_BY_NAME, UPDATE_SETTING,
    };
}

/// Registers a job handler under a name at link time, from a factory that
/// builds it from its job's [`JobSetup`] (props, services). The expansion
/// needs no `inventory` dependency in the calling crate.
///
/// ```
/// # use connect_jobs::{JobContext, JobError, JobHandler, JobOutcome};
/// #[derive(Debug)]
/// struct Nightly { batch: u64 }
///
/// #[connect_core::async_trait]
/// impl JobHandler for Nightly {
///     async fn run(&self, _ctx: &JobContext<'_>) -> Result<JobOutcome, JobError> {
///         Ok(JobOutcome::done())
///     }
/// }
///
/// connect_jobs::register_job!("Nightly", |setup| Ok(Nightly {
///     batch: setup.prop("batch")?.unwrap_or(100),
/// }));
///
/// assert!(connect_jobs::JobRegistry::linked().contains("Nightly"));
/// ```
///
/// A registration in a crate the final binary never names is dropped by the
/// linker: add `use that_crate as _;` to the binary.
#[macro_export]
macro_rules! register_job {
    ($name:expr, $factory:expr $(,)?) => {
        $crate::__private::inventory::submit! {
            $crate::__private::JobRegistration::new($name, {
                fn __connect_job_factory(
                    setup: &$crate::JobSetup<'_>,
                ) -> ::core::result::Result<
                    ::std::boxed::Box<dyn $crate::JobHandler>,
                    $crate::JobSetupError,
                > {
                    $crate::__private::boxed(setup, $factory)
                }
                __connect_job_factory
            })
        }
    };
}

/// Items used by the code `register_job!` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::{JobRegistration, boxed};
    pub use inventory;
}
