//! The bundled handler, registered as `FluentOrderStatusUpdate`.

use connect_core::{
    FromRoute, HandlerContext, HandlerError, HandlerSetup, Message, MessageHandler, Outcome,
    SetupError, async_trait, handler,
};

use crate::sync::OrderStatusSync;

/// Writes a Fluent order's current status to its commercetools order.
///
/// Registered as `FluentOrderStatusUpdate` (priority 0, so a partner
/// handler of the same name with a higher priority replaces it). It
/// coalesces: a burst of queued webhooks for one order is handled once,
/// because it always reads the current order from Fluent.
#[derive(Debug)]
#[handler(name = "FluentOrderStatusUpdate")]
pub struct FluentOrderStatusUpdate {
    sync: OrderStatusSync,
}

impl FluentOrderStatusUpdate {
    /// The handler over an existing [`OrderStatusSync`].
    pub fn new(sync: OrderStatusSync) -> Self {
        Self { sync }
    }

    /// The sync logic.
    pub fn sync(&self) -> &OrderStatusSync {
        &self.sync
    }
}

impl FromRoute for FluentOrderStatusUpdate {
    fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        OrderStatusSync::from_setup(setup).map(Self::new)
    }
}

#[async_trait]
impl MessageHandler for FluentOrderStatusUpdate {
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
