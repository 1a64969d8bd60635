//! The Fluent endpoint over loopback HTTP: every refusal gets its answer
//! from the table and leaves nothing on the event queue; signed webhooks
//! become messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use connect_core::queue::Source;
use connect_webhook::{FluentWebhookConfig, Intake, WebhookListener};

async fn assert_refused(
    served: &Served,
    events: &connect_core::queue::MemoryQueue<connect_core::Message>,
    body: &[u8],
    signature: Option<&str>,
    status: u16,
    message: &str,
) {
    let response = post(&served.url(), body, signature).await;
    assert_eq!(
        response.status().as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(body)
    );
    let text = response.text().await.unwrap();
    assert!(text.contains(message), "{text}");
    assert!(
        events.is_empty(),
        "a refused request left a message on the queue"
    );
}

#[tokio::test]
async fn a_signed_webhook_becomes_a_message_with_its_fields() {
    let (served, events) = serve_durable(config()).await;
    let body = serde_json::to_vec(&webhook("OrderStatus")).unwrap();
    let response = post_signed(&served.url(), &body).await;
    assert_eq!(response.status(), 200);

    let delivery = events.receive(1, Duration::ZERO).await.unwrap().remove(0);
    let message = delivery.item();
    assert_eq!(message.route, ROUTE);
    assert_eq!(message.id, "5f7f0e6a-1");
    assert_eq!(message.event_type.as_deref(), Some("COMPLETE"));
    let resource = message.resource.as_ref().unwrap();
    assert_eq!(
        (resource.type_id.as_ref(), resource.id.as_str()),
        ("ORDER", "3786")
    );
    for (key, value) in [
        ("source", "fluent-webhook"),
        ("fluent-account", ACCOUNT),
        ("fluent-retailer", RETAILER),
        ("entity-ref", "HD_387_56"),
        ("entity-status", "COMPLETE"),
        ("webhook-name", "OrderStatus"),
        ("webhook-id", "5f7f0e6a-1"),
        ("webhook-type", "NORMAL"),
        ("root-entity-id", "3786"),
        ("root-entity-type", "ORDER"),
        ("root-entity-ref", "HD_387_56"),
        ("correlation-id", "5f7f0e6a-1"),
    ] {
        assert_eq!(message.attribute(key), Some(value), "{key}");
    }
    assert_eq!(
        message.payload.as_str().as_bytes(),
        body.as_slice(),
        "the raw body is kept"
    );
    delivery.ack().await.unwrap();
    assert_eq!(served.server.metrics().snapshot().fluent.accepted, 1);
}

#[tokio::test]
async fn without_entity_status_the_event_type_is_the_name() {
    let (served, events) = serve_durable(config()).await;
    let mut body = webhook("OrderStatus");
    body.as_object_mut().unwrap().remove("entityStatus");
    let body = serde_json::to_vec(&body).unwrap();
    assert_eq!(post_signed(&served.url(), &body).await.status(), 200);
    let delivery = events.receive(1, Duration::ZERO).await.unwrap().remove(0);
    assert_eq!(delivery.item().event_type.as_deref(), Some("OrderStatus"));
    assert_eq!(delivery.item().attribute("entity-status"), None);
}

