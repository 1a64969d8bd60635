//! End to end over SQS with the real `connect` binary (issue 6): the
//! commercetools and Fluent emulators run in the test process, the queues
//! live on the local SQS/EventBridge server (moto, started by
//! `scripts/test.sh`), and one or two `connect run` child processes move
//! customers from commercetools into Fluent.
//!
//! The tests that need the server take one lock so that they do not compete
//! for it: moto is single-threaded Python and takes milliseconds per message
//! (about 30 customers per second through both queues on a 2-core machine),
//! so it, not the connector, sets the pace of these tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use connect_commercetools::{CustomerDraft, CustomerUpdateAction};
use connect_core::QueueError;
use connect_core::queue::{RawPayload, Sink};
use connect_testkit::commercetools::{CommercetoolsEmulator, NotificationFormat};
use connect_testkit::fluent::FluentEmulator;
use serde_json::{Value, json};
use support::{
    BatchingSink, Connect, FreezableProxy, Settings, Stopped, config_yaml, counts, create_queue,
    create_with_dlq, ct_queue_sink, customer_id_of, delete_queues, endpoint, eventually,
    sqs_client, write_config,
};

/// One SQS test at a time (they share one single-process server).
static SQS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every commercetools customer is in Fluent exactly once, with its email.
fn assert_every_customer_once(ct: &CommercetoolsEmulator, fluent: &FluentEmulator) {
    let customers = ct.customers();
    for customer in &customers {
        assert_eq!(
            fluent.create_count(&customer.id),
            1,
            "customer {} must be created in Fluent exactly once",
            customer.id
        );
        let synced = fluent
            .customer(&customer.id)
            .unwrap_or_else(|| panic!("customer {} is not in Fluent", customer.id));
        assert_eq!(
            synced.primary_email.as_deref(),
            Some(customer.email.as_str()),
            "customer {}",
            customer.id
        );
    }
    assert_eq!(
        fluent.customers().len(),
        customers.len(),
        "Fluent holds exactly the commercetools customers"
    );
}

/// Waits until Fluent holds `n` customers.
async fn until_in_fluent(
    fluent: &FluentEmulator,
    n: usize,
    limit: Duration,
    children: &[&Connect],
) {
    eventually(
        &format!("{n} customers in Fluent"),
        limit,
        || async {
            for child in children {
                child.assert_running();
            }
            (fluent.customers().len() >= n).then_some(())
        },
        || {
            let logs: Vec<String> = children.iter().map(|c| c.log_tail(15)).collect();
            format!(
                "{} are there\n{}",
                fluent.customers().len(),
                logs.join("\n")
            )
        },
    )
    .await;
}

/// Waits until the queues hold no message at all (every delivery deleted).
async fn until_empty(sqs: &connect_sqs::aws_sdk_sqs::Client, urls: &[&str], limit: Duration) {
    eventually(
        "the queues to be empty",
        limit,
        || async {
            for url in urls {
                if counts(sqs, url).await.unwrap().total() > 0 {
                    return None;
                }
            }
            Some(())
        },
        String::new,
    )
    .await;
    for url in urls {
        assert_eq!(counts(sqs, url).await.unwrap().total(), 0, "{url}");
    }
}

