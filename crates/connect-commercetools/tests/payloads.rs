#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Subscription payloads: format detection, translation into connect
//! messages, the CT queue listener, and the customer model's tolerance.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use connect_commercetools::payload::{
    Notification, PayloadError, PayloadFormat, SubscriptionEvent,
};
use connect_commercetools::{CT_QUEUE_LISTENER, Customer, SubscriptionTranslator};
use connect_core::Message;
use connect_core::dead_letter::MemoryDeadLetters;
use connect_core::listener::{Listener, Translate, Translation};
use connect_core::queue::{MemoryQueue, RawPayload, Sink, Source};
use connect_core::runtime::Shutdown;
use connect_testkit::fixtures::commercetools as fixtures;
use serde_json::{Value, json};

const ROUTE: &str = "commercetools.connect.customer.upsert";
const CUSTOMER_ID: &str = "14a4ef54-957d-4148-b0be-de8d0fbc411d";

fn translator() -> SubscriptionTranslator {
    SubscriptionTranslator::new(BTreeMap::from([("customer".to_owned(), ROUTE.to_owned())]))
}

fn translate(body: &str) -> Message {
    match translator().translate(&RawPayload::new(body)).unwrap() {
        Translation::Message(message) => message,
        Translation::Ignore(reason) => panic!("ignored: {reason}"),
    }
}

struct Expected {
    event_type: &'static str,
    format: &'static str,
    version: Option<u64>,
    sequence_number: Option<u64>,
    id: Option<&'static str>,
}

fn expected(file: &str) -> Expected {
    let (event_type, format, version, sequence_number, id) = match file {
        "change-resource-created.json" => ("ResourceCreated", "platform", Some(1), None, None),
        "change-resource-updated.json" => ("ResourceUpdated", "platform", Some(3), None, None),
        "change-resource-deleted.json" => ("ResourceDeleted", "platform", Some(4), None, None),
        "cloudevents-resource-updated.json" => (
            "ResourceUpdated",
            "cloudevents",
            Some(3),
            None,
            Some("3b0c5c2e-6f1d-4a44-9f0a-2f9a3e1d7c11"),
        ),
        "eventbridge-resource-created.json" => (
            "ResourceCreated",
            "eventbridge",
            Some(1),
            None,
            Some("d5f1a4b0-9c3e-4f6a-8b2d-1e0f9a8b7c6d"),
        ),
        "platform-message-customer-created.json" => (
            "CustomerCreated",
            "platform",
            Some(1),
            Some(1),
            Some("7e2c9a56-1b0f-4f7e-9d1e-3f2a1b0c9d8e"),
        ),
        "platform-message-customer-deleted.json" => (
            "CustomerDeleted",
            "platform",
            Some(3),
            Some(3),
            Some("85c1c53e-75c8-413a-b8f5-08701292486e"),
        ),
        other => panic!("a new fixture needs an expectation here: {other}"),
    };
    Expected {
        event_type,
        format,
        version,
        sequence_number,
        id,
    }
}

#[test]
fn every_fixture_becomes_a_customer_message() {
    assert_eq!(fixtures::SUBSCRIPTION_PAYLOADS.len(), 7);
    for (file, body) in fixtures::SUBSCRIPTION_PAYLOADS {
        let want = expected(file);
        let message = translate(body);
        assert_eq!(message.route, ROUTE, "{file}");
        assert_eq!(
            message.event_type.as_deref(),
            Some(want.event_type),
            "{file}"
        );
        let resource = message.resource.as_ref().unwrap();
        assert_eq!(resource.type_id, "customer", "{file}");
        assert_eq!(resource.id, CUSTOMER_ID, "{file}");
        assert_eq!(resource.version, want.version, "{file}");
        assert_eq!(resource.sequence_number, want.sequence_number, "{file}");
        assert_eq!(message.attribute("source"), Some("commercetools"), "{file}");
        assert_eq!(
            message.attribute("project-key"),
            Some("fluent-ct-dev"),
            "{file}"
        );
        assert_eq!(message.attribute("format"), Some(want.format), "{file}");
        match want.id {
            Some(id) => assert_eq!(message.id, id, "{file}"),
            None => assert_eq!(message.id.len(), 36, "a fresh UUID for {file}"),
        }
        // The payload is the Platform payload, unwrapped from envelopes.
        let payload = message.payload.json().unwrap();
        assert_eq!(
            payload["resource"]["id"], CUSTOMER_ID,
            "{file}: {}",
            message.payload
        );
        assert!(payload.get("notificationType").is_some(), "{file}");
        assert!(
            payload.get("detail").is_none() && payload.get("data").is_none(),
            "{file}"
        );
    }
}

