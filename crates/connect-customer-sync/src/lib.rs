//! The bundled customer sync: every customer created or changed in
//! commercetools appears, correct and current, in Fluent OMS.
//!
//! [`CommercetoolsCustomerUpsert`] is registered under that name and serves
//! the route [`CUSTOMER_ROUTE`]. For each message it fetches the customer
//! from commercetools by id, maps it ([`CustomerMapper`]), looks it up in
//! Fluent by `ref`, and creates it or updates only what changed. It never
//! overwrites Fluent with an older commercetools version, never writes to a
//! Fluent customer of another retailer, treats a deleted customer as done
//! (or marks it deleted, with `on-delete: deactivate`), and handles
//! over-long values as configured (`overlong-fields`) without ever cutting
//! a value a cut would make wrong. The whole mapping is in `docs/mapping.md`.
//!
//! Modules (each uses only those before it): `settings` (the route props,
//! [`CustomerSyncSettings`]), `mapping` (commercetools customer → Fluent
//! draft, [`CustomerMapper`], and [`FluentCustomerDraft::diff`]), `sync`
//! (fetch, map, look up, create or update: [`CustomerSync`]), `handler` (the
//! registered [`CommercetoolsCustomerUpsert`]).
//!
//! Partners extend it by reusing [`CustomerSync`] in their own handler:
//!
//! ```
//! use connect_core::prelude::*;
//! use connect_customer_sync::CustomerSync;
//! use connect_fluent::AttributeInput;
//!
//! #[derive(Debug)]
//! #[handler(name = "LoyaltyCustomerUpsert")]
//! struct LoyaltyCustomerUpsert { sync: CustomerSync }
//!
//! impl FromRoute for LoyaltyCustomerUpsert {
//!     fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
//!         Ok(Self { sync: CustomerSync::from_setup(setup)? })
//!     }
//! }
//!
//! #[async_trait]
//! impl MessageHandler for LoyaltyCustomerUpsert {
//!     async fn handle(&self, _: &HandlerContext<'_>, message: &Message) -> Result<Outcome, HandlerError> {
//!         self.sync.handle_with(message, |customer, draft| {
//!             let tier = customer.custom_field("loyaltyTier").and_then(|v| v.as_str()).unwrap_or("none");
//!             draft.set_attribute(AttributeInput::string("loyalty.tier", tier));
//!         }).await
//!     }
//!     fn coalesce(&self) -> bool { true }
//! }
//! ```
//!
//! Modules:
//!
//! - `handler`: [`CommercetoolsCustomerUpsert`], the registered handler.
//! - `sync`: [`CustomerSync`], fetch → map → look up → create or update,
//!   reusable by partners' handlers; its [`outcome`] labels.
//! - `mapping`: [`CustomerMapper`], the pure commercetools → Fluent mapping
//!   and the diff of a draft against what Fluent holds.
//! - `settings`: [`CustomerSyncSettings`], the route's `props`.

mod declaration;
mod handler;
mod mapping;
mod settings;
mod sync;

pub use declaration::CUSTOMER_SYNC;
pub use handler::CommercetoolsCustomerUpsert;
pub use mapping::{
    CustomerMapper, FluentCustomerDraft, MappingError, attribute, contact_address, limits,
};
pub use settings::{
    CustomFieldSelection, CustomerSyncSettings, DELETION_EVENTS, Field, OnDelete, Overlong, PROPS,
    UsernameTemplate,
};
pub use sync::{CustomerSync, outcome};

/// The route customer payloads are mapped to by default.
pub const CUSTOMER_ROUTE: &str = "commercetools.connect.customer.upsert";

/// The name the bundled handler is registered under.
pub const HANDLER_NAME: &str = "CommercetoolsCustomerUpsert";
