//! Fluent's category model and the operations category sync needs.
//!
//! The types mirror `schema-category.graphql` (written from Fluent's public
//! reference); optional input fields that are `None` are not sent at all,
//! so an update changes only what it names. A category is identified by its
//! `ref` *within its catalogue*: every operation names both.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::customer::{id_string, is_not_found, null_as_empty};
use crate::{Attribute, AttributeInput, Error, FluentClient};

// The selection of every `Category` field as the `CategoryFields` fragment;
// a macro so that `concat!` can build the documents below at compile time.
macro_rules! category_fields {
    () => {
        "fragment CategoryFields on Category {
  id
  ref
  type
  status
  name
  summary
  attributes { name type value }
  catalogue { id ref }
  parentCategory { id ref }
  createdOn
  updatedOn
}"
    };
}

/// The `CategoryFields` fragment selecting every [`Category`] field. Append
/// it to your own documents and spread it with `...CategoryFields`.
pub const CATEGORY_FIELDS: &str = category_fields!();

/// `query CategoryByRef($ref: String!, $catalogue: ProductCatalogueKey!)`.
pub const CATEGORY_BY_REF: &str = concat!(
    "query CategoryByRef($ref: String!, $catalogue: ProductCatalogueKey!) {\n  category(ref: $ref, catalogue: $catalogue) { ...CategoryFields }\n}\n",
    category_fields!()
);

/// `mutation CreateCategory($input: CreateCategoryInput)`.
pub const CREATE_CATEGORY: &str = concat!(
    "mutation CreateCategory($input: CreateCategoryInput) {\n  createCategory(input: $input) { ...CategoryFields }\n}\n",
    category_fields!()
);

/// `mutation UpdateCategory($input: UpdateCategoryInput)`.
pub const UPDATE_CATEGORY: &str = concat!(
    "mutation UpdateCategory($input: UpdateCategoryInput) {\n  updateCategory(input: $input) { ...CategoryFields }\n}\n",
    category_fields!()
);

/// Fluent's documented maximum lengths of category fields, in characters.
pub mod category_limits {
    /// `ref` (unique within the catalogue).
    pub const REF: usize = 100;
    /// `type`.
    pub const TYPE: usize = 50;
}

/// A Fluent category (`type Category`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Category {
    /// Fluent's id.
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// The category's reference, unique within its catalogue.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The category type, e.g. `STANDARD`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// `CREATED` on creation; any status the workflow sets afterwards.
    #[serde(default)]
    pub status: Option<String>,
    /// The name.
    #[serde(default)]
    pub name: Option<String>,
    /// The summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Free-form attributes (empty when Fluent sends none).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attributes: Vec<Attribute>,
    /// The catalogue the category belongs to.
    #[serde(default)]
    pub catalogue: Option<EntityRef>,
    /// The immediate parent, if any.
    #[serde(default)]
    pub parent_category: Option<EntityRef>,
    /// Creation time (ISO-8601).
    #[serde(default)]
    pub created_on: Option<String>,
    /// Last update time (ISO-8601).
    #[serde(default)]
    pub updated_on: Option<String>,
}

impl Category {
    /// The attribute named `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The `ref` of the parent category, if any.
    pub fn parent_ref(&self) -> Option<&str> {
        self.parent_category
            .as_ref()
            .and_then(|p| p.reference.as_deref())
    }
}

/// The `{ id ref }` of an entity another one links to (a category's
/// catalogue or parent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EntityRef {
    /// Fluent's id.
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// The entity's ref.
    #[serde(rename = "ref", default)]
    pub reference: Option<String>,
}

/// `input ProductCatalogueKey { ref }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductCatalogueKey {
    /// The catalogue ref, e.g. `DEFAULT:1`.
    #[serde(rename = "ref")]
    pub reference: String,
}

impl ProductCatalogueKey {
    /// The key of catalogue `reference`.
    pub fn new(reference: impl Into<String>) -> Self {
        Self {
            reference: reference.into(),
        }
    }
}

