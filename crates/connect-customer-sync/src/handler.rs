//! The bundled handler, registered as `CommercetoolsCustomerUpsert`.

use connect_core::{
    FromRoute, HandlerContext, HandlerError, HandlerSetup, Message, MessageHandler, Outcome,
    SetupError, async_trait, handler,
};

use crate::sync::CustomerSync;

/// Upserts the commercetools customer a message is about into Fluent.
///
/// Registered as `CommercetoolsCustomerUpsert` (priority 0, so a partner
/// handler of the same name with a higher priority replaces it). It
/// coalesces: a burst of queued messages for one customer is handled once,
/// because it always reads the current customer.
#[derive(Debug)]
#[handler(name = "CommercetoolsCustomerUpsert")]
pub struct CommercetoolsCustomerUpsert {
    sync: CustomerSync,
}

impl CommercetoolsCustomerUpsert {
    /// The handler over an existing [`CustomerSync`].
    pub fn new(sync: CustomerSync) -> Self {
        Self { sync }
    }

    /// The sync logic.
    pub fn sync(&self) -> &CustomerSync {
        &self.sync
    }
}

impl FromRoute for CommercetoolsCustomerUpsert {
    fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        CustomerSync::from_setup(setup).map(Self::new)
    }
}

#[async_trait]
impl MessageHandler for CommercetoolsCustomerUpsert {
    async fn handle(
        &self,
        _ctx: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        self.sync.handle(message).await
    }

    fn coalesce(&self) -> bool {
        true
    }
}
