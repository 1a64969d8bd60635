//! The recommended single-replica layout (an SQS CT queue, an in-memory
//! event queue), broken on purpose: `connect run` is stopped with SIGTERM,
//! with two SIGTERMs, and killed with SIGKILL while its handlers are busy
//! (Fluent answers slowly), then a new instance starts. Every customer must
//! reach Fluent exactly once: nothing is acknowledged in SQS before its
//! customer is in Fluent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use connect_commercetools::CustomerDraft;
use connect_testkit::Fault;
use connect_testkit::commercetools::{CommercetoolsEmulator, NotificationFormat};
use connect_testkit::fluent::FluentEmulator;
use support::{
    BatchingSink, Connect, Settings, Stopped, config_yaml, counts, create_queue, create_with_dlq,
    delete_queues, eventually, sqs_client, write_config,
};

/// One SQS test at a time (they share one single-process server).
static SQS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CUSTOMERS: usize = 300;

/// How a running instance is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Term,
    TermTwice,
    Kill,
}

/// Lost and duplicated customers after the stop and a restart.
#[derive(Debug)]
struct Outcome {
    in_fluent_at_stop: usize,
    lost: usize,
    duplicated: usize,
    stopped: Option<Stopped>,
}

async fn stop_while_busy_then_restart(stop: Stop) -> Outcome {
    let _serial = SQS.lock().await;
    let sqs = sqs_client();
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let (ct_queue, ct_dlq) = create_with_dlq(&sqs, "single-ct", false, 10).await.unwrap();
    let letters = create_queue(&sqs, "single-letters", false).await.unwrap();
    let feeder = Arc::new(BatchingSink::start(&sqs, &ct_queue.url).await);
    ct.subscribe(feeder.clone(), NotificationFormat::ChangeNotifications);
    for n in 0..CUSTOMERS {
        ct.insert_customer(CustomerDraft::new(format!("busy-{n:03}@example.com")))
            .await
            .unwrap();
    }
    feeder.flushed(Duration::from_secs(60)).await;

    // A slow Fluent: every GraphQL call takes 300 ms.
    fluent.faults().inject_for(
        "/graphql",
        Fault::Delay(Duration::from_millis(300)),
        100_000,
    );
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        ct_url: ct.api_url(),
        ct_queue: ct_queue.url.clone(),
        event_queue: None,
        dead_letters: letters.url.clone(),
        visibility_timeout: Duration::from_secs(4),
        concurrency: 16,
    };
    let mut yaml = config_yaml(&ct, &fluent, &settings);
    if stop == Stop::TermTwice {
        // Long enough that only the second signal can end it quickly.
        yaml = yaml.replace("shutdown-timeout: 5s", "shutdown-timeout: 10m");
    }
    let config = write_config(dir.path(), "busy.yml", &yaml);
    let mut first = Connect::run("first", dir.path(), &config);
    eventually(
        "the first instance to sync some customers",
        Duration::from_secs(60),
        || async {
            first.assert_running();
            (fluent.customers().len() >= 20).then_some(())
        },
        || first.log_tail(20),
    )
    .await;

    // Handlers are busy, and some cannot finish before the shutdown timeout:
    // from now on Fluent holds every call for ten minutes. Wait until a
    // handler is inside such a call, so the stop always interrupts work
    // (a held call never reaches Fluent's data: the test ends first).
    fluent.faults().clear();
    fluent
        .faults()
        .inject_for("/graphql", Fault::Delay(Duration::from_secs(600)), 100_000);
    eventually(
        "a handler to wait on Fluent",
        Duration::from_secs(30),
        || async {
            first.assert_running();
            (fluent.faults().pending() < 100_000).then_some(())
        },
        || first.log_tail(20),
    )
    .await;
    let in_fluent_at_stop;
    let stopped = match stop {
        Stop::Kill => {
            let status = first.kill().await;
            in_fluent_at_stop = fluent.customers().len();
            assert!(!status.success(), "SIGKILL ends it: {status}");
            None
        }
        Stop::Term => {
            let finished = first.terminate(Duration::from_secs(30)).await;
            in_fluent_at_stop = fluent.customers().len();
            assert!(finished.status.success(), "{finished:?}");
            Some(Stopped::parse(&finished.stdout))
        }
        Stop::TermTwice => {
            let finished = first.terminate_twice(Duration::from_secs(15)).await;
            in_fluent_at_stop = fluent.customers().len();
            assert!(finished.status.success(), "{finished:?}");
            Some(Stopped::parse(&finished.stdout))
        }
    };
    assert!(
        in_fluent_at_stop < CUSTOMERS * 9 / 10,
        "stopped well before the end: {in_fluent_at_stop} of {CUSTOMERS}"
    );
    if let Some(stopped) = &stopped {
        assert!(
            stopped.returned > 0,
            "work was returned to SQS: {stopped:?}"
        );
        assert_eq!(stopped.dead_lettered, 0, "{stopped:?}");
        if stop == Stop::TermTwice {
            assert!(
                stopped.interrupted > 0,
                "the second signal interrupted handlers: {stopped:?}"
            );
        }
    }

    // A new instance, with Fluent fast again, finishes the work: SQS holds
    // everything the first one did not finish (after a SIGKILL, once the
    // visibility timeout passed).
    fluent.faults().clear();
    let second = Connect::run("second", dir.path(), &config);
    eventually(
        &format!("{CUSTOMERS} customers in Fluent"),
        Duration::from_secs(120),
        || async {
            second.assert_running();
            (fluent.customers().len() >= CUSTOMERS).then_some(())
        },
        || second.log_tail(20),
    )
    .await;
    eventually(
        "the CT queue to be empty",
        Duration::from_secs(30),
        || async { (counts(&sqs, &ct_queue.url).await.unwrap().total() == 0).then_some(()) },
        || second.log_tail(10),
    )
    .await;
    let finished = second.terminate(Duration::from_secs(20)).await;
    assert!(finished.status.success(), "{finished:?}");

    let customers = ct.customers();
    let lost = customers
        .iter()
        .filter(|c| fluent.customer(&c.id).is_none())
        .count();
    let duplicated = customers
        .iter()
        .filter(|c| fluent.create_count(&c.id) > 1)
        .count();
    for customer in &customers {
        let synced = fluent.customer(&customer.id).unwrap();
        assert_eq!(
            synced.primary_email.as_deref(),
            Some(customer.email.as_str())
        );
    }
    for queue in [&ct_dlq, &letters] {
        assert_eq!(
            counts(&sqs, &queue.url).await.unwrap().total(),
            0,
            "{}",
            queue.url
        );
    }
    delete_queues(&sqs, &[&ct_queue, &ct_dlq, &letters]).await;
    Outcome {
        in_fluent_at_stop,
        lost,
        duplicated,
        stopped,
    }
}

impl Outcome {
    /// The figures, printed with the test output (`--nocapture`).
    #[allow(clippy::print_stdout)] // the figures are this test's report
    fn report(&self, what: &str) {
        println!(
            "{what} with {} of {CUSTOMERS} customers in Fluent: lost {}, duplicated {}; first instance: {:?}",
            self.in_fluent_at_stop, self.lost, self.duplicated, self.stopped
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn sigterm_while_handlers_are_busy_loses_nothing() {
    let outcome = stop_while_busy_then_restart(Stop::Term).await;
    outcome.report("SIGTERM");
    assert_eq!((outcome.lost, outcome.duplicated), (0, 0), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn a_second_sigterm_returns_everything_at_once_and_loses_nothing() {
    let outcome = stop_while_busy_then_restart(Stop::TermTwice).await;
    outcome.report("SIGTERM twice");
    assert_eq!((outcome.lost, outcome.duplicated), (0, 0), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn sigkill_while_handlers_are_busy_loses_nothing() {
    let outcome = stop_while_busy_then_restart(Stop::Kill).await;
    outcome.report("SIGKILL");
    assert_eq!((outcome.lost, outcome.duplicated), (0, 0), "{outcome:?}");
}
