//! The recommended single-replica layout (an SQS CT queue, an in-memory
//! event queue), broken on purpose: `connect run` is stopped with SIGTERM,
//! with two SIGTERMs, and killed with SIGKILL while its handlers are busy
//! (Fluent answers slowly), then a new instance starts. Every customer must
//! reach Fluent exactly once: nothing is acknowledged in SQS before its
//! customer is in Fluent. The SIGKILL case runs again with category and
//! customer notifications mixed on one queue, through both bundled syncs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use connect_commercetools::CustomerDraft;
use connect_testkit::Fault;
use connect_testkit::commercetools::{CommercetoolsEmulator, NotificationFormat};
use connect_testkit::fluent::FluentEmulator;
use serde_json::json;
use support::{
    BatchingSink, Connect, Settings, Stopped, config_yaml, counts, create_queue, create_with_dlq,
    delete_queues, eventually, sqs_client, write_config,
};

/// One SQS test at a time (they share one single-process server).
static SQS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CUSTOMERS: usize = 300;

/// Categories of the mixed run: roots, each with children.
const CATEGORY_ROOTS: usize = 20;
const CATEGORY_CHILDREN: usize = 4;
const CATEGORIES: usize = CATEGORY_ROOTS * (1 + CATEGORY_CHILDREN);

/// What the CT queue carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    Customers,
    CustomersAndCategories,
}

/// The category route beside the customer route, and the scopes both need.
fn with_category_sync(yaml: &str, fluent: &FluentEmulator, pk: &str) -> String {
    yaml.replace(
        &format!("  scopes: [view_customers:{pk}]\n"),
        &format!("  scopes: [view_customers:{pk}, view_categories:{pk}]\n"),
    )
    .replace(
        "route-mapping:\n",
        "route-mapping:\n  category: commercetools.connect.category.upsert\n",
    ) + &format!(
        "  - route: commercetools.connect.category.upsert\n    handler: CommercetoolsCategoryUpsert\n    props:\n      catalogue-ref: \"{}\"\n",
        fluent.default_catalogue()
    )
}

/// How a running instance is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Term,
    TermTwice,
    Kill,
}

/// Lost and duplicated resources (customers and categories) after the stop
/// and a restart.
#[derive(Debug)]
struct Outcome {
    in_fluent_at_stop: usize,
    total: usize,
    lost: usize,
    duplicated: usize,
    stopped: Option<Stopped>,
}

