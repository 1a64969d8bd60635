//! [`CategorySync`]: fetch from commercetools, map, upsert into Fluent.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use connect_commercetools::{Category, CommercetoolsClient};
use connect_core::{HandlerError, HandlerSetup, Message, Outcome, SetupError};
use connect_fluent::upsert::{self, FluentUpsert, UpsertOutcome, Write, version_of};
use connect_fluent::{FluentClient, UpdateCategoryInput};

use crate::mapping::{CategoryMapper, FluentCategoryDraft, INACTIVE, Identifiers, attribute};
use crate::settings::{CategorySyncSettings, DELETION_EVENTS, OnDelete};

/// The outcome labels category sync reports (counted by the runtime): the
/// shared labels of `connect_commercetools::sync::outcome`.
pub mod outcome {
    use connect_commercetools::sync::outcome as shared;

    /// A Fluent category was created.
    pub const CREATED: &str = shared::CREATED;
    /// A Fluent category was updated.
    pub const UPDATED: &str = shared::UPDATED;
    /// Fluent already matched commercetools: no write.
    pub const UNCHANGED: &str = shared::UNCHANGED;
    /// Fluent holds a newer commercetools version: no write.
    pub const STALE: &str = shared::STALE;
    /// The category no longer exists in commercetools: acknowledged.
    pub const DELETED: &str = shared::DELETED;
    /// The category no longer exists and was set `INACTIVE` in Fluent.
    pub const DEACTIVATED: &str = shared::DEACTIVATED;
}

/// How long the runtime waits, at least, before it retries a category
/// whose parent is not in Fluent yet.
pub const PARENT_RETRY_AFTER: Duration = Duration::from_millis(500);

/// The longest category id accepted, in characters.
const MAX_CATEGORY_ID_CHARS: usize = 256;

/// The category-sync logic, reusable by partner handlers.
///
/// It always reads the *current* category from commercetools, so a message
/// only says *which* category changed; duplicates and out-of-order
/// deliveries converge on the latest state, and a burst for one category
/// can be handled once.
#[derive(Clone)]
pub struct CategorySync {
    commercetools: Arc<CommercetoolsClient>,
    fluent: Arc<FluentClient>,
    mapper: CategoryMapper,
}

impl fmt::Debug for CategorySync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CategorySync")
            .field("project_key", &self.commercetools.project_key())
            .field("mapper", &self.mapper)
            .finish_non_exhaustive()
    }
}

impl CategorySync {
    /// Category sync between these clients with `settings`.
    pub fn new(
        commercetools: Arc<CommercetoolsClient>,
        fluent: Arc<FluentClient>,
        settings: CategorySyncSettings,
    ) -> Self {
        Self {
            commercetools,
            fluent,
            mapper: CategoryMapper::new(settings),
        }
    }

    /// Category sync for a route: settings from its props, clients from
    /// the shared services.
    pub fn from_setup(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        let settings = CategorySyncSettings::from_setup(setup)?;
        let commercetools = setup.service::<CommercetoolsClient>()?;
        let fluent = setup.service::<FluentClient>()?;
        Ok(Self::new(commercetools, fluent, settings))
    }

    /// The mapper.
    pub fn mapper(&self) -> &CategoryMapper {
        &self.mapper
    }

    /// The commercetools client.
    pub fn commercetools(&self) -> &CommercetoolsClient {
        &self.commercetools
    }

    /// The Fluent client.
    pub fn fluent(&self) -> &FluentClient {
        &self.fluent
    }

    /// Handles a message about a category with the default mapping.
    pub async fn handle(&self, message: &Message) -> Result<Outcome, HandlerError> {
        self.handle_with(message, |_, _| {}).await
    }

