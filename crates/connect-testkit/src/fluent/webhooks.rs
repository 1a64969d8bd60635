//! Fluent webhooks from the emulator: its own signing key, the body Fluent
//! sends (DESIGN.md §10), and delivery with Fluent's retry behaviour.
//!
//! - **Key**: a 1024-bit RSA key pair (Fluent's published keys are
//!   1024-bit), generated once per seed from a seeded RNG and shared by the
//!   emulators of a process that use the same seed; the public key is
//!   served as base64 x509 SubjectPublicKeyInfo, as Fluent shows it and as
//!   `listeners.fluent-webhook.public-keys` reads it.
//! - **Signature**: the `fluent-signature` header, base64 of
//!   SHA512withRSA (RSASSA-PKCS1-v1_5 with SHA-512) over the body bytes.
//! - **Delivery**: a POST of the signed JSON body; a timeout, a broken
//!   connection or a 5xx is retried 3 times, all within Fluent's 14 s
//!   window ([`WebhookRetry::default`]); every attempt and its answer are
//!   recorded ([`WebhookDelivery`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rsa::PrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::Sha512;
use tokio::sync::Notify;

/// The size of the emulator's key, as Fluent's published keys.
pub const WEBHOOK_KEY_BITS: usize = 1024;

/// The seed of the key pair emulators use unless told otherwise
/// ([`webhook_key_seed`](super::FluentEmulatorBuilder::webhook_key_seed)).
pub const DEFAULT_WEBHOOK_KEY_SEED: u64 = 0x00f1_0e17;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "fluent-signature";

/// A key pair that signs webhooks.
pub(crate) struct WebhookKey {
    signing: SigningKey<Sha512>,
    public_base64: String,
}

impl WebhookKey {
    /// The key pair of `seed`, generated on first use and kept for the
    /// process (key generation is slow in debug builds).
    pub(crate) fn for_seed(seed: u64) -> Result<Arc<Self>, String> {
        static KEYS: OnceLock<Mutex<HashMap<u64, Arc<WebhookKey>>>> = OnceLock::new();
        let keys = KEYS.get_or_init(Mutex::default);
        let mut keys = keys.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = keys.get(&seed) {
            return Ok(Arc::clone(key));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let private = PrivateKey::new(&mut rng, WEBHOOK_KEY_BITS)
            .map_err(|e| format!("cannot generate the webhook key: {e}"))?;
        let der = private
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| format!("cannot encode the webhook public key: {e}"))?;
        let key = Arc::new(Self {
            signing: SigningKey::<Sha512>::new(private),
            public_base64: STANDARD.encode(der.as_bytes()),
        });
        keys.insert(seed, Arc::clone(&key));
        Ok(key)
    }

    pub(crate) fn public_key_base64(&self) -> &str {
        &self.public_base64
    }

    pub(crate) fn sign(&self, body: &[u8]) -> String {
        STANDARD.encode(self.signing.sign(body).to_bytes())
    }
}

/// A Fluent webhook body (DESIGN.md §10): the required string fields, the
/// optional ones Fluent sends for an entity, and `attributes`.
///
/// ```
/// use connect_testkit::fluent::Webhook;
///
/// let webhook = Webhook::new("OrderStatus", "ACME", "1", "ORDER", "3786", "HD_387_56")
///     .with_status("COMPLETE");
/// let body: serde_json::Value = serde_json::from_slice(&webhook.body()).unwrap();
/// assert_eq!(body["entityStatus"], "COMPLETE");
/// assert_eq!(body["rootEntityRef"], "HD_387_56");
/// assert_eq!(body["type"], "NORMAL");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Webhook {
    /// The webhook id (a UUID; Fluent's retries of one webhook share it).
    pub id: String,
    /// What it is about, e.g. `OrderStatus` (mapped to a route).
    pub name: String,
    /// The Fluent account.
    pub account_id: String,
    /// The retailer.
    pub retailer_id: String,
    /// The entity's id, e.g. the order id.
    pub entity_id: String,
    /// The entity's ref, e.g. the order ref.
    pub entity_ref: String,
    /// The entity type, e.g. `ORDER`.
    pub entity_type: String,
    /// The entity's subtype, e.g. the order type `HD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_subtype: Option<String>,
    /// The entity's status when the webhook was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_status: Option<String>,
    /// The webhook type (`NORMAL`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Free-form attributes (`{}` by default).
    pub attributes: Value,
    /// The root entity's id (the order, for an order or its fulfilments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_entity_id: Option<String>,
    /// The root entity's type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_entity_type: Option<String>,
    /// The root entity's ref.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_entity_ref: Option<String>,
}

