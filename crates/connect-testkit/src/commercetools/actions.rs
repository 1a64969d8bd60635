//! Customer update actions, applied as commercetools applies them, with the
//! Message each one produces (if it has a Message type).

use connect_commercetools::{
    Address, CustomFields, Customer, CustomerUpdateAction, Reference, ResourceIdentifier,
};
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::store::Indexes;

/// A Message type and its type-specific fields.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct MessageBody {
    pub(super) type_name: &'static str,
    pub(super) fields: Map<String, Value>,
}

fn body(type_name: &'static str, fields: Value) -> Option<MessageBody> {
    let fields = match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Some(MessageBody { type_name, fields })
}

/// A fresh address id, like the API's short random ids.
pub(super) fn address_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// A reference to `type_id` from an identifier (the emulator has no other
/// resources, so a key stands in for the id).
pub(super) fn reference(
    type_id: &str,
    identifier: &ResourceIdentifier,
) -> Result<Reference, ApiError> {
    identifier
        .id
        .clone()
        .or_else(|| identifier.key.clone())
        .map(|id| Reference::new(type_id, id))
        .ok_or_else(|| {
            ApiError::invalid_input(format!("A {type_id} reference needs an `id` or a `key`."))
        })
}

fn find_address(
    customer: &Customer,
    id: Option<&str>,
    key: Option<&str>,
) -> Result<usize, ApiError> {
    let found = customer.addresses.iter().position(|a| match (id, key) {
        (Some(id), _) => a.id.as_deref() == Some(id),
        (None, Some(key)) => a.key.as_deref() == Some(key),
        (None, None) => false,
    });
    found.ok_or_else(|| match (id, key) {
        (None, None) => ApiError::invalid_input("Either `addressId` or `addressKey` is required."),
        (Some(id), _) => ApiError::invalid_input(format!(
            "The customer does not have an address with ID '{id}'."
        )),
        (None, Some(key)) => ApiError::invalid_input(format!(
            "The customer does not have an address with key '{key}'."
        )),
    })
}

fn check_address_key(
    customer: &Customer,
    address: &Address,
    except: Option<usize>,
) -> Result<(), ApiError> {
    if let Some(key) = &address.key {
        let taken = customer
            .addresses
            .iter()
            .enumerate()
            .any(|(i, a)| Some(i) != except && a.key.as_ref() == Some(key));
        if taken {
            return Err(ApiError::duplicate("addresses.key", key));
        }
    }
    Ok(())
}

fn address_json(address: &Address) -> Value {
    serde_json::to_value(address).unwrap_or(Value::Null)
}

fn push_unique(ids: &mut Vec<String>, id: &str) {
    if !ids.iter().any(|i| i == id) {
        ids.push(id.to_owned());
    }
}

