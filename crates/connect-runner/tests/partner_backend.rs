#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A partner's queue and dead-letter backend, registered with
//! `register_backend!` outside the SDK: selected by `type:`, configured by
//! its own block type, and listed when a `type` is unknown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use connect_core::config::ConfigDocument;
use connect_core::dead_letter::{DeadLetterStore, MemoryDeadLetters};
use connect_core::queue::{MemoryQueue, QueueItem, RawPayload};
use connect_core::runtime::Shutdown;
use connect_core::{
    HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler, Outcome, ResourceRef,
};
use connect_runner::{
    Backend, Block, Connector, DeadLetterBackend, Opened, QueueBackend, QueueOptions, QueuePair,
    RunnerError, register_backend,
};

/// The block of `type: recording`: strict, with the `type` key.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RecordingConfig {
    #[serde(rename = "type")]
    _kind: String,
    capacity: usize,
}

static QUEUES_OPENED: AtomicUsize = AtomicUsize::new(0);
static STORES_OPENED: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug)]
struct Recording;

register_backend!(Recording);

impl Backend for Recording {
    fn kind(&self) -> &'static str {
        "recording"
    }

    fn queue(&self) -> Option<&dyn QueueBackend> {
        Some(self)
    }

    fn dead_letters(&self) -> Option<&dyn DeadLetterBackend> {
        Some(self)
    }
}

fn open<T: QueueItem>(
    block: Block<'_>,
    options: QueueOptions<'_>,
) -> Result<Opened<T>, RunnerError> {
    let config: RecordingConfig = block.require_config("`capacity: 10`")?;
    QUEUES_OPENED.fetch_add(1, Ordering::SeqCst);
    Ok(Opened::new(QueuePair::memory(MemoryQueue::new(
        options.name,
        config.capacity,
    ))))
}

#[connect_core::async_trait]
impl QueueBackend for Recording {
    fn check(&self, block: Block<'_>) -> Result<(), RunnerError> {
        block
            .require_config::<RecordingConfig>("`capacity: 10`")
            .map(drop)
    }

    async fn open_payloads(
        &self,
        block: Block<'_>,
        options: QueueOptions<'_>,
    ) -> Result<Opened<RawPayload>, RunnerError> {
        open(block, options)
    }

    async fn open_messages(
        &self,
        block: Block<'_>,
        options: QueueOptions<'_>,
    ) -> Result<Opened<Message>, RunnerError> {
        open(block, options)
    }
}

#[connect_core::async_trait]
impl DeadLetterBackend for Recording {
    fn check(&self, _block: Block<'_>) -> Result<(), RunnerError> {
        Ok(())
    }

    async fn open(&self, _block: Block<'_>) -> Result<Arc<dyn DeadLetterStore>, RunnerError> {
        STORES_OPENED.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::new(MemoryDeadLetters::new()))
    }
}

#[derive(Debug, Default)]
struct Done;

#[connect_core::async_trait]
impl MessageHandler for Done {
    async fn handle(
        &self,
        _ctx: &HandlerContext<'_>,
        _message: &Message,
    ) -> Result<Outcome, HandlerError> {
        Ok(Outcome::labeled("done"))
    }
}

const YAML: &str = "connector-name: partner
routes:
  - route: r
    handler: Done
listeners:
  ct-queue:
    type: recording
    capacity: 8
event-queue:
  type: recording
  capacity: 4
runtime:
  dead-letter:
    type: recording
";

#[tokio::test]
async fn a_partner_backend_is_selected_by_its_type_and_carries_messages() {
    let mut registry = HandlerRegistry::new();
    registry.register::<Done>("Done", 0);
    let connector = Connector::builder(ConfigDocument::from_yaml("app.yml", YAML))
        .registry(registry)
        .receive(16, Duration::from_millis(20))
        .build()
        .await
        .unwrap();
    assert_eq!(QUEUES_OPENED.load(Ordering::SeqCst), 2, "both queues");
    assert_eq!(STORES_OPENED.load(Ordering::SeqCst), 1);
    // A handler's follow-up goes to the partner's event queue, which the
    // runtime reads.
    let shutdown = Shutdown::new();
    let sink = Arc::clone(&connector.event_queue().sink);
    let message = Message::new("r").with_resource(ResourceRef::new("thing", "t-1"));
    sink.send(message).await.unwrap();
    let metrics = connector.metrics();
    let running = tokio::spawn(connector.run(shutdown.clone()));
    tokio::time::timeout(Duration::from_secs(10), async {
        while metrics.snapshot().outcome("done") < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the message went through the partner's queue");
    shutdown.trigger();
    running.await.unwrap();
}

#[tokio::test]
async fn its_block_is_read_strictly_and_an_unknown_type_lists_it() {
    let typo = YAML.replace("  capacity: 4", "  capacty: 4");
    let error = Connector::builder(ConfigDocument::from_yaml("app.yml", typo))
        .build()
        .await
        .map(drop)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "app.yml:11:3: event-queue: unknown field `capacty`, expected `type` or `capacity`"
    );

    let unknown = YAML.replace(
        "type: recording\n  capacity: 4",
        "type: kafka\n  capacity: 4",
    );
    let error = Connector::builder(ConfigDocument::from_yaml("app.yml", unknown))
        .build()
        .await
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(error.contains("`type: kafka` is not supported"), "{error}");
    assert!(error.contains("`recording`"), "{error}");
    assert!(connect_runner::backend_kinds().contains(&"recording"));
}
