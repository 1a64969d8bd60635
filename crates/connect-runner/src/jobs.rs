//! Scheduled jobs in the runner (connect-jobs): the `jobs:` and `state:`
//! blocks of the file, the [`Scheduler`] that `run` starts beside the
//! runtime, and the trigger route through which a message on the event
//! queue (for example from EventBridge Scheduler) runs a job.
//!
//! # The trigger message
//!
//! A message on the event queue whose route is [`JOB_ROUTE`] and whose
//! attribute [`JOB_ATTRIBUTE`] names a job runs that job now, through the
//! scheduler, under the job's lease in the state store. The runtime holds
//! the delivery while the job runs, so an SQS event queue's visibility
//! heartbeat keeps the message invisible to other replicas for as long as
//! the run lasts. As JSON (what EventBridge Scheduler's fixed input for an
//! SQS target can be):
//!
//! ```json
//! {"id": "<aws.scheduler.execution-id>", "route": "connect.job",
//!  "attributes": {"job": "customer-delta"},
//!  "createdAt": "<aws.scheduler.scheduled-time>"}
//! ```
//!
//! - the job ran (successfully) → acknowledged;
//! - another run holds the lease → acknowledged as `job-busy` (skipped,
//!   like a scheduled tick; runs never queue up);
//! - the run failed or was stopped (shutdown) → retried with backoff, then
//!   dead-lettered once `runtime.max-attempts` is spent;
//! - no job has the name, or the attribute is missing → dead-lettered at
//!   once, the reason listing the configured jobs.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use connect_core::config::{ConfigDocument, ConnectorConfig, RouteConfig};
use connect_core::queue::Sink;
use connect_core::runtime::Shutdown;
use connect_core::{
    HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler, Outcome, QueueError,
    Services,
};
use connect_jobs::{
    JobRegistry, JobSetup, JobsConfig, RunError, RunOutcome, RunReport, Scheduler, StateStore,
};

use crate::connector::{Connector, Plan};
use crate::error::RunnerError;

// Link the bundled job handlers into every binary that uses the runner.
use connect_jobs as _;

/// The route of job trigger messages.
pub const JOB_ROUTE: &str = "connect.job";
/// The built-in handler of [`JOB_ROUTE`].
pub const JOB_TRIGGER_HANDLER: &str = "connect.JobTrigger";
/// The attribute of a trigger message that names the job.
pub const JOB_ATTRIBUTE: &str = "job";

/// A trigger message for `job`: what EventBridge Scheduler (or anything
/// else) sends to the event queue to run it.
///
/// ```
/// let message = connect_runner::job_trigger("customer-delta");
/// assert_eq!(message.route, connect_runner::JOB_ROUTE);
/// assert_eq!(message.attribute("job"), Some("customer-delta"));
/// ```
pub fn job_trigger(job: &str) -> Message {
    Message::new(JOB_ROUTE)
        .with_resource(connect_core::ResourceRef::new("job", job))
        .with_attribute(JOB_ATTRIBUTE, job.to_owned())
}

/// The jobs of a checked file: `jobs:`, `state:` and the trigger handler.
#[derive(Debug, Clone)]
pub struct JobsPlan {
    config: JobsConfig,
    registry: JobRegistry,
    trigger: Arc<JobTrigger>,
}

impl JobsPlan {
    /// Reads `jobs:` and `state:` strictly, checks every handler name
    /// against the linked job handlers and, when there are jobs, registers
    /// the trigger handler ([`JOB_TRIGGER_HANDLER`]) and adds the trigger
    /// route ([`JOB_ROUTE`]) unless the file has it (a file with jobs only
    /// writes it as its one route).
    pub(crate) fn read(
        doc: &ConfigDocument,
        config: &mut ConnectorConfig,
        handlers: &mut HandlerRegistry,
    ) -> Result<Self, RunnerError> {
        let jobs = JobsConfig::from_document(doc)?;
        let registry = JobRegistry::linked();
        jobs.check_handlers(doc, &registry)?;
        let trigger = Arc::new(JobTrigger::default());
        if !jobs.jobs.is_empty() {
            handlers.register_shared(JOB_TRIGGER_HANDLER, i32::MAX, Arc::clone(&trigger));
            if !config.routes.iter().any(|r| r.route == JOB_ROUTE) {
                config
                    .routes
                    .push(RouteConfig::new(JOB_ROUTE, JOB_TRIGGER_HANDLER));
            }
        }
        Ok(Self {
            config: jobs,
            registry,
            trigger,
        })
    }

