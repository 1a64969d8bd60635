//! The Order resource, its states and its update actions.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{CustomFields, Reference, ResourceIdentifier};
use super::resource::Resource;

/// A commercetools Order, as returned by `GET /{projectKey}/orders/{id}`.
/// Line items and prices are kept as JSON; fields not typed here are kept
/// in [`extra`](Order::extra).
///
/// ```
/// use connect_commercetools::{Order, OrderState};
///
/// let json = r#"{"id": "o-1", "version": 4, "orderNumber": "HD 387/56",
///     "orderState": "Confirmed", "lineItems": [], "totalPrice": {"centAmount": 100},
///     "createdAt": "2024-01-30T08:00:00.000Z", "lastModifiedAt": "2024-01-30T08:00:00.000Z"}"#;
/// let order: Order = serde_json::from_str(json)?;
/// assert_eq!(order.order_state, OrderState::Confirmed);
/// assert_eq!(order.shipment_state, None);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Unique id, assigned by commercetools.
    pub id: String,
    /// Current version (optimistic concurrency).
    pub version: u64,
    /// User-defined order number, unique in the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    /// The order's state.
    pub order_state: OrderState,
    /// The shipment state, once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_state: Option<ShipmentState>,
    /// The payment state, once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_state: Option<PaymentState>,
    /// The state in a custom state machine, once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Reference>,
    /// Custom fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomFields>,
    /// The line items, as JSON.
    #[serde(default)]
    pub line_items: Value,
    /// The total price, as JSON.
    #[serde(default)]
    pub total_price: Value,
    /// When commercetools created the order.
    pub created_at: DateTime<Utc>,
    /// When the order last changed.
    pub last_modified_at: DateTime<Utc>,
    /// Every other field the API returned.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Resource for Order {
    const TYPE_ID: &'static str = "order";
    const ENDPOINT: &'static str = "orders";

    fn id(&self) -> &str {
        &self.id
    }

    fn version(&self) -> u64 {
        self.version
    }
}

/// A state name that is not one of an enum's commercetools names (from
/// [`OrderState::from_str`] and its siblings).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a commercetools {kind}; use one of: {}", allowed.join(", "))]
pub struct UnknownState {
    kind: &'static str,
    value: String,
    allowed: &'static [&'static str],
}

impl UnknownState {
    /// The values that would have been accepted.
    pub fn allowed(&self) -> &'static [&'static str] {
        self.allowed
    }
}

macro_rules! state_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal, { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the API reference's order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            const NAMES: &'static [&'static str] = &[$(stringify!($variant),)+];

            /// The commercetools name, e.g. `Open`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;

            /// Parses the commercetools name (exactly as the API spells it).
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|state| state.as_str() == value)
                    .ok_or_else(|| UnknownState {
                        kind: $kind,
                        value: value.to_owned(),
                        allowed: Self::NAMES,
                    })
            }
        }
    };
}

state_enum!(
    /// An order's `orderState`.
    ///
    /// ```
    /// use connect_commercetools::OrderState;
    ///
    /// assert_eq!("Complete".parse::<OrderState>()?, OrderState::Complete);
    /// let error = "Done".parse::<OrderState>().unwrap_err();
    /// assert!(error.to_string().contains("Open, Confirmed, Complete, Cancelled"));
    /// # Ok::<(), connect_commercetools::UnknownState>(())
    /// ```
    OrderState, "order state", {
        /// Open.
        Open,
        /// Confirmed.
        Confirmed,
        /// Complete.
        Complete,
        /// Cancelled.
        Cancelled,
    }
);

state_enum!(
    /// An order's `shipmentState`.
    ShipmentState, "shipment state", {
        /// Shipped.
        Shipped,
        /// Ready to ship.
        Ready,
        /// Pending.
        Pending,
        /// Delayed.
        Delayed,
        /// Partially shipped.
        Partial,
        /// On backorder.
        Backorder,
        /// Delivered.
        Delivered,
    }
);

state_enum!(
    /// An order's `paymentState`.
    PaymentState, "payment state", {
        /// Balance due.
        BalanceDue,
        /// Failed.
        Failed,
        /// Pending.
        Pending,
        /// Credit owed.
        CreditOwed,
        /// Paid.
        Paid,
    }
);

/// One order update action (`"action": "changeOrderState"`, ...), the body
/// items of `POST /{projectKey}/orders/{id}`.
///
/// ```
/// use connect_commercetools::{OrderState, OrderUpdateAction};
///
/// let action = OrderUpdateAction::ChangeOrderState { order_state: OrderState::Complete };
/// assert_eq!(
///     serde_json::to_value(&action)?,
///     serde_json::json!({"action": "changeOrderState", "orderState": "Complete"})
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum OrderUpdateAction {
    /// Changes the order state.
    ChangeOrderState {
        /// The new state.
        order_state: OrderState,
    },
    /// Changes the shipment state.
    ChangeShipmentState {
        /// The new state.
        shipment_state: ShipmentState,
    },
    /// Changes the payment state.
    ChangePaymentState {
        /// The new state.
        payment_state: PaymentState,
    },
    /// Sets or removes one custom field (the order must have a custom type).
    SetCustomField {
        /// The field name.
        name: String,
        /// The value; `None` removes the field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
    },
    /// Moves the order to another state of its state machine.
    TransitionState {
        /// The target state.
        state: ResourceIdentifier,
        /// Skips the transition checks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        force: Option<bool>,
    },
}
