//! The Category resource, its draft and its update actions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{CustomFields, CustomFieldsDraft, Reference, ResourceIdentifier};
use super::localized::LocalizedString;
use super::resource::Resource;

/// A commercetools Category, as returned by `GET /{projectKey}/categories/{id}`.
/// Fields the API adds later are kept in [`extra`](Category::extra).
///
/// ```
/// use connect_commercetools::Category;
///
/// let json = r#"{"id": "cat-1", "version": 3, "name": {"en": "Shoes"},
///     "slug": {"en": "shoes"}, "ancestors": [], "orderHint": "0.5",
///     "createdAt": "2024-01-30T08:00:00.000Z", "lastModifiedAt": "2024-01-30T08:00:00.000Z"}"#;
/// let category: Category = serde_json::from_str(json)?;
/// assert_eq!(category.name.get("en"), Some("Shoes"));
/// assert!(category.parent.is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    /// Unique id, assigned by commercetools.
    pub id: String,
    /// Current version (optimistic concurrency).
    pub version: u64,
    /// User-defined unique identifier (2 to 256 of `[A-Za-z0-9_-]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Identifier in an external system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Name, per locale.
    pub name: LocalizedString,
    /// URL slug, per locale (unique in the project per locale).
    pub slug: LocalizedString,
    /// Description, per locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<LocalizedString>,
    /// The parent category; `None` for a root category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Reference>,
    /// Every ancestor, from the root down to the parent.
    #[serde(default)]
    pub ancestors: Vec<Reference>,
    /// Sort order among siblings (a decimal between 0 and 1, as a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_hint: Option<String>,
    /// Custom fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomFields>,
    /// Assets (images, documents), as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assets: Option<Value>,
    /// When commercetools created the category.
    pub created_at: DateTime<Utc>,
    /// When the category last changed.
    pub last_modified_at: DateTime<Utc>,
    /// Every other field the API returned.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Resource for Category {
    const TYPE_ID: &'static str = "category";
    const ENDPOINT: &'static str = "categories";

    fn id(&self) -> &str {
        &self.id
    }

    fn version(&self) -> u64 {
        self.version
    }
}

/// The body of `POST /{projectKey}/categories`.
///
/// ```
/// use connect_commercetools::{CategoryDraft, LocalizedString};
///
/// let draft = CategoryDraft::new(
///     LocalizedString::from_pairs([("en", "Shoes")]),
///     LocalizedString::from_pairs([("en", "shoes")]),
/// );
/// assert_eq!(
///     serde_json::to_value(&draft)?,
///     serde_json::json!({"name": {"en": "Shoes"}, "slug": {"en": "shoes"}})
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryDraft {
    /// Name, per locale.
    pub name: LocalizedString,
    /// URL slug, per locale.
    pub slug: LocalizedString,
    /// User-defined unique identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Identifier in an external system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Description, per locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<LocalizedString>,
    /// The parent category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ResourceIdentifier>,
    /// Sort order among siblings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_hint: Option<String>,
    /// Custom fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomFieldsDraft>,
}

impl CategoryDraft {
    /// A draft with a name and a slug, everything else unset.
    pub fn new(name: LocalizedString, slug: LocalizedString) -> Self {
        Self {
            name,
            slug,
            ..Self::default()
        }
    }
}

/// One category update action (`"action": "changeName"`, ...). Setting an
/// optional value to `None` removes it.
///
/// ```
/// use connect_commercetools::{CategoryUpdateAction, ResourceIdentifier};
///
/// let action = CategoryUpdateAction::ChangeParent {
///     parent: ResourceIdentifier::by_key("category", "men"),
/// };
/// assert_eq!(
///     serde_json::to_value(&action)?,
///     serde_json::json!({"action": "changeParent", "parent": {"typeId": "category", "key": "men"}})
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum CategoryUpdateAction {
    /// Changes the name.
    ChangeName {
        /// The new name.
        name: LocalizedString,
    },
    /// Changes the slug.
    ChangeSlug {
        /// The new slug.
        slug: LocalizedString,
    },
    /// Sets or removes the description.
    SetDescription {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<LocalizedString>,
    },
    /// Moves the category under another parent.
    ChangeParent {
        /// The new parent.
        parent: ResourceIdentifier,
    },
    /// Changes the sort order among siblings.
    ChangeOrderHint {
        /// The new order hint (a decimal between 0 and 1, as a string).
        order_hint: String,
    },
    /// Sets or removes the key.
    SetKey {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// Sets or removes the external id.
    SetExternalId {
        /// The value; `None` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_id: Option<String>,
    },
}
