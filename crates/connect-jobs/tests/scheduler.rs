#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The scheduler, on tokio's paused clock: jobs run on their schedule and
//! publish messages, checkpoints carry over, two replicas on one file store
//! never overlap, `run_now` and `reset` respect the lease, and failures,
//! panics and shutdown are recorded as what they are.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use connect_core::config::ConfigDocument;
use connect_core::queue::{MemoryQueue, Source};
use connect_core::runtime::Shutdown;
use connect_core::{Message, ResourceRef, Services};
use connect_jobs::{
    Clock, FileStateStore, JobConfig, JobContext, JobError, JobHandler, JobOutcome, JobRegistry,
    JobsConfig, MemoryStateStore, RunError, RunOutcome, Schedule, Scheduler, StateStore,
};
use serde_json::json;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 30).unwrap()
}

fn minute(m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, m, 0).unwrap()
}

/// Publishes one message per run to `props.route` and counts its runs in
/// its checkpoint. Registered at link time, as a partner would.
#[derive(Debug)]
struct PublishTick {
    route: String,
}

#[connect_core::async_trait]
impl JobHandler for PublishTick {
    async fn run(&self, ctx: &JobContext<'_>) -> Result<JobOutcome, JobError> {
        let count = ctx
            .last_checkpoint()
            .and_then(|c| c.value["count"].as_u64())
            .unwrap_or(0)
            + 1;
        let message = Message::new(self.route.clone())
            .with_event_type("JobTick")
            .with_resource(ResourceRef::new("job", format!("{}-{count}", ctx.name())));
        ctx.publish(message).await?;
        ctx.checkpoint(json!({ "count": count })).await?;
        Ok(JobOutcome::summary(format!("tick {count}")))
    }
}

connect_jobs::register_job!("PublishTick", |setup| Ok(PublishTick {
    route: setup
        .prop::<String>("route")?
        .ok_or_else(|| setup.error("`props.route` is required"))?,
}));

fn scheduler(
    config: &JobsConfig,
    registry: &JobRegistry,
    store: Arc<dyn StateStore>,
    events: &MemoryQueue<Message>,
    holder: &str,
    clock: &Clock,
) -> Arc<Scheduler> {
    Arc::new(
        Scheduler::build(
            config,
            registry,
            Arc::new(Services::new()),
            store,
            Arc::new(events.clone()),
        )
        .unwrap()
        .with_holder(holder)
        .with_clock(clock.clone())
        .with_lease_ttl(Duration::from_secs(30)),
    )
}

fn spawn(scheduler: &Arc<Scheduler>, shutdown: &Shutdown) -> tokio::task::JoinHandle<()> {
    let scheduler = Arc::clone(scheduler);
    let shutdown = shutdown.clone();
    tokio::spawn(async move { scheduler.run(shutdown).await })
}

#[tokio::test(start_paused = true)]
async fn a_registered_job_runs_on_its_schedule_and_publishes_messages() {
    let doc = ConfigDocument::from_yaml(
        "app.yml",
        "jobs:\n  - job: tick\n    handler: PublishTick\n    schedule: every 1m\n    props: { route: jobs.tick }\n",
    );
    let config = JobsConfig::from_document(&doc).unwrap();
    let registry = JobRegistry::linked();
    config.check_handlers(&doc, &registry).unwrap();
    let clock = Clock::tokio(start());
    let store = Arc::new(MemoryStateStore::new().with_clock(clock.clone()));
    let events = MemoryQueue::new("events", 100);
    let scheduler = scheduler(&config, &registry, store.clone(), &events, "only", &clock);
    let shutdown = Shutdown::new();
    let task = spawn(&scheduler, &shutdown);

    // 12:00:30 + 5m10s: runs at 12:01, 12:02, 12:03, 12:04 and 12:05.
    tokio::time::sleep(Duration::from_secs(5 * 60 + 10)).await;
    shutdown.trigger();
    task.await.unwrap();

    let deliveries = events.receive(100, Duration::ZERO).await.unwrap();
    let routes: Vec<_> = deliveries.iter().map(|d| d.item().route.clone()).collect();
    assert_eq!(routes, vec!["jobs.tick"; 5]);
    let ids: Vec<_> = deliveries
        .iter()
        .map(|d| d.item().resource_id().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["tick-1", "tick-2", "tick-3", "tick-4", "tick-5"]);
    let state = store.load("tick").await.unwrap().unwrap();
    assert_eq!(state.checkpoint, Some(json!({ "count": 5 })));
    assert_eq!(state.runs, 5);
    assert_eq!(state.failures, 0);
    assert_eq!(state.last_run, Some(minute(5)));
    assert_eq!(state.last_success, Some(minute(5)));
    assert_eq!(
        store.holder("tick").await.unwrap(),
        None,
        "released after each run"
    );
    let metrics = scheduler.metrics();
    assert_eq!(metrics[0].job, "tick");
    assert_eq!((metrics[0].runs, metrics[0].failures), (5, 0));
    assert_eq!(metrics[0].last_success, Some(minute(5)));
    assert!(!metrics[0].running);
    let status = scheduler.status().await.unwrap();
    assert_eq!(status[0].schedule, "every 1m");
    assert_eq!(status[0].next_run, minute(6));
}

