//! [`Secret`]: a string that never appears in logs, errors or `Debug`.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A credential read from the configuration. `Debug` and `Display` print
/// `***`; call [`expose`](Secret::expose) where the value is really needed.
///
/// ```
/// use connect_core::config::Secret;
///
/// let secret = Secret::new("hunter2");
/// assert_eq!(format!("{secret:?}"), "Secret(***)");
/// assert_eq!(secret.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `true` when the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Deserializes a [`Secret`] that must not be empty or blank (for
/// `#[serde(deserialize_with = "connect_core::config::required_secret")]`),
/// so that `client-secret: ${SECRET:-}` with the variable unset fails at
/// its line and column instead of at the first login.
pub fn required_secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
    text_where(deserializer, |text| {
        if text.trim().is_empty() {
            Err(
                "the secret is empty; set it, e.g. from an environment variable (`${NAME}`)"
                    .to_owned(),
            )
        } else {
            Ok(())
        }
    })
    .map(Secret)
}

/// Deserializes a string that must not be empty or blank (for
/// `#[serde(deserialize_with = "connect_core::config::required_text")]`).
pub fn required_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    text_where(deserializer, |text| {
        if text.trim().is_empty() {
            Err(
                "the value is empty; set it, e.g. from an environment variable (`${NAME}`)"
                    .to_owned(),
            )
        } else {
            Ok(())
        }
    })
}

/// Deserializes a string and checks it with `check` *while the value is
/// read*, so that the error carries the value's line and column (a check
/// after deserialization would only get the position of the enclosing
/// block). Use it to write `deserialize_with` functions:
///
/// ```
/// use connect_core::config::{ConfigDocument, text_where};
///
/// #[derive(serde::Deserialize)]
/// struct Block {
///     #[serde(deserialize_with = "lowercase")]
///     name: String,
/// }
///
/// fn lowercase<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
///     text_where(d, |t| {
///         if t.chars().all(|c| c.is_ascii_lowercase()) { Ok(()) }
///         else { Err(format!("`{t}` must be lowercase")) }
///     })
/// }
///
/// let doc = ConfigDocument::from_yaml("x.yml", "block:\n  name: Shop\n");
/// let error = doc.section::<Block>("block").err().unwrap();
/// assert_eq!(error.to_string(), "x.yml:2:9: block.name: `Shop` must be lowercase");
/// ```
pub fn text_where<'de, D, F>(deserializer: D, check: F) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(&str) -> Result<(), String>,
{
    struct Checked<F>(F);
    impl<F: FnOnce(&str) -> Result<(), String>> serde::de::Visitor<'_> for Checked<F> {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            (self.0)(v).map_err(E::custom)?;
            Ok(v.to_owned())
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
            (self.0)(&v).map_err(E::custom)?;
            Ok(v)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<String, E> {
            self.visit_str("")
        }
    }
    deserializer.deserialize_string(Checked(check))
}
