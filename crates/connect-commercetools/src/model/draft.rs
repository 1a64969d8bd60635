//! `CustomerDraft`: the body of `POST /{projectKey}/customers`.

use chrono::NaiveDate;
use connect_core::config::Secret;
use serde::{Deserialize, Serialize};

use super::common::{CustomFieldsDraft, ResourceIdentifier, secret_serde};
use super::customer::{Address, AuthenticationMode};

/// A customer to create.
///
/// ```
/// use connect_commercetools::{Address, CustomerDraft};
///
/// let draft = CustomerDraft {
///     first_name: Some("Ada".into()),
///     addresses: vec![Address::new("GB")],
///     default_shipping_address: Some(0),
///     ..CustomerDraft::new("ada@example.com")
/// }
/// .with_password("correct horse");
/// assert!(!format!("{draft:?}").contains("correct horse"));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerDraft {
    /// Email address, unique in the project (required).
    pub email: String,
    /// Password; required unless `authentication_mode` is `ExternalAuth`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "secret_serde::serialize",
        deserialize_with = "secret_serde::deserialize"
    )]
    pub password: Option<Secret>,
    /// User-defined unique identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Customer number, unique in the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_number: Option<String>,
    /// Identifier in an external system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Middle name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Salutation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salutation: Option<String>,
    /// Date of birth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<NaiveDate>,
    /// Company name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// VAT id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_id: Option<String>,
    /// Preferred language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    /// Index in `addresses` of the default shipping address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_shipping_address: Option<usize>,
    /// Index in `addresses` of the default billing address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_billing_address: Option<usize>,
    /// Indices in `addresses` of shipping addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shipping_addresses: Vec<usize>,
    /// Indices in `addresses` of billing addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub billing_addresses: Vec<usize>,
    /// Whether the email is already verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_email_verified: Option<bool>,
    /// The customer group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_group: Option<ResourceIdentifier>,
    /// Custom fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomFieldsDraft>,
    /// Stores the customer belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<ResourceIdentifier>,
    /// `Password` (default) or `ExternalAuth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_mode: Option<AuthenticationMode>,
}

impl CustomerDraft {
    /// A draft with only an email address.
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            ..Self::default()
        }
    }

    /// Sets the password.
    #[must_use]
    pub fn with_password(mut self, password: impl Into<Secret>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Marks the customer as authenticated elsewhere (no password needed).
    #[must_use]
    pub fn with_external_auth(mut self) -> Self {
        self.authentication_mode = Some(AuthenticationMode::ExternalAuth);
        self
    }

    /// Sets the key.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets first and last name.
    #[must_use]
    pub fn with_name(
        mut self,
        first_name: impl Into<String>,
        last_name: impl Into<String>,
    ) -> Self {
        self.first_name = Some(first_name.into());
        self.last_name = Some(last_name.into());
        self
    }

    /// Adds an address; the first one added also becomes the default
    /// shipping and billing address.
    #[must_use]
    pub fn with_address(mut self, address: Address) -> Self {
        if self.addresses.is_empty() {
            self.default_shipping_address = Some(0);
            self.default_billing_address = Some(0);
        }
        self.addresses.push(address);
        self
    }
}
