#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The local commercetools emulator: wire-level behaviour (auth, error
//! bodies, validation) and subscription payloads shaped like the fixtures.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use connect_commercetools::{
    CustomerDraft, CustomerUpdateAction, SubscriptionTranslator, payload::SubscriptionEvent,
};
use connect_core::listener::{Translate, Translation};
use connect_core::queue::{MemoryQueue, RawPayload, Source};
use connect_testkit::commercetools::{CommercetoolsEmulator, NotificationFormat};
use connect_testkit::fixtures::commercetools as fixtures;
use serde_json::{Value, json};

async fn token(emulator: &CommercetoolsEmulator, http: &reqwest::Client, scope: &str) -> String {
    let response = http
        .post(format!("{}/oauth/token", emulator.auth_url()))
        .basic_auth(emulator.client_id(), Some(emulator.client_secret()))
        .query(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 172_800);
    assert_eq!(body["scope"], scope);
    body["access_token"].as_str().unwrap().to_owned()
}

async fn error_body(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["statusCode"], status, "{body}");
    assert!(body["message"].is_string(), "{body}");
    body
}

fn code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn speaks_commercetools_over_http() {
    let emulator = CommercetoolsEmulator::start().await.unwrap();
    let http = reqwest::Client::new();
    let pk = emulator.project_key().to_owned();
    let base = format!("{}/{pk}/customers", emulator.api_url());

    // Wrong client secret.
    let response = http
        .post(format!("{}/oauth/token", emulator.auth_url()))
        .basic_auth(emulator.client_id(), Some("nope"))
        .query(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body = error_body(response, 401).await;
    assert_eq!(code(&body), "invalid_client");
    assert_eq!(body["error"], "invalid_client");

    // No token.
    let body = error_body(http.get(&base).send().await.unwrap(), 401).await;
    assert_eq!(code(&body), "invalid_token");

    let manage = token(&emulator, &http, &format!("manage_customers:{pk}")).await;
    let created = http
        .post(&base)
        .bearer_auth(&manage)
        .json(&json!({"email": "ada@example.com", "password": "pw", "key": "cust-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let customer = &created["customer"];
    assert_eq!(customer["version"], 1);
    assert_eq!(customer["createdAt"], customer["lastModifiedAt"]);
    assert!(customer.get("password").is_none());
    let id = customer["id"].as_str().unwrap().to_owned();

    // Missing password for a Password customer.
    let response = http
        .post(&base)
        .bearer_auth(&manage)
        .json(&json!({"email": "bob@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(code(&error_body(response, 400).await), "InvalidOperation");

    // Duplicate email (case-insensitive).
    let response = http
        .post(&base)
        .bearer_auth(&manage)
        .json(&json!({"email": "ADA@example.com", "password": "pw"}))
        .send()
        .await
        .unwrap();
    let body = error_body(response, 400).await;
    assert_eq!(code(&body), "DuplicateField");
    assert_eq!(body["errors"][0]["field"], "email");

    // Reads by key and the 404 body of the fixture.
    let by_key: Value = http
        .get(format!("{base}/key=cust-1"))
        .bearer_auth(&manage)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_key["id"], id.as_str());
    let response = http
        .get(format!("{base}/14a4ef54-957d-4148-b0be-de8d0fbc411d"))
        .bearer_auth(&manage)
        .send()
        .await
        .unwrap();
    let body = error_body(response, 404).await;
    let fixture: Value = serde_json::from_str(fixtures::ERROR_404).unwrap();
    assert_eq!(body, fixture);

    // Query validation.
    for (query, needle) in [
        ("limit=501", "limit"),
        ("offset=10001", "offset"),
        ("where=firstName%20like%20%22A%22", "where"),
        ("sort=addresses%20asc", "sort"),
    ] {
        let response = http
            .get(format!("{base}?{query}"))
            .bearer_auth(&manage)
            .send()
            .await
            .unwrap();
        let body = error_body(response, 400).await;
        assert_eq!(code(&body), "InvalidInput", "{query}");
        assert!(body["message"].as_str().unwrap().contains(needle), "{body}");
    }
    let page: Value = http
        .get(format!("{base}?limit=500&offset=0"))
        .bearer_auth(&manage)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            &page["limit"],
            &page["offset"],
            &page["count"],
            &page["total"]
        ),
        (&json!(500), &json!(0), &json!(1), &json!(1))
    );

    // Updates: unknown action, stale version.
    let update = |version: u64, actions: Value| {
        http.post(format!("{base}/{id}"))
            .bearer_auth(&manage)
            .json(&json!({"version": version, "actions": actions}))
            .send()
    };
    let response = update(1, json!([{"action": "setShoeSize", "size": 44}]))
        .await
        .unwrap();
    let body = error_body(response, 400).await;
    assert_eq!(code(&body), "InvalidInput");
    assert!(body["message"].as_str().unwrap().contains("setShoeSize"));
    let response = update(1, json!([{"action": "setFirstName", "firstName": "Ada"}]))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = update(1, json!([{"action": "setLastName", "lastName": "L"}]))
        .await
        .unwrap();
    let body = error_body(response, 409).await;
    assert_eq!(code(&body), "ConcurrentModification");
    assert_eq!(body["errors"][0]["currentVersion"], 2);

    // A read-only token cannot write.
    let view = token(&emulator, &http, &format!("view_customers:{pk}")).await;
    let response = http
        .delete(format!("{base}/{id}?version=2"))
        .bearer_auth(&view)
        .send()
        .await
        .unwrap();
    let body = error_body(response, 403).await;
    assert_eq!(code(&body), "insufficient_scope");

    // Delete needs the current version.
    let response = http
        .delete(format!("{base}/{id}?version=1"))
        .bearer_auth(&manage)
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(&error_body(response, 409).await),
        "ConcurrentModification"
    );
    let response = http
        .delete(format!("{base}/{id}?version=2"))
        .bearer_auth(&manage)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(emulator.customer_count(), 0);

    // Expired tokens.
    emulator.expire_tokens();
    let body = error_body(
        http.get(&base).bearer_auth(&manage).send().await.unwrap(),
        401,
    )
    .await;
    assert_eq!(code(&body), "invalid_token");
}

/// Receives exactly the payloads already delivered to `queue`.
async fn drain(queue: &MemoryQueue<RawPayload>) -> Vec<Value> {
    let mut payloads = Vec::new();
    loop {
        let batch = queue.receive(100, Duration::from_millis(20)).await.unwrap();
        if batch.is_empty() {
            return payloads;
        }
        for delivery in batch {
            payloads.push(serde_json::from_str(&delivery.item().body).unwrap());
            delivery.ack().await.unwrap();
        }
    }
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

fn fixture(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn writes_deliver_payloads_shaped_like_the_fixtures() {
    let emulator = CommercetoolsEmulator::builder()
        .project_key("fluent-ct-dev")
        .start()
        .await
        .unwrap();
    let queues: BTreeMap<&str, (MemoryQueue<RawPayload>, NotificationFormat)> = [
        ("changes", NotificationFormat::ChangeNotifications),
        ("messages", NotificationFormat::Messages),
        ("cloudevents", NotificationFormat::CloudEvents),
        ("eventbridge", NotificationFormat::EventBridge),
    ]
    .into_iter()
    .map(|(name, format)| (name, (MemoryQueue::new(name, 100), format)))
    .collect();
    for (queue, format) in queues.values() {
        emulator.subscribe(Arc::new(queue.clone()), *format);
    }
    let client = emulator.client().unwrap();

    let customer = client
        .create_customer(
            &CustomerDraft::new("ada@example.com")
                .with_password("pw")
                .with_key("cust-1001"),
        )
        .await
        .unwrap();
    client
        .update_customer(
            &customer.id,
            1,
            vec![
                CustomerUpdateAction::SetFirstName {
                    first_name: Some("Ada".into()),
                },
                CustomerUpdateAction::SetMiddleName {
                    middle_name: Some("King".into()),
                },
            ],
        )
        .await
        .unwrap();
    // A change without any Message type: only change notifications see it.
    client
        .update_customer(
            &customer.id,
            2,
            vec![CustomerUpdateAction::SetSalutation {
                salutation: Some("Ms".into()),
            }],
        )
        .await
        .unwrap();
    client.delete_customer(&customer.id, 3).await.unwrap();

    // Change notifications: one per write, in version order.
    let changes = drain(&queues["changes"].0).await;
    let summary: Vec<(String, u64, Option<u64>)> = changes
        .iter()
        .map(|c| {
            (
                c["notificationType"].as_str().unwrap().to_owned(),
                c["version"].as_u64().unwrap(),
                c["oldVersion"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ResourceCreated".to_owned(), 1, None),
            ("ResourceUpdated".to_owned(), 2, Some(1)),
            ("ResourceUpdated".to_owned(), 3, Some(2)),
            ("ResourceDeleted".to_owned(), 3, None),
        ]
    );
    assert_eq!(
        keys(&changes[0]),
        keys(&fixture(fixtures::CHANGE_RESOURCE_CREATED))
    );
    assert_eq!(
        keys(&changes[1]),
        keys(&fixture(fixtures::CHANGE_RESOURCE_UPDATED))
    );
    assert_eq!(
        keys(&changes[3]),
        keys(&fixture(fixtures::CHANGE_RESOURCE_DELETED))
    );
    assert_eq!(
        changes[0]["resource"],
        json!({"typeId": "customer", "id": customer.id})
    );
    assert_eq!(
        changes[0]["resourceUserProvidedIdentifiers"]["key"],
        "cust-1001"
    );

    // Messages: CustomerCreated, CustomerFirstNameSet, CustomerDeleted; the
    // middle name and salutation have no Message type.
    let messages = drain(&queues["messages"].0).await;
    let summary: Vec<(String, u64, u64)> = messages
        .iter()
        .map(|m| {
            (
                m["type"].as_str().unwrap().to_owned(),
                m["sequenceNumber"].as_u64().unwrap(),
                m["resourceVersion"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("CustomerCreated".to_owned(), 1, 1),
            ("CustomerFirstNameSet".to_owned(), 2, 2),
            ("CustomerDeleted".to_owned(), 3, 3),
        ]
    );
    assert_eq!(
        keys(&messages[0]),
        keys(&fixture(fixtures::PLATFORM_MESSAGE_CUSTOMER_CREATED))
    );
    assert_eq!(
        keys(&messages[2]),
        keys(&fixture(fixtures::PLATFORM_MESSAGE_CUSTOMER_DELETED))
    );
    assert_eq!(messages[0]["customer"]["email"], "ada@example.com");
    assert_eq!(messages[1]["firstName"], "Ada");

    // CloudEvents and EventBridge envelopes.
    let cloud = drain(&queues["cloudevents"].0).await;
    assert_eq!(cloud.len(), 4);
    let cloud_fixture = fixture(fixtures::CLOUDEVENTS_RESOURCE_UPDATED);
    assert_eq!(keys(&cloud[1]), keys(&cloud_fixture));
    assert_eq!(keys(&cloud[1]["data"]), keys(&cloud_fixture["data"]));
    assert_eq!(cloud[1]["type"], cloud_fixture["type"]);
    assert_eq!(cloud[1]["source"], cloud_fixture["source"]);
    assert_eq!(cloud[1]["subject"], customer.id.as_str());

    let bridge = drain(&queues["eventbridge"].0).await;
    assert_eq!(bridge.len(), 4);
    let bridge_fixture = fixture(fixtures::EVENTBRIDGE_RESOURCE_CREATED);
    assert_eq!(keys(&bridge[0]), keys(&bridge_fixture));
    assert_eq!(keys(&bridge[0]["detail"]), keys(&bridge_fixture["detail"]));
    assert_eq!(bridge[0]["detail-type"], "ResourceCreated");
    let source = bridge[0]["source"].as_str().unwrap();
    assert!(
        source.starts_with("aws.partner/commercetools.com/fluent-ct-dev/subscription-"),
        "{source}"
    );

    // Everything the emulator delivers is understood by the translator.
    let translator = SubscriptionTranslator::new(BTreeMap::from([(
        "customer".to_owned(),
        "commercetools.connect.customer.upsert".to_owned(),
    )]));
    for payload in changes.iter().chain(&messages).chain(&cloud).chain(&bridge) {
        let raw = RawPayload::new(payload.to_string());
        match translator.translate(&raw).unwrap() {
            Translation::Message(message) => {
                assert_eq!(message.resource_id(), Some(customer.id.as_str()));
                assert_eq!(message.attribute("project-key"), Some("fluent-ct-dev"));
            }
            Translation::Ignore(reason) => panic!("{reason}"),
        }
    }
    assert_eq!(emulator.stats().notifications, 4 + 3 + 4 + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_notify_in_version_order() {
    let emulator = Arc::new(CommercetoolsEmulator::start().await.unwrap());
    let queue = MemoryQueue::new("changes", 1_000);
    emulator.subscribe(
        Arc::new(queue.clone()),
        NotificationFormat::ChangeNotifications,
    );
    let customer = emulator
        .insert_customer(CustomerDraft::new("ada@example.com"))
        .await
        .unwrap();

    let mut writers = tokio::task::JoinSet::new();
    for i in 0..20 {
        let emulator = Arc::clone(&emulator);
        let id = customer.id.clone();
        writers.spawn(async move {
            emulator
                .update_customer(
                    &id,
                    vec![CustomerUpdateAction::SetExternalId {
                        external_id: Some(format!("crm-{i}")),
                    }],
                )
                .await
                .unwrap()
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }

    let versions: Vec<u64> = drain(&queue)
        .await
        .iter()
        .map(|p| {
            SubscriptionEvent::parse(&p.to_string())
                .unwrap()
                .version
                .unwrap()
        })
        .collect();
    assert_eq!(versions, (1..=21).collect::<Vec<_>>());
    assert_eq!(emulator.customer(&customer.id).unwrap().version, 21);

    let silent = emulator
        .insert_customer_silently(CustomerDraft::new("quiet@example.com"))
        .unwrap();
    assert!(
        drain(&queue).await.is_empty(),
        "silent inserts notify nobody"
    );
    assert!(emulator.customer(&silent.id).is_some());
    let duplicate = emulator
        .insert_customer_silently(CustomerDraft::new("Quiet@example.com"))
        .unwrap_err();
    assert_eq!(duplicate.code, "DuplicateField");
}

#[tokio::test]
async fn update_actions_follow_the_api_rules() {
    use CustomerUpdateAction as A;
    use connect_commercetools::Address;

    let emulator = CommercetoolsEmulator::start().await.unwrap();
    let messages = MemoryQueue::new("messages", 100);
    emulator.subscribe(Arc::new(messages.clone()), NotificationFormat::Messages);
    let client = emulator.client().unwrap();
    let customer = client
        .create_customer(&CustomerDraft::new("ada@example.com").with_external_auth())
        .await
        .unwrap();
    let mut office = Address::new("GB");
    office.key = Some("office".into());

    let updated = client
        .update_customer(
            &customer.id,
            1,
            vec![
                A::AddAddress { address: office },
                A::SetDefaultShippingAddress {
                    address_id: None,
                    address_key: Some("office".into()),
                },
                A::SetCustomerNumber {
                    customer_number: Some("1001".into()),
                },
            ],
        )
        .await
        .unwrap();
    let office_id = updated.addresses[0].id.clone().unwrap();
    assert_eq!(
        updated.default_shipping_address_id.as_deref(),
        Some(office_id.as_str())
    );
    assert_eq!(
        updated.shipping_address_ids,
        std::slice::from_ref(&office_id)
    );
    assert_eq!(updated.version, 2, "one version per update request");

    // All or nothing: the failing second action leaves the customer as it was.
    let error = client
        .update_customer(
            &customer.id,
            2,
            vec![
                A::SetTitle {
                    title: Some("Dr".into()),
                },
                A::SetCustomField {
                    name: "tier".into(),
                    value: Some(json!("gold")),
                },
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(error.codes(), ["InvalidOperation"]);
    let unchanged = emulator.customer(&customer.id).unwrap();
    assert_eq!((unchanged.version, unchanged.title), (2, None));

    let error = client
        .update_customer(
            &customer.id,
            2,
            vec![A::SetCustomerNumber {
                customer_number: Some("1002".into()),
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(error.codes(), ["InvalidOperation"], "set once only");

    let removed = client
        .update_customer(
            &customer.id,
            2,
            vec![A::RemoveAddress {
                address_id: Some(office_id),
                address_key: None,
            }],
        )
        .await
        .unwrap();
    assert!(removed.addresses.is_empty());
    assert!(removed.default_shipping_address_id.is_none());
    assert!(removed.shipping_address_ids.is_empty());

    let types: Vec<String> = drain(&messages)
        .await
        .iter()
        .map(|m| m["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "CustomerCreated",
            "CustomerAddressAdded",
            "CustomerDefaultShippingAddressSet",
            "CustomerAddressRemoved"
        ]
    );
}
