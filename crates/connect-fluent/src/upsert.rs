//! Upsert a Fluent entity by `ref`: the write discipline every
//! commercetools → Fluent sync shares.
//!
//! [`upsert`] reads what Fluent holds under the draft's ref, creates the
//! entity when there is none, and otherwise updates only what changed:
//! it skips a no-op write, and it never overwrites Fluent with an older
//! commercetools version than the one it last wrote (kept in an attribute).
//! A sync describes its entity once, by implementing [`FluentUpsert`] for
//! its draft; the discipline is the same for customers, categories or a
//! partner's entity.
//!
//! ```
//! use connect_fluent::upsert::{FluentUpsert, UpsertOutcome, Write, upsert};
//! use connect_fluent::{
//!     Category, CreateCategoryInput, Error, FluentClient, UpdateCategoryInput,
//! };
//! use connect_testkit::fluent::FluentEmulator;
//!
//! struct Draft { reference: String, name: String, version: u64 }
//!
//! #[async_trait::async_trait]
//! impl FluentUpsert for Draft {
//!     type Current = Category;
//!     type Update = UpdateCategoryInput;
//!     type Error = Error;
//!     fn reference(&self) -> &str { &self.reference }
//!     fn version(&self) -> u64 { self.version }
//!     fn written_version(&self, current: &Category) -> Option<u64> {
//!         current.attribute("version").and_then(|a| a.value.as_u64())
//!     }
//!     fn diff(&self, current: &Category) -> Option<UpdateCategoryInput> {
//!         let mut update = UpdateCategoryInput::new(&self.reference, "DEFAULT:1");
//!         if current.name.as_deref() != Some(self.name.as_str()) {
//!             update.name = Some(self.name.clone());
//!         }
//!         (!update.is_empty()).then_some(update)
//!     }
//!     async fn read(&self, fluent: &FluentClient) -> Result<Option<Category>, Error> {
//!         fluent.category(&self.reference, "DEFAULT:1").await
//!     }
//!     async fn create(&self, fluent: &FluentClient) -> Result<(), Error> {
//!         let input = CreateCategoryInput::new(&self.reference, "DEFAULT:1", "STANDARD", &self.name);
//!         fluent.create_category(&input).await.map(drop)
//!     }
//!     async fn update(&self, fluent: &FluentClient, update: &UpdateCategoryInput) -> Result<(), Error> {
//!         fluent.update_category(update).await.map(drop)
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let emulator = FluentEmulator::start().await?;
//! let fluent = FluentClient::new(emulator.config())?;
//! let draft = Draft { reference: "shoes".into(), name: "Shoes".into(), version: 1 };
//! assert_eq!(upsert(&fluent, &draft).await?, UpsertOutcome::Created);
//! assert_eq!(upsert(&fluent, &draft).await?, UpsertOutcome::Unchanged);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use async_trait::async_trait;
use connect_core::Retryability;

use crate::{Error, FluentClient};

/// What [`upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// The entity was created.
    Created,
    /// The entity was updated with the changed fields only.
    Updated,
    /// Fluent already matched the draft: no write.
    Unchanged,
    /// Fluent holds a newer commercetools version than the draft's: no write.
    Stale {
        /// The version Fluent holds.
        written: u64,
    },
}

impl UpsertOutcome {
    /// The outcome label a sync reports: `created`, `updated`, `unchanged`
    /// or `stale`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Stale { .. } => "stale",
        }
    }
}

/// The write [`upsert`] is about to make, shown to
/// [`FluentUpsert::before_write`].
#[derive(Debug)]
pub enum Write<'a, U> {
    /// A create (Fluent holds nothing under the ref).
    Create,
    /// An update with these changes.
    Update(&'a U),
}

/// A draft of a Fluent entity that [`upsert`] can write.
///
/// `read`, `create` and `update` are the entity's three GraphQL
/// operations; `diff` compares the draft with what Fluent holds and returns
/// only the changes (`None`: nothing changed). The version of the draft is
/// the commercetools version it was mapped from; `written_version` reads
/// the one Fluent holds (usually from an attribute the writes keep).
#[async_trait]
pub trait FluentUpsert: Send + Sync {
    /// The entity as Fluent returns it.
    type Current: Send + Sync;
    /// The update input (changes only).
    type Update: Send + Sync;
    /// The error the checks return; Fluent errors convert into it.
    type Error: From<Error> + Send;

