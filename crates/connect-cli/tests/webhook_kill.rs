//! The webhook listener of `connect run`, broken on purpose: a sender in the
//! test POSTs `OrderStatus` webhooks signed with the Fluent emulator's key
//! (its public key is in the YAML) while Fluent answers slowly, and the
//! process is killed with SIGKILL or stopped with SIGTERM mid-stream, then a
//! new instance starts. The sender retries what was not answered 2xx, as
//! Fluent does, to whichever instance runs. Every order whose webhook was
//! answered 2xx must end up updated in commercetools: 0 lost.
//!
//! Both layouts: the in-memory event queue (a webhook is answered 2xx once
//! its handler finished: the orders answered by the stopped instance are
//! already updated when it stops), and an SQS event queue (answered once
//! sent: the restarted instance handles what the stopped one did not; these
//! tests need the local SQS server of `scripts/test.sh`). Also: `connect
//! validate` checks the webhook blocks without binding their port.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use connect_testkit::Fault;
use connect_testkit::commercetools::CommercetoolsEmulator;
use connect_testkit::fluent::{FluentEmulator, NewOrder, Webhook};
use serde_json::json;
use support::{Connect, REGION, Stopped, create_queue, eventually, sqs_client, write_config};
use tokio::sync::watch;

/// One test at a time: each runs two `connect` processes and a sender.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const ORDERS: usize = 120;
const ROUTE: &str = "fluent.connect.order.status";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Kill,
    Term,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    InMemory,
    Sqs,
}

/// The figures of one run.
#[derive(Debug)]
struct Figures {
    /// Webhooks the first instance answered 2xx before it stopped.
    answered_by_first: usize,
    /// Of those, orders already updated in commercetools when it stopped.
    updated_at_stop: usize,
    /// Webhooks answered 2xx in all (every one, by the end).
    answered: usize,
    /// Orders answered 2xx and updated in commercetools at the end.
    updated: usize,
    /// Attempts that were not answered 2xx (refused, 503, connection
    /// broken) and were sent again.
    resent: u64,
    /// The first instance's `stopped:` line (SIGTERM only).
    stopped: Option<Stopped>,
}

