//! A partner's own top-level configuration block, typed and checked like
//! the SDK's: registered at link time with
//! [`config_section!`](crate::config_section), or explicitly through
//! [`ConfigSections`], read strictly (line numbers, suggestions for a
//! misspelt key) and handed to handlers as a shared service.
//!
//! ```
//! use connect_core::config::ConfigDocument;
//! use connect_core::{ConfigSections, Services};
//!
//! #[derive(Debug, serde::Deserialize)]
//! #[serde(deny_unknown_fields, rename_all = "kebab-case")]
//! struct LoyaltyConfig {
//!     points_per_euro: u32,
//! }
//!
//! connect_core::config_section!("loyalty", LoyaltyConfig);
//!
//! let doc = ConfigDocument::from_yaml("app.yml", "loyalty:\n  points-per-euro: 3\n");
//! let mut services = Services::new();
//! ConfigSections::linked().load(&doc, &mut services)?;
//! assert_eq!(services.get::<LoyaltyConfig>().map(|c| c.points_per_euro), Some(3));
//! # Ok::<(), connect_core::config::ConfigError>(())
//! ```

use std::fmt;

use serde::de::DeserializeOwned;

use crate::config::{ConfigDocument, ConfigError};
use crate::services::Services;

/// Reads a block and, when present, adds it to the services; `Ok(false)`
/// when the file has no such block.
pub type SectionLoader = fn(&ConfigDocument, &str, &mut Services) -> Result<bool, ConfigError>;

/// One block registered by [`config_section!`](crate::config_section),
/// collected at link time. Plumbing of the macro (reachable only through
/// `__private`), not a public API.
#[derive(Debug)]
pub struct SectionRegistration {
    /// The top-level key, e.g. `loyalty`.
    pub name: &'static str,
    /// `true` when a file without the block is refused.
    pub required: bool,
    /// Reads the block into the services.
    pub load: SectionLoader,
    /// The Rust type, for messages.
    pub type_name: &'static str,
}

inventory::collect!(SectionRegistration);

/// The loader [`config_section!`](crate::config_section) registers for `T`.
#[doc(hidden)]
pub fn load_section<T: DeserializeOwned + Send + Sync + 'static>(
    doc: &ConfigDocument,
    name: &str,
    services: &mut Services,
) -> Result<bool, ConfigError> {
    match doc.section::<T>(name)? {
        Some(value) => {
            services.insert(value);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Registers a partner's top-level configuration block at link time:
/// `config_section!("loyalty", LoyaltyConfig)` for an optional block,
/// `config_section!("loyalty", LoyaltyConfig, required)` for one a file
/// must have. `LoyaltyConfig` is `DeserializeOwned + Send + Sync + 'static`
/// (write `#[serde(deny_unknown_fields)]` so that a misspelt key is refused
/// with its line and a suggestion). The connector reads the block when it
/// checks the file (so `connect validate` checks it too), no longer refuses
/// it as an unknown block, and hands it to handlers as a service:
/// `setup.service::<LoyaltyConfig>()`.
///
/// The calling crate needs no `inventory` dependency. Registrations in a
/// crate that the final binary never names are dropped by the linker; add
/// `use that_crate as _;` to the binary.
#[macro_export]
macro_rules! config_section {
    ($name:literal, $ty:ty) => {
        $crate::config_section!(@register $name, $ty, false);
    };
    ($name:literal, $ty:ty, required) => {
        $crate::config_section!(@register $name, $ty, true);
    };
    (@register $name:literal, $ty:ty, $required:expr) => {
        $crate::__private::inventory::submit! {
            $crate::__private::SectionRegistration {
                name: $name,
                required: $required,
                load: $crate::__private::load_section::<$ty>,
                type_name: ::core::stringify!($ty),
            }
        }
    };
}

#[derive(Clone)]
struct Entry {
    name: String,
    required: bool,
    load: SectionLoader,
    type_name: &'static str,
}

/// The partner configuration blocks a connector reads, by top-level key.
///
/// [`ConfigSections::linked`] collects every
/// [`config_section!`](crate::config_section) in the binary;
/// [`with`](Self::with) and [`with_required`](Self::with_required) add
/// blocks explicitly (tests).
#[derive(Clone, Default)]
pub struct ConfigSections {
    entries: Vec<Entry>,
}

impl fmt::Debug for ConfigSections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|e| (&e.name, e.type_name)))
            .finish()
    }
}