impl Webhook {
    /// A webhook `name` about entity `entity_type`/`entity_id` (ref
    /// `entity_ref`), its own root entity, with a new id, type `NORMAL` and
    /// no attributes.
    pub fn new(
        name: impl Into<String>,
        account_id: impl Into<String>,
        retailer_id: impl Into<String>,
        entity_type: impl Into<String>,
        entity_id: impl Into<String>,
        entity_ref: impl Into<String>,
    ) -> Self {
        let entity_type = entity_type.into();
        let entity_id = entity_id.into();
        let entity_ref = entity_ref.into();
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.into(),
            account_id: account_id.into(),
            retailer_id: retailer_id.into(),
            root_entity_id: Some(entity_id.clone()),
            root_entity_type: Some(entity_type.clone()),
            root_entity_ref: Some(entity_ref.clone()),
            entity_id,
            entity_ref,
            entity_type,
            entity_subtype: None,
            entity_status: None,
            kind: "NORMAL".to_owned(),
            attributes: Value::Object(Map::new()),
        }
    }

    /// The `OrderStatus` webhook Fluent sends for `order` (JSON as the
    /// emulator serves it) in `account_id`: entity `ORDER`, its id, ref,
    /// type (as subtype) and current status.
    pub fn order_status(account_id: &str, order: &Value) -> Self {
        let text = |field: &str| {
            order
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let retailer = order
            .get("retailer")
            .and_then(|r| r.get("id"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut webhook = Self::new(
            "OrderStatus",
            account_id,
            retailer,
            "ORDER",
            text("id"),
            text("ref"),
        );
        webhook.entity_subtype = Some(text("type")).filter(|t| !t.is_empty());
        webhook.entity_status = Some(text("status"));
        webhook
    }

    /// Sets `entityStatus`.
    #[must_use]
    pub fn with_status(mut self, status: impl Into<String>) -> Self {
        self.entity_status = Some(status.into());
        self
    }

    /// Sets `id` (Fluent's retries of one webhook share it).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// The JSON body, as sent.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// How the emulator retries a delivery, as Fluent does: each attempt waits
/// `attempt_timeout` for an answer; a timeout, a broken connection or a
/// 5xx is retried after each of `delays` in turn (a 2xx, 3xx or 4xx ends
/// the delivery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRetry {
    /// How long one attempt waits for its answer.
    pub attempt_timeout: Duration,
    /// The pause before each retry; its length is the number of retries.
    pub delays: Vec<Duration>,
}

impl Default for WebhookRetry {
    /// Fluent's behaviour: 3 retries, all four attempts answered or timed
    /// out within 14 s (2 s per attempt, retries 1 s, 2 s and 3 s apart:
    /// 4 × 2 + 1 + 2 + 3 = 14).
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(2),
            delays: vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(3),
            ],
        }
    }
}

impl WebhookRetry {
    /// The same number of retries with other timings (fast tests).
    pub fn fast(attempt_timeout: Duration, delay: Duration) -> Self {
        Self {
            attempt_timeout,
            delays: vec![delay; 3],
        }
    }

    /// The longest a delivery can take: every attempt timing out.
    pub fn window(&self) -> Duration {
        let attempts = u32::try_from(self.delays.len() + 1).unwrap_or(u32::MAX);
        self.attempt_timeout.saturating_mul(attempts) + self.delays.iter().sum::<Duration>()
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookAttempt {
    /// The HTTP status of the answer, if one came.
    pub status: Option<u16>,
    /// Why no answer came (timeout, connection refused, ...).
    pub error: Option<String>,
    /// How long the answer (or the failure) took.
    pub latency: Duration,
    /// When the attempt started, from the start of the delivery.
    pub started: Duration,
}

impl WebhookAttempt {
    /// Whether this attempt was answered 2xx.
    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// Whether Fluent would retry after this attempt: no answer, or a 5xx.
    pub fn is_retryable(&self) -> bool {
        self.status.is_none_or(|s| s >= 500)
    }
}

/// A webhook sent by the emulator and every attempt to deliver it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WebhookDelivery {
    /// The webhook sent.
    pub webhook: Webhook,
    /// Where it was sent.
    pub url: String,
    /// Every attempt, in order.
    pub attempts: Vec<WebhookAttempt>,
}

impl WebhookDelivery {
    /// Whether the last attempt was answered 2xx.
    pub fn delivered(&self) -> bool {
        self.attempts.last().is_some_and(WebhookAttempt::is_success)
    }

