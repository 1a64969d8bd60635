//! `SqsQueue` and `SqsDeadLetters` against a local SQS server (moto).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    client, config, create_queue, create_queue_with, create_with_dlq, eventually, init_tracing,
    unique,
};
use connect_core::dead_letter::{DeadLetter, DeadLetterStore, FailureKind};
use connect_core::queue::{Delivery, MemoryQueue, RawPayload, Sink, Source};
use connect_core::{Message, QueueError, ResourceRef};
use connect_sqs::aws_sdk_sqs;
use connect_sqs::aws_sdk_sqs::types::QueueAttributeName;
use connect_sqs::{
    ATTR_MESSAGE_ID, ATTR_RECEIVE_COUNT, SqsDeadLetters, SqsError, SqsQueue, SqsQueueConfig,
};

const SHORT: Duration = Duration::from_secs(1);

async fn queue<T: connect_core::queue::QueueItem>(url: &str) -> SqsQueue<T> {
    SqsQueue::connect_with(client(), &config(url))
        .await
        .unwrap()
}

/// Receives until `count` deliveries arrived (each receive waits 1s).
async fn receive_n<T: connect_core::queue::QueueItem>(
    queue: &SqsQueue<T>,
    count: usize,
) -> Vec<Delivery<T>> {
    let mut all = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while all.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "received {} of {count} messages",
            all.len()
        );
        let batch = queue.receive(10, SHORT).await.unwrap();
        assert!(batch.len() <= 10);
        all.extend(batch);
    }
    all
}

async fn assert_empty<T: connect_core::queue::QueueItem>(queue: &SqsQueue<T>) {
    let info = queue.info().await.unwrap();
    assert!(info.is_empty(), "queue should be empty: {info:?}");
    assert!(queue.receive(10, SHORT).await.unwrap().is_empty());
}

