//! The route props of customer sync, read once at startup.

use std::fmt;

use connect_core::config::check_names;
use connect_core::{HandlerSetup, SetupError};
use serde::Deserialize;

/// Every prop a customer-sync route accepts.
pub const PROPS: &[&str] = &[
    "name",
    "username-template",
    "promotion-opt-in-field",
    "on-delete",
    "overlong-fields",
    "attribute-prefix",
    "custom-fields",
];

/// Event types that say a customer is gone.
pub const DELETION_EVENTS: [&str; 2] = ["ResourceDeleted", "CustomerDeleted"];

/// The props of a customer-sync route (the route's own `inclusion-filter`
/// is checked against them too):
///
/// ```yaml
/// inclusion-filter: [ResourceCreated, ResourceUpdated]  # on the route, or under props
/// props:
///   username-template: "{id}"              # default
///   promotion-opt-in-field: marketingOptIn # a boolean custom field; default: opt-in false
///   on-delete: acknowledge                 # or: deactivate
///   overlong-fields: truncate              # or: reject
///   attribute-prefix: "commercetools."     # default
///   custom-fields: all                     # or: none, or a list of names
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct CustomerSyncSettings {
    /// A label for the route (informational).
    #[serde(default)]
    pub name: Option<String>,
    /// How the Fluent `username` (and `ref`) is built.
    #[serde(default)]
    pub username_template: UsernameTemplate,
    /// The boolean custom field that holds the promotion opt-in.
    #[serde(default)]
    pub promotion_opt_in_field: Option<String>,
    /// What a customer deleted in commercetools does in Fluent.
    #[serde(default)]
    pub on_delete: OnDelete,
    /// What happens to values longer than Fluent accepts.
    #[serde(default)]
    pub overlong_fields: Overlong,
    /// The prefix of the attributes customer sync writes.
    #[serde(default = "default_prefix")]
    pub attribute_prefix: String,
    /// Which custom fields become attributes.
    #[serde(default)]
    pub custom_fields: CustomFieldSelection,
}

fn default_prefix() -> String {
    "commercetools.".to_owned()
}

impl Default for CustomerSyncSettings {
    fn default() -> Self {
        Self {
            name: None,
            username_template: UsernameTemplate::default(),
            promotion_opt_in_field: None,
            on_delete: OnDelete::default(),
            overlong_fields: Overlong::default(),
            attribute_prefix: default_prefix(),
            custom_fields: CustomFieldSelection::default(),
        }
    }
}

impl CustomerSyncSettings {
    /// Reads and checks the props of `setup`'s route: unknown props (with
    /// the nearest known one), values, and combinations with the route's
    /// inclusion filter.
    pub fn from_setup(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        check_prop_names(setup.props().keys().map(String::as_str))
            .map_err(|message| setup.error(message))?;
        let settings: Self = setup.props_as()?;
        settings
            .validate_with_filter(setup.route().inclusion_filter.as_deref())
            .map_err(|message| setup.error(message))?;
        Ok(settings)
    }

    /// Checks combinations the types cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.on_delete == OnDelete::Deactivate && !self.username_template.survives_deletion() {
            return Err(format!(
                "on-delete: deactivate needs a username-template built only from {{id}} and {{retailerId}} (a deleted customer can no longer be read); `{}` uses other fields",
                self.username_template
            ));
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
                "on-delete: deactivate marks customers deleted only when a deletion reaches the handler, but the route's inclusion-filter [{}] lets none through; add ResourceDeleted (change subscriptions) or CustomerDeleted (Message subscriptions) to its inclusion-filter, or set on-delete: acknowledge",
                filter.join(", ")
            ));
        }
        Ok(())
    }
}

/// Refuses a prop name customer sync does not know, naming the nearest
/// known one and listing them all.
fn check_prop_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    check_names(
        names,
        PROPS,
        "customer sync",
        &[(
            "inclusion-filter",
            "the inclusion filter is written `inclusion-filter:` (on the route, or under `props`);",
        )],
    )
}

/// `on-delete`: what a deleted commercetools customer does in Fluent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnDelete {
    /// Acknowledge and change nothing in Fluent (default).
    #[default]
    Acknowledge,
    /// Mark the Fluent customer inactive with the `deleted` attribute (the
    /// customer update input of Fluent has no status field).
    Deactivate,
}

/// `overlong-fields`: values longer than Fluent's documented limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overlong {
    /// Cut the value at the limit, log a warning and record the field names
    /// in the `truncated` attribute (default).
    #[default]
    Truncate,
    /// Refuse the customer: it goes to the dead-letter store.
    Reject,
}

/// `custom-fields`: which commercetools custom fields become attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CustomFieldSelection {
    /// Every custom field (default).
    #[default]
    All,
    /// None.
    None,
    /// Only these.
    Only(Vec<String>),
}

