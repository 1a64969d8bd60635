//! Arbitrary bodies and headers, signed or not: the listener never panics
//! and never answers a 5xx other than 503.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use connect_core::queue::MemoryQueue;
use connect_webhook::{
    ExternalAuth, ExternalWebhookConfig, Intake, WebhookListener, WebhookMapping,
};
use proptest::prelude::*;

/// A body: random bytes, or a webhook with fields replaced by arbitrary
/// JSON values, or removed.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let field = prop::sample::select(vec![
        "id",
        "name",
        "accountId",
        "retailerId",
        "entityId",
        "entityRef",
        "entityType",
        "entityStatus",
        "attributes",
        "rootEntityId",
        "meta",
    ]);
    let value = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "\\PC{0,40}".prop_map(serde_json::Value::from),
        Just(serde_json::json!({"nested": [1, {"a": "b"}]})),
        Just(serde_json::Value::from("OrderStatus")),
        Just(serde_json::Value::from(ACCOUNT)),
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        prop::collection::vec((field, prop::option::of(value)), 0..4).prop_map(|edits| {
            let mut body = webhook("OrderStatus");
            for (field, value) in edits {
                match value {
                    Some(value) => body[field] = value,
                    None => {
                        body.as_object_mut().unwrap().remove(field);
                    }
                }
            }
            serde_json::to_vec(&body).unwrap()
        }),
    ]
}

#[derive(Debug, Clone)]
enum Signature {
    None,
    Valid,
    OtherKey,
    Garbage(String),
}

fn signature() -> impl Strategy<Value = Signature> {
    prop_oneof![
        Just(Signature::None),
        Just(Signature::Valid),
        Just(Signature::Valid),
        Just(Signature::OtherKey),
        "[ -~]{0,200}".prop_map(Signature::Garbage),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![
                "content-type",
                "x-forwarded-for",
                "flex.signature",
                "x-signature",
                "authorization",
                "accept",
                "x-random",
            ]),
            "[ -~]{0,80}",
        )
            .prop_map(|(k, v)| (k.to_owned(), v.trim().to_owned())),
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_request_panics_or_gets_a_5xx_other_than_503(
        body in body(),
        signature in signature(),
        headers in headers(),
        external in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let events = MemoryQueue::new("events", 1000);
            let listener = WebhookListener::fluent(config(), mapping(), ACCOUNT, RETAILER).external(
                ExternalWebhookConfig::new(ExternalAuth::hmac_sha256("s3cret", "x-signature")),
                WebhookMapping::from_iter([("OrderStatus", ROUTE)]),
            );
            let served = serve(listener, Intake::Durable(Arc::new(events.clone()))).await;
            let url = if external {
                format!("{}/api/v1/fluent-connect/external-system/webhook", served.base)
            } else {
                served.url()
            };
            let mut request = client().post(&url).body(body.clone());
            match &signature {
                Signature::None => {}
                Signature::Valid => request = request.header("fluent-signature", fluent_keys().sign(&body)),
                Signature::OtherKey => request = request.header("fluent-signature", other_keys().sign(&body)),
                Signature::Garbage(text) => request = request.header("fluent-signature", text.trim()),
            }
            for (name, value) in &headers {
                request = request.header(name.as_str(), value.as_str());
            }
            let response = request.send().await.expect("the server answers every request");
            let status = response.status().as_u16();
            prop_assert!(status < 500 || status == 503, "status {status}");
            let snapshot = served.server.metrics().snapshot();
            let counts = if external { snapshot.external } else { snapshot.fluent };
            prop_assert_eq!(counts.total(), 1, "every answer is counted once");
            // Only an accepted webhook reaches the queue.
            prop_assert_eq!(events.len() as u64, counts.accepted);
            if status == 200 && counts.accepted == 1 {
                prop_assert!(matches!(signature, Signature::Valid) || external);
            }
            served.server.shutdown().await;
            Ok(())
        })?;
    }
}
