//! The emulator's product catalogues and categories, and Fluent's rules
//! for them (see `fixtures/fluent/schema-category.graphql`).
//!
//! Categories are kept as JSON in the shape of the schema's `Category`
//! type, with `catalogue` and `parentCategory` held as `{ref}` and expanded
//! to the current catalogue and parent when served.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::store::{
    DUPLICATE, NOT_FOUND, Rejection, VALIDATION_FAILED, apply_update, check_lengths,
    merge_attributes,
};

/// Documented maximum lengths (characters) of category fields.
const MAX_LENGTHS: &[(&str, usize)] = &[("ref", 100), ("type", 50)];

/// Fields an update may change besides attributes and the parent.
const UPDATABLE: &[&str] = &["type", "status", "name", "summary"];

/// `(catalogue ref, category ref)`.
type Key = (String, String);

/// Every catalogue and category, and how often each category was written.
#[derive(Debug, Default)]
pub(crate) struct Categories {
    catalogues: BTreeMap<String, Value>,
    categories: BTreeMap<Key, Value>,
    next_id: u64,
    creates: HashMap<Key, usize>,
    updates: HashMap<Key, usize>,
}

fn text<'a>(input: &'a Map<String, Value>, field: &str) -> &'a str {
    input.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// The `ref` of a key input (`{ref}`) held in `field`.
fn key_ref<'a>(input: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    input
        .get(field)
        .and_then(|key| key.get("ref"))
        .and_then(Value::as_str)
}

impl Categories {
    fn next_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    /// Adds a product catalogue (type `DEFAULT`, status `ACTIVE`); `false`
    /// when it exists already.
    pub(crate) fn add_catalogue(&mut self, reference: &str, now: &str) -> bool {
        if self.catalogues.contains_key(reference) {
            return false;
        }
        let id = self.next_id();
        self.catalogues.insert(
            reference.to_owned(),
            json!({
                "id": id, "ref": reference, "type": "DEFAULT", "status": "ACTIVE",
                "name": reference, "createdOn": now, "updatedOn": now,
            }),
        );
        true
    }

    /// Every catalogue ref, sorted.
    pub(crate) fn catalogue_refs(&self) -> Vec<String> {
        self.catalogues.keys().cloned().collect()
    }

    /// The category `reference` of `catalogue` as the API serves it: its
    /// catalogue and parent chain expanded.
    pub(crate) fn get(&self, catalogue: &str, reference: &str) -> Option<Value> {
        let stored = self
            .categories
            .get(&(catalogue.to_owned(), reference.to_owned()))?;
        let mut served = stored.clone();
        if let Value::Object(map) = &mut served {
            let catalogue = self.catalogues.get(catalogue).cloned();
            map.insert("catalogue".into(), catalogue.unwrap_or(Value::Null));
            let parent = stored
                .get("parentCategory")
                .and_then(|p| p.get("ref"))
                .and_then(Value::as_str)
                .and_then(|parent| self.get(&catalogue_of(stored), parent));
            map.insert("parentCategory".into(), parent.unwrap_or(Value::Null));
        }
        Some(served)
    }

    /// Every category as served, by catalogue then ref.
    pub(crate) fn all(&self) -> Vec<Value> {
        self.categories
            .keys()
            .filter_map(|(catalogue, reference)| self.get(catalogue, reference))
            .collect()
    }

    pub(crate) fn create_count(&self, catalogue: &str, reference: &str) -> usize {
        let key = (catalogue.to_owned(), reference.to_owned());
        self.creates.get(&key).copied().unwrap_or(0)
    }

    pub(crate) fn update_count(&self, catalogue: &str, reference: &str) -> usize {
        let key = (catalogue.to_owned(), reference.to_owned());
        self.updates.get(&key).copied().unwrap_or(0)
    }

    fn catalogue(&self, input: &Map<String, Value>) -> Result<String, Rejection> {
        let catalogue = key_ref(input, "catalogue").unwrap_or_default();
        if self.catalogues.contains_key(catalogue) {
            Ok(catalogue.to_owned())
        } else {
            Err(Rejection::new(
                NOT_FOUND,
                format!("ProductCatalogue with ref '{catalogue}' not found"),
            ))
        }
    }

    /// The parent named in `input` (`None`: no parent given), which must
    /// exist in `catalogue`.
    fn parent(
        &self,
        input: &Map<String, Value>,
        catalogue: &str,
    ) -> Result<Option<String>, Rejection> {
        let Some(parent) = input.get("parentCategory").filter(|p| !p.is_null()) else {
            return Ok(None);
        };
        let reference = parent
            .get("ref")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let named_catalogue = parent
            .get("catalogue")
            .and_then(|c| c.get("ref"))
            .and_then(Value::as_str);
        if let Some(other) = named_catalogue.filter(|c| *c != catalogue) {
            return Err(Rejection::new(
                VALIDATION_FAILED,
                format!(
                    "Validation failed: parentCategory must be in the catalogue '{catalogue}', not '{other}'"
                ),
            ));
        }
        if !self
            .categories
            .contains_key(&(catalogue.to_owned(), reference.to_owned()))
        {
            return Err(Rejection::new(
                NOT_FOUND,
                format!("Category with ref '{reference}' not found in catalogue '{catalogue}'"),
            ));
        }
        Ok(Some(reference.to_owned()))
    }

