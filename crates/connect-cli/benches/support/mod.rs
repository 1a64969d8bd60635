//! What the SQS benches share: the local SQS server (moto, started by
//! `scripts/sqs-server.sh`, address in `CONNECT_SQS_ENDPOINT`), a proxy in
//! front of it that counts SQS calls by operation, queues, and customers
//! with their change notifications.

#![allow(
    dead_code,
    unreachable_pub,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use connect_commercetools::{Address, CustomerDraft};
use connect_sqs::aws_sdk_sqs::Client;
use connect_sqs::aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use connect_testkit::commercetools::CommercetoolsEmulator;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub use connect_testkit::sqs::{REGION, client as sqs_client, delete_queue};

/// The local server's address.
pub fn endpoint() -> String {
    connect_testkit::sqs::endpoint().unwrap()
}

/// Seeds `n` customers in commercetools without notifications (as the
/// customer-sync bench does) and returns their ids.
pub fn seed(ct: &CommercetoolsEmulator, serial: &mut u64, n: usize) -> Vec<String> {
    let ids = connect_testkit::baseline::seed_customers(ct, *serial + 1, n).unwrap();
    *serial += n as u64;
    ids
}

/// Sends a `ResourceCreated` change notification per customer to `url`, in
/// batches of ten, as a commercetools SQS destination would.
pub async fn notify(client: &Client, ct: &CommercetoolsEmulator, url: &str, ids: &[String]) {
    for chunk in ids.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(n, id)| {
                let customer = ct.customer(id).unwrap();
                let body = json!({
                    "notificationType": "ResourceCreated",
                    "projectKey": ct.project_key(),
                    "resource": { "typeId": "customer", "id": id },
                    "resourceUserProvidedIdentifiers": {
                        "key": customer.key,
                        "customerNumber": customer.customer_number,
                    },
                    "version": customer.version,
                    "modifiedAt": "2024-01-30T08:00:00.000Z"
                });
                SendMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .message_body(body.to_string())
                    .build()
                    .unwrap()
            })
            .collect();
        let sent = client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert!(sent.failed().is_empty(), "{:?}", sent.failed());
    }
}

/// SQS calls by operation (`ReceiveMessage`, `DeleteMessageBatch`, ...).
pub type Calls = BTreeMap<String, u64>;

/// The calls of `after` that happened since `before`.
pub fn since(after: &Calls, before: &Calls) -> Calls {
    after
        .iter()
        .map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// A TCP proxy in front of the SQS server that counts requests by their
/// `X-Amz-Target` header (the JSON protocol names the operation there).
pub struct CountingProxy {
    url: String,
    calls: Arc<Mutex<Calls>>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    /// Listens on 127.0.0.1 and forwards to `upstream` (`http://IP:PORT`).
    pub async fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("the SQS endpoint is http://IP:PORT");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Calls::new()));
        let task = {
            let calls = Arc::clone(&calls);
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    let _ = inbound.set_nodelay(true);
                    tokio::spawn(pipe(inbound, upstream, Arc::clone(&calls)));
                }
            })
        };
        Self { url, calls, task }
    }

    /// The proxy's URL, to use as `endpoint-url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The calls counted so far.
    pub fn calls(&self) -> Calls {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const TARGET: &[u8] = b"x-amz-target: amazonsqs.";

async fn pipe(inbound: TcpStream, upstream: SocketAddr, calls: Arc<Mutex<Calls>>) {
    let Ok(outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = outbound.set_nodelay(true);
    let (mut from_client, mut to_client) = inbound.into_split();
    let (mut from_server, mut to_server) = outbound.into_split();
    let up = async move {
        let mut buf = vec![0_u8; 64 * 1024];
        // The end of the previous read, so a header split across reads is
        // still found.
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let n = match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut window = std::mem::take(&mut carry);
            window.extend_from_slice(&buf[..n]);
            let counted = count(&window, &calls);
            let keep_from = counted.max(window.len().saturating_sub(TARGET.len() + 64));
            carry = window[keep_from..].to_vec();
            if to_server.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = to_server.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
        let _ = to_client.shutdown().await;
    };
    tokio::join!(up, down);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// Counts every complete `X-Amz-Target` header in `window`; returns the
/// offset just past the last one counted.
fn count(window: &[u8], calls: &Mutex<Calls>) -> usize {
    let mut offset = 0;
    while let Some(at) = find(&window[offset..], TARGET) {
        let start = offset + at + TARGET.len();
        let Some(end) = window[start..].iter().position(|b| *b == b'\r') else {
            break;
        };
        let op = String::from_utf8_lossy(&window[start..start + end])
            .trim()
            .to_owned();
        *calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(op)
            .or_default() += 1;
        offset = start + end;
    }
    offset
}
