//! [`CustomerSync`]: fetch from commercetools, map, upsert into Fluent.

use std::fmt;
use std::sync::Arc;

use connect_commercetools::{CommercetoolsClient, Customer};
use connect_core::async_trait;
use connect_core::{HandlerError, HandlerSetup, Message, Outcome, SetupError};
use connect_fluent::upsert::{self, FluentUpsert, UpsertOutcome, version_of};
use connect_fluent::{AttributeInput, FluentClient, UpdateCustomerInput};

use crate::mapping::{CustomerMapper, FluentCustomerDraft, attribute};
use crate::settings::{CustomerSyncSettings, DELETION_EVENTS, OnDelete};

/// The outcome labels customer sync reports (counted by the runtime).
pub mod outcome {
    /// A Fluent customer was created.
    pub const CREATED: &str = "created";
    /// A Fluent customer was updated.
    pub const UPDATED: &str = "updated";
    /// Fluent already matched commercetools: no write.
    pub const UNCHANGED: &str = "unchanged";
    /// Fluent holds a newer commercetools version: no write.
    pub const STALE: &str = "stale";
    /// The customer no longer exists in commercetools: acknowledged.
    pub const DELETED: &str = "deleted";
    /// The customer no longer exists and was marked deleted in Fluent.
    pub const DEACTIVATED: &str = "deactivated";
}

/// The longest customer id accepted, in characters (commercetools ids are
/// 36-character UUIDs; see `connect_commercetools::payload::MAX_RESOURCE_ID_CHARS`).
const MAX_CUSTOMER_ID_CHARS: usize = 256;

/// The customer-sync logic, reusable by partner handlers.
///
/// It always reads the *current* customer from commercetools, so a message
/// only says *which* customer changed; duplicates and out-of-order
/// deliveries converge on the latest state, and a burst for one customer can
/// be handled once.
#[derive(Clone)]
pub struct CustomerSync {
    commercetools: Arc<CommercetoolsClient>,
    fluent: Arc<FluentClient>,
    mapper: CustomerMapper,
}

impl fmt::Debug for CustomerSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerSync")
            .field("project_key", &self.commercetools.project_key())
            .field("mapper", &self.mapper)
            .finish_non_exhaustive()
    }
}

impl CustomerSync {
    /// Customer sync between these clients with `settings`.
    pub fn new(
        commercetools: Arc<CommercetoolsClient>,
        fluent: Arc<FluentClient>,
        settings: CustomerSyncSettings,
    ) -> Self {
        let mapper = CustomerMapper::new(settings, fluent.retailer_id());
        Self {
            commercetools,
            fluent,
            mapper,
        }
    }

    /// Customer sync for a route: settings from its props, clients from the
    /// shared services.
    pub fn from_setup(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        let settings = CustomerSyncSettings::from_setup(setup)?;
        let commercetools = setup.service::<CommercetoolsClient>()?;
        let fluent = setup.service::<FluentClient>()?;
        Ok(Self::new(commercetools, fluent, settings))
    }

    /// The mapper.
    pub fn mapper(&self) -> &CustomerMapper {
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

    /// Handles a message about a customer with the default mapping.
    pub async fn handle(&self, message: &Message) -> Result<Outcome, HandlerError> {
        self.handle_with(message, |_, _| {}).await
    }

    /// Handles a message about a customer, letting `extend` adjust the
    /// mapped draft (add attributes, override fields) before it is written.
    pub async fn handle_with(
        &self,
        message: &Message,
        extend: impl FnOnce(&Customer, &mut FluentCustomerDraft) + Send,
    ) -> Result<Outcome, HandlerError> {
        let id = message.resource_id().ok_or_else(|| {
            HandlerError::unprocessable(format!(
                "message {} has no resource id; customer sync needs the customer id",
                message.id
            ))
        })?;
        check_customer_id(&message.id, id)?;
        let deletion = message
            .event_type
            .as_deref()
            .is_some_and(|t| DELETION_EVENTS.contains(&t));
        if deletion {
            return self.deleted(id).await;
        }
        match self.commercetools.find_customer(id).await? {
            Some(customer) => self.sync_customer(&customer, extend).await,
            None => self.deleted(id).await,
        }
    }

    /// Maps `customer` (then `extend`) and upserts it.
    pub async fn sync_customer(
        &self,
        customer: &Customer,
        extend: impl FnOnce(&Customer, &mut FluentCustomerDraft) + Send,
    ) -> Result<Outcome, HandlerError> {
        let mut draft = self
            .mapper
            .map(customer)
            .map_err(HandlerError::unprocessable)?;
        extend(customer, &mut draft);
        self.upsert(&draft).await
    }

    /// Creates the Fluent customer, or updates only what changed, never
    /// regressing to an older commercetools version and never touching a
    /// customer of another retailer (unprocessable, naming both retailers):
    /// [`connect_fluent::upsert`] with the customer's checks.
    pub async fn upsert(&self, draft: &FluentCustomerDraft) -> Result<Outcome, HandlerError> {
        let write = CustomerWrite {
            sync: self,
            draft,
            version_attribute: self.mapper.attribute_name(attribute::VERSION),
        };
        let done = upsert::upsert(&self.fluent, &write).await?;
        Ok(Outcome::labeled(match done {
            UpsertOutcome::Created => outcome::CREATED,
            UpsertOutcome::Updated => outcome::UPDATED,
            UpsertOutcome::Unchanged => outcome::UNCHANGED,
            UpsertOutcome::Stale { .. } => outcome::STALE,
        }))
    }

    /// The customer `id` no longer exists in commercetools.
    pub async fn deleted(&self, id: &str) -> Result<Outcome, HandlerError> {
        if self.mapper.settings().on_delete == OnDelete::Acknowledge {
            tracing::info!(
                customer_id = id,
                "customer deleted in commercetools; acknowledged"
            );
            return Ok(Outcome::labeled(outcome::DELETED));
        }
        let Some(username) = self.mapper.username_for_id(id) else {
            return Err(HandlerError::unprocessable(format!(
                "cannot derive the Fluent username of deleted customer {id} from username-template `{}`",
                self.mapper.settings().username_template
            )));
        };
        let Some(existing) = self.fluent.customer_by_ref(&username).await? else {
            return Ok(Outcome::labeled(outcome::DELETED));
        };
        self.check_retailer(&existing, &username)?;
        let deleted = self.mapper.attribute_name(attribute::DELETED);
        if existing
            .attribute(&deleted)
            .is_some_and(|a| a.value == serde_json::Value::Bool(true))
        {
            return Ok(Outcome::labeled(outcome::UNCHANGED));
        }
        let mut update = UpdateCustomerInput::new(&username);
        update.attributes = Some(vec![AttributeInput::new(deleted, "BOOLEAN", true)]);
        self.fluent.update_customer(&update).await?;
        tracing::info!(customer_id = id, %username, "customer deleted in commercetools; marked deleted in Fluent");
        Ok(Outcome::labeled(outcome::DEACTIVATED))
    }
}

impl CustomerSync {
    /// Refuses a Fluent customer that does not belong to the configured
    /// retailer: in an account with several retailers, a username may be
    /// another retailer's customer, and updating it would corrupt that
    /// retailer's data.
    fn check_retailer(
        &self,
        existing: &connect_fluent::Customer,
        username: &str,
    ) -> Result<(), HandlerError> {
        let ours = self.fluent.retailer_id();
        let theirs = existing.retailer.as_ref().map(|r| r.id.as_str());
        if theirs == Some(ours) {
            return Ok(());
        }
        let theirs = theirs.map_or_else(
            || "no retailer Fluent would name".to_owned(),
            |id| format!("retailer {id}"),
        );
        tracing::error!(%username, retailer = ours, other = %theirs, "Fluent customer belongs to another retailer; not updated");
        Err(HandlerError::unprocessable(format!(
            "Fluent customer `{username}` belongs to {theirs}, not to the configured retailer {ours} (fluent.retailer-id); it was not changed. Usernames are unique in the whole Fluent account: use a retailer-scoped username-template such as \"{{retailerId}}-{{id}}\" (see docs/mapping.md)"
        )))
    }

