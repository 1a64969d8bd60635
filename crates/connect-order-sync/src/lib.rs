//! The bundled order status sync: a Fluent OMS order's status, as its
//! workflow moves it, appears in the commercetools order's `orderState`,
//! `shipmentState` and `paymentState`.
//!
//! [`FluentOrderStatusUpdate`] is registered under that name and serves the
//! route [`ORDER_STATUS_ROUTE`] (`fluent.connect.order.status`), fed by
//! Fluent's `OrderStatus` webhooks through the webhook listener
//! (`connect-webhook`; message resource = `ORDER`/`{entityId}`). For each
//! message it:
//!
//! 1. reads the **current** order from Fluent (`orderById` with the
//!    message's order id), never trusting the status the webhook carries,
//!    so late, duplicated and reordered webhooks converge on Fluent's state;
//! 2. maps its status, many-to-one, into each of the three commercetools
//!    states ([`OrderStatusSettings`]);
//! 3. reads the commercetools order (by `orderNumber` = the Fluent ref, or
//!    by id: `order-lookup`) and writes only the states that differ, in
//!    one update with the version read; a 409 `ConcurrentModification` is
//!    re-read and re-planned, at most [`MAX_UPDATE_ATTEMPTS`] times.
//!
//! | case | result |
//! |---|---|
//! | some state differs | updated, outcome `updated` |
//! | every mapped state already matches | no write, outcome `unchanged` |
//! | the status is in no mapping | acknowledged, outcome `unmapped`, one WARN per status |
//! | Fluent has no such order, or it is another retailer's | unprocessable (dead letter) |
//! | commercetools has no such order | unprocessable (dead letter) |
//! | 429, 5xx, timeouts, 409s past the bound | retryable |
//!
//! # Configuration
//!
//! ```yaml
//! listeners:
//!   fluent-webhook:
//!     listen: 0.0.0.0:8080
//!     public-keys: ["${FLUENT_WEBHOOK_PUBLIC_KEY}"]
//! webhook-mapping:
//!   OrderStatus: fluent.connect.order.status
//! routes:
//!   - route: fluent.connect.order.status
//!     handler: FluentOrderStatusUpdate
//!     props:
//!       order-lookup: order-number        # or: id
//!       order-state-mapping:    { RECEIVED: Open, BOOKED: Confirmed, COMPLETE: Complete, CANCELLED: Cancelled }
//!       shipment-state-mapping: { PICK_PACK: Pending, SHIPPED: Shipped, COMPLETE: Delivered }
//!       payment-state-mapping:  {}
//! ```
//!
//! The props are checked when the route is built (`connect validate`):
//! unknown props, an `order-lookup` other than `order-number` or `id`, and
//! mapping values outside commercetools' enums fail with the allowed
//! values and the prop key.
//!
//! # Scopes
//!
//! The commercetools API client needs [`REQUIRED_SCOPES`]:
//! `view_orders:{projectKey}` and `manage_orders:{projectKey}`. The Fluent
//! user needs read access to orders.
//!
//! # Reuse
//!
//! Partners reuse [`OrderStatusSync`] in their own handler (e.g. to filter
//! order types first), or call [`actions`] to plan an update.
//!
//! Modules: `settings` (the route props), `sync` (read, map, write:
//! [`OrderStatusSync`] and its [`outcome`] labels), `handler` (the
//! registered [`FluentOrderStatusUpdate`]).

mod handler;
mod settings;
mod sync;

pub use handler::FluentOrderStatusUpdate;
pub use settings::{OrderLookup, OrderStatusSettings, PROPS, StateMapping, TargetStates};
pub use sync::{MAX_UPDATE_ATTEMPTS, OrderStatusSync, actions, outcome};

/// The route order status webhooks are mapped to (`webhook-mapping`).
pub const ORDER_STATUS_ROUTE: &str = "fluent.connect.order.status";

/// The name the bundled handler is registered under.
pub const HANDLER_NAME: &str = "FluentOrderStatusUpdate";

/// The Fluent webhook name this sync is for.
pub const WEBHOOK_NAME: &str = "OrderStatus";

/// The commercetools scopes the handler needs (each `:{projectKey}`).
pub const REQUIRED_SCOPES: &[&str] = &["view_orders", "manage_orders"];
