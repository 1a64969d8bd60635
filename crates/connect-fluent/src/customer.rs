//! Fluent's customer model and the operations customer sync needs.
//!
//! The types mirror `schema-customer.graphql` field for field; optional
//! input fields that are `None` are not sent at all, so an update changes
//! only what it names.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use crate::{Error, FluentClient};

// The selection of every `Customer` field as the `CustomerFields` fragment;
// a macro so that `concat!` can build the documents below at compile time.
macro_rules! customer_fields {
    () => {
        "fragment CustomerFields on Customer {
  id
  ref
  username
  status
  title
  department
  country
  firstName
  lastName
  primaryEmail
  primaryPhone
  timezone
  promotionOptIn
  retailer { id ref }
  attributes { name type value }
  createdOn
  updatedOn
}"
    };
}

/// The `CustomerFields` fragment selecting every [`Customer`] field. Append
/// it to your own documents and spread it with `...CustomerFields`.
pub const CUSTOMER_FIELDS: &str = customer_fields!();

/// `query CustomerByRef($ref: String!)`: one customer by `ref` (= username).
pub const CUSTOMER_BY_REF: &str = concat!(
    "query CustomerByRef($ref: String!) {\n  customer(ref: $ref) { ...CustomerFields }\n}\n",
    customer_fields!()
);

/// `mutation CreateCustomer($input: CreateCustomerInput)`.
pub const CREATE_CUSTOMER: &str = concat!(
    "mutation CreateCustomer($input: CreateCustomerInput) {\n  createCustomer(input: $input) { ...CustomerFields }\n}\n",
    customer_fields!()
);

/// `mutation UpdateCustomer($input: UpdateCustomerInput)`.
pub const UPDATE_CUSTOMER: &str = concat!(
    "mutation UpdateCustomer($input: UpdateCustomerInput) {\n  updateCustomer(input: $input) { ...CustomerFields }\n}\n",
    customer_fields!()
);

/// A Fluent customer (`type Customer`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Customer {
    /// Fluent's id.
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// The customer's reference; always equal to `username`.
    #[serde(rename = "ref", default)]
    pub reference: Option<String>,
    /// The identity of the customer (max 250 characters).
    #[serde(default)]
    pub username: Option<String>,
    /// e.g. `ACTIVE`, `INACTIVE`.
    #[serde(default)]
    pub status: Option<String>,
    /// Title (max 50).
    #[serde(default)]
    pub title: Option<String>,
    /// Department.
    #[serde(default)]
    pub department: Option<String>,
    /// Country (max 100).
    #[serde(default)]
    pub country: Option<String>,
    /// First name (max 50).
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name (max 50).
    #[serde(default)]
    pub last_name: Option<String>,
    /// Email (max 250).
    #[serde(default)]
    pub primary_email: Option<String>,
    /// Phone (max 20).
    #[serde(default)]
    pub primary_phone: Option<String>,
    /// Time zone (max 32).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Whether the customer accepts promotions.
    #[serde(default)]
    pub promotion_opt_in: Option<bool>,
    /// The retailer the customer belongs to.
    #[serde(default)]
    pub retailer: Option<RetailerRef>,
    /// Free-form attributes (empty when Fluent sends none).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attributes: Vec<Attribute>,
    /// Creation time (ISO-8601).
    #[serde(default)]
    pub created_on: Option<String>,
    /// Last update time (ISO-8601).
    #[serde(default)]
    pub updated_on: Option<String>,
}

impl Customer {
    /// The attribute named `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

/// `type Retailer { id ref }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RetailerRef {
    /// The retailer id.
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// The retailer ref.
    #[serde(rename = "ref", default)]
    pub reference: Option<String>,
}

/// `type Attribute { name type value }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attribute {
    /// The attribute name (unique per customer).
    pub name: String,
    /// Fluent's attribute type, e.g. `STRING`, `INTEGER`, `JSON`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value.
    #[serde(default)]
    pub value: serde_json::Value,
}

