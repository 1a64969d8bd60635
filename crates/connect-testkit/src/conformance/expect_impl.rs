//! What a connector must make of each commercetools resource
//! ([`Expectation`]), and the ready ones of the bundled syncs.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use connect_category_sync::{CategoryMapper, CategorySyncSettings, Identifiers};
use connect_commercetools::{Address, Category, Customer, CustomerDraft};
use connect_customer_sync::{CustomerMapper, CustomerSyncSettings, FluentCustomerDraft, attribute};
use connect_fluent::upsert::version_of;
use serde_json::{Value, json};

use crate::commercetools::CommercetoolsEmulator;
use crate::fluent::FluentEmulator;

/// Why Fluent does not hold what a resource calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Divergence {
    /// Fluent has nothing for the resource.
    Missing,
    /// Fluent has it, differently: what differs.
    Differs(String),
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("is not in Fluent"),
            Self::Differs(diff) => write!(f, "differs in Fluent: {diff}"),
        }
    }
}

/// Both emulators, as an [`Expectation`] reads them.
#[derive(Debug, Clone, Copy)]
pub struct Systems<'a> {
    /// The commercetools emulator (the source of the resources).
    pub commercetools: &'a CommercetoolsEmulator,
    /// The Fluent emulator (where the connector writes).
    pub fluent: &'a FluentEmulator,
}

/// For one commercetools resource type: how the storm creates, changes and
/// deletes resources, and what Fluent must hold for each state of one.
///
/// The kit calls the storm methods from one task, in order, with its seeded
/// random numbers, and the check methods from any task; resources are the
/// JSON the commercetools emulator serves (`id`, `version` and the type's
/// fields). The bundled syncs have ready ones: [`customers`] and
/// [`categories`].
pub trait Expectation: Send + Sync + 'static {
    /// The commercetools type id, e.g. `customer` (as the subscription
    /// payloads name it).
    fn type_id(&self) -> &str;

    /// A draft of a new resource that the connector can sync; `n` is unique
    /// in the run (for unique emails, keys). `live` holds the resources of
    /// this type that exist now (to pick a parent, say).
    fn draft(&self, n: u64, rng: &mut fastrand::Rng, live: &[Value]) -> Value;

    /// A draft the connector must refuse as unprocessable (and
    /// [`unprocessable`](Self::unprocessable) must say so), or `None` when
    /// the type has none.
    fn unprocessable_draft(&self, n: u64, rng: &mut fastrand::Rng) -> Option<Value> {
        let _ = (n, rng);
        None
    }

    /// Changes `resource` in place as a user would (the kit writes it back
    /// and commercetools raises its version).
    fn change(&self, n: u64, rng: &mut fastrand::Rng, resource: &mut Value, live: &[Value]);

    /// Whether the storm may delete `resource` now (a category with
    /// children may not be).
    fn deletable(&self, resource: &Value, live: &[Value]) -> bool {
        let _ = (resource, live);
        true
    }

    /// `true` when the connector must dead-letter this state instead of
    /// writing it.
    fn unprocessable(&self, resource: &Value) -> bool;

    /// Whether Fluent holds what this state of the resource calls for.
    fn holds(&self, resource: &Value, systems: Systems<'_>) -> Result<(), Divergence>;

    /// How many Fluent entities were created for each resource, by
    /// commercetools id (a handler that creates where it should look up
    /// leaves several for one resource).
    fn creations(&self, systems: Systems<'_>) -> HashMap<String, usize>;

    /// The commercetools version Fluent holds for the resource, if it holds
    /// one.
    fn fluent_version(&self, resource: &Value, systems: Systems<'_>) -> Option<u64>;
}

/// The resource's `id`.
pub(crate) fn id_of(resource: &Value) -> &str {
    resource.get("id").and_then(Value::as_str).unwrap_or("")
}

/// The resource's `version`.
pub(crate) fn version_field(resource: &Value) -> u64 {
    resource.get("version").and_then(Value::as_u64).unwrap_or(0)
}

type Extend = Arc<dyn Fn(&Customer, &mut FluentCustomerDraft) + Send + Sync>;

/// The expectation of the bundled customer sync
/// (`CommercetoolsCustomerUpsert`), or of a partner handler built on
/// `CustomerSync::handle_with` ([`extend`](Self::extend)).
///
/// Every commercetools customer is in Fluent once, under the username of
/// the settings' template, matching the mapping field by field; a customer
/// whose email is over Fluent's 250 characters is unprocessable.
#[derive(Clone)]
pub struct CustomerExpectation {
    settings: CustomerSyncSettings,
    extend: Option<Extend>,
}

impl fmt::Debug for CustomerExpectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerExpectation")
            .field("settings", &self.settings)
            .field("extend", &self.extend.is_some())
            .finish()
    }
}

/// The customer sync with its default props.
pub fn customers() -> CustomerExpectation {
    CustomerExpectation::new(CustomerSyncSettings::default())
}

