//! Inbound webhooks for connect-sdk: signed Fluent webhooks (and
//! authenticated webhooks of other systems) become connect [`Message`]s,
//! handled by the same runtime as everything else.
//!
//! - [`FluentWebhookConfig`] (`listeners.fluent-webhook`),
//!   [`ExternalWebhookConfig`] (`listeners.external-webhook`) and
//!   [`WebhookMapping`] (`webhook-mapping`: webhook `name` → route).
//! - [`WebhookListener`] serves them on one `TcpListener` and puts accepted
//!   webhooks into an [`Intake`]: a durable event queue (answer 200 once
//!   sent), or the runtime itself (the listener is a
//!   [`Source`](connect_core::queue::Source); answer 200 once the message
//!   was acknowledged, i.e. handled). Either way, a webhook answered 200 is
//!   never lost.
//! - Each request is authenticated before its body is parsed, and bounded
//!   in size and time:
//!
//! | request | answer |
//! |---|---|
//! | no `fluent-signature`, or one no configured key verifies (`flex.signature` alone is never enough) | 401 |
//! | `accountId` or `retailerId` not the configured ones | 403 |
//! | not JSON, or a required field missing or not a string | 400, naming the field |
//! | body over `max-body` (by `Content-Length`, or while reading) | 413 |
//! | body not received within `body-read-timeout` | 408 |
//! | headers not received within `header-read-timeout` | connection closed |
//! | a `name` with no mapping | 200, counted as ignored, one WARN per name |
//! | the intake cannot take it (queue failing or full, runtime returned it, `answer-timeout` passed) | 503, so Fluent retries |
//! | accepted | 200 |
//!
//! Nothing but an accepted webhook reaches the intake. Every answer is
//! counted by outcome ([`WebhookMetrics`]).
//!
//! The webhook listener has a listener of its own, beside the one that serves
//! `/metrics`, `/health` and `/ready`, and it does not share that listener.
//! The webhook port must be reachable from Fluent (the internet). The
//! observability port should stay inside the deployment. The two also need
//! different limits: the webhook port has read timeouts, a connection bound
//! and body limits.
//!
//! Connections beyond `max-connections` wait in the operating system's
//! accept queue rather than being refused. A short burst is delayed, not
//! failed. Each waiting connection's header timeout starts once it is
//! accepted.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use connect_core::queue::{MemoryQueue, Source};
//! use connect_webhook::{FluentWebhookConfig, Intake, WebhookListener, WebhookMapping, WebhookPublicKey};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let key = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC/pOOyloUFfcdQXr/EMdp9AHXFMNHIx9j0yQxtdeB7PUS9Kne35RIdo6nUgzyhgdJgxFlx+q5n+gFu7Q9dBj4vLDuKXdjMmU9RL+/it3gMNYa++zxv3BNuB7eUvnB/ouw19OAY3StEGDMgv3BxYoRFyhzTnAuLbrUDeyALFqGpAwIDAQAB";
//! let config = FluentWebhookConfig::new("127.0.0.1:0", vec![WebhookPublicKey::parse(key)?]);
//! let mapping = WebhookMapping::from_iter([("OrderStatus", "fluent.connect.order.status")]);
//! let listener = WebhookListener::fluent(config, mapping, "ACME", "1");
//!
//! // With a durable event queue (here a memory queue standing in for SQS):
//! let events = MemoryQueue::new("events", 100);
//! let tcp = listener.bind().await?;
//! let (server, source) = listener.serve(tcp, Intake::Durable(Arc::new(events.clone())))?;
//! assert!(source.is_none(), "the event queue is the runtime's source");
//! let _url = format!("http://{}/api/v1/fluent-connect/webhook", server.local_addr());
//! assert_eq!(server.metrics().snapshot().fluent.total(), 0);
//! server.shutdown().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod auth;
pub mod config;
mod intake;
pub mod metrics;
mod server;
pub mod signature;
mod size;
pub mod webhook;

pub use config::{ExternalAuth, ExternalWebhookConfig, FluentWebhookConfig, WebhookMapping};
pub use connect_core::Message;
pub use intake::Intake;
pub use metrics::{Endpoint, Outcome, OutcomeCounts, WebhookMetrics, WebhookSnapshot};
pub use server::{MessageSource, WEBHOOK_LISTENER, WebhookError, WebhookListener, WebhookServer};
pub use signature::WebhookPublicKey;
pub use size::ByteSize;
pub use webhook::{BodyError, FluentWebhook};
