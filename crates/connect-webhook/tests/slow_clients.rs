//! Slow clients are cut off; connections are bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

fn slow_config() -> connect_webhook::FluentWebhookConfig {
    config().with_read_timeouts(Duration::from_secs(1), Duration::from_secs(1))
}

#[tokio::test]
async fn a_body_sent_one_byte_per_second_is_cut_off_with_408() {
    let (served, events) = serve_durable(slow_config()).await;
    let body = serde_json::to_vec(&webhook("OrderStatus")).unwrap();
    let head = format!(
        "POST /api/v1/fluent-connect/webhook HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\nfluent-signature: {}\r\n\r\n",
        body.len(),
        fluent_keys().sign(&body)
    );
    let bytes: Vec<&[u8]> = body.chunks(1).take(10).collect();
    let started = Instant::now();
    let status = raw_request(served.addr, &head, &bytes, Duration::from_secs(1)).await;
    let elapsed = started.elapsed();
    assert_eq!(status, Some(408));
    // Cut off after about one second, not after the ten the client wanted.
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    assert!(events.is_empty());
    assert_eq!(served.server.metrics().snapshot().fluent.timeout, 1);
}

#[tokio::test]
async fn headers_sent_one_byte_per_second_are_cut_off() {
    let (served, events) = serve_durable(slow_config()).await;
    let head = "POST /api/v1/fluent-connect/webhook HTTP/1.1\r\nhost: localhost\r\n";
    let bytes: Vec<&[u8]> = head.as_bytes().chunks(1).take(10).collect();
    let started = Instant::now();
    let status = raw_request(served.addr, "", &bytes, Duration::from_secs(1)).await;
    let elapsed = started.elapsed();
    assert_ne!(status, Some(200));
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    assert!(events.is_empty());
    served
        .server
        .metrics()
        .wait_until(|s| s.header_timeouts == 1, Duration::from_secs(5))
        .await
        .unwrap();
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_for_a_free_one() {
    use tokio::io::AsyncWriteExt;
    // One connection at a time: a webhook is served only once the
    // connection before it (open, sending nothing more) is cut off.
    let config = slow_config().with_max_connections(1);
    let (served, events) = serve_durable(config).await;
    // Connected first, so accepted first (the accept queue is FIFO).
    let mut holder = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    holder.write_all(b"POST / HTTP/1.1\r\n").await.unwrap();

    let body = serde_json::to_vec(&webhook("OrderStatus")).unwrap();
    let response = post_signed(&served.url(), &body).await;
    assert_eq!(response.status(), 200);
    let snapshot = served.server.metrics().snapshot();
    assert_eq!(
        snapshot.header_timeouts, 1,
        "the webhook waited for the slot the slow connection held"
    );
    assert_eq!(events.len(), 1);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let (served, _events) = serve_durable(slow_config()).await;
    // One complete request (answered 405), then nothing: the wait for the
    // next request's headers is bounded too.
    let head = "GET /api/v1/fluent-connect/webhook HTTP/1.1\r\nhost: localhost\r\n\r\n";
    let started = Instant::now();
    let status = raw_request(served.addr, head, &[], Duration::ZERO).await;
    assert_eq!(status, Some(405));
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    served
        .server
        .metrics()
        .wait_until(|s| s.header_timeouts == 1, Duration::from_secs(5))
        .await
        .unwrap();
}