#[test]
fn change_notifications_without_an_id_get_distinct_ids() {
    let a = translate(fixtures::CHANGE_RESOURCE_UPDATED);
    let b = translate(fixtures::CHANGE_RESOURCE_UPDATED);
    assert_ne!(a.id, b.id);
}

#[test]
fn formats_are_detected() {
    let cases = [
        (fixtures::CHANGE_RESOURCE_CREATED, PayloadFormat::Platform),
        (
            fixtures::PLATFORM_MESSAGE_CUSTOMER_CREATED,
            PayloadFormat::Platform,
        ),
        (
            fixtures::CLOUDEVENTS_RESOURCE_UPDATED,
            PayloadFormat::CloudEvents,
        ),
        (
            fixtures::EVENTBRIDGE_RESOURCE_CREATED,
            PayloadFormat::EventBridge,
        ),
    ];
    for (body, format) in cases {
        assert_eq!(SubscriptionEvent::parse(body).unwrap().format, format);
    }
    let eventbridge = SubscriptionEvent::parse(fixtures::EVENTBRIDGE_RESOURCE_CREATED).unwrap();
    assert_eq!(
        eventbridge.subscription_key.as_deref(),
        Some("ct-customer-sub")
    );
    let message = SubscriptionEvent::parse(fixtures::PLATFORM_MESSAGE_CUSTOMER_CREATED).unwrap();
    assert!(message.is_message());
    assert_eq!(message.notification_type, "Message");
    assert!(message.payload_included);
}

#[test]
fn envelopes_without_a_project_key_inside_take_it_from_the_envelope() {
    let mut eventbridge: Value =
        serde_json::from_str(fixtures::EVENTBRIDGE_RESOURCE_CREATED).unwrap();
    eventbridge["detail"]
        .as_object_mut()
        .unwrap()
        .remove("projectKey");
    eventbridge.as_object_mut().unwrap().remove("account");
    let message = translate(&eventbridge.to_string());
    assert_eq!(message.attribute("project-key"), Some("fluent-ct-dev"));

    let mut cloud: Value = serde_json::from_str(fixtures::CLOUDEVENTS_RESOURCE_UPDATED).unwrap();
    cloud["data"].as_object_mut().unwrap().remove("projectKey");
    let message = translate(&cloud.to_string());
    assert_eq!(message.attribute("project-key"), Some("fluent-ct-dev"));
}

#[test]
fn unknown_types_and_fields_are_tolerated() {
    let message = translate(
        r#"{"notificationType": "Message", "projectKey": "p", "id": "m-1", "version": 1,
            "sequenceNumber": 9, "resource": {"typeId": "customer", "id": "c-1"},
            "resourceVersion": 12, "type": "CustomerLoyaltyTierUpgraded",
            "tier": {"from": "silver", "to": "gold"}, "brandNewField": [1, 2, 3],
            "createdAt": "2030-01-01T00:00:00.000Z", "lastModifiedAt": "2030-01-01T00:00:00.000Z"}"#,
    );
    assert_eq!(
        message.event_type.as_deref(),
        Some("CustomerLoyaltyTierUpgraded")
    );
    assert_eq!(message.resource.as_ref().unwrap().sequence_number, Some(9));
    assert_eq!(message.payload.json().unwrap()["tier"]["to"], "gold");

    let future = translate(
        r#"{"notificationType": "ResourceArchived", "projectKey": "p",
            "resource": {"typeId": "customer", "id": "c-1"}, "version": 8, "archiveTier": "cold"}"#,
    );
    assert_eq!(future.event_type.as_deref(), Some("ResourceArchived"));
    assert_eq!(future.resource.as_ref().unwrap().version, Some(8));
}

