//! The emulator's orders (see `fixtures/fluent/schema-order.graphql`):
//! seeded by tests, read with `orderById(id:)` and `order(ref:)`, their
//! status changed as a workflow would, each change able to send an
//! `OrderStatus` webhook.
//!
//! Orders are kept as JSON in the shape of the schema's `Order` type, with
//! `fulfilments` held as a connection (`{edges: [{node, cursor}],
//! pageInfo}`) so that `fulfilments(first:)` serves it as stored.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::store::{DUPLICATE, NOT_FOUND, Rejection, VALIDATION_FAILED};

/// An order to seed with [`insert_order`](super::FluentEmulator::insert_order).
///
/// ```
/// use connect_testkit::fluent::NewOrder;
///
/// let order = NewOrder::new("HD_387_56", "BOOKED")
///     .with_type("CC")
///     .with_attribute("channel", "STRING", "web")
///     .with_fulfilment("F-1", "PICK_PACK");
/// assert_eq!(order.reference, "HD_387_56");
/// assert_eq!(order.fulfilments.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewOrder {
    /// The order's `ref` (unique in the emulator).
    pub reference: String,
    /// The order `type` (default `HD`, home delivery).
    pub order_type: String,
    /// The workflow status, e.g. `RECEIVED`.
    pub status: String,
    /// `{name, type, value}` attributes.
    pub attributes: Vec<Value>,
    /// `(ref, status)` of each fulfilment, in order.
    pub fulfilments: Vec<(String, String)>,
}

impl NewOrder {
    /// A home-delivery order `reference` in `status`, with no attributes and
    /// no fulfilments.
    pub fn new(reference: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            reference: reference.into(),
            order_type: "HD".to_owned(),
            status: status.into(),
            attributes: Vec::new(),
            fulfilments: Vec::new(),
        }
    }

    /// Another order type (e.g. `CC`, click and collect).
    #[must_use]
    pub fn with_type(mut self, order_type: impl Into<String>) -> Self {
        self.order_type = order_type.into();
        self
    }

    /// Adds an attribute.
    #[must_use]
    pub fn with_attribute(
        mut self,
        name: impl Into<String>,
        kind: impl Into<String>,
        value: impl Into<Value>,
    ) -> Self {
        self.attributes
            .push(json!({ "name": name.into(), "type": kind.into(), "value": value.into() }));
        self
    }

    /// Adds a fulfilment with its ref and status.
    #[must_use]
    pub fn with_fulfilment(
        mut self,
        reference: impl Into<String>,
        status: impl Into<String>,
    ) -> Self {
        self.fulfilments.push((reference.into(), status.into()));
        self
    }
}

/// Every order, by numeric id, and the ids handed out (orders and
/// fulfilments share one sequence, like Fluent's entity ids).
#[derive(Debug, Default)]
pub(crate) struct Orders {
    orders: BTreeMap<u64, Value>,
    next_id: u64,
    status_changes: usize,
}

impl Orders {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Adds `order` for `retailer_id`; the ref must be new and not empty.
    pub(crate) fn insert(
        &mut self,
        order: &NewOrder,
        retailer_id: &str,
        now: &str,
    ) -> Result<Value, Rejection> {
        if order.reference.trim().is_empty() {
            return Err(Rejection::new(
                VALIDATION_FAILED,
                "Validation failed: ref must not be empty",
            ));
        }
        if self.by_ref(&order.reference).is_some() {
            return Err(Rejection::new(
                DUPLICATE,
                format!("Order with ref '{}' already exists", order.reference),
            ));
        }
        let id = self.next_id();
        let edges: Vec<Value> = order
            .fulfilments
            .iter()
            .map(|(reference, status)| {
                let fulfilment_id = self.next_id().to_string();
                json!({
                    "node": {
                        "id": fulfilment_id, "ref": reference, "status": status,
                        "type": order.order_type, "createdOn": now, "updatedOn": now,
                    },
                    "cursor": fulfilment_id,
                })
            })
            .collect();
        let mut record = Map::new();
        record.insert("id".into(), json!(id.to_string()));
        record.insert("ref".into(), json!(order.reference));
        record.insert("type".into(), json!(order.order_type));
        record.insert("status".into(), json!(order.status));
        record.insert("attributes".into(), Value::Array(order.attributes.clone()));
        record.insert("retailer".into(), json!({ "id": retailer_id }));
        record.insert(
            "fulfilments".into(),
            json!({ "edges": edges, "pageInfo": { "hasNextPage": false } }),
        );
        record.insert("createdOn".into(), json!(now));
        record.insert("updatedOn".into(), json!(now));
        let record = Value::Object(record);
        self.orders.insert(id, record.clone());
        Ok(record)
    }

    /// The order with Fluent id `id`.
    pub(crate) fn get(&self, id: &str) -> Option<&Value> {
        self.orders.get(&id.trim().parse::<u64>().ok()?)
    }

    /// The order whose `ref` is `reference`.
    pub(crate) fn by_ref(&self, reference: &str) -> Option<&Value> {
        self.orders
            .values()
            .find(|order| order.get("ref").and_then(Value::as_str) == Some(reference))
    }

    /// Every order, in id (creation) order.
    pub(crate) fn all(&self) -> Vec<Value> {
        self.orders.values().cloned().collect()
    }

    /// Status changes applied so far.
    pub(crate) fn status_changes(&self) -> usize {
        self.status_changes
    }

    /// Moves order `id` to `status` (as the workflow would); the order as
    /// it is now.
    pub(crate) fn set_status(
        &mut self,
        id: &str,
        status: &str,
        now: &str,
    ) -> Result<Value, Rejection> {
        let not_found = || Rejection::new(NOT_FOUND, format!("Order with id '{id}' not found"));
        let key = id.trim().parse::<u64>().map_err(|_| not_found())?;
        let Some(Value::Object(order)) = self.orders.get_mut(&key) else {
            return Err(not_found());
        };
        if status.trim().is_empty() {
            return Err(Rejection::new(
                VALIDATION_FAILED,
                "Validation failed: status must not be empty",
            ));
        }
        order.insert("status".into(), json!(status));
        order.insert("updatedOn".into(), json!(now));
        self.status_changes += 1;
        Ok(Value::Object(order.clone()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn orders_are_seeded_read_and_moved() {
        let mut orders = Orders::default();
        let seed = NewOrder::new("HD_1", "RECEIVED").with_fulfilment("F-1", "CREATED");
        let order = orders.insert(&seed, "1", "t0").unwrap();
        assert_eq!(order["id"], "1");
        assert_eq!(order["retailer"]["id"], "1");
        assert_eq!(order["fulfilments"]["edges"][0]["node"]["id"], "2");
        assert_eq!(orders.by_ref("HD_1").unwrap()["id"], "1");
        assert_eq!(orders.insert(&seed, "1", "t0").unwrap_err().code, DUPLICATE);
        let moved = orders.set_status("1", "BOOKED", "t1").unwrap();
        assert_eq!(
            (moved["status"].as_str(), moved["updatedOn"].as_str()),
            (Some("BOOKED"), Some("t1"))
        );
        assert_eq!(orders.get("1").unwrap()["status"], "BOOKED");
        assert_eq!(
            orders.set_status("9", "BOOKED", "t").unwrap_err().code,
            NOT_FOUND
        );
        assert_eq!(
            orders.set_status("x", "BOOKED", "t").unwrap_err().code,
            NOT_FOUND
        );
        assert_eq!(orders.status_changes(), 1);
        assert!(orders.get("nope").is_none());
    }
}
