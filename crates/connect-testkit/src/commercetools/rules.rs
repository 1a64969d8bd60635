//! What each JSON resource type checks and how its update actions apply:
//! categories (name, slug, parent and ancestors, order hint), orders
//! (order, shipment and payment state, workflow state) and, for every type,
//! `setKey`, `setCustomType` and `setCustomField`.

use serde_json::{Map, Value, json};

use super::actions::MessageBody;
use super::collection::Resource;
use super::errors::ApiError;
use super::resources::{JsonResources, ResourceType};
use super::store::Store;

const ORDER_STATES: &[&str] = &["Open", "Confirmed", "Complete", "Cancelled"];
const SHIPMENT_STATES: &[&str] = &[
    "Shipped",
    "Ready",
    "Pending",
    "Delayed",
    "Partial",
    "Backorder",
    "Delivered",
    "Canceled",
];
const PAYMENT_STATES: &[&str] = &["BalanceDue", "Failed", "Pending", "CreditOwed", "Paid"];

/// The order fields that hold one of a fixed set of values.
const ORDER_ENUMS: &[(&str, &[&str])] = &[
    ("orderState", ORDER_STATES),
    ("shipmentState", SHIPMENT_STATES),
    ("paymentState", PAYMENT_STATES),
];

fn is_category(kind: &ResourceType) -> bool {
    kind.type_id == "category"
}

fn is_order(kind: &ResourceType) -> bool {
    kind.type_id == "order"
}

/// Keys (and slugs): 2–256 characters of `[A-Za-z0-9_-]`.
fn check_identifier(field: &str, value: &str) -> Result<(), ApiError> {
    let valid = (2..=256).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid_input(format!(
            "{field}: '{value}' is invalid; use 2 to 256 characters of A-Z, a-z, 0-9, '_' and '-'."
        )))
    }
}

fn check_key(resource: &Map<String, Value>) -> Result<(), ApiError> {
    match resource.get("key") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(key)) => check_identifier("key", key),
        Some(_) => Err(ApiError::invalid_json("key: must be a string")),
    }
}

fn check_enum(field: &str, value: &Value, allowed: &[&str]) -> Result<(), ApiError> {
    match value.as_str() {
        Some(text) if allowed.contains(&text) => Ok(()),
        _ => Err(ApiError::invalid_input(format!(
            "{field}: the value {value} is not valid; use one of {}.",
            allowed.join(", ")
        ))),
    }
}

/// A localized string (`{"en": "..."}`), required.
fn localized(field: &str, value: Option<&Value>) -> Result<Value, ApiError> {
    match value {
        Some(Value::Object(map)) if map.values().all(Value::is_string) => {
            Ok(Value::Object(map.clone()))
        }
        Some(other) => Err(ApiError::invalid_json(format!(
            "{field}: expected a localized string such as {{\"en\": \"...\"}}, found {other}"
        ))),
        None => Err(ApiError::invalid_json(format!(
            "{field}: Missing required value"
        ))),
    }
}

fn slug(value: Option<&Value>) -> Result<Value, ApiError> {
    let slug = localized("slug", value)?;
    for text in slug.as_object().into_iter().flat_map(Map::values) {
        check_identifier("slug", text.as_str().unwrap_or(""))?;
    }
    Ok(slug)
}

fn categories<'s>(kind: &ResourceType, store: &'s Store) -> Option<&'s JsonResources> {
    store.json(kind)
}

/// Resolves a parent `{typeId, id}` / `{key}` to a category reference and
/// the ancestors (root first) a child of it has.
fn parent(
    kind: &ResourceType,
    identifier: &Value,
    store: &Store,
) -> Result<(Value, Vec<Value>), ApiError> {
    let resources = categories(kind, store);
    let id = match (
        identifier.get("id").and_then(Value::as_str),
        identifier.get("key").and_then(Value::as_str),
    ) {
        (Some(id), _) => resources
            .and_then(|r| r.items.get(id))
            .map(|c| c.id().to_owned())
            .ok_or_else(|| ApiError::referenced_not_found("category", "ID", id))?,
        (None, Some(key)) => resources
            .and_then(|r| r.id_by_key(key))
            .map(str::to_owned)
            .ok_or_else(|| ApiError::referenced_not_found("category", "key", key))?,
        (None, None) => {
            return Err(ApiError::invalid_input(
                "parent: a category reference needs an `id` or a `key`.",
            ));
        }
    };
    Ok((category_ref(&id), ancestors_of(&id, resources)))
}

fn category_ref(id: &str) -> Value {
    json!({ "typeId": "category", "id": id })
}

