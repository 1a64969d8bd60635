#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every log line about a message carries the message's id, route,
//! handler, resource id and attempt, in the text and the JSON format alike:
//! the runtime's own lines and those of the clients and the handler, such
//! as the Fluent client's retry warning. Only lines about the connector as
//! a whole (starting, stopping) carry none.
//!
//! Each test runs on one thread with a subscriber of its own, so every line
//! of the connector and of the emulators it talks to is captured.

#[path = "../../connect-runner/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Harness, ROUTE, yaml_with_filter};
use connect_cli::{LogFormat, log_subscriber};
use connect_commercetools::CustomerDraft;
use connect_core::queue::MemoryQueue;
use connect_core::runtime::Shutdown;
use connect_testkit::Fault;
use connect_testkit::commercetools::{CommercetoolsEmulator, NotificationFormat};
use connect_testkit::fluent::FluentEmulator;
use serde_json::Value;

const FILTER: &str = "warn,connect_core=debug,connect_runner=debug,connect_fluent=debug,connect_commercetools=debug,connect_customer_sync=debug";
const FIELDS: [&str; 5] = ["message_id", "route", "handler", "resource_id", "attempt"];
const RETRY_WARNING: &str = "Fluent call failed; retrying";

/// Log lines written to memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Syncs two customers (one Fluent call answered 503 and retried) and
/// a deletion the route filters out, with `format` logs captured.
async fn sync_with_logs(format: LogFormat) -> Vec<String> {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = log_subscriber(Some(FILTER), format, move || writer.clone()).unwrap();
    let _default = tracing::subscriber::set_default(subscriber);

    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let ct_queue = MemoryQueue::new("ct-queue", 100);
    ct.subscribe(
        Arc::new(ct_queue.clone()),
        NotificationFormat::ChangeNotifications,
    );
    let yaml = yaml_with_filter("[ResourceCreated, ResourceUpdated]", "");
    let (connector, _) = Harness::connector_yaml(&ct, &fluent, yaml, ct_queue.clone()).await;
    let metrics = connector.metrics();
    let listener = connector.listener_metrics();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(connector.run(shutdown.clone()));

    fluent
        .faults()
        .inject_for("/graphql", Fault::unavailable(), 1);
    let first = ct
        .insert_customer(CustomerDraft::new("logged-1@example.com"))
        .await
        .unwrap();
    connect_testkit::wait_idle(&ct_queue, &listener, &metrics, Duration::from_secs(20))
        .await
        .unwrap();
    ct.insert_customer(CustomerDraft::new("logged-2@example.com"))
        .await
        .unwrap();
    ct.delete_customer(&first.id).await.unwrap();
    let m = connect_testkit::wait_idle(&ct_queue, &listener, &metrics, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!((m.succeeded, m.filtered), (2, 1), "{m:?}");
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap();
    captured.lines()
}

/// Lines about the connector as a whole; every other line is about one
/// message.
const CONNECTOR_WIDE: [&str; 3] = ["connector starting", "runtime stopped", "connector stopped"];

#[tokio::test]
async fn json_lines_of_a_message_carry_its_fields() {
    let lines = sync_with_logs(LogFormat::Json).await;
    let mut checked = Vec::new();
    for line in &lines {
        let json: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let text = json["message"].as_str().unwrap_or("");
        if CONNECTOR_WIDE.contains(&text) {
            continue;
        }
        for field in FIELDS {
            // Inside the message span, or on the line itself.
            let value = json["span"]
                .get(field)
                .or_else(|| json.get(field))
                .unwrap_or_else(|| panic!("no `{field}` in: {line}"));
            assert_ne!(value, "", "empty `{field}` in: {line}");
        }
        assert!(
            json["span"]["route"] == ROUTE || json["route"] == ROUTE,
            "{line}"
        );
        checked.push(text.to_owned());
    }
    for expected in [
        RETRY_WARNING,
        "handled",
        "filtered by the route's inclusion filter",
        "commercetools request",
        "obtained a Fluent access token",
    ] {
        assert!(
            checked.iter().any(|t| t == expected),
            "no line `{expected}` was checked; lines:\n{}",
            lines.join("\n")
        );
    }
}

#[tokio::test]
async fn text_lines_of_a_message_carry_its_fields() {
    let lines = sync_with_logs(LogFormat::Text).await;
    let about: Vec<&String> = lines
        .iter()
        .filter(|line| {
            [
                RETRY_WARNING,
                "commercetools request",
                " handled ",
                "filtered by the route's inclusion filter",
            ]
            .iter()
            .any(|text| line.contains(text))
        })
        .collect();
    assert!(about.len() >= 4, "{}", lines.join("\n"));
    assert!(about.iter().any(|line| line.contains(RETRY_WARNING)));
    for line in about {
        for field in FIELDS {
            assert!(
                line.contains(&format!("{field}=")),
                "no `{field}` in: {line}"
            );
        }
        assert!(line.contains(&format!("route=\"{ROUTE}\"")), "{line}");
        assert!(
            line.contains("handler=\"CommercetoolsCustomerUpsert\""),
            "{line}"
        );
    }
}

#[tokio::test]
async fn an_outage_is_logged_once_when_it_starts_and_once_when_it_ends() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = log_subscriber(Some("info"), LogFormat::Json, move || writer.clone()).unwrap();
    let _default = tracing::subscriber::set_default(subscriber);

    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let ct_queue = MemoryQueue::new("ct-queue", 100);
    ct.subscribe(
        Arc::new(ct_queue.clone()),
        NotificationFormat::ChangeNotifications,
    );
    let yaml = common::yaml("").replace(
        "  shutdown-timeout: 5s\n",
        "  shutdown-timeout: 5s\n  circuit-breaker: { initial: 20ms, max: 100ms }\n",
    );
    let (connector, _) = Harness::connector_yaml(&ct, &fluent, yaml, ct_queue.clone()).await;
    let metrics = connector.metrics();
    let listener = connector.listener_metrics();
    let health = connector.health();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(connector.run(shutdown.clone()));

    // Fluent refuses every login while eight customers arrive.
    fluent.faults().inject_for(
        "/oauth/token",
        Fault::Status {
            status: 401,
            retry_after: None,
        },
        usize::MAX / 2,
    );
    for i in 0..8 {
        ct.insert_customer(CustomerDraft::new(format!("outage-{i}@example.com")))
            .await
            .unwrap();
    }
    metrics
        .wait_until(
            |m| m.received >= 8 && m.waiting >= 1,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    fluent.faults().clear();
    health
        .wait_until(|deps| deps.iter().all(|d| d.up), Duration::from_secs(10))
        .await
        .unwrap();
    let m = connect_testkit::wait_idle(&ct_queue, &listener, &metrics, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        (m.succeeded + m.coalesced, m.dead_lettered),
        (8, 0),
        "{m:?}"
    );
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap();

    let lines = captured.lines();
    let count = |text: &str| {
        lines
            .iter()
            .filter(|line| line.contains(text) && line.contains("\"dependency\":\"fluent\""))
            .count()
    };
    assert_eq!(count("dependency is down"), 1, "{}", lines.join("\n"));
    assert_eq!(count("dependency answers again"), 1, "{}", lines.join("\n"));
}
