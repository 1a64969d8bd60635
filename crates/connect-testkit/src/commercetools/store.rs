//! The emulator's resources: customers with the uniqueness rules of the
//! real API, the other types as JSON (see `resources`), and the version
//! bookkeeping they share.

use std::collections::HashMap;

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use connect_commercetools::{
    AuthenticationMode, CustomFields, Customer, CustomerDraft, CustomerUpdateAction, KeyReference,
    PagedQueryResponse,
};
use serde_json::{Map, Value};

use super::actions::{self, address_id, reference};
use super::collection::{Collection, QuerySpec};
use super::errors::ApiError;
use super::notify::{ChangeKind, Changed, Event, PendingMessage};
use super::resources::JsonResources;

/// How a request names a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target<'a> {
    Id(&'a str),
    Key(&'a str),
    /// `order-number={orderNumber}` (orders only).
    OrderNumber(&'a str),
}

impl<'a> Target<'a> {
    /// `key=abc` → key, `order-number=abc` → order number, anything else → id.
    pub(super) fn parse(segment: &'a str) -> Self {
        if let Some(key) = segment.strip_prefix("key=") {
            Self::Key(key)
        } else if let Some(number) = segment.strip_prefix("order-number=") {
            Self::OrderNumber(number)
        } else {
            Self::Id(segment)
        }
    }
}

impl Target<'_> {
    /// 404 for the resource this names.
    pub(super) fn not_found(self) -> ApiError {
        match self {
            Self::Id(id) => ApiError::not_found("ID", id),
            Self::Key(key) => ApiError::not_found("key", key),
            Self::OrderNumber(number) => ApiError::not_found("orderNumber", number),
        }
    }
}

/// How notifications name a customer.
fn customer_changed(customer: &Customer) -> Changed {
    let mut identifiers = Map::new();
    let fields = [
        ("key", &customer.key),
        ("externalId", &customer.external_id),
        ("customerNumber", &customer.customer_number),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            identifiers.insert(name.to_owned(), Value::String(value.clone()));
        }
    }
    Changed {
        type_id: "customer".to_owned(),
        endpoint: "customers".to_owned(),
        id: customer.id.clone(),
        version: customer.version,
        identifiers,
    }
}

/// Unique values of the project: email (case-insensitive), key, customer number.
#[derive(Debug, Default)]
pub(super) struct Indexes {
    email: HashMap<String, String>,
    key: HashMap<String, String>,
    number: HashMap<String, String>,
}

impl Indexes {
    pub(super) fn email_taken(&self, email: &str, except: &str) -> bool {
        self.email
            .get(&email.to_lowercase())
            .is_some_and(|id| id != except)
    }

    pub(super) fn key_taken(&self, key: &str, except: &str) -> bool {
        self.key.get(key).is_some_and(|id| id != except)
    }

    pub(super) fn number_taken(&self, number: &str, except: &str) -> bool {
        self.number.get(number).is_some_and(|id| id != except)
    }

    fn add(&mut self, customer: &Customer) {
        self.email
            .insert(customer.email.to_lowercase(), customer.id.clone());
        if let Some(key) = &customer.key {
            self.key.insert(key.clone(), customer.id.clone());
        }
        if let Some(number) = &customer.customer_number {
            self.number.insert(number.clone(), customer.id.clone());
        }
    }

    fn remove(&mut self, customer: &Customer) {
        self.email.remove(&customer.email.to_lowercase());
        if let Some(key) = &customer.key {
            self.key.remove(key);
        }
        if let Some(number) = &customer.customer_number {
            self.number.remove(number);
        }
    }
}

/// Every resource of the project.
#[derive(Debug, Default)]
pub(super) struct Store {
    customers: Collection<Customer>,
    indexes: Indexes,
    /// The other types, by type id.
    pub(super) resources: HashMap<String, JsonResources>,
    sequences: HashMap<String, u64>,
    clock: Option<DateTime<Utc>>,
}

impl Store {
    /// Now, at millisecond precision, strictly after every earlier write so
    /// `lastModifiedAt` orders writes.
    pub(super) fn now(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let now = now
            .duration_trunc(ChronoDuration::milliseconds(1))
            .unwrap_or(now);
        let now = match self.clock {
            Some(last) if now <= last => last + ChronoDuration::milliseconds(1),
            _ => now,
        };
        self.clock = Some(now);
        now
    }

