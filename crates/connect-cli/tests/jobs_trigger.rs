//! The job trigger: a message on the event queue (route `connect.job`,
//! attribute `job`, e.g. from EventBridge Scheduler) runs the named job
//! through the connector's scheduler. In memory, and on SQS (the local
//! server of `scripts/test.sh`): two connectors on one queue, a run
//! longer than twice the visibility timeout, and the message is neither
//! redelivered nor run twice, because the heartbeat keeps it invisible
//! while the job runs; an unknown job is dead-lettered with the jobs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use connect_core::Message;
use connect_core::config::ConfigDocument;
use connect_core::runtime::Shutdown;
use connect_jobs::{JobContext, JobError, JobHandler, JobOutcome};
use connect_runner::{Connector, QueuePair, job_trigger};
use connect_sqs::{SqsQueue, SqsQueueConfig};
use connect_testkit::sqs::{REGION, counts, create_queue, delete_queues};

/// Every run: (job, holder, start, end).
static RUNS: Mutex<Vec<(String, String, Instant, Instant)>> = Mutex::new(Vec::new());

fn runs_of(job: &str) -> Vec<(String, String, Instant, Instant)> {
    RUNS.lock()
        .unwrap()
        .iter()
        .filter(|r| r.0 == job)
        .cloned()
        .collect()
}

#[derive(Debug)]
struct Hold(Duration);

#[connect_core::async_trait]
impl JobHandler for Hold {
    async fn run(&self, ctx: &JobContext<'_>) -> Result<JobOutcome, JobError> {
        let start = Instant::now();
        tokio::time::sleep(self.0).await;
        ctx.checkpoint(serde_json::json!({ "by": ctx.holder() }))
            .await?;
        RUNS.lock().unwrap().push((
            ctx.name().to_owned(),
            ctx.holder().to_owned(),
            start,
            Instant::now(),
        ));
        Ok(JobOutcome::done())
    }
}

connect_jobs::register_job!("TestHold", |setup| Ok(Hold(Duration::from_millis(
    setup.prop("hold-ms")?.unwrap_or(100)
))));

fn yaml(dir: &Path, job: &str, hold_ms: u64) -> String {
    format!(
        "connector-name: jobs-trigger
runtime:
  max-attempts: 2
  backoff: {{ initial: 50ms, max: 200ms }}
  shutdown-timeout: 10s
routes:
  - route: connect.job
    handler: connect.JobTrigger
jobs:
  - job: {job}
    handler: TestHold
    schedule: '0 0 1 1 *'
    props: {{ hold-ms: {hold_ms} }}
state:
  type: file
  path: '{}'
",
        dir.join("state.json").display()
    )
}

async fn until<T>(what: &str, limit: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_message_runs_its_job_and_an_unknown_job_is_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let doc = ConfigDocument::from_yaml("app.yml", yaml(dir.path(), "in-memory-job", 50));
    let connector = Connector::builder(doc).build().await.unwrap();
    let sink = Arc::clone(&connector.event_queue().sink);
    let dead_letters = Arc::clone(connector.dead_letters());
    let metrics = connector.metrics();
    let shutdown = Shutdown::new();
    let run = connector.run(shutdown.clone());
    let test = async {
        sink.send(job_trigger("in-memory-job")).await.unwrap();
        until("the run", Duration::from_secs(20), async || {
            (metrics.snapshot().outcome("job-succeeded") == 1).then_some(())
        })
        .await;
        assert_eq!(runs_of("in-memory-job").len(), 1);

        sink.send(job_trigger("nightly")).await.unwrap();
        sink.send(Message::new("connect.job")).await.unwrap();
        let letters = until("two dead letters", Duration::from_secs(20), async || {
            let letters = dead_letters.list().await.unwrap();
            (letters.len() == 2).then_some(letters)
        })
        .await;
        let unknown = letters
            .iter()
            .find(|l| l.error.contains("nightly"))
            .expect("the unknown job's letter");
        assert!(
            unknown.error.contains("no job is named `nightly`")
                && unknown.error.contains("[in-memory-job]"),
            "{}",
            unknown.error
        );
        assert_eq!(unknown.attempts, 1, "dead-lettered at once, not retried");
        assert!(
            letters
                .iter()
                .any(|l| l.error.contains("must name its job in the attribute `job`")),
            "{letters:?}"
        );
        shutdown.trigger();
    };
    let (report, ()) = tokio::join!(run, test);
    assert_eq!(report.runtime.metrics.dead_lettered, 2);
    assert_eq!(runs_of("in-memory-job").len(), 1);
}

