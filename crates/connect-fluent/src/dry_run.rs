//! Dry runs: a [`FluentClient`] that writes nothing and records what
//! [`upsert`](crate::upsert::upsert) would have written.
//!
//! [`FluentClient::with_dry_run`] returns a client whose reads go to Fluent
//! as usual and whose mutations are never sent: each one is refused with
//! [`Error::DryRun`] (so a handler that writes without
//! [`upsert`](crate::upsert::upsert) fails instead of writing, and is
//! reported as not dry-runnable), and [`upsert`](crate::upsert::upsert)
//! turns the refused create or update into a [`PlannedWrite`] in the shared
//! [`DryRun`], with the fields a create would set or the field-by-field
//! changes (old → new) an update would make. The diff is generic: the new
//! values are the mutation's `input` as it would have been sent, the old
//! ones what the read returned, so any [`FluentUpsert`] gets dry runs
//! without extra code.
//!
//! ```
//! use std::sync::Arc;
//! use connect_fluent::dry_run::{DryRun, PlannedKind};
//! use connect_fluent::{CreateCustomerInput, FluentClient};
//! use connect_testkit::fluent::FluentEmulator;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let emulator = FluentEmulator::start().await?;
//! let plan = Arc::new(DryRun::new());
//! let fluent = FluentClient::new(emulator.config())?.with_dry_run(Arc::clone(&plan));
//! let input = CreateCustomerInput::new("ct-1", "ada@example.com", false, fluent.retailer_id());
//! // Refused, never sent.
//! assert!(fluent.create_customer(&input).await.unwrap_err().is_dry_run());
//! assert!(emulator.mutations().is_empty());
//! assert_eq!(plan.refused().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde_json::Value;

use crate::upsert::{FluentUpsert, UpsertOutcome, Write};
use crate::{Error, FluentClient};

/// What a dry-run upsert found it would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlannedKind {
    /// Fluent holds nothing under the ref: it would be created.
    Create,
    /// It would be updated with [`PlannedWrite::changes`].
    Update,
    /// Fluent already matches: no write.
    Unchanged,
    /// Fluent holds a newer commercetools version: no write.
    Stale,
}

impl PlannedKind {
    /// `create`, `update`, `unchanged` or `stale`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Unchanged => "unchanged",
            Self::Stale => "stale",
        }
    }

    /// The [`UpsertOutcome`] a real run would report.
    pub fn outcome(self, written: Option<u64>) -> UpsertOutcome {
        match self {
            Self::Create => UpsertOutcome::Created,
            Self::Update => UpsertOutcome::Updated,
            Self::Unchanged => UpsertOutcome::Unchanged,
            Self::Stale => UpsertOutcome::Stale {
                written: written.unwrap_or_default(),
            },
        }
    }
}

/// One field an update would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// The field as the mutation's input names it, e.g. `firstName`, or
    /// `attributes.<name>` for one attribute.
    pub field: String,
    /// What Fluent holds (`null` when it holds nothing).
    pub old: Value,
    /// What the update would write.
    pub new: Value,
}

/// What one upsert would write (or why it would not).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedWrite {
    /// Create, update, unchanged or stale.
    pub kind: PlannedKind,
    /// The entity, from the mutation's name (`customer`, `category`), or
    /// the upsert's when no mutation was planned.
    pub entity: String,
    /// The id of the commercetools resource whose message planned it,
    /// when it was planned by a handler the runtime ran.
    pub resource_id: Option<String>,
    /// The Fluent ref.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The commercetools version the draft was mapped from.
    pub version: u64,
    /// The commercetools version Fluent holds, when it says.
    pub written_version: Option<u64>,
    /// A create's fields (the mutation's input); empty otherwise.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Value>,
    /// An update's changes, field by field; empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
}

/// A mutation a dry run refused outside [`upsert`](crate::upsert::upsert):
/// its handler is not dry-runnable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedMutation {
    /// The operation, e.g. `mutation UpdateCustomer`.
    pub operation: String,
}

/// The writes a dry run planned, shared by every clone of a dry-run
/// [`FluentClient`]. Memory grows with the writes planned: one entry per
/// upsert.
#[derive(Debug, Default)]
pub struct DryRun {
    writes: Mutex<Vec<PlannedWrite>>,
    refused: Mutex<Vec<RefusedMutation>>,
    /// (entity, ref) of every planned create, kept by [`take`](Self::take).
    created: Mutex<HashSet<(String, String)>>,
    changes_only: bool,
}

impl DryRun {
    /// An empty plan that keeps every upsert's result, unchanged ones
    /// included.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty plan that keeps only creates and updates: its memory grows
    /// with what would change, not with what is already in Fluent.
    pub fn changes_only() -> Self {
        Self {
            changes_only: true,
            ..Self::default()
        }
    }

    /// The writes planned so far.
    pub fn writes(&self) -> Vec<PlannedWrite> {
        self.lock_writes().clone()
    }