impl ConfigSections {
    /// No blocks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every block registered with [`config_section!`](crate::config_section)
    /// in this binary, by name.
    pub fn linked() -> Self {
        let mut sections = Self::new();
        for registration in inventory::iter::<SectionRegistration> {
            sections.push(Entry {
                name: registration.name.to_owned(),
                required: registration.required,
                load: registration.load,
                type_name: registration.type_name,
            });
        }
        sections.entries.sort_by(|a, b| a.name.cmp(&b.name));
        sections
    }

    /// Adds the optional block `name`, read as `T`.
    #[must_use]
    pub fn with<T: DeserializeOwned + Send + Sync + 'static>(mut self, name: &str) -> Self {
        self.push(entry::<T>(name, false));
        self
    }

    /// Adds the block `name`, read as `T`, which a file must have.
    #[must_use]
    pub fn with_required<T: DeserializeOwned + Send + Sync + 'static>(
        mut self,
        name: &str,
    ) -> Self {
        self.push(entry::<T>(name, true));
        self
    }

    fn push(&mut self, entry: Entry) {
        // A name registered twice keeps the last registration.
        self.entries.retain(|e| e.name != entry.name);
        self.entries.push(entry);
    }

    /// The top-level keys, to accept in
    /// [`ConfigDocument::check_sections`].
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// `true` when no block is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(name, Rust type, required)` of every block, by name.
    pub fn entries(&self) -> Vec<(&str, &'static str, bool)> {
        self.entries
            .iter()
            .map(|e| (e.name.as_str(), e.type_name, e.required))
            .collect()
    }

    /// Reads every block of `doc` strictly and adds each one present to
    /// `services`; a required block that is missing is an error naming it.
    pub fn load(&self, doc: &ConfigDocument, services: &mut Services) -> Result<(), ConfigError> {
        for entry in &self.entries {
            let present = (entry.load)(doc, &entry.name, services)?;
            if !present && entry.required {
                return Err(doc.invalid(
                    None,
                    format!(
                        "the `{}:` block is missing; this connector needs it ({})",
                        entry.name, entry.type_name
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn entry<T: DeserializeOwned + Send + Sync + 'static>(name: &str, required: bool) -> Entry {
    Entry {
        name: name.to_owned(),
        required,
        load: load_section::<T>,
        type_name: std::any::type_name::<T>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct Loyalty {
        points_per_euro: u32,
    }

    #[test]
    fn a_present_block_becomes_a_service_and_a_missing_required_one_is_refused() {
        let sections = ConfigSections::new().with_required::<Loyalty>("loyalty");
        assert_eq!(sections.names(), ["loyalty"]);
        let mut services = Services::new();
        let doc = ConfigDocument::from_yaml("app.yml", "loyalty:\n  points-per-euro: 2\n");
        assert!(sections.load(&doc, &mut services).is_ok());
        assert_eq!(
            services.get::<Loyalty>().map(|l| l.points_per_euro),
            Some(2)
        );

        let doc = ConfigDocument::from_yaml("app.yml", "other: 1\n");
        let error = sections
            .load(&doc, &mut Services::new())
            .map_err(|e| e.to_string());
        assert!(
            error
                .as_ref()
                .is_err_and(|e| e.contains("the `loyalty:` block is missing")),
            "{error:?}"
        );
        // Optional: absent is fine, and no service is added.
        let mut services = Services::new();
        assert!(
            ConfigSections::new()
                .with::<Loyalty>("loyalty")
                .load(&doc, &mut services)
                .is_ok()
        );
        assert!(services.get::<Loyalty>().is_none());
    }

    #[test]
    fn a_misspelt_key_is_refused_with_its_line_and_a_suggestion() {
        let sections = ConfigSections::new().with::<Loyalty>("loyalty");
        let doc = ConfigDocument::from_yaml("app.yml", "loyalty:\n  points-per-eur: 2\n");
        let error = sections
            .load(&doc, &mut Services::new())
            .map_err(|e| e.to_string());
        let Err(error) = error else {
            panic!("accepted a misspelt key");
        };
        assert_eq!(
            error,
            "app.yml:2:3: loyalty: unknown field `points-per-eur`, expected `points-per-euro`"
        );
    }
}
