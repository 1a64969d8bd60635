//! [`OrderStatusSync`]: read the order from Fluent, map its status, write
//! the commercetools states that differ.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use connect_commercetools::{
    CommercetoolsClient, Order, OrderUpdateAction, PaymentState, ShipmentState, Update,
};
use connect_core::{HandlerError, HandlerSetup, Message, Outcome, SetupError};
use connect_fluent::FluentClient;

use crate::settings::{OrderLookup, OrderStatusSettings, TargetStates};

/// The outcome labels the order status sync reports (counted by the
/// runtime).
pub mod outcome {
    /// At least one commercetools state was changed.
    pub const UPDATED: &str = "updated";
    /// commercetools already had the mapped states: no write.
    pub const UNCHANGED: &str = "unchanged";
    /// The Fluent status is in no mapping: acknowledged, nothing written.
    pub const UNMAPPED: &str = "unmapped";
}

/// How many update requests one message may make when commercetools
/// answers 409 `ConcurrentModification` (each re-reads the order and
/// re-plans); past it the 409 is retryable.
pub const MAX_UPDATE_ATTEMPTS: u32 = 5;

/// Unmapped statuses remembered for the one-WARN-per-status rule; past it
/// the set starts again (statuses come from a workflow: a handful).
const MAX_REMEMBERED_STATUSES: usize = 1_000;

/// The order-status logic, reusable by partner handlers.
///
/// It never trusts the status a webhook carries: it reads the order's
/// *current* status from Fluent (`orderById`), so late, duplicated or
/// reordered webhooks all converge on Fluent's state.
#[derive(Clone)]
pub struct OrderStatusSync {
    commercetools: Arc<CommercetoolsClient>,
    fluent: Arc<FluentClient>,
    settings: OrderStatusSettings,
    warned: Arc<Mutex<HashSet<String>>>,
}

