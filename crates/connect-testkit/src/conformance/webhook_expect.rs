//! What a webhook-driven route (Fluent → commercetools) must make of each
//! Fluent entity ([`WebhookExpectation`]), and the ready one of the bundled
//! order status sync.

use std::collections::BTreeMap;
use std::fmt;

use connect_order_sync::{OrderLookup, OrderStatusSettings};
use serde_json::{Value, json};

use super::expect_impl::Systems;
use crate::fluent::{NewOrder, Webhook};

/// The commercetools fields a Fluent state calls for, by field name
/// (e.g. `orderState` → `Confirmed`); a field the state does not map is
/// absent.
pub type Fields = BTreeMap<String, String>;

/// For one kind of Fluent entity that a webhook route syncs into
/// commercetools: how the storm creates entities and moves them through
/// their workflow, and what commercetools must hold for each state.
///
/// The kit calls the storm methods from one task, in order, with its
/// seeded random numbers, and the read methods from any task. Each state
/// change makes one webhook ([`webhook`](Self::webhook)), which the kit
/// signs with the Fluent emulator's key and POSTs to the connector's
/// `listeners.fluent-webhook`, duplicated, delayed and reordered, while
/// both systems fail. The bundled order status sync has a ready one:
/// [`order_statuses`].
pub trait WebhookExpectation: Send + Sync + 'static {
    /// What the entities are, e.g. `order` (for reports and findings).
    fn kind(&self) -> &str;

    /// Creates an entity in Fluent in its first state and, unless
    /// `unprocessable`, its counterpart in commercetools (which the route
    /// then finds and updates); returns the Fluent id. `n` is unique in
    /// the run. An entity without a counterpart must be dead-lettered.
    fn create(
        &self,
        n: u64,
        rng: &mut fastrand::Rng,
        unprocessable: bool,
        systems: Systems<'_>,
    ) -> Result<String, String>;

    /// Moves entity `id` on in its workflow, as Fluent would; returns the
    /// new state, or `None` when it is in a final state.
    fn advance(
        &self,
        rng: &mut fastrand::Rng,
        id: &str,
        systems: Systems<'_>,
    ) -> Result<Option<String>, String>;

    /// The entity's state in Fluent now.
    fn state(&self, id: &str, systems: Systems<'_>) -> Option<String>;

    /// The webhook Fluent sends for the entity's current state.
    fn webhook(&self, id: &str, systems: Systems<'_>) -> Option<Webhook>;

    /// The commercetools fields state `state` calls for (many states may
    /// call for the same; a state absent from every mapping calls for
    /// nothing). A field a state does not name is left as it was: the
    /// checks then accept the value of any earlier state there, since a
    /// handler that reads the current entity may skip states that passed
    /// meanwhile.
    fn target(&self, state: &str) -> Fields;

    /// What commercetools holds now in the fields of [`target`](Self::target)
    /// for entity `id`, or `None` when it has no counterpart.
    fn counterpart(&self, id: &str, systems: Systems<'_>) -> Option<Fields>;

    /// How many counterparts commercetools holds in all (a route that
    /// creates where it should update leaves more than the kit created).
    fn counterparts(&self, systems: Systems<'_>) -> usize;
}

/// The order workflow the storm walks, in order (`CANCELLED` may follow any
/// state but the last).
pub const ORDER_WORKFLOW: [&str; 5] = ["RECEIVED", "BOOKED", "PICK_PACK", "SHIPPED", "COMPLETE"];

/// The state an order may be cancelled into.
pub const CANCELLED: &str = "CANCELLED";

/// The expectation of the bundled order status sync
/// (`FluentOrderStatusUpdate`), or of a partner handler built on
/// `OrderStatusSync`.
///
/// Orders walk [`ORDER_WORKFLOW`] (one in ten is cancelled on the way);
/// each has a commercetools order found by `orderNumber` = its Fluent ref
/// (or by id, with `order-lookup: id`), whose `orderState`,
/// `shipmentState` and `paymentState` must hold what the current Fluent
/// status maps to. An order whose commercetools counterpart does not
/// exist is unprocessable.
#[derive(Debug, Clone)]
pub struct OrderStatusExpectation {
    settings: OrderStatusSettings,
}

/// The order status sync with these settings (the route's props).
pub fn order_statuses(settings: OrderStatusSettings) -> OrderStatusExpectation {
    OrderStatusExpectation::new(settings)
}

impl OrderStatusExpectation {
    /// The order status sync with these settings.
    pub fn new(settings: OrderStatusSettings) -> Self {
        Self { settings }
    }

    /// The order status sync with the route's `props` (a JSON object, as
    /// in the YAML); the error says which prop is wrong.
    pub fn from_props(props: &Value) -> Result<Self, String> {
        let empty = serde_json::Map::new();
        let props = match props {
            Value::Object(map) => map,
            Value::Null => &empty,
            other => return Err(format!("the props must be a mapping, not {other}")),
        };
        OrderStatusSettings::from_props(props).map(Self::new)
    }

    /// The settings.
    pub fn settings(&self) -> &OrderStatusSettings {
        &self.settings
    }

    fn ct_order(&self, id: &str, systems: Systems<'_>) -> Option<Value> {
        let order = systems.fluent.order(id)?;
        let reference = order.get("ref").and_then(Value::as_str)?;
        match self.settings.order_lookup {
            OrderLookup::Id => systems.commercetools.resource("order", reference),
            OrderLookup::OrderNumber => systems
                .commercetools
                .resources("order")
                .into_iter()
                .find(|o| o.get("orderNumber").and_then(Value::as_str) == Some(reference)),
        }
    }
}

impl fmt::Display for OrderStatusExpectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "order statuses ({:?})", self.settings)
    }
}

