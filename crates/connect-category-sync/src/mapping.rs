//! commercetools category → Fluent category (DESIGN §10 defaults).

use connect_commercetools::{Category, LocalizedString};
use connect_fluent::{
    AttributeInput, CategoryKey, CreateCategoryInput, UpdateCategoryInput, category_limits,
};

use crate::settings::{CategorySyncSettings, Field};

/// Attribute names (after the configured prefix).
pub mod attribute {
    /// The commercetools category id.
    pub const ID: &str = "id";
    /// The category key.
    pub const KEY: &str = "key";
    /// The commercetools version of the last write (never regressed).
    pub const VERSION: &str = "version";
    /// The slug, in the configured locale.
    pub const SLUG: &str = "slug";
    /// The order hint.
    pub const ORDER_HINT: &str = "orderHint";
}

/// The status `on-delete: deactivate` sets.
pub const INACTIVE: &str = "INACTIVE";

/// Why a category cannot be mapped; always unprocessable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The ref template needs a value the category lacks.
    #[error(
        "category {category_id} has no {field}, which ref-template `{template}` needs; set it in commercetools or change the template (e.g. `{{key|id}}`)"
    )]
    MissingField {
        /// The category id.
        category_id: String,
        /// The missing placeholder.
        field: &'static str,
        /// The template.
        template: String,
    },
    /// The rendered ref is longer than Fluent accepts.
    #[error(
        "category {category_id}: the ref `{reference}` is {length} characters, Fluent accepts at most {limit}; use a shorter ref-template or key"
    )]
    RefTooLong {
        /// The category id.
        category_id: String,
        /// The rendered ref.
        reference: String,
        /// Its length in characters.
        length: usize,
        /// Fluent's limit.
        limit: usize,
    },
}

/// The Fluent category a commercetools category maps to. Partner handlers
/// can change it before it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct FluentCategoryDraft {
    /// The Fluent ref (from `ref-template`).
    pub reference: String,
    /// The catalogue (`catalogue-ref`).
    pub catalogue_ref: String,
    /// The type (`category-type`).
    pub kind: String,
    /// The name, in the configured locale.
    pub name: String,
    /// The description, in the configured locale.
    pub summary: Option<String>,
    /// The parent's Fluent ref.
    pub parent_ref: Option<String>,
    /// Attributes, each replacing the Fluent attribute of the same name.
    pub attributes: Vec<AttributeInput>,
    /// The commercetools version this draft was mapped from.
    pub version: u64,
}

impl FluentCategoryDraft {
    /// Adds or replaces an attribute.
    pub fn set_attribute(&mut self, attribute: AttributeInput) {
        match self
            .attributes
            .iter_mut()
            .find(|a| a.name == attribute.name)
        {
            Some(existing) => *existing = attribute,
            None => self.attributes.push(attribute),
        }
    }

    /// The attribute named `name`.
    pub fn attribute(&self, name: &str) -> Option<&AttributeInput> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The `createCategory` input.
    pub fn to_create(&self) -> CreateCategoryInput {
        let mut input =
            CreateCategoryInput::new(&self.reference, &self.catalogue_ref, &self.kind, &self.name);
        input.summary.clone_from(&self.summary);
        input.parent_category = self.parent_ref.as_ref().map(CategoryKey::new);
        input.attributes = (!self.attributes.is_empty()).then(|| self.attributes.clone());
        input
    }

    /// The `updateCategory` input that brings `existing` to this draft:
    /// only changed fields and attributes, nothing when nothing changed. A
    /// summary cleared in commercetools is cleared with an empty string, an
    /// attribute the draft no longer has (a removed key) is emptied. The
    /// version attribute is written only along with a real change. A parent
    /// removed in commercetools is not written (Fluent's update cannot
    /// remove one).
    pub fn diff(
        &self,
        existing: &connect_fluent::Category,
        version_attribute: &str,
        cleared: &[String],
    ) -> UpdateCategoryInput {
        let mut update = UpdateCategoryInput::new(&self.reference, &self.catalogue_ref);
        if existing.kind.as_deref() != Some(self.kind.as_str()) {
            update.kind = Some(self.kind.clone());
        }
        if existing.name.as_deref() != Some(self.name.as_str()) {
            update.name = Some(self.name.clone());
        }
        let summary = self.summary.as_deref().unwrap_or("");
        if existing.summary.as_deref().unwrap_or("") != summary {
            update.summary = Some(summary.to_owned());
        }
        if let Some(parent) = &self.parent_ref
            && existing.parent_ref() != Some(parent.as_str())
        {
            update.parent_category = Some(CategoryKey::new(parent));
        }
        let mut attributes: Vec<AttributeInput> = self
            .attributes
            .iter()
            .filter(|a| a.name != version_attribute)
            .filter(|a| {
                existing
                    .attribute(&a.name)
                    .is_none_or(|e| e.value != a.value || e.kind != a.kind)
            })
            .cloned()
            .collect();
        for name in cleared {
            let held = existing
                .attribute(name)
                .is_some_and(|a| a.value.as_str().is_some_and(|v| !v.is_empty()));
            if held && self.attribute(name).is_none() {
                attributes.push(AttributeInput::string(name.clone(), ""));
            }
        }
        if !attributes.is_empty() {
            update.attributes = Some(attributes);
        }
        if !update.is_empty()
            && let Some(version) = self.attribute(version_attribute)
        {
            update
                .attributes
                .get_or_insert_with(Vec::new)
                .push(version.clone());
        }
        update
    }
}

