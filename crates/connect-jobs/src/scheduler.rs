//! [`Scheduler`]: runs each job on its schedule, one run at a time, across
//! replicas too.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use connect_core::queue::Sink;
use connect_core::runtime::Shutdown;
use connect_core::{Message, Services};
use futures_util::FutureExt;

use crate::clock::Clock;
use crate::config::{JobConfig, JobsConfig};
use crate::handler::{JobContext, JobError, JobHandler, JobOutcome, JobSetup, JobSetupError};
use crate::registry::JobRegistry;
use crate::state::{JobState, Lease, StateError, StateStore};

/// How long a lease lasts unless renewed, by default. The scheduler renews
/// it every third of this while a run lasts, so a crashed replica's lease
/// frees its job after at most this long.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(60);

/// The in-process scheduler: for each job, computes the next run, waits,
/// takes the job's lease in the [`StateStore`], runs it while renewing the
/// lease, records `last_run` / `last_success` / the duration, and releases
/// the lease. A run whose lease is held elsewhere (another replica, or
/// `connect job run`) is skipped, never queued: the next tick tries again.
///
/// ```
/// use std::sync::Arc;
/// use connect_core::queue::MemoryQueue;
/// use connect_core::{Message, Services};
/// use connect_jobs::{
///     JobConfig, JobContext, JobError, JobHandler, JobOutcome, JobRegistry, JobsConfig,
///     MemoryStateStore, Scheduler,
/// };
///
/// #[derive(Debug)]
/// struct Ping;
///
/// #[connect_core::async_trait]
/// impl JobHandler for Ping {
///     async fn run(&self, ctx: &JobContext<'_>) -> Result<JobOutcome, JobError> {
///         ctx.publish(Message::new("ping")).await?;
///         Ok(JobOutcome::summary("published 1"))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let mut config = JobsConfig::default();
/// config.jobs.push(JobConfig::new("ping", "Ping", "every 1m".parse().unwrap()));
/// let registry = JobRegistry::new().with("Ping", |_| Ok(Ping));
/// let events = MemoryQueue::new("events", 100);
/// let scheduler = Scheduler::build(
///     &config, &registry, Arc::new(Services::new()),
///     Arc::new(MemoryStateStore::new()), Arc::new(events.clone()),
/// ).unwrap();
/// let report = scheduler.run_now("ping").await.unwrap();
/// assert!(report.is_success());
/// assert_eq!(report.published, 1);
/// # });
/// ```
pub struct Scheduler {
    jobs: Vec<ScheduledJob>,
    store: Arc<dyn StateStore>,
    publisher: Arc<dyn Sink<Message>>,
    services: Arc<Services>,
    holder: String,
    lease_ttl: Duration,
    clock: Clock,
}

struct ScheduledJob {
    config: JobConfig,
    handler: Box<dyn JobHandler>,
    /// Held while this process runs the job: a second trigger in the same
    /// process is refused before the store is asked.
    running: tokio::sync::Mutex<()>,
    metrics: Mutex<JobMetrics>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field(
                "jobs",
                &self.jobs.iter().map(|j| &j.config.job).collect::<Vec<_>>(),
            )
            .field("store", &self.store.describe())
            .field("holder", &self.holder)
            .field("lease_ttl", &self.lease_ttl)
            .finish_non_exhaustive()
    }
}

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// It finished.
    Succeeded(JobOutcome),
    /// It failed, with the error's text.
    Failed(String),
    /// It stopped early because it was asked to (shutdown, lease lost).
    Stopped,
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunReport {
    /// The job.
    pub job: String,
    /// When it started.
    pub started: DateTime<Utc>,
    /// How long it took.
    pub duration: Duration,
    /// How it ended.
    pub outcome: RunOutcome,
    /// Messages it published.
    pub published: u64,
}

impl RunReport {
    /// `true` when the run succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self.outcome, RunOutcome::Succeeded(_))
    }
}

/// A run that could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// No job has the name.
    #[error("no job is named `{job}`; configured jobs: [{}]. Check the name against `jobs:` (`connect jobs` lists them)", known.join(", "))]
    UnknownJob {
        /// The name asked for.
        job: String,
        /// Every configured job.
        known: Vec<String>,
    },
    /// Another run of the job holds its lease.
    #[error("job `{job}` is running already{}; try again when it has finished{}", holder.as_ref().map(|h| format!(" (lease held by `{h}`)")).unwrap_or_default(), until.map(|u| format!(" (the lease expires at {} unless renewed)", u.to_rfc3339())).unwrap_or_default())]
    Busy {
        /// The job.
        job: String,
        /// Who holds the lease, when known.
        holder: Option<String>,
        /// When that lease expires unless renewed.
        until: Option<DateTime<Utc>>,
    },
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// What `connect jobs` shows for one job.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobStatus {
    /// The job.
    pub job: String,
    /// Its handler.
    pub handler: String,
    /// Its schedule, as written.
    pub schedule: String,
    /// When it runs next.
    pub next_run: DateTime<Utc>,
    /// Its stored state (`None` before its first run).
    pub state: Option<JobState>,
    /// The lease, when a run holds it now.
    pub lease: Option<Lease>,
}

