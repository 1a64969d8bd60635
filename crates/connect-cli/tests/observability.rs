//! `connect run` with an `observability` block serves `/metrics`,
//! `/health` and `/ready` until it stops; `connect validate` explains a
//! wrong `listen` with its position. No SQS needed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use connect_testkit::Sandbox;
use support::{Connect, eventually, write_config};

const ROUTE: &str = "commercetools.connect.customer.upsert";

fn yaml(sandbox: &Sandbox, dir: &Path, listen: &str) -> String {
    let ct = sandbox.commercetools.config();
    let fluent = sandbox.fluent.config();
    format!(
        r#"connector-name: observed
commercetools:
  project-key: {project}
  client-id: {ct_id}
  client-secret: {ct_secret}
  auth-url: {auth}
  api-url: {api}
fluent:
  base-url: {base}
  account: {account}
  retailer-id: "{retailer}"
  client-id: {fluent_id}
  client-secret: {fluent_secret}
  username: {username}
  password: {password}
runtime:
  dead-letter: {{ type: file, path: {letters} }}
route-mapping:
  customer: {ROUTE}
routes:
  - route: {ROUTE}
    handler: CommercetoolsCustomerUpsert
observability:
  listen: {listen}
"#,
        project = ct.project_key,
        ct_id = ct.client_id,
        ct_secret = ct.client_secret.expose(),
        auth = ct.auth_url,
        api = ct.api_url,
        base = fluent.base_url,
        account = fluent.account,
        retailer = fluent.retailer_id,
        fluent_id = fluent.client_id,
        fluent_secret = fluent.client_secret.expose(),
        username = fluent.username,
        password = fluent.password.expose(),
        letters = dir.join("dead-letters.jsonl").display(),
    )
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(url: &str) -> Option<(u16, String)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_metrics_health_and_readiness_until_it_stops() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let config = write_config(
        dir.path(),
        "observed.yml",
        &yaml(&sandbox, dir.path(), &listen),
    );
    let connector = Connect::run("observed", dir.path(), &config);

    // The process is outside the test: poll it, with a deadline.
    let ready = format!("http://{listen}/ready");
    let body = eventually(
        "/ready to answer 200",
        Duration::from_secs(30),
        || async {
            connector.assert_running();
            get(&ready).await.filter(|(status, _)| *status == 200)
        },
        || connector.log_tail(20),
    )
    .await
    .1;
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["intake"], "running", "{ready}");

    let (status, metrics) = get(&format!("http://{listen}/metrics")).await.unwrap();
    assert_eq!(status, 200);
    for line in [
        "connect_dependency_up{dependency=\"fluent\"} 1",
        "connect_dependency_up{dependency=\"commercetools\"} 1",
        "connect_build_info{connector=\"observed\",",
        "# TYPE connect_messages_total counter",
    ] {
        assert!(metrics.contains(line), "no `{line}` in:\n{metrics}");
    }
    let secret = sandbox.fluent.config().password;
    assert!(!metrics.contains(secret.expose()));
    let (status, _) = get(&format!("http://{listen}/health")).await.unwrap();
    assert_eq!(status, 200);

    let finished = connector.terminate(Duration::from_secs(20)).await;
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(
        finished
            .stderr
            .contains("serving /metrics, /health and /ready"),
        "{}",
        finished.stderr
    );
    assert!(
        get(&format!("http://{listen}/health")).await.is_none(),
        "the endpoint stops with the process"
    );
}

#[tokio::test]
async fn validate_names_a_listen_that_is_not_host_and_port() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "bad.yml", &yaml(&sandbox, dir.path(), "9464"));
    let finished = Connect::output(
        "validate",
        dir.path(),
        &["validate", "--config", config.to_str().unwrap()],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(finished.status.code(), Some(2), "{}", finished.stderr);
    assert!(
        finished
            .stderr
            .contains("bad.yml:24:11: observability.listen: `9464` is not host:port"),
        "{}",
        finished.stderr
    );
}