/// `input AttributeInput { name type value }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeInput {
    /// The attribute name; an update replaces the attribute of that name.
    pub name: String,
    /// Fluent's attribute type, e.g. `STRING`, `INTEGER`, `JSON`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value.
    pub value: serde_json::Value,
}

impl AttributeInput {
    /// An attribute of any type.
    pub fn new(
        name: impl Into<String>,
        kind: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            value: value.into(),
        }
    }

    /// A `STRING` attribute.
    pub fn string(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(name, "STRING", value.into())
    }

    /// A `JSON` attribute.
    pub fn json(name: impl Into<String>, value: serde_json::Value) -> Self {
        Self::new(name, "JSON", value)
    }
}

/// `input RetailerId { id }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetailerId {
    /// The retailer id.
    pub id: String,
}

/// `input CreateCustomerInput`.
///
/// ```
/// use connect_fluent::{AttributeInput, CreateCustomerInput};
///
/// let mut input = CreateCustomerInput::new("ct-42", "ada@example.com", false, "1");
/// input.first_name = Some("Ada".into());
/// input.attributes = Some(vec![AttributeInput::string("ct-id", "42")]);
/// let json = serde_json::to_value(&input).unwrap();
/// assert_eq!(json["retailer"]["id"], "1");
/// assert!(json.get("lastName").is_none()); // absent fields are not sent
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCustomerInput {
    /// The identity and ref of the customer (required, max 250).
    pub username: String,
    /// Attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<AttributeInput>>,
    /// Title (max 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Country (max 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// First name (max 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name (max 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Email (required, max 250).
    pub primary_email: String,
    /// Phone (max 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_phone: Option<String>,
    /// Time zone (max 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Whether the customer accepts promotions (required).
    pub promotion_opt_in: bool,
    /// The retailer (required): use [`FluentClient::retailer_id`].
    pub retailer: RetailerId,
}

impl CreateCustomerInput {
    /// An input with the required fields; set the others directly.
    pub fn new(
        username: impl Into<String>,
        primary_email: impl Into<String>,
        promotion_opt_in: bool,
        retailer_id: impl Into<String>,
    ) -> Self {
        Self {
            username: username.into(),
            attributes: None,
            title: None,
            department: None,
            country: None,
            first_name: None,
            last_name: None,
            primary_email: primary_email.into(),
            primary_phone: None,
            timezone: None,
            promotion_opt_in,
            retailer: RetailerId {
                id: retailer_id.into(),
            },
        }
    }
}

/// `input UpdateCustomerInput`: the customer is found by `username`; only
/// the fields that are `Some` are sent and changed. Attributes are merged by
/// name (new names added, existing names replaced).
///
/// ```
/// use connect_fluent::UpdateCustomerInput;
///
/// let mut input = UpdateCustomerInput::new("ct-42");
/// input.last_name = Some("Lovelace".into());
/// assert_eq!(
///     serde_json::to_value(&input).unwrap(),
///     serde_json::json!({ "username": "ct-42", "lastName": "Lovelace" })
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateCustomerInput {
    /// Identifies the customer (cannot be changed).
    pub username: String,
    /// Attributes to add or replace (by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<AttributeInput>>,
    /// Title (max 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Country (max 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// First name (max 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name (max 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Email (max 250).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_email: Option<String>,
    /// Phone (max 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_phone: Option<String>,
    /// Time zone (max 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Whether the customer accepts promotions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_opt_in: Option<bool>,
}

impl UpdateCustomerInput {
    /// An update of `username` that changes nothing yet.
    pub fn new(username: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            attributes: None,
            title: None,
            country: None,
            first_name: None,
            last_name: None,
            primary_email: None,
            primary_phone: None,
            timezone: None,
            promotion_opt_in: None,
        }
    }

    /// `true` when the update names no field besides `username`.
    pub fn is_empty(&self) -> bool {
        self == &Self::new(self.username.clone())
    }
}