/// Creates `n` customers in commercetools (their notifications go to the
/// subscription), keeping at most `window` of them not yet in Fluent: a
/// steady stream rather than one burst. The local SQS server scans a
/// queue's whole list on every call, so a backlog of a thousand messages
/// would make it, not the connector, the slowest part of the test.
async fn create_customers(
    ct: &CommercetoolsEmulator,
    fluent: &FluentEmulator,
    n: usize,
    window: usize,
    draft: impl Fn(usize) -> CustomerDraft,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    for i in 0..n {
        if i % 10 == 0 {
            while i.saturating_sub(fluent.customers().len()) >= window {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the connector stopped making progress: {} of {i} created customers are in Fluent",
                    fluent.customers().len()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        ct.insert_customer(draft(i)).await.unwrap();
    }
}

// ---------------------------------------------------------------------
// 1. commercetools → EventBridge → SQS → connect → Fluent
// ---------------------------------------------------------------------

/// Calls one EventBridge action of the local server.
async fn eventbridge(http: &reqwest::Client, action: &str, body: Value) -> Value {
    let response = http
        .post(format!("{}/", endpoint()))
        .header("X-Amz-Target", format!("AWSEvents.{action}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        // The local server routes by the credential scope's service name;
        // it does not check the signature.
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/events/aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("EventBridge {action}: {e}"))
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "EventBridge {action}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The commercetools side of the EventBridge integration: each payload of
/// the subscription becomes a partner event, as commercetools puts it on
/// the partner event bus.
struct EventBridgeDestination {
    http: reqwest::Client,
    source: String,
}

#[connect_core::async_trait]
impl Sink<RawPayload> for EventBridgeDestination {
    async fn send(&self, item: RawPayload) -> Result<(), QueueError> {
        let detail: Value = serde_json::from_str(&item.body)
            .map_err(|e| QueueError::Codec(format!("a subscription payload is not JSON: {e}")))?;
        let detail_type = detail["notificationType"]
            .as_str()
            .ok_or_else(|| QueueError::Codec("no notificationType".to_owned()))?
            .to_owned();
        let answer = eventbridge(
            &self.http,
            "PutEvents",
            json!({ "Entries": [{
                "Source": self.source,
                "DetailType": detail_type,
                "Detail": item.body,
            }]}),
        )
        .await;
        if answer["FailedEntryCount"] != 0 {
            return Err(QueueError::backend(
                "PutEvents failed",
                format!("EventBridge refused the event: {answer}"),
            ));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn eventbridge_to_sqs_to_connect_to_fluent() {
    let _serial = SQS.lock().await;
    let sqs = sqs_client();
    let ct = CommercetoolsEmulator::builder()
        .project_key("fluent-ct-e2e")
        .start()
        .await
        .unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let (ct_queue, ct_dlq) = create_with_dlq(&sqs, "e2e-eb-ct", false, 10).await.unwrap();
    let (event_queue, event_dlq) = create_with_dlq(&sqs, "e2e-eb-events", false, 10)
        .await
        .unwrap();
    let letters = create_queue(&sqs, "e2e-eb-letters", false).await.unwrap();

    // The rule commercetools' EventBridge setup needs: every partner event
    // of commercetools goes to the CT queue.
    let http = reqwest::Client::new();
    let rule = support::unique("e2e-ct-rule");
    eventbridge(
        &http,
        "PutRule",
        json!({
            "Name": rule,
            "EventPattern": json!({ "source": [{ "prefix": "aws.partner/commercetools.com" }] }).to_string(),
            "State": "ENABLED",
        }),
    )
    .await;
    eventbridge(
        &http,
        "PutTargets",
        json!({ "Rule": rule, "Targets": [{ "Id": "ct-queue", "Arn": ct_queue.arn }] }),
    )
    .await;
    let source = format!(
        "aws.partner/commercetools.com/{}/customer-sync",
        ct.project_key()
    );
    ct.subscribe(
        Arc::new(EventBridgeDestination {
            http: http.clone(),
            source: source.clone(),
        }),
        NotificationFormat::ChangeNotifications,
    );
    // An event of another source does not match the rule; if it reached the
    // CT queue, the connector would dead-letter its empty detail.
    eventbridge(
        &http,
        "PutEvents",
        json!({ "Entries": [{ "Source": "com.example.orders", "DetailType": "ResourceCreated", "Detail": "{}" }] }),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "connector.yml",
        &config_yaml(
            &ct,
            &fluent,
            &Settings {
                ct_url: ct.api_url(),
                ct_queue: ct_queue.url.clone(),
                event_queue: Some(event_queue.url.clone()),
                dead_letters: letters.url.clone(),
                visibility_timeout: Duration::from_secs(30),
                concurrency: 8,
            },
        ),
    );
    let connect = Connect::run("connect", dir.path(), &config);

    // Customers are created and changed through the commercetools API.
    let client = ct.client().unwrap();
    let mut created = Vec::new();
    for n in 0..20 {
        let draft = CustomerDraft::new(format!("eb-{n:02}@example.com"))
            .with_password("secret")
            .with_name(format!("First{n}"), format!("Last{n}"));
        created.push(client.create_customer(&draft).await.unwrap());
    }
    until_in_fluent(&fluent, 20, Duration::from_secs(60), &[&connect]).await;
    connect.assert_running();

    let changed = &created[3];
    client
        .update_customer(
            &changed.id,
            changed.version,
            vec![CustomerUpdateAction::ChangeEmail {
                email: "eb-03-new@example.com".to_owned(),
            }],
        )
        .await
        .unwrap();
    eventually(
        "the email change in Fluent",
        Duration::from_secs(30),
        || async {
            connect.assert_running();
            let customer = fluent.customer(&changed.id)?;
            (customer.primary_email.as_deref() == Some("eb-03-new@example.com")).then_some(())
        },
        || connect.log_tail(15),
    )
    .await;

    assert_eq!(ct.stats().notifications, 21, "20 creations and 1 change");
    assert_every_customer_once(&ct, &fluent);
    assert_eq!(fluent.update_count(&changed.id), 1);
    let first = fluent.customer(&created[0].id).unwrap();
    assert_eq!(first.first_name.as_deref(), Some("First0"));
    assert_eq!(first.last_name.as_deref(), Some("Last0"));

    until_empty(
        &sqs,
        &[&ct_queue.url, &event_queue.url],
        Duration::from_secs(20),
    )
    .await;
    let finished = connect.terminate(Duration::from_secs(20)).await;
    assert!(finished.status.success(), "{finished:?}");
    let stopped = Stopped::parse(&finished.stdout);
    assert_eq!(
        stopped.received, 21,
        "only the rule's events arrived: {stopped:?}"
    );
    assert_eq!(stopped.succeeded, 21, "{stopped:?}");
    assert_eq!(stopped.dead_lettered, 0, "{stopped:?}");
    for queue in [&ct_dlq, &event_dlq, &letters] {
        assert_eq!(
            counts(&sqs, &queue.url).await.unwrap().total(),
            0,
            "{}",
            queue.url
        );
    }

    // A rule left behind would target a deleted queue.
    eventbridge(
        &http,
        "RemoveTargets",
        json!({ "Rule": rule, "Ids": ["ct-queue"] }),
    )
    .await;
    eventbridge(&http, "DeleteRule", json!({ "Name": rule })).await;
    delete_queues(
        &sqs,
        &[&ct_queue, &ct_dlq, &event_queue, &event_dlq, &letters],
    )
    .await;
}

// ---------------------------------------------------------------------
// 2. Two instances share one queue: 1,000 customers, each once
// ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn two_instances_on_one_queue_sync_1000_customers_once_each() {
    const CUSTOMERS: usize = 1_000;
    const WINDOW: usize = 100;
    let _serial = SQS.lock().await;
    let sqs = sqs_client();
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    // The CT queue is standard (commercetools' SQS destination must be); the
    // event queue is FIFO, as docs/deployment.md recommends for replicas:
    // its message group is the customer id, so one customer's messages stay
    // in order across both instances while customers flow in parallel.
    let (ct_queue, ct_dlq) = create_with_dlq(&sqs, "e2e-two-ct", false, 10)
        .await
        .unwrap();
    let (event_queue, event_dlq) = create_with_dlq(&sqs, "e2e-two-events", true, 10)
        .await
        .unwrap();
    let letters = create_queue(&sqs, "e2e-two-letters", false).await.unwrap();
    let feeder = Arc::new(BatchingSink::start(&sqs, &ct_queue.url).await);
    ct.subscribe(feeder.clone(), NotificationFormat::ChangeNotifications);

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "connector.yml",
        &config_yaml(
            &ct,
            &fluent,
            &Settings {
                ct_url: ct.api_url(),
                ct_queue: ct_queue.url.clone(),
                event_queue: Some(event_queue.url.clone()),
                dead_letters: letters.url.clone(),
                visibility_timeout: Duration::from_secs(30),
                concurrency: 16,
            },
        ),
    );
    let a = Connect::run("connect-a", dir.path(), &config);
    let b = Connect::run("connect-b", dir.path(), &config);

    let started = tokio::time::Instant::now();
    create_customers(&ct, &fluent, CUSTOMERS, WINDOW, |n| {
        CustomerDraft::new(format!("two-{n:04}@example.com")).with_name("Two", format!("N{n}"))
    })
    .await;
    feeder.flushed(Duration::from_secs(60)).await;
    let fed = started.elapsed();
    until_in_fluent(&fluent, CUSTOMERS, Duration::from_secs(150), &[&a, &b]).await;
    let synced = started.elapsed();
    a.assert_running();
    b.assert_running();
    until_empty(
        &sqs,
        &[&ct_queue.url, &event_queue.url],
        Duration::from_secs(30),
    )
    .await;

    assert_eq!(ct.customer_count(), CUSTOMERS);
    assert_eq!(ct.stats().notifications, CUSTOMERS as u64);
    assert_every_customer_once(&ct, &fluent);

    let a = Stopped::parse(&a.terminate(Duration::from_secs(20)).await.stdout);
    let b = Stopped::parse(&b.terminate(Duration::from_secs(20)).await.stdout);
    println!(
        "fed {CUSTOMERS} notifications in {fed:?}, all in Fluent after {synced:?}; a: {a:?}; b: {b:?}"
    );
    assert!(
        a.succeeded > 0 && b.succeeded > 0,
        "both instances share the work: a {a:?}, b {b:?}"
    );
    assert!(
        a.received + b.received >= CUSTOMERS as u64,
        "every notification was received: a {a:?}, b {b:?}"
    );
    assert!(
        a.succeeded + a.coalesced + b.succeeded + b.coalesced >= CUSTOMERS as u64,
        "a {a:?}, b {b:?}"
    );
    assert_eq!(a.dead_lettered + b.dead_lettered, 0, "a {a:?}, b {b:?}");
    for queue in [&ct_dlq, &event_dlq, &letters] {
        assert_eq!(
            counts(&sqs, &queue.url).await.unwrap().total(),
            0,
            "{}",
            queue.url
        );
    }
    delete_queues(
        &sqs,
        &[&ct_queue, &ct_dlq, &event_queue, &event_dlq, &letters],
    )
    .await;
}

// ---------------------------------------------------------------------
// 3. One instance SIGKILLed mid-flight; the other finishes, nothing lost
// ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn an_instance_killed_mid_flight_loses_nothing() {
    const CUSTOMERS: usize = 300;
    const VISIBILITY: Duration = Duration::from_secs(4);
    let _serial = SQS.lock().await;
    let sqs = sqs_client();
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    // Standard queues both (the other test covers a FIFO event queue); the
    // redrive policies stay unused: what the killed instance held comes back
    // by the visibility timeout, not through the dead-letter queues.
    let (ct_queue, ct_dlq) = create_with_dlq(&sqs, "e2e-kill-ct", false, 10)
        .await
        .unwrap();
    let (event_queue, event_dlq) = create_with_dlq(&sqs, "e2e-kill-events", false, 10)
        .await
        .unwrap();
    let letters = create_queue(&sqs, "e2e-kill-letters", false).await.unwrap();
    let feeder = Arc::new(BatchingSink::start(&sqs, &ct_queue.url).await);
    ct.subscribe(feeder.clone(), NotificationFormat::ChangeNotifications);
    // The victim reaches commercetools through a proxy that can hold its
    // requests, so that it is provably in the middle of handling messages
    // when it is killed.
    let proxy = FreezableProxy::start(&ct.api_url()).await;

    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        ct_url: ct.api_url(),
        ct_queue: ct_queue.url.clone(),
        event_queue: Some(event_queue.url.clone()),
        dead_letters: letters.url.clone(),
        visibility_timeout: VISIBILITY,
        concurrency: 8,
    };
    let survivor_config = write_config(
        dir.path(),
        "survivor.yml",
        &config_yaml(&ct, &fluent, &settings),
    );
    let victim_config = write_config(
        dir.path(),
        "victim.yml",
        &config_yaml(
            &ct,
            &fluent,
            &Settings {
                ct_url: proxy.url().to_owned(),
                ..settings.clone()
            },
        ),
    );
    let survivor = Connect::run("survivor", dir.path(), &survivor_config);
    let mut victim = Connect::run("victim", dir.path(), &victim_config);

    for n in 0..CUSTOMERS {
        ct.insert_customer(CustomerDraft::new(format!("kill-{n:03}@example.com")))
            .await
            .unwrap();
    }
    feeder.flushed(Duration::from_secs(60)).await;
    until_in_fluent(&fluent, 40, Duration::from_secs(60), &[&survivor, &victim]).await;
    victim.assert_running();

    // From now on the victim's handlers hang in their commercetools call.
    proxy.freeze();
    let held = eventually(
        "the victim to be handling messages",
        Duration::from_secs(20),
        || async {
            let held: BTreeSet<String> = proxy
                .held()
                .iter()
                .filter_map(|line| customer_id_of(line))
                .collect();
            (!held.is_empty()).then_some(held)
        },
        || format!("held: {:?}\n{}", proxy.held(), victim.log_tail(15)),
    )
    .await;
    let status = victim.kill().await;
    let at_kill = fluent.customers().len();
    assert!(!status.success(), "SIGKILL ends the victim: {status}");
    assert!(
        at_kill < CUSTOMERS * 9 / 10,
        "the victim is killed well before the end: {at_kill} of {CUSTOMERS} are in Fluent"
    );
    // What the victim held is not in Fluent, unless its message came back
    // to the survivor meanwhile (on a starved machine the victim's
    // visibility heartbeat can be late; delivery is at least once). At
    // least one held customer must still be only in the victim's hands, or
    // the kill proves nothing.
    let (held, taken_over): (BTreeSet<String>, BTreeSet<String>) = held
        .into_iter()
        .partition(|id| fluent.customer(id).is_none());
    assert!(
        !held.is_empty(),
        "every customer the victim held was handled by the survivor meanwhile: {taken_over:?}"
    );

    until_in_fluent(&fluent, CUSTOMERS, Duration::from_secs(90), &[&survivor]).await;
    survivor.assert_running();
    until_empty(
        &sqs,
        &[&ct_queue.url, &event_queue.url],
        Duration::from_secs(30),
    )
    .await;
    assert_every_customer_once(&ct, &fluent);
    for id in &held {
        assert_eq!(
            fluent.create_count(id),
            1,
            "customer {id}, held by the victim"
        );
    }

    let finished = survivor.terminate(Duration::from_secs(20)).await;
    assert!(finished.status.success(), "{finished:?}");
    let stopped = Stopped::parse(&finished.stdout);
    println!(
        "victim killed holding {} fetches ({} more taken over by the survivor before) with {at_kill} of {CUSTOMERS} in Fluent; survivor: {stopped:?}",
        held.len(),
        taken_over.len()
    );
    assert!(
        stopped.succeeded + stopped.coalesced > 0 && stopped.dead_lettered == 0,
        "{stopped:?}"
    );
    for queue in [&ct_dlq, &event_dlq, &letters] {
        assert_eq!(
            counts(&sqs, &queue.url).await.unwrap().total(),
            0,
            "{}",
            queue.url
        );
    }
    delete_queues(
        &sqs,
        &[&ct_queue, &ct_dlq, &event_queue, &event_dlq, &letters],
    )
    .await;
}

// ---------------------------------------------------------------------
// 4. validate, and dead letters in SQS
// ---------------------------------------------------------------------

/// A configuration with SQS queues; `connect validate` connects to nothing,
/// so this runs without the local server.
const SQS_CONFIG: &str = r#"connector-name: validate-sqs
commercetools:
  project-key: shop
  client-id: id
  client-secret: ${CT_SECRET:-secret}
  auth-url: http://127.0.0.1:9/
  api-url: http://127.0.0.1:9/
fluent:
  base-url: http://127.0.0.1:9
  account: ACME
  retailer-id: 1
  client-id: ACME
  client-secret: s
  username: u
  password: p
listeners:
  ct-queue:
    type: sqs
    queue-url: http://127.0.0.1:9/123456789012/ct-events
    region: us-east-1
    endpoint-url: http://127.0.0.1:9
    wait-time: 1s
    visibility-timeout: 30s
event-queue:
  type: sqs
  queue-url: http://127.0.0.1:9/123456789012/events.fifo
  region: us-east-1
  endpoint-url: http://127.0.0.1:9
runtime:
  concurrency: 4
  dead-letter:
    type: sqs
    queue-url: http://127.0.0.1:9/123456789012/letters
    region: us-east-1
    endpoint-url: http://127.0.0.1:9
route-mapping:
  customer: commercetools.connect.customer.upsert
routes:
  - route: commercetools.connect.customer.upsert
    handler: CommercetoolsCustomerUpsert
    inclusion-filter: [ResourceCreated, ResourceUpdated]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_accepts_an_sqs_config_and_rejects_an_unknown_key_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(dir.path(), "good.yml", SQS_CONFIG);
    let finished = Connect::output(
        "validate-good",
        dir.path(),
        &["validate", "--config", good.to_str().unwrap()],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(finished.status.code(), Some(0), "{finished:?}");
    assert!(finished.stdout.contains("is valid"), "{finished:?}");
    assert!(
        finished
            .stdout
            .contains("ct-queue: sqs, event-queue: sqs, dead letters: sqs"),
        "{finished:?}"
    );

    // A misspelt key in the CT queue block.
    let bad_yaml = SQS_CONFIG.replace(
        "    wait-time: 1s\n",
        "    wait-time: 1s\n    wait-tme: 2s\n",
    );
    let line = bad_yaml
        .lines()
        .position(|l| l.contains("wait-tme"))
        .unwrap()
        + 1;
    let bad = write_config(dir.path(), "bad.yml", &bad_yaml);
    let finished = Connect::output(
        "validate-bad",
        dir.path(),
        &["validate", "--config", bad.to_str().unwrap()],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(finished.status.code(), Some(2), "{finished:?}");
    assert!(finished.stderr.contains("wait-tme"), "{finished:?}");
    assert!(
        finished.stderr.contains(&format!("bad.yml:{line}")),
        "stderr names the line ({line}): {finished:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn dead_letters_list_shows_a_poison_message_from_an_sqs_store() {
    let _serial = SQS.lock().await;
    let sqs = sqs_client();
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let ct_queue = create_queue(&sqs, "e2e-poison-ct", false).await.unwrap();
    let letters = create_queue(&sqs, "e2e-poison-letters", false)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "connector.yml",
        &config_yaml(
            &ct,
            &fluent,
            &Settings {
                ct_url: ct.api_url(),
                ct_queue: ct_queue.url.clone(),
                event_queue: None,
                dead_letters: letters.url.clone(),
                visibility_timeout: Duration::from_secs(30),
                concurrency: 4,
            },
        ),
    );
    let connect = Connect::run("connect", dir.path(), &config);
    let poison = "{\"notificationType\": \"ResourceCreated\", \"resource\": ";
    ct_queue_sink(&sqs, &ct_queue.url)
        .await
        .send(RawPayload::new(poison))
        .await
        .unwrap();
    eventually(
        "the poison message in the dead-letter queue",
        Duration::from_secs(30),
        || async {
            connect.assert_running();
            (counts(&sqs, &letters.url).await.unwrap().visible == 1).then_some(())
        },
        || connect.log_tail(15),
    )
    .await;
    until_empty(&sqs, &[&ct_queue.url], Duration::from_secs(20)).await;
    let finished = connect.terminate(Duration::from_secs(20)).await;
    assert!(finished.status.success(), "{finished:?}");
    let stopped = Stopped::parse(&finished.stdout);
    assert_eq!(
        (stopped.malformed, stopped.dead_lettered),
        (1, 0),
        "{stopped:?}"
    );

    let config_arg = config.to_str().unwrap();
    let table = Connect::output(
        "list",
        dir.path(),
        &["dead-letters", "list", "--config", config_arg],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(table.status.code(), Some(0), "{table:?}");
    assert!(table.stdout.contains("unparseable"), "{table:?}");
    assert!(table.stdout.contains("1 dead letter(s)"), "{table:?}");

    let json_lines = Connect::output(
        "list-json",
        dir.path(),
        &["dead-letters", "list", "--json", "--config", config_arg],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(json_lines.status.code(), Some(0), "{json_lines:?}");
    let letters_listed: Vec<Value> = json_lines
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters_listed.len(), 1, "{json_lines:?}");
    assert_eq!(letters_listed[0]["kind"], "unparseable");
    assert_eq!(letters_listed[0]["raw"], poison, "the raw body is kept");
    // Listing does not consume: the letter is still in its queue.
    eventually(
        "the letter to be visible again after listing",
        Duration::from_secs(20),
        || async { (counts(&sqs, &letters.url).await.unwrap().visible == 1).then_some(()) },
        String::new,
    )
    .await;
    assert_eq!(fluent.customers().len(), 0);
    delete_queues(&sqs, &[&ct_queue, &letters]).await;
}