/// Applies one action to `customer` (a working copy). `indexes` answer
/// uniqueness questions about the other customers of the project.
pub(super) fn apply(
    customer: &mut Customer,
    action: CustomerUpdateAction,
    indexes: &Indexes,
) -> Result<Option<MessageBody>, ApiError> {
    use CustomerUpdateAction as A;
    let id = customer.id.clone();
    Ok(match action {
        A::ChangeEmail { email } => {
            if email.trim().is_empty() {
                return Err(ApiError::invalid_input("The email must not be empty."));
            }
            if indexes.email_taken(&email, &id) {
                return Err(ApiError::duplicate("email", &email));
            }
            if !customer.email.eq_ignore_ascii_case(&email) {
                customer.is_email_verified = false;
            }
            customer.email = email.clone();
            body("CustomerEmailChanged", json!({ "email": email }))
        }
        A::SetFirstName { first_name } => {
            customer.first_name = first_name.clone();
            body("CustomerFirstNameSet", json!({ "firstName": first_name }))
        }
        A::SetLastName { last_name } => {
            customer.last_name = last_name.clone();
            body("CustomerLastNameSet", json!({ "lastName": last_name }))
        }
        A::SetTitle { title } => {
            customer.title = title.clone();
            body("CustomerTitleSet", json!({ "title": title }))
        }
        A::SetDateOfBirth { date_of_birth } => {
            customer.date_of_birth = date_of_birth;
            body(
                "CustomerDateOfBirthSet",
                json!({ "dateOfBirth": date_of_birth }),
            )
        }
        A::SetCompanyName { company_name } => {
            customer.company_name = company_name.clone();
            body(
                "CustomerCompanyNameSet",
                json!({ "companyName": company_name }),
            )
        }
        A::SetMiddleName { middle_name } => {
            customer.middle_name = middle_name;
            None
        }
        A::SetSalutation { salutation } => {
            customer.salutation = salutation;
            None
        }
        A::SetVatId { vat_id } => {
            customer.vat_id = vat_id;
            None
        }
        A::SetLocale { locale } => {
            customer.locale = locale;
            None
        }
        A::SetExternalId { external_id } => {
            customer.external_id = external_id.clone();
            body(
                "CustomerExternalIdSet",
                json!({ "externalId": external_id }),
            )
        }
        A::SetKey { key } => {
            if let Some(key) = &key
                && indexes.key_taken(key, &id)
            {
                return Err(ApiError::duplicate("key", key));
            }
            customer.key = key;
            None
        }
        A::SetCustomerNumber { customer_number } => {
            if customer.customer_number.is_some() {
                return Err(ApiError::invalid_operation(
                    "The customerNumber can only be set once and cannot be changed.",
                ));
            }
            if let Some(number) = &customer_number
                && indexes.number_taken(number, &id)
            {
                return Err(ApiError::duplicate("customerNumber", number));
            }
            customer.customer_number = customer_number;
            None
        }
        A::SetCustomField { name, value } => {
            let Some(custom) = customer.custom.as_mut() else {
                return Err(ApiError::invalid_operation(
                    "This resource has no custom type set - please use setCustomType first to set the type and then set the custom fields.",
                ));
            };
            match value {
                Some(value) => match custom.fields.insert(name.clone(), value.clone()) {
                    None => body(
                        "CustomerCustomFieldAdded",
                        json!({ "name": name, "value": value }),
                    ),
                    Some(previous) => body(
                        "CustomerCustomFieldChanged",
                        json!({ "name": name, "value": value, "previousValue": previous }),
                    ),
                },
                None => match custom.fields.remove(&name) {
                    Some(_) => body("CustomerCustomFieldRemoved", json!({ "name": name })),
                    None => {
                        return Err(ApiError::invalid_operation(format!(
                            "Cannot remove custom field '{name}' because it does not exist."
                        )));
                    }
                },
            }
        }
        A::SetCustomType { type_ref, fields } => {
            let previous = customer.custom.as_ref().map(|c| c.type_ref.id.clone());
            match type_ref {
                Some(identifier) => {
                    let custom = CustomFields {
                        type_ref: reference("type", &identifier)?,
                        fields: fields.unwrap_or_default(),
                    };
                    let custom_json = serde_json::to_value(&custom).unwrap_or(Value::Null);
                    customer.custom = Some(custom);
                    let mut fields = json!({ "customFields": custom_json });
                    if let (Some(previous), Value::Object(map)) = (previous, &mut fields) {
                        map.insert("previousTypeId".to_owned(), json!(previous));
                    }
                    body("CustomerCustomTypeSet", fields)
                }
                None => {
                    customer.custom = None;
                    body(
                        "CustomerCustomTypeRemoved",
                        json!({ "previousTypeId": previous }),
                    )
                }
            }
        }
        A::AddAddress { mut address } => {
            check_address_key(customer, &address, None)?;
            address.id = Some(address_id());
            let json = address_json(&address);
            customer.addresses.push(address);
            body("CustomerAddressAdded", json!({ "address": json }))
        }
        A::ChangeAddress {
            address_id,
            address_key,
            mut address,
        } => {
            let index = find_address(customer, address_id.as_deref(), address_key.as_deref())?;
            check_address_key(customer, &address, Some(index))?;
            address.id = customer.addresses[index].id.clone();
            let json = address_json(&address);
            customer.addresses[index] = address;
            body("CustomerAddressChanged", json!({ "address": json }))
        }
        A::RemoveAddress {
            address_id,
            address_key,
        } => {
            let index = find_address(customer, address_id.as_deref(), address_key.as_deref())?;
            let removed = customer.addresses.remove(index);
            if let Some(removed_id) = &removed.id {
                customer.shipping_address_ids.retain(|i| i != removed_id);
                customer.billing_address_ids.retain(|i| i != removed_id);
                if customer.default_shipping_address_id.as_ref() == Some(removed_id) {
                    customer.default_shipping_address_id = None;
                }
                if customer.default_billing_address_id.as_ref() == Some(removed_id) {
                    customer.default_billing_address_id = None;
                }
            }
            body(
                "CustomerAddressRemoved",
                json!({ "address": address_json(&removed) }),
            )
        }
        A::SetDefaultShippingAddress {
            address_id,
            address_key,
        } => {
            if address_id.is_none() && address_key.is_none() {
                customer.default_shipping_address_id = None;
                body("CustomerDefaultShippingAddressSet", json!({}))
            } else {
                let index = find_address(customer, address_id.as_deref(), address_key.as_deref())?;
                let found = customer.addresses[index].id.clone().unwrap_or_default();
                push_unique(&mut customer.shipping_address_ids, &found);
                customer.default_shipping_address_id = Some(found);
                body(
                    "CustomerDefaultShippingAddressSet",
                    json!({ "address": address_json(&customer.addresses[index]) }),
                )
            }
        }
        A::SetDefaultBillingAddress {
            address_id,
            address_key,
        } => {
            if address_id.is_none() && address_key.is_none() {
                customer.default_billing_address_id = None;
                body("CustomerDefaultBillingAddressSet", json!({}))
            } else {
                let index = find_address(customer, address_id.as_deref(), address_key.as_deref())?;
                let found = customer.addresses[index].id.clone().unwrap_or_default();
                push_unique(&mut customer.billing_address_ids, &found);
                customer.default_billing_address_id = Some(found);
                body(
                    "CustomerDefaultBillingAddressSet",
                    json!({ "address": address_json(&customer.addresses[index]) }),
                )
            }
        }
        A::AddShippingAddressId {
            address_id,
            address_key,
        } => {
            let index = find_address(customer, address_id.as_deref(), address_key.as_deref())?;
            let found = customer.addresses[index].id.clone().unwrap_or_default();
            push_unique(&mut customer.shipping_address_ids, &found);
            body(
                "CustomerShippingAddressAdded",
                json!({ "address": address_json(&customer.addresses[index]) }),
            )
        }
        A::AddBillingAddressId {
            address_id,
            address_key,
        } => {
            let index = find_address(customer, address_id.as_deref(), address_key.as_deref())?;
            let found = customer.addresses[index].id.clone().unwrap_or_default();
            push_unique(&mut customer.billing_address_ids, &found);
            body(
                "CustomerBillingAddressAdded",
                json!({ "address": address_json(&customer.addresses[index]) }),
            )
        }
        A::RemoveShippingAddressId {
            address_id,
            address_key,
        } => {
            let index = find_address(customer, address_id.as_deref(), address_key.as_deref())?;
            let found = customer.addresses[index].id.clone().unwrap_or_default();
            customer.shipping_address_ids.retain(|i| *i != found);
            if customer.default_shipping_address_id.as_ref() == Some(&found) {
                customer.default_shipping_address_id = None;
            }
            body(
                "CustomerShippingAddressRemoved",
                json!({ "address": address_json(&customer.addresses[index]) }),
            )
        }
        A::RemoveBillingAddressId {
            address_id,
            address_key,
        } => {
            let index = find_address(customer, address_id.as_deref(), address_key.as_deref())?;
            let found = customer.addresses[index].id.clone().unwrap_or_default();
            customer.billing_address_ids.retain(|i| *i != found);
            if customer.default_billing_address_id.as_ref() == Some(&found) {
                customer.default_billing_address_id = None;
            }
            body(
                "CustomerBillingAddressRemoved",
                json!({ "address": address_json(&customer.addresses[index]) }),
            )
        }
        A::SetCustomerGroup { customer_group } => {
            customer.customer_group = customer_group
                .as_ref()
                .map(|g| reference("customer-group", g))
                .transpose()?;
            let group = serde_json::to_value(&customer.customer_group).unwrap_or(Value::Null);
            body("CustomerGroupSet", json!({ "customerGroup": group }))
        }
        other => {
            return Err(ApiError::invalid_input(format!(
                "The update action '{}' is not supported by the emulator.",
                other.name()
            )));
        }
    })
}
