#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The commercetools client against the local emulator: auth, retries,
//! errors, queries, the full scan, writes, and the configuration block.

use connect_commercetools::WithHttpSettings;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use connect_commercetools::{
    Address, CommercetoolsClient, CommercetoolsConfig, CustomerDraft, CustomerQuery, CustomerScan,
    CustomerUpdateAction, string_literal,
};
use connect_core::HandlerError;
use connect_core::config::ConfigDocument;
use connect_testkit::Fault;
use connect_testkit::commercetools::CommercetoolsEmulator;
use futures_util::StreamExt;

/// Fast retries so fault tests stay quick.
fn fast(config: CommercetoolsConfig) -> CommercetoolsConfig {
    config.with_retry_initial_backoff(Duration::from_millis(5))
}

async fn emulator() -> CommercetoolsEmulator {
    CommercetoolsEmulator::start().await.unwrap()
}

fn client_for(emulator: &CommercetoolsEmulator) -> CommercetoolsClient {
    CommercetoolsClient::new(fast(emulator.config())).unwrap()
}

fn customers_path(emulator: &CommercetoolsEmulator) -> String {
    format!("/{}/customers", emulator.project_key())
}

async fn seeded(emulator: &CommercetoolsEmulator, email: &str) -> String {
    emulator
        .insert_customer_silently(CustomerDraft::new(email))
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_share_one_token_request() {
    let emulator = emulator().await;
    let id = seeded(&emulator, "ada@example.com").await;
    let client = client_for(&emulator);

    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let client = client.clone();
        let id = id.clone();
        calls.spawn(async move { client.customer(&id).await });
    }
    while let Some(result) = calls.join_next().await {
        assert_eq!(result.unwrap().unwrap().email, "ada@example.com");
    }

    let stats = emulator.stats();
    assert_eq!(stats.token_requests, 1, "{stats:?}");
    assert_eq!(stats.customer_gets, 50);
    // Later calls reuse the cached token.
    client.customer(&id).await.unwrap();
    assert_eq!(emulator.stats().token_requests, 1);
}