#[tokio::test]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn send_receive_ack_deletes_the_message() {
    init_tracing();
    let client = client();
    let url = create_queue(&client, "basic", false).await.unwrap().url;
    let queue: SqsQueue<Message> = queue(&url).await;
    let message = Message::new("customer.upsert")
        .with_event_type("ResourceCreated")
        .with_resource(ResourceRef::new("customer", "c-1").with_version(1));
    queue.send(message.clone()).await.unwrap();

    let mut batch = queue.receive(10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(batch.len(), 1);
    let delivery = batch.remove(0);
    assert_eq!(delivery.item(), &message);
    assert_eq!(delivery.receive_count(), 1);
    assert_eq!(queue.held(), 1);
    delivery.ack().await.unwrap();
    assert_eq!(queue.held(), 0);
    assert_empty(&queue).await;

    // A raw payload carries the transport's attributes.
    let raw: SqsQueue<RawPayload> = SqsQueue::connect_with(client.clone(), &config(&url))
        .await
        .unwrap();
    raw.send(RawPayload::new(r#"{"hello":"world"}"#))
        .await
        .unwrap();
    let delivery = raw
        .receive(1, Duration::from_secs(5))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(delivery.item().body, r#"{"hello":"world"}"#);
    let attributes = &delivery.item().attributes;
    assert!(!attributes[ATTR_MESSAGE_ID].is_empty(), "{attributes:?}");
    assert_eq!(attributes[ATTR_RECEIVE_COUNT], "1");
    assert!(
        attributes.contains_key("sqs-sent-timestamp"),
        "{attributes:?}"
    );
    delivery.ack().await.unwrap();
    assert_empty(&raw).await;
}

#[tokio::test]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn batches_are_sent_and_received_in_tens() {
    init_tracing();
    let client = client();
    let url = create_queue(&client, "batch", false).await.unwrap().url;
    let queue: SqsQueue<RawPayload> = queue(&url).await;
    let bodies: Vec<String> = (0..25).map(|i| format!("{{\"n\":{i}}}")).collect();
    queue
        .send_batch(bodies.iter().map(|b| RawPayload::new(b.as_str())).collect())
        .await
        .unwrap();
    assert_eq!(queue.info().await.unwrap().visible, 25);

    let deliveries = receive_n(&queue, 25).await;
    let mut received: Vec<String> = deliveries.iter().map(|d| d.item().body.clone()).collect();
    received.sort();
    let mut expected = bodies.clone();
    expected.sort();
    assert_eq!(received, expected);

    // Acks run concurrently and are batched into DeleteMessageBatch calls.
    let mut acks = tokio::task::JoinSet::new();
    for delivery in deliveries {
        acks.spawn(delivery.ack());
    }
    while let Some(result) = acks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_empty(&queue).await;
}

#[tokio::test]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn a_nacked_message_reappears_after_its_delay_and_then_succeeds() {
    init_tracing();
    let client = client();
    let url = create_queue(&client, "nack", false).await.unwrap().url;
    let queue: SqsQueue<RawPayload> = queue(&url).await;
    queue.send(RawPayload::new("retry me")).await.unwrap();

    let first = queue
        .receive(1, Duration::from_secs(5))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(first.receive_count(), 1);
    first.nack(Duration::from_secs(2)).await.unwrap();
    assert_eq!(queue.held(), 0);
    let nacked_at = tokio::time::Instant::now();
    // Hidden for the delay...
    assert!(queue.receive(1, Duration::ZERO).await.unwrap().is_empty());
    // ...then delivered again, counted.
    let again = eventually(
        "the nacked message to reappear",
        Duration::from_secs(10),
        || async { queue.receive(1, SHORT).await.unwrap().pop() },
    )
    .await;
    assert!(
        nacked_at.elapsed() >= Duration::from_millis(1500),
        "reappeared too early"
    );
    assert_eq!(again.item().body, "retry me");
    assert_eq!(again.receive_count(), 2);
    again.ack().await.unwrap();
    assert_empty(&queue).await;
}

#[tokio::test]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn an_unsettled_message_reappears_after_the_visibility_timeout_or_at_once_when_released() {
    init_tracing();
    let client = client();
    let url = create_queue(&client, "visibility", false)
        .await
        .unwrap()
        .url;
    let cfg = config(&url)
        .with_visibility_timeout(Duration::from_secs(2))
        .with_heartbeat(false);
    let queue: SqsQueue<RawPayload> = SqsQueue::connect_with(client.clone(), &cfg).await.unwrap();
    queue.send(RawPayload::new("crashy")).await.unwrap();

    // A consumer that "crashes": it holds the message and never settles it.
    let held = queue
        .receive(1, Duration::from_secs(5))
        .await
        .unwrap()
        .remove(0);
    let again = eventually(
        "the message to reappear after its visibility timeout",
        Duration::from_secs(10),
        || async { queue.receive(1, SHORT).await.unwrap().pop() },
    )
    .await;
    assert_eq!(again.receive_count(), 2);

    // Dropping a delivery releases it: visible again at once.
    drop(again);
    let third = eventually("the released message", Duration::from_secs(5), || async {
        queue.receive(1, SHORT).await.unwrap().pop()
    })
    .await;
    assert_eq!(third.receive_count(), 3);
    third.ack().await.unwrap();
    assert_empty(&queue).await;
    // The crashed consumer's stale delivery is harmless when it finally goes.
    drop(held);
}

#[tokio::test]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn a_poison_message_ends_in_the_dead_letter_queue_after_max_receive_count() {
    init_tracing();
    let client = client();
    let (main, dlq) = create_with_dlq(&client, "poison", false, 3).await.unwrap();
    let (url, dlq_url) = (main.url, dlq.url);
    let queue: SqsQueue<Message> = queue(&url).await;
    assert_eq!(queue.max_receive_count().await.unwrap(), Some(3));
    let poison = Message::new("customer.upsert").with_resource(ResourceRef::new("customer", "bad"));
    queue.send(poison.clone()).await.unwrap();

    // Every attempt fails and nacks at once.
    for attempt in 1..=3 {
        let delivery = eventually("the poison message", Duration::from_secs(10), || async {
            queue.receive(1, SHORT).await.unwrap().pop()
        })
        .await;
        assert_eq!(delivery.receive_count(), attempt);
        delivery.nack(Duration::ZERO).await.unwrap();
    }
    // The fourth receive finds nothing: SQS moved it to the DLQ.
    assert!(queue.receive(1, SHORT).await.unwrap().is_empty());
    assert!(queue.info().await.unwrap().is_empty());

    // The DLQ, read as a dead-letter store, shows it as attempts-exhausted.
    let store = SqsDeadLetters::connect_with(client.clone(), &config(&dlq_url))
        .await
        .unwrap();
    let letters = store.list().await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.kind, FailureKind::AttemptsExhausted);
    assert_eq!(letter.message.as_ref(), Some(&poison));
    assert!(letter.error.contains("redrive policy"), "{}", letter.error);
    assert!(letter.attempts >= 3, "{letter:?}");

    // Replaying it puts it back through the event queue and removes it.
    let replay_target = MemoryQueue::new("replayed", 10);
    let plan = connect_core::dead_letter::ReplayPlan::read(&store, None, |_| true)
        .await
        .unwrap();
    let report =
        connect_core::dead_letter::replay_to(&store, &replay_target, plan, std::future::pending())
            .await
            .unwrap();
    assert_eq!(report.replayed, 1);
    assert_eq!(replay_target.len(), 1);
    assert!(store.list().await.unwrap().is_empty());
}

