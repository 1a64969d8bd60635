//! Customer update actions: the body of `POST /{projectKey}/customers/{id}`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::ResourceIdentifier;
use super::customer::Address;

/// The body of an update request: the version the change is based on and
/// the actions to apply, all or nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerUpdate {
    /// The customer's current version (409 `ConcurrentModification` if stale).
    pub version: u64,
    /// The changes.
    pub actions: Vec<CustomerUpdateAction>,
}

/// One customer update action (`"action": "setFirstName"`, ...). Setting an
/// optional value to `None` removes it.
///
/// ```
/// use connect_commercetools::CustomerUpdateAction;
///
/// let action = CustomerUpdateAction::SetFirstName { first_name: Some("Ada".into()) };
/// assert_eq!(
///     serde_json::to_value(&action)?,
///     serde_json::json!({"action": "setFirstName", "firstName": "Ada"})
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
pub enum CustomerUpdateAction {
    /// Changes the email address (must stay unique).
    ChangeEmail {
        /// The new email address.
        email: String,
    },
    /// Sets or removes the first name.
    SetFirstName {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_name: Option<String>,
    },
    /// Sets or removes the last name.
    SetLastName {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_name: Option<String>,
    },
    /// Sets or removes the middle name.
    SetMiddleName {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        middle_name: Option<String>,
    },
    /// Sets or removes the title.
    SetTitle {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// Sets or removes the salutation.
    SetSalutation {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        salutation: Option<String>,
    },
    /// Sets or removes the key.
    SetKey {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// Sets the customer number (it cannot be changed once set).
    SetCustomerNumber {
        /// The value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer_number: Option<String>,
    },
    /// Sets or removes the external id.
    SetExternalId {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_id: Option<String>,
    },
    /// Sets or removes the company name.
    SetCompanyName {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        company_name: Option<String>,
    },
    /// Sets or removes the date of birth.
    SetDateOfBirth {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        date_of_birth: Option<NaiveDate>,
    },
    /// Sets or removes the VAT id.
    SetVatId {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vat_id: Option<String>,
    },
    /// Sets or removes the locale.
    SetLocale {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        locale: Option<String>,
    },
    /// Sets or removes one custom field (the customer must have a Type).
    SetCustomField {
        /// The field name.
        name: String,
        /// The value; `None` removes the field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
    },
    /// Sets the custom Type and its fields; `type_ref: None` removes both.
    SetCustomType {
        /// The Type by id or key.
        #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
        type_ref: Option<ResourceIdentifier>,
        /// Initial field values.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fields: Option<Map<String, Value>>,
    },
    /// Adds an address.
    AddAddress {
        /// The address (its id is assigned by commercetools).
        address: Address,
    },
    /// Replaces an address, identified by id or key.
    ChangeAddress {
        /// The address id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_id: Option<String>,
        /// The address key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_key: Option<String>,
        /// The new address.
        address: Address,
    },
    /// Removes an address, identified by id or key.
    RemoveAddress {
        /// The address id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_id: Option<String>,
        /// The address key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_key: Option<String>,
    },
    /// Sets (or with neither id nor key, removes) the default shipping address.
    SetDefaultShippingAddress {
        /// The address id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_id: Option<String>,
        /// The address key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_key: Option<String>,
    },
    /// Sets (or with neither id nor key, removes) the default billing address.
    SetDefaultBillingAddress {
        /// The address id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_id: Option<String>,
        /// The address key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_key: Option<String>,
    },
    /// Marks an existing address as a shipping address.
    AddShippingAddressId {
        /// The address id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_id: Option<String>,
        /// The address key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_key: Option<String>,
    },
    /// Marks an existing address as a billing address.
    AddBillingAddressId {
        /// The address id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_id: Option<String>,
        /// The address key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_key: Option<String>,
    },
    /// Stops using an address for shipping.
    RemoveShippingAddressId {
        /// The address id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_id: Option<String>,
        /// The address key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_key: Option<String>,
    },
    /// Stops using an address for billing.
    RemoveBillingAddressId {
        /// The address id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_id: Option<String>,
        /// The address key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_key: Option<String>,
    },
    /// Sets or removes the customer group.
    SetCustomerGroup {
        /// The group by id or key; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer_group: Option<ResourceIdentifier>,
    },
}

impl CustomerUpdateAction {
    /// Every action name this type knows, as sent in `"action"`.
    pub const NAMES: &'static [&'static str] = &[
        "changeEmail",
        "setFirstName",
        "setLastName",
        "setMiddleName",
        "setTitle",
        "setSalutation",
        "setKey",
        "setCustomerNumber",
        "setExternalId",
        "setCompanyName",
        "setDateOfBirth",
        "setVatId",
        "setLocale",
        "setCustomField",
        "setCustomType",
        "addAddress",
        "changeAddress",
        "removeAddress",
        "setDefaultShippingAddress",
        "setDefaultBillingAddress",
        "addShippingAddressId",
        "addBillingAddressId",
        "removeShippingAddressId",
        "removeBillingAddressId",
        "setCustomerGroup",
    ];

    /// The action name, as sent in `"action"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ChangeEmail { .. } => "changeEmail",
            Self::SetFirstName { .. } => "setFirstName",
            Self::SetLastName { .. } => "setLastName",
            Self::SetMiddleName { .. } => "setMiddleName",
            Self::SetTitle { .. } => "setTitle",
            Self::SetSalutation { .. } => "setSalutation",
            Self::SetKey { .. } => "setKey",
            Self::SetCustomerNumber { .. } => "setCustomerNumber",
            Self::SetExternalId { .. } => "setExternalId",
            Self::SetCompanyName { .. } => "setCompanyName",
            Self::SetDateOfBirth { .. } => "setDateOfBirth",
            Self::SetVatId { .. } => "setVatId",
            Self::SetLocale { .. } => "setLocale",
            Self::SetCustomField { .. } => "setCustomField",
            Self::SetCustomType { .. } => "setCustomType",
            Self::AddAddress { .. } => "addAddress",
            Self::ChangeAddress { .. } => "changeAddress",
            Self::RemoveAddress { .. } => "removeAddress",
            Self::SetDefaultShippingAddress { .. } => "setDefaultShippingAddress",
            Self::SetDefaultBillingAddress { .. } => "setDefaultBillingAddress",
            Self::AddShippingAddressId { .. } => "addShippingAddressId",
            Self::AddBillingAddressId { .. } => "addBillingAddressId",
            Self::RemoveShippingAddressId { .. } => "removeShippingAddressId",
            Self::RemoveBillingAddressId { .. } => "removeBillingAddressId",
            Self::SetCustomerGroup { .. } => "setCustomerGroup",
        }
    }
}