/// One run: when it started and ended, and which replica ran it.
type Interval = (DateTime<Utc>, DateTime<Utc>, String);

/// Records every run's interval on the shared clock, sleeping `work` of
/// tokio time inside.
#[derive(Debug, Clone)]
struct Slow {
    work: Duration,
    clock: Clock,
    holder: String,
    runs: Arc<Mutex<Vec<Interval>>>,
}

#[connect_core::async_trait]
impl JobHandler for Slow {
    async fn run(&self, ctx: &JobContext<'_>) -> Result<JobOutcome, JobError> {
        let began = self.clock.now();
        tokio::time::sleep(self.work).await;
        self.runs
            .lock()
            .unwrap()
            .push((began, self.clock.now(), self.holder.clone()));
        ctx.checkpoint(json!(began.to_rfc3339())).await?;
        Ok(JobOutcome::done())
    }
}

/// Two replicas, each with its own handle on one state file, one job on
/// one schedule, for `minutes` of virtual time.
async fn two_replicas(
    work: Duration,
    minutes: u64,
    skew: chrono::Duration,
) -> (Vec<Interval>, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connect-state.json");
    let truth = Clock::tokio(start());
    let mut config = JobsConfig::default();
    config.jobs.push(JobConfig::new(
        "sync",
        "Slow",
        Schedule::parse("every 1m").unwrap(),
    ));
    let runs = Arc::new(Mutex::new(Vec::new()));
    let events = MemoryQueue::new("events", 100);
    let shutdown = Shutdown::new();
    let mut replicas = Vec::new();
    for (holder, offset) in [("replica-a", chrono::Duration::zero()), ("replica-b", skew)] {
        // Each replica reads its own clock; the runs are recorded on the
        // true one.
        let clock = Clock::tokio(start() + offset);
        let slow = Slow {
            work,
            clock: truth.clone(),
            holder: holder.to_owned(),
            runs: Arc::clone(&runs),
        };
        let registry = JobRegistry::new().with("Slow", move |_| Ok(slow.clone()));
        let store = Arc::new(FileStateStore::new(&path).with_clock(clock.clone()));
        let scheduler = scheduler(&config, &registry, store, &events, holder, &clock);
        replicas.push((spawn(&scheduler, &shutdown), scheduler));
    }
    tokio::time::sleep(Duration::from_secs(minutes * 60)).await;
    shutdown.trigger();
    let mut skipped = 0;
    for (task, scheduler) in replicas {
        task.await.unwrap();
        skipped += scheduler.metrics()[0].skipped;
    }
    let stored = FileStateStore::new(&path)
        .load("sync")
        .await
        .unwrap()
        .unwrap();
    let mut runs = runs.lock().unwrap().clone();
    runs.sort();
    (runs, stored.runs, skipped)
}

fn assert_no_overlap(runs: &[Interval]) {
    for pair in runs.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "runs overlap: {} by {} ran {}..{}, {} by {} started at {}",
            pair[0].0,
            pair[0].2,
            pair[0].0,
            pair[0].1,
            pair[1].0,
            pair[1].2,
            pair[1].0
        );
    }
}

#[tokio::test(start_paused = true)]
async fn two_replicas_on_one_file_store_run_each_tick_once() {
    // A 40 s job every minute: each tick runs exactly once, on one replica.
    let (runs, stored_runs, skipped) =
        two_replicas(Duration::from_secs(40), 10, chrono::Duration::zero()).await;
    assert_eq!(runs.len(), 10, "{runs:?}");
    assert_eq!(stored_runs, 10);
    assert_eq!(
        skipped, 10,
        "the other replica found the lease held each time"
    );
    for (index, run) in runs.iter().enumerate() {
        assert_eq!(run.0, minute(index as u32 + 1));
    }
    assert_no_overlap(&runs);
}

