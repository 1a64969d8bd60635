//! Helpers shared by connect-core's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use connect_core::config::{BackoffConfig, ConfigDocument, RuntimeConfig};
use connect_core::dead_letter::MemoryDeadLetters;
use connect_core::queue::{MemoryQueue, Sink};
use connect_core::runtime::{RunReport, Runtime, Shutdown};
use connect_core::{ConnectorConfig, HandlerRegistry, Message, ResourceRef, Router, Services};

/// Parses inline YAML into connect-core's configuration.
pub fn config(yaml: &str) -> ConnectorConfig {
    ConfigDocument::from_yaml("test.yml", yaml)
        .connector()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runtime settings suited to tests: fast backoff, short receive waits.
pub fn fast_runtime(concurrency: usize, max_attempts: u32) -> RuntimeConfig {
    RuntimeConfig {
        concurrency,
        max_attempts,
        backoff: BackoffConfig {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(5),
            multiplier: 2.0,
            max_retry_after: Duration::from_secs(1),
        },
        shutdown_timeout: Duration::from_secs(5),
        ..RuntimeConfig::default()
    }
}

/// A message for `route` about customer `id`.
pub fn message(route: &str, event_type: &str, id: &str) -> Message {
    Message::new(route)
        .with_event_type(event_type.to_owned())
        .with_resource(ResourceRef::new("customer", id))
}

/// What a runtime did with a closed queue of messages.
pub struct Completed {
    pub report: RunReport,
    pub dead_letters: Arc<MemoryDeadLetters>,
    pub queue: MemoryQueue<Message>,
}

/// Sends `messages` to a closed in-memory queue and runs a runtime over it
/// until the queue is drained.
pub async fn run_to_completion(
    config: &ConnectorConfig,
    registry: &HandlerRegistry,
    runtime_config: &RuntimeConfig,
    messages: Vec<Message>,
) -> RunReport {
    run_with_dead_letters(config, registry, runtime_config, messages)
        .await
        .report
}

/// Like [`run_to_completion`], keeping the dead-letter store and the queue.
pub async fn run_with_dead_letters(
    config: &ConnectorConfig,
    registry: &HandlerRegistry,
    runtime_config: &RuntimeConfig,
    messages: Vec<Message>,
) -> Completed {
    let router =
        Router::build(config, registry, &Services::new()).unwrap_or_else(|e| panic!("{e}"));
    let queue = MemoryQueue::new("events", 10_000);
    for message in messages {
        queue.send(message).await.unwrap();
    }
    queue.close();
    let dead_letters = Arc::new(MemoryDeadLetters::new());
    let runtime = Runtime::new(Arc::new(router), Arc::new(queue.clone()))
        .with_config(runtime_config)
        .with_dead_letters(dead_letters.clone())
        .with_receive(16, Duration::from_millis(20));
    let report = tokio::time::timeout(Duration::from_secs(30), runtime.run(Shutdown::new()))
        .await
        .expect("runtime did not drain the queue within 30s");
    Completed {
        report,
        dead_letters,
        queue,
    }
}