    /// Handles a message about a category, letting `extend` adjust the
    /// mapped draft before it is written.
    pub async fn handle_with(
        &self,
        message: &Message,
        extend: impl FnOnce(&Category, &mut FluentCategoryDraft) + Send,
    ) -> Result<Outcome, HandlerError> {
        let id = message.resource_id().ok_or_else(|| {
            HandlerError::unprocessable(format!(
                "message {} has no resource id; category sync needs the category id",
                message.id
            ))
        })?;
        check_category_id(&message.id, id)?;
        let deletion = message
            .event_type
            .as_deref()
            .is_some_and(|t| DELETION_EVENTS.contains(&t));
        if !deletion && let Some(category) = self.commercetools.find::<Category>(id).await? {
            return self.sync_category(&category, extend).await;
        }
        let identifiers = user_provided_identifiers(message);
        self.deleted(Identifiers {
            id,
            key: identifiers.0.as_deref(),
            external_id: identifiers.1.as_deref(),
        })
        .await
    }

    /// Maps `category` (then `extend`) and upserts it.
    pub async fn sync_category(
        &self,
        category: &Category,
        extend: impl FnOnce(&Category, &mut FluentCategoryDraft) + Send,
    ) -> Result<Outcome, HandlerError> {
        let parent_ref = self.parent_ref(category).await?;
        let mut draft = self
            .mapper
            .map(category, parent_ref)
            .map_err(HandlerError::unprocessable)?;
        extend(category, &mut draft);
        self.upsert(&draft).await
    }

    /// Creates the Fluent category, or updates only what changed, never
    /// regressing to an older commercetools version. A category whose
    /// parent is not in Fluent yet is a retryable error.
    pub async fn upsert(&self, draft: &FluentCategoryDraft) -> Result<Outcome, HandlerError> {
        let write = CategoryWrite {
            draft,
            version_attribute: self.mapper.attribute_name(attribute::VERSION),
            cleared: self.mapper.clearable_attributes(),
        };
        let done = upsert::upsert(&self.fluent, &write).await?;
        Ok(Outcome::labeled(match done {
            UpsertOutcome::Created => outcome::CREATED,
            UpsertOutcome::Updated => outcome::UPDATED,
            UpsertOutcome::Unchanged => outcome::UNCHANGED,
            UpsertOutcome::Stale { .. } => outcome::STALE,
        }))
    }

    /// The category with these identifiers no longer exists in
    /// commercetools.
    pub async fn deleted(&self, ids: Identifiers<'_>) -> Result<Outcome, HandlerError> {
        if self.mapper.settings().on_delete == OnDelete::Acknowledge {
            tracing::info!(
                category_id = ids.id,
                "category deleted in commercetools; acknowledged"
            );
            return Ok(Outcome::labeled(outcome::DELETED));
        }
        let reference = self.mapper.reference(ids).map_err(|error| {
            HandlerError::unprocessable(format!(
                "cannot derive the Fluent ref of deleted category {}: {error}; the deletion message carried no such identifier",
                ids.id
            ))
        })?;
        let catalogue = &self.mapper.settings().catalogue_ref;
        let Some(existing) = self.fluent.category(&reference, catalogue).await? else {
            return Ok(Outcome::labeled(outcome::DELETED));
        };
        if existing.status.as_deref() == Some(INACTIVE) {
            return Ok(Outcome::labeled(outcome::UNCHANGED));
        }
        let mut update = UpdateCategoryInput::new(&reference, catalogue);
        update.status = Some(INACTIVE.to_owned());
        self.fluent.update_category(&update).await?;
        tracing::info!(category_id = ids.id, %reference, "category deleted in commercetools; set INACTIVE in Fluent");
        Ok(Outcome::labeled(outcome::DEACTIVATED))
    }

    /// The Fluent ref of `category`'s parent: from the parent's id when
    /// the template needs nothing else, otherwise from the parent read from
    /// commercetools (a reference carries only the id).
    async fn parent_ref(&self, category: &Category) -> Result<Option<String>, HandlerError> {
        let Some(parent) = &category.parent else {
            return Ok(None);
        };
        let ids = Identifiers {
            id: &parent.id,
            key: None,
            external_id: None,
        };
        if self.mapper.reference_needs_only_id() {
            return self
                .mapper
                .reference(ids)
                .map(Some)
                .map_err(HandlerError::unprocessable);
        }
        let Some(parent) = self.commercetools.find::<Category>(&parent.id).await? else {
            // Deleted since the category was read: the category itself has
            // changed (or gone) too, so a later attempt reads both again.
            return Err(HandlerError::retryable(format!(
                "the parent {} of category {} is no longer in commercetools",
                parent.id, category.id
            ))
            .with_retry_after(PARENT_RETRY_AFTER));
        };
        self.mapper
            .reference(Identifiers::of(&parent))
            .map(Some)
            .map_err(HandlerError::unprocessable)
    }
}