#[tokio::test(start_paused = true)]
async fn a_run_longer_than_its_interval_and_its_lease_ttl_is_never_overlapped() {
    // 90 s of work, a tick every 60 s and a 30 s lease renewed while the run
    // lasts: the ticks during a run are skipped by both replicas.
    let (runs, stored_runs, skipped) =
        two_replicas(Duration::from_secs(90), 10, chrono::Duration::zero()).await;
    assert_no_overlap(&runs);
    let starts: Vec<_> = runs.iter().map(|r| r.0).collect();
    assert_eq!(
        starts,
        [minute(1), minute(3), minute(5), minute(7), minute(9)]
    );
    assert_eq!(stored_runs, 5);
    assert!(skipped >= 5, "{skipped}");
}

/// `future`'s output, or a failed test after an hour of (paused) time.
async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(3600), future)
        .await
        .expect("did not finish: a second run of the job started")
}

#[tokio::test(start_paused = true)]
async fn a_replica_whose_clock_lags_does_not_run_a_tick_again() {
    // Replica b's clock is 5 s ahead: it runs each tick first, in 1 s; when
    // replica a's tick comes the lease is free, but the stored last run
    // shows the tick was run.
    let (runs, stored_runs, _) =
        two_replicas(Duration::from_secs(1), 10, chrono::Duration::seconds(5)).await;
    assert_eq!(runs.len(), 10, "{runs:?}");
    assert_eq!(stored_runs, 10);
    assert!(runs.iter().all(|r| r.2 == "replica-b"), "{runs:?}");
    assert_no_overlap(&runs);
}

#[derive(Debug)]
struct Blocking {
    started: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
}