    /// A `truncated` or `omitted` attribute Fluent still holds from an
    /// earlier version is emptied once the values fit again.
    fn clear_stale_marks<'d>(
        &self,
        draft: &'d FluentCustomerDraft,
        existing: &connect_fluent::Customer,
    ) -> std::borrow::Cow<'d, FluentCustomerDraft> {
        let mut draft = std::borrow::Cow::Borrowed(draft);
        for mark in [attribute::TRUNCATED, attribute::OMITTED] {
            let name = self.mapper.attribute_name(mark);
            let stale = existing
                .attribute(&name)
                .is_some_and(|a| a.value.as_str().is_some_and(|v| !v.is_empty()));
            if stale && draft.attribute(&name).is_none() {
                draft
                    .to_mut()
                    .set_attribute(AttributeInput::string(name, ""));
            }
        }
        draft
    }
}

/// A draft with what [`upsert::upsert`] needs to write it: the retailer
/// check before any write, and the `truncated` / `omitted` marks emptied
/// once the values fit again.
struct CustomerWrite<'a> {
    sync: &'a CustomerSync,
    draft: &'a FluentCustomerDraft,
    version_attribute: String,
}

#[async_trait]
impl FluentUpsert for CustomerWrite<'_> {
    type Current = connect_fluent::Customer;
    type Update = UpdateCustomerInput;
    type Error = HandlerError;

    fn reference(&self) -> &str {
        &self.draft.username
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
        let draft = self.sync.clear_stale_marks(self.draft, current);
        let update = draft.diff(current, &self.version_attribute);
        (!update.is_empty()).then_some(update)
    }

    fn check(&self, current: &Self::Current) -> Result<(), HandlerError> {
        self.sync.check_retailer(current, &self.draft.username)
    }

    async fn read(
        &self,
        fluent: &FluentClient,
    ) -> Result<Option<Self::Current>, connect_fluent::Error> {
        fluent.customer_by_ref(&self.draft.username).await
    }

    async fn create(&self, fluent: &FluentClient) -> Result<(), connect_fluent::Error> {
        let input = self.draft.to_create(fluent.retailer_id());
        fluent.create_customer(&input).await.map(drop)
    }

    async fn update(
        &self,
        fluent: &FluentClient,
        update: &Self::Update,
    ) -> Result<(), connect_fluent::Error> {
        fluent.update_customer(update).await.map(drop)
    }
}

/// Refuses an id no commercetools customer can have before it reaches a
/// URL: an empty id would address the customer list, a huge one fail like a
/// network error and be retried in vain.
fn check_customer_id(message_id: &str, id: &str) -> Result<(), HandlerError> {
    let problem = if id.trim().is_empty() {
        "is empty".to_owned()
    } else if id.chars().count() > MAX_CUSTOMER_ID_CHARS {
        format!(
            "is {} characters long (at most {MAX_CUSTOMER_ID_CHARS}; commercetools ids are 36-character UUIDs)",
            id.chars().count()
        )
    } else if id.chars().any(char::is_control) {
        "holds control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(HandlerError::unprocessable(format!(
        "message {message_id}: the customer id {problem}; check what produced this message"
    )))
}