#[test]
fn payload_not_included_is_tolerated() {
    let message = translate(
        r#"{"notificationType": "Message", "projectKey": "p", "id": "m-2", "version": 1,
            "sequenceNumber": 2, "resource": {"typeId": "customer", "id": "c-1"},
            "resourceVersion": 5, "resourceUserProvidedIdentifiers": {},
            "payloadNotIncluded": {"reason": "Payload too large", "payloadType": "CustomerCreated"},
            "createdAt": "2024-01-30T08:00:00.000Z", "lastModifiedAt": "2024-01-30T08:00:00.000Z"}"#,
    );
    assert_eq!(message.event_type.as_deref(), Some("CustomerCreated"));
    assert_eq!(message.id, "m-2");
    let event = SubscriptionEvent::parse(&message.payload.to_string()).unwrap();
    assert!(!event.payload_included);
}

#[test]
fn unmapped_resource_types_are_ignored() {
    let body = fixtures::CHANGE_RESOURCE_CREATED.replace("\"customer\"", "\"order\"");
    match translator().translate(&RawPayload::new(body)).unwrap() {
        Translation::Ignore(reason) => assert!(reason.contains("order"), "{reason}"),
        Translation::Message(message) => panic!("routed: {message:?}"),
    }
}

#[test]
fn malformed_payloads_say_what_is_missing() {
    let cases = [
        ("not json at all", "not JSON"),
        ("[1, 2]", "an array"),
        (r#"{"projectKey": "p"}"#, "`notificationType`"),
        (
            r#"{"notificationType": "ResourceCreated"}"#,
            "`resource` object",
        ),
        (
            r#"{"notificationType": "ResourceCreated", "resource": {"id": "c"}}"#,
            "`resource.typeId`",
        ),
        (
            r#"{"notificationType": "ResourceCreated", "resource": {"typeId": "customer"}}"#,
            "`resource.id`",
        ),
        (
            r#"{"notificationType": "Message", "resource": {"typeId": "customer", "id": "c"}}"#,
            "message `type`",
        ),
        (r#"{"specversion": "1.0", "id": "e"}"#, "`data`"),
        (
            r#"{"version": "0", "detail-type": "ResourceCreated", "source": "aws.partner/commercetools.com/p/s"}"#,
            "`detail`",
        ),
        (
            r#"{"specversion": "1.0", "data": {"notificationType": "ResourceCreated"}}"#,
            "cloudevents payload has no `resource` object",
        ),
    ];
    for (body, needle) in cases {
        let error = translator()
            .translate(&RawPayload::new(body))
            .unwrap_err()
            .to_string();
        assert!(error.contains(needle), "{body}: {error}");
    }
}

/// Receives `n` items from `queue` (acknowledging them) within 5 s.
async fn take<T: Send + Clone + 'static>(queue: &MemoryQueue<T>, n: usize) -> Vec<T> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut items = Vec::new();
    while items.len() < n && tokio::time::Instant::now() < deadline {
        for delivery in queue
            .receive(n - items.len(), Duration::from_millis(200))
            .await
            .unwrap()
        {
            items.push(delivery.item().clone());
            delivery.ack().await.unwrap();
        }
    }
    items
}

#[tokio::test]
async fn the_listener_dead_letters_malformed_payloads_and_keeps_going() {
    let ct_queue = MemoryQueue::<RawPayload>::new("ct-queue", 100);
    let events = MemoryQueue::<Message>::new("events", 100);
    let dead_letters = Arc::new(MemoryDeadLetters::new());
    let bodies = [
        fixtures::CHANGE_RESOURCE_CREATED.to_owned(),
        "{ this is not json".to_owned(),
        fixtures::CHANGE_RESOURCE_CREATED.replace("\"customer\"", "\"order\""),
        fixtures::CLOUDEVENTS_RESOURCE_UPDATED.to_owned(),
        fixtures::PLATFORM_MESSAGE_CUSTOMER_DELETED.to_owned(),
    ];
    for body in &bodies {
        ct_queue.send(RawPayload::new(body.clone())).await.unwrap();
    }
    ct_queue.close();

    let listener = Listener::new(
        CT_QUEUE_LISTENER,
        Arc::new(ct_queue.clone()),
        Arc::new(translator()),
        Arc::new(events.clone()),
    )
    .with_dead_letters(dead_letters.clone())
    .with_receive(2, Duration::from_millis(50));
    let report = tokio::time::timeout(Duration::from_secs(10), listener.run(Shutdown::new()))
        .await
        .expect("the listener stops when the closed CT queue is drained");

    assert_eq!(report.metrics.received, 5);
    assert_eq!(report.metrics.forwarded, 3);
    assert_eq!(report.metrics.ignored, 1);
    assert_eq!(report.metrics.dead_lettered, 1);
    assert!(ct_queue.is_idle(), "every payload was acknowledged");

    let letters = dead_letters.snapshot();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].raw.as_deref(), Some("{ this is not json"));
    assert!(
        letters[0].error.contains("not JSON"),
        "{}",
        letters[0].error
    );

    let messages = take(&events, 3).await;
    let types: Vec<&str> = messages
        .iter()
        .map(|m| m.event_type.as_deref().unwrap())
        .collect();
    assert_eq!(
        types,
        ["ResourceCreated", "ResourceUpdated", "CustomerDeleted"]
    );
    assert!(messages.iter().all(|m| m.route == ROUTE));
}