impl CustomFieldSelection {
    /// `true` when custom field `name` is mapped.
    pub fn includes(&self, name: &str) -> bool {
        match self {
            Self::All => true,
            Self::None => false,
            Self::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

impl<'de> Deserialize<'de> for CustomFieldSelection {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            List(Vec<String>),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Word(word) if word == "all" => Ok(Self::All),
            Raw::Word(word) if word == "none" => Ok(Self::None),
            Raw::Word(word) => Err(serde::de::Error::custom(format!(
                "custom-fields must be `all`, `none` or a list of field names, not `{word}`"
            ))),
            Raw::List(names) => Ok(Self::Only(names)),
        }
    }
}

/// A username template such as `{id}` or `{retailerId}_{email}`.
///
/// Placeholders: `{id}`, `{key}`, `{email}`, `{customerNumber}`,
/// `{externalId}`, `{retailerId}`. The default, `{id}`, keeps the Fluent
/// customer the same when the email changes; a template with `{email}`
/// creates a second Fluent customer when the email changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernameTemplate {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Field),
}

/// A value a username template can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The commercetools customer id.
    Id,
    /// The customer key.
    Key,
    /// The email.
    Email,
    /// The customer number.
    CustomerNumber,
    /// The external id.
    ExternalId,
    /// The Fluent retailer id.
    RetailerId,
}

impl Field {
    const ALL: [(&'static str, Field); 6] = [
        ("id", Field::Id),
        ("key", Field::Key),
        ("email", Field::Email),
        ("customerNumber", Field::CustomerNumber),
        ("externalId", Field::ExternalId),
        ("retailerId", Field::RetailerId),
    ];

    /// The placeholder name, e.g. `customerNumber`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }
}

impl Default for UsernameTemplate {
    fn default() -> Self {
        Self {
            text: "{id}".to_owned(),
            parts: vec![Part::Field(Field::Id)],
        }
    }
}

impl fmt::Display for UsernameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl UsernameTemplate {
    /// Parses a template; unknown placeholders are errors listing the known ones.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("username-template `{text}` has a `{{` without `}}`"))?;
            let name = &rest[open + 1..open + close];
            let field = Field::ALL
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, f)| *f)
                .ok_or_else(|| {
                    let known: Vec<String> =
                        Field::ALL.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                    format!(
                        "username-template `{text}` uses unknown placeholder `{{{name}}}`; use {}",
                        known.join(", ")
                    )
                })?;
            parts.push(Part::Field(field));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if !parts.iter().any(|p| matches!(p, Part::Field(_))) {
            return Err(format!(
                "username-template `{text}` has no placeholder, so every customer would get the same username; use e.g. `{{id}}`"
            ));
        }
        Ok(Self {
            text: text.to_owned(),
            parts,
        })
    }

    /// Renders the template; `value` returns `None` for a field the customer
    /// lacks, which is reported with the field's name.
    pub fn render(&self, value: impl Fn(Field) -> Option<String>) -> Result<String, Field> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(field) => out.push_str(&value(*field).ok_or(*field)?),
            }
        }
        Ok(out)
    }

    /// `true` when the template uses only `{id}` and `{retailerId}`, which
    /// are known even after the customer is deleted.
    pub fn survives_deletion(&self) -> bool {
        self.parts.iter().all(|p| match p {
            Part::Text(_) => true,
            Part::Field(f) => matches!(f, Field::Id | Field::RetailerId),
        })
    }
}

impl<'de> Deserialize<'de> for UsernameTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_render_and_explain_mistakes() {
        let template = UsernameTemplate::parse("{retailerId}_{email}").unwrap();
        let rendered = template.render(|f| match f {
            Field::RetailerId => Some("7".into()),
            Field::Email => Some("ada@example.com".into()),
            _ => None,
        });
        assert_eq!(rendered.unwrap(), "7_ada@example.com");
        assert!(!template.survives_deletion());
        assert!(
            UsernameTemplate::parse("ct-{id}")
                .unwrap()
                .survives_deletion()
        );

        let missing = UsernameTemplate::parse("{key}").unwrap().render(|_| None);
        assert_eq!(missing, Err(Field::Key));

        let unknown = UsernameTemplate::parse("{mail}").unwrap_err();
        assert!(
            unknown.contains("`{mail}`") && unknown.contains("{email}"),
            "{unknown}"
        );
        assert!(UsernameTemplate::parse("fixed").is_err());
        assert!(UsernameTemplate::parse("{id").is_err());
    }

    #[test]
    fn deactivation_needs_a_template_that_survives_deletion() {
        let settings = CustomerSyncSettings {
            on_delete: OnDelete::Deactivate,
            username_template: UsernameTemplate::parse("{email}").unwrap(),
            ..CustomerSyncSettings::default()
        };
        assert!(
            settings
                .validate()
                .unwrap_err()
                .contains("on-delete: deactivate")
        );
    }
}