    /// Builds every job's handler once (a factory's error, such as bad
    /// props, fails here with the job's line).
    pub(crate) fn check(
        &self,
        doc: &ConfigDocument,
        services: &Services,
    ) -> Result<(), RunnerError> {
        for (index, job) in self.config.jobs.iter().enumerate() {
            if let Err(error) = self.registry.build(&JobSetup::new(job, services)) {
                let key = if job.props.is_empty() {
                    format!("jobs[{index}].handler")
                } else {
                    format!("jobs[{index}].props")
                };
                return Err(doc.error_at(&key, error.to_string()).into());
            }
        }
        Ok(())
    }

    /// `jobs:` and `state:`.
    pub fn config(&self) -> &JobsConfig {
        &self.config
    }

    /// `true` when the file has jobs.
    pub fn is_empty(&self) -> bool {
        self.config.jobs.is_empty()
    }
}

/// The built-in handler of trigger messages ([`JOB_ROUTE`]): runs the job
/// the message names through the connector's scheduler.
#[derive(Debug, Default)]
pub struct JobTrigger {
    scheduler: OnceLock<Arc<Scheduler>>,
    shutdown: OnceLock<Shutdown>,
}

#[async_trait]
impl MessageHandler for JobTrigger {
    async fn handle(
        &self,
        _ctx: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        let Some(job) = message.attribute(JOB_ATTRIBUTE) else {
            return Err(HandlerError::unprocessable(format!(
                "a message on route `{JOB_ROUTE}` must name its job in the attribute `{JOB_ATTRIBUTE}`, e.g. {{\"route\": \"{JOB_ROUTE}\", \"attributes\": {{\"{JOB_ATTRIBUTE}\": \"customer-delta\"}}, ...}}"
            )));
        };
        let Some(scheduler) = self.scheduler.get() else {
            return Err(HandlerError::retryable(
                "the job scheduler has not started yet",
            ));
        };
        let shutdown = self.shutdown.get().cloned().unwrap_or_default();
        match scheduler.run_now_until(job, shutdown).await {
            Ok(report) => match report.outcome {
                RunOutcome::Succeeded(_) => Ok(Outcome::labeled("job-succeeded")),
                RunOutcome::Failed(error) => Err(HandlerError::retryable(format!(
                    "job `{job}` failed: {error}"
                ))),
                RunOutcome::Stopped => Err(HandlerError::retryable(format!(
                    "job `{job}` stopped before it finished (shutdown); it runs again on redelivery"
                ))),
            },
            Err(RunError::Busy { holder, .. }) => {
                tracing::info!(
                    job,
                    holder = holder.as_deref().unwrap_or("?"),
                    "job trigger skipped: another run holds the job's lease"
                );
                Ok(Outcome::labeled("job-busy"))
            }
            Err(error @ RunError::UnknownJob { .. }) => {
                Err(HandlerError::unprocessable(error.to_string()))
            }
            Err(error) => Err(HandlerError::retryable(error.to_string())),
        }
    }
}

/// A publisher for schedulers that never run a job (`connect jobs`,
/// `connect job reset`).
#[derive(Debug)]
struct NoPublish;

#[async_trait]
impl Sink<Message> for NoPublish {
    async fn send(&self, _item: Message) -> Result<(), QueueError> {
        Err(QueueError::Codec(
            "this command does not run jobs; use `connect job run <name>`".to_owned(),
        ))
    }
}

impl Plan {
    /// Opens the state store `state:` describes (the Fluent client of the
    /// `fluent:` block serves `type: fluent-setting`).
    pub fn open_job_state(&self) -> Result<Arc<dyn StateStore>, RunnerError> {
        let fluent = self.services().get::<connect_fluent::FluentClient>();
        self.jobs()
            .config()
            .state
            .open(fluent.as_deref())
            .map_err(|error| RunnerError::Backend {
                origin: self.document().origin().to_owned(),
                message: format!("state: {error}"),
            })
    }

