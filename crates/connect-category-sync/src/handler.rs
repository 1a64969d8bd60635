//! The bundled handler, registered as `CommercetoolsCategoryUpsert`.

use connect_core::{
    FromRoute, HandlerContext, HandlerError, HandlerSetup, Message, MessageHandler, Outcome,
    SetupError, async_trait, handler,
};

use crate::sync::CategorySync;

/// Upserts the commercetools category a message is about into Fluent.
///
/// Registered as `CommercetoolsCategoryUpsert` (priority 0, so a partner
/// handler of the same name with a higher priority replaces it). It
/// coalesces: a burst of queued messages for one category is handled once,
/// because it always reads the current category.
#[derive(Debug)]
#[handler(name = "CommercetoolsCategoryUpsert")]
pub struct CommercetoolsCategoryUpsert {
    sync: CategorySync,
}

impl CommercetoolsCategoryUpsert {
    /// The handler over an existing [`CategorySync`].
    pub fn new(sync: CategorySync) -> Self {
        Self { sync }
    }

    /// The sync logic.
    pub fn sync(&self) -> &CategorySync {
        &self.sync
    }
}

impl FromRoute for CommercetoolsCategoryUpsert {
    fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        CategorySync::from_setup(setup).map(Self::new)
    }
}

#[async_trait]
impl MessageHandler for CommercetoolsCategoryUpsert {
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