    /// `createCategory`: `input` is a valid `CreateCategoryInput`.
    pub(crate) fn create(
        &mut self,
        input: &Map<String, Value>,
        now: &str,
    ) -> Result<Value, Rejection> {
        check_lengths(input, MAX_LENGTHS)?;
        for field in ["ref", "type", "name"] {
            if text(input, field).trim().is_empty() {
                return Err(Rejection::new(
                    VALIDATION_FAILED,
                    format!("Validation failed: {field} must not be empty"),
                ));
            }
        }
        let catalogue = self.catalogue(input)?;
        let reference = text(input, "ref").to_owned();
        let key = (catalogue.clone(), reference.clone());
        if self.categories.contains_key(&key) {
            return Err(Rejection::new(
                DUPLICATE,
                format!(
                    "Category with ref '{reference}' already exists in catalogue '{catalogue}'"
                ),
            ));
        }
        let parent = self.parent(input, &catalogue)?;
        let attributes = input
            .get("attributes")
            .and_then(Value::as_array)
            .map(|list| merge_attributes(&[], list))
            .unwrap_or_default();
        let mut category = Map::new();
        category.insert("id".into(), json!(self.next_id()));
        category.insert("ref".into(), json!(reference));
        category.insert("type".into(), json!(text(input, "type")));
        category.insert("status".into(), json!("CREATED"));
        category.insert("name".into(), json!(text(input, "name")));
        let summary = input.get("summary").cloned().unwrap_or(Value::Null);
        category.insert("summary".into(), summary);
        category.insert("attributes".into(), Value::Array(attributes));
        category.insert("catalogue".into(), json!({ "ref": catalogue }));
        let parent = parent.map_or(Value::Null, |p| json!({ "ref": p }));
        category.insert("parentCategory".into(), parent);
        category.insert("createdOn".into(), json!(now));
        category.insert("updatedOn".into(), json!(now));
        self.categories.insert(key.clone(), Value::Object(category));
        *self.creates.entry(key).or_default() += 1;
        Ok(self.get(&catalogue, &reference).unwrap_or(Value::Null))
    }

    /// `updateCategory`: changes only the fields present (and not null);
    /// attributes are merged by name.
    pub(crate) fn update(
        &mut self,
        input: &Map<String, Value>,
        now: &str,
    ) -> Result<Value, Rejection> {
        check_lengths(input, MAX_LENGTHS)?;
        let catalogue = self.catalogue(input)?;
        let reference = text(input, "ref").to_owned();
        let key = (catalogue.clone(), reference.clone());
        if !self.categories.contains_key(&key) {
            return Err(Rejection::new(
                NOT_FOUND,
                format!("Category with ref '{reference}' not found in catalogue '{catalogue}'"),
            ));
        }
        let parent = self.parent(input, &catalogue)?;
        if let Some(parent) = &parent
            && self.is_self_or_descendant(&catalogue, parent, &reference)
        {
            return Err(Rejection::new(
                VALIDATION_FAILED,
                format!(
                    "Validation failed: '{parent}' cannot be the parent of '{reference}' (a category cannot be its own ancestor)"
                ),
            ));
        }
        for field in ["type", "name"] {
            if input
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|v| v.trim().is_empty())
            {
                return Err(Rejection::new(
                    VALIDATION_FAILED,
                    format!("Validation failed: {field} must not be empty"),
                ));
            }
        }
        let Some(Value::Object(category)) = self.categories.get_mut(&key) else {
            return Err(Rejection::new(NOT_FOUND, "Category not found"));
        };
        if let Some(parent) = parent {
            category.insert("parentCategory".into(), json!({ "ref": parent }));
        }
        apply_update(category, input, UPDATABLE, now);
        *self.updates.entry(key).or_default() += 1;
        Ok(self.get(&catalogue, &reference).unwrap_or(Value::Null))
    }

    /// Whether `candidate` is `reference` or one of its descendants (walks
    /// up from `candidate`).
    fn is_self_or_descendant(&self, catalogue: &str, candidate: &str, reference: &str) -> bool {
        let mut at = Some(candidate.to_owned());
        let mut steps = 0;
        while let Some(current) = at {
            if current == reference {
                return true;
            }
            steps += 1;
            if steps > self.categories.len() {
                return false;
            }
            at = self
                .categories
                .get(&(catalogue.to_owned(), current))
                .and_then(|c| c.get("parentCategory"))
                .and_then(|p| p.get("ref"))
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        false
    }
}

fn catalogue_of(category: &Value) -> String {
    category
        .get("catalogue")
        .and_then(|c| c.get("ref"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