    /// A Message about resource `resource_id`, with its next sequence number.
    pub(super) fn message(
        &mut self,
        resource_id: &str,
        body: actions::MessageBody,
    ) -> PendingMessage {
        let sequence = self.sequences.entry(resource_id.to_owned()).or_insert(0);
        *sequence += 1;
        PendingMessage {
            id: uuid::Uuid::new_v4().to_string(),
            sequence_number: *sequence,
            type_name: body.type_name,
            fields: body.fields,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.customers.len()
    }

    pub(super) fn all(&self) -> Vec<Customer> {
        self.customers.values().cloned().collect()
    }

    pub(super) fn by_id(&self, id: &str) -> Option<&Customer> {
        self.customers.get(id)
    }

    /// Replaces a customer changed without update actions (generic
    /// seeding), keeping the indexes right; refuses taken unique values.
    pub(super) fn replace_customer(
        &mut self,
        current: &Customer,
        updated: Customer,
    ) -> Result<(Customer, Event), ApiError> {
        if self.indexes.email_taken(&updated.email, &updated.id) {
            return Err(ApiError::duplicate("email", &updated.email));
        }
        if let Some(key) = &updated.key
            && self.indexes.key_taken(key, &updated.id)
        {
            return Err(ApiError::duplicate("key", key));
        }
        if let Some(number) = &updated.customer_number
            && self.indexes.number_taken(number, &updated.id)
        {
            return Err(ApiError::duplicate("customerNumber", number));
        }
        let mut updated = updated;
        let now = self.now();
        updated.id.clone_from(&current.id);
        updated.version = current.version + 1;
        updated.last_modified_at = now;
        self.indexes.remove(current);
        self.indexes.add(&updated);
        self.customers.insert(updated.clone());
        let event = Event {
            kind: ChangeKind::Updated {
                old_version: current.version,
            },
            resource: customer_changed(&updated),
            at: now,
            messages: Vec::new(),
        };
        Ok((updated, event))
    }

    /// The customer a request names, or 404.
    pub(super) fn get(&self, target: Target<'_>) -> Result<&Customer, ApiError> {
        let found = match target {
            Target::Id(id) => self.customers.get(id),
            Target::Key(key) => self
                .indexes
                .key
                .get(key)
                .and_then(|id| self.customers.get(id)),
            Target::OrderNumber(_) => None,
        };
        found.ok_or_else(|| target.not_found())
    }

    /// Creates a customer. With `strict`, a `Password` customer needs a
    /// password, as in the real API; direct seeding is lenient.
    pub(super) fn create(
        &mut self,
        draft: CustomerDraft,
        strict: bool,
    ) -> Result<(Customer, Event), ApiError> {
        if draft.email.trim().is_empty() {
            return Err(ApiError::invalid_json("email: Missing required value"));
        }
        let mode = draft.authentication_mode.clone().unwrap_or_default();
        if strict && mode == AuthenticationMode::Password && draft.password.is_none() {
            return Err(ApiError::invalid_operation(
                "A password is required when authenticationMode is Password; set `password` or use authenticationMode ExternalAuth.",
            ));
        }
        if self.indexes.email_taken(&draft.email, "") {
            return Err(ApiError::duplicate("email", &draft.email));
        }
        if let Some(key) = &draft.key
            && self.indexes.key_taken(key, "")
        {
            return Err(ApiError::duplicate("key", key));
        }
        if let Some(number) = &draft.customer_number
            && self.indexes.number_taken(number, "")
        {
            return Err(ApiError::duplicate("customerNumber", number));
        }
        let mut addresses = draft.addresses;
        for address in &mut addresses {
            address.id = Some(address_id());
        }
        let index_to_id = |index: usize, what: &str| -> Result<String, ApiError> {
            addresses
                .get(index)
                .and_then(|a| a.id.clone())
                .ok_or_else(|| {
                    ApiError::invalid_input(format!(
                        "{what}: there is no address at index {index} (the draft has {} addresses)",
                        addresses.len()
                    ))
                })
        };
        let default_shipping = draft
            .default_shipping_address
            .map(|i| index_to_id(i, "defaultShippingAddress"))
            .transpose()?;
        let default_billing = draft
            .default_billing_address
            .map(|i| index_to_id(i, "defaultBillingAddress"))
            .transpose()?;
        let mut shipping = draft
            .shipping_addresses
            .iter()
            .map(|&i| index_to_id(i, "shippingAddresses"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut billing = draft
            .billing_addresses
            .iter()
            .map(|&i| index_to_id(i, "billingAddresses"))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(id) = &default_shipping
            && !shipping.contains(id)
        {
            shipping.push(id.clone());
        }
        if let Some(id) = &default_billing
            && !billing.contains(id)
        {
            billing.push(id.clone());
        }
        let custom = draft
            .custom
            .map(|c| -> Result<CustomFields, ApiError> {
                Ok(CustomFields {
                    type_ref: reference("type", &c.type_ref)?,
                    fields: c.fields.unwrap_or_default(),
                })
            })
            .transpose()?;
        let customer_group = draft
            .customer_group
            .map(|g| reference("customer-group", &g))
            .transpose()?;
        let stores = draft
            .stores
            .iter()
            .map(|s| {
                s.key
                    .clone()
                    .or_else(|| s.id.clone())
                    .map(|key| KeyReference {
                        type_id: "store".to_owned(),
                        key,
                    })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::invalid_input("A store reference needs a `key`."))?;
        let now = self.now();
        let customer = Customer {
            id: uuid::Uuid::new_v4().to_string(),
            version: 1,
            key: draft.key,
            customer_number: draft.customer_number,
            external_id: draft.external_id,
            email: draft.email,
            password: None,
            first_name: draft.first_name,
            last_name: draft.last_name,
            middle_name: draft.middle_name,
            title: draft.title,
            salutation: draft.salutation,
            date_of_birth: draft.date_of_birth,
            company_name: draft.company_name,
            vat_id: draft.vat_id,
            locale: draft.locale,
            addresses,
            default_shipping_address_id: default_shipping,
            default_billing_address_id: default_billing,
            shipping_address_ids: shipping,
            billing_address_ids: billing,
            is_email_verified: draft.is_email_verified.unwrap_or(false),
            customer_group,
            customer_group_assignments: Vec::new(),
            custom,
            stores,
            authentication_mode: mode,
            created_at: now,
            last_modified_at: now,
            extra: Map::new(),
        };
        self.indexes.add(&customer);
        self.customers.insert(customer.clone());
        let mut fields = Map::new();
        fields.insert(
            "customer".to_owned(),
            serde_json::to_value(&customer).unwrap_or(Value::Null),
        );
        let message = self.message(
            &customer.id,
            actions::MessageBody {
                type_name: "CustomerCreated",
                fields,
            },
        );
        let event = Event {
            kind: ChangeKind::Created,
            resource: customer_changed(&customer),
            at: now,
            messages: vec![message],
        };
        Ok((customer, event))
    }

    /// Applies `actions` (all or nothing) to the customer at `version`
    /// (`None`: whatever the current version is). No actions: no change.
    pub(super) fn update(
        &mut self,
        target: Target<'_>,
        version: Option<u64>,
        actions: Vec<CustomerUpdateAction>,
    ) -> Result<(Customer, Option<Event>), ApiError> {
        let current = self.get(target)?.clone();
        if let Some(version) = version
            && version != current.version
        {
            return Err(ApiError::concurrent_modification(
                &current.id,
                version,
                current.version,
            ));
        }
        if actions.is_empty() {
            return Ok((current, None));
        }
        let mut updated = current.clone();
        let mut bodies = Vec::new();
        for action in actions {
            if let Some(body) = actions::apply(&mut updated, action, &self.indexes)? {
                bodies.push(body);
            }
        }
        let now = self.now();
        updated.version = current.version + 1;
        updated.last_modified_at = now;
        self.indexes.remove(&current);
        self.indexes.add(&updated);
        self.customers.insert(updated.clone());
        let messages = bodies
            .into_iter()
            .map(|body| self.message(&updated.id, body))
            .collect();
        let event = Event {
            kind: ChangeKind::Updated {
                old_version: current.version,
            },
            resource: customer_changed(&updated),
            at: now,
            messages,
        };
        Ok((updated, Some(event)))
    }

    /// Deletes the customer at `version` (`None`: any version).
    pub(super) fn delete(
        &mut self,
        target: Target<'_>,
        version: Option<u64>,
    ) -> Result<(Customer, Event), ApiError> {
        let current = self.get(target)?.clone();
        if let Some(version) = version
            && version != current.version
        {
            return Err(ApiError::concurrent_modification(
                &current.id,
                version,
                current.version,
            ));
        }
        self.indexes.remove(&current);
        self.customers.remove(&current.id);
        let now = self.now();
        let message = self.message(
            &current.id,
            actions::MessageBody {
                type_name: "CustomerDeleted",
                fields: Map::new(),
            },
        );
        let event = Event {
            kind: ChangeKind::Deleted,
            resource: customer_changed(&current),
            at: now,
            messages: vec![message],
        };
        Ok((current, event))
    }

    /// Runs a customer query.
    pub(super) fn query(&self, spec: &QuerySpec) -> PagedQueryResponse<Customer> {
        self.customers.query(spec)
    }
}
