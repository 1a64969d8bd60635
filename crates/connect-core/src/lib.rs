//! The core of connect-sdk: the [`Message`] model, the YAML
//! [configuration](config), the [`MessageHandler`] trait and its
//! [`#[handler]`](handler) registration, the [`Router`], the [queue]
//! traits with an in-memory queue, the [`Listener`](listener::Listener) and
//! the [`Runtime`](runtime::Runtime) (workers, per-resource ordering,
//! coalescing, retries, [dead letters](dead_letter), graceful shutdown).
//!
//! It knows nothing about commercetools, Fluent or SQS: those live in their
//! own crates and plug in through the traits defined here.
//!
//! # Modules
//!
//! Each module uses only the ones listed before it (the dependency graph is
//! acyclic; `tests/module_graph.rs` checks it):
//!
//! | module | what |
//! |---|---|
//! | `error` | [`HandlerError`], [`QueueError`], [`SetupError`] and how they classify |
//! | `payload` | [`Payload`]: a message's JSON, kept as text |
//! | `message` | [`Message`], [`ResourceRef`], [`Attributes`] |
//! | [`config`] | the YAML file: [`ConnectorConfig`], [`RouteConfig`], strict parsing, `${VAR}` |
//! | [`telemetry`] | counters of outgoing API calls |
//! | `services` | [`Services`]: shared clients handed to handlers |
//! | [`queue`] | [`Source`](queue::Source) / [`Sink`](queue::Sink), deliveries, [`MemoryQueue`](queue::MemoryQueue) |
//! | `translate` | [`Translate`](listener::Translate): raw payload → message |
//! | `lifecycle` | [`Shutdown`](runtime::Shutdown), [`Health`](runtime::Health), [`Heartbeat`](runtime::Heartbeat) |
//! | `metrics` | [`Metrics`](runtime::Metrics), [`RouteMetrics`](runtime::RouteMetrics) |
//! | [`dead_letter`] | the dead-letter store and replay |
//! | `handler` | [`MessageHandler`], [`HandlerContext`], [`FromRoute`], [`Outcome`] |
//! | `registry` | [`HandlerRegistry`]: handlers by name, filled by `#[handler]` |
//! | `router` | [`Router`]: route name → route → inclusion filter → handler |
//! | [`listener`] | CT queue payloads → messages, with delivery guarantees |
//! | [`runtime`] | [`Runtime`](runtime::Runtime): workers, ordering, retries, shutdown |
//! | [`prelude`] | what a handler needs, in one `use` |
//!
//! # A handler, registered and routed
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use connect_core::config::ConfigDocument;
//! use connect_core::queue::{MemoryQueue, Sink};
//! use connect_core::runtime::{Runtime, Shutdown};
//! use connect_core::{
//!     handler, HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler, Outcome,
//!     ResourceRef, Router, Services,
//! };
//!
//! #[derive(Default)]
//! #[handler(name = "GreetCustomer")]
//! struct GreetCustomer;
//!
//! #[connect_core::async_trait]
//! impl MessageHandler for GreetCustomer {
//!     async fn handle(&self, ctx: &HandlerContext<'_>, message: &Message) -> Result<Outcome, HandlerError> {
//!         let greeting = ctx.props().get("greeting").and_then(|v| v.as_str()).unwrap_or("hello");
//!         tracing::info!("{greeting}, customer {:?}", message.resource_id());
//!         Ok(Outcome::labeled("greeted"))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let config = ConfigDocument::from_yaml("inline", r#"
//! connector-name: greeter
//! routes:
//!   - route: customer.greet
//!     handler: GreetCustomer
//!     inclusion-filter: [ResourceCreated]
//!     props: { greeting: "welcome" }
//! "#).connector().unwrap();
//!
//! let router = Router::build(&config, &HandlerRegistry::linked(), &Services::new()).unwrap();
//! let events = MemoryQueue::new("events", 1_000);
//! for event in ["ResourceCreated", "ResourceUpdated"] {
//!     let message = Message::new("customer.greet")
//!         .with_event_type(event)
//!         .with_resource(ResourceRef::new("customer", "c-1"));
//!     events.send(message).await.unwrap();
//! }
//! events.close();
//!
//! let runtime = Runtime::new(Arc::new(router), Arc::new(events)).with_config(&config.runtime);
//! let report = runtime.run(Shutdown::new()).await; // returns once the closed queue is drained
//! assert_eq!(report.metrics.outcome("greeted"), 1);
//! assert_eq!(report.metrics.filtered, 1);
//! # });
//! ```

// Lets `#[handler]` expand to `::connect_core::...` inside this crate too.
#[allow(unused_extern_crates)]
extern crate self as connect_core;

pub mod config;
pub mod dead_letter;
mod error;
mod handler;
mod lifecycle;
pub mod listener;
mod message;
mod metrics;
mod payload;
pub mod prelude;
pub mod queue;
mod registry;
mod router;
pub mod runtime;
mod sections;
mod services;
pub mod telemetry;
mod translate;

pub use async_trait::async_trait;
pub use config::{ConnectorConfig, RouteConfig};
pub use connect_macros::handler;
pub use error::{
    BoxError, ErrorKind, HandlerError, QueueError, ResultExt, Retryability, SetupError,
    write_with_causes,
};
pub use handler::{FromRoute, HandlerContext, HandlerSetup, MessageHandler, Outcome};
pub use message::{Attributes, Message, ResourceRef, attributes};
pub use payload::Payload;
pub use registry::{HandlerFactory, HandlerRegistry, RegistryEntry, RegistryError};
pub use router::{Decision, Route, Router, RouterError};
pub use sections::{ConfigSections, SectionLoader};
pub use services::Services;

/// Items used by the code `#[handler]` generates. Not a public API: it
/// changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::{HandlerRegistration, factory_for};
    pub use crate::sections::{SectionRegistration, load_section};
    pub use inventory;
}
