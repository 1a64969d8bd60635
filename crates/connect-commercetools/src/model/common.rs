//! Types shared by several resources: references, identifiers, custom fields.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A reference to another resource, e.g. `{"typeId": "customer-group", "id": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    /// The referenced resource's type, e.g. `customer-group`, `type`.
    pub type_id: String,
    /// The referenced resource's id.
    pub id: String,
    /// The expanded resource, when the request asked for expansion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obj: Option<Value>,
}

impl Reference {
    /// A reference to `type_id`/`id`.
    pub fn new(type_id: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            type_id: type_id.into(),
            id: id.into(),
            obj: None,
        }
    }
}

/// A reference to a resource by key, e.g. `{"typeId": "store", "key": "eu"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyReference {
    /// The referenced resource's type, e.g. `store`.
    pub type_id: String,
    /// The referenced resource's key.
    pub key: String,
}

/// Identifies a resource by `id` or `key` in drafts and update actions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceIdentifier {
    /// The resource type, e.g. `type`, `customer-group`, `store`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<String>,
    /// The resource id (either `id` or `key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The resource key (either `id` or `key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl ResourceIdentifier {
    /// Identifies a `type_id` resource by id.
    pub fn by_id(type_id: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            type_id: Some(type_id.into()),
            id: Some(id.into()),
            key: None,
        }
    }

    /// Identifies a `type_id` resource by key.
    pub fn by_key(type_id: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            type_id: Some(type_id.into()),
            id: None,
            key: Some(key.into()),
        }
    }
}

/// Custom fields of a resource: the Type that defines them and their values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFields {
    /// The Type (`typeId: "type"`).
    #[serde(rename = "type")]
    pub type_ref: Reference,
    /// Field name → value.
    #[serde(default)]
    pub fields: Map<String, Value>,
}

/// Custom fields in a draft: the Type by id or key, and initial values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldsDraft {
    /// The Type (`typeId: "type"`) by id or key.
    #[serde(rename = "type")]
    pub type_ref: ResourceIdentifier,
    /// Field name → value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Map<String, Value>>,
}

/// Serde helpers for [`Secret`](connect_core::config::Secret) values that
/// must reach the wire (passwords in drafts).
pub(crate) mod secret_serde {
    use connect_core::config::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Secret>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(secret) => serializer.serialize_str(secret.expose()),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Secret>, D::Error> {
        Ok(Option::<String>::deserialize(deserializer)?.map(Secret::new))
    }
}