#[connect_core::async_trait]
impl JobHandler for Blocking {
    async fn run(&self, ctx: &JobContext<'_>) -> Result<JobOutcome, JobError> {
        self.started.notify_one();
        tokio::select! {
            () = self.release.notified() => Ok(JobOutcome::done()),
            () = ctx.stop().triggered() => Err(JobError::Stopped),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn run_now_and_reset_take_the_same_lease() {
    let clock = Clock::tokio(start());
    let store = Arc::new(MemoryStateStore::new().with_clock(clock.clone()));
    let (started, release) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let (s, r) = (Arc::clone(&started), Arc::clone(&release));
    let registry = JobRegistry::new().with("Blocking", move |_| {
        Ok(Blocking {
            started: Arc::clone(&s),
            release: Arc::clone(&r),
        })
    });
    let mut config = JobsConfig::default();
    config.jobs.push(JobConfig::new(
        "backfill",
        "Blocking",
        Schedule::parse("0 3 * * *").unwrap(),
    ));
    let events = MemoryQueue::new("events", 10);
    let one = scheduler(&config, &registry, store.clone(), &events, "cli", &clock);
    let other = scheduler(
        &config,
        &registry,
        store.clone(),
        &events,
        "replica",
        &clock,
    );

    let running = {
        let one = Arc::clone(&one);
        tokio::spawn(async move { one.run_now("backfill").await })
    };
    started.notified().await;
    // Another replica, and this process again, are refused while it runs.
    let busy = bounded(other.run_now("backfill")).await.unwrap_err();
    assert!(
        matches!(&busy, RunError::Busy { holder: Some(h), .. } if h == "cli"),
        "{busy}"
    );
    assert!(
        busy.to_string()
            .starts_with("job `backfill` is running already (lease held by `cli`)"),
        "{busy}"
    );
    assert!(matches!(
        bounded(one.run_now("backfill")).await,
        Err(RunError::Busy { .. })
    ));
    assert!(matches!(
        bounded(other.reset("backfill", None)).await,
        Err(RunError::Busy { .. })
    ));
    assert!(one.metrics()[0].running);
    release.notify_one();
    let report = running.await.unwrap().unwrap();
    assert!(report.is_success(), "{report:?}");

    let since = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    other.reset("backfill", Some(since)).await.unwrap();
    let state = store.load("backfill").await.unwrap().unwrap();
    assert_eq!(state.checkpoint, Some(json!("2026-02-01T00:00:00.000Z")));
    assert_eq!(state.runs, 1, "a reset keeps the run records");
    other.reset("backfill", None).await.unwrap();
    assert_eq!(
        store.load("backfill").await.unwrap().unwrap().checkpoint,
        None
    );

    let unknown = one.run_now("backfil").await.unwrap_err().to_string();
    assert_eq!(
        unknown,
        "no job is named `backfil`; configured jobs: [backfill]. Check the name against `jobs:` (`connect jobs` lists them)"
    );
}

#[derive(Debug)]
struct Flaky;

#[connect_core::async_trait]
impl JobHandler for Flaky {
    async fn run(&self, ctx: &JobContext<'_>) -> Result<JobOutcome, JobError> {
        match ctx
            .last_checkpoint()
            .and_then(|c| c.value.as_u64())
            .unwrap_or(0)
        {
            0 => {
                ctx.checkpoint(json!(1)).await?;
                Err(JobError::failed("commercetools answered 503"))
            }
            1 => {
                ctx.checkpoint(json!(2)).await?;
                panic!("boom")
            }
            _ => Ok(JobOutcome::done()),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn failures_and_panics_are_recorded_and_the_next_run_resumes_from_the_checkpoint() {
    let clock = Clock::tokio(start());
    let store = Arc::new(MemoryStateStore::new().with_clock(clock.clone()));
    let registry = JobRegistry::new().with("Flaky", |_| Ok(Flaky));
    let mut config = JobsConfig::default();
    config.jobs.push(JobConfig::new(
        "flaky",
        "Flaky",
        Schedule::parse("every 1m").unwrap(),
    ));
    let events = MemoryQueue::new("events", 10);
    let scheduler = scheduler(&config, &registry, store.clone(), &events, "a", &clock);

    let first = scheduler.run_now("flaky").await.unwrap();
    assert_eq!(
        first.outcome,
        RunOutcome::Failed("commercetools answered 503".to_owned())
    );
    let state = store.load("flaky").await.unwrap().unwrap();
    assert_eq!(
        (state.runs, state.failures, state.last_success),
        (1, 1, None)
    );
    assert_eq!(
        state.last_error.as_deref(),
        Some("commercetools answered 503")
    );
    assert_eq!(
        state.checkpoint,
        Some(json!(1)),
        "progress saved before the failure is kept"
    );

    let second = scheduler.run_now("flaky").await.unwrap();
    assert_eq!(
        second.outcome,
        RunOutcome::Failed("the job panicked: boom".to_owned())
    );
    assert_eq!(
        store.holder("flaky").await.unwrap(),
        None,
        "a panic releases the lease too"
    );

    let third = scheduler.run_now("flaky").await.unwrap();
    assert!(third.is_success());
    let state = store.load("flaky").await.unwrap().unwrap();
    assert_eq!((state.runs, state.failures), (3, 2));
    assert_eq!(state.last_error, None);
    assert!(state.last_success.is_some());
    let metrics = &scheduler.metrics()[0];
    assert_eq!((metrics.runs, metrics.failures), (3, 2));
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_a_run_in_progress_without_counting_a_failure() {
    let clock = Clock::tokio(start());
    let store = Arc::new(MemoryStateStore::new().with_clock(clock.clone()));
    let (started, release) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let s = Arc::clone(&started);
    let r = Arc::clone(&release);
    let registry = JobRegistry::new().with("Blocking", move |_| {
        Ok(Blocking {
            started: Arc::clone(&s),
            release: Arc::clone(&r),
        })
    });
    let mut config = JobsConfig::default();
    config.jobs.push(JobConfig::new(
        "long",
        "Blocking",
        Schedule::parse("every 1m").unwrap(),
    ));
    let events = MemoryQueue::new("events", 10);
    let scheduler = scheduler(&config, &registry, store.clone(), &events, "a", &clock);
    let shutdown = Shutdown::new();
    let task = spawn(&scheduler, &shutdown);
    started.notified().await;
    shutdown.trigger();
    task.await.unwrap();
    let state = store.load("long").await.unwrap().unwrap();
    assert_eq!(
        (state.runs, state.failures, state.last_success),
        (1, 0, None)
    );
    assert_eq!(store.holder("long").await.unwrap(), None);
}

#[test]
fn a_factory_error_fails_the_build_naming_the_job() {
    let doc = ConfigDocument::from_yaml(
        "app.yml",
        "jobs:\n  - job: tick\n    handler: PublishTick\n    schedule: every 1m\n",
    );
    let config = JobsConfig::from_document(&doc).unwrap();
    let error = Scheduler::build(
        &config,
        &JobRegistry::linked(),
        Arc::new(Services::new()),
        Arc::new(MemoryStateStore::new()),
        Arc::new(MemoryQueue::<Message>::new("events", 1)),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "job `tick` (handler `PublishTick`): `props.route` is required"
    );
}