#[tokio::test]
async fn token_is_refreshed_before_it_expires() {
    let emulator = CommercetoolsEmulator::builder()
        .token_lifetime(Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let id = seeded(&emulator, "ada@example.com").await;
    let client = client_for(&emulator);

    client.customer(&id).await.unwrap();
    client.customer(&id).await.unwrap();
    assert_eq!(emulator.stats().tokens_issued, 1);

    // The token lives 1 s; the client refreshes 10% (100 ms) before that.
    tokio::time::sleep(Duration::from_millis(950)).await;
    client.customer(&id).await.unwrap();

    let stats = emulator.stats();
    assert_eq!(stats.tokens_issued, 2, "{stats:?}");
    assert_eq!(
        stats.unauthorized, 0,
        "the refresh must happen before the server rejects the token"
    );
}

#[tokio::test]
async fn revoked_token_is_replaced_once_and_the_call_succeeds() {
    let emulator = emulator().await;
    let id = seeded(&emulator, "ada@example.com").await;
    let client = client_for(&emulator);
    client.customer(&id).await.unwrap();

    emulator.expire_tokens();
    let customer = client.customer(&id).await.unwrap();

    assert_eq!(customer.id, id);
    let stats = emulator.stats();
    assert_eq!(stats.unauthorized, 1);
    assert_eq!(stats.tokens_issued, 2);
    assert_eq!(stats.customer_gets, 3);
}

#[tokio::test]
async fn a_second_401_is_an_error_not_a_loop() {
    let emulator = emulator().await;
    let id = seeded(&emulator, "ada@example.com").await;
    let client = client_for(&emulator);
    let unauthorized = Fault::Status {
        status: 401,
        retry_after: None,
    };
    emulator
        .faults()
        .inject_for(&customers_path(&emulator), unauthorized, 5);

    let error = client.customer(&id).await.unwrap_err();

    assert_eq!(error.status(), Some(401));
    assert!(error.is_auth());
    assert!(!error.is_retryable());
    assert_eq!(error.attempts(), 2);
    assert!(
        error.to_string().contains("client-id/client-secret"),
        "{error}"
    );
    assert_eq!(
        emulator.stats().tokens_issued,
        2,
        "one re-authentication only"
    );
    assert_eq!(emulator.faults().pending(), 3, "exactly two API attempts");
}

#[tokio::test]
async fn a_wrong_secret_fails_fast_and_is_never_printed() {
    let emulator = emulator().await;
    let id = seeded(&emulator, "ada@example.com").await;
    let mut config = fast(emulator.config());
    config.client_secret = "definitely-wrong-secret".into();
    let client = CommercetoolsClient::new(config).unwrap();

    let error = client.customer(&id).await.unwrap_err();

    assert_eq!(error.status(), Some(401));
    assert_eq!(error.codes(), ["invalid_client"]);
    assert!(error.is_auth());
    assert!(!error.is_retryable());
    let text = error.to_string();
    assert!(text.contains("client-id and client-secret"), "{text}");
    for printed in [text, format!("{error:?}"), format!("{client:?}")] {
        assert!(!printed.contains("definitely-wrong-secret"), "{printed}");
    }
    let stats = emulator.stats();
    assert_eq!(stats.token_requests, 1, "no retries of refused credentials");
    assert_eq!(stats.customer_gets, 0);
}

#[tokio::test]
async fn throttling_is_retried_after_the_retry_after_delay() {
    let emulator = emulator().await;
    let id = seeded(&emulator, "ada@example.com").await;
    let client = client_for(&emulator);
    client.customer(&id).await.unwrap();
    emulator
        .faults()
        .inject_for(&customers_path(&emulator), Fault::too_many_requests(1), 1);

    let started = Instant::now();
    client.customer(&id).await.unwrap();

    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(emulator.faults().pending(), 0);
    assert_eq!(emulator.stats().customer_gets, 2);
}

#[tokio::test]
async fn unavailable_and_bad_gateway_are_retried() {
    let emulator = emulator().await;
    let id = seeded(&emulator, "ada@example.com").await;
    let client = client_for(&emulator);
    let path = customers_path(&emulator);
    emulator.faults().inject_for(&path, Fault::unavailable(), 2);
    emulator.faults().inject_for(&path, Fault::bad_gateway(), 1);

    client.customer(&id).await.unwrap();

    assert_eq!(emulator.faults().pending(), 0);
    assert_eq!(emulator.stats().customer_gets, 1);
}

#[tokio::test]
async fn retries_are_bounded_and_the_error_stays_retryable() {
    let emulator = emulator().await;
    let id = seeded(&emulator, "ada@example.com").await;
    let client = CommercetoolsClient::new(fast(emulator.config()).with_max_retries(2)).unwrap();
    client.customer(&id).await.unwrap();
    emulator
        .faults()
        .inject_for(&customers_path(&emulator), Fault::unavailable(), 10);

    let error = client.customer(&id).await.unwrap_err();

    assert_eq!(error.status(), Some(503));
    assert_eq!(error.codes(), ["OverCapacity"]);
    assert_eq!(error.attempts(), 3);
    assert!(error.is_retryable());
    assert_eq!(emulator.faults().pending(), 7, "1 attempt + 2 retries");
    let handler_error = HandlerError::from(error);
    assert!(handler_error.is_retryable());
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let emulator = emulator().await;
    let id = seeded(&emulator, "ada@example.com").await;
    let client = client_for(&emulator);
    emulator
        .faults()
        .inject_for(&customers_path(&emulator), Fault::DropConnection, 1);

    let customer = client.customer(&id).await.unwrap();

    assert_eq!(customer.id, id);
    assert_eq!(emulator.faults().pending(), 0);
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let emulator = emulator().await;
    let id = seeded(&emulator, "ada@example.com").await;
    let client = CommercetoolsClient::new(
        fast(emulator.config())
            .with_request_timeout(Duration::from_millis(500))
            .with_max_retries(1),
    )
    .unwrap();
    client.customer(&id).await.unwrap();
    let path = customers_path(&emulator);
    let slow = Fault::Delay(Duration::from_secs(3));

    emulator.faults().inject_for(&path, slow.clone(), 1);
    client.customer(&id).await.unwrap();

    emulator.faults().inject_for(&path, slow, 2);
    let error = client.customer(&id).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(error.attempts(), 2);
    assert!(error.to_string().contains("request-timeout"), "{error}");
}

#[tokio::test]
async fn not_found_is_reported_once_and_not_retried() {
    let emulator = emulator().await;
    let client = client_for(&emulator);

    let error = client.customer("no-such-customer").await.unwrap_err();

    assert!(error.is_not_found());
    assert_eq!(error.codes(), ["ResourceNotFound"]);
    assert!(!error.is_retryable());
    assert_eq!(error.attempts(), 1);
    assert!(
        error.to_string().contains("no-such-customer"),
        "the error names the resource: {error}"
    );
    assert_eq!(emulator.stats().customer_gets, 1, "exactly one request");
    assert!(!HandlerError::from(error).is_retryable());

    assert!(
        client
            .find_customer("no-such-customer")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn full_scan_returns_every_customer_once_in_id_order() {
    let emulator = emulator().await;
    for i in 0..1234 {
        emulator
            .insert_customer_silently(CustomerDraft::new(format!("customer-{i}@example.com")))
            .unwrap();
    }
    let client = client_for(&emulator);

    let ids: Vec<String> = client
        .scan_customers(CustomerScan::all())
        .map(|customer| customer.unwrap().id)
        .collect()
        .await;

    let expected: Vec<String> = emulator.customers().into_iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 1234);
    assert_eq!(ids, expected, "every customer once, in id order");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 1234);
    assert_eq!(
        emulator.stats().customer_queries,
        3,
        "pages of 500, 500, 234"
    );
}

#[tokio::test]
async fn scan_with_a_predicate_and_small_pages() {
    let emulator = emulator().await;
    let mut created = Vec::new();
    for i in 0..10 {
        created.push(
            emulator
                .insert_customer_silently(CustomerDraft::new(format!("c{i}@example.com")))
                .unwrap(),
        );
    }
    let since = connect_commercetools::model::datetime::format(&created[4].last_modified_at);
    let client = client_for(&emulator);

    let found: BTreeSet<String> = client
        .scan_customers(
            CustomerScan::all()
                .predicate(format!("lastModifiedAt > {}", string_literal(&since)))
                .page_size(2),
        )
        .map(|customer| customer.unwrap().email)
        .collect()
        .await;

    let expected: BTreeSet<String> = created[5..].iter().map(|c| c.email.clone()).collect();
    assert_eq!(found, expected);
    assert_eq!(emulator.stats().customer_queries, 3, "pages of 2, 2, 1");

    let invalid: Vec<_> = client
        .scan_customers(CustomerScan::all().page_size(501))
        .collect()
        .await;
    assert_eq!(invalid.len(), 1);
    assert!(invalid[0].is_err());
}

#[tokio::test]
async fn query_limits_are_validated_before_sending() {
    let emulator = emulator().await;
    let client = client_for(&emulator);

    let too_many = client
        .query_customers(&CustomerQuery::new().limit(501))
        .await
        .unwrap_err();
    assert!(too_many.to_string().contains("limit 501"), "{too_many}");
    assert!(!too_many.is_retryable());
    let too_far = client
        .query_customers(&CustomerQuery::new().offset(10_001))
        .await
        .unwrap_err();
    assert!(too_far.to_string().contains("scan_customers"), "{too_far}");

    assert_eq!(emulator.stats().customer_queries, 0, "nothing was sent");
    assert!(
        CustomerQuery::new()
            .limit(500)
            .offset(10_000)
            .validate()
            .is_ok()
    );
}

#[tokio::test]
async fn query_ands_predicates_sorts_and_counts() {
    let emulator = emulator().await;
    for (email, key) in [
        ("a@example.com", "k-a"),
        ("b@example.com", "k-b"),
        ("c@example.com", "k-c"),
    ] {
        emulator
            .insert_customer_silently(CustomerDraft::new(email).with_key(key))
            .unwrap();
    }
    let client = client_for(&emulator);

    let one = client
        .query_customers(
            &CustomerQuery::new()
                .predicate(format!("email = {}", string_literal("b@example.com")))
                .predicate(format!("key = {}", string_literal("k-b"))),
        )
        .await
        .unwrap();
    assert_eq!(one.count, 1);
    assert_eq!(one.total, Some(1));
    assert_eq!(one.results[0].key.as_deref(), Some("k-b"));

    let none = client
        .query_customers(
            &CustomerQuery::new()
                .predicate(format!("email = {}", string_literal("b@example.com")))
                .predicate(format!("key = {}", string_literal("k-a"))),
        )
        .await
        .unwrap();
    assert_eq!(none.count, 0, "several where parameters are ANDed");

    let newest_first = client
        .query_customers(
            &CustomerQuery::new()
                .sort("lastModifiedAt desc")
                .limit(2)
                .with_total(false),
        )
        .await
        .unwrap();
    let emails: Vec<&str> = newest_first
        .results
        .iter()
        .map(|c| c.email.as_str())
        .collect();
    assert_eq!(emails, ["c@example.com", "b@example.com"]);
    assert_eq!(newest_first.total, None);

    let unsupported = client
        .query_customers(&CustomerQuery::new().predicate("addresses(city = \"x\")"))
        .await
        .unwrap_err();
    assert_eq!(unsupported.status(), Some(400));
    assert_eq!(unsupported.codes(), ["InvalidInput"]);

    let by_key = client.customer_by_key("k-c").await.unwrap();
    assert_eq!(by_key.email, "c@example.com");
    assert!(
        client
            .customer_by_key("k-z")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn create_update_conflict_and_delete() {
    let emulator = emulator().await;
    let client = client_for(&emulator);
    let mut home = Address::new("GB");
    home.key = Some("home".into());
    home.city = Some("London".into());
    home.phone = Some("+44 20 7946 0000".into());

    let created = client
        .create_customer(
            &CustomerDraft::new("ada@example.com")
                .with_password("pw")
                .with_key("cust-1")
                .with_name("Ada", "Lovelace")
                .with_address(home),
        )
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(
        created.default_shipping_address().unwrap().city.as_deref(),
        Some("London")
    );
    assert_eq!(created.shipping_address_ids.len(), 1);

    let updated = client
        .update_customer(
            &created.id,
            1,
            vec![
                CustomerUpdateAction::ChangeEmail {
                    email: "ada@lovelace.org".into(),
                },
                CustomerUpdateAction::SetMiddleName {
                    middle_name: Some("King".into()),
                },
                CustomerUpdateAction::SetCustomType {
                    type_ref: Some(connect_commercetools::ResourceIdentifier::by_key(
                        "type",
                        "customer-extras",
                    )),
                    fields: None,
                },
                CustomerUpdateAction::SetCustomField {
                    name: "loyaltyTier".into(),
                    value: Some(serde_json::json!("gold")),
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.email, "ada@lovelace.org");
    assert_eq!(updated.middle_name.as_deref(), Some("King"));
    assert_eq!(
        updated.custom_field("loyaltyTier"),
        Some(&serde_json::json!("gold"))
    );
    assert!(updated.last_modified_at > created.last_modified_at);

    let stale = client
        .update_customer(
            &created.id,
            1,
            vec![CustomerUpdateAction::SetFirstName { first_name: None }],
        )
        .await
        .unwrap_err();
    assert!(stale.is_conflict());
    assert_eq!(stale.codes(), ["ConcurrentModification"]);
    assert_eq!(stale.current_version(), Some(2));
    assert!(stale.is_retryable());
    assert_eq!(stale.attempts(), 1, "writes are not retried on 409");

    let duplicate = client
        .create_customer(&CustomerDraft::new("ADA@lovelace.org").with_password("pw"))
        .await
        .unwrap_err();
    assert_eq!(duplicate.status(), Some(400));
    assert_eq!(duplicate.codes(), ["DuplicateField"]);
    assert!(!duplicate.is_retryable());

    let deleted = client.delete_customer(&created.id, 2).await.unwrap();
    assert_eq!(deleted.id, created.id);
    assert!(
        client
            .customer(&created.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(emulator.customer_count(), 0);
}

#[tokio::test]
async fn scopes_are_enforced() {
    let emulator = CommercetoolsEmulator::builder()
        .scopes(["view_customers"])
        .start()
        .await
        .unwrap();
    let id = seeded(&emulator, "ada@example.com").await;
    let pk = emulator.project_key().to_owned();

    let viewer = CommercetoolsClient::new(
        fast(emulator.config()).with_scopes([format!("view_customers:{pk}")]),
    )
    .unwrap();
    viewer.customer(&id).await.unwrap();
    let refused = viewer
        .create_customer(&CustomerDraft::new("x@example.com").with_password("pw"))
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(403));
    assert_eq!(refused.codes(), ["insufficient_scope"]);
    assert!(refused.is_auth());
    assert!(
        refused.to_string().contains("manage_customers"),
        "{refused}"
    );

    let greedy = CommercetoolsClient::new(emulator.config()).unwrap();
    let error = greedy.customer(&id).await.unwrap_err();
    assert_eq!(error.status(), Some(400));
    assert_eq!(error.codes(), ["invalid_scope"]);
    assert!(
        error.to_string().contains("commercetools.scopes"),
        "{error}"
    );
}

#[test]
fn config_block_reads_strictly_with_line_numbers() {
    let yaml = "\
connector-name: commercetools-connector
commercetools:
  project-key: fluent-ct-dev
  client-id: abc
  client-secret: s3cr3t
  region: europe-west1.gcp
  colour: blue
";
    let error = ConfigDocument::from_yaml("app.yml", yaml)
        .section::<CommercetoolsConfig>("commercetools")
        .unwrap_err();
    assert_eq!(error.line(), Some(7), "{error}");
    let text = error.to_string();
    assert!(text.starts_with("app.yml:7:"), "{text}");
    assert!(text.contains("colour"), "{text}");
    assert!(
        text.contains("project-key"),
        "lists the allowed keys: {text}"
    );
    assert!(!text.contains("s3cr3t"));

    let full = "\
commercetools:
  project-key: fluent-ct-dev
  client-id: abc
  client-secret: s3cr3t
  auth-url: http://127.0.0.1:1/
  api-url: http://127.0.0.1:2
  scopes: [view_customers:fluent-ct-dev, view_orders:fluent-ct-dev]
  request-timeout: 5s
  max-retries: 7
  retry-initial-backoff: 50ms
";
    let config: CommercetoolsConfig = ConfigDocument::from_yaml("app.yml", full)
        .require_section("commercetools")
        .unwrap();
    assert_eq!(config.auth_url, "http://127.0.0.1:1");
    assert_eq!(
        config.scope_string(),
        "view_customers:fluent-ct-dev view_orders:fluent-ct-dev"
    );
    assert_eq!(config.http.request_timeout, Duration::from_secs(5));
    assert_eq!(config.http.max_retries, 7);
    assert_eq!(config.http.retry_initial_backoff, Duration::from_millis(50));
    assert!(!format!("{config:?}").contains("s3cr3t"));

    let unitless = full.replace("request-timeout: 5s", "request-timeout: 5");
    let error = ConfigDocument::from_yaml("app.yml", unitless)
        .section::<CommercetoolsConfig>("commercetools")
        .unwrap_err()
        .to_string();
    assert!(error.contains("5s"), "{error}");
}

#[tokio::test]
async fn every_request_is_counted_by_status_and_no_answer_as_an_error() {
    let emulator = emulator().await;
    let id = seeded(&emulator, "ada@example.com").await;
    let client = client_for(&emulator);
    emulator
        .faults()
        .inject_for(&customers_path(&emulator), Fault::unavailable(), 2);

    client.customer(&id).await.unwrap();
    assert_eq!(client.find_customer("no-such-id").await.unwrap(), None);

    let counts = client.http_requests().snapshot();
    assert_eq!(
        counts.by_status.into_iter().collect::<Vec<_>>(),
        [(200, 2), (404, 1), (503, 2)],
        "the token request, two 503s, the customer, the missing one"
    );
    assert_eq!(counts.errors, 0);

    // Nothing listens on a port that was just released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut config = fast(emulator.config()).with_max_retries(1);
    config.auth_url = url;
    let unreachable = CommercetoolsClient::new(config).unwrap();
    unreachable.authenticate().await.unwrap_err();
    let counts = unreachable.http_requests().snapshot();
    assert_eq!(counts.errors, 2, "one attempt and one retry, no answer");
    assert!(counts.by_status.is_empty());
}