/// The category sync writing to `catalogue_ref` (its `catalogue-ref`
/// prop), other props at their defaults.
pub fn categories(catalogue_ref: impl Into<String>) -> CategoryExpectation {
    CategoryExpectation::new(CategorySyncSettings::new(catalogue_ref))
}

/// Fluent's longest email.
const MAX_EMAIL: usize = 250;

impl CustomerExpectation {
    /// The customer sync with these settings (the route's props).
    pub fn new(settings: CustomerSyncSettings) -> Self {
        Self {
            settings,
            extend: None,
        }
    }

    /// Adjusts the expected draft as the handler's `handle_with` closure
    /// does (the same closure, typically).
    #[must_use]
    pub fn extend(
        mut self,
        extend: impl Fn(&Customer, &mut FluentCustomerDraft) + Send + Sync + 'static,
    ) -> Self {
        self.extend = Some(Arc::new(extend));
        self
    }

    fn mapper(&self, fluent: &FluentEmulator) -> CustomerMapper {
        CustomerMapper::new(self.settings.clone(), fluent.retailer_id())
    }

    fn username(&self, resource: &Value, fluent: &FluentEmulator) -> Option<String> {
        let mapper = self.mapper(fluent);
        if let Ok(customer) = serde_json::from_value::<Customer>(resource.clone())
            && let Ok(draft) = mapper.map(&customer)
        {
            return Some(draft.username);
        }
        mapper.username_for_id(id_of(resource))
    }
}

impl Expectation for CustomerExpectation {
    fn type_id(&self) -> &str {
        "customer"
    }

    fn draft(&self, n: u64, rng: &mut fastrand::Rng, _live: &[Value]) -> Value {
        let email = format!("c{n}-{}@conformance.example", rng.u32(..));
        let mut draft =
            CustomerDraft::new(email).with_name(format!("First{n}"), format!("Last{n}"));
        if rng.bool() {
            let mut address = Address::new(["DE", "FR", "NL", "US"][rng.usize(0..4)]);
            address.phone = Some(format!("+49 30 {:07}", rng.u32(0..10_000_000)));
            draft = draft.with_address(address);
        }
        serde_json::to_value(draft).unwrap_or_default()
    }

    fn unprocessable_draft(&self, n: u64, rng: &mut fastrand::Rng) -> Option<Value> {
        // Fluent never takes an email over 250 characters.
        let email = format!(
            "{}-c{n}-{}@conformance.example",
            "x".repeat(MAX_EMAIL + 1),
            rng.u32(..)
        );
        serde_json::to_value(CustomerDraft::new(email)).ok()
    }

    fn change(&self, n: u64, rng: &mut fastrand::Rng, resource: &mut Value, _live: &[Value]) {
        match rng.u32(0..4) {
            0 => resource["firstName"] = json!(format!("Renamed{n}")),
            1 => {
                resource["lastName"] = if rng.bool() {
                    json!(format!("Family{n}"))
                } else {
                    Value::Null
                }
            }
            2 => resource["title"] = json!(["Dr", "Prof", "Mx"][rng.usize(0..3)]),
            _ => resource["email"] = json!(format!("c{n}-{}@conformance.example", rng.u32(..))),
        }
    }

    fn unprocessable(&self, resource: &Value) -> bool {
        resource
            .get("email")
            .and_then(Value::as_str)
            .is_some_and(|email| email.chars().count() > MAX_EMAIL)
    }

    fn holds(&self, resource: &Value, systems: Systems<'_>) -> Result<(), Divergence> {
        let customer: Customer = serde_json::from_value(resource.clone())
            .map_err(|e| Divergence::Differs(format!("not a commercetools customer: {e}")))?;
        let mapper = self.mapper(systems.fluent);
        let mut draft = mapper
            .map(&customer)
            .map_err(|e| Divergence::Differs(format!("the mapping refuses it: {e}")))?;
        if let Some(extend) = &self.extend {
            extend(&customer, &mut draft);
        }
        let synced = systems
            .fluent
            .customer(&draft.username)
            .ok_or(Divergence::Missing)?;
        let diff = draft.diff(&synced, &mapper.attribute_name(attribute::VERSION));
        if diff.is_empty() {
            Ok(())
        } else {
            Err(Divergence::Differs(format!("{diff:?}")))
        }
    }

    fn creations(&self, systems: Systems<'_>) -> HashMap<String, usize> {
        let id_attribute = self.mapper(systems.fluent).attribute_name(attribute::ID);
        let mut creations: HashMap<String, usize> = HashMap::new();
        for customer in systems.fluent.customers() {
            let Some(id) = customer
                .attribute(&id_attribute)
                .and_then(|a| a.value.as_str())
            else {
                continue;
            };
            let username = customer.username.as_deref().unwrap_or_default();
            *creations.entry(id.to_owned()).or_default() +=
                systems.fluent.create_count(username).max(1);
        }
        creations
    }

    fn fluent_version(&self, resource: &Value, systems: Systems<'_>) -> Option<u64> {
        let username = self.username(resource, systems.fluent)?;
        let name = self
            .mapper(systems.fluent)
            .attribute_name(attribute::VERSION);
        let synced = systems.fluent.customer(&username)?;
        version_of(&synced.attribute(&name)?.value)
    }
}

