//! The emulator's customers and Fluent's rules for them.
//!
//! Customers are kept as JSON objects in the exact shape of the schema's
//! `Customer` type, so the schema's resolvers can serve them field by field.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

/// Documented maximum lengths (characters) of customer fields.
pub(crate) const MAX_LENGTHS: &[(&str, usize)] = &[
    ("username", 250),
    ("primaryEmail", 250),
    ("firstName", 50),
    ("lastName", 50),
    ("title", 50),
    ("country", 100),
    ("primaryPhone", 20),
    ("timezone", 32),
];

/// Fields an update may change besides attributes.
const UPDATABLE: &[&str] = &[
    "title",
    "country",
    "firstName",
    "lastName",
    "primaryEmail",
    "primaryPhone",
    "timezone",
    "promotionOptIn",
];

/// Fields copied from a create input besides username, retailer, attributes.
const CREATABLE: &[&str] = &[
    "title",
    "department",
    "country",
    "firstName",
    "lastName",
    "primaryEmail",
    "primaryPhone",
    "timezone",
    "promotionOptIn",
];

/// A rule violation, rendered as `CODE: message` with `extensions.code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// `C0400E`: a value is invalid (too long, empty).
pub(crate) const VALIDATION_FAILED: &str = "C0400E";
/// `C0403E`: the retailer is not the user's retailer.
pub(crate) const RETAILER_MISMATCH: &str = "C0403E";
/// `C0404E`: no customer with that username (no such category, catalogue
/// or parent).
pub(crate) const NOT_FOUND: &str = "C0404E";
/// `C0409E`: a customer with that username (a category with that ref in
/// its catalogue) exists already.
pub(crate) const DUPLICATE: &str = "C0409E";

impl Rejection {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// `C0400E: Validation failed: ...`.
    pub(crate) fn full_message(&self) -> String {
        format!("{}: {}", self.code, self.message)
    }
}

/// Every customer, by username, and what was done to each.
#[derive(Debug, Default)]
pub(crate) struct Store {
    customers: BTreeMap<String, Value>,
    next_id: u64,
    creates: HashMap<String, usize>,
    updates: HashMap<String, usize>,
}

impl Store {
    pub(crate) fn get(&self, username: &str) -> Option<&Value> {
        self.customers.get(username)
    }

    /// Every customer, in creation (id) order.
    pub(crate) fn all(&self) -> Vec<Value> {
        let mut all: Vec<Value> = self.customers.values().cloned().collect();
        all.sort_by_key(id_of);
        all
    }

    pub(crate) fn create_count(&self, username: &str) -> usize {
        self.creates.get(username).copied().unwrap_or(0)
    }

    pub(crate) fn update_count(&self, username: &str) -> usize {
        self.updates.get(username).copied().unwrap_or(0)
    }

    /// `createCustomer`: `input` is a valid `CreateCustomerInput` (the schema
    /// checked types and required fields already).
    pub(crate) fn create(
        &mut self,
        input: &Map<String, Value>,
        retailer_id: &str,
        now: &str,
    ) -> Result<Value, Rejection> {
        check_lengths(input, MAX_LENGTHS)?;
        let username = input
            .get("username")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if username.trim().is_empty() {
            return Err(Rejection::new(
                VALIDATION_FAILED,
                "Validation failed: username must not be empty",
            ));
        }
        let requested_retailer = input
            .get("retailer")
            .and_then(|r| r.get("id"))
            .map(id_text)
            .unwrap_or_default();
        if requested_retailer != retailer_id {
            return Err(Rejection::new(
                RETAILER_MISMATCH,
                format!(
                    "Retailer {requested_retailer} is not the retailer of the authenticated user ({retailer_id})"
                ),
            ));
        }
        if self.customers.contains_key(&username) {
            return Err(Rejection::new(
                DUPLICATE,
                format!("Customer with username '{username}' already exists"),
            ));
        }
        self.next_id += 1;
        let mut customer = Map::new();
        customer.insert("id".into(), json!(self.next_id.to_string()));
        customer.insert("ref".into(), json!(username));
        customer.insert("username".into(), json!(username));
        customer.insert("status".into(), json!("ACTIVE"));
        for field in CREATABLE {
            if let Some(value) = input.get(*field).filter(|v| !v.is_null()) {
                customer.insert((*field).into(), value.clone());
            }
        }
        customer.insert(
            "retailer".into(),
            json!({ "id": retailer_id, "ref": Value::Null }),
        );
        let attributes = input
            .get("attributes")
            .and_then(Value::as_array)
            .map(|list| merge_attributes(&[], list))
            .unwrap_or_default();
        customer.insert("attributes".into(), Value::Array(attributes));
        customer.insert("createdOn".into(), json!(now));
        customer.insert("updatedOn".into(), json!(now));
        let customer = Value::Object(customer);
        self.customers.insert(username.clone(), customer.clone());
        *self.creates.entry(username).or_default() += 1;
        Ok(customer)
    }

    /// `updateCustomer`: changes only the fields present (and not null) in
    /// `input`; attributes are merged by name.
    pub(crate) fn update(
        &mut self,
        input: &Map<String, Value>,
        now: &str,
    ) -> Result<Value, Rejection> {
        check_lengths(input, MAX_LENGTHS)?;
        let username = input
            .get("username")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(Value::Object(customer)) = self.customers.get_mut(username) else {
            return Err(Rejection::new(
                NOT_FOUND,
                format!("Customer with username '{username}' not found"),
            ));
        };
        apply_update(customer, input, UPDATABLE, now);
        let updated = Value::Object(customer.clone());
        *self.updates.entry(username.to_owned()).or_default() += 1;
        Ok(updated)
    }
}