#[derive(Deserialize)]
struct CustomerData {
    customer: Option<Customer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateData {
    create_customer: Option<Customer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateData {
    update_customer: Option<Customer>,
}

impl FluentClient {
    /// The customer whose `ref` (= username) is `reference`, or `None`.
    ///
    /// Fluent answers an unknown ref either with `customer: null` or with an
    /// error whose code says the entity was not found (`C0120E`); both are
    /// `Ok(None)`, so that the caller creates the customer rather than
    /// giving up.
    pub async fn customer_by_ref(&self, reference: &str) -> Result<Option<Customer>, Error> {
        let answer = self
            .typed::<CustomerData>(
                "CustomerByRef",
                CUSTOMER_BY_REF,
                &json!({ "ref": reference }),
            )
            .await;
        match answer {
            Ok(data) => Ok(data.customer),
            Err(error) if is_not_found(&error) => {
                tracing::debug!(reference, %error, "Fluent has no customer with this ref");
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Creates a customer (`createCustomer`).
    ///
    /// A username that exists already, a retailer other than the user's, or
    /// a value over its documented length are `C....E` errors
    /// (unprocessable).
    pub async fn create_customer(&self, input: &CreateCustomerInput) -> Result<Customer, Error> {
        let data: CreateData = self
            .typed(
                "CreateCustomer",
                CREATE_CUSTOMER,
                &json!({ "input": input }),
            )
            .await?;
        data.create_customer.ok_or_else(|| Error::MissingData {
            field: "createCustomer".to_owned(),
        })
    }

    /// Updates the customer named by `input.username` (`updateCustomer`).
    pub async fn update_customer(&self, input: &UpdateCustomerInput) -> Result<Customer, Error> {
        let data: UpdateData = self
            .typed(
                "UpdateCustomer",
                UPDATE_CUSTOMER,
                &json!({ "input": input }),
            )
            .await?;
        data.update_customer.ok_or_else(|| Error::MissingData {
            field: "updateCustomer".to_owned(),
        })
    }

    pub(crate) async fn typed<T: DeserializeOwned>(
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

/// `true` when every GraphQL error says "not found".
pub(crate) fn is_not_found(error: &Error) -> bool {
    let errors = error.graphql_errors();
    !errors.is_empty() && errors.iter().all(crate::GraphQlError::is_not_found)
}

/// GraphQL `ID` arrives as a string, but accept a number too.
pub(crate) fn id_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
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

pub(crate) fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn customer_reads_the_schema_shape() {
        let customer: Customer = serde_json::from_value(json!({
            "id": 5, "ref": "u1", "username": "u1", "status": "ACTIVE",
            "firstName": "Ada", "promotionOptIn": true,
            "retailer": { "id": "1", "ref": null },
            "attributes": [{ "name": "a", "type": "STRING", "value": "x" }, null],
            "createdOn": "2024-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(customer.id, "5");
        assert_eq!(customer.reference.as_deref(), Some("u1"));
        assert_eq!(customer.attribute("a").unwrap().value, "x");
        assert_eq!(customer.attributes.len(), 1);
        let nulls: Customer =
            serde_json::from_value(json!({ "id": "1", "attributes": null })).unwrap();
        assert!(nulls.attributes.is_empty());
    }

    #[test]
    fn update_input_sends_only_present_fields() {
        let mut input = UpdateCustomerInput::new("u1");
        assert!(input.is_empty());
        input.promotion_opt_in = Some(false);
        input.attributes = Some(vec![AttributeInput::json("j", json!({"k": 1}))]);
        assert!(!input.is_empty());
        assert_eq!(
            serde_json::to_value(&input).unwrap(),
            json!({
                "username": "u1",
                "promotionOptIn": false,
                "attributes": [{ "name": "j", "type": "JSON", "value": { "k": 1 } }]
            })
        );
    }

    #[test]
    fn documents_name_their_operations_and_fragment() {
        assert!(CUSTOMER_BY_REF.starts_with("query CustomerByRef"));
        assert!(CREATE_CUSTOMER.contains("fragment CustomerFields on Customer"));
        assert!(UPDATE_CUSTOMER.contains("updateCustomer(input: $input)"));
        assert!(CUSTOMER_FIELDS.contains("promotionOptIn"));
    }
}
