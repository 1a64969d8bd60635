//! Resource types other than customers, kept as JSON: creation from a
//! draft, update actions, deletion and queries, with the same version,
//! clock and notification bookkeeping as customers.

use std::collections::HashMap;

use connect_commercetools::PagedQueryResponse;
use connect_commercetools::model::datetime;
use serde_json::{Map, Value, json};

use super::collection::{Collection, QuerySpec, Resource};
use super::errors::ApiError;
use super::notify::{self, ChangeKind, Changed, Event};
use super::rules;
use super::store::{Store, Target};

/// The types every emulator serves: `(endpoint, type id)`.
pub(super) const BUILT_IN: &[(&str, &str)] = &[
    ("customers", "customer"),
    ("categories", "category"),
    ("orders", "order"),
    ("products", "product"),
];

/// A resource type: its endpoint (`categories`) and type id (`category`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ResourceType {
    pub(super) endpoint: String,
    pub(super) type_id: String,
}

impl ResourceType {
    pub(super) fn new(endpoint: impl Into<String>, type_id: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            type_id: type_id.into(),
        }
    }

    /// Customers have their own typed store.
    pub(super) fn is_customer(&self) -> bool {
        self.type_id == "customer"
    }

    fn changed(&self, resource: &Value) -> Changed {
        Changed {
            type_id: self.type_id.clone(),
            endpoint: self.endpoint.clone(),
            id: resource.id().to_owned(),
            version: version(resource),
            identifiers: notify::identifiers(resource),
        }
    }
}

fn version(resource: &Value) -> u64 {
    resource.get("version").and_then(Value::as_u64).unwrap_or(0)
}

/// The resources of one JSON type, with a key index.
#[derive(Debug, Default)]
pub(super) struct JsonResources {
    pub(super) items: Collection<Value>,
    keys: HashMap<String, String>,
}

impl JsonResources {
    /// The id of the resource with `key`.
    pub(super) fn id_by_key(&self, key: &str) -> Option<&str> {
        self.keys.get(key).map(String::as_str)
    }

    /// The resource a request names, or 404.
    pub(super) fn get(&self, target: Target<'_>) -> Result<&Value, ApiError> {
        let found = match target {
            Target::Id(id) => self.items.get(id),
            Target::Key(key) => self.id_by_key(key).and_then(|id| self.items.get(id)),
            Target::OrderNumber(number) => self
                .items
                .values()
                .find(|r| r.get("orderNumber").and_then(Value::as_str) == Some(number)),
        };
        found.ok_or_else(|| target.not_found())
    }

    fn put(&mut self, resource: Value) {
        if let Some(old) = self.items.get(resource.id()) {
            let old_key = old.get("key").and_then(Value::as_str).map(str::to_owned);
            if let Some(key) = old_key {
                self.keys.remove(&key);
            }
        }
        if let Some(key) = resource.get("key").and_then(Value::as_str) {
            self.keys.insert(key.to_owned(), resource.id().to_owned());
        }
        self.items.insert(resource);
    }

    fn take(&mut self, id: &str) -> Option<Value> {
        let removed = self.items.remove(id)?;
        if let Some(key) = removed.get("key").and_then(Value::as_str) {
            self.keys.remove(key);
        }
        Some(removed)
    }

    /// 400 `DuplicateField` when another resource has `resource`'s key.
    pub(super) fn check_key(&self, resource: &Value) -> Result<(), ApiError> {
        if let Some(key) = resource.get("key").and_then(Value::as_str)
            && self.id_by_key(key).is_some_and(|id| id != resource.id())
        {
            return Err(ApiError::duplicate("key", key));
        }
        Ok(())
    }
}

impl Store {
    /// The resources of `kind` (empty if none was ever written).
    pub(super) fn json(&self, kind: &ResourceType) -> Option<&JsonResources> {
        self.resources.get(&kind.type_id)
    }

    fn json_mut(&mut self, kind: &ResourceType) -> &mut JsonResources {
        self.resources.entry(kind.type_id.clone()).or_default()
    }

    /// The resource a request names, or 404.
    pub(super) fn get_resource(
        &self,
        kind: &ResourceType,
        target: Target<'_>,
    ) -> Result<&Value, ApiError> {
        self.json(kind)
            .ok_or_else(|| target.not_found())
            .and_then(|resources| resources.get(target))
    }

    /// Runs a query over `kind`.
    pub(super) fn query_resources(
        &self,
        kind: &ResourceType,
        spec: &QuerySpec,
    ) -> PagedQueryResponse<Value> {
        match self.json(kind) {
            Some(resources) => resources.items.query(spec),
            None => Collection::default().query(spec),
        }
    }

