//! Local emulators of commercetools and Fluent Commerce OMS, and the
//! fixtures they were written from, for tests and examples.
//!
//! Every emulator listens on `127.0.0.1` on an ephemeral port, needs no
//! credentials from the outside world, and supports fault injection
//! ([`Faults`]): 429 with `Retry-After`, 503, slow responses and dropped
//! connections, plus token expiry.
//!
//! With the `harness` feature (on in `connect-sdk`'s `testkit` feature),
//! `Harness` runs a whole connector from its YAML against both emulators.
//! With the `sqs` feature, the `sqs` module has the helpers of tests
//! against an SQS server.
//!
//! Modules:
//!
//! - [`commercetools`]: the commercetools emulator (OAuth, customers,
//!   categories, orders, products and partner resource types, queries,
//!   Subscriptions delivering in every format).
//! - [`fluent`]: the Fluent emulator (OAuth, GraphQL checked against the
//!   fixture schemas, customers, categories in product catalogues, orders
//!   and signed webhooks with Fluent's retries, partner schema extensions
//!   with resolvers).
//! - `faults`: [`Fault`] and [`Faults`], planned failures by path.
//! - `sandbox`: [`Sandbox`], both emulators and the environment a YAML file
//!   needs to reach them.
//! - `pipeline`: [`wait_idle`], until queues and runtime are quiet.
//! - `harness` (feature `harness`): `Harness`, a running connector from YAML.
//! - `conformance` (feature `harness`): the conformance kit, a connector
//!   through a seeded storm of faults, restarts and redeliveries, then six
//!   named checks.
//! - [`baseline`]: customer sync written by hand with reqwest, the
//!   baseline of the benchmarks.
//! - [`chaos`]: seeded duplicates, delays and reordering of deliveries.
//! - [`fixtures`]: the real-shaped payloads the emulators were written from.
//! - `sqs` (feature `sqs`): queues on a local SQS server for tests.
//! - `server`: [`ServerHandle`], how every emulator serves on loopback.

pub mod baseline;
pub mod chaos;
pub mod commercetools;
#[cfg(feature = "harness")]
pub mod conformance;
mod faults;
pub mod fixtures;
pub mod fluent;
#[cfg(feature = "harness")]
mod harness;
mod pipeline;
mod sandbox;
mod server;
#[cfg(feature = "sqs")]
pub mod sqs;

pub use faults::{Fault, Faults, RequestCount};
#[cfg(feature = "harness")]
pub use harness::{DEFAULT_IDLE_TIMEOUT, Harness, HarnessBuilder, HarnessError};
pub use pipeline::wait_idle;
pub use sandbox::Sandbox;
pub use server::ServerHandle;