#[test]
fn a_customer_round_trip_keeps_every_field() {
    let original: Value = serde_json::from_str(fixtures::CUSTOMER).unwrap();
    let customer: Customer = serde_json::from_value(original.clone()).unwrap();

    assert_eq!(customer.email, "ada.lovelace@example.com");
    assert_eq!(customer.version, 3);
    assert_eq!(customer.date_of_birth.unwrap().to_string(), "1815-12-10");
    assert_eq!(
        customer
            .default_shipping_address()
            .unwrap()
            .mobile
            .as_deref(),
        Some("+44 7700 900123")
    );
    assert_eq!(customer.custom_field("loyaltyTier"), Some(&json!("gold")));
    assert_eq!(customer.authentication_mode.as_str(), "Password");
    assert_eq!(
        customer.extra.get("versionModifiedAt"),
        Some(&json!("2024-01-31T09:12:44.210Z")),
        "unknown fields are kept"
    );

    assert_eq!(serde_json::to_value(&customer).unwrap(), original);
}

#[test]
fn unknown_customer_and_address_fields_survive() {
    let mut value: Value = serde_json::from_str(fixtures::CUSTOMER).unwrap();
    value["futureField"] = json!({"nested": true});
    value["authenticationMode"] = json!("Passkey");
    value["addresses"][0]["what3words"] = json!("filled.count.soap");
    let customer: Customer = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(
        customer.addresses[0].extra["what3words"],
        "filled.count.soap"
    );
    assert_eq!(serde_json::to_value(&customer).unwrap(), value);

    let created: Value = serde_json::from_str(fixtures::PLATFORM_MESSAGE_CUSTOMER_CREATED).unwrap();
    let embedded: Customer = serde_json::from_value(created["customer"].clone()).unwrap();
    assert_eq!(embedded.id, CUSTOMER_ID);
}