/// The ancestors of a child of `parent_id`: the parent's, then the parent.
fn ancestors_of(parent_id: &str, resources: Option<&JsonResources>) -> Vec<Value> {
    let mut ancestors = resources
        .and_then(|r| r.items.get(parent_id))
        .and_then(|p| p.get("ancestors"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    ancestors.push(category_ref(parent_id));
    ancestors
}

fn set_optional(resource: &mut Map<String, Value>, field: &str, value: Option<&Value>) {
    match value {
        None | Some(Value::Null) => {
            resource.remove(field);
        }
        Some(value) => {
            resource.insert(field.to_owned(), value.clone());
        }
    }
}

fn required<'a>(action: &'a Value, name: &str, field: &str) -> Result<&'a Value, ApiError> {
    action.get(field).filter(|v| !v.is_null()).ok_or_else(|| {
        ApiError::invalid_json(format!(
            "actions -> {name} -> {field}: Missing required value"
        ))
    })
}

/// Checks and completes a draft (the id, version and timestamps are set).
pub(super) fn prepare_draft(
    kind: &ResourceType,
    draft: &mut Map<String, Value>,
    store: &Store,
) -> Result<(), ApiError> {
    check_key(draft)?;
    if is_category(kind) {
        let name = localized("name", draft.get("name"))?;
        let slug = slug(draft.get("slug"))?;
        draft.insert("name".to_owned(), name);
        draft.insert("slug".to_owned(), slug);
        let (parent, ancestors) = match draft.get("parent").filter(|p| !p.is_null()) {
            Some(identifier) => {
                let (parent, ancestors) = parent(kind, identifier, store)?;
                (Some(parent), ancestors)
            }
            None => (None, Vec::new()),
        };
        set_optional(draft, "parent", parent.as_ref());
        draft.insert("ancestors".to_owned(), Value::Array(ancestors));
    }
    if is_order(kind) {
        draft.entry("orderState").or_insert_with(|| json!("Open"));
        for (field, allowed) in ORDER_ENUMS {
            if let Some(value) = draft.get(*field) {
                check_enum(field, value, allowed)?;
            }
        }
    }
    Ok(())
}

/// 400 `DuplicateField` when `resource` takes a unique value another
/// resource of its type has: `key`; an order's `orderNumber`; a category's
/// slug in any locale.
pub(super) fn check_unique(
    kind: &ResourceType,
    resource: &Value,
    store: &Store,
) -> Result<(), ApiError> {
    let Some(resources) = store.json(kind) else {
        return Ok(());
    };
    resources.check_key(resource)?;
    let others = || resources.items.values().filter(|r| r.id() != resource.id());
    if is_order(kind)
        && let Some(number) = resource.get("orderNumber").and_then(Value::as_str)
        && others().any(|r| r.get("orderNumber").and_then(Value::as_str) == Some(number))
    {
        return Err(ApiError::duplicate("orderNumber", number));
    }
    if is_category(kind) {
        let slugs = resource.get("slug").and_then(Value::as_object);
        for (locale, text) in slugs.into_iter().flatten() {
            let taken = others().any(|r| r.get("slug").and_then(|s| s.get(locale)) == Some(text));
            if taken {
                return Err(ApiError::duplicate(
                    &format!("slug.{locale}"),
                    text.as_str().unwrap_or(""),
                ));
            }
        }
    }
    Ok(())
}

/// The Message a creation produces: `CategoryCreated` for categories.
pub(super) fn created_message(kind: &ResourceType, resource: &Value) -> Option<MessageBody> {
    is_category(kind).then(|| MessageBody {
        type_name: "CategoryCreated",
        fields: Map::from_iter([("category".to_owned(), resource.clone())]),
    })
}