/// The counters of one job in this process, for metrics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct JobMetricsSnapshot {
    /// The job.
    pub job: String,
    /// Runs started by this process.
    pub runs: u64,
    /// Of those, the ones that failed.
    pub failures: u64,
    /// Of those, the ones that stopped early (shutdown, lease lost).
    pub stopped: u64,
    /// Triggers skipped because another run held the lease.
    pub skipped: u64,
    /// The schedule's interval: an `every` schedule's, or for a cron
    /// expression the time between its next two runs.
    pub interval: Duration,
    /// When the last successful run (of this process) started.
    pub last_success: Option<DateTime<Utc>>,
    /// How long the last run took.
    pub last_duration: Option<Duration>,
    /// Whether a run is in progress here.
    pub running: bool,
}

#[derive(Debug, Default)]
struct JobMetrics {
    runs: u64,
    failures: u64,
    stopped: u64,
    skipped: u64,
    last_success: Option<DateTime<Utc>>,
    last_duration: Option<Duration>,
}

impl Scheduler {
    /// Builds every job of `config` with `registry` (an unknown handler or
    /// a factory's error fails here, at startup). Jobs publish to
    /// `publisher` (the event queue) and keep their state in `store`.
    pub fn build(
        config: &JobsConfig,
        registry: &JobRegistry,
        services: Arc<Services>,
        store: Arc<dyn StateStore>,
        publisher: Arc<dyn Sink<Message>>,
    ) -> Result<Self, JobSetupError> {
        let jobs = config
            .jobs
            .iter()
            .map(|job| {
                let handler = registry.build(&JobSetup::new(job, &services))?;
                Ok(ScheduledJob {
                    config: job.clone(),
                    handler,
                    running: tokio::sync::Mutex::new(()),
                    metrics: Mutex::new(JobMetrics::default()),
                })
            })
            .collect::<Result<Vec<_>, JobSetupError>>()?;
        Ok(Self {
            jobs,
            store,
            publisher,
            services,
            holder: default_holder(),
            lease_ttl: DEFAULT_LEASE_TTL,
            clock: Clock::system(),
        })
    }