/// The fields of an order the order status sync writes.
const ORDER_FIELDS: [&str; 3] = ["orderState", "shipmentState", "paymentState"];

impl WebhookExpectation for OrderStatusExpectation {
    fn kind(&self) -> &str {
        "order"
    }

    fn create(
        &self,
        n: u64,
        rng: &mut fastrand::Rng,
        unprocessable: bool,
        systems: Systems<'_>,
    ) -> Result<String, String> {
        let number = format!("CONF-{n}-{:04x}", rng.u16(..));
        let draft = json!({
            "orderNumber": number,
            "lineItems": [],
            "totalPrice": { "type": "centPrecision", "currencyCode": "EUR", "centAmount": 1000 + n, "fractionDigits": 2 },
        });
        let reference = if unprocessable {
            // A ref commercetools does not know, by either lookup.
            format!("{number}-NOT-IN-COMMERCETOOLS")
        } else {
            let created = systems
                .commercetools
                .insert_resource_silently("order", draft)
                .map_err(|e| format!("cannot create the commercetools order: {e}"))?;
            match self.settings.order_lookup {
                OrderLookup::Id => created
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                OrderLookup::OrderNumber => number,
            }
        };
        let order = systems
            .fluent
            .insert_order(&NewOrder::new(reference, ORDER_WORKFLOW[0]))?;
        order
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| "the Fluent emulator gave the order no id".to_owned())
    }

    fn advance(
        &self,
        rng: &mut fastrand::Rng,
        id: &str,
        systems: Systems<'_>,
    ) -> Result<Option<String>, String> {
        let Some(status) = self.state(id, systems) else {
            return Err(format!("Fluent has no order {id}"));
        };
        let Some(at) = ORDER_WORKFLOW.iter().position(|s| *s == status) else {
            return Ok(None);
        };
        let Some(next) = ORDER_WORKFLOW.get(at + 1) else {
            return Ok(None);
        };
        let next = if rng.u32(0..10) == 0 { CANCELLED } else { next };
        systems.fluent.set_order_status(id, next)?;
        Ok(Some(next.to_owned()))
    }

    fn state(&self, id: &str, systems: Systems<'_>) -> Option<String> {
        systems
            .fluent
            .order(id)?
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    fn webhook(&self, id: &str, systems: Systems<'_>) -> Option<Webhook> {
        systems.fluent.order_webhook(id)
    }

    fn target(&self, state: &str) -> Fields {
        let target = self.settings.target(state);
        let mut fields = Fields::new();
        if let Some(state) = target.order_state {
            fields.insert("orderState".to_owned(), state.as_str().to_owned());
        }
        if let Some(state) = target.shipment_state {
            fields.insert("shipmentState".to_owned(), state.as_str().to_owned());
        }
        if let Some(state) = target.payment_state {
            fields.insert("paymentState".to_owned(), state.as_str().to_owned());
        }
        fields
    }

    fn counterpart(&self, id: &str, systems: Systems<'_>) -> Option<Fields> {
        let order = self.ct_order(id, systems)?;
        Some(
            ORDER_FIELDS
                .iter()
                .filter_map(|field| {
                    let value = order.get(*field).and_then(Value::as_str)?;
                    Some(((*field).to_owned(), value.to_owned()))
                })
                .collect(),
        )
    }

    fn counterparts(&self, systems: Systems<'_>) -> usize {
        systems.commercetools.resources("order").len()
    }
}
