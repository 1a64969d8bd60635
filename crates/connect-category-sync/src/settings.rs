//! The route props of category sync, read once at startup.

use std::fmt;

use connect_core::config::check_names;
use connect_core::{HandlerSetup, SetupError};
use serde::Deserialize;

/// Every prop a category-sync route accepts.
pub const PROPS: &[&str] = &[
    "name",
    "catalogue-ref",
    "category-type",
    "locale",
    "locale-fallback",
    "ref-template",
    "on-delete",
    "attribute-prefix",
];

/// Event types that say a category is gone.
pub const DELETION_EVENTS: [&str; 2] = ["ResourceDeleted", "CategoryDeleted"];

/// The props of a category-sync route:
///
/// ```yaml
/// props:
///   catalogue-ref: DEFAULT:1           # required: the Fluent product catalogue
///   category-type: STANDARD            # default
///   locale: en                         # default; the name, summary and slug
///   locale-fallback: [en-GB, de]       # tried in order when `locale` is absent
///   ref-template: "{key|id}"           # default: the key, else the id
///   on-delete: acknowledge             # or: deactivate (status INACTIVE)
///   attribute-prefix: "commercetools." # default
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct CategorySyncSettings {
    /// A label for the route (informational).
    #[serde(default)]
    pub name: Option<String>,
    /// The Fluent product catalogue every category is written to.
    pub catalogue_ref: String,
    /// The Fluent category `type`.
    #[serde(default = "default_type")]
    pub category_type: String,
    /// The locale read first from localized strings.
    #[serde(default = "default_locale")]
    pub locale: String,
    /// The locales read, in order, when `locale` has no value; then any.
    #[serde(default)]
    pub locale_fallback: Vec<String>,
    /// How the Fluent `ref` is built.
    #[serde(default)]
    pub ref_template: RefTemplate,
    /// What a category deleted in commercetools does in Fluent.
    #[serde(default)]
    pub on_delete: OnDelete,
    /// The prefix of the attributes category sync writes.
    #[serde(default = "default_prefix")]
    pub attribute_prefix: String,
}

fn default_type() -> String {
    "STANDARD".to_owned()
}

fn default_locale() -> String {
    "en".to_owned()
}

fn default_prefix() -> String {
    "commercetools.".to_owned()
}

impl CategorySyncSettings {
    /// Settings for catalogue `catalogue_ref`, every other prop at its
    /// default.
    pub fn new(catalogue_ref: impl Into<String>) -> Self {
        Self {
            name: None,
            catalogue_ref: catalogue_ref.into(),
            category_type: default_type(),
            locale: default_locale(),
            locale_fallback: Vec::new(),
            ref_template: RefTemplate::default(),
            on_delete: OnDelete::default(),
            attribute_prefix: default_prefix(),
        }
    }

    /// Reads and checks the props of `setup`'s route: unknown props (with
    /// the nearest known one), the required `catalogue-ref`, values, and
    /// combinations with the route's inclusion filter.
    pub fn from_setup(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        let props = setup.props();
        check_prop_names(props.keys().map(String::as_str))
            .map_err(|message| setup.error(message))?;
        if !props.contains_key("catalogue-ref") {
            return Err(setup.error(
                "category sync needs the prop `catalogue-ref`: the ref of the Fluent product catalogue the categories are written to, e.g. `catalogue-ref: DEFAULT:1` (or `${FLUENT_CATALOGUE}`)",
            ));
        }
        let settings: Self = setup.props_as()?;
        settings
            .validate_with_filter(setup.route().inclusion_filter.as_deref())
            .map_err(|message| setup.error(message))?;
        Ok(settings)
    }

    /// Checks values the types cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.catalogue_ref.trim().is_empty() {
            return Err("`catalogue-ref` is empty; set it to the ref of the Fluent product catalogue, e.g. DEFAULT:1".to_owned());
        }
        let limit = connect_fluent::category_limits::TYPE;
        if self.category_type.trim().is_empty() || self.category_type.chars().count() > limit {
            return Err(format!(
                "`category-type` must be 1 to {limit} characters (Fluent's limit), e.g. STANDARD"
            ));
        }
        if self.locale.trim().is_empty() {
            return Err("`locale` is empty; set a commercetools locale such as `en`".to_owned());
        }
        Ok(())
    }

    /// [`validate`](Self::validate), and checks the settings against the
    /// route's inclusion filter (`None`: every event type passes).
    pub fn validate_with_filter(&self, filter: Option<&[String]>) -> Result<(), String> {
        self.validate()?;
        if self.on_delete == OnDelete::Deactivate
            && let Some(filter) = filter
            && !filter.iter().any(|t| DELETION_EVENTS.contains(&t.as_str()))
        {
            return Err(format!(
                "on-delete: deactivate marks categories inactive only when a deletion reaches the handler, but the route's inclusion-filter [{}] lets none through; add ResourceDeleted (change subscriptions) or CategoryDeleted (Message subscriptions), or set on-delete: acknowledge",
                filter.join(", ")
            ));
        }
        Ok(())
    }

    /// The locales tried, in order: `locale`, then `locale-fallback`.
    pub fn locales(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.locale.as_str()).chain(self.locale_fallback.iter().map(String::as_str))
    }
}

/// Refuses a prop name category sync does not know, naming the nearest
/// known one and listing them all.
fn check_prop_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    check_names(names, PROPS, "category sync", &[])
}

