#![allow(clippy::unwrap_used, clippy::expect_used)]
//! GraphQL calls against the local Fluent emulator: customer round trip,
//! schema validation, Fluent error codes, transient failures and retries.

use connect_fluent::WithHttpSettings;
use std::time::{Duration, Instant};

use connect_core::{HandlerError, Retryability};
use connect_fluent::{
    AttributeInput, CreateCustomerInput, Error, ErrorClass, FluentClient, PathSegment,
    UpdateCustomerInput,
};
use connect_testkit::Fault;
use connect_testkit::fixtures;
use connect_testkit::fluent::FluentEmulator;
use serde::Deserialize;
use serde_json::{Value, json};

async fn setup() -> (FluentEmulator, FluentClient) {
    let emulator = FluentEmulator::start().await.unwrap();
    let client = FluentClient::new(emulator.config()).unwrap();
    (emulator, client)
}

fn new_customer(client: &FluentClient, username: &str) -> CreateCustomerInput {
    CreateCustomerInput::new(
        username,
        format!("{username}@example.com"),
        false,
        client.retailer_id(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_update_round_trip_merges_attributes_by_name() {
    let (emulator, client) = setup().await;
    assert_eq!(client.customer_by_ref("ct-1").await.unwrap(), None);

    let mut input = new_customer(&client, "ct-1");
    input.first_name = Some("Ada".into());
    input.last_name = Some("Byron".into());
    input.department = Some("Engines".into());
    input.attributes = Some(vec![
        AttributeInput::string("ct-id", "1"),
        AttributeInput::new("ct-version", "INTEGER", 3),
    ]);
    let created = client.create_customer(&input).await.unwrap();
    assert_eq!(created.reference.as_deref(), Some("ct-1"));
    assert_eq!(created.username.as_deref(), Some("ct-1"));
    assert_eq!(created.status.as_deref(), Some("ACTIVE"));
    assert_eq!(created.retailer.as_ref().map(|r| r.id.as_str()), Some("1"));
    assert!(created.created_on.is_some());

    let fetched = client.customer_by_ref("ct-1").await.unwrap().unwrap();
    assert_eq!(fetched, created);

    let mut update = UpdateCustomerInput::new("ct-1");
    update.last_name = Some("Lovelace".into());
    update.promotion_opt_in = Some(true);
    update.attributes = Some(vec![
        AttributeInput::new("ct-version", "INTEGER", 4),
        AttributeInput::json("ct-custom", json!({ "tier": "gold" })),
    ]);
    let updated = client.update_customer(&update).await.unwrap();
    assert_eq!(updated.id, created.id);
    assert_eq!(
        updated.first_name.as_deref(),
        Some("Ada"),
        "not in the update: unchanged"
    );
    assert_eq!(updated.department.as_deref(), Some("Engines"));
    assert_eq!(updated.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(updated.promotion_opt_in, Some(true));
    let attributes: Vec<(&str, &Value)> = updated
        .attributes
        .iter()
        .map(|a| (a.name.as_str(), &a.value))
        .collect();
    assert_eq!(
        attributes,
        vec![
            ("ct-id", &json!("1")),
            ("ct-version", &json!(4)),
            ("ct-custom", &json!({ "tier": "gold" })),
        ]
    );
    assert_eq!(updated.created_on, created.created_on);

    assert_eq!(emulator.customer("ct-1").unwrap(), updated);
    assert_eq!(emulator.create_count("ct-1"), 1);
    assert_eq!(emulator.update_count("ct-1"), 1);
    let mutations = emulator.mutations();
    let names: Vec<(&str, Option<&str>)> = mutations
        .iter()
        .map(|m| (m.name.as_str(), m.operation_name.as_deref()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("createCustomer", Some("CreateCustomer")),
            ("updateCustomer", Some("UpdateCustomer"))
        ]
    );
    // Absent optional fields are not sent at all.
    assert_eq!(
        mutations[1].input,
        json!({
            "username": "ct-1",
            "lastName": "Lovelace",
            "promotionOptIn": true,
            "attributes": [
                { "name": "ct-version", "type": "INTEGER", "value": 4 },
                { "name": "ct-custom", "type": "JSON", "value": { "tier": "gold" } }
            ]
        })
    );
}

fn assert_schema_rejection(error: &Error, needle: &str) {
    let errors = error.graphql_errors();
    assert!(!errors.is_empty(), "expected GraphQL errors, got {error}");
    assert!(
        errors.iter().all(|e| e.class() == ErrorClass::Unknown),
        "schema errors carry no Fluent code: {error}"
    );
    assert!(!error.is_retryable(), "{error}");
    assert!(error.to_string().contains(needle), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_the_schema_lacks_is_rejected_as_unprocessable() {
    let (emulator, client) = setup().await;
    let error = client
        .graphql_value(
            "query Q($ref: String!) { customer(ref: $ref) { id loyaltyTier } }",
            &json!({ "ref": "x" }),
        )
        .await
        .unwrap_err();
    assert_schema_rejection(&error, "loyaltyTier");

    // An input field the schema lacks, sent through variables.
    let error = client
        .graphql_value(
            "mutation M($input: CreateCustomerInput) { createCustomer(input: $input) { id } }",
            &json!({ "input": {
                "username": "u", "primaryEmail": "u@example.com", "promotionOptIn": false,
                "retailer": { "id": "1" }, "nickname": "x"
            }}),
        )
        .await
        .unwrap_err();
    assert_schema_rejection(&error, "nickname");
    let handler_error: HandlerError = error.into();
    assert!(!handler_error.is_retryable());
    assert!(emulator.mutations().is_empty(), "never executed");
    assert!(emulator.customers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_required_fields_and_wrong_types_are_rejected() {
    let (emulator, client) = setup().await;
    let mutation =
        "mutation M($input: CreateCustomerInput) { createCustomer(input: $input) { id } }";
    let error = client
        .graphql_value(
            mutation,
            &json!({ "input": { "username": "u", "promotionOptIn": false, "retailer": { "id": "1" } } }),
        )
        .await
        .unwrap_err();
    assert_schema_rejection(&error, "primaryEmail");

    let error = client
        .graphql_value(
            mutation,
            &json!({ "input": {
                "username": "u", "primaryEmail": "u@example.com", "promotionOptIn": "yes",
                "retailer": { "id": "1" }
            }}),
        )
        .await
        .unwrap_err();
    assert_schema_rejection(&error, "promotionOptIn");

    let error = client
        .graphql_value("{ customer { id } }", &json!({}))
        .await
        .unwrap_err();
    assert_schema_rejection(&error, "ref");
    assert!(emulator.mutations().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_over_its_max_length_is_unprocessable_with_its_code() {
    let (emulator, client) = setup().await;
    let mut input = new_customer(&client, "ct-long");
    input.first_name = Some("x".repeat(51));
    let error = client.create_customer(&input).await.unwrap_err();
    assert_eq!(error.codes(), vec!["C0400E"]);
    let first = &error.graphql_errors()[0];
    assert_eq!(
        first.message,
        "C0400E: Validation failed: firstName exceeds max length 50"
    );
    assert_eq!(
        first.path,
        vec![PathSegment::Field("createCustomer".into())]
    );
    assert_eq!(first.class(), ErrorClass::Client);
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("fix the data"), "{error}");

    // The emulator's error has the fixture's shape.
    let fixture: Value = serde_json::from_str(fixtures::fluent::GRAPHQL_ERROR).unwrap();
    let raw = client
        .graphql_value(
            connect_fluent::CREATE_CUSTOMER,
            &json!({ "input": serde_json::to_value(&input).unwrap() }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        raw.graphql_errors()[0].message,
        fixture["errors"][0]["message"]
    );
    assert!(emulator.customer("ct-long").is_none());

    let mut update = UpdateCustomerInput::new("ct-long");
    update.primary_phone = Some("0".repeat(21));
    let error = client.update_customer(&update).await.unwrap_err();
    assert_eq!(error.codes(), vec!["C0400E"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retailer_mismatch_duplicates_and_unknown_updates_are_client_errors() {
    let (emulator, client) = setup().await;
    let mut other_retailer = new_customer(&client, "ct-r");
    other_retailer.retailer.id = "99".into();
    let error = client.create_customer(&other_retailer).await.unwrap_err();
    assert_eq!(error.codes(), vec!["C0403E"]);
    assert!(!error.is_retryable());
    assert!(emulator.customer("ct-r").is_none());

    client
        .create_customer(&new_customer(&client, "ct-d"))
        .await
        .unwrap();
    let error = client
        .create_customer(&new_customer(&client, "ct-d"))
        .await
        .unwrap_err();
    assert_eq!(error.codes(), vec!["C0409E"]);
    assert_eq!(emulator.create_count("ct-d"), 1);

    let error = client
        .update_customer(&UpdateCustomerInput::new("ct-unknown"))
        .await
        .unwrap_err();
    assert_eq!(error.codes(), vec!["C0404E"]);
    let rejected: Vec<Option<String>> = emulator.mutations().into_iter().map(|m| m.error).collect();
    assert_eq!(rejected.iter().filter(|e| e.is_some()).count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_unavailable_is_retried_then_succeeds() {
    let (emulator, client) = setup().await;
    client.authenticate().await.unwrap();
    emulator
        .faults()
        .inject_for("/graphql", Fault::unavailable(), 2);
    client
        .create_customer(&new_customer(&client, "ct-503"))
        .await
        .unwrap();
    assert_eq!(emulator.faults().pending(), 0);
    assert_eq!(emulator.create_count("ct-503"), 1);
    assert_eq!(
        emulator.graphql_requests().len(),
        1,
        "faulted attempts never reached the API"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_waits_for_retry_after() {
    let (emulator, client) = setup().await;
    client.authenticate().await.unwrap();
    emulator
        .faults()
        .inject_for("/graphql", Fault::too_many_requests(1), 1);
    let started = Instant::now();
    assert_eq!(client.customer_by_ref("x").await.unwrap(), None);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(emulator.faults().pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_bounded_by_max_retries() {
    let emulator = FluentEmulator::start().await.unwrap();
    let client = FluentClient::new(emulator.config().with_max_retries(2)).unwrap();
    client.authenticate().await.unwrap();
    emulator
        .faults()
        .inject_for("/graphql", Fault::unavailable(), 10);
    let error = client.customer_by_ref("x").await.unwrap_err();
    assert_eq!(error.status(), Some(503));
    assert!(
        error.is_retryable(),
        "the runtime may retry the message later"
    );
    assert_eq!(emulator.faults().pending(), 7, "1 attempt + 2 retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_too_large_is_unprocessable_and_not_retried() {
    let (emulator, client) = setup().await;
    client.authenticate().await.unwrap();
    emulator.faults().inject_for(
        "/graphql",
        Fault::Status {
            status: 413,
            retry_after: None,
        },
        2,
    );
    let error = client.customer_by_ref("x").await.unwrap_err();
    assert!(matches!(error, Error::PayloadTooLarge { .. }), "{error}");
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("2 MB"), "{error}");
    assert_eq!(emulator.faults().pending(), 1, "not retried");

    // A real body over 2 MB, refused by the emulator itself.
    emulator.faults().clear();
    let mut input = new_customer(&client, "ct-big");
    input.attributes = Some(vec![AttributeInput::string(
        "blob",
        "x".repeat(connect_testkit::fluent::MAX_REQUEST_BYTES),
    )]);
    let error = client.create_customer(&input).await.unwrap_err();
    match error {
        Error::PayloadTooLarge { bytes } => {
            assert!(bytes > connect_fluent::MAX_REQUEST_BYTES);
        }
        other => panic!("expected 413, got {other}"),
    }
    assert!(emulator.customer("ct-big").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_retried() {
    let (emulator, client) = setup().await;
    client.authenticate().await.unwrap();
    emulator
        .faults()
        .inject_for("/graphql", Fault::DropConnection, 1);
    client
        .create_customer(&new_customer(&client, "ct-drop"))
        .await
        .unwrap();
    assert_eq!(emulator.faults().pending(), 0);
    assert_eq!(emulator.create_count("ct-drop"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_a_retryable_timeout() {
    let emulator = FluentEmulator::start().await.unwrap();
    let config = emulator
        .config()
        .with_request_timeout(Duration::from_millis(200))
        .with_max_retries(0);
    let client = FluentClient::new(config).unwrap();
    client.authenticate().await.unwrap();
    emulator
        .faults()
        .inject_for("/graphql", Fault::Delay(Duration::from_secs(2)), 1);
    let error = client.customer_by_ref("x").await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(error.is_retryable());
    let handler_error: HandlerError = error.into();
    assert!(handler_error.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_codes_are_retryable() {
    let sdl = format!(
        "{}\nextend type Query {{ orders(first: Int): String }}\n",
        fixtures::fluent::SCHEMA_CUSTOMER
    );
    // A partner's extension of the schema: served and validated, but not
    // implemented by the emulator, which answers with a server-side code.
    let emulator = FluentEmulator::builder().schema(sdl).start().await.unwrap();
    let client = FluentClient::new(emulator.config()).unwrap();
    let error = client
        .graphql_value("{ orders(first: 1) }", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(error.codes(), vec!["S0501E"]);
    assert!(error.is_retryable(), "{error}");
    // Retryable for the runtime, but not retried inside the call.
    assert_eq!(emulator.graphql_requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_operation_runs_through_the_generic_call() {
    let (emulator, client) = setup().await;
    for i in 1..=3 {
        client
            .create_customer(&new_customer(&client, &format!("ct-g{i}")))
            .await
            .unwrap();
    }

    #[derive(Debug, Deserialize)]
    struct Data {
        customers: Connection,
    }
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Connection {
        edges: Vec<Edge>,
        page_info: PageInfo,
    }
    #[derive(Debug, Deserialize)]
    struct Edge {
        node: Node,
        cursor: String,
    }
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Node {
        username: String,
        primary_email: String,
    }
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PageInfo {
        has_next_page: bool,
    }

    let query = "query Page($first: Int, $after: String) {
        customers(first: $first, after: $after) {
            edges { node { username primaryEmail } cursor }
            pageInfo { hasNextPage }
        }
    }";
    let page: Data = client.graphql(query, &json!({ "first": 2 })).await.unwrap();
    let names: Vec<&str> = page
        .customers
        .edges
        .iter()
        .map(|e| e.node.username.as_str())
        .collect();
    assert_eq!(names, vec!["ct-g1", "ct-g2"]);
    assert!(page.customers.page_info.has_next_page);
    let last = &page.customers.edges[1].cursor;
    let rest: Data = client
        .graphql(query, &json!({ "first": 2, "after": last }))
        .await
        .unwrap();
    assert_eq!(rest.customers.edges.len(), 1);
    assert_eq!(
        rest.customers.edges[0].node.primary_email,
        "ct-g3@example.com"
    );
    assert!(!rest.customers.page_info.has_next_page);

    let by_email = client
        .graphql_value(
            "query($e: [String]) { customers(primaryEmail: $e) { edges { node { ref } } } }",
            &json!({ "e": ["ct-g2@example.com"] }),
        )
        .await
        .unwrap();
    assert_eq!(
        by_email,
        json!({ "customers": { "edges": [{ "node": { "ref": "ct-g2" } }] } })
    );
    assert_eq!(
        emulator.graphql_requests()[3].operation_name.as_deref(),
        Some("Page")
    );

    // Deserializing into a type the selection does not match is a decode error.
    let mismatch = client
        .graphql::<_, Vec<String>>("{ customer(ref: \"ct-g1\") { id } }", &json!({}))
        .await
        .unwrap_err();
    assert!(matches!(mismatch, Error::Decode { .. }), "{mismatch}");
    assert!(!mismatch.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ref_is_absent_whether_fluent_answers_null_or_not_found() {
    use connect_testkit::fluent::UnknownRef;
    for answer in [UnknownRef::Null, UnknownRef::NotFoundError] {
        let emulator = FluentEmulator::builder()
            .unknown_ref(answer)
            .start()
            .await
            .unwrap();
        let client = FluentClient::new(emulator.config()).unwrap();
        assert_eq!(
            client.customer_by_ref("nobody").await.unwrap(),
            None,
            "{answer:?}"
        );
        // The emulator really answered as configured.
        let raw = client
            .graphql_value(connect_fluent::CUSTOMER_BY_REF, &json!({ "ref": "nobody" }))
            .await;
        match answer {
            UnknownRef::Null => assert_eq!(raw.unwrap()["customer"], Value::Null),
            UnknownRef::NotFoundError => assert_eq!(raw.unwrap_err().codes(), vec!["C0120E"]),
        }
        // A customer that exists is still found.
        client
            .create_customer(&new_customer(&client, "somebody"))
            .await
            .unwrap();
        assert!(client.customer_by_ref("somebody").await.unwrap().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_failing_for_another_reason_is_still_an_error() {
    let (emulator, client) = setup().await;
    emulator
        .faults()
        .inject_for("/graphql", Fault::unavailable(), 10);
    let error = client.customer_by_ref("x").await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_counted_by_status_and_no_answer_as_an_error() {
    let emulator = FluentEmulator::start().await.unwrap();
    let config = emulator
        .config()
        .with_retry_initial_backoff(Duration::from_millis(5));
    let client = FluentClient::new(config.clone()).unwrap();
    client.authenticate().await.unwrap();
    emulator
        .faults()
        .inject_for("/graphql", Fault::unavailable(), 2);
    assert_eq!(client.customer_by_ref("ct-1").await.unwrap(), None);

    let counts = client.http_requests().snapshot();
    assert_eq!(
        counts.by_status.into_iter().collect::<Vec<_>>(),
        [(200, 2), (503, 2)],
        "the login, two 503s, the lookup"
    );
    assert_eq!(counts.errors, 0);

    // Nothing listens on a port that was just released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = config.with_max_retries(0);
    config.base_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = FluentClient::new(config).unwrap();
    unreachable.authenticate().await.unwrap_err();
    let counts = unreachable.http_requests().snapshot();
    assert_eq!(counts.errors, 1);
    assert!(counts.by_status.is_empty());
}