    /// The status of the last answer.
    pub fn final_status(&self) -> Option<u16> {
        self.attempts.last().and_then(|a| a.status)
    }
}

/// Signs and sends webhooks, and keeps what happened.
pub(crate) struct Webhooks {
    key_seed: u64,
    key: OnceLock<Result<Arc<WebhookKey>, String>>,
    retry: WebhookRetry,
    http: reqwest::Client,
    subscription: Mutex<Option<String>>,
    deliveries: Mutex<Vec<WebhookDelivery>>,
    delivered: Notify,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("key_seed", &self.key_seed)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Webhooks {
    pub(crate) fn new(key_seed: u64, retry: WebhookRetry) -> Self {
        Self {
            key_seed,
            key: OnceLock::new(),
            retry,
            http: reqwest::Client::new(),
            subscription: Mutex::new(None),
            deliveries: Mutex::new(Vec::new()),
            delivered: Notify::new(),
        }
    }

    pub(crate) fn key(&self) -> Result<&WebhookKey, String> {
        self.key
            .get_or_init(|| WebhookKey::for_seed(self.key_seed))
            .as_deref()
            .map_err(Clone::clone)
    }

    pub(crate) fn subscribe(&self, url: Option<String>) {
        *lock(&self.subscription) = url;
    }

    pub(crate) fn subscription(&self) -> Option<String> {
        lock(&self.subscription).clone()
    }

    pub(crate) fn deliveries(&self) -> Vec<WebhookDelivery> {
        lock(&self.deliveries).clone()
    }

    /// Waits until `count` deliveries finished (all their attempts made).
    pub(crate) async fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        let waiting = async {
            loop {
                let notified = self.delivered.notified();
                if lock(&self.deliveries).len() >= count {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, waiting).await.is_ok()
    }

    /// Signs and POSTs `webhook` to `url`, retrying as Fluent does, and
    /// records the delivery.
    pub(crate) async fn deliver(&self, url: &str, webhook: &Webhook) -> WebhookDelivery {
        let body = webhook.body();
        let signature = match self.key() {
            Ok(key) => Some(key.sign(&body)),
            Err(error) => {
                tracing::error!(%error, "the Fluent emulator cannot sign webhooks; sending them unsigned");
                None
            }
        };
        let start = Instant::now();
        let mut attempts = Vec::new();
        let mut delays = self.retry.delays.iter();
        loop {
            let started = start.elapsed();
            let mut request = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .timeout(self.retry.attempt_timeout)
                .body(body.clone());
            if let Some(signature) = &signature {
                request = request.header(SIGNATURE_HEADER, signature);
            }
            let sent = Instant::now();
            let answer = request.send().await;
            let attempt = match answer {
                Ok(response) => {
                    let status = response.status().as_u16();
                    // Read the answer to its end, as a client does.
                    let _ = response.bytes().await;
                    WebhookAttempt {
                        status: Some(status),
                        error: None,
                        latency: sent.elapsed(),
                        started,
                    }
                }
                Err(error) => WebhookAttempt {
                    status: None,
                    error: Some(if error.is_timeout() {
                        format!("no answer within {:?}", self.retry.attempt_timeout)
                    } else {
                        error.to_string()
                    }),
                    latency: sent.elapsed(),
                    started,
                },
            };
            let retry = attempt.is_retryable();
            tracing::debug!(webhook_id = %webhook.id, status = ?attempt.status, error = ?attempt.error, "webhook attempt");
            attempts.push(attempt);
            match delays.next() {
                Some(delay) if retry => tokio::time::sleep(*delay).await,
                _ => break,
            }
        }
        let delivery = WebhookDelivery {
            webhook: webhook.clone(),
            url: url.to_owned(),
            attempts,
        };
        lock(&self.deliveries).push(delivery.clone());
        self.delivered.notify_waiters();
        delivery
    }
}
