//! Fluent's order model and the reads order syncs need: `orderById(id:)`
//! and `order(ref:)`, with the fields of `schema-order.graphql`.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use crate::{Attribute, Error, FluentClient};

// The selection of every `Order` field as the `OrderFields` fragment; a
// macro so that `concat!` can build the documents below at compile time.
macro_rules! order_fields {
    () => {
        "fragment OrderFields on Order {
  id
  ref
  type
  status
  attributes { name type value }
  retailer { id }
  fulfilments(first: 100) { edges { node { id ref status } } }
  createdOn
  updatedOn
}"
    };
}

/// The `OrderFields` fragment selecting every [`Order`] field (the first
/// 100 fulfilments). Append it to your own documents and spread it with
/// `...OrderFields`.
pub const ORDER_FIELDS: &str = order_fields!();

/// `query OrderById($id: ID!)`: one order by Fluent id.
pub const ORDER_BY_ID: &str = concat!(
    "query OrderById($id: ID!) {\n  orderById(id: $id) { ...OrderFields }\n}\n",
    order_fields!()
);

/// `query OrderByRef($ref: String!)`: one order by `ref`.
pub const ORDER_BY_REF: &str = concat!(
    "query OrderByRef($ref: String!) {\n  order(ref: $ref) { ...OrderFields }\n}\n",
    order_fields!()
);

/// A Fluent order (`type Order`), as [`FluentClient::order_by_id`] reads it.
///
/// ```
/// use connect_fluent::Order;
///
/// let order: Order = serde_json::from_value(serde_json::json!({
///     "id": "3786", "ref": "HD_387_56", "type": "HD", "status": "BOOKED",
///     "attributes": [], "retailer": { "id": "1" },
///     "fulfilments": { "edges": [{ "node": { "id": "41", "ref": "F-1", "status": "PICK_PACK" } }] }
/// })).unwrap();
/// assert_eq!(order.status.as_deref(), Some("BOOKED"));
/// assert_eq!(order.retailer_id(), Some("1"));
/// assert_eq!(order.fulfilments[0].status.as_deref(), Some("PICK_PACK"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Order {
    /// Fluent's id (what webhooks carry as `entityId`).
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// The order's reference (`entityRef`).
    #[serde(rename = "ref", default)]
    pub reference: Option<String>,
    /// The order type, e.g. `HD` or `CC`.
    #[serde(rename = "type", default)]
    pub order_type: Option<String>,
    /// The workflow status, e.g. `BOOKED`.
    #[serde(default)]
    pub status: Option<String>,
    /// Free-form attributes (empty when Fluent sends none).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attributes: Vec<Attribute>,
    /// The retailer the order belongs to.
    #[serde(default)]
    pub retailer: Option<OrderRetailer>,
    /// The order's fulfilments (at most the first 100).
    #[serde(default, deserialize_with = "fulfilment_edges")]
    pub fulfilments: Vec<Fulfilment>,
    /// Creation time (ISO-8601).
    #[serde(default)]
    pub created_on: Option<String>,
    /// Last update time (ISO-8601).
    #[serde(default)]
    pub updated_on: Option<String>,
}

impl Order {
    /// The attribute named `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The retailer id, when Fluent sent one.
    pub fn retailer_id(&self) -> Option<&str> {
        self.retailer.as_ref().map(|r| r.id.as_str())
    }
}

/// `retailer { id }` of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OrderRetailer {
    /// The retailer id.
    #[serde(deserialize_with = "id_string")]
    pub id: String,
}

/// A fulfilment of an order (`node { id ref status }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Fulfilment {
    /// Fluent's id.
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// The fulfilment's reference.
    #[serde(rename = "ref", default)]
    pub reference: Option<String>,
    /// Its workflow status, e.g. `PICK_PACK`.
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ByIdData {
    order_by_id: Option<Order>,
}

#[derive(Deserialize)]
struct ByRefData {
    order: Option<Order>,
}

