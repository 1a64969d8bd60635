//! Keys, signed webhooks and a served listener for the tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use connect_core::Message;
use connect_core::queue::MemoryQueue;
use connect_webhook::{
    FluentWebhookConfig, Intake, MessageSource, WebhookListener, WebhookMapping, WebhookPublicKey,
    WebhookServer,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rsa::PrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use sha2::Sha512;

pub const ACCOUNT: &str = "ACME";
pub const RETAILER: &str = "1";
pub const ROUTE: &str = "fluent.connect.order.status";

/// A key pair generated from a fixed seed.
pub struct Keys {
    pub signing: SigningKey<Sha512>,
    /// The public key as bare base64 SPKI (as Fluent shows it).
    pub bare: String,
    /// The public key as PEM.
    pub pem: String,
}

impl Keys {
    pub fn generate(bits: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let private = PrivateKey::new(&mut rng, bits).unwrap();
        let public = private.to_public_key();
        let pem = public.to_public_key_pem(LineEnding::LF).unwrap();
        let der = public.to_public_key_der().unwrap();
        Self {
            signing: SigningKey::<Sha512>::new(private),
            bare: STANDARD.encode(der.as_bytes()),
            pem,
        }
    }

    pub fn public(&self) -> WebhookPublicKey {
        WebhookPublicKey::parse(&self.bare).unwrap()
    }

    /// `fluent-signature` of `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        STANDARD.encode(self.signing.sign(body).to_bytes())
    }
}

/// The configured key (1024-bit, as Fluent's).
pub fn fluent_keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys::generate(1024, 17))
}

/// A second configured key (rotation).
pub fn rotated_keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys::generate(1024, 18))
}

/// A key nobody configured.
pub fn other_keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys::generate(1024, 19))
}

/// A webhook body as Fluent sends it (DESIGN.md §10's sample).
pub fn webhook(name: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "5f7f0e6a-1",
        "name": name,
        "accountId": ACCOUNT,
        "retailerId": RETAILER,
        "entityId": "3786",
        "entityRef": "HD_387_56",
        "entityType": "ORDER",
        "entityStatus": "COMPLETE",
        "type": "NORMAL",
        "attributes": {},
        "rootEntityId": "3786",
        "rootEntityType": "ORDER",
        "rootEntityRef": "HD_387_56"
    })
}

pub fn mapping() -> WebhookMapping {
    WebhookMapping::from_iter([("OrderStatus", ROUTE)])
}

pub fn config() -> FluentWebhookConfig {
    FluentWebhookConfig::new("127.0.0.1:0", vec![fluent_keys().public()])
        .with_answer_timeout(Duration::from_secs(5))
}

/// A listener serving `config` on a loopback port.
pub struct Served {
    pub server: WebhookServer,
    pub source: Option<MessageSource>,
    pub base: String,
    pub addr: SocketAddr,
}

impl Served {
    pub fn url(&self) -> String {
        format!("{}/api/v1/fluent-connect/webhook", self.base)
    }
}

pub async fn serve(listener: WebhookListener, intake: Intake) -> Served {
    let tcp = listener.bind().await.unwrap();
    let (server, source) = listener.serve(tcp, intake).unwrap();
    let addr = server.local_addr();
    Served {
        server,
        source,
        base: format!("http://{addr}"),
        addr,
    }
}

/// A Fluent listener with `config` into a memory event queue.
pub async fn serve_durable(config: FluentWebhookConfig) -> (Served, MemoryQueue<Message>) {
    let events = MemoryQueue::new("events", 100);
    let listener = WebhookListener::fluent(config, mapping(), ACCOUNT, RETAILER);
    let served = serve(listener, Intake::Durable(Arc::new(events.clone()))).await;
    (served, events)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Posts `body` with the given `fluent-signature`.
pub async fn post(url: &str, body: &[u8], signature: Option<&str>) -> reqwest::Response {
    let mut request = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("fluent-signature", signature);
    }
    request.send().await.unwrap()
}

/// Posts `body` signed with the configured key.
pub async fn post_signed(url: &str, body: &[u8]) -> reqwest::Response {
    post(url, body, Some(&fluent_keys().sign(body))).await
}

/// A raw HTTP/1.1 request on its own connection: `head` lines (without the
/// request line's path prefix), then `chunks` written one by one, `pause`
/// apart. Returns the status code of the answer, or `None` when the server
/// closed the connection without one.
pub async fn raw_request(
    addr: SocketAddr,
    head: &str,
    chunks: &[&[u8]],
    pause: Duration,
) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    if stream.write_all(head.as_bytes()).await.is_err() {
        return None;
    }
    for chunk in chunks {
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        if stream.write_all(chunk).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

/// `body` in HTTP/1.1 chunked encoding, `size` bytes a chunk.
pub fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
