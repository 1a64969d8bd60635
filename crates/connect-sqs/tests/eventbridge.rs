//! commercetools → EventBridge → SQS, as deployed: a rule matching the
//! commercetools partner event source, with the SQS queue as its target.
//! EventBridge is driven through its JSON API with raw HTTP calls (no
//! second AWS SDK crate for one test).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Queue, client, config, create_queue, eventually, init_tracing, unique};
use connect_core::queue::{RawPayload, Source};
use connect_sqs::SqsQueue;
use connect_sqs::aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

/// A commercetools change notification (the `detail` of the event).
const CHANGE_RESOURCE_CREATED: &str =
    include_str!("../../connect-testkit/fixtures/commercetools/change-resource-created.json");

/// Calls one EventBridge API action and returns its JSON answer.
async fn events(http: &reqwest::Client, action: &str, body: Value) -> Value {
    let response = http
        .post(format!("{}/", common::endpoint()))
        .header("X-Amz-Target", format!("AWSEvents.{action}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        // The local server routes by the credential scope's service name;
        // the signature itself is not checked.
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/events/aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(
        status.is_success(),
        "EventBridge {action} failed: {status} {text}"
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[tokio::test]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn an_eventbridge_rule_delivers_commercetools_events_into_sqs() {
    init_tracing();
    let sqs = client();
    let Queue { url, arn } = create_queue(&sqs, "ct-events", false).await.unwrap();
    let rule = unique("ct-rule");
    let project = "fluent-ct-dev";
    let source = format!("aws.partner/commercetools.com/{project}/ct-customer-sub");

    // The queue policy production needs: EventBridge may send for this rule.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "events.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": arn,
            "Condition": { "ArnEquals": { "aws:SourceArn": format!("arn:aws:events:us-east-1:123456789012:rule/{rule}") } }
        }]
    });
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .unwrap();

    let http = reqwest::Client::new();
    events(
        &http,
        "PutRule",
        json!({
            "Name": rule,
            "EventPattern": json!({ "source": [{ "prefix": "aws.partner/commercetools.com" }] }).to_string(),
            "State": "ENABLED",
        }),
    )
    .await;
    events(
        &http,
        "PutTargets",
        json!({ "Rule": rule, "Targets": [{ "Id": "ct-queue", "Arn": arn }] }),
    )
    .await;

    let detail: Value = serde_json::from_str(CHANGE_RESOURCE_CREATED).unwrap();
    let answer = events(
        &http,
        "PutEvents",
        json!({ "Entries": [
            { "Source": source, "DetailType": "ResourceCreated", "Detail": detail.to_string() },
            // Not from commercetools: the rule does not match it.
            { "Source": "com.example.other", "DetailType": "ResourceCreated", "Detail": "{}" },
        ]}),
    )
    .await;
    assert_eq!(answer["FailedEntryCount"], 0, "{answer}");

    let queue: SqsQueue<RawPayload> = SqsQueue::connect_with(sqs.clone(), &config(&url))
        .await
        .unwrap();
    let delivery = eventually(
        "the event in the queue",
        Duration::from_secs(10),
        || async {
            queue
                .receive(10, Duration::from_secs(1))
                .await
                .unwrap()
                .pop()
        },
    )
    .await;
    let envelope: Value = serde_json::from_str(&delivery.item().body).unwrap();
    assert_eq!(envelope["source"], source.as_str(), "{envelope}");
    assert_eq!(envelope["detail-type"], "ResourceCreated", "{envelope}");
    assert_eq!(
        envelope["detail"], detail,
        "the payload is under `detail`: {envelope}"
    );
    for field in ["version", "id", "time", "region", "resources"] {
        assert!(
            envelope.get(field).is_some(),
            "envelope lacks `{field}`: {envelope}"
        );
    }
    assert_eq!(envelope["detail"]["resource"]["typeId"], "customer");
    assert!(!delivery.item().attributes["sqs-message-id"].is_empty());
    delivery.ack().await.unwrap();

    // Only the matching event arrived.
    assert!(
        queue
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(queue.info().await.unwrap().is_empty());
}
