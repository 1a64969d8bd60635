//! **connect-sdk**: build connectors that move commercetools data into
//! Fluent Commerce OMS: bundled syncs (customers) and the pieces to write
//! your own for any resource.
//!
//! ```text
//! commercetools ──Subscription──▶ CT queue ──listener──▶ event queue ──runtime──▶ handler ──GraphQL──▶ Fluent OMS
//! ```
//!
//! This facade re-exports the crates of the SDK:
//!
//! | module | crate | what |
//! |---|---|---|
//! | (root), [`prelude`], [`config`], [`queue`], [`runtime`], [`listener`], [`dead_letter`] | `connect-core` | messages, YAML configuration, [`MessageHandler`] and [`#[handler]`](handler), router, queues, runtime |
//! | [`commercetools`] | `connect-commercetools` | API client, subscription payloads, CT queue listener |
//! | [`fluent`] | `connect-fluent` | OAuth, GraphQL, entity operations |
//! | [`customer_sync`] | `connect-customer-sync` | the bundled `CommercetoolsCustomerUpsert` handler |
//! | [`category_sync`] | `connect-category-sync` | the bundled `CommercetoolsCategoryUpsert` handler |
//! | [`order_sync`] | `connect-order-sync` | the bundled `FluentOrderStatusUpdate` handler (Fluent webhooks → commercetools orders) |
//! | `webhook` (feature `runner`) | `connect-webhook` | inbound Fluent and external webhooks |
//! | `runner` (feature `runner`; `cli` and `testkit` enable it) | `connect-runner` | build and run a connector from its YAML, backends, backfill |
//! | `cli` (feature `cli`, default) | `connect-cli` | the whole `connect` command, to build into your own binary, with your services and subcommands ([`cli::App`]) |
//! | `sqs` (feature `sqs`) | `connect-sqs` | Amazon SQS queues and dead letters |
//! | `testkit` (feature `testkit`) | `connect-testkit` | local commercetools and Fluent emulators, `Harness` for end-to-end tests |
//!
//! # A handler of your own
//!
//! One `use` brings what a handler needs ([`prelude`]):
//!
//! ```
//! use connect_sdk::prelude::*;
//!
//! #[derive(Debug, Default)]
//! #[handler(name = "AuditResource")]
//! struct AuditResource;
//!
//! #[async_trait]
//! impl MessageHandler for AuditResource {
//!     async fn handle(&self, ctx: &HandlerContext<'_>, message: &Message) -> Result<Outcome, HandlerError> {
//!         tracing::info!(route = %ctx.route().route, resource = ?message.resource_id(), "audited");
//!         Ok(Outcome::labeled("audited"))
//!     }
//! }
//!
//! // Select it in YAML with `handler: AuditResource`; it is now registered:
//! assert!(connect_sdk::HandlerRegistry::linked().contains("AuditResource"));
//! ```
//!
//! Run the whole connector from a file with `runner::run` (feature
//! `runner`), or ship the `connect` command with your handlers linked
//! (feature `cli`, on by default). A crate that only writes handlers and
//! mappings depends on `connect-sdk` with `default-features = false`: it
//! builds without the runner, axum, prometheus-client, clap,
//! tracing-subscriber and indicatif.
//!
//! ```no_run
//! // use my_handlers as _; // the crate that defines your #[handler]s
//! # #[cfg(feature = "cli")]
//! fn main() -> std::process::ExitCode {
//!     connect_sdk::cli::main()
//! }
//! # #[cfg(not(feature = "cli"))]
//! # fn main() {}
//! ```

// Lets `#[handler]` expand to `::connect_sdk::...` inside this package too.
#[allow(unused_extern_crates)]
extern crate self as connect_sdk;

/// What a handler needs, in one `use connect_sdk::prelude::*;`: the
/// [`MessageHandler`] trait, [`#[handler]`](handler), [`async_trait`], the
/// [`Message`], [`HandlerContext`], [`Outcome`], the errors, and
/// [`FromRoute`] / [`HandlerSetup`] for handlers that read props at startup.
pub mod prelude {
    pub use connect_core::prelude::*;
}

