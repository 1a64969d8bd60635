//! The route props of the order status sync, read once at startup (so
//! `connect validate` reports every mistake before anything runs).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use connect_commercetools::{OrderState, PaymentState, ShipmentState, UnknownState};
use connect_core::config::check_names;
use connect_core::{HandlerSetup, SetupError};
use serde_json::{Map, Value};

/// Every prop an order-status route accepts.
pub const PROPS: &[&str] = &[
    "name",
    "order-lookup",
    "order-state-mapping",
    "shipment-state-mapping",
    "payment-state-mapping",
];

/// `order-lookup`: how the Fluent order's `ref` finds the commercetools
/// order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OrderLookup {
    /// The Fluent ref is the commercetools `orderNumber` (default).
    #[default]
    OrderNumber,
    /// The Fluent ref is the commercetools order id.
    Id,
}

impl OrderLookup {
    /// The prop value, e.g. `order-number`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderNumber => "order-number",
            Self::Id => "id",
        }
    }
}

impl fmt::Display for OrderLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fluent status → commercetools state, many-to-one (several statuses may
/// give one state; a status absent from the mapping leaves that state as
/// it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMapping<S> {
    entries: BTreeMap<String, S>,
}

impl<S> Default for StateMapping<S> {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }
}

impl<S: Copy> StateMapping<S> {
    /// A mapping of these `(Fluent status, state)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, S)>) -> Self {
        Self {
            entries: pairs
                .into_iter()
                .map(|(status, state)| (status.to_owned(), state))
                .collect(),
        }
    }

    /// The state Fluent `status` maps to.
    pub fn get(&self, status: &str) -> Option<S> {
        self.entries.get(status).copied()
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The mapped Fluent statuses and their states, by status.
    pub fn iter(&self) -> impl Iterator<Item = (&str, S)> {
        self.entries
            .iter()
            .map(|(status, state)| (status.as_str(), *state))
    }
}

impl<S: Copy + FromStr<Err = UnknownState>> StateMapping<S> {
    /// Reads the mapping under prop `key`: an object of Fluent status →
    /// commercetools state name. Errors name the prop and the status and
    /// list the allowed states.
    pub fn parse(key: &str, value: &Value) -> Result<Self, String> {
        let Value::Object(object) = value else {
            return Err(format!(
                "`{key}` must be a mapping of Fluent status to commercetools state (e.g. `{{ SHIPPED: Shipped }}`; `{{}}` maps nothing), not {}",
                kind(value)
            ));
        };
        let mut entries = BTreeMap::new();
        for (status, state) in object {
            if status.trim().is_empty() {
                return Err(format!("`{key}` has an empty Fluent status"));
            }
            let Value::String(name) = state else {
                return Err(format!(
                    "`{key}.{status}` must be a commercetools state name, not {}",
                    kind(state)
                ));
            };
            let parsed = name
                .parse::<S>()
                .map_err(|error| format!("`{key}.{status}`: {error}"))?;
            entries.insert(status.clone(), parsed);
        }
        Ok(Self { entries })
    }
}

/// The props of an order-status route:
///
/// ```yaml
/// props:
///   order-lookup: order-number      # the Fluent order ref is the commercetools orderNumber; or: id
///   order-state-mapping:    { RECEIVED: Open, BOOKED: Confirmed, COMPLETE: Complete, CANCELLED: Cancelled }
///   shipment-state-mapping: { PICK_PACK: Pending, SHIPPED: Shipped, COMPLETE: Delivered }
///   payment-state-mapping:  {}
/// ```
///
/// A mapping that is not given keeps its default; `{}` maps nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrderStatusSettings {
    /// A label for the route (informational).
    pub name: Option<String>,
    /// How the commercetools order is found.
    pub order_lookup: OrderLookup,
    /// Fluent status → `orderState`.
    pub order_state_mapping: StateMapping<OrderState>,
    /// Fluent status → `shipmentState`.
    pub shipment_state_mapping: StateMapping<ShipmentState>,
    /// Fluent status → `paymentState`.
    pub payment_state_mapping: StateMapping<PaymentState>,
}

impl Default for OrderStatusSettings {
    fn default() -> Self {
        Self {
            name: None,
            order_lookup: OrderLookup::default(),
            order_state_mapping: StateMapping::from_pairs([
                ("RECEIVED", OrderState::Open),
                ("BOOKED", OrderState::Confirmed),
                ("COMPLETE", OrderState::Complete),
                ("CANCELLED", OrderState::Cancelled),
            ]),
            shipment_state_mapping: StateMapping::from_pairs([
                ("PICK_PACK", ShipmentState::Pending),
                ("SHIPPED", ShipmentState::Shipped),
                ("COMPLETE", ShipmentState::Delivered),
            ]),
            payment_state_mapping: StateMapping::default(),
        }
    }
}

