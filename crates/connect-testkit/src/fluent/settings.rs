//! Fluent Settings, served by every emulator whose schema has the Setting
//! subset (`fixtures/fluent/schema-setting.graphql`, in the default
//! schema): the `settings` query and the `createSetting` /
//! `updateSetting` mutations, with Fluent's rules. Documents are validated
//! against the subset like every other; the resolvers then refuse what
//! Fluent refuses:
//!
//! - `valueType` one of LOB, STRING, INTEGER, BOOLEAN, JSON; `context` one
//!   of ACCOUNT, RETAILER, AGENT, CUSTOMER (`C0400E`);
//! - ACCOUNT settings have `contextId` 0 (`C0400E`);
//! - a JSON or LOB setting has `lobValue` or `value` (`C0400E`);
//! - a name is unique in its context and contextId (`C0409E`,
//!   ConstraintViolationException);
//! - `updateSetting` of an unknown id (`C0404E`).
//!
//! The settings live in the emulator's extension state under
//! [`SETTINGS_STATE`] (`FluentEmulator::settings` reads them).

use serde_json::{Map, Value, json};

use super::extension::{ResolverError, SchemaExtension};

/// The key of the extension state that holds the settings, as a JSON list.
pub const SETTINGS_STATE: &str = "settings";

/// The resolvers of the Setting subset (its SDL is in the base schema).
pub(crate) fn resolvers() -> SchemaExtension {
    SchemaExtension::new("")
        .query("settings", |args, state| {
            let wanted = |key: &str| -> Option<Vec<Value>> {
                args.get(key).and_then(Value::as_array).cloned()
            };
            let (names, contexts, ids) = (wanted("name"), wanted("context"), wanted("contextId"));
            let first = args
                .get("first")
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(usize::MAX);
            let matching: Vec<Value> = all(state)
                .into_iter()
                .filter(|s| names.as_ref().is_none_or(|n| n.contains(&s["name"])))
                .filter(|s| contexts.as_ref().is_none_or(|c| c.contains(&s["context"])))
                .filter(|s| ids.as_ref().is_none_or(|i| i.contains(&s["contextId"])))
                .collect();
            let more = matching.len() > first;
            let edges: Vec<Value> = matching
                .into_iter()
                .take(first)
                .map(|s| json!({ "cursor": s["id"].clone(), "node": s }))
                .collect();
            Ok(json!({ "edges": edges, "pageInfo": { "hasNextPage": more } }))
        })
        .mutation("createSetting", |args, state| {
            let input = args.get("input").cloned().unwrap_or(Value::Null);
            check(&input)?;
            let taken = all(state).iter().any(|s| {
                s["name"] == input["name"]
                    && s["context"] == input["context"]
                    && s["contextId"] == input["contextId"]
            });
            if taken {
                return Err(ResolverError::new(
                    "C0409E",
                    format!(
                        "ConstraintViolationException: a setting named {} exists in context {} {}",
                        input["name"], input["context"], input["contextId"]
                    ),
                ));
            }
            let mut settings = all(state);
            let id = settings
                .iter()
                .filter_map(|s| s["id"].as_str()?.parse::<u64>().ok())
                .max()
                .unwrap_or(0)
                + 1;
            let mut setting = input.as_object().cloned().unwrap_or_default();
            setting.insert("id".to_owned(), json!(id.to_string()));
            let setting = Value::Object(setting);
            settings.push(setting.clone());
            state.insert(SETTINGS_STATE.to_owned(), Value::Array(settings));
            Ok(setting)
        })
        .mutation("updateSetting", |args, state| {
            let input = args.get("input").cloned().unwrap_or(Value::Null);
            check(&input)?;
            let clash = all(state).iter().any(|s| {
                s["id"] != input["id"]
                    && !input["name"].is_null()
                    && s["name"] == input["name"]
                    && s["context"] == input["context"]
                    && s["contextId"] == input["contextId"]
            });
            if clash {
                return Err(ResolverError::new(
                    "C0409E",
                    format!(
                        "ConstraintViolationException: a setting named {} exists in context {} {}",
                        input["name"], input["context"], input["contextId"]
                    ),
                ));
            }
            let mut settings = all(state);
            let Some(setting) = settings.iter_mut().find(|s| s["id"] == input["id"]) else {
                return Err(ResolverError::new(
                    "C0404E",
                    format!("no setting has id {}", input["id"]),
                ));
            };
            if let (Some(setting), Some(input)) = (setting.as_object_mut(), input.as_object()) {
                for (key, value) in input {
                    if !value.is_null() {
                        setting.insert(key.clone(), value.clone());
                    }
                }
            }
            let updated = setting.clone();
            state.insert(SETTINGS_STATE.to_owned(), Value::Array(settings));
            Ok(updated)
        })
}

fn check(input: &Value) -> Result<(), ResolverError> {
    let value_type = input["valueType"].as_str().unwrap_or_default();
    if !["LOB", "STRING", "INTEGER", "BOOLEAN", "JSON"].contains(&value_type) {
        return Err(ResolverError::new(
            "C0400E",
            format!(
                "valueType {value_type} is not supported; use LOB, STRING, INTEGER, BOOLEAN or JSON"
            ),
        ));
    }
    let context = input["context"].as_str().unwrap_or_default();
    if !["ACCOUNT", "RETAILER", "AGENT", "CUSTOMER"].contains(&context) {
        return Err(ResolverError::new(
            "C0400E",
            format!("context {context} is not supported; use ACCOUNT, RETAILER, AGENT or CUSTOMER"),
        ));
    }
    if context == "ACCOUNT" && input["contextId"] != json!(0) {
        return Err(ResolverError::new(
            "C0400E",
            format!(
                "an ACCOUNT setting has contextId 0, not {}",
                input["contextId"]
            ),
        ));
    }
    if ["JSON", "LOB"].contains(&value_type)
        && input["lobValue"].is_null()
        && input["value"].is_null()
    {
        return Err(ResolverError::new(
            "C0400E",
            format!("a {value_type} setting needs lobValue or value"),
        ));
    }
    Ok(())
}

/// Every setting (a copy).
pub(crate) fn all(state: &Map<String, Value>) -> Vec<Value> {
    state
        .get(SETTINGS_STATE)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}
