//! Builds a connector from its YAML file and runs it. The `connect` command
//! line is in the `connect-cli` crate (`connect_sdk::cli`).
//!
//! A [`Connector`] is the whole flow of DESIGN §1: the CT queue, the
//! listener that turns commercetools subscription payloads into messages,
//! the event queue, and the runtime that routes each message to its handler.
//! The commercetools and Fluent clients are built from their blocks and
//! handed to handlers as shared services, with every partner configuration
//! block (`connect_core::config_section!`); the bundled syncs are always
//! linked.
//!
//! ```no_run
//! use connect_core::runtime::Shutdown;
//! use connect_runner::Connector;
//!
//! # async fn run() -> Result<(), connect_runner::RunnerError> {
//! let connector = Connector::from_file("application-connector.yml").await?;
//! let report = connector.run(Shutdown::on_signals()).await;
//! println!("{} messages handled", report.runtime.metrics.succeeded);
//! # Ok(()) }
//! ```
//!
//! Queues and dead letters of `type: sqs` need the `sqs` feature (the
//! `connect` binary enables it).
//!
//! Modules:
//!
//! - `connector`: [`Plan`] (the checked file) and [`Connector`] (the
//!   running flow), built with [`ConnectorBuilder`].
//! - `backends`: queues and dead-letter stores chosen by the `type` of
//!   their block ([`Backend`], [`QueueBackend`], [`DeadLetterBackend`]),
//!   registered at link time with [`register_backend!`], the builtin ones
//!   as a partner's.
//! - `backfill`: every commercetools resource of a registered sync
//!   (`connect_commercetools::sync`) through its route ([`BackfillOptions`],
//!   [`BackfillProgress`], [`BackfillSummary`]).
//! - [`observability`]: `/metrics`, `/health` and `/ready`.
//! - `webhooks`: the webhook listener (`listeners.fluent-webhook`,
//!   `listeners.external-webhook`, `webhook-mapping`; connect-webhook),
//!   checked by the [`Plan`] ([`WebhookPlan`]) and served by `run`
//!   ([`Connector::serve_webhooks`]).
//! - `dry_backfill`: a backfill that writes nothing and reports what it would
//!   write ([`Connector::dry_run_backfill`], [`DryRunReport`]; built with
//!   [`ConnectorBuilder::dry_run`]).
//! - `drift`: where Fluent no longer matches commercetools
//!   ([`Connector::drift`], [`DriftReport`]) and its fix through the route
//!   ([`Connector::fix_drift`]).
//! - `startup`: the startup checks, retried within
//!   `runtime.startup-timeout` ([`Connector::check`]).
//! - `jobs`: scheduled jobs (connect-jobs: `jobs:`, `state:`) run beside
//!   the runtime, and the trigger route [`JOB_ROUTE`] ([`JobsPlan`],
//!   [`JobTrigger`], [`job_trigger`]).
//! - `error`: [`RunnerError`].

mod backends;
mod backfill;
mod connector;
mod delta;
mod drift;
mod dry_backfill;
mod error;
mod jobs;
pub mod observability;
mod startup;
mod webhooks;

// Link the bundled syncs into every binary that uses the runner.
use connect_category_sync as _;
use connect_customer_sync as _;
use connect_order_sync as _;

pub use backends::{
    Backend, Block, DeadLetterBackend, Opened, QueueBackend, QueueOptions, QueuePair, backend_kinds,
};
pub use backfill::{
    BackfillCheckpoint, BackfillOptions, BackfillProgress, BackfillSummary, CHECKPOINT_EVERY,
    Checkpoints, FILE_CHECKPOINT_EVERY, RouteFeed, checkpoint_name,
};
/// What syncs declare ([`ResourceSync`](sync::ResourceSync)) and the
/// registry `backfill` reads (`connect-commercetools`).
pub use connect_commercetools::sync;
/// Dry-run Fluent clients and their plans (`connect-fluent`).
pub use connect_fluent::dry_run;
pub use connector::{
    CT_QUEUE, Connector, ConnectorBuilder, EVENT_QUEUE, Plan, Registries, RunReport,
};
pub use delta::{CommercetoolsDeltaScan, DEFAULT_OVERLAP, DEFAULT_PAGE_SIZE, DeltaCheckpoint};
pub use drift::{DriftEntry, DriftFix, DriftKind, DriftReport};
pub use dry_backfill::DryRunReport;
pub use error::RunnerError;
pub use jobs::{JOB_ATTRIBUTE, JOB_ROUTE, JOB_TRIGGER_HANDLER, JobTrigger, JobsPlan, job_trigger};
pub use webhooks::{WEBHOOK_LOOP, WebhookPlan};

/// Items used by the code [`register_backend!`] generates. Not a public
/// API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::backends::BackendRegistration;
    pub use connect_core::__private::inventory;
}

/// Reads `path`, builds the connector with every linked handler, checks the
/// credentials and the dead-letter store, serves the webhook listener and
/// the `observability` endpoint when the file has their blocks, and runs the connector until
/// SIGINT or SIGTERM (a second signal stops it at once).
pub async fn run(path: impl AsRef<std::path::Path>) -> Result<RunReport, RunnerError> {
    let shutdown = connect_core::runtime::Shutdown::on_signals();
    let connector = Connector::from_file(path).await?;
    connector.check().await?;
    let mut connector = connector;
    connector.serve_webhooks().await?;
    let endpoint = connector.serve_observability().await?;
    let report = connector.run(shutdown).await;
    if let Some(endpoint) = endpoint {
        endpoint.shutdown().await;
    }
    Ok(report)
}