/// Applies one update action to `resource` (a working copy); returns the
/// Message it produces, if its type has one.
pub(super) fn apply(
    kind: &ResourceType,
    resource: &mut Value,
    action: &Value,
    store: &Store,
) -> Result<Option<MessageBody>, ApiError> {
    let name = action
        .get("action")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_json("actions -> action: Missing required value"))?;
    let id = resource.id().to_owned();
    let Value::Object(map) = resource else {
        return Err(ApiError::invalid_json("The resource is not a JSON object."));
    };
    let category = is_category(kind);
    let order = is_order(kind);
    match name {
        "setKey" => {
            set_optional(map, "key", action.get("key"));
            check_key(map)?;
        }
        "setCustomType" => match action.get("type").filter(|t| !t.is_null()) {
            None => {
                map.remove("custom");
            }
            Some(type_ref) => {
                let type_id = type_ref
                    .get("id")
                    .or_else(|| type_ref.get("key"))
                    .cloned()
                    .ok_or_else(|| {
                        ApiError::invalid_input("type: a type reference needs an `id` or a `key`.")
                    })?;
                let fields = action.get("fields").cloned().unwrap_or_else(|| json!({}));
                map.insert(
                    "custom".to_owned(),
                    json!({ "type": { "typeId": "type", "id": type_id }, "fields": fields }),
                );
            }
        },
        "setCustomField" => {
            let field = required(action, name, "name")?
                .as_str()
                .ok_or_else(|| {
                    ApiError::invalid_json("actions -> setCustomField -> name: must be a string")
                })?
                .to_owned();
            let fields = map
                .get_mut("custom")
                .and_then(|c| c.get_mut("fields"))
                .and_then(Value::as_object_mut)
                .ok_or_else(|| {
                    ApiError::invalid_operation(format!(
                        "The {} '{id}' has no custom type; set one with setCustomType before setCustomField.",
                        kind.type_id
                    ))
                })?;
            set_optional(fields, &field, action.get("value"));
        }
        "changeName" if category => {
            let value = localized("name", action.get("name"))?;
            map.insert("name".to_owned(), value);
        }
        "changeSlug" if category => {
            let value = slug(action.get("slug"))?;
            let old = map.insert("slug".to_owned(), value.clone());
            return Ok(Some(MessageBody {
                type_name: "CategorySlugChanged",
                fields: Map::from_iter([
                    ("slug".to_owned(), value),
                    ("oldSlug".to_owned(), old.unwrap_or(Value::Null)),
                ]),
            }));
        }
        "setDescription" if category => set_optional(map, "description", action.get("description")),
        "changeOrderHint" if category => {
            let hint = required(action, name, "orderHint")?;
            if !hint.is_string() {
                return Err(ApiError::invalid_json(
                    "actions -> changeOrderHint -> orderHint: must be a string",
                ));
            }
            map.insert("orderHint".to_owned(), hint.clone());
        }
        "setExternalId" if category => set_optional(map, "externalId", action.get("externalId")),
        "changeParent" if category => {
            let (parent, ancestors) = parent(kind, required(action, name, "parent")?, store)?;
            let cycle = parent.get("id").and_then(Value::as_str) == Some(id.as_str())
                || ancestors
                    .iter()
                    .any(|a| a.get("id").and_then(Value::as_str) == Some(id.as_str()));
            if cycle {
                return Err(ApiError::invalid_operation(format!(
                    "The category '{id}' cannot become a child of itself or of one of its descendants."
                )));
            }
            map.insert("parent".to_owned(), parent);
            map.insert("ancestors".to_owned(), Value::Array(ancestors));
        }
        "changeOrderState" | "changeShipmentState" | "changePaymentState" if order => {
            let field = match name {
                "changeOrderState" => "orderState",
                "changeShipmentState" => "shipmentState",
                _ => "paymentState",
            };
            let allowed = ORDER_ENUMS
                .iter()
                .find(|(f, _)| *f == field)
                .map_or(&[][..], |(_, allowed)| *allowed);
            let value = required(action, name, field)?;
            check_enum(field, value, allowed)?;
            map.insert(field.to_owned(), value.clone());
        }
        "transitionState" if order => {
            let state = required(action, name, "state")?;
            let state_id = state
                .get("id")
                .or_else(|| state.get("key"))
                .cloned()
                .ok_or_else(|| {
                    ApiError::invalid_input("state: a state reference needs an `id` or a `key`.")
                })?;
            map.insert(
                "state".to_owned(),
                json!({ "typeId": "state", "id": state_id }),
            );
        }
        other => {
            return Err(ApiError::invalid_input(format!(
                "Unknown update action '{other}' for {}.",
                kind.endpoint
            )));
        }
    }
    Ok(None)
}

/// After a category moved, its descendants' `ancestors` follow (as
/// commercetools keeps them; their versions do not change).
pub(super) fn after_update(
    kind: &ResourceType,
    current: &Value,
    updated: &Value,
    store: &mut Store,
) {
    if !is_category(kind) || current.get("parent") == updated.get("parent") {
        return;
    }
    let Some(resources) = store.resources.get_mut(&kind.type_id) else {
        return;
    };
    let moved = updated.id();
    let mut descendants: Vec<Value> = resources
        .items
        .values()
        .filter(|c| {
            c.get("ancestors")
                .and_then(Value::as_array)
                .is_some_and(|a| {
                    a.iter()
                        .any(|r| r.get("id").and_then(Value::as_str) == Some(moved))
                })
        })
        .cloned()
        .collect();
    descendants.sort_by_key(|c| {
        c.get("ancestors")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    });
    for mut child in descendants {
        let parent_id = child
            .get("parent")
            .and_then(|p| p.get("id"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let ancestors = ancestors_of(&parent_id, Some(resources));
        if let Value::Object(map) = &mut child {
            map.insert("ancestors".to_owned(), Value::Array(ancestors));
        }
        resources.items.insert(child);
    }
}

/// A category with subcategories cannot be deleted (the emulator refuses
/// rather than leave children pointing at a missing parent).
pub(super) fn check_delete(
    kind: &ResourceType,
    current: &Value,
    store: &Store,
) -> Result<(), ApiError> {
    if !is_category(kind) {
        return Ok(());
    }
    let id = current.id();
    let has_children = store.json(kind).is_some_and(|r| {
        r.items.values().any(|c| {
            c.get("parent")
                .and_then(|p| p.get("id"))
                .and_then(Value::as_str)
                == Some(id)
        })
    });
    if has_children {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "ReferenceExists",
            format!("The category '{id}' has subcategories; delete or move them first."),
        ));
    }
    Ok(())
}