/// The identifiers a ref template reads: known for a category, and for a
/// deleted one from its deletion message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identifiers<'a> {
    /// The category id.
    pub id: &'a str,
    /// The key, if any.
    pub key: Option<&'a str>,
    /// The external id, if any.
    pub external_id: Option<&'a str>,
}

impl<'a> Identifiers<'a> {
    /// The identifiers of `category`.
    pub fn of(category: &'a Category) -> Self {
        Self {
            id: &category.id,
            key: category.key.as_deref(),
            external_id: category.external_id.as_deref(),
        }
    }
}

/// Maps categories with a route's settings.
#[derive(Debug, Clone)]
pub struct CategoryMapper {
    settings: CategorySyncSettings,
}

impl CategoryMapper {
    /// A mapper with `settings`.
    pub fn new(settings: CategorySyncSettings) -> Self {
        Self { settings }
    }

    /// The settings.
    pub fn settings(&self) -> &CategorySyncSettings {
        &self.settings
    }

    /// `prefix + name`.
    pub fn attribute_name(&self, name: &str) -> String {
        format!("{}{name}", self.settings.attribute_prefix)
    }

    /// The names of the attributes that are emptied in Fluent when the
    /// category no longer has a value for them.
    pub fn clearable_attributes(&self) -> Vec<String> {
        [attribute::KEY, attribute::ORDER_HINT, attribute::SLUG]
            .iter()
            .map(|n| self.attribute_name(n))
            .collect()
    }

    /// The Fluent ref of the category with these identifiers.
    pub fn reference(&self, ids: Identifiers<'_>) -> Result<String, MappingError> {
        let template = &self.settings.ref_template;
        let reference = template
            .render(|field| {
                match field {
                    Field::Id => Some(ids.id),
                    Field::Key => ids.key,
                    Field::ExternalId => ids.external_id,
                }
                .map(str::to_owned)
            })
            .map_err(|field| MappingError::MissingField {
                category_id: ids.id.to_owned(),
                field: field.name(),
                template: template.to_string(),
            })?;
        let length = reference.chars().count();
        if length > category_limits::REF {
            return Err(MappingError::RefTooLong {
                category_id: ids.id.to_owned(),
                reference,
                length,
                limit: category_limits::REF,
            });
        }
        Ok(reference)
    }

    /// `true` when the ref of a category can be built from its id alone,
    /// so that a parent's ref needs no read of the parent.
    pub fn reference_needs_only_id(&self) -> bool {
        self.settings.ref_template.uses_only_id()
    }

    /// The value of `text` in the configured locale, else the first
    /// fallback locale present, else any (the alphabetically first locale).
    pub fn localized<'s>(&self, text: &'s LocalizedString) -> Option<&'s str> {
        self.settings
            .locales()
            .find_map(|locale| text.get(locale).filter(|v| !v.is_empty()))
            .or_else(|| text.0.values().map(String::as_str).find(|v| !v.is_empty()))
    }

    /// Maps `category`, whose parent (if any) has the Fluent ref
    /// `parent_ref`.
    pub fn map(
        &self,
        category: &Category,
        parent_ref: Option<String>,
    ) -> Result<FluentCategoryDraft, MappingError> {
        let reference = self.reference(Identifiers::of(category))?;
        let name = self
            .localized(&category.name)
            .map_or_else(|| reference.clone(), str::to_owned);
        let summary = category
            .description
            .as_ref()
            .and_then(|d| self.localized(d))
            .map(str::to_owned);
        let mut attributes = vec![
            AttributeInput::string(self.attribute_name(attribute::ID), &category.id),
            AttributeInput::new(
                self.attribute_name(attribute::VERSION),
                "INTEGER",
                category.version,
            ),
        ];
        if let Some(key) = &category.key {
            attributes.push(AttributeInput::string(
                self.attribute_name(attribute::KEY),
                key,
            ));
        }
        if let Some(slug) = self.localized(&category.slug) {
            attributes.push(AttributeInput::string(
                self.attribute_name(attribute::SLUG),
                slug,
            ));
        }
        if let Some(hint) = &category.order_hint {
            attributes.push(AttributeInput::string(
                self.attribute_name(attribute::ORDER_HINT),
                hint,
            ));
        }
        Ok(FluentCategoryDraft {
            reference,
            catalogue_ref: self.settings.catalogue_ref.clone(),
            kind: self.settings.category_type.clone(),
            name,
            summary,
            parent_ref,
            attributes,
            version: category.version,
        })
    }
}
