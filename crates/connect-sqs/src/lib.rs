//! Amazon SQS as a connect-core source, sink and dead-letter store.
//!
//! - [`SqsQueue`] implements [`Source`](connect_core::queue::Source) and
//!   [`Sink`](connect_core::queue::Sink) for any
//!   [`QueueItem`](connect_core::queue::QueueItem): the CT queue
//!   (`SqsQueue<RawPayload>`, fed by a commercetools Subscription directly or
//!   through an EventBridge rule) and the event queue (`SqsQueue<Message>`)
//!   when the connector runs as several replicas.
//! - [`SqsDeadLetters`] implements
//!   [`DeadLetterStore`](connect_core::dead_letter::DeadLetterStore) over a
//!   queue, and also lists what a redrive policy moved there.
//! - [`SqsQueueConfig`] is the `type: sqs` block of the configuration file.
//!
//! Delivery is at least once: a message is deleted only when its delivery is
//! acknowledged; a nack makes it visible again after the delay; a process
//! that dies leaves its messages to reappear after the visibility timeout.
//! Messages received too often are moved by SQS itself to the queue's
//! dead-letter queue (its redrive policy); see `docs/deployment.md`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use connect_core::config::ConfigDocument;
//! use connect_core::queue::{RawPayload, Source};
//! use connect_core::Message;
//! use connect_sqs::{SqsQueue, SqsQueueConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let doc = ConfigDocument::from_file("application-connector.yml")?;
//! let connector = doc.connector()?;
//! let ct_config = SqsQueueConfig::from_backend(&doc, &connector.ct_queue)?;
//! let ct_queue: SqsQueue<RawPayload> = SqsQueue::connect(&ct_config).await?;
//! if let Some(max) = ct_queue.max_receive_count().await? {
//!     if connector.runtime.max_attempts > max {
//!         tracing::warn!(max_receive_count = max, "runtime.max-attempts exceeds the queue's maxReceiveCount");
//!     }
//! }
//! let source: Arc<dyn Source<RawPayload>> = Arc::new(ct_queue);
//! # let _ = source; Ok(()) }
//! ```

mod batcher;
mod client;
mod config;
mod dead_letters;
mod error;
mod fifo;
mod heartbeat;
mod info;
mod queue;

pub use client::{client_for, client_from_loader};
pub use config::{
    DEFAULT_MAX_MESSAGE_SIZE, MAX_BATCH_SIZE, MAX_VISIBILITY_TIMEOUT, MAX_WAIT_TIME, SqsQueueConfig,
};
pub use dead_letters::SqsDeadLetters;
pub use error::SqsError;
pub use info::{QueueInfo, RedrivePolicy};
pub use queue::{
    ATTR_MESSAGE_GROUP_ID, ATTR_MESSAGE_ID, ATTR_RECEIVE_COUNT, ATTR_SENT_TIMESTAMP,
    ATTR_SEQUENCE_NUMBER, SqsQueue,
};

/// The AWS SDK for SQS this crate is built on, to build a client for
/// [`SqsQueue::from_client`] with the same version.
pub use aws_sdk_sqs;