#[test]
fn escaped_strings_and_wrong_types_are_handled() {
    // Escapes cannot be borrowed from the body: they are decoded.
    let escaped = r#"{"notificationType": "ResourceUpdated", "projectKey": "shop\u002Deu",
        "resource": {"typeId": "customer", "id": "c\"1"}, "version": 2}"#;
    let event = SubscriptionEvent::parse(escaped).unwrap();
    assert_eq!(event.project_key.as_deref(), Some("shop-eu"));
    assert_eq!(event.resource_id, "c\"1");
    assert_eq!(event.version, Some(2));
    assert_eq!(event.payload.json().unwrap()["resource"]["id"], "c\"1");

    let wrong_type =
        r#"{"notificationType": "ResourceUpdated", "resource": {"typeId": 7, "id": "c-1"}}"#;
    let error = SubscriptionEvent::parse(wrong_type)
        .unwrap_err()
        .to_string();
    assert!(error.contains("wrong type"), "{error}");

    let array = SubscriptionEvent::parse("[1, 2]").unwrap_err().to_string();
    assert!(array.contains("is an array, not a JSON object"), "{array}");
}

/// The check commercetools sends when a Subscription is created: a
/// `ResourceCreated` notification about the Subscription itself (what
/// commercetools' own SDK tests wait for after creating one).
const SUBSCRIPTION_CHECK: &str = r#"{"notificationType": "ResourceCreated", "projectKey": "fluent-ct-dev",
    "resource": {"typeId": "subscription", "id": "8062243c-46fc-40b5-88a4-75e2216aef75"},
    "version": 1, "modifiedAt": "2024-01-30T08:00:00.000Z"}"#;

/// An Event (beta) payload, as in commercetools' Events reference.
const IMPORT_EVENT: &str = r#"{"id": "3b364ca2-cbe5-42b4-a85a-37d4e57d659e", "notificationType": "Event",
    "resourceType": "import-api", "type": "ImportContainerCreated",
    "data": {"version": 1, "key": "my-import-container"}, "createdAt": "2025-03-26T17:28:20.397Z"}"#;

fn ignored(translator: &SubscriptionTranslator, body: &str) -> String {
    match translator.translate(&RawPayload::new(body)) {
        Ok(Translation::Ignore(reason)) => reason,
        Ok(Translation::Message(message)) => panic!("routed: {message:?}"),
        Err(error) => panic!("refused: {error}"),
    }
}

#[test]
fn the_subscription_check_is_acknowledged_in_every_format() {
    // Even when someone maps `subscription` to a route.
    let translator = SubscriptionTranslator::new(BTreeMap::from([
        ("customer".to_owned(), ROUTE.to_owned()),
        ("subscription".to_owned(), ROUTE.to_owned()),
    ]));
    let cloudevent = format!(
        r#"{{"specversion": "1.0", "id": "e-1", "type": "com.commercetools.subscription.change.ResourceCreated",
            "source": "/fluent-ct-dev/subscriptions", "data": {SUBSCRIPTION_CHECK}}}"#
    );
    let eventbridge = format!(
        r#"{{"version": "0", "id": "e-2", "detail-type": "ResourceCreated",
            "source": "aws.partner/commercetools.com/fluent-ct-dev/sub", "detail": {SUBSCRIPTION_CHECK}}}"#
    );
    for body in [SUBSCRIPTION_CHECK, &cloudevent, &eventbridge] {
        let reason = ignored(&translator, body);
        assert!(
            reason.contains("subscription check for new Subscription 8062243c"),
            "{reason}"
        );
    }
    assert!(matches!(
        Notification::parse(SUBSCRIPTION_CHECK).unwrap(),
        Notification::SubscriptionCheck { .. }
    ));
    let error = SubscriptionEvent::parse(SUBSCRIPTION_CHECK).unwrap_err();
    assert!(
        matches!(error, PayloadError::NotAboutAResource(_)),
        "{error}"
    );
}