// What handlers use (also in the prelude).
pub use connect_core::{
    FromRoute, HandlerContext, HandlerError, HandlerSetup, Message, MessageHandler, Outcome,
    ResourceRef, ResultExt, SetupError, async_trait, handler,
};
// What handlers and connectors use beyond the prelude.
pub use connect_core::{
    Attributes, BoxError, ConnectorConfig, ErrorKind, HandlerRegistry, Payload, QueueError,
    Retryability, RouteConfig, Router, Services, attributes, config, dead_letter, listener, queue,
    runtime,
};
// A partner's own configuration block, typed and checked.
pub use connect_core::{ConfigSections, config_section};

/// commercetools: API client, resource models, subscription payloads, CT
/// queue listener, sync declarations (`register_sync!`)
/// (`connect-commercetools`).
pub mod commercetools {
    pub use connect_commercetools::*;
}

/// Fluent OMS: OAuth, generic GraphQL, entity operations
/// (`connect-fluent`).
pub mod fluent {
    pub use connect_fluent::*;
}

/// The bundled customer sync (`connect-customer-sync`).
pub mod customer_sync {
    pub use connect_customer_sync::*;
}

/// The bundled category sync (`connect-category-sync`).
pub mod category_sync {
    pub use connect_category_sync::*;
}

/// Scheduled jobs (`connect-jobs`): a [`JobHandler`](jobs::JobHandler)
/// registered with [`register_job!`](jobs::register_job) and named in a
/// `jobs:` entry runs on its schedule beside the runtime (feature `runner`
/// runs it), with durable checkpoints and a lease so that runs never
/// overlap, across replicas too.
pub mod jobs {
    pub use connect_jobs::*;
}

/// The bundled order status sync, Fluent → commercetools
/// (`connect-order-sync`).
pub mod order_sync {
    pub use connect_order_sync::*;
}

/// Inbound webhooks: signed Fluent webhooks and authenticated webhooks of
/// other systems as connect messages (`connect-webhook`, feature `runner`,
/// which starts them from `listeners.fluent-webhook`).
#[cfg(feature = "runner")]
pub mod webhook {
    pub use connect_webhook::*;
}

/// Build and run a connector from its YAML file (`connect-runner`, feature
/// `runner`): queue and dead-letter backends (`register_backend!`), backfill.
#[cfg(feature = "runner")]
pub mod runner {
    pub use connect_runner::*;
}

/// The `connect` command line, to build into your own binary
/// (`connect-cli`, feature `cli`): [`cli::main`] parses the arguments and
/// runs the command; the exit codes and the log setup are here too.
#[cfg(feature = "cli")]
pub mod cli {
    pub use connect_cli::*;
}

/// Amazon SQS queues and dead letters (`connect-sqs`, feature `sqs`).
///
/// The AWS SDK itself is not re-exported, so that its releases do not
/// change this crate's API: code that builds its own SQS client depends on
/// `aws-sdk-sqs` directly, at the version `connect-sqs` uses.
#[cfg(feature = "sqs")]
pub mod sqs {
    pub use connect_sqs::{
        ATTR_MESSAGE_GROUP_ID, ATTR_MESSAGE_ID, ATTR_RECEIVE_COUNT, ATTR_SENT_TIMESTAMP,
        ATTR_SEQUENCE_NUMBER, DEFAULT_MAX_MESSAGE_SIZE, MAX_BATCH_SIZE, MAX_VISIBILITY_TIMEOUT,
        MAX_WAIT_TIME, QueueInfo, RedrivePolicy, SqsDeadLetters, SqsError, SqsQueue,
        SqsQueueConfig,
    };
}

/// Local commercetools and Fluent emulators for tests, and [`testkit::Harness`],
/// a whole connector from its YAML against them (`connect-testkit`, feature
/// `testkit`). `docs/extending.md` ("Test your handler") shows a test.
#[cfg(feature = "testkit")]
pub mod testkit {
    pub use connect_testkit::*;
}

/// Items used by the code `#[handler]` generates. Not a public API.
#[doc(hidden)]
pub use connect_core::__private;

/// The README's code must compile.
#[cfg(all(doctest, feature = "runner"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// `docs/extending.md` (write, register, select and test a handler): its
/// code must compile, and its tests pass (`cargo test --doc --features
/// testkit`).
#[cfg(all(doctest, feature = "testkit"))]
#[doc = include_str!("../docs/extending.md")]
mod extending_guide {}