    /// A scheduler over the file's jobs and state store that runs nothing:
    /// for `connect jobs` (status) and `connect job reset`.
    pub fn job_status_scheduler(&self) -> Result<Scheduler, RunnerError> {
        let store = self.open_job_state()?;
        let check = crate::backfill::FeedCheck {
            origin: self.document().origin().to_owned(),
            config: self.config().clone(),
            translator: Arc::clone(self.translator()),
            syncs: self.syncs().clone(),
        };
        build_scheduler(
            self,
            Arc::new(Services::clone(self.services()).with(check)),
            store,
            Arc::new(NoPublish),
        )
    }
}

fn build_scheduler(
    plan: &Plan,
    services: Arc<Services>,
    store: Arc<dyn StateStore>,
    publisher: Arc<dyn Sink<Message>>,
) -> Result<Scheduler, RunnerError> {
    let jobs = plan.jobs();
    Scheduler::build(&jobs.config, &jobs.registry, services, store, publisher)
        .map_err(|error| RunnerError::from(plan.document().error_at("jobs", error.to_string())))
        .map(|scheduler| match std::env::var("CONNECT_JOB_HOLDER") {
            Ok(holder) if !holder.is_empty() => scheduler.with_holder(holder),
            _ => scheduler,
        })
}

/// The scheduler of a built connector: jobs publish to its event queue.
/// `None` when the file has no jobs.
pub(crate) fn connector_scheduler(
    connector: &Connector,
) -> Result<Option<Arc<Scheduler>>, RunnerError> {
    let plan = connector.plan();
    if plan.jobs().is_empty() {
        return Ok(None);
    }
    let store = plan.open_job_state()?;
    let scheduler = Arc::new(build_scheduler(
        plan,
        connector.job_services(),
        store,
        Arc::clone(&connector.event_queue().sink),
    )?);
    let _ = plan.jobs().trigger.scheduler.set(Arc::clone(&scheduler));
    connector.telemetry().jobs_scheduled(Arc::clone(&scheduler));
    tracing::debug!(?scheduler, "job scheduler built");
    Ok(Some(scheduler))
}

/// Starts the scheduler loop of `connector` on `shutdown`, and lets trigger
/// messages see `shutdown` too. `None` when the file has no jobs.
pub(crate) fn start(
    scheduler: Option<&Arc<Scheduler>>,
    plan: &Plan,
    shutdown: &Shutdown,
) -> Option<tokio::task::JoinHandle<()>> {
    let scheduler = Arc::clone(scheduler?);
    let _ = plan.jobs().trigger.shutdown.set(shutdown.clone());
    let shutdown = shutdown.clone();
    Some(tokio::spawn(async move { scheduler.run(shutdown).await }))
}

impl Connector {
    /// Runs `job` now (`connect job run <name>`), under its lease, until it
    /// ends or `shutdown` fires. With an in-memory event queue the
    /// connector's runtime runs meanwhile and handles what the job
    /// publishes (the call returns once every published message settled);
    /// with a durable one (SQS) the messages wait there for `connect run`.
    /// The scheduler loop does not run.
    pub async fn run_job(mut self, job: &str, shutdown: Shutdown) -> Result<RunReport, RunError> {
        let Some(scheduler) = self.take_job_scheduler() else {
            return Err(RunError::UnknownJob {
                job: job.to_owned(),
                known: Vec::new(),
            });
        };
        if self.event_queue().sink.is_durable() {
            return scheduler.run_now_until(job, shutdown).await;
        }
        let runtime_stop = shutdown.child();
        let metrics = self.metrics();
        let run = self.run(runtime_stop.clone());
        let job_run = async {
            let result = scheduler.run_now_until(job, shutdown.clone()).await;
            if let Ok(report) = &result {
                // Wait for what the job published to settle.
                while metrics.snapshot().settled() < report.published && !shutdown.is_triggered() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            runtime_stop.trigger();
            result
        };
        let (result, _) = tokio::join!(job_run, run);
        result
    }
}