    /// Removes and returns the writes planned so far (a caller that
    /// processes them as they come keeps memory bounded).
    pub fn take(&self) -> Vec<PlannedWrite> {
        std::mem::take(&mut *self.lock_writes())
    }

    /// Mutations refused outside an upsert.
    pub fn refused(&self) -> Vec<RefusedMutation> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `true` when this plan creates `entity` `reference` (e.g. a parent
    /// category a later write links to).
    pub fn plans_create(&self, entity: &str, reference: &str) -> bool {
        self.created
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&(entity.to_owned(), reference.to_owned()))
    }

    fn record(&self, write: PlannedWrite) {
        if write.kind == PlannedKind::Create {
            self.created
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert((write.entity.clone(), write.reference.clone()));
        }
        let change = matches!(write.kind, PlannedKind::Create | PlannedKind::Update);
        if change || !self.changes_only {
            self.lock_writes().push(write);
        }
    }

    pub(crate) fn refuse(&self, operation: &str) {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(RefusedMutation {
                operation: operation.to_owned(),
            });
    }

    fn lock_writes(&self) -> std::sync::MutexGuard<'_, Vec<PlannedWrite>> {
        self.writes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The input of a refused mutation, carried by [`Error::DryRun`]. Its
/// `Debug` shows only its size: it holds the entity's data.
#[derive(Clone)]
pub struct MutationInput(pub(crate) Arc<Value>);

impl MutationInput {
    /// The `input` variable (or every variable when there is no `input`).
    pub fn value(&self) -> &Value {
        &self.0
    }
}

impl fmt::Debug for MutationInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = self.0.as_object().map_or(0, serde_json::Map::len);
        write!(f, "MutationInput({fields} fields)")
    }
}

/// The `input` of a mutation's variables.
pub(crate) fn mutation_input(variables: &Value) -> Value {
    match variables {
        Value::Object(map) if map.len() == 1 && map.get("input").is_some_and(Value::is_object) => {
            map.get("input").cloned().unwrap_or(Value::Null)
        }
        other => other.clone(),
    }
}

/// `true` when the document is a mutation.
pub(crate) fn is_mutation(query: &str) -> bool {
    query.trim_start().starts_with("mutation")
}

/// `customer` for `mutation CreateCustomer`, `category` for
/// `mutation updateCategory`; the label itself otherwise.
pub(crate) fn entity_of(operation: &str) -> String {
    let name = operation
        .strip_prefix("mutation")
        .unwrap_or(operation)
        .trim();
    for verb in ["Create", "Update", "create", "update"] {
        if let Some(rest) = name.strip_prefix(verb)
            && let Some(first) = rest.chars().next()
        {
            let mut entity = first.to_lowercase().collect::<String>();
            entity.push_str(&rest[first.len_utf8()..]);
            return entity;
        }
    }
    name.to_owned()
}

tokio::task_local! {
    /// The `data` of the first read made inside a dry-run upsert's read.
    static READ: Arc<Mutex<Option<Value>>>;
    /// Set while a dry-run upsert makes its write: the refused mutation is
    /// planned, not a handler's write outside an upsert.
    static PLANNING: ();
}

/// `true` while a dry-run upsert makes its write.
pub(crate) fn planning() -> bool {
    PLANNING.try_with(|()| ()).is_ok()
}

/// Keeps the `data` of a read when a dry-run upsert is reading.
pub(crate) fn capture_read(data: &Value) {
    let _ = READ.try_with(|slot| {
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(data.clone());
        }
    });
}

/// The field and the entity in a read's `data`: the one object under its
/// single top-level field (`{"customer": {...}}`).
fn entity_in(data: Option<Value>) -> (String, Value) {
    match data {
        Some(Value::Object(map)) if map.len() == 1 => map
            .into_iter()
            .next()
            .unwrap_or((String::new(), Value::Null)),
        Some(other) => (String::new(), other),
        None => (String::new(), Value::Null),
    }
}

/// `true` when `old` already holds `new` (every key `new` names, for
/// objects such as `{ "ref": ... }` links).
fn holds(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => new
            .iter()
            .all(|(k, v)| old.get(k).is_some_and(|o| holds(o, v))),
        (old, new) => old == new,
    }
}

/// The field-by-field changes `input` makes to `current`: each field but
/// the identity (`ref`, `id`), and each attribute by name.
pub fn changes(current: &Value, input: &Value) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let Some(input) = input.as_object() else {
        return changes;
    };
    for (field, new) in input {
        if field == "ref" || field == "id" {
            continue;
        }
        let old = current.get(field).cloned().unwrap_or(Value::Null);
        if field == "attributes"
            && let Some(attributes) = new.as_array()
        {
            for attribute in attributes {
                let Some(name) = attribute.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let new_value = attribute.get("value").cloned().unwrap_or(Value::Null);
                let old_value = old
                    .as_array()
                    .and_then(|all| {
                        all.iter()
                            .find(|a| a.get("name").and_then(Value::as_str) == Some(name))
                    })
                    .and_then(|a| a.get("value").cloned())
                    .unwrap_or(Value::Null);
                if old_value != new_value {
                    changes.push(FieldChange {
                        field: format!("attributes.{name}"),
                        old: old_value,
                        new: new_value,
                    });
                }
            }
            continue;
        }
        if !holds(&old, new) {
            changes.push(FieldChange {
                field: field.clone(),
                old,
                new: new.clone(),
            });
        }
    }
    changes
}