async fn sqs_pair(client: &connect_sqs::aws_sdk_sqs::Client, url: &str) -> QueuePair<Message> {
    let config = SqsQueueConfig::new(url)
        .with_region(REGION)
        .with_endpoint_url(connect_testkit::sqs::endpoint().unwrap())
        .with_wait_time(Duration::from_secs(1))
        .with_visibility_timeout(Duration::from_secs(2));
    let queue = Arc::new(
        SqsQueue::<Message>::connect_with(client.clone(), &config)
            .await
            .unwrap(),
    );
    QueuePair {
        source: Arc::clone(&queue) as _,
        sink: queue as _,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn an_sqs_trigger_outlives_its_visibility_timeout_and_runs_once_across_two_replicas() {
    let client = connect_testkit::sqs::client(&connect_testkit::sqs::endpoint().unwrap());
    let queue = create_queue(&client, "jobs-trigger", false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The run lasts 3 × the 2 s visibility timeout.
    let yaml = yaml(dir.path(), "sqs-job", 6_000);
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let doc = ConfigDocument::from_yaml("app.yml", yaml.clone());
        let connector = Connector::builder(doc)
            .event_queue(sqs_pair(&client, &queue.url).await)
            .build()
            .await
            .unwrap();
        replicas.push(connector);
    }
    let metrics: Vec<_> = replicas.iter().map(Connector::metrics).collect();
    let dead_letters: Vec<_> = replicas
        .iter()
        .map(|c| Arc::clone(c.dead_letters()))
        .collect();
    let sink = Arc::clone(&replicas[0].event_queue().sink);
    let shutdown = Shutdown::new();
    let b = replicas.pop().unwrap();
    let a = replicas.pop().unwrap();
    let outcome =
        |label: &str| -> u64 { metrics.iter().map(|m| m.snapshot().outcome(label)).sum() };
    let test = async {
        // EventBridge Scheduler's fixed input, as docs/operations.md shows it.
        let body = r#"{"id": "exec-1", "route": "connect.job", "attributes": {"job": "sqs-job"}, "createdAt": "2026-03-01T12:00:00Z"}"#;
        let message: Message = serde_json::from_str(body).unwrap();
        sink.send(message).await.unwrap();
        until("the run", Duration::from_secs(40), async || {
            (outcome("job-succeeded") == 1).then_some(())
        })
        .await;
        until(
            "the trigger to be deleted",
            Duration::from_secs(20),
            async || (counts(&client, &queue.url).await.unwrap().total() == 0).then_some(()),
        )
        .await;
        let runs = runs_of("sqs-job");
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert!(runs[0].3 - runs[0].2 >= Duration::from_secs(6));
        assert_eq!(
            outcome("job-busy"),
            0,
            "the message was never redelivered while the job ran"
        );
        assert_eq!(metrics.iter().map(|m| m.snapshot().retried).sum::<u64>(), 0);

        sink.send(job_trigger("weekly")).await.unwrap();
        let letter = until(
            "the unknown job's dead letter",
            Duration::from_secs(20),
            async || {
                for store in &dead_letters {
                    if let Some(letter) = store.list().await.unwrap().into_iter().next() {
                        return Some(letter);
                    }
                }
                None
            },
        )
        .await;
        assert!(
            letter.error.contains("no job is named `weekly`") && letter.error.contains("[sqs-job]"),
            "{}",
            letter.error
        );
        shutdown.trigger();
    };
    let (_, _, ()) = tokio::join!(a.run(shutdown.clone()), b.run(shutdown.clone()), test);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state["jobs"]["sqs-job"]["runs"], 1, "{state}");
    delete_queues(&client, &[&queue]).await;
}
