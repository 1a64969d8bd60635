//! Handlers defined with `#[handler]` in a crate of their own, to prove that
//! link-time registration reaches a binary that names this crate
//! (`use linked_handlers as _;`) and to exercise priorities and `FromRoute`.

use connect_core::{
    FromRoute, HandlerContext, HandlerError, HandlerSetup, Message, MessageHandler, Outcome,
    SetupError, async_trait, handler,
};

/// A handler that labels its outcome `linked`.
#[derive(Debug, Default)]
#[handler(name = "LinkedHandler")]
pub struct LinkedHandler;

#[async_trait]
impl MessageHandler for LinkedHandler {
    async fn handle(&self, _: &HandlerContext<'_>, _: &Message) -> Result<Outcome, HandlerError> {
        Ok(Outcome::labeled("linked"))
    }
}

/// A "bundled" handler at the default priority, which partners override.
#[derive(Debug, Default)]
#[handler(name = "Overridable")]
pub struct BundledOverridable;

#[async_trait]
impl MessageHandler for BundledOverridable {
    async fn handle(&self, _: &HandlerContext<'_>, _: &Message) -> Result<Outcome, HandlerError> {
        Ok(Outcome::labeled("bundled"))
    }
}

/// A handler built from its route's props (not `Default`).
#[derive(Debug)]
#[handler(name = "Greeter", priority = -1)]
pub struct Greeter {
    greeting: String,
}

impl FromRoute for Greeter {
    fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        let greeting = setup
            .prop::<String>("greeting")?
            .ok_or_else(|| setup.error("props.greeting is required"))?;
        Ok(Self { greeting })
    }
}

#[async_trait]
impl MessageHandler for Greeter {
    async fn handle(&self, _: &HandlerContext<'_>, _: &Message) -> Result<Outcome, HandlerError> {
        Ok(Outcome::labeled(self.greeting.clone()))
    }
}