/// `input CategoryKey { ref catalogue }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryKey {
    /// The category ref.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The catalogue; when given, the same as the linking category's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue: Option<ProductCatalogueKey>,
}

impl CategoryKey {
    /// The key of category `reference` (its catalogue implied).
    pub fn new(reference: impl Into<String>) -> Self {
        Self {
            reference: reference.into(),
            catalogue: None,
        }
    }
}

/// `input CreateCategoryInput`. Fluent has no `status` on create: a new
/// category starts as `CREATED`.
///
/// ```
/// use connect_fluent::{AttributeInput, CategoryKey, CreateCategoryInput};
///
/// let mut input = CreateCategoryInput::new("shoes", "DEFAULT:1", "STANDARD", "Shoes");
/// input.parent_category = Some(CategoryKey::new("apparel"));
/// input.attributes = Some(vec![AttributeInput::string("commercetools.id", "c-1")]);
/// let json = serde_json::to_value(&input).unwrap();
/// assert_eq!(json["catalogue"]["ref"], "DEFAULT:1");
/// assert_eq!(json["parentCategory"]["ref"], "apparel");
/// assert!(json.get("summary").is_none()); // absent fields are not sent
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCategoryInput {
    /// The reference (required, max 100, unique within the catalogue).
    #[serde(rename = "ref")]
    pub reference: String,
    /// The catalogue (required, must exist).
    pub catalogue: ProductCatalogueKey,
    /// The type (required, max 50).
    #[serde(rename = "type")]
    pub kind: String,
    /// Attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<AttributeInput>>,
    /// The name (required).
    pub name: String,
    /// The summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The parent (must exist, in the same catalogue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_category: Option<CategoryKey>,
}

impl CreateCategoryInput {
    /// An input with the required fields; set the others directly.
    pub fn new(
        reference: impl Into<String>,
        catalogue_ref: impl Into<String>,
        kind: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            reference: reference.into(),
            catalogue: ProductCatalogueKey::new(catalogue_ref),
            kind: kind.into(),
            attributes: None,
            name: name.into(),
            summary: None,
            parent_category: None,
        }
    }
}

