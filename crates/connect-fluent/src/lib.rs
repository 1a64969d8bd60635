//! Fluent Commerce OMS client for connect-sdk: OAuth, GraphQL, customers,
//! categories, and the upsert-by-ref discipline syncs share.
//!
//! - [`FluentConfig`] is the `fluent:` block of the connector's YAML file.
//! - [`FluentClient`] logs in with Fluent's OAuth password grant, caches the
//!   token and renews it before it expires (with the refresh token when the
//!   account issues one), shares one login among concurrent callers, renews
//!   once on a 401, and retries transient failures with bounded backoff.
//! - [`FluentClient::graphql`] runs any query or mutation; the typed
//!   [customer operations](FluentClient::customer_by_ref) cover customer sync,
//!   the [category operations](FluentClient::category) category sync.
//! - [`upsert`] reads an entity by ref, creates it or updates only what
//!   changed, and never regresses to an older commercetools version.
//! - [`Error`] implements [`connect_core::Retryability`], so `?` in a handler
//!   sends a `C....E` validation error to the dead-letter store and retries a
//!   429, a 5xx or a timeout.
//!
//! See `docs/fluent.md` for credentials, token life cycle and error mapping.
//!
//! # Example
//!
//! An upsert of one customer, against the local emulator of
//! `connect-testkit` (a real account only needs another [`FluentConfig`]):
//!
//! ```
//! use connect_fluent::{
//!     AttributeInput, CreateCustomerInput, FluentClient, UpdateCustomerInput,
//! };
//! use connect_testkit::fluent::FluentEmulator;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let emulator = FluentEmulator::start().await?;
//! let fluent = FluentClient::new(emulator.config())?;
//!
//! let username = "ct-0b7f6a3e";
//! match fluent.customer_by_ref(username).await? {
//!     None => {
//!         let mut input = CreateCustomerInput::new(
//!             username, "ada@example.com", false, fluent.retailer_id(),
//!         );
//!         input.first_name = Some("Ada".into());
//!         input.attributes = Some(vec![AttributeInput::string("ct-version", "1")]);
//!         fluent.create_customer(&input).await?;
//!     }
//!     Some(_) => {
//!         let mut input = UpdateCustomerInput::new(username);
//!         input.first_name = Some("Ada".into());
//!         fluent.update_customer(&input).await?;
//!     }
//! }
//! let customer = fluent.customer_by_ref(username).await?.expect("created");
//! assert_eq!(customer.first_name.as_deref(), Some("Ada"));
//! assert_eq!(customer.status.as_deref(), Some("ACTIVE"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Errors in a handler
//!
//! ```
//! use connect_core::HandlerError;
//! use connect_fluent::{FluentClient, UpdateCustomerInput};
//!
//! async fn touch(fluent: &FluentClient, username: &str) -> Result<(), HandlerError> {
//!     // A `C....E` error becomes unprocessable, a 503 retryable.
//!     fluent.update_customer(&UpdateCustomerInput::new(username)).await?;
//!     Ok(())
//! }
//! ```

mod auth;
mod category;
mod client;
mod config;
mod customer;
pub mod dry_run;
mod error;
mod graphql;
mod order;
pub mod upsert;

pub use category::{
    CATEGORY_BY_REF, CATEGORY_FIELDS, CREATE_CATEGORY, Category, CategoryKey, CreateCategoryInput,
    EntityRef, ProductCatalogueKey, UPDATE_CATEGORY, UpdateCategoryInput, category_limits,
};
pub use client::FluentClient;
pub use config::{
    DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY_INITIAL_BACKOFF, FluentConfig,
};
/// Setters of `request-timeout`, `max-retries` and `retry-initial-backoff`
/// on the configuration (from `connect-http`).
pub use connect_http::WithHttpSettings;
pub use customer::{
    Attribute, AttributeInput, CREATE_CUSTOMER, CUSTOMER_BY_REF, CUSTOMER_FIELDS,
    CreateCustomerInput, Customer, RetailerId, RetailerRef, UPDATE_CUSTOMER, UpdateCustomerInput,
};
pub use error::{
    DEPENDENCY, Error, ErrorClass, GraphQlError, MAX_REQUEST_BYTES, PathSegment, TransportKind,
};
pub use order::{Fulfilment, ORDER_BY_ID, ORDER_BY_REF, ORDER_FIELDS, Order, OrderRetailer};
