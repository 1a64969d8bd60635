//! commercetools for connect-sdk: the HTTP API client, the subscription
//! payload model, and the CT queue listener.
//!
//! - [`CommercetoolsClient`]: OAuth2 client credentials with a shared token
//!   cache, reads and writes of any [`Resource`]
//!   ([`get`](CommercetoolsClient::get), [`find`](CommercetoolsClient::find),
//!   [`query`](CommercetoolsClient::query), a bounded-memory full
//!   [`scan`](CommercetoolsClient::scan), [`update`](CommercetoolsClient::update)
//!   and the 409 re-apply loop [`update_with`](CommercetoolsClient::update_with)),
//!   JSON and raw calls for resources without a model
//!   ([`query_json`](CommercetoolsClient::query_json),
//!   [`send_json`](CommercetoolsClient::send_json)), the customer methods
//!   ([`customer`](CommercetoolsClient::customer),
//!   [`scan_customers`](CommercetoolsClient::scan_customers)...); retries of
//!   transient failures; one opaque [`Error`] that says what to do.
//! - [`model`]: [`Customer`], [`Category`], [`Order`] and their drafts and
//!   update actions.
//! - [`CommercetoolsConfig`]: the `commercetools:` block of the configuration.
//! - [`payload`]: every subscription delivery format (Platform Messages,
//!   change notifications, CloudEvents, the EventBridge envelope).
//! - [`SubscriptionTranslator`]: turns CT queue payloads into connect
//!   messages, for a [`Listener`](connect_core::listener::Listener) named
//!   [`CT_QUEUE_LISTENER`]; the translator holds the `route-mapping` block.
//! - [`names`]: commercetools resource type ids and event types, to check
//!   the configuration against.
//!
//! See `docs/commercetools.md` for API clients, scopes and subscriptions.
//!
//! # From the configuration file to a listener
//!
//! ```
//! use std::sync::Arc;
//! use connect_commercetools::{
//!     CT_QUEUE_LISTENER, CommercetoolsClient, CommercetoolsConfig, SubscriptionTranslator,
//! };
//! use connect_core::config::ConfigDocument;
//! use connect_core::listener::Listener;
//! use connect_core::queue::{MemoryQueue, RawPayload};
//! use connect_core::Message;
//!
//! let document = ConfigDocument::from_yaml("inline.yml", r#"
//! connector-name: commercetools-connector
//! commercetools:
//!   project-key: fluent-ct-dev
//!   client-id: my-client
//!   client-secret: my-secret
//!   region: europe-west1.gcp
//! route-mapping:
//!   customer: commercetools.connect.customer.upsert
//! routes:
//!   - route: commercetools.connect.customer.upsert
//!     handler: CommercetoolsCustomerUpsert
//! "#);
//! let connector = document.connector()?;
//! let translator = SubscriptionTranslator::from_document(&document, &connector)?;
//! let ct: CommercetoolsConfig = document.require_section("commercetools")?;
//! let client = CommercetoolsClient::new(ct)?; // shared by handlers
//!
//! let ct_queue = Arc::new(MemoryQueue::<RawPayload>::new("ct-queue", 1_000));
//! let events = Arc::new(MemoryQueue::<Message>::new("events", 1_000));
//! let listener = Listener::new(CT_QUEUE_LISTENER, ct_queue, Arc::new(translator), events);
//! # drop((client, listener));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod auth;
mod client;
mod config;
mod error;
pub mod model;
pub mod names;
pub mod payload;
mod route_mapping;
pub mod sync;
mod translator;

pub use client::{CommercetoolsClient, Update};
pub use config::{
    CommercetoolsConfig, DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_RETRY_INITIAL_BACKOFF, Region, UnknownRegion,
};
/// Setters of `request-timeout`, `max-retries` and `retry-initial-backoff`
/// on the configuration (from `connect-http`).
pub use connect_http::WithHttpSettings;
pub use error::{DEPENDENCY, Error};
pub use model::{
    Address, AuthenticationMode, CustomFields, CustomFieldsDraft, Customer, CustomerDraft,
    CustomerGroupAssignment, CustomerQuery, CustomerScan, CustomerUpdate, CustomerUpdateAction,
    ErrorObject, ErrorResponse, KeyReference, MAX_LIMIT, MAX_OFFSET, PagedQueryResponse, Query,
    Reference, Resource, ResourceIdentifier, Scan, ScanKey, ScanOrder, string_literal,
};
pub use model::{
    Category, CategoryDraft, CategoryUpdateAction, LocalizedString, Order, OrderState,
    OrderUpdateAction, PaymentState, ShipmentState, UnknownState,
};
pub use payload::{PayloadError, PayloadFormat, SubscriptionEvent};
pub use route_mapping::ROUTE_MAPPING;
pub use sync::{ResourceSync, SyncRegistry};
pub use translator::{CT_QUEUE_LISTENER, SOURCE, SubscriptionTranslator};