/// The commercetools states one Fluent status maps to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetStates {
    /// The `orderState`, if the status is in `order-state-mapping`.
    pub order_state: Option<OrderState>,
    /// The `shipmentState`, if the status is in `shipment-state-mapping`.
    pub shipment_state: Option<ShipmentState>,
    /// The `paymentState`, if the status is in `payment-state-mapping`.
    pub payment_state: Option<PaymentState>,
}

impl TargetStates {
    /// Whether the status is in no mapping.
    pub fn is_empty(&self) -> bool {
        self.order_state.is_none() && self.shipment_state.is_none() && self.payment_state.is_none()
    }
}

impl OrderStatusSettings {
    /// Reads and checks the props of `setup`'s route.
    pub fn from_setup(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        Self::from_props(setup.props()).map_err(|message| setup.error(message))
    }

    /// Reads and checks props: unknown names (with the nearest known one),
    /// `order-lookup` values, and mapping values outside commercetools'
    /// enums (naming the prop key and listing the allowed values).
    pub fn from_props(props: &Map<String, Value>) -> Result<Self, String> {
        check_prop_names(props.keys().map(String::as_str))?;
        let mut settings = Self::default();
        if let Some(name) = props.get("name").filter(|v| !v.is_null()) {
            settings.name = Some(
                name.as_str()
                    .ok_or_else(|| format!("`name` must be text, not {}", kind(name)))?
                    .to_owned(),
            );
        }
        if let Some(lookup) = props.get("order-lookup") {
            settings.order_lookup = match lookup.as_str() {
                Some("order-number") => OrderLookup::OrderNumber,
                Some("id") => OrderLookup::Id,
                _ => {
                    return Err(format!(
                        "`order-lookup` must be `order-number` (the Fluent order ref is the commercetools orderNumber) or `id` (it is the commercetools order id), not {}",
                        shown(lookup)
                    ));
                }
            };
        }
        if let Some(value) = props.get("order-state-mapping") {
            settings.order_state_mapping = StateMapping::parse("order-state-mapping", value)?;
        }
        if let Some(value) = props.get("shipment-state-mapping") {
            settings.shipment_state_mapping = StateMapping::parse("shipment-state-mapping", value)?;
        }
        if let Some(value) = props.get("payment-state-mapping") {
            settings.payment_state_mapping = StateMapping::parse("payment-state-mapping", value)?;
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what the types cannot: at least one status is mapped.
    pub fn validate(&self) -> Result<(), String> {
        if self.order_state_mapping.is_empty()
            && self.shipment_state_mapping.is_empty()
            && self.payment_state_mapping.is_empty()
        {
            return Err(
                "`order-state-mapping`, `shipment-state-mapping` and `payment-state-mapping` are all empty, so no Fluent status would change anything; map at least one status (or remove the route)"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// The states Fluent `status` maps to.
    pub fn target(&self, status: &str) -> TargetStates {
        TargetStates {
            order_state: self.order_state_mapping.get(status),
            shipment_state: self.shipment_state_mapping.get(status),
            payment_state: self.payment_state_mapping.get(status),
        }
    }
}

/// Refuses a prop name the sync does not know, naming the nearest known
/// one and listing them all.
fn check_prop_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    check_names(names, PROPS, "the order status sync", &[])
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => format!("`{text}`"),
        other => kind(other).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    fn props(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn defaults_map_many_to_one_and_leave_unmapped_states_alone() {
        let settings = OrderStatusSettings::from_props(&Map::new()).unwrap();
        assert_eq!(settings, OrderStatusSettings::default());
        assert_eq!(settings.order_lookup, OrderLookup::OrderNumber);
        let complete = settings.target("COMPLETE");
        assert_eq!(complete.order_state, Some(OrderState::Complete));
        assert_eq!(complete.shipment_state, Some(ShipmentState::Delivered));
        assert_eq!(complete.payment_state, None);
        let shipped = settings.target("SHIPPED");
        assert_eq!(
            (shipped.order_state, shipped.shipment_state),
            (None, Some(ShipmentState::Shipped))
        );
        assert!(settings.target("CREATED").is_empty());

        let many = OrderStatusSettings::from_props(&props(json!({
            "order-lookup": "id",
            "order-state-mapping": { "RECEIVED": "Confirmed", "BOOKED": "Confirmed" },
            "payment-state-mapping": { "PAID": "Paid" }
        })))
        .unwrap();
        assert_eq!(many.order_lookup, OrderLookup::Id);
        assert_eq!(
            many.target("RECEIVED").order_state,
            Some(OrderState::Confirmed)
        );
        assert_eq!(
            many.target("BOOKED").order_state,
            Some(OrderState::Confirmed)
        );
        assert_eq!(many.target("PAID").payment_state, Some(PaymentState::Paid));
        // Not given: the default shipment mapping stays.
        assert_eq!(
            many.target("SHIPPED").shipment_state,
            Some(ShipmentState::Shipped)
        );
    }
}