#[test]
fn event_payloads_are_acknowledged_not_dead_lettered() {
    let cloudevent = r#"{"specversion": "1.0", "id": "e-3", "source": "/fluent-ct-dev/import-api",
        "type": "com.commercetools.import-api.event.ImportContainerCreated", "data": {"key": "c"}}"#;
    for body in [IMPORT_EVENT, cloudevent] {
        let reason = ignored(&translator(), body);
        assert!(
            reason.contains("Event `ImportContainerCreated` (import-api"),
            "{reason}"
        );
    }
}

#[test]
fn payloads_of_another_project_are_ignored_once_the_project_is_known() {
    let ours = translator().with_project_key("fluent-ct-dev");
    assert_eq!(ours.project_key(), Some("fluent-ct-dev"));
    let other = fixtures::CHANGE_RESOURCE_CREATED.replace("fluent-ct-dev", "someone-else");
    let reason = ignored(&ours, &other);
    assert!(
        reason.contains("payload of commercetools project `someone-else`, but this connector serves `fluent-ct-dev`"),
        "{reason}"
    );
    // The envelope's project counts when the payload names none.
    let eventbridge = fixtures::EVENTBRIDGE_RESOURCE_CREATED
        .replace("\"projectKey\": \"fluent-ct-dev\",", "")
        .replace(
            "commercetools.com/fluent-ct-dev/",
            "commercetools.com/someone-else/",
        );
    assert!(ignored(&ours, &eventbridge).contains("`someone-else`"));
    // Our project, and payloads naming none, are processed.
    for body in [
        fixtures::CHANGE_RESOURCE_CREATED.to_owned(),
        fixtures::CHANGE_RESOURCE_CREATED.replace("\"projectKey\": \"fluent-ct-dev\",", ""),
    ] {
        assert!(matches!(
            ours.translate(&RawPayload::new(body)).unwrap(),
            Translation::Message(_)
        ));
    }
    // Without a project key, every project is processed (as before).
    assert!(matches!(
        translator().translate(&RawPayload::new(other)).unwrap(),
        Translation::Message(_)
    ));
}

#[test]
fn impossible_resource_ids_are_refused_at_once() {
    let long = "a".repeat(100_000);
    let cases = [
        ("", "`resource.id` is empty"),
        ("   ", "`resource.id` is empty"),
        (
            long.as_str(),
            "`resource.id` is 100000 characters long (at most 256",
        ),
        ("c-1\\u0000", "`resource.id` holds control characters"),
    ];
    for (id, needle) in cases {
        let body = fixtures::CHANGE_RESOURCE_CREATED.replace(CUSTOMER_ID, id);
        let error = translator()
            .translate(&RawPayload::new(body))
            .unwrap_err()
            .to_string();
        assert!(error.contains(needle), "{error}");
        assert!(
            error.contains("commercetools resource id is a UUID"),
            "{error}"
        );
    }
    // A 256-character id is still accepted.
    let body = fixtures::CHANGE_RESOURCE_CREATED.replace(CUSTOMER_ID, &"b".repeat(256));
    assert!(matches!(
        translator().translate(&RawPayload::new(body)).unwrap(),
        Translation::Message(_)
    ));
}