impl FluentClient {
    /// The order with Fluent id `id` (a webhook's `entityId`), or `None`.
    ///
    /// An unknown id answered with `orderById: null` or with a not-found
    /// code (`C0120E`) is `Ok(None)`; every other failure is classified as
    /// for the customer operations (a `C....E` validation error is
    /// unprocessable, a 429, a 5xx or a timeout retryable).
    pub async fn order_by_id(&self, id: &str) -> Result<Option<Order>, Error> {
        let answer = self
            .order_query::<ByIdData>("OrderById", ORDER_BY_ID, &json!({ "id": id }))
            .await;
        not_found_as_none(answer.map(|data| data.order_by_id), "id", id)
    }

    /// The order whose `ref` is `reference`, or `None` (as
    /// [`order_by_id`](Self::order_by_id)).
    pub async fn order_by_ref(&self, reference: &str) -> Result<Option<Order>, Error> {
        let answer = self
            .order_query::<ByRefData>("OrderByRef", ORDER_BY_REF, &json!({ "ref": reference }))
            .await;
        not_found_as_none(answer.map(|data| data.order), "ref", reference)
    }

    async fn order_query<T: de::DeserializeOwned>(
        &self,
        operation: &str,
        query: &str,
        variables: &serde_json::Value,
    ) -> Result<T, Error> {
        let data = self.execute(Some(operation), query, variables).await?;
        serde_json::from_value(data).map_err(|error| Error::Decode {
            message: format!("{operation}: {error}"),
        })
    }
}

/// A not-found answer (every GraphQL error says so) is `Ok(None)`.
fn not_found_as_none(
    answer: Result<Option<Order>, Error>,
    by: &str,
    value: &str,
) -> Result<Option<Order>, Error> {
    match answer {
        Err(error)
            if !error.graphql_errors().is_empty()
                && error
                    .graphql_errors()
                    .iter()
                    .all(crate::GraphQlError::is_not_found) =>
        {
            tracing::debug!(by, value, %error, "Fluent has no such order");
            Ok(None)
        }
        other => other,
    }
}

/// GraphQL `ID` arrives as a string, but accept a number too.
fn id_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct IdVisitor;
    impl Visitor<'_> for IdVisitor {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an ID (string or number)")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    deserializer.deserialize_any(IdVisitor)
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<Option<T>>>::deserialize(deserializer)?
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect())
}

/// `fulfilments { edges { node } }` as the list of nodes (null edges and
/// nodes skipped).
fn fulfilment_edges<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Fulfilment>, D::Error> {
    #[derive(Deserialize)]
    struct Edge {
        node: Option<Fulfilment>,
    }
    #[derive(Deserialize)]
    struct Connection {
        #[serde(default)]
        edges: Option<Vec<Option<Edge>>>,
    }
    Ok(Option::<Connection>::deserialize(deserializer)?
        .and_then(|c| c.edges)
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .filter_map(|edge| edge.node)
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn order_reads_the_schema_shape_with_nulls() {
        let order: Order = serde_json::from_value(json!({
            "id": 3786, "ref": "HD_1", "type": null, "status": "BOOKED",
            "attributes": null, "retailer": { "id": 1 },
            "fulfilments": { "edges": [null, { "node": null }, { "node": { "id": "9", "ref": null, "status": "SHIPPED" } }] }
        }))
        .unwrap();
        assert_eq!(order.id, "3786");
        assert_eq!(order.retailer_id(), Some("1"));
        assert!(order.attributes.is_empty());
        assert_eq!(order.fulfilments.len(), 1);
        assert_eq!(order.fulfilments[0].id, "9");
        let bare: Order =
            serde_json::from_value(json!({ "id": "1", "fulfilments": null })).unwrap();
        assert!(bare.fulfilments.is_empty() && bare.status.is_none());
    }

    #[test]
    fn documents_name_their_operations_and_fragment() {
        assert!(ORDER_BY_ID.starts_with("query OrderById($id: ID!)"));
        assert!(ORDER_BY_REF.contains("order(ref: $ref)"));
        assert!(ORDER_FIELDS.contains("fulfilments(first: 100)"));
    }
}