    /// Names this replica in leases (default: `$HOSTNAME`, the process id
    /// and a random suffix).
    #[must_use]
    pub fn with_holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }

    /// How long a lease lasts unless renewed (default
    /// [`DEFAULT_LEASE_TTL`], at least 3 s).
    #[must_use]
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_secs(3));
        self
    }

    /// Reads the time from `clock` (use the store's clock too).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// This replica's name in leases.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The state store.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    /// Runs every job on its schedule until `shutdown` fires; a run in
    /// progress sees [`JobContext::stop`] fire and is awaited.
    pub async fn run(&self, shutdown: Shutdown) {
        let loops = self.jobs.iter().map(|job| self.job_loop(job, &shutdown));
        futures_util::future::join_all(loops).await;
    }

    async fn job_loop(&self, job: &ScheduledJob, shutdown: &Shutdown) {
        let name = &job.config.job;
        loop {
            let now = self.clock.now();
            let next = job.config.schedule.next_after(now);
            let wait = (next - now).to_std().unwrap_or(Duration::ZERO);
            tracing::debug!(job = %name, next = %next, "job waits for its next run");
            tokio::select! {
                biased;
                () = shutdown.triggered() => return,
                () = tokio::time::sleep(wait) => {}
            }
            if self.clock.now() < next {
                continue; // woke early (the clock moved): wait again
            }
            match self.run_job(job, shutdown, Some(next)).await {
                Ok(Some(report)) => log_report(&report),
                Ok(None) => {
                    tracing::debug!(job = %name, due = %next, "job skipped: another replica already ran it for this time");
                }
                Err(RunError::Busy { holder, .. }) => {
                    tracing::debug!(job = %name, holder = holder.as_deref().unwrap_or("?"), "job skipped: another run holds its lease");
                }
                Err(error) => tracing::warn!(job = %name, %error, "job could not run"),
            }
        }
    }

    /// Runs `job` now (`connect job run <name>`), under the same lease as
    /// scheduled runs: refused with [`RunError::Busy`] while another run of
    /// it holds the lease.
    pub async fn run_now(&self, job: &str) -> Result<RunReport, RunError> {
        self.run_now_until(job, Shutdown::new()).await
    }

    /// Like [`run_now`](Self::run_now); the run stops early when `shutdown`
    /// fires.
    pub async fn run_now_until(
        &self,
        job: &str,
        shutdown: Shutdown,
    ) -> Result<RunReport, RunError> {
        let job = self.find(job)?;
        self.run_job(job, &shutdown, None)
            .await
            .map(|report| report.ok_or_else(|| unreachable_skip(&job.config.job)))?
    }

    /// Sets the checkpoint of `job` (`connect job reset <name> [--since
    /// <time>]`): without `since` the checkpoint is cleared (the next run
    /// starts from the beginning); with it, it becomes what the job's
    /// [`checkpoint_since`](JobHandler::checkpoint_since) makes of the time.
    /// Takes the lease, so it is refused while the job runs.
    pub async fn reset(&self, job: &str, since: Option<DateTime<Utc>>) -> Result<(), RunError> {
        let scheduled = self.find(job)?;
        let lease = self.acquire(scheduled).await?;
        let result = async {
            let mut state = self.store.load(job).await?.unwrap_or_default();
            state.checkpoint = since.map(|since| scheduled.handler.checkpoint_since(since));
            state.checkpoint_at = Some(self.clock.now());
            self.store.save(job, &state).await
        }
        .await;
        self.release(&lease).await;
        result.map_err(RunError::from)
    }

    /// Every job with its schedule, next run, stored state and lease.
    pub async fn status(&self) -> Result<Vec<JobStatus>, StateError> {
        let now = self.clock.now();
        let mut statuses = Vec::with_capacity(self.jobs.len());
        for job in &self.jobs {
            let name = &job.config.job;
            statuses.push(JobStatus {
                job: name.clone(),
                handler: job.config.handler.clone(),
                schedule: job.config.schedule.to_string(),
                next_run: job.config.schedule.next_after(now),
                state: self.store.load(name).await?,
                lease: self.store.holder(name).await?,
            });
        }
        Ok(statuses)
    }

    /// The counters of every job in this process.
    pub fn metrics(&self) -> Vec<JobMetricsSnapshot> {
        self.jobs
            .iter()
            .map(|job| {
                let metrics = job.metrics.lock().unwrap_or_else(PoisonError::into_inner);
                JobMetricsSnapshot {
                    job: job.config.job.clone(),
                    runs: metrics.runs,
                    failures: metrics.failures,
                    stopped: metrics.stopped,
                    skipped: metrics.skipped,
                    interval: interval_of(&job.config.schedule, self.clock.now()),
                    last_success: metrics.last_success,
                    last_duration: metrics.last_duration,
                    running: job.running.try_lock().is_err(),
                }
            })
            .collect()
    }

    fn find(&self, job: &str) -> Result<&ScheduledJob, RunError> {
        self.jobs
            .iter()
            .find(|j| j.config.job == job)
            .ok_or_else(|| RunError::UnknownJob {
                job: job.to_owned(),
                known: self.jobs.iter().map(|j| j.config.job.clone()).collect(),
            })
    }

    async fn acquire(&self, job: &ScheduledJob) -> Result<Lease, RunError> {
        let name = &job.config.job;
        match self
            .store
            .try_acquire(name, &self.holder, self.lease_ttl)
            .await?
        {
            Some(lease) => Ok(lease),
            None => {
                job.metrics
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .skipped += 1;
                let current = self.store.holder(name).await.ok().flatten();
                Err(RunError::Busy {
                    job: name.clone(),
                    holder: current.as_ref().map(|l| l.holder.clone()),
                    until: current.map(|l| l.expires_at),
                })
            }
        }
    }

    async fn release(&self, lease: &Lease) {
        if let Err(error) = self.store.release(lease).await {
            tracing::warn!(job = %lease.job, %error, "cannot release the job's lease; it expires by itself");
        }
    }

    /// Runs `job` under its lease. For a scheduled run (`due` is the time
    /// it was due), `Ok(None)` when the stored state shows a run that
    /// started at or after `due` already: another replica, whose clock is a
    /// little ahead, ran this one.
    async fn run_job(
        &self,
        job: &ScheduledJob,
        shutdown: &Shutdown,
        due: Option<DateTime<Utc>>,
    ) -> Result<Option<RunReport>, RunError> {
        let name = &job.config.job;
        let Ok(_running) = job.running.try_lock() else {
            job.metrics
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .skipped += 1;
            return Err(RunError::Busy {
                job: name.clone(),
                holder: Some(self.holder.clone()),
                until: None,
            });
        };
        let lease = self.acquire(job).await?;
        let state = match self.store.load(name).await {
            Ok(state) => state.unwrap_or_default(),
            Err(error) => {
                self.release(&lease).await;
                return Err(error.into());
            }
        };
        if let (Some(due), Some(last_run)) = (due, state.last_run)
            && last_run >= due
        {
            self.release(&lease).await;
            return Ok(None);
        }
        let started = self.clock.now();
        let clock_start = tokio::time::Instant::now();
        let stop = shutdown.child();
        let published = Arc::new(AtomicU64::new(0));
        let ctx = JobContext {
            job: &job.config,
            services: &self.services,
            last: state.checkpoint(),
            store: self.store.as_ref(),
            lease: &lease,
            publisher: self.publisher.as_ref(),
            stop: stop.clone(),
            published: Arc::clone(&published),
            started,
        };
        tracing::info!(job = %name, holder = %self.holder, "job run starts");
        let run = AssertUnwindSafe(job.handler.run(&ctx)).catch_unwind();
        tokio::pin!(run);
        let renew_every = self.lease_ttl / 3;
        let mut lost = false;
        let result = loop {
            tokio::select! {
                biased;
                result = &mut run => break result,
                () = tokio::time::sleep(renew_every), if !lost => {
                    match self.store.renew(&lease, self.lease_ttl).await {
                        Ok(Some(_)) => {}
                        Ok(None) => {
                            tracing::error!(job = %name, "the job's lease was lost (it expired and another run may have taken it); asking the run to stop");
                            lost = true;
                            stop.trigger();
                        }
                        Err(error) => tracing::warn!(job = %name, %error, "cannot renew the job's lease; retrying"),
                    }
                }
            }
        };
        let duration = clock_start.elapsed();
        let outcome = match result {
            Ok(Ok(outcome)) => RunOutcome::Succeeded(outcome),
            Ok(Err(JobError::Stopped)) => RunOutcome::Stopped,
            Ok(Err(error)) => RunOutcome::Failed(error.to_string()),
            Err(panic) => {
                RunOutcome::Failed(format!("the job panicked: {}", panic_text(panic.as_ref())))
            }
        };
        let report = RunReport {
            job: name.clone(),
            started,
            duration,
            outcome,
            published: published.load(std::sync::atomic::Ordering::Relaxed),
        };
        self.record(job, &report);
        if lost {
            // Another run may hold the lease now: its state is not ours to
            // write.
            return Ok(Some(report));
        }
        let saved = self.save_run(name, &report).await;
        self.release(&lease).await;
        saved?;
        Ok(Some(report))
    }

    /// Records the run in the stored state (reloaded: the run may have
    /// saved checkpoints).
    async fn save_run(&self, name: &str, report: &RunReport) -> Result<(), StateError> {
        let mut state = self.store.load(name).await?.unwrap_or_default();
        state.last_run = Some(report.started);
        state.runs += 1;
        state.last_duration_ms =
            Some(u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX));
        match &report.outcome {
            RunOutcome::Succeeded(_) => {
                state.last_success = Some(report.started);
                state.last_error = None;
            }
            RunOutcome::Failed(error) => {
                state.failures += 1;
                state.last_error = Some(error.clone());
            }
            RunOutcome::Stopped => {}
        }
        self.store.save(name, &state).await
    }

    fn record(&self, job: &ScheduledJob, report: &RunReport) {
        let mut metrics = job.metrics.lock().unwrap_or_else(PoisonError::into_inner);
        metrics.runs += 1;
        metrics.last_duration = Some(report.duration);
        match report.outcome {
            RunOutcome::Succeeded(_) => metrics.last_success = Some(report.started),
            RunOutcome::Failed(_) => metrics.failures += 1,
            RunOutcome::Stopped => metrics.stopped += 1,
        }
    }
}