/// `on-delete`: what a deleted commercetools category does in Fluent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnDelete {
    /// Acknowledge and change nothing in Fluent (default; `ignore` is
    /// accepted as well).
    #[default]
    #[serde(alias = "ignore")]
    Acknowledge,
    /// Set the Fluent category's status to `INACTIVE`.
    Deactivate,
}

/// A value a ref template can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The commercetools category id.
    Id,
    /// The category key.
    Key,
    /// The external id.
    ExternalId,
}

impl Field {
    const ALL: [(&'static str, Field); 3] = [
        ("id", Field::Id),
        ("key", Field::Key),
        ("externalId", Field::ExternalId),
    ];

    /// The placeholder name, e.g. `externalId`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// The first of these fields the category has.
    Fields(Vec<Field>),
}

/// A ref template such as `{key|id}` (the default), `{id}` or `ct-{key}`.
///
/// Placeholders: `{id}`, `{key}`, `{externalId}`; `{a|b}` takes `a`, else
/// `b`. A parent's ref is built with the same template, from the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefTemplate {
    text: String,
    parts: Vec<Part>,
}

impl Default for RefTemplate {
    fn default() -> Self {
        Self {
            text: "{key|id}".to_owned(),
            parts: vec![Part::Fields(vec![Field::Key, Field::Id])],
        }
    }
}

impl fmt::Display for RefTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl RefTemplate {
    /// Parses a template; unknown placeholders are errors listing the known
    /// ones.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("ref-template `{text}` has a `{{` without `}}`"))?;
            let mut fields = Vec::new();
            for name in rest[open + 1..open + close].split('|') {
                let field = Field::ALL
                    .iter()
                    .find(|(n, _)| *n == name.trim())
                    .map(|(_, f)| *f)
                    .ok_or_else(|| {
                        format!(
                            "ref-template `{text}` uses unknown placeholder `{name}`; use {{id}}, {{key}}, {{externalId}}, or alternatives such as {{key|id}}"
                        )
                    })?;
                fields.push(field);
            }
            parts.push(Part::Fields(fields));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if !parts.iter().any(|p| matches!(p, Part::Fields(_))) {
            return Err(format!(
                "ref-template `{text}` has no placeholder, so every category would get the same ref; use e.g. `{{key|id}}`"
            ));
        }
        Ok(Self {
            text: text.to_owned(),
            parts,
        })
    }

    /// Renders the template; `value` returns `None` for a field the
    /// category lacks. The error names the first field of the placeholder
    /// no alternative could fill.
    pub fn render(&self, value: impl Fn(Field) -> Option<String>) -> Result<String, Field> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Fields(fields) => {
                    let found = fields
                        .iter()
                        .find_map(|f| value(*f).filter(|v| !v.is_empty()));
                    match found {
                        Some(found) => out.push_str(&found),
                        None => return Err(fields.first().copied().unwrap_or(Field::Id)),
                    }
                }
            }
        }
        Ok(out)
    }
}

impl RefTemplate {
    /// `true` when the template reads only `{id}`, so that a ref can be
    /// built from a reference (which carries only the id).
    pub fn uses_only_id(&self) -> bool {
        self.parts.iter().all(|p| match p {
            Part::Text(_) => true,
            Part::Fields(fields) => fields.iter().all(|f| *f == Field::Id),
        })
    }
}

impl<'de> Deserialize<'de> for RefTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn templates_parse_render_and_explain_mistakes() {
        let default = RefTemplate::default();
        assert_eq!(default, RefTemplate::parse("{key|id}").unwrap());
        let with_key = default.render(|f| match f {
            Field::Key => Some("shoes".into()),
            Field::Id => Some("c-1".into()),
            Field::ExternalId => None,
        });
        assert_eq!(with_key.unwrap(), "shoes");
        let without_key = default.render(|f| (f == Field::Id).then(|| "c-1".to_owned()));
        assert_eq!(without_key.unwrap(), "c-1");
        let prefixed = RefTemplate::parse("ct-{id}").unwrap();
        assert_eq!(prefixed.render(|_| Some("9".into())).unwrap(), "ct-9");
        assert_eq!(
            RefTemplate::parse("{externalId}").unwrap().render(|_| None),
            Err(Field::ExternalId)
        );
        let unknown = RefTemplate::parse("{slug}").unwrap_err();
        assert!(
            unknown.contains("`slug`") && unknown.contains("{key|id}"),
            "{unknown}"
        );
        assert!(RefTemplate::parse("fixed").is_err());
        assert!(RefTemplate::parse("{id").is_err());
    }

    #[test]
    fn prop_names_are_checked_with_a_suggestion() {
        let error = check_prop_names(["catalog-ref"]).unwrap_err();
        assert!(error.contains("did you mean `catalogue-ref`?"), "{error}");
        assert!(error.contains("`locale-fallback`"), "{error}");
        assert!(check_prop_names(PROPS.iter().copied()).is_ok());
    }

    #[test]
    fn values_and_filters_are_checked() {
        let mut settings = CategorySyncSettings::new("DEFAULT:1");
        assert!(settings.validate().is_ok());
        assert_eq!(settings.locales().collect::<Vec<_>>(), ["en"]);
        settings.category_type = "X".repeat(51);
        assert!(settings.validate().unwrap_err().contains("category-type"));
        let mut settings = CategorySyncSettings::new("DEFAULT:1");
        settings.on_delete = OnDelete::Deactivate;
        let filter = vec!["ResourceUpdated".to_owned()];
        assert!(
            settings
                .validate_with_filter(Some(&filter))
                .unwrap_err()
                .contains("ResourceDeleted")
        );
        assert!(CategorySyncSettings::new(" ").validate().is_err());
    }
}