impl fmt::Debug for OrderStatusSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderStatusSync")
            .field("project_key", &self.commercetools.project_key())
            .field("retailer_id", &self.fluent.retailer_id())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl OrderStatusSync {
    /// The sync between these clients with `settings`.
    pub fn new(
        commercetools: Arc<CommercetoolsClient>,
        fluent: Arc<FluentClient>,
        settings: OrderStatusSettings,
    ) -> Self {
        Self {
            commercetools,
            fluent,
            settings,
            warned: Arc::default(),
        }
    }

    /// The sync for a route: settings from its props, clients from the
    /// shared services.
    pub fn from_setup(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        let settings = OrderStatusSettings::from_setup(setup)?;
        let commercetools = setup.service::<CommercetoolsClient>()?;
        let fluent = setup.service::<FluentClient>()?;
        Ok(Self::new(commercetools, fluent, settings))
    }

    /// The settings.
    pub fn settings(&self) -> &OrderStatusSettings {
        &self.settings
    }

    /// Handles a message about a Fluent order (resource `ORDER`/`{id}`, as
    /// a webhook listener makes it): reads the order from Fluent, maps its
    /// status, and writes the commercetools states that differ in one
    /// update.
    pub async fn handle(&self, message: &Message) -> Result<Outcome, HandlerError> {
        let resource = message.resource.as_ref().ok_or_else(|| {
            HandlerError::unprocessable(format!(
                "message {} names no resource; the order status sync needs the Fluent order id (a webhook's entityType/entityId)",
                message.id
            ))
        })?;
        if !resource.type_id.eq_ignore_ascii_case("ORDER") {
            return Err(HandlerError::unprocessable(format!(
                "message {} is about a {} (`{}`), not an ORDER; map only order webhooks (e.g. OrderStatus) to this route in webhook-mapping",
                message.id, resource.type_id, resource.id
            )));
        }
        self.sync_order(&resource.id).await
    }

    /// Brings the commercetools order of Fluent order `fluent_id` to the
    /// states its current Fluent status maps to.
    pub async fn sync_order(&self, fluent_id: &str) -> Result<Outcome, HandlerError> {
        if fluent_id.trim().is_empty() || fluent_id.chars().any(char::is_control) {
            return Err(HandlerError::unprocessable(format!(
                "the Fluent order id `{}` is empty or holds control characters; check what produced this message",
                fluent_id.escape_debug()
            )));
        }
        let order = self.fluent.order_by_id(fluent_id).await?.ok_or_else(|| {
            HandlerError::unprocessable(format!(
                "Fluent has no order with id `{fluent_id}` (orderById answered nothing): the webhook names an order this account does not hold; check that fluent.account matches the account whose workflow sends the webhooks"
            ))
        })?;
        let ours = self.fluent.retailer_id();
        if let Some(theirs) = order.retailer_id().filter(|theirs| *theirs != ours) {
            return Err(HandlerError::unprocessable(format!(
                "Fluent order `{fluent_id}` belongs to retailer {theirs}, not to the configured retailer {ours} (fluent.retailer-id); commercetools was not changed"
            )));
        }
        let Some(status) = order.status.as_deref().filter(|s| !s.is_empty()) else {
            return Err(HandlerError::unprocessable(format!(
                "Fluent order `{fluent_id}` has no status"
            )));
        };
        let target = self.settings.target(status);
        if target.is_empty() {
            self.warn_unmapped(status, fluent_id);
            return Ok(Outcome::labeled(outcome::UNMAPPED));
        }
        let Some(reference) = order.reference.as_deref().filter(|r| !r.is_empty()) else {
            return Err(HandlerError::unprocessable(format!(
                "Fluent order `{fluent_id}` has no ref, so its commercetools order cannot be found"
            )));
        };
        let plan = |current: &Order| actions(&target, current);
        let lookup = self.settings.order_lookup;
        let update = match lookup {
            OrderLookup::OrderNumber => {
                self.commercetools
                    .update_order_with_by_number(reference, MAX_UPDATE_ATTEMPTS, plan)
                    .await
            }
            OrderLookup::Id => {
                self.commercetools
                    .update_with::<Order, _, _>(reference, MAX_UPDATE_ATTEMPTS, plan)
                    .await
            }
        };
        match update {
            Ok(Update::Updated(updated)) => {
                tracing::info!(
                    fluent_order = fluent_id, %status, order_id = %updated.id,
                    order_state = %updated.order_state,
                    shipment_state = ?updated.shipment_state.map(ShipmentState::as_str),
                    payment_state = ?updated.payment_state.map(PaymentState::as_str),
                    version = updated.version,
                    "commercetools order updated from Fluent"
                );
                Ok(Outcome::labeled(outcome::UPDATED))
            }
            Ok(Update::Unchanged(_)) => {
                tracing::debug!(fluent_order = fluent_id, %status, "commercetools order already up to date");
                Ok(Outcome::labeled(outcome::UNCHANGED))
            }
            Err(error) if error.is_not_found() => {
                let how = match lookup {
                    OrderLookup::OrderNumber => "order number",
                    OrderLookup::Id => "id",
                };
                Err(HandlerError::unprocessable(format!(
                    "commercetools has no order with {how} `{reference}` (the ref of Fluent order `{fluent_id}`, order-lookup: {lookup}); check order-lookup, or that the order was created in commercetools"
                )))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// One WARN per unmapped status, not per message.
    fn warn_unmapped(&self, status: &str, fluent_id: &str) {
        let first = {
            let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
            if warned.len() >= MAX_REMEMBERED_STATUSES && !warned.contains(status) {
                warned.clear();
            }
            warned.insert(status.to_owned())
        };
        if first {
            tracing::warn!(
                %status, fluent_order = fluent_id,
                "Fluent status is in no order-state-mapping, shipment-state-mapping or payment-state-mapping; orders in it are acknowledged and not written (counted as `unmapped`; logged once per status)"
            );
        } else {
            tracing::debug!(%status, fluent_order = fluent_id, "unmapped Fluent status");
        }
    }
}

/// The actions that bring `current` to `target`: only the states that
/// differ, in one update.
pub fn actions(target: &TargetStates, current: &Order) -> Vec<OrderUpdateAction> {
    let mut actions = Vec::new();
    if let Some(order_state) = target.order_state
        && current.order_state != order_state
    {
        actions.push(OrderUpdateAction::ChangeOrderState { order_state });
    }
    if let Some(shipment_state) = target.shipment_state
        && current.shipment_state != Some(shipment_state)
    {
        actions.push(OrderUpdateAction::ChangeShipmentState { shipment_state });
    }
    if let Some(payment_state) = target.payment_state
        && current.payment_state != Some(payment_state)
    {
        actions.push(OrderUpdateAction::ChangePaymentState { payment_state });
    }
    actions
}