/// [`upsert`](crate::upsert::upsert) in a dry run: reads as usual, runs
/// the checks, and records the create or update it would make instead of
/// sending it.
pub(crate) async fn plan_upsert<U: FluentUpsert>(
    fluent: &FluentClient,
    plan: &DryRun,
    draft: &U,
) -> Result<UpsertOutcome, U::Error> {
    let slot = Arc::new(Mutex::new(None));
    let current = READ.scope(Arc::clone(&slot), draft.read(fluent)).await?;
    let (read_field, raw) = entity_in(slot.lock().unwrap_or_else(PoisonError::into_inner).take());
    let write = |kind, entity: String, written_version, fields, changes| PlannedWrite {
        kind,
        entity,
        resource_id: connect_core::runtime::current_resource().map(|r| r.id),
        reference: draft.reference().to_owned(),
        version: draft.version(),
        written_version,
        fields,
        changes,
    };
    let Some(current) = current else {
        draft.before_write(fluent, Write::Create).await?;
        let (entity, input) = refused_input(PLANNING.scope((), draft.create(fluent)).await)?;
        let fields = match input {
            Value::Object(map) => map.into_iter().collect(),
            _ => BTreeMap::new(),
        };
        plan.record(write(PlannedKind::Create, entity, None, fields, Vec::new()));
        tracing::info!(
            reference = draft.reference(),
            "dry run: would create in Fluent"
        );
        return Ok(UpsertOutcome::Created);
    };
    draft.check(&current)?;
    let written = draft.written_version(&current);
    let entity_hint = || read_field.clone();
    if let Some(w) = written
        && w > draft.version()
    {
        plan.record(write(
            PlannedKind::Stale,
            entity_hint(),
            written,
            BTreeMap::new(),
            Vec::new(),
        ));
        return Ok(UpsertOutcome::Stale { written: w });
    }
    let Some(update) = draft.diff(&current) else {
        plan.record(write(
            PlannedKind::Unchanged,
            entity_hint(),
            written,
            BTreeMap::new(),
            Vec::new(),
        ));
        return Ok(UpsertOutcome::Unchanged);
    };
    draft.before_write(fluent, Write::Update(&update)).await?;
    let (entity, input) = refused_input(PLANNING.scope((), draft.update(fluent, &update)).await)?;
    plan.record(write(
        PlannedKind::Update,
        entity,
        written,
        BTreeMap::new(),
        changes(&raw, &input),
    ));
    tracing::info!(
        reference = draft.reference(),
        "dry run: would update in Fluent"
    );
    Ok(UpsertOutcome::Updated)
}

/// The entity and input of the mutation a dry-run write refused; any
/// other result is an error (a write that sent no mutation cannot be
/// planned).
fn refused_input(result: Result<(), Error>) -> Result<(String, Value), Error> {
    match result {
        Err(Error::DryRun { operation, input }) => {
            Ok((entity_of(&operation), input.value().clone()))
        }
        Err(error) => Err(error),
        Ok(()) => Err(Error::Config(
            "dry run: the write returned without sending a mutation through the Fluent client, so what it would write is unknown".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entities_come_from_mutation_names() {
        assert_eq!(entity_of("mutation CreateCustomer"), "customer");
        assert_eq!(entity_of("mutation updateCategory"), "category");
        assert_eq!(entity_of("mutation"), "");
        assert_eq!(entity_of("mutation Sync"), "Sync");
    }

    #[test]
    fn changes_are_field_by_field_and_attribute_by_name() {
        let current = json!({
            "ref": "ct-1", "firstName": "Ada", "status": "ACTIVE",
            "catalogue": { "ref": "C", "name": "x" },
            "attributes": [ { "name": "v", "type": "STRING", "value": "1" } ],
        });
        let input = json!({
            "ref": "ct-1", "firstName": "Grace", "catalogue": { "ref": "C" },
            "attributes": [
                { "name": "v", "type": "STRING", "value": "2" },
                { "name": "new", "type": "STRING", "value": "x" },
            ],
        });
        let changes = changes(&current, &input);
        let fields: Vec<(&str, &Value, &Value)> = changes
            .iter()
            .map(|c| (c.field.as_str(), &c.old, &c.new))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("attributes.v", &json!("1"), &json!("2")),
                ("attributes.new", &Value::Null, &json!("x")),
                ("firstName", &json!("Ada"), &json!("Grace")),
            ]
        );
    }
}