/// An update of a stored `record`: the `fields` present (and not null) in
/// `input` replace the stored ones, `attributes` merge by name, and
/// `updatedOn` becomes `now`.
pub(crate) fn apply_update(
    record: &mut Map<String, Value>,
    input: &Map<String, Value>,
    fields: &[&str],
    now: &str,
) {
    for field in fields {
        if let Some(value) = input.get(*field).filter(|v| !v.is_null()) {
            record.insert((*field).into(), value.clone());
        }
    }
    if let Some(list) = input.get("attributes").and_then(Value::as_array) {
        let existing = record
            .get("attributes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        record.insert(
            "attributes".into(),
            Value::Array(merge_attributes(&existing, list)),
        );
    }
    record.insert("updatedOn".into(), json!(now));
}

/// New names appended in input order, existing names replaced in place.
pub(crate) fn merge_attributes(existing: &[Value], input: &[Value]) -> Vec<Value> {
    let mut merged: Vec<Value> = existing.to_vec();
    for attribute in input.iter().filter(|a| a.is_object()) {
        let name = attribute.get("name");
        match merged.iter_mut().find(|a| a.get("name") == name) {
            Some(slot) => *slot = attribute.clone(),
            None => merged.push(attribute.clone()),
        }
    }
    merged
}

/// `C0400E` when a field of `input` is longer than its limit in `limits`.
pub(crate) fn check_lengths(
    input: &Map<String, Value>,
    limits: &[(&str, usize)],
) -> Result<(), Rejection> {
    for (field, max) in limits {
        if let Some(text) = input.get(*field).and_then(Value::as_str) {
            let length = text.chars().count();
            if length > *max {
                return Err(Rejection::new(
                    VALIDATION_FAILED,
                    format!("Validation failed: {field} exceeds max length {max}"),
                ));
            }
        }
    }
    Ok(())
}

fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn id_of(customer: &Value) -> u64 {
    customer
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| id.parse().ok())
        .unwrap_or(u64::MAX)
}

/// The numeric id of a stored customer (for cursors).
pub(crate) fn numeric_id(customer: &Value) -> u64 {
    id_of(customer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn create_input(username: &str) -> Map<String, Value> {
        object(json!({
            "username": username,
            "primaryEmail": format!("{username}@example.com"),
            "promotionOptIn": false,
            "retailer": { "id": "1" },
            "attributes": [{ "name": "a", "type": "STRING", "value": "1" }]
        }))
    }

    #[test]
    fn create_sets_ref_status_and_times() {
        let mut store = Store::default();
        let customer = store.create(&create_input("u1"), "1", "t0").unwrap();
        assert_eq!(customer["ref"], "u1");
        assert_eq!(customer["status"], "ACTIVE");
        assert_eq!(customer["createdOn"], "t0");
        assert_eq!(customer["retailer"]["id"], "1");
        assert_eq!(store.create_count("u1"), 1);
        let duplicate = store.create(&create_input("u1"), "1", "t1").unwrap_err();
        assert_eq!(duplicate.code, DUPLICATE);
        assert_eq!(store.create_count("u1"), 1);
    }

    #[test]
    fn rules_reject_with_codes() {
        let mut store = Store::default();
        let mut long = create_input("u1");
        long.insert("firstName".into(), json!("x".repeat(51)));
        let error = store.create(&long, "1", "t").unwrap_err();
        assert_eq!(
            error.full_message(),
            "C0400E: Validation failed: firstName exceeds max length 50"
        );
        let mut fits = create_input("u1");
        fits.insert("firstName".into(), json!("é".repeat(50)));
        assert!(store.create(&fits, "1", "t").is_ok());
        let error = store.create(&create_input("u2"), "2", "t").unwrap_err();
        assert_eq!(error.code, RETAILER_MISMATCH);
        let error = store
            .update(&object(json!({ "username": "nobody" })), "t")
            .unwrap_err();
        assert_eq!(error.code, NOT_FOUND);
    }

    #[test]
    fn update_changes_only_present_fields_and_merges_attributes() {
        let mut store = Store::default();
        let mut input = create_input("u1");
        input.insert("firstName".into(), json!("Ada"));
        input.insert("department".into(), json!("R&D"));
        store.create(&input, "1", "t0").unwrap();
        let updated = store
            .update(
                &object(json!({
                    "username": "u1",
                    "lastName": "Lovelace",
                    "firstName": null,
                    "attributes": [
                        { "name": "b", "type": "STRING", "value": "2" },
                        { "name": "a", "type": "STRING", "value": "changed" }
                    ]
                })),
                "t1",
            )
            .unwrap();
        assert_eq!(updated["firstName"], "Ada");
        assert_eq!(updated["lastName"], "Lovelace");
        assert_eq!(updated["department"], "R&D");
        assert_eq!(updated["createdOn"], "t0");
        assert_eq!(updated["updatedOn"], "t1");
        assert_eq!(
            updated["attributes"],
            json!([
                { "name": "a", "type": "STRING", "value": "changed" },
                { "name": "b", "type": "STRING", "value": "2" }
            ])
        );
        assert_eq!(store.update_count("u1"), 1);
    }
}
