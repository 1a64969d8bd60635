#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Fluent emulator's orders over GraphQL (`orderById`, `order(ref:)`,
//! `fulfilments(first:)`), its webhook signatures (checked by
//! connect-webhook's verifier), and delivery with Fluent's retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use connect_core::Retryability;
use connect_fluent::FluentClient;
use connect_testkit::fluent::{FluentEmulator, NewOrder, UnknownRef, Webhook, WebhookRetry};
use connect_webhook::WebhookPublicKey;
use connect_webhook::signature::{SignatureCheck, verify};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn fast() -> WebhookRetry {
    WebhookRetry::fast(Duration::from_millis(300), Duration::from_millis(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_read_by_id_and_ref_with_their_fulfilments() {
    let emulator = FluentEmulator::start().await.unwrap();
    let seeded = emulator
        .insert_order(
            &NewOrder::new("HD_387_56", "BOOKED")
                .with_attribute("channel", "STRING", "web")
                .with_fulfilment("F-1", "PICK_PACK")
                .with_fulfilment("F-2", "CREATED"),
        )
        .unwrap();
    let id = seeded["id"].as_str().unwrap().to_owned();
    let fluent = FluentClient::new(emulator.config()).unwrap();

    let order = fluent.order_by_id(&id).await.unwrap().unwrap();
    assert_eq!(order.reference.as_deref(), Some("HD_387_56"));
    assert_eq!(order.order_type.as_deref(), Some("HD"));
    assert_eq!(order.status.as_deref(), Some("BOOKED"));
    assert_eq!(order.retailer_id(), Some("1"));
    assert_eq!(order.attribute("channel").unwrap().value, "web");
    let fulfilments: Vec<_> = order
        .fulfilments
        .iter()
        .map(|f| {
            (
                f.reference.as_deref().unwrap(),
                f.status.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(fulfilments, [("F-1", "PICK_PACK"), ("F-2", "CREATED")]);
    assert_eq!(fluent.order_by_ref("HD_387_56").await.unwrap(), Some(order));

    emulator.set_order_status(&id, "SHIPPED").unwrap();
    let moved = fluent.order_by_id(&id).await.unwrap().unwrap();
    assert_eq!(moved.status.as_deref(), Some("SHIPPED"));
    assert_eq!(emulator.order_status_changes(), 1);

    // fulfilments(first:) serves the first edges and says there are more.
    let page: Value = fluent
        .graphql(
            "query($id: ID!) { orderById(id: $id) { fulfilments(first: 1) { edges { node { ref } } pageInfo { hasNextPage } } } }",
            &json!({ "id": id }),
        )
        .await
        .unwrap();
    assert_eq!(
        page["orderById"]["fulfilments"],
        json!({ "edges": [{ "node": { "ref": "F-1" } }], "pageInfo": { "hasNextPage": true } })
    );

    // A field the schema does not have fails as on a real server.
    let error = fluent
        .graphql_value(
            "query($id: ID!) { orderById(id: $id) { total } }",
            &json!({ "id": id }),
        )
        .await
        .unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert!(
        emulator
            .insert_order(&NewOrder::new("HD_387_56", "X"))
            .unwrap_err()
            .starts_with("C0409E")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_order_is_none_whether_fluent_answers_null_or_not_found() {
    for answer in [UnknownRef::Null, UnknownRef::NotFoundError] {
        let emulator = FluentEmulator::builder()
            .unknown_ref(answer)
            .start()
            .await
            .unwrap();
        let fluent = FluentClient::new(emulator.config()).unwrap();
        assert_eq!(fluent.order_by_id("404").await.unwrap(), None, "{answer:?}");
        assert_eq!(
            fluent.order_by_ref("nope").await.unwrap(),
            None,
            "{answer:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_with_the_emulators_own_1024_bit_key() {
    let emulator = FluentEmulator::start().await.unwrap();
    let key = WebhookPublicKey::parse(&emulator.public_key_base64().unwrap()).unwrap();
    assert_eq!(key.bits(), 1024);
    let body = Webhook::new("OrderStatus", "CONNECT_TEST", "1", "ORDER", "1", "HD_1")
        .with_status("BOOKED")
        .body();
    let signature = emulator.sign(&body).unwrap();
    assert_eq!(
        verify(std::slice::from_ref(&key), Some(&signature), &body),
        SignatureCheck::Valid
    );
    let mut tampered = body.clone();
    tampered[2] ^= 1;
    assert_eq!(
        verify(std::slice::from_ref(&key), Some(&signature), &tampered),
        SignatureCheck::Invalid
    );

    let other = FluentEmulator::builder()
        .webhook_key_seed(7)
        .start()
        .await
        .unwrap();
    assert_ne!(
        other.public_key_base64().unwrap(),
        emulator.public_key_base64().unwrap()
    );
    let theirs = other.sign(&body).unwrap();
    assert_eq!(
        verify(&[key], Some(&theirs), &body),
        SignatureCheck::Invalid
    );
}

#[test]
fn an_order_webhook_has_the_fields_of_designs_sample() {
    let order = json!({ "id": "3786", "ref": "HD_387_56", "type": "HD", "status": "COMPLETE", "retailer": { "id": "1" } });
    let webhook = Webhook::order_status("ACME", &order);
    let body: Value = serde_json::from_slice(&webhook.body()).unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID");
    assert_eq!(
        body,
        json!({
            "id": id, "name": "OrderStatus", "accountId": "ACME", "retailerId": "1",
            "entityId": "3786", "entityRef": "HD_387_56", "entityType": "ORDER",
            "entitySubtype": "HD", "entityStatus": "COMPLETE", "type": "NORMAL", "attributes": {},
            "rootEntityId": "3786", "rootEntityType": "ORDER", "rootEntityRef": "HD_387_56"
        })
    );
    assert!(connect_webhook::FluentWebhook::parse(&webhook.body()).is_ok());
}

/// A receiver answering `answers` in turn (then 200), counting requests and
/// checking each signature with `key`.
async fn receiver(
    answers: Vec<u16>,
    key: WebhookPublicKey,
) -> (Receiver, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let valid = Arc::new(AtomicUsize::new(0));
    let (c, v) = (calls.clone(), valid.clone());
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            let signature = headers
                .get("fluent-signature")
                .and_then(|h| h.to_str().ok());
            if verify(std::slice::from_ref(&key), signature, &body) == SignatureCheck::Valid {
                v.fetch_add(1, Ordering::SeqCst);
            }
            let status = answers.get(n).copied().unwrap_or(200);
            async move {
                if status == 0 {
                    // No answer in time: the sender times out.
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                StatusCode::from_u16(if status == 0 { 200 } else { status }).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    (Receiver { addr, task }, calls, valid)
}

/// A running receiver; dropping it stops the server.
struct Receiver {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Receiver {
    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_retries_timeouts_and_5xx_three_times_and_records_every_attempt() {
    let emulator = FluentEmulator::builder()
        .webhook_retry(fast())
        .start()
        .await
        .unwrap();
    let key = WebhookPublicKey::parse(&emulator.public_key_base64().unwrap()).unwrap();
    let webhook = Webhook::new("OrderStatus", "CONNECT_TEST", "1", "ORDER", "1", "HD_1");

    // 503, a timeout, 502, then 200: four attempts, delivered.
    let (server, calls, valid) = receiver(vec![503, 0, 502], key.clone()).await;
    let url = format!("{}/hook", server.base_url());
    let delivery = emulator.deliver(&url, &webhook).await;
    let statuses: Vec<_> = delivery.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503), None, Some(502), Some(200)]);
    assert!(
        delivery.attempts[1]
            .error
            .as_deref()
            .unwrap()
            .contains("no answer within")
    );
    assert!(delivery.delivered());
    assert_eq!(
        (calls.load(Ordering::SeqCst), valid.load(Ordering::SeqCst)),
        (4, 4)
    );
    assert!(
        delivery
            .attempts
            .windows(2)
            .all(|w| w[0].started < w[1].started)
    );

    // Always 503: 1 + 3 retries, then given up.
    let (server, calls, _) = receiver(vec![503; 10], key.clone()).await;
    let delivery = emulator
        .deliver(&format!("{}/hook", server.base_url()), &webhook)
        .await;
    assert_eq!(delivery.attempts.len(), 4);
    assert!(!delivery.delivered());
    assert_eq!(delivery.final_status(), Some(503));
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    // A 4xx is an answer: not retried.
    let (server, calls, _) = receiver(vec![401], key).await;
    let delivery = emulator
        .deliver(&format!("{}/hook", server.base_url()), &webhook)
        .await;
    assert_eq!(delivery.attempts.len(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(emulator.webhook_deliveries().len(), 3);
}

#[test]
fn the_default_retry_fits_fluents_14_second_window() {
    let retry = WebhookRetry::default();
    assert_eq!(retry.delays.len(), 3);
    assert!(
        retry.window() <= Duration::from_secs(14),
        "{:?}",
        retry.window()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_change_sends_an_order_status_webhook_to_the_subscription() {
    let emulator = FluentEmulator::builder()
        .webhook_retry(fast())
        .start()
        .await
        .unwrap();
    let key = WebhookPublicKey::parse(&emulator.public_key_base64().unwrap()).unwrap();
    let (server, calls, valid) = receiver(Vec::new(), key).await;
    let order = emulator
        .insert_order(&NewOrder::new("HD_9", "RECEIVED"))
        .unwrap();
    let id = order["id"].as_str().unwrap();
    emulator.set_order_status(id, "BOOKED").unwrap();
    assert!(
        emulator.webhook_deliveries().is_empty(),
        "no subscription yet, nothing sent"
    );
    emulator.send_webhooks_to(format!("{}/hook", server.base_url()));
    emulator.set_order_status(id, "PICK_PACK").unwrap();
    assert!(emulator.wait_for_webhook_deliveries(1, WAIT).await);
    let delivery = emulator.webhook_deliveries().remove(0);
    assert!(delivery.delivered());
    assert_eq!(delivery.webhook.entity_id, id);
    assert_eq!(delivery.webhook.entity_ref, "HD_9");
    assert_eq!(delivery.webhook.entity_status.as_deref(), Some("PICK_PACK"));
    assert_eq!(
        (calls.load(Ordering::SeqCst), valid.load(Ordering::SeqCst)),
        (1, 1)
    );
    emulator.stop_webhooks();
    emulator.set_order_status(id, "SHIPPED").unwrap();
    assert_eq!(
        emulator.order_webhook(id).unwrap().entity_status.as_deref(),
        Some("SHIPPED")
    );
    assert_eq!(emulator.webhook_deliveries().len(), 1);
}