/// The test's stand-in for Fluent's webhook delivery: signed POSTs of
/// `OrderStatus` webhooks; whatever is not answered 2xx is sent again (same
/// webhook id) after a short pause, to the instance that runs then.
struct Sender {
    /// (instance number, webhook URL) of the instance that runs, if any.
    target: watch::Sender<Option<(usize, String)>>,
    /// Order ref → the instance that answered its webhook 2xx.
    answered: Arc<Mutex<BTreeMap<String, usize>>>,
    resent: Arc<AtomicU64>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Sender {
    fn start(fluent: &FluentEmulator, webhooks: &[Webhook], concurrency: usize) -> Self {
        let (target, _) = watch::channel(None);
        let answered = Arc::new(Mutex::new(BTreeMap::new()));
        let resent = Arc::new(AtomicU64::new(0));
        let http = reqwest::Client::new();
        let signed: VecDeque<(String, Vec<u8>, String)> = webhooks
            .iter()
            .map(|w| {
                let body = w.body();
                let signature = fluent.sign(&body).unwrap();
                (w.entity_ref.clone(), body, signature)
            })
            .collect();
        let signed = Arc::new(Mutex::new(signed));
        let workers = (0..concurrency)
            .map(|_| {
                let signed = Arc::clone(&signed);
                let answered = Arc::clone(&answered);
                let resent = Arc::clone(&resent);
                let mut target = target.subscribe();
                let http = http.clone();
                tokio::spawn(async move {
                    loop {
                        let Some((reference, body, signature)) = signed.lock().unwrap().pop_front()
                        else {
                            return;
                        };
                        loop {
                            let Ok((instance, url)) = target
                                .wait_for(Option::is_some)
                                .await
                                .map(|current| current.clone().unwrap())
                            else {
                                return;
                            };
                            let sent = http
                                .post(&url)
                                .header("content-type", "application/json")
                                .header("fluent-signature", &signature)
                                .timeout(Duration::from_secs(14))
                                .body(body.clone())
                                .send()
                                .await;
                            match sent {
                                Ok(response) if response.status().is_success() => {
                                    answered.lock().unwrap().insert(reference.clone(), instance);
                                    break;
                                }
                                Ok(response) => {
                                    // A 4xx would end Fluent's delivery: it means
                                    // the test is wrong, not the connector.
                                    let status = response.status();
                                    assert!(
                                        status.is_server_error(),
                                        "webhook {reference} answered {status}: {}",
                                        response.text().await.unwrap_or_default()
                                    );
                                }
                                Err(_) => {}
                            }
                            resent.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        // Paced, so that a stop comes mid-stream.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                })
            })
            .collect();
        Self {
            target,
            answered,
            resent,
            workers,
        }
    }

    fn point_at(&self, target: Option<(usize, String)>) {
        self.target.send_replace(target);
    }

    fn answered(&self) -> BTreeMap<String, usize> {
        self.answered.lock().unwrap().clone()
    }

    async fn finished(self, limit: Duration) {
        for worker in self.workers {
            tokio::time::timeout(limit, worker)
                .await
                .expect("every webhook answered 2xx in time")
                .unwrap();
        }
    }
}

fn yaml(
    ct: &CommercetoolsEmulator,
    fluent: &FluentEmulator,
    public_key: &str,
    event_queue: Option<&str>,
) -> String {
    let fl = fluent.config();
    let pk = ct.project_key();
    let event_queue = match event_queue {
        Some(url) => format!(
            "  type: sqs\n  queue-url: {url}\n  region: {REGION}\n  endpoint-url: {endpoint}\n  wait-time: 1s\n  batch-size: 10\n  visibility-timeout: 3s\n",
            endpoint = support::endpoint()
        ),
        None => "  type: in-memory\n".to_owned(),
    };
    format!(
        r#"connector-name: webhook-kill
commercetools:
  project-key: {pk}
  client-id: {ct_client}
  client-secret: {ct_secret}
  auth-url: {ct_url}
  api-url: {ct_url}
  scopes: [view_orders:{pk}, manage_orders:{pk}]
  request-timeout: 30s
  retry-initial-backoff: 10ms
fluent:
  base-url: {fl_url}
  account: {fl_account}
  retailer-id: "{fl_retailer}"
  client-id: {fl_client}
  client-secret: {fl_secret}
  username: {fl_user}
  password: {fl_password}
  request-timeout: 10s
  retry-initial-backoff: 10ms
listeners:
  ct-queue:
    type: in-memory
  fluent-webhook:
    listen: 127.0.0.1:0
    public-keys: ["{public_key}"]
    answer-timeout: 5s
    max-connections: 64
event-queue:
{event_queue}runtime:
  concurrency: 4
  max-attempts: 5
  backoff: {{ initial: 50ms, max: 1s }}
  shutdown-timeout: 5s
webhook-mapping:
  OrderStatus: {ROUTE}
routes:
  - route: {ROUTE}
    handler: FluentOrderStatusUpdate
    props:
      order-lookup: order-number
      order-state-mapping: {{ RECEIVED: Open, BOOKED: Confirmed }}
"#,
        ct_client = ct.client_id(),
        ct_secret = ct.client_secret(),
        ct_url = ct.api_url(),
        fl_url = fl.base_url,
        fl_account = fl.account,
        fl_retailer = fl.retailer_id,
        fl_client = fl.client_id,
        fl_secret = fl.client_secret.expose(),
        fl_user = fl.username,
        fl_password = fl.password.expose(),
    )
}

/// Waits for the `webhooks: http://...` line a `connect run` prints once
/// its listener is bound; returns the webhook URL.
async fn webhook_url(connect: &Connect, stdout: &Path) -> String {
    eventually(
        "the webhook listener to be bound",
        Duration::from_secs(20),
        || async {
            connect.assert_running();
            let text = std::fs::read_to_string(stdout).unwrap_or_default();
            text.lines()
                .find_map(|l| l.strip_prefix("webhooks: "))
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned)
        },
        || connect.log_tail(20),
    )
    .await
}

/// The refs of the commercetools orders in `Confirmed`.
fn confirmed(ct: &CommercetoolsEmulator, ids: &BTreeMap<String, String>) -> Vec<String> {
    ids.iter()
        .filter(|(_, id)| {
            ct.resource("order", id)
                .is_some_and(|o| o["orderState"] == "Confirmed")
        })
        .map(|(reference, _)| reference.clone())
        .collect()
}

async fn stop_mid_stream_then_restart(layout: Layout, stop: Stop) -> Figures {
    let _serial = SERIAL.lock().await;
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let event_queue = match layout {
        Layout::InMemory => None,
        Layout::Sqs => Some(
            create_queue(&sqs_client(), "webhook-events", false)
                .await
                .unwrap(),
        ),
    };

    // Orders booked in Fluent, still open in commercetools.
    let mut ids = BTreeMap::new();
    let mut webhooks = Vec::new();
    for n in 0..ORDERS {
        let reference = format!("HD_{n:04}");
        let order = fluent
            .insert_order(&NewOrder::new(&reference, "RECEIVED"))
            .unwrap();
        let fluent_id = order["id"].as_str().unwrap().to_owned();
        let order = fluent.set_order_status(&fluent_id, "BOOKED").unwrap();
        webhooks.push(Webhook::order_status(&fluent.config().account, &order));
        let created = ct
            .insert_resource_silently(
                "order",
                json!({ "orderNumber": reference, "lineItems": [], "totalPrice": { "type": "centPrecision", "currencyCode": "EUR", "centAmount": 1000, "fractionDigits": 2 } }),
            )
            .unwrap();
        ids.insert(reference, created["id"].as_str().unwrap().to_owned());
    }
    // A slow Fluent: every GraphQL call (the handler's `orderById`) takes
    // 200 ms, so handlers are busy when the process stops.
    fluent.faults().inject_for(
        "/graphql",
        Fault::Delay(Duration::from_millis(200)),
        100_000,
    );

    let dir = tempfile::tempdir().unwrap();
    let public_key = fluent.public_key_base64().unwrap();
    let config = write_config(
        dir.path(),
        "webhooks.yml",
        &yaml(
            &ct,
            &fluent,
            &public_key,
            event_queue.as_ref().map(|q| q.url.as_str()),
        ),
    );
    let mut first = Connect::run("first", dir.path(), &config);
    let url = webhook_url(&first, &dir.path().join("first.stdout")).await;
    let sender = Sender::start(&fluent, &webhooks, 8);
    sender.point_at(Some((1, url)));
    eventually(
        "the first instance to answer some webhooks",
        Duration::from_secs(30),
        || async {
            first.assert_running();
            (sender.answered().len() >= ORDERS / 5).then_some(())
        },
        || first.log_tail(20),
    )
    .await;

    let stopped = match stop {
        Stop::Kill => {
            let status = first.kill().await;
            assert!(!status.success(), "SIGKILL ends it: {status}");
            None
        }
        Stop::Term => {
            let finished = first.terminate(Duration::from_secs(20)).await;
            assert!(finished.status.success(), "{finished:?}");
            Some(Stopped::parse(&finished.stdout))
        }
    };
    sender.point_at(None);
    if let (Layout::InMemory, Some(stopped)) = (layout, &stopped) {
        // SIGTERM let every request whose webhook the first instance
        // handled get its 2xx before the process exited (the sender may
        // still be reading the last answers).
        let by_first = || {
            sender
                .answered()
                .values()
                .filter(|instance| **instance == 1)
                .count() as u64
        };
        eventually(
            "every webhook handled by the first instance to be answered 2xx",
            Duration::from_secs(5),
            || async { (by_first() == stopped.succeeded).then_some(()) },
            || format!("{} answered, {stopped:?}", by_first()),
        )
        .await;
    }
    let by_first: Vec<String> = sender
        .answered()
        .into_iter()
        .filter(|(_, instance)| *instance == 1)
        .map(|(reference, _)| reference)
        .collect();
    let confirmed_at_stop = confirmed(&ct, &ids);
    let updated_at_stop = by_first
        .iter()
        .filter(|r| confirmed_at_stop.contains(r))
        .count();
    assert!(
        by_first.len() < ORDERS,
        "stopped mid-stream: {} of {ORDERS} answered",
        by_first.len()
    );
    if layout == Layout::InMemory {
        // Answered 2xx only once handled: nothing answered is pending.
        assert_eq!(
            updated_at_stop,
            by_first.len(),
            "in process, every webhook answered 2xx was handled before its answer"
        );
    }

    // A new instance (Fluent still slow): the sender re-sends what was not
    // answered 2xx, and with SQS the new instance handles what the first
    // one had queued but not handled.
    let second = Connect::run("second", dir.path(), &config);
    let url = webhook_url(&second, &dir.path().join("second.stdout")).await;
    sender.point_at(Some((2, url)));
    let resent = Arc::clone(&sender.resent);
    let answered_handle = Arc::clone(&sender.answered);
    sender.finished(Duration::from_secs(40)).await;
    let answered: Vec<String> = answered_handle.lock().unwrap().keys().cloned().collect();
    assert_eq!(
        answered.len(),
        ORDERS,
        "the sender got a 2xx for every order"
    );
    let updated = eventually(
        "every order answered 2xx to be updated in commercetools",
        Duration::from_secs(30),
        || async {
            let now = confirmed(&ct, &ids);
            let updated = answered.iter().filter(|r| now.contains(r)).count();
            (updated == answered.len()).then_some(updated)
        },
        || {
            format!(
                "{} of {} confirmed; {}",
                confirmed(&ct, &ids).len(),
                answered.len(),
                second.log_tail(20)
            )
        },
    )
    .await;
    let finished = second.terminate(Duration::from_secs(20)).await;
    assert!(finished.status.success(), "{finished:?}");
    let second_stopped = Stopped::parse(&finished.stdout);
    assert_eq!(second_stopped.dead_lettered, 0, "{second_stopped:?}");
    if let Some(queue) = &event_queue {
        let left = support::counts(&sqs_client(), &queue.url).await.unwrap();
        assert_eq!(left.total(), 0, "the event queue is empty: {left:?}");
    }
    let figures = Figures {
        answered_by_first: by_first.len(),
        updated_at_stop,
        answered: answered.len(),
        updated,
        resent: resent.load(Ordering::Relaxed),
        stopped,
    };
    println!("{layout:?} {stop:?}: {figures:?}");
    figures
}

fn assert_none_lost(figures: &Figures) {
    assert_eq!(figures.answered, ORDERS);
    assert_eq!(figures.updated, figures.answered, "0 lost: {figures:?}");
    assert!(figures.answered_by_first > 0, "{figures:?}");
    assert!(
        figures.updated_at_stop <= figures.answered_by_first,
        "{figures:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_sigkill_mid_stream_loses_no_webhook_answered_2xx() {
    let figures = stop_mid_stream_then_restart(Layout::InMemory, Stop::Kill).await;
    assert_none_lost(&figures);
    assert!(
        figures.resent > 0,
        "the kill broke requests, which were sent again: {figures:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_sigterm_mid_stream_answers_what_it_took_and_loses_nothing() {
    let figures = stop_mid_stream_then_restart(Layout::InMemory, Stop::Term).await;
    assert_none_lost(&figures);
    let stopped = figures.stopped.unwrap();
    assert_eq!(stopped.dead_lettered, 0, "{stopped:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn sqs_sigkill_mid_stream_loses_no_webhook_answered_2xx() {
    let figures = stop_mid_stream_then_restart(Layout::Sqs, Stop::Kill).await;
    assert_none_lost(&figures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn sqs_sigterm_mid_stream_loses_no_webhook_answered_2xx() {
    let figures = stop_mid_stream_then_restart(Layout::Sqs, Stop::Term).await;
    assert_none_lost(&figures);
    let stopped = figures.stopped.unwrap();
    assert_eq!(stopped.dead_lettered, 0, "{stopped:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_checks_the_webhook_blocks_without_taking_the_port() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The port is taken: `validate` must not need it.
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let yaml = yaml(&ct, &fluent, &fluent.public_key_base64().unwrap(), None)
        .replace("listen: 127.0.0.1:0", &format!("listen: 127.0.0.1:{port}"));
    let config = write_config(dir.path(), "webhooks.yml", &yaml);
    let path = config.to_str().unwrap();
    let finished = Connect::output(
        "validate",
        dir.path(),
        &["validate", "--config", path],
        Duration::from_secs(20),
    )
    .await;
    assert!(finished.status.success(), "{finished:?}");
    assert!(
        finished.stdout.contains(&format!(
            "fluent webhooks: 127.0.0.1:{port}/api/v1/fluent-connect/webhook (1 public key)"
        )),
        "{}",
        finished.stdout
    );
    assert!(
        finished
            .stdout
            .contains("OrderStatus webhooks → fluent.connect.order.status"),
        "{}",
        finished.stdout
    );

    // A mapping to a route that does not exist: exit 2, with its line.
    let bad = write_config(
        dir.path(),
        "bad.yml",
        &yaml.replace(
            &format!("OrderStatus: {ROUTE}"),
            "OrderStatus: fluent.connect.order.statuz",
        ),
    );
    let line = yaml
        .lines()
        .position(|l| l.trim() == format!("OrderStatus: {ROUTE}"))
        .unwrap()
        + 1;
    let finished = Connect::output(
        "bad",
        dir.path(),
        &["validate", "--config", bad.to_str().unwrap()],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(finished.status.code(), Some(2), "{finished:?}");
    assert!(
        finished.stderr.contains(&format!("bad.yml:{line}:"))
            && finished
                .stderr
                .contains("`fluent.connect.order.statuz`, which is not defined under `routes`"),
        "{}",
        finished.stderr
    );
    drop(taken);
}