#[tokio::test]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn an_undecodable_body_is_left_for_the_redrive_policy() {
    init_tracing();
    let client = client();
    let (main, dlq) = create_with_dlq(&client, "undecodable", false, 2)
        .await
        .unwrap();
    let (url, dlq_url) = (main.url, dlq.url);
    let cfg = config(&url).with_undecodable_delay(Duration::ZERO);
    let queue: SqsQueue<Message> = SqsQueue::connect_with(client.clone(), &cfg).await.unwrap();
    let raw: SqsQueue<RawPayload> = SqsQueue::connect_with(client.clone(), &config(&url))
        .await
        .unwrap();
    raw.send(RawPayload::new("this is not a connect message"))
        .await
        .unwrap();

    // Never handed out as a delivery; received (and counted) by SQS each time.
    for _ in 0..4 {
        assert!(queue.receive(10, SHORT).await.unwrap().is_empty());
    }
    let dlq: SqsQueue<RawPayload> = SqsQueue::connect_with(client.clone(), &config(&dlq_url))
        .await
        .unwrap();
    let moved = eventually(
        "the undecodable body in the DLQ",
        Duration::from_secs(10),
        || async { dlq.receive(1, SHORT).await.unwrap().pop() },
    )
    .await;
    assert_eq!(moved.item().body, "this is not a connect message");
    moved.ack().await.unwrap();
    assert!(queue.info().await.unwrap().is_empty());
}

#[tokio::test]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn the_heartbeat_keeps_a_held_message_invisible_beyond_its_visibility_timeout() {
    init_tracing();
    let client = client();
    let url = create_queue(&client, "heartbeat", false).await.unwrap().url;
    let visibility = Duration::from_secs(2);
    let slow: SqsQueue<RawPayload> = SqsQueue::connect_with(
        client.clone(),
        &config(&url).with_visibility_timeout(visibility),
    )
    .await
    .unwrap();
    let other: SqsQueue<RawPayload> =
        SqsQueue::connect_with(client.clone(), &config(&url).with_heartbeat(false))
            .await
            .unwrap();
    slow.send(RawPayload::new("long job")).await.unwrap();
    let held = slow
        .receive(1, Duration::from_secs(5))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(slow.held(), 1);

    // A handler that takes 3x the visibility timeout: nobody else gets the
    // message meanwhile (the time is the point of this test).
    let until = tokio::time::Instant::now() + visibility * 3;
    while tokio::time::Instant::now() < until {
        let stolen = other.receive(1, SHORT).await.unwrap();
        assert!(
            stolen.is_empty(),
            "the heartbeat did not keep the message invisible"
        );
    }
    assert_eq!(held.receive_count(), 1);
    held.ack().await.unwrap();
    assert_empty(&other).await;

    // Without the heartbeat the same wait loses the message to the other consumer.
    let lazy: SqsQueue<RawPayload> = SqsQueue::connect_with(
        client.clone(),
        &config(&url)
            .with_visibility_timeout(visibility)
            .with_heartbeat(false),
    )
    .await
    .unwrap();
    lazy.send(RawPayload::new("long job 2")).await.unwrap();
    let held = lazy
        .receive(1, Duration::from_secs(5))
        .await
        .unwrap()
        .remove(0);
    let stolen = eventually(
        "the unheld message to be received elsewhere",
        visibility * 5,
        || async { other.receive(1, SHORT).await.unwrap().pop() },
    )
    .await;
    assert_eq!(stolen.receive_count(), 2);
    stolen.ack().await.unwrap();
    // The first holder's receipt is stale now: its ack may fail, and must not panic.
    let _ = held.ack().await;
}