    /// Creates a resource from a draft. Over HTTP (`strict`) the id,
    /// version and timestamps are always assigned; seeding keeps those the
    /// draft has.
    pub(super) fn create_resource(
        &mut self,
        kind: &ResourceType,
        draft: Value,
        strict: bool,
    ) -> Result<(Value, Event), ApiError> {
        let Value::Object(mut draft) = draft else {
            return Err(ApiError::invalid_json("The draft must be a JSON object."));
        };
        if strict {
            for assigned in ["id", "version", "createdAt", "lastModifiedAt"] {
                draft.remove(assigned);
            }
        }
        let at = self.now();
        let now = datetime::format(&at);
        let defaults = [
            ("id", json!(uuid::Uuid::new_v4().to_string())),
            ("version", json!(1)),
            ("createdAt", json!(now)),
            ("lastModifiedAt", json!(now)),
        ];
        for (name, value) in defaults {
            draft.entry(name).or_insert(value);
        }
        if draft
            .get("id")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::invalid_input("id: must be a non-empty string"));
        }
        if self
            .json(kind)
            .is_some_and(|r| r.items.get(draft_id(&draft)).is_some())
        {
            return Err(ApiError::duplicate("id", draft_id(&draft)));
        }
        rules::prepare_draft(kind, &mut draft, self)?;
        let resource = Value::Object(draft);
        rules::check_unique(kind, &resource, self)?;
        let message = rules::created_message(kind, &resource);
        self.json_mut(kind).put(resource.clone());
        let messages = message
            .into_iter()
            .map(|body| self.message(resource.id(), body))
            .collect();
        let event = Event {
            kind: ChangeKind::Created,
            resource: kind.changed(&resource),
            at,
            messages,
        };
        Ok((resource, event))
    }

    /// Applies `actions` (all or nothing) at `version` (`None`: any).
    /// No actions: no change.
    pub(super) fn update_resource(
        &mut self,
        kind: &ResourceType,
        target: Target<'_>,
        version: Option<u64>,
        actions: &[Value],
    ) -> Result<(Value, Option<Event>), ApiError> {
        let current = self.get_resource(kind, target)?.clone();
        check_version(&current, version)?;
        if actions.is_empty() {
            return Ok((current, None));
        }
        let mut updated = current.clone();
        let mut bodies = Vec::new();
        for action in actions {
            if let Some(body) = rules::apply(kind, &mut updated, action, self)? {
                bodies.push(body);
            }
        }
        self.replace_resource(kind, &current, updated, bodies)
            .map(|(value, event)| (value, Some(event)))
    }

    /// Stores `updated` as the next version of `current`, after the
    /// uniqueness checks, and describes the write.
    pub(super) fn replace_resource(
        &mut self,
        kind: &ResourceType,
        current: &Value,
        mut updated: Value,
        bodies: Vec<super::actions::MessageBody>,
    ) -> Result<(Value, Event), ApiError> {
        let old_version = version(current);
        let now = self.now();
        if let Value::Object(map) = &mut updated {
            map.insert("id".to_owned(), json!(current.id()));
            map.insert("version".to_owned(), json!(old_version + 1));
            map.insert("lastModifiedAt".to_owned(), json!(datetime::format(&now)));
        }
        rules::check_unique(kind, &updated, self)?;
        self.json_mut(kind).put(updated.clone());
        rules::after_update(kind, current, &updated, self);
        let messages = bodies
            .into_iter()
            .map(|body| self.message(updated.id(), body))
            .collect();
        let event = Event {
            kind: ChangeKind::Updated { old_version },
            resource: kind.changed(&updated),
            at: now,
            messages,
        };
        Ok((updated, event))
    }

    /// Deletes the resource at `version` (`None`: any version).
    pub(super) fn delete_resource(
        &mut self,
        kind: &ResourceType,
        target: Target<'_>,
        version: Option<u64>,
    ) -> Result<(Value, Event), ApiError> {
        let current = self.get_resource(kind, target)?.clone();
        check_version(&current, version)?;
        rules::check_delete(kind, &current, self)?;
        self.json_mut(kind).take(current.id());
        let now = self.now();
        let event = Event {
            kind: ChangeKind::Deleted,
            resource: kind.changed(&current),
            at: now,
            messages: Vec::new(),
        };
        Ok((current, event))
    }
}

fn draft_id(draft: &Map<String, Value>) -> &str {
    draft.get("id").and_then(Value::as_str).unwrap_or("")
}

fn check_version(current: &Value, expected: Option<u64>) -> Result<(), ApiError> {
    match expected {
        Some(expected) if expected != version(current) => Err(ApiError::concurrent_modification(
            current.id(),
            expected,
            version(current),
        )),
        _ => Ok(()),
    }
}