/// A draft with what [`upsert::upsert`] needs to write it.
struct CategoryWrite<'a> {
    draft: &'a FluentCategoryDraft,
    version_attribute: String,
    cleared: Vec<String>,
}

#[async_trait]
impl FluentUpsert for CategoryWrite<'_> {
    type Current = connect_fluent::Category;
    type Update = UpdateCategoryInput;
    type Error = HandlerError;

    fn reference(&self) -> &str {
        &self.draft.reference
    }

    fn version(&self) -> u64 {
        self.draft.version
    }

    fn written_version(&self, current: &Self::Current) -> Option<u64> {
        current
            .attribute(&self.version_attribute)
            .and_then(|a| version_of(&a.value))
    }

    fn diff(&self, current: &Self::Current) -> Option<Self::Update> {
        let update = self
            .draft
            .diff(current, &self.version_attribute, &self.cleared);
        (!update.is_empty()).then_some(update)
    }

    async fn before_write(
        &self,
        fluent: &FluentClient,
        write: Write<'_, Self::Update>,
    ) -> Result<(), HandlerError> {
        let parent = match write {
            Write::Create => self.draft.parent_ref.as_deref(),
            Write::Update(update) => update
                .parent_category
                .as_ref()
                .map(|p| p.reference.as_str()),
        };
        let Some(parent) = parent else {
            return Ok(());
        };
        // In a dry run, a parent the same run would create counts as there:
        // the real run creates it first (its child is retried until then).
        if fluent
            .dry_run()
            .is_some_and(|plan| plan.plans_create("category", parent))
        {
            return Ok(());
        }
        if fluent
            .category(parent, &self.draft.catalogue_ref)
            .await?
            .is_some()
        {
            return Ok(());
        }
        tracing::debug!(reference = %self.draft.reference, parent, "parent category not in Fluent yet; retrying later");
        Err(HandlerError::retryable(format!(
            "parent category `{parent}` is not in Fluent yet (catalogue {}); category `{}` is retried once it is",
            self.draft.catalogue_ref, self.draft.reference
        ))
        .with_retry_after(PARENT_RETRY_AFTER))
    }

    async fn read(
        &self,
        fluent: &FluentClient,
    ) -> Result<Option<Self::Current>, connect_fluent::Error> {
        fluent
            .category(&self.draft.reference, &self.draft.catalogue_ref)
            .await
    }

    async fn create(&self, fluent: &FluentClient) -> Result<(), connect_fluent::Error> {
        fluent
            .create_category(&self.draft.to_create())
            .await
            .map(drop)
    }

    async fn update(
        &self,
        fluent: &FluentClient,
        update: &Self::Update,
    ) -> Result<(), connect_fluent::Error> {
        fluent.update_category(update).await.map(drop)
    }
}

/// The `key` and `externalId` of the resource a commercetools notification
/// names (`resourceUserProvidedIdentifiers`), which a deleted category can
/// no longer be read for.
fn user_provided_identifiers(message: &Message) -> (Option<String>, Option<String>) {
    let Ok(payload) = message.payload.json() else {
        return (None, None);
    };
    let ids = &payload["resourceUserProvidedIdentifiers"];
    let text = |name: &str| ids[name].as_str().map(str::to_owned);
    (text("key"), text("externalId"))
}

/// Refuses an id no commercetools category can have before it reaches a
/// URL.
fn check_category_id(message_id: &str, id: &str) -> Result<(), HandlerError> {
    let problem = if id.trim().is_empty() {
        "is empty".to_owned()
    } else if id.chars().count() > MAX_CATEGORY_ID_CHARS {
        format!(
            "is {} characters long (at most {MAX_CATEGORY_ID_CHARS}; commercetools ids are 36-character UUIDs)",
            id.chars().count()
        )
    } else if id.chars().any(char::is_control) {
        "holds control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(HandlerError::unprocessable(format!(
        "message {message_id}: the category id {problem}; check what produced this message"
    )))
}