/// `input UpdateCategoryInput`: the category is found by `ref` and
/// `catalogue`; only the fields that are `Some` are sent and changed.
/// Attributes are merged by name (new names added, existing names replaced).
///
/// ```
/// use connect_fluent::UpdateCategoryInput;
///
/// let mut input = UpdateCategoryInput::new("shoes", "DEFAULT:1");
/// assert!(input.is_empty());
/// input.status = Some("INACTIVE".into());
/// assert_eq!(
///     serde_json::to_value(&input).unwrap(),
///     serde_json::json!({ "ref": "shoes", "catalogue": { "ref": "DEFAULT:1" }, "status": "INACTIVE" })
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateCategoryInput {
    /// Identifies the category, with `catalogue`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The catalogue of the category.
    pub catalogue: ProductCatalogueKey,
    /// The type (max 50).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The status, e.g. `ACTIVE`, `INACTIVE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Attributes to add or replace (by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<AttributeInput>>,
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The parent (must exist, in the same catalogue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_category: Option<CategoryKey>,
}

impl UpdateCategoryInput {
    /// An update of category `reference` in `catalogue_ref` that changes
    /// nothing yet.
    pub fn new(reference: impl Into<String>, catalogue_ref: impl Into<String>) -> Self {
        Self {
            reference: reference.into(),
            catalogue: ProductCatalogueKey::new(catalogue_ref),
            kind: None,
            status: None,
            attributes: None,
            name: None,
            summary: None,
            parent_category: None,
        }
    }

    /// `true` when the update names no field besides `ref` and `catalogue`.
    pub fn is_empty(&self) -> bool {
        self == &Self::new(self.reference.clone(), self.catalogue.reference.clone())
    }
}

#[derive(Deserialize)]
struct CategoryData {
    category: Option<Category>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateData {
    create_category: Option<Category>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateData {
    update_category: Option<Category>,
}

impl FluentClient {
    /// The category `reference` of catalogue `catalogue_ref`, or `None`.
    ///
    /// An unknown ref (`category: null`, or an error whose code says the
    /// entity was not found) is `Ok(None)`, so that the caller creates the
    /// category rather than giving up.
    pub async fn category(
        &self,
        reference: &str,
        catalogue_ref: &str,
    ) -> Result<Option<Category>, Error> {
        let answer = self
            .typed::<CategoryData>(
                "CategoryByRef",
                CATEGORY_BY_REF,
                &json!({ "ref": reference, "catalogue": { "ref": catalogue_ref } }),
            )
            .await;
        match answer {
            Ok(data) => Ok(data.category),
            Err(error) if is_not_found(&error) => {
                tracing::debug!(reference, catalogue_ref, %error, "Fluent has no category with this ref");
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Creates a category (`createCategory`).
    ///
    /// A ref that exists already in the catalogue, an unknown catalogue or
    /// parent, or a value over its documented length are `C....E` errors
    /// (unprocessable).
    pub async fn create_category(&self, input: &CreateCategoryInput) -> Result<Category, Error> {
        let data: CreateData = self
            .typed(
                "CreateCategory",
                CREATE_CATEGORY,
                &json!({ "input": input }),
            )
            .await?;
        data.create_category.ok_or_else(|| Error::MissingData {
            field: "createCategory".to_owned(),
        })
    }

    /// Updates the category named by `input.reference` in `input.catalogue`
    /// (`updateCategory`).
    pub async fn update_category(&self, input: &UpdateCategoryInput) -> Result<Category, Error> {
        let data: UpdateData = self
            .typed(
                "UpdateCategory",
                UPDATE_CATEGORY,
                &json!({ "input": input }),
            )
            .await?;
        data.update_category.ok_or_else(|| Error::MissingData {
            field: "updateCategory".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn category_reads_the_schema_shape() {
        let category: Category = serde_json::from_value(json!({
            "id": 7, "ref": "shoes", "type": "STANDARD", "status": "CREATED",
            "name": "Shoes", "summary": null,
            "attributes": [{ "name": "a", "type": "STRING", "value": "x" }, null],
            "catalogue": { "id": "1", "ref": "DEFAULT:1" },
            "parentCategory": { "id": 3, "ref": "apparel" }
        }))
        .unwrap();
        assert_eq!(category.id, "7");
        assert_eq!(category.parent_ref(), Some("apparel"));
        assert_eq!(category.attribute("a").unwrap().value, "x");
        assert_eq!(category.attributes.len(), 1);
        let root: Category =
            serde_json::from_value(json!({ "id": "1", "ref": "r", "parentCategory": null }))
                .unwrap();
        assert_eq!(root.parent_ref(), None);
        assert!(root.attributes.is_empty());
    }

    #[test]
    fn inputs_send_only_present_fields() {
        let mut update = UpdateCategoryInput::new("shoes", "DEFAULT:1");
        update.parent_category = Some(CategoryKey::new("apparel"));
        update.kind = Some("STANDARD".into());
        assert!(!update.is_empty());
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            json!({
                "ref": "shoes", "catalogue": { "ref": "DEFAULT:1" },
                "type": "STANDARD", "parentCategory": { "ref": "apparel" }
            })
        );
        let create = CreateCategoryInput::new("shoes", "DEFAULT:1", "STANDARD", "Shoes");
        assert_eq!(
            serde_json::to_value(&create).unwrap(),
            json!({ "ref": "shoes", "catalogue": { "ref": "DEFAULT:1" }, "type": "STANDARD", "name": "Shoes" })
        );
    }

    #[test]
    fn documents_name_their_operations_and_fragment() {
        assert!(CATEGORY_BY_REF.starts_with("query CategoryByRef"));
        assert!(CATEGORY_BY_REF.contains("category(ref: $ref, catalogue: $catalogue)"));
        assert!(CREATE_CATEGORY.contains("fragment CategoryFields on Category"));
        assert!(UPDATE_CATEGORY.contains("updateCategory(input: $input)"));
        assert!(CATEGORY_FIELDS.contains("parentCategory { id ref }"));
    }
}
