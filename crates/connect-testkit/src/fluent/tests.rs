//! The emulator's HTTP contract, checked with a plain HTTP client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::FluentEmulator;
use crate::fixtures;

fn password_form(emulator: &FluentEmulator) -> Vec<(&'static str, String)> {
    let config = emulator.config();
    vec![
        ("client_id", config.client_id.clone()),
        ("client_secret", config.client_secret.expose().to_owned()),
        ("username", config.username.clone()),
        ("password", config.password.expose().to_owned()),
        ("grant_type", "password".to_owned()),
        ("scope", "api".to_owned()),
    ]
}

async fn post_token(emulator: &FluentEmulator, form: &[(&str, String)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", emulator.base_url()))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn login(emulator: &FluentEmulator) -> Value {
    let (status, body) = post_token(emulator, &password_form(emulator)).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn post_graphql(
    emulator: &FluentEmulator,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/graphql", emulator.base_url()))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn token_response_has_the_fixture_shape() {
    let emulator = FluentEmulator::start().await.unwrap();
    let body = login(&emulator).await;
    let fixture: Value = serde_json::from_str(fixtures::fluent::OAUTH_TOKEN).unwrap();
    assert_eq!(keys(&body), keys(&fixture));
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "api");
    assert_eq!(body["expires_in"], fixture["expires_in"]);
    assert_eq!(body["Retailer_id"], json!(1));
    assert_eq!(emulator.login_count(), 1);
}

#[tokio::test]
async fn refresh_tokens_are_issued_when_enabled_and_single_use() {
    let emulator = FluentEmulator::builder()
        .refresh_tokens(true)
        .start()
        .await
        .unwrap();
    let body = login(&emulator).await;
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    let config = emulator.config();
    let form = vec![
        ("client_id", config.client_id.clone()),
        ("client_secret", config.client_secret.expose().to_owned()),
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token),
    ];
    let (status, refreshed) = post_token(&emulator, &form).await;
    assert_eq!(status, 200, "{refreshed}");
    assert!(refreshed["refresh_token"].is_string());
    let (status, reused) = post_token(&emulator, &form).await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!((emulator.login_count(), emulator.refresh_count()), (1, 1));
    assert_eq!(emulator.token_requests(), 3);
}

#[tokio::test]
async fn wrong_credentials_get_oauth_errors() {
    let emulator = FluentEmulator::start().await.unwrap();
    let mut form = password_form(&emulator);
    form[3].1 = "wrong".to_owned();
    let (status, body) = post_token(&emulator, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let mut form = password_form(&emulator);
    form[1].1 = "wrong".to_owned();
    let (status, body) = post_token(&emulator, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let mut form = password_form(&emulator);
    form[4].1 = "client_credentials".to_owned();
    let (status, body) = post_token(&emulator, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    assert_eq!(emulator.login_count(), 0);
}

#[tokio::test]
async fn login_parameters_may_come_in_the_query_string() {
    let emulator = FluentEmulator::start().await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", emulator.base_url()))
        .query(&password_form(&emulator))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(emulator.login_count(), 1);
}

#[tokio::test]
async fn graphql_needs_a_valid_bearer_token() {
    let emulator = FluentEmulator::start().await.unwrap();
    let query = json!({ "query": "{ customer(ref: \"x\") { id } }" });
    let (status, body) = post_graphql(&emulator, None, &query).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let (status, _) = post_graphql(&emulator, Some("made-up"), &query).await;
    assert_eq!(status, 401);

    let token = login(&emulator).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = post_graphql(&emulator, Some(&token), &query).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "data": { "customer": null } }));

    emulator.expire_tokens();
    let (status, _) = post_graphql(&emulator, Some(&token), &query).await;
    assert_eq!(status, 401);
    let authorized: Vec<bool> = emulator
        .graphql_requests()
        .iter()
        .map(|r| r.authorized)
        .collect();
    assert_eq!(authorized, vec![false, false, true, false]);
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime() {
    let emulator = FluentEmulator::builder()
        .token_lifetime(std::time::Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let token = login(&emulator).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = json!({ "query": "{ customer(ref: \"x\") { id } }" });
    assert_eq!(post_graphql(&emulator, Some(&token), &query).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    assert_eq!(post_graphql(&emulator, Some(&token), &query).await.0, 401);
}

/// The served schema is the fixture's: every input field of the fixture,
/// with its type, is what introspection reports.
#[tokio::test]
async fn the_schema_is_built_from_the_fixture_sdl() {
    let emulator = FluentEmulator::start().await.unwrap();
    let token = login(&emulator).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = json!({ "query": r#"{
        create: __type(name: "CreateCustomerInput") { inputFields { name type { kind name ofType { name } } } }
        customer: __type(name: "Customer") { fields { name } }
        query: __type(name: "Query") { fields { name args { name } } }
    }"# });
    let (status, body) = post_graphql(&emulator, Some(&token), &query).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    let required: BTreeSet<String> = data["create"]["inputFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"]["kind"] == "NON_NULL")
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = ["username", "primaryEmail", "promotionOptIn", "retailer"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(required, expected);
    let customer_fields: Vec<&str> = data["customer"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        customer_fields,
        vec![
            "id",
            "ref",
            "username",
            "status",
            "title",
            "department",
            "country",
            "firstName",
            "lastName",
            "primaryEmail",
            "primaryPhone",
            "timezone",
            "promotionOptIn",
            "retailer",
            "attributes",
            "createdOn",
            "updatedOn"
        ]
    );
    let customers_args: Vec<&str> = data["query"]["fields"][1]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        customers_args,
        vec!["ref", "username", "primaryEmail", "first", "after"]
    );
}

#[tokio::test]
async fn rule_violations_look_like_the_fixture() {
    let emulator = FluentEmulator::start().await.unwrap();
    let token = login(&emulator).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = json!({
        "query": "mutation {\n  createCustomer(input: {username: \"u\", primaryEmail: \"e\", promotionOptIn: false, retailer: {id: 1}, firstName: \"123456789012345678901234567890123456789012345678901\"}) { id }\n}"
    });
    let (status, body) = post_graphql(&emulator, Some(&token), &request).await;
    assert_eq!(status, 200);
    let fixture: Value = serde_json::from_str(fixtures::fluent::GRAPHQL_ERROR).unwrap();
    assert_eq!(body, fixture);
}

#[tokio::test]
async fn malformed_bodies_and_unknown_paths_are_rejected() {
    let emulator = FluentEmulator::start().await.unwrap();
    let token = login(&emulator).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", emulator.base_url()))
        .bearer_auth(&token)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"][0]["message"].is_string());

    let response = reqwest::Client::new()
        .get(format!("{}/rest/v4/order", emulator.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn insert_customer_applies_the_rules() {
    let emulator = FluentEmulator::start().await.unwrap();
    let input = connect_fluent::CreateCustomerInput::new("seed", "seed@example.com", true, "1");
    let customer = emulator.insert_customer(&input).unwrap();
    assert_eq!(customer.reference.as_deref(), Some("seed"));
    assert_eq!(emulator.customers().len(), 1);
    assert_eq!(emulator.create_count("seed"), 1);
    let error = emulator.insert_customer(&input).unwrap_err();
    assert!(error.starts_with("C0409E"), "{error}");
    assert!(emulator.mutations().is_empty());
}