/// The expectation of the bundled category sync
/// (`CommercetoolsCategoryUpsert`): every commercetools category is in the
/// catalogue once, under its parent, matching the mapping.
#[derive(Debug, Clone)]
pub struct CategoryExpectation {
    mapper: CategoryMapper,
}

impl CategoryExpectation {
    /// The category sync with these settings (the route's props).
    pub fn new(settings: CategorySyncSettings) -> Self {
        Self {
            mapper: CategoryMapper::new(settings),
        }
    }

    fn reference(&self, resource: &Value) -> Option<String> {
        let category: Category = serde_json::from_value(resource.clone()).ok()?;
        self.mapper.reference(Identifiers::of(&category)).ok()
    }

    fn catalogue(&self) -> &str {
        &self.mapper.settings().catalogue_ref
    }

    fn fluent_category(
        &self,
        resource: &Value,
        fluent: &FluentEmulator,
    ) -> Option<connect_fluent::Category> {
        let reference = self.reference(resource)?;
        let json = fluent.category(self.catalogue(), &reference)?;
        serde_json::from_value(json).ok()
    }
}

impl Expectation for CategoryExpectation {
    fn type_id(&self) -> &str {
        "category"
    }

    fn draft(&self, n: u64, rng: &mut fastrand::Rng, live: &[Value]) -> Value {
        let key = format!("cat-{n}");
        let mut draft = json!({
            "key": key,
            "name": { "en": format!("Category {n}") },
            "slug": { "en": key },
        });
        if !live.is_empty() && rng.u32(0..3) > 0 {
            let parent = &live[rng.usize(0..live.len())];
            draft["parent"] = json!({ "typeId": "category", "id": id_of(parent) });
        }
        draft
    }

    fn change(&self, n: u64, rng: &mut fastrand::Rng, resource: &mut Value, _live: &[Value]) {
        match rng.u32(0..3) {
            0 => resource["name"] = json!({ "en": format!("Renamed {n}") }),
            1 => {
                resource["description"] = if rng.bool() {
                    json!({ "en": format!("About {n}") })
                } else {
                    Value::Null
                }
            }
            _ => resource["orderHint"] = json!(format!("0.{}", rng.u32(1..1000))),
        }
    }

    fn deletable(&self, resource: &Value, live: &[Value]) -> bool {
        let id = id_of(resource);
        !live.iter().any(|other| {
            other
                .pointer("/parent/id")
                .and_then(Value::as_str)
                .is_some_and(|parent| parent == id)
        })
    }

    fn unprocessable(&self, _resource: &Value) -> bool {
        false
    }

    fn holds(&self, resource: &Value, systems: Systems<'_>) -> Result<(), Divergence> {
        let category: Category = serde_json::from_value(resource.clone())
            .map_err(|e| Divergence::Differs(format!("not a commercetools category: {e}")))?;
        let parent_ref = match resource.pointer("/parent/id").and_then(Value::as_str) {
            None => None,
            Some(parent) => {
                let parent = systems
                    .commercetools
                    .resource("category", parent)
                    .and_then(|p| self.reference(&p))
                    .ok_or_else(|| {
                        Divergence::Differs(format!("its parent {parent} is not in commercetools"))
                    })?;
                Some(parent)
            }
        };
        let draft = self
            .mapper
            .map(&category, parent_ref)
            .map_err(|e| Divergence::Differs(format!("the mapping refuses it: {e}")))?;
        let existing = self
            .fluent_category(resource, systems.fluent)
            .ok_or(Divergence::Missing)?;
        let diff = draft.diff(
            &existing,
            &self
                .mapper
                .attribute_name(connect_category_sync::attribute::VERSION),
            &self.mapper.clearable_attributes(),
        );
        if diff.is_empty() {
            Ok(())
        } else {
            Err(Divergence::Differs(format!("{diff:?}")))
        }
    }

    fn creations(&self, systems: Systems<'_>) -> HashMap<String, usize> {
        let id_attribute = self
            .mapper
            .attribute_name(connect_category_sync::attribute::ID);
        let mut creations: HashMap<String, usize> = HashMap::new();
        for json in systems.fluent.categories() {
            let Ok(category) = serde_json::from_value::<connect_fluent::Category>(json) else {
                continue;
            };
            let Some(id) = category
                .attribute(&id_attribute)
                .and_then(|a| a.value.as_str())
            else {
                continue;
            };
            let created = systems
                .fluent
                .category_create_count(self.catalogue(), &category.reference);
            *creations.entry(id.to_owned()).or_default() += created.max(1);
        }
        creations
    }

    fn fluent_version(&self, resource: &Value, systems: Systems<'_>) -> Option<u64> {
        let existing = self.fluent_category(resource, systems.fluent)?;
        let name = self
            .mapper
            .attribute_name(connect_category_sync::attribute::VERSION);
        version_of(&existing.attribute(&name)?.value)
    }
}