/// One FIFO consumer: receives, "handles" each delivery in order (recording
/// it), acks, until `total` deliveries were recorded by all consumers.
///
/// The consumers' receive calls take turns (`receiving`); their handling
/// and acks still overlap the other's receives. The emulator checks that a
/// message is visible and marks it received without a lock, so two
/// receives at one instant could both take it; SQS's own receives are
/// atomic. (One CI run under load handled a message twice; taking turns
/// rules the emulator out if that ever recurs.)
async fn fifo_consumer(
    queue: SqsQueue<Message>,
    handled: std::sync::Arc<std::sync::Mutex<Vec<(String, u64)>>>,
    receiving: std::sync::Arc<tokio::sync::Mutex<()>>,
    total: usize,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while handled.lock().unwrap().len() < total {
        assert!(tokio::time::Instant::now() < deadline, "consumers stalled");
        let batch = {
            let _turn = receiving.lock().await;
            queue.receive(10, SHORT).await.unwrap()
        };
        for delivery in batch {
            let resource = delivery.item().resource.clone().unwrap();
            handled
                .lock()
                .unwrap()
                .push((resource.id, resource.version.unwrap()));
            tokio::time::sleep(Duration::from_millis(15)).await;
            delivery.ack().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn fifo_keeps_each_resource_in_order_across_consumers_and_drops_duplicates() {
    init_tracing();
    let client = client();
    let url = create_queue(&client, "order", true).await.unwrap().url;
    let queue: SqsQueue<Message> = queue(&url).await;
    assert!(queue.is_fifo());

    // Three customers, updates interleaved, versions 1..=8 each.
    let mut messages = Vec::new();
    for version in 1..=8u64 {
        for customer in ["a", "b", "c"] {
            messages.push(
                Message::new("customer.upsert")
                    .with_event_type("ResourceUpdated")
                    .with_resource(ResourceRef::new("customer", customer).with_version(version)),
            );
        }
    }
    queue.send_batch(messages.clone()).await.unwrap();
    // A duplicate (same message id) within the deduplication window is dropped.
    queue.send(messages[0].clone()).await.unwrap();

    // Two consumers (two replicas) at once: a resource's messages are one
    // message group, so they are never handled out of order.
    let handled = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let total = messages.len();
    let receiving = std::sync::Arc::new(tokio::sync::Mutex::new(()));
    let first = tokio::spawn(fifo_consumer(
        queue.clone(),
        handled.clone(),
        receiving.clone(),
        total,
    ));
    let second = tokio::spawn(fifo_consumer(
        SqsQueue::connect_with(client.clone(), &config(&url))
            .await
            .unwrap(),
        handled.clone(),
        receiving,
        total,
    ));
    first.await.unwrap();
    second.await.unwrap();

    let handled = handled.lock().unwrap().clone();
    assert_eq!(
        handled.len(),
        total,
        "every message handled once: {handled:?}"
    );
    let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (customer, version) in handled {
        seen.entry(customer).or_default().push(version);
    }
    assert_eq!(seen.len(), 3);
    for (customer, versions) in &seen {
        assert_eq!(
            versions,
            &(1..=8).collect::<Vec<_>>(),
            "customer {customer} out of order"
        );
    }
    assert_empty(&queue).await;

    // On the wire: the group is the resource id, the deduplication id the message id.
    let raw: SqsQueue<RawPayload> = SqsQueue::connect_with(client.clone(), &config(&url))
        .await
        .unwrap();
    let message =
        Message::new("customer.upsert").with_resource(ResourceRef::new("customer", "z-9"));
    queue.send(message.clone()).await.unwrap();
    let delivery = raw
        .receive(1, Duration::from_secs(5))
        .await
        .unwrap()
        .remove(0);
    let attributes = &delivery.item().attributes;
    assert_eq!(attributes["sqs-message-group-id"], "z-9", "{attributes:?}");
    assert_eq!(
        attributes["sqs-message-deduplication-id"], message.id,
        "{attributes:?}"
    );
    assert!(
        attributes.contains_key("sqs-sequence-number"),
        "{attributes:?}"
    );
    delivery.ack().await.unwrap();
}

#[tokio::test]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn the_dead_letter_store_puts_lists_and_removes() {
    init_tracing();
    let client = client();
    let url = create_queue(&client, "letters", false).await.unwrap().url;
    let store = SqsDeadLetters::connect_with(client.clone(), &config(&url))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..12 {
        let message = Message::new("customer.upsert")
            .with_resource(ResourceRef::new("customer", format!("c-{n}")));
        let letter =
            DeadLetter::for_message(message, FailureKind::Unprocessable, format!("bad {n}"), 1);
        ids.push(letter.id.clone());
        store.put(letter).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    store
        .put(DeadLetter::for_raw("not json", "cannot parse"))
        .await
        .unwrap();

    let letters = store.list().await.unwrap();
    assert_eq!(letters.len(), 13);
    assert!(
        letters
            .windows(2)
            .all(|w| w[0].dead_lettered_at <= w[1].dead_lettered_at),
        "oldest first"
    );
    // Listing leaves them in place.
    assert_eq!(store.list().await.unwrap().len(), 13);

    // Removal through the latest scan's receipts...
    assert_eq!(store.remove(&ids[..5]).await.unwrap(), 5);
    // ...and by scanning (a fresh store has no receipts).
    let fresh = SqsDeadLetters::connect_with(client.clone(), &config(&url))
        .await
        .unwrap();
    assert_eq!(fresh.remove(&ids[5..]).await.unwrap(), 7);
    assert_eq!(
        fresh.remove(&["no-such-letter".to_owned()]).await.unwrap(),
        0
    );
    let left = fresh.list().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].raw.as_deref(), Some("not json"));
}

#[tokio::test]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn a_body_over_the_queue_limit_is_refused_with_a_clear_error() {
    init_tracing();
    let client = client();
    let url = create_queue_with(
        &client,
        "large",
        false,
        &[(QueueAttributeName::MaximumMessageSize, "2048".to_owned())],
    )
    .await
    .unwrap()
    .url;
    let queue: SqsQueue<RawPayload> = queue(&url).await;
    assert_eq!(
        queue.max_message_size(),
        2048,
        "the queue's own limit is adopted at connect"
    );
    let error = queue
        .send(RawPayload::new("x".repeat(3000)))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("3000 bytes") && text.contains("2048"),
        "{text}"
    );
    assert!(matches!(error, QueueError::Backend { .. }));
    // A batch with one oversized item sends nothing.
    let error = queue
        .send_batch(vec![
            RawPayload::new("ok"),
            RawPayload::new("y".repeat(4000)),
        ])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("4000 bytes"), "{error}");
    assert!(queue.info().await.unwrap().is_empty());
    // Bodies within the limit are split into batches under it.
    queue
        .send_batch((0..6).map(|_| RawPayload::new("z".repeat(900))).collect())
        .await
        .unwrap();
    assert_eq!(queue.info().await.unwrap().visible, 6);
}

#[tokio::test]
#[ignore = "needs SQS: run scripts/test.sh"]
async fn a_missing_queue_fails_at_connect_with_what_to_do() {
    init_tracing();
    let url = format!("{}/123456789012/{}", common::endpoint(), unique("missing"));
    let error = SqsQueue::<RawPayload>::connect_with(client(), &config(&url))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("queue-url"), "{text}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn an_invalid_configuration_is_refused_before_any_call() {
    let error = SqsQueue::<RawPayload>::from_client(
        aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .build(),
        ),
        &SqsQueueConfig::new("http://127.0.0.1:9/123/q").with_batch_size(11),
    )
    .unwrap_err();
    assert!(matches!(error, SqsError::Config(_)), "{error}");
    assert!(error.to_string().contains("1 to 10"), "{error}");
}
