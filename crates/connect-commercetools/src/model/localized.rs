//! [`LocalizedString`]: a text in several languages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A commercetools LocalizedString: one text per locale (IETF tag, e.g.
/// `en`, `de-DE`), as in a category's `name` and `slug`.
///
/// ```
/// use connect_commercetools::LocalizedString;
///
/// let name = LocalizedString::from_pairs([("en", "Shoes"), ("de", "Schuhe")]);
/// assert_eq!(name.get("de"), Some("Schuhe"));
/// assert_eq!(name.get_first(&["fr", "en"]), Some("Shoes"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LocalizedString(pub BTreeMap<String, String>);

impl LocalizedString {
    /// A localized string from `(locale, text)` pairs.
    pub fn from_pairs<L: Into<String>, T: Into<String>>(
        pairs: impl IntoIterator<Item = (L, T)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(locale, text)| (locale.into(), text.into()))
                .collect(),
        )
    }

    /// The text for exactly `locale`.
    pub fn get(&self, locale: &str) -> Option<&str> {
        self.0.get(locale).map(String::as_str)
    }

    /// The text for the first of `locales` that has one (a fallback
    /// order, e.g. `["de-DE", "de", "en"]`).
    pub fn get_first(&self, locales: &[&str]) -> Option<&str> {
        locales.iter().find_map(|locale| self.get(locale))
    }

    /// Like [`get_first`](Self::get_first), then any text (the
    /// alphabetically first locale) when none of `locales` has one.
    pub fn get_or_any(&self, locales: &[&str]) -> Option<&str> {
        self.get_first(locales)
            .or_else(|| self.0.values().next().map(String::as_str))
    }

    /// Sets the text for `locale`.
    pub fn insert(&mut self, locale: impl Into<String>, text: impl Into<String>) {
        self.0.insert(locale.into(), text.into());
    }

    /// Whether no locale has a text.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
