//! Everything a handler needs, in one `use`:
//!
//! ```
//! use connect_core::prelude::*;
//!
//! #[derive(Debug, Default)]
//! #[handler(name = "Noop")]
//! struct Noop;
//!
//! #[async_trait]
//! impl MessageHandler for Noop {
//!     async fn handle(&self, _: &HandlerContext<'_>, _: &Message) -> Result<Outcome, HandlerError> {
//!         Ok(Outcome::done())
//!     }
//! }
//! ```
//!
//! The `connect_sdk::prelude` of the facade is this one.

pub use crate::{
    FromRoute, HandlerContext, HandlerError, HandlerSetup, Message, MessageHandler, Outcome,
    ResourceRef, ResultExt, SetupError, async_trait, handler,
};
