//! The bundled category sync: every category created or changed in
//! commercetools appears, correct and current, in a Fluent OMS product
//! catalogue, under its parent.
//!
//! [`CommercetoolsCategoryUpsert`] is registered under that name and serves
//! the route [`CATEGORY_ROUTE`]. For each message it fetches the category
//! from commercetools by id, maps it ([`CategoryMapper`]), looks it up in
//! Fluent by `ref` in the configured catalogue, and creates it or updates
//! only what changed, through [`connect_fluent::upsert`]. It never
//! overwrites Fluent with an older commercetools version, retries a
//! category whose parent is not in Fluent yet (so any delivery order
//! converges), and treats a deleted category as done (or sets it
//! `INACTIVE`, with `on-delete: deactivate`). The whole mapping is in
//! `docs/mapping.md` ("Categories").
//!
//! ```yaml
//! route-mapping:
//!   category: commercetools.connect.category.upsert
//! routes:
//!   - route: commercetools.connect.category.upsert
//!     handler: CommercetoolsCategoryUpsert
//!     props:
//!       catalogue-ref: DEFAULT:1
//! ```
//!
//! Modules (each uses only those before it):
//!
//! - `settings`: [`CategorySyncSettings`], the route's `props`.
//! - `mapping`: [`CategoryMapper`], the pure commercetools → Fluent mapping
//!   and the diff of a draft against what Fluent holds.
//! - `sync`: [`CategorySync`], fetch → map → look up → create or update,
//!   reusable by partners' handlers; its [`outcome`] labels.
//! - `handler`: [`CommercetoolsCategoryUpsert`], the registered handler.
//! - `declaration`: [`CATEGORY_SYNC`], what the sync syncs (resource
//!   `category`, plural `categories`, scope `view_categories`), registered
//!   at link time for `connect backfill categories`.

mod declaration;
mod handler;
mod mapping;
mod settings;
mod sync;

pub use declaration::CATEGORY_SYNC;
pub use handler::CommercetoolsCategoryUpsert;
pub use mapping::{
    CategoryMapper, FluentCategoryDraft, INACTIVE, Identifiers, MappingError, attribute,
};
pub use settings::{CategorySyncSettings, DELETION_EVENTS, Field, OnDelete, PROPS, RefTemplate};
pub use sync::{CategorySync, PARENT_RETRY_AFTER, outcome};

/// The route category payloads are mapped to by default.
pub const CATEGORY_ROUTE: &str = "commercetools.connect.category.upsert";

/// The name the bundled handler is registered under.
pub const HANDLER_NAME: &str = "CommercetoolsCategoryUpsert";