#[tokio::test]
async fn the_listener_acknowledges_checks_and_events_and_dead_letters_bad_ids() {
    let ct_queue = MemoryQueue::<RawPayload>::new("ct-queue", 100);
    let events = MemoryQueue::<Message>::new("events", 100);
    let dead_letters = Arc::new(MemoryDeadLetters::new());
    let bodies = [
        SUBSCRIPTION_CHECK.to_owned(),
        IMPORT_EVENT.to_owned(),
        fixtures::CHANGE_RESOURCE_CREATED.replace(CUSTOMER_ID, ""),
        fixtures::CHANGE_RESOURCE_CREATED.replace("fluent-ct-dev", "someone-else"),
        fixtures::CHANGE_RESOURCE_UPDATED.to_owned(),
    ];
    for body in &bodies {
        ct_queue.send(RawPayload::new(body.clone())).await.unwrap();
    }
    ct_queue.close();
    let listener = Listener::new(
        CT_QUEUE_LISTENER,
        Arc::new(ct_queue.clone()),
        Arc::new(translator().with_project_key("fluent-ct-dev")),
        Arc::new(events.clone()),
    )
    .with_dead_letters(dead_letters.clone());
    let report = tokio::time::timeout(Duration::from_secs(10), listener.run(Shutdown::new()))
        .await
        .expect("the listener stops when the closed CT queue is drained");
    assert_eq!(report.metrics.received, 5);
    assert_eq!(report.metrics.ignored, 3, "check, Event, other project");
    assert_eq!(report.metrics.dead_lettered, 1, "the empty id");
    assert_eq!(report.metrics.forwarded, 1);
    assert!(ct_queue.is_idle(), "every payload was acknowledged");
    let letters = dead_letters.snapshot();
    assert!(
        letters[0].error.contains("`resource.id` is empty"),
        "{}",
        letters[0].error
    );
    let messages = take(&events, 1).await;
    assert_eq!(messages[0].event_type.as_deref(), Some("ResourceUpdated"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// JSON values shaped like subscription payloads, with random holes.
    fn payloadish() -> impl Strategy<Value = Value> {
        let text = prop_oneof![
            Just(json!("")),
            Just(json!("customer")),
            Just(json!("subscription")),
            Just(json!("Message")),
            Just(json!("Event")),
            Just(json!("ResourceCreated")),
            Just(json!("fluent-ct-dev")),
            Just(json!("1.0")),
            Just(json!("aws.partner/commercetools.com/p/s")),
            Just(json!(null)),
            Just(json!(7)),
            Just(json!(-1)),
            Just(json!(1.5)),
            Just(json!([1])),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        let leaf = text.boxed();
        leaf.prop_recursive(3, 40, 8, |inner| {
            let keys = prop_oneof![
                Just("notificationType"),
                Just("type"),
                Just("resource"),
                Just("typeId"),
                Just("id"),
                Just("projectKey"),
                Just("version"),
                Just("resourceVersion"),
                Just("sequenceNumber"),
                Just("payloadNotIncluded"),
                Just("payloadType"),
                Just("specversion"),
                Just("data"),
                Just("detail"),
                Just("detail-type"),
                Just("source"),
                Just("resourceType"),
            ];
            prop::collection::btree_map(keys, inner, 0..8).prop_map(|map| {
                Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            })
        })
    }

    fn check(translator: &SubscriptionTranslator, body: &str) {
        match translator.translate(&RawPayload::new(body)) {
            Ok(Translation::Message(message)) => {
                let resource = message
                    .resource
                    .expect("a routed message names its resource");
                assert!(!resource.id.trim().is_empty(), "{body}");
                assert!(resource.id.chars().count() <= 256, "{body}");
            }
            Ok(Translation::Ignore(reason)) => assert!(!reason.is_empty()),
            Err(error) => assert!(!error.to_string().is_empty()),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_text_never_panics(body in "\\PC{0,300}") {
            check(&translator().with_project_key("fluent-ct-dev"), &body);
        }

        #[test]
        fn arbitrary_payload_shaped_json_never_panics(value in payloadish()) {
            check(&translator().with_project_key("fluent-ct-dev"), &value.to_string());
        }

        #[test]
        fn mangled_fixtures_never_panic(
            fixture in prop::sample::select(vec![
                fixtures::CHANGE_RESOURCE_CREATED,
                fixtures::CLOUDEVENTS_RESOURCE_UPDATED,
                fixtures::EVENTBRIDGE_RESOURCE_CREATED,
                fixtures::PLATFORM_MESSAGE_CUSTOMER_CREATED,
            ]),
            cut in 0usize..2000,
            insert in "\\PC{0,5}",
        ) {
            let mut body = fixture.to_owned();
            let mut at = cut.min(body.len());
            while !body.is_char_boundary(at) {
                at -= 1;
            }
            body.insert_str(at, &insert);
            check(&translator(), &body);
            body.truncate(at);
            check(&translator(), &body);
        }
    }
}