#[tokio::test]
async fn bad_signatures_are_401_and_enqueue_nothing() {
    let (served, events) = serve_durable(config()).await;
    let body = serde_json::to_vec(&webhook("OrderStatus")).unwrap();
    let good = fluent_keys().sign(&body);

    // Missing header.
    assert_refused(
        &served,
        &events,
        &body,
        None,
        401,
        "fluent-signature header is missing",
    )
    .await;
    // Forged: random bytes of the right length.
    let forged = base64_of(&[0x5a; 128]);
    assert_refused(
        &served,
        &events,
        &body,
        Some(&forged),
        401,
        "does not verify",
    )
    .await;
    // Not base64.
    assert_refused(&served, &events, &body, Some("!!!"), 401, "does not verify").await;
    // Signed by a key nobody configured.
    let other = other_keys().sign(&body);
    assert_refused(
        &served,
        &events,
        &body,
        Some(&other),
        401,
        "does not verify",
    )
    .await;
    // Tampered body: a good signature of another body.
    let mut tampered = webhook("OrderStatus");
    tampered["entityStatus"] = "CANCELLED".into();
    let tampered = serde_json::to_vec(&tampered).unwrap();
    assert_refused(
        &served,
        &events,
        &tampered,
        Some(&good),
        401,
        "does not verify",
    )
    .await;
    // One byte more (a trailing space) is a different body.
    let mut spaced = body.clone();
    spaced.push(b' ');
    assert_refused(
        &served,
        &events,
        &spaced,
        Some(&good),
        401,
        "does not verify",
    )
    .await;

    // Only flex.signature (the legacy MD5withRSA form), however "valid".
    let response = client()
        .post(served.url())
        .header("flex.signature", &good)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(events.is_empty());

    let counts = served.server.metrics().snapshot().fluent;
    assert_eq!(counts.unauthorized, 7);
    assert_eq!(counts.total(), 7);
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn another_account_or_retailer_is_403() {
    let (served, events) = serve_durable(config()).await;
    for (field, value, message) in [
        ("accountId", "OTHER", "another Fluent account"),
        ("retailerId", "2", "another Fluent retailer"),
        ("accountId", "acme", "another Fluent account"),
    ] {
        let mut body = webhook("OrderStatus");
        body[field] = value.into();
        let body = serde_json::to_vec(&body).unwrap();
        let signature = fluent_keys().sign(&body);
        assert_refused(&served, &events, &body, Some(&signature), 403, message).await;
    }
    assert_eq!(served.server.metrics().snapshot().fluent.forbidden, 3);
}

#[tokio::test]
async fn a_missing_or_mistyped_field_is_400_naming_it() {
    let (served, events) = serve_durable(config()).await;
    for field in [
        "id",
        "name",
        "accountId",
        "retailerId",
        "entityId",
        "entityRef",
        "entityType",
    ] {
        let mut body = webhook("OrderStatus");
        body.as_object_mut().unwrap().remove(field);
        let body = serde_json::to_vec(&body).unwrap();
        let signature = fluent_keys().sign(&body);
        let expected = format!("the required field `{field}` is missing");
        assert_refused(&served, &events, &body, Some(&signature), 400, &expected).await;

        let mut body = webhook("OrderStatus");
        body[field] = 3786.into();
        let body = serde_json::to_vec(&body).unwrap();
        let signature = fluent_keys().sign(&body);
        let expected = format!("the field `{field}` must be a string");
        assert_refused(&served, &events, &body, Some(&signature), 400, &expected).await;
    }
    for (body, expected) in [
        (&b"not json"[..], "the body is not JSON"),
        (&b"[1, 2]"[..], "not a JSON object"),
        (&b""[..], "the body is not JSON"),
        (&[0xff, 0xfe][..], "not UTF-8"),
    ] {
        let signature = fluent_keys().sign(body);
        assert_refused(&served, &events, body, Some(&signature), 400, expected).await;
    }
    assert_eq!(served.server.metrics().snapshot().fluent.bad_request, 18);
}

#[tokio::test]
async fn an_unsigned_non_json_body_is_401_not_400() {
    // Authentication comes before parsing.
    let (served, events) = serve_durable(config()).await;
    assert_refused(
        &served,
        &events,
        b"not json",
        Some("AAAA"),
        401,
        "does not verify",
    )
    .await;
}

#[tokio::test]
async fn an_oversized_body_is_413_by_content_length_and_while_reading() {
    let config = config().with_max_body(connect_webhook::ByteSize::kib(1));
    let (served, events) = serve_durable(config).await;
    let mut big = webhook("OrderStatus");
    big["attributes"] = serde_json::json!({ "padding": "x".repeat(2000) });
    let big = serde_json::to_vec(&big).unwrap();
    let signature = fluent_keys().sign(&big);

    // Content-Length says so: refused before the body is read.
    assert_refused(
        &served,
        &events,
        &big,
        Some(&signature),
        413,
        "over the limit of 1024 bytes",
    )
    .await;

    // Chunked (no Content-Length): refused once 1 KiB was read.
    let head = format!(
        "POST /api/v1/fluent-connect/webhook HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\nfluent-signature: {signature}\r\nconnection: close\r\n\r\n"
    );
    let body = chunked(&big, 100);
    let status = raw_request(served.addr, &head, &[&body], Duration::ZERO).await;
    assert_eq!(status, Some(413));
    assert!(events.is_empty());
    assert_eq!(served.server.metrics().snapshot().fluent.too_large, 2);

    // Exactly at the limit is fine (it fails on the signature only here).
    let at_limit = vec![b' '; 1024];
    assert_refused(
        &served,
        &events,
        &at_limit,
        Some("AAAA"),
        401,
        "does not verify",
    )
    .await;
}

#[tokio::test]
async fn both_configured_keys_are_accepted_for_rotation() {
    let config = FluentWebhookConfig::new(
        "127.0.0.1:0",
        vec![fluent_keys().public(), rotated_keys().public()],
    );
    let (served, events) = serve_durable(config).await;
    let body = serde_json::to_vec(&webhook("OrderStatus")).unwrap();
    for keys in [fluent_keys(), rotated_keys()] {
        let response = post(&served.url(), &body, Some(&keys.sign(&body))).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(events.len(), 2);
    let response = post(&served.url(), &body, Some(&other_keys().sign(&body))).await;
    assert_eq!(response.status(), 401);
    assert_eq!(events.len(), 2);
}

/// Collects WARN lines.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_unmapped_name_is_200_ignored_with_one_warn_per_name() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (served, events) = serve_durable(config()).await;
    for name in [
        "FulfilmentStatus",
        "FulfilmentStatus",
        "ConsignmentStatus",
        "FulfilmentStatus",
    ] {
        let body = serde_json::to_vec(&webhook(name)).unwrap();
        let response = post_signed(&served.url(), &body).await;
        assert_eq!(response.status(), 200);
        assert!(response.text().await.unwrap().contains("ignored"));
    }
    assert!(events.is_empty());
    assert_eq!(served.server.metrics().snapshot().fluent.ignored, 4);
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let warns: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("no webhook-mapping"))
        .collect();
    assert_eq!(warns.len(), 2, "{text}");
    assert_eq!(
        warns
            .iter()
            .filter(|l| l.contains("FulfilmentStatus"))
            .count(),
        1
    );
    assert_eq!(
        warns
            .iter()
            .filter(|l| l.contains("ConsignmentStatus"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_custom_path_is_served_and_other_paths_and_methods_are_4xx() {
    let config = config().with_path("/hooks/fluent");
    let events = connect_core::queue::MemoryQueue::new("events", 10);
    let listener = WebhookListener::fluent(config, mapping(), ACCOUNT, RETAILER);
    let served = serve(listener, Intake::Durable(Arc::new(events.clone()))).await;
    let body = serde_json::to_vec(&webhook("OrderStatus")).unwrap();
    let url = format!("{}/hooks/fluent", served.base);
    assert_eq!(post_signed(&url, &body).await.status(), 200);
    assert_eq!(post_signed(&served.url(), &body).await.status(), 404);
    assert_eq!(client().get(&url).send().await.unwrap().status(), 405);
    assert_eq!(events.len(), 1);
}
