//! The external endpoint: HMAC-SHA256 or bearer authentication before
//! parsing, then `name` → route, on the Fluent listener.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use connect_core::Message;
use connect_core::queue::{MemoryQueue, Source};
use connect_webhook::{
    ExternalAuth, ExternalWebhookConfig, Intake, WebhookListener, WebhookMapping,
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const PATH: &str = "/api/v1/fluent-connect/external-system/webhook";

async fn serve_external(auth: ExternalAuth) -> (Served, MemoryQueue<Message>) {
    let events = MemoryQueue::new("events", 10);
    let listener = WebhookListener::fluent(config(), mapping(), ACCOUNT, RETAILER).external(
        ExternalWebhookConfig::new(auth),
        WebhookMapping::from_iter([("stock.changed", "external.stock")]),
    );
    let served = serve(listener, Intake::Durable(Arc::new(events.clone()))).await;
    (served, events)
}

fn hex_mac(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const BODY: &[u8] = br#"{"id":"e-1","name":"stock.changed","entityType":"SKU","entityId":"sku-9"}"#;

#[tokio::test]
async fn hmac_good_bad_and_missing() {
    let (served, events) =
        serve_external(ExternalAuth::hmac_sha256("s3cret", "x-shop-signature")).await;
    let url = format!("{}{PATH}", served.base);
    let send = |signature: Option<String>, body: &'static [u8]| {
        let url = url.clone();
        async move {
            let mut request = client().post(url).body(body);
            if let Some(signature) = signature {
                request = request.header("x-shop-signature", signature);
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(send(None, BODY).await, 401);
    assert_eq!(send(Some(hex_mac("wrong", BODY)), BODY).await, 401);
    assert_eq!(send(Some("zz".to_owned()), BODY).await, 401);
    let tampered: &[u8] =
        br#"{"id":"e-1","name":"stock.changed","entityType":"SKU","entityId":"sku-8"}"#;
    assert_eq!(send(Some(hex_mac("s3cret", BODY)), tampered).await, 401);
    assert!(events.is_empty());

    assert_eq!(
        send(Some(format!("sha256={}", hex_mac("s3cret", BODY))), BODY).await,
        200
    );
    let delivery = events.receive(1, Duration::ZERO).await.unwrap().remove(0);
    let message = delivery.item();
    assert_eq!(message.route, "external.stock");
    assert_eq!(message.id, "e-1");
    assert_eq!(message.resource_id(), Some("sku-9"));
    assert_eq!(message.attribute("source"), Some("external-webhook"));
    assert_eq!(message.payload.as_str().as_bytes(), BODY);

    let counts = served.server.metrics().snapshot();
    assert_eq!(
        (counts.external.unauthorized, counts.external.accepted),
        (4, 1)
    );
    assert_eq!(counts.fluent.total(), 0, "counted per endpoint");
}

#[tokio::test]
async fn bearer_good_and_bad() {
    let (served, events) = serve_external(ExternalAuth::bearer("t0ken")).await;
    let url = format!("{}{PATH}", served.base);
    for (authorization, status) in [
        (None, 401),
        (Some("Bearer t0ke"), 401),
        (Some("Bearer t0ken-and-more"), 401),
        (Some("Basic t0ken"), 401),
        (Some("Bearer t0ken"), 200),
    ] {
        let mut request = client().post(&url).body(BODY);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            status,
            "{authorization:?}"
        );
    }
    assert_eq!(events.len(), 1);
}

#[tokio::test]
async fn external_bodies_need_a_name_and_unmapped_names_are_ignored() {
    let (served, events) = serve_external(ExternalAuth::bearer("t0ken")).await;
    let url = format!("{}{PATH}", served.base);
    for (body, status, text) in [
        (
            &br#"{"id":"1"}"#[..],
            400,
            "the required field `name` is missing",
        ),
        (
            &br#"{"name":1}"#[..],
            400,
            "the field `name` must be a string",
        ),
        (&b"nope"[..], 400, "not JSON"),
        (&br#"{"name":"other"}"#[..], 200, "ignored"),
    ] {
        let response = client()
            .post(&url)
            .header("authorization", "Bearer t0ken")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        assert!(response.text().await.unwrap().contains(text));
    }
    assert!(events.is_empty());
    assert_eq!(served.server.metrics().snapshot().external.ignored, 1);
}

#[tokio::test]
async fn a_fluent_signature_does_not_open_the_external_endpoint() {
    let (served, events) = serve_external(ExternalAuth::bearer("t0ken")).await;
    let url = format!("{}{PATH}", served.base);
    let response = post_signed(&url, BODY).await;
    assert_eq!(response.status(), 401);
    assert!(events.is_empty());
}

#[tokio::test]
async fn both_endpoints_on_one_path_is_refused() {
    let listener = WebhookListener::fluent(config(), mapping(), ACCOUNT, RETAILER).external(
        ExternalWebhookConfig::new(ExternalAuth::bearer("t"))
            .with_path("/api/v1/fluent-connect/webhook"),
        WebhookMapping::new(),
    );
    let tcp = listener.bind().await.unwrap();
    let Err(error) = listener.serve(tcp, Intake::InProcess) else {
        panic!("served two endpoints on one path");
    };
    assert!(
        error.to_string().contains("give them different `path`s"),
        "{error}"
    );
}
