//! The emulator's customers, with the uniqueness rules and version
//! bookkeeping of the real API.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use connect_commercetools::{
    AuthenticationMode, CustomFields, Customer, CustomerDraft, CustomerUpdateAction, KeyReference,
    PagedQueryResponse,
};
use serde_json::{Map, Value};

use super::actions::{self, address_id, reference};
use super::errors::ApiError;
use super::notify::{ChangeKind, Event, PendingMessage};
use super::predicate::{Predicate, Sort};

/// How a request names a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target<'a> {
    Id(&'a str),
    Key(&'a str),
}

impl<'a> Target<'a> {
    /// `key=abc` → key, anything else → id.
    pub(super) fn parse(segment: &'a str) -> Self {
        match segment.strip_prefix("key=") {
            Some(key) => Self::Key(key),
            None => Self::Id(segment),
        }
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

/// What a query asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct QuerySpec {
    pub(super) predicates: Vec<Predicate>,
    pub(super) sort: Vec<Sort>,
    pub(super) limit: usize,
    pub(super) offset: usize,
    pub(super) with_total: bool,
}

/// Every customer of the project.
#[derive(Debug, Default)]
pub(super) struct Store {
    customers: BTreeMap<String, Customer>,
    indexes: Indexes,
    sequences: HashMap<String, u64>,
    clock: Option<DateTime<Utc>>,
}

impl Store {
    /// Now, at millisecond precision, strictly after every earlier write so
    /// `lastModifiedAt` orders writes.
    fn now(&mut self) -> DateTime<Utc> {
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

    fn message(&mut self, customer_id: &str, body: actions::MessageBody) -> PendingMessage {
        let sequence = self.sequences.entry(customer_id.to_owned()).or_insert(0);
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

    /// The customer a request names, or 404.
    pub(super) fn get(&self, target: Target<'_>) -> Result<&Customer, ApiError> {
        match target {
            Target::Id(id) => self
                .customers
                .get(id)
                .ok_or_else(|| ApiError::not_found("ID", id)),
            Target::Key(key) => self
                .indexes
                .key
                .get(key)
                .and_then(|id| self.customers.get(id))
                .ok_or_else(|| ApiError::not_found("key", key)),
        }
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
        self.customers.insert(customer.id.clone(), customer.clone());
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
            customer: customer.clone(),
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
        self.customers.insert(updated.id.clone(), updated.clone());
        let messages = bodies
            .into_iter()
            .map(|body| self.message(&updated.id, body))
            .collect();
        let event = Event {
            kind: ChangeKind::Updated {
                old_version: current.version,
            },
            customer: updated.clone(),
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
            customer: current.clone(),
            at: now,
            messages: vec![message],
        };
        Ok((current, event))
    }

    /// Runs a query. Without a sort the order is `id asc` (the real API
    /// promises no order; a fixed one keeps tests deterministic).
    pub(super) fn query(&self, spec: &QuerySpec) -> PagedQueryResponse<Customer> {
        let natural =
            spec.sort.is_empty() || (spec.sort.len() == 1 && spec.sort[0].is_id_ascending());
        let matches = |c: &&Customer| spec.predicates.iter().all(|p| p.matches(c));
        let (results, total) = if natural {
            let lower = spec
                .predicates
                .iter()
                .filter_map(Predicate::id_lower_bound)
                .max_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
            let range = match lower {
                Some((id, true)) => (Bound::Included(id.to_owned()), Bound::Unbounded),
                Some((id, false)) => (Bound::Excluded(id.to_owned()), Bound::Unbounded),
                None => (Bound::Unbounded, Bound::Unbounded),
            };
            let results: Vec<Customer> = self
                .customers
                .range(range.clone())
                .map(|(_, c)| c)
                .filter(matches)
                .skip(spec.offset)
                .take(spec.limit)
                .cloned()
                .collect();
            let total = spec.with_total.then(|| {
                self.customers
                    .range(range)
                    .map(|(_, c)| c)
                    .filter(matches)
                    .count()
            });
            (results, total)
        } else {
            let mut all: Vec<&Customer> = self.customers.values().filter(matches).collect();
            all.sort_by(|a, b| {
                spec.sort
                    .iter()
                    .map(|s| s.compare(a, b))
                    .find(|o| o.is_ne())
                    .unwrap_or_else(|| a.id.cmp(&b.id))
            });
            let total = all.len();
            let results = all
                .into_iter()
                .skip(spec.offset)
                .take(spec.limit)
                .cloned()
                .collect();
            (results, spec.with_total.then_some(total))
        };
        PagedQueryResponse {
            limit: spec.limit as u64,
            offset: spec.offset as u64,
            count: results.len() as u64,
            total: total.map(|t| t as u64),
            results,
        }
    }
}
