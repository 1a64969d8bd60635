//! [`CustomerSync`]: fetch from commercetools, map, upsert into Fluent.

use std::fmt;
use std::sync::Arc;

use connect_commercetools::{CommercetoolsClient, Customer};
use connect_core::{HandlerError, HandlerSetup, Message, Outcome, Retryability, SetupError};
use connect_fluent::{AttributeInput, FluentClient, UpdateCustomerInput};

use crate::mapping::{CustomerMapper, FluentCustomerDraft, attribute};
use crate::settings::{CustomerSyncSettings, OnDelete};

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

/// Event types that say the customer is gone.
const DELETION_EVENTS: [&str; 2] = ["ResourceDeleted", "CustomerDeleted"];

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
    /// regressing to an older commercetools version.
    pub async fn upsert(&self, draft: &FluentCustomerDraft) -> Result<Outcome, HandlerError> {
        let existing = match self.fluent.customer_by_ref(&draft.username).await? {
            Some(existing) => existing,
            None => {
                let input = draft.to_create(self.fluent.retailer_id());
                match self.fluent.create_customer(&input).await {
                    Ok(_) => {
                        tracing::info!(username = %draft.username, version = draft.version, "customer created in Fluent");
                        return Ok(Outcome::labeled(outcome::CREATED));
                    }
                    // Another instance may have created it since the lookup:
                    // look again and update instead.
                    Err(error) if !error.is_retryable() => {
                        match self.fluent.customer_by_ref(&draft.username).await? {
                            Some(existing) => existing,
                            None => return Err(error.into()),
                        }
                    }
                    Err(error) => return Err(error.into()),
                }
            }
        };
        let version_attribute = self.mapper.attribute_name(attribute::VERSION);
        if let Some(written) = existing
            .attribute(&version_attribute)
            .and_then(|a| version_of(&a.value))
            && written > draft.version
        {
            tracing::info!(username = %draft.username, written, fetched = draft.version, "Fluent holds a newer commercetools version; not overwriting");
            return Ok(Outcome::labeled(outcome::STALE));
        }
        let update = draft.diff(&existing, &version_attribute);
        if update.is_empty() {
            tracing::debug!(username = %draft.username, "Fluent already up to date");
            return Ok(Outcome::labeled(outcome::UNCHANGED));
        }
        self.fluent.update_customer(&update).await?;
        tracing::info!(username = %draft.username, version = draft.version, "customer updated in Fluent");
        Ok(Outcome::labeled(outcome::UPDATED))
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

fn version_of(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}