async fn stop_while_busy_then_restart(stop: Stop, mix: Mix) -> Outcome {
    let _serial = SQS.lock().await;
    let sqs = sqs_client();
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let (ct_queue, ct_dlq) = create_with_dlq(&sqs, "single-ct", false, 10).await.unwrap();
    let letters = create_queue(&sqs, "single-letters", false).await.unwrap();
    let feeder = Arc::new(BatchingSink::start(&sqs, &ct_queue.url).await);
    ct.subscribe(feeder.clone(), NotificationFormat::ChangeNotifications);
    let categories = if mix == Mix::CustomersAndCategories {
        CATEGORIES
    } else {
        0
    };
    for n in 0..CUSTOMERS {
        ct.insert_customer(CustomerDraft::new(format!("busy-{n:03}@example.com")))
            .await
            .unwrap();
        // Mixed: a category after every few customers, parents first.
        let c = n / 3;
        if n % 3 == 2 && c < categories {
            let (root, child) = (c / (1 + CATEGORY_CHILDREN), c % (1 + CATEGORY_CHILDREN));
            let mut draft = json!({
                "key": format!("cat-{root:02}-{child}"),
                "name": { "en": format!("Category {root}.{child}") },
                "slug": { "en": format!("cat-{root:02}-{child}") },
            });
            if child > 0 {
                let parent = ct
                    .resource_by_key("category", &format!("cat-{root:02}-0"))
                    .unwrap();
                draft["parent"] = json!({ "typeId": "category", "id": parent["id"] });
            }
            ct.insert_resource("category", draft).await.unwrap();
        }
    }
    assert_eq!(ct.resources("category").len(), categories);
    let total = CUSTOMERS + categories;
    let in_fluent = || fluent.customers().len() + fluent.categories().len();
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
    if mix == Mix::CustomersAndCategories {
        // A child category handled before its parent is retried until the
        // parent is in Fluent: room for a few such rounds.
        yaml = with_category_sync(&yaml, &fluent, ct.project_key())
            .replace("max-attempts: 5", "max-attempts: 8");
    }
    if stop == Stop::TermTwice {
        // Long enough that only the second signal can end it quickly.
        yaml = yaml.replace("shutdown-timeout: 5s", "shutdown-timeout: 10m");
    }
    let config = write_config(dir.path(), "busy.yml", &yaml);
    let mut first = Connect::run("first", dir.path(), &config);
    eventually(
        "the first instance to sync some resources",
        Duration::from_secs(60),
        || async {
            first.assert_running();
            (in_fluent() >= 20).then_some(())
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
            in_fluent_at_stop = in_fluent();
            assert!(!status.success(), "SIGKILL ends it: {status}");
            None
        }
        Stop::Term => {
            let finished = first.terminate(Duration::from_secs(30)).await;
            in_fluent_at_stop = in_fluent();
            assert!(finished.status.success(), "{finished:?}");
            Some(Stopped::parse(&finished.stdout))
        }
        Stop::TermTwice => {
            let finished = first.terminate_twice(Duration::from_secs(15)).await;
            in_fluent_at_stop = in_fluent();
            assert!(finished.status.success(), "{finished:?}");
            Some(Stopped::parse(&finished.stdout))
        }
    };
    assert!(
        in_fluent_at_stop < total * 9 / 10,
        "stopped well before the end: {in_fluent_at_stop} of {total}"
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
        &format!("{total} resources in Fluent"),
        Duration::from_secs(120),
        || async {
            second.assert_running();
            (in_fluent() >= total).then_some(())
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
    let catalogue = fluent.default_catalogue();
    let category_refs: Vec<String> = ct
        .resources("category")
        .iter()
        .map(|c| c["key"].as_str().unwrap().to_owned())
        .collect();
    let lost = customers
        .iter()
        .filter(|c| fluent.customer(&c.id).is_none())
        .count()
        + category_refs
            .iter()
            .filter(|r| fluent.category(&catalogue, r).is_none())
            .count();
    let duplicated = customers
        .iter()
        .filter(|c| fluent.create_count(&c.id) > 1)
        .count()
        + category_refs
            .iter()
            .filter(|r| fluent.category_create_count(&catalogue, r) > 1)
            .count();
    for reference in &category_refs {
        let synced = fluent.category(&catalogue, reference).unwrap();
        let expected_parent = reference
            .strip_suffix(|c: char| c != '0' && c.is_ascii_digit())
            .map(|stem| format!("{stem}0"));
        assert_eq!(
            synced["parentCategory"]["ref"].as_str().map(str::to_owned),
            expected_parent,
            "{synced}"
        );
    }
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
        total,
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
            "{what} with {} of {} resources in Fluent: lost {}, duplicated {}; first instance: {:?}",
            self.in_fluent_at_stop, self.total, self.lost, self.duplicated, self.stopped
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn sigterm_while_handlers_are_busy_loses_nothing() {
    let outcome = stop_while_busy_then_restart(Stop::Term, Mix::Customers).await;
    outcome.report("SIGTERM");
    assert_eq!((outcome.lost, outcome.duplicated), (0, 0), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn a_second_sigterm_returns_everything_at_once_and_loses_nothing() {
    let outcome = stop_while_busy_then_restart(Stop::TermTwice, Mix::Customers).await;
    outcome.report("SIGTERM twice");
    assert_eq!((outcome.lost, outcome.duplicated), (0, 0), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn sigkill_while_handlers_are_busy_loses_nothing() {
    let outcome = stop_while_busy_then_restart(Stop::Kill, Mix::Customers).await;
    outcome.report("SIGKILL");
    assert_eq!((outcome.lost, outcome.duplicated), (0, 0), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn sigkill_with_category_and_customer_messages_mixed_loses_nothing() {
    let outcome = stop_while_busy_then_restart(Stop::Kill, Mix::CustomersAndCategories).await;
    outcome.report("SIGKILL, customers and categories mixed");
    assert_eq!((outcome.lost, outcome.duplicated), (0, 0), "{outcome:?}");
}