/// The interval of `schedule`: an `every` schedule's, or the time between
/// a cron expression's next two runs after `now`.
fn interval_of(schedule: &crate::schedule::Schedule, now: DateTime<Utc>) -> Duration {
    schedule.interval().unwrap_or_else(|| {
        let next = schedule.next_after(now);
        (schedule.next_after(next) - next)
            .to_std()
            .unwrap_or(Duration::ZERO)
    })
}

/// A run without a due time is never skipped as already run.
fn unreachable_skip(job: &str) -> RunError {
    RunError::Busy {
        job: job.to_owned(),
        holder: None,
        until: None,
    }
}

fn log_report(report: &RunReport) {
    let millis = report.duration.as_millis();
    match &report.outcome {
        RunOutcome::Succeeded(outcome) => tracing::info!(
            job = %report.job, duration_ms = millis, published = report.published,
            summary = outcome.text().unwrap_or(""), "job run succeeded"
        ),
        RunOutcome::Failed(error) => tracing::warn!(
            job = %report.job, duration_ms = millis, published = report.published,
            %error, "job run failed; the next run starts from the last checkpoint"
        ),
        RunOutcome::Stopped => {
            tracing::info!(job = %report.job, duration_ms = millis, "job run stopped early");
        }
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

fn default_holder() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &suffix[..8])
}