    /// The ref the entity is found by (for logs).
    fn reference(&self) -> &str;

    /// The commercetools version the draft was mapped from.
    fn version(&self) -> u64;

    /// The commercetools version Fluent holds, if it says.
    fn written_version(&self, current: &Self::Current) -> Option<u64>;

    /// The update that brings `current` to the draft, or `None` when
    /// nothing changed.
    fn diff(&self, current: &Self::Current) -> Option<Self::Update>;

    /// Refuses to touch `current` at all (e.g. an entity of another
    /// retailer). Runs before the version check. Default: accept.
    fn check(&self, _current: &Self::Current) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Runs just before a write, e.g. to check that an entity the write
    /// links to exists. Default: nothing.
    async fn before_write(
        &self,
        _fluent: &FluentClient,
        _write: Write<'_, Self::Update>,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Reads the entity under [`reference`](Self::reference), `None` when
    /// Fluent has none.
    async fn read(&self, fluent: &FluentClient) -> Result<Option<Self::Current>, Error>;

    /// Creates the entity from the draft.
    async fn create(&self, fluent: &FluentClient) -> Result<(), Error>;

    /// Writes `update`.
    async fn update(&self, fluent: &FluentClient, update: &Self::Update) -> Result<(), Error>;
}

/// Creates `draft`'s entity in Fluent, or updates only what changed.
///
/// 1. Reads the entity by ref; when there is none, creates it. A create
///    refused as unprocessable (another instance may have created it since
///    the read) reads again and goes on with an update; a create still
///    without an entity returns the create's error.
/// 2. [`check`](FluentUpsert::check)s what Fluent holds.
/// 3. When Fluent holds a newer commercetools version than the draft's:
///    [`UpsertOutcome::Stale`], no write.
/// 4. When nothing changed: [`UpsertOutcome::Unchanged`], no write.
/// 5. Otherwise writes only the changes: [`UpsertOutcome::Updated`].
///
/// With a dry-run client ([`FluentClient::with_dry_run`]) the same steps
/// run, reads included, but the create or update is recorded in the
/// client's [`DryRun`](crate::dry_run::DryRun) plan instead of being sent;
/// the outcome is the one a real write would have had.
pub async fn upsert<U: FluentUpsert>(
    fluent: &FluentClient,
    draft: &U,
) -> Result<UpsertOutcome, U::Error> {
    if let Some(plan) = fluent.dry_run() {
        return crate::dry_run::plan_upsert(fluent, plan, draft).await;
    }
    let current = match draft.read(fluent).await? {
        Some(current) => current,
        None => {
            draft.before_write(fluent, Write::Create).await?;
            match draft.create(fluent).await {
                Ok(()) => {
                    tracing::info!(
                        reference = draft.reference(),
                        version = draft.version(),
                        "created in Fluent"
                    );
                    return Ok(UpsertOutcome::Created);
                }
                Err(error) if !error.is_retryable() => match draft.read(fluent).await? {
                    Some(current) => current,
                    None => return Err(error.into()),
                },
                Err(error) => return Err(error.into()),
            }
        }
    };
    draft.check(&current)?;
    if let Some(written) = draft.written_version(&current)
        && written > draft.version()
    {
        tracing::info!(
            reference = draft.reference(),
            written,
            fetched = draft.version(),
            "Fluent holds a newer commercetools version; not overwriting"
        );
        return Ok(UpsertOutcome::Stale { written });
    }
    let Some(update) = draft.diff(&current) else {
        tracing::debug!(reference = draft.reference(), "Fluent already up to date");
        return Ok(UpsertOutcome::Unchanged);
    };
    draft.before_write(fluent, Write::Update(&update)).await?;
    draft.update(fluent, &update).await?;
    tracing::info!(
        reference = draft.reference(),
        version = draft.version(),
        "updated in Fluent"
    );
    Ok(UpsertOutcome::Updated)
}

/// Reads a commercetools version kept in a Fluent attribute value (a number,
/// or a string of digits).
pub fn version_of(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_versions() {
        assert_eq!(UpsertOutcome::Created.label(), "created");
        assert_eq!(UpsertOutcome::Stale { written: 3 }.label(), "stale");
        assert_eq!(version_of(&serde_json::json!(4)), Some(4));
        assert_eq!(version_of(&serde_json::json!("12")), Some(12));
        assert_eq!(version_of(&serde_json::json!("x")), None);
        assert_eq!(version_of(&serde_json::Value::Null), None);
    }
}
