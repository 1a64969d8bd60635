//! The Customer resource.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use connect_core::config::Secret;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::common::{CustomFields, KeyReference, Reference, secret_serde};

/// A commercetools Customer, as returned by `GET /{projectKey}/customers/{id}`.
///
/// Every documented field is typed; fields the API adds later are kept in
/// [`extra`](Customer::extra), so a customer read and written back loses
/// nothing.
///
/// ```
/// use connect_commercetools::Customer;
///
/// let json = r#"{"id": "c-1", "version": 2, "email": "ada@example.com",
///     "createdAt": "2024-01-30T08:00:00.000Z", "lastModifiedAt": "2024-01-30T08:00:00.000Z",
///     "loyaltyScore": 7}"#;
/// let customer: Customer = serde_json::from_str(json)?;
/// assert_eq!(customer.email, "ada@example.com");
/// assert_eq!(customer.extra["loyaltyScore"], 7);
/// assert!(serde_json::to_string(&customer)?.contains("loyaltyScore"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// Unique id, assigned by commercetools.
    pub id: String,
    /// Current version (optimistic concurrency).
    pub version: u64,
    /// User-defined unique identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// User-defined customer number, unique in the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_number: Option<String>,
    /// Identifier in an external system (CRM, ERP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Email address, unique in the project (or store).
    pub email: String,
    /// The password hash, when the API returns one. Never printed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "secret_serde::serialize",
        deserialize_with = "secret_serde::deserialize"
    )]
    pub password: Option<Secret>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Middle name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Title, e.g. `Dr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Salutation, e.g. `Ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salutation: Option<String>,
    /// Date of birth (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<NaiveDate>,
    /// Company name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// Individual VAT id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_id: Option<String>,
    /// Preferred language (IETF tag, e.g. `en-GB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Addresses.
    #[serde(default)]
    pub addresses: Vec<Address>,
    /// Id of the default shipping address in `addresses`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_shipping_address_id: Option<String>,
    /// Id of the default billing address in `addresses`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_billing_address_id: Option<String>,
    /// Ids of the addresses used for shipping.
    #[serde(default)]
    pub shipping_address_ids: Vec<String>,
    /// Ids of the addresses used for billing.
    #[serde(default)]
    pub billing_address_ids: Vec<String>,
    /// Whether the email address was verified.
    #[serde(default)]
    pub is_email_verified: bool,
    /// The customer group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_group: Option<Reference>,
    /// Customer groups the customer is assigned to.
    #[serde(default)]
    pub customer_group_assignments: Vec<CustomerGroupAssignment>,
    /// Custom fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomFields>,
    /// Stores the customer belongs to (empty: global customer).
    #[serde(default)]
    pub stores: Vec<KeyReference>,
    /// Whether a password is required.
    #[serde(default)]
    pub authentication_mode: AuthenticationMode,
    /// When the customer was created.
    #[serde(with = "super::datetime")]
    pub created_at: DateTime<Utc>,
    /// When the customer was last modified.
    #[serde(with = "super::datetime")]
    pub last_modified_at: DateTime<Utc>,
    /// Fields this SDK does not know yet, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Customer {
    /// The address with `id`.
    pub fn address(&self, id: &str) -> Option<&Address> {
        self.addresses.iter().find(|a| a.id.as_deref() == Some(id))
    }

    /// The default shipping address, if set.
    pub fn default_shipping_address(&self) -> Option<&Address> {
        self.default_shipping_address_id
            .as_deref()
            .and_then(|id| self.address(id))
    }

    /// The default billing address, if set.
    pub fn default_billing_address(&self) -> Option<&Address> {
        self.default_billing_address_id
            .as_deref()
            .and_then(|id| self.address(id))
    }

    /// The value of custom field `name`, if the customer has one.
    pub fn custom_field(&self, name: &str) -> Option<&Value> {
        self.custom.as_ref().and_then(|c| c.fields.get(name))
    }
}

/// A postal address of a customer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// Unique id within the customer (assigned by commercetools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// User-defined identifier, unique within the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Title of the contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Salutation of the contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salutation: Option<String>,
    /// Given name of the contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name of the contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Street name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_name: Option<String>,
    /// Street number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_number: Option<String>,
    /// Further street information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_street_info: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// State.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Two-letter country code (ISO 3166-1 alpha-2), the only required field.
    #[serde(default)]
    pub country: String,
    /// Company name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Building.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub building: Option<String>,
    /// Apartment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apartment: Option<String>,
    /// Post office box.
    #[serde(default, rename = "pOBox", skip_serializing_if = "Option::is_none")]
    pub po_box: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Mobile phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    /// Email address of the contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Fax number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax: Option<String>,
    /// Further address information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_address_info: Option<String>,
    /// Identifier in an external system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Custom fields of the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomFields>,
    /// Fields this SDK does not know yet, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Address {
    /// An address in `country` (two-letter code).
    pub fn new(country: impl Into<String>) -> Self {
        Self {
            country: country.into(),
            ..Self::default()
        }
    }
}

/// One customer group assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerGroupAssignment {
    /// The customer group.
    pub customer_group: Reference,
}

/// Whether a customer needs a password.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AuthenticationMode {
    /// `Password`: the customer logs in with a password (the default).
    #[default]
    Password,
    /// `ExternalAuth`: authentication happens outside commercetools.
    ExternalAuth,
    /// A mode this SDK does not know yet.
    Other(String),
}

impl AuthenticationMode {
    /// The mode as the API writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Password => "Password",
            Self::ExternalAuth => "ExternalAuth",
            Self::Other(other) => other,
        }
    }
}

impl fmt::Display for AuthenticationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AuthenticationMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuthenticationMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(match text.as_str() {
            "Password" => Self::Password,
            "ExternalAuth" => Self::ExternalAuth,
            _ => Self::Other(text),
        })
    }
}
