//! [`Translate`]: what a raw payload of a source queue means, as a
//! [`Translation`]. Used by the [`listener`](crate::listener) (which
//! re-exports both) and by dead-letter replay.

use crate::error::BoxError;
use crate::message::Message;
use crate::queue::RawPayload;

/// What a raw payload becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Translation {
    /// A message for the event queue.
    Message(Message),
    /// Nothing to do (for example a resource type with no route); the reason
    /// is logged at debug level.
    Ignore(String),
}

/// Turns a raw payload into a [`Translation`]. An `Err` means the payload is
/// malformed: it is dead-lettered with its body.
pub trait Translate: Send + Sync {
    /// Translates one payload.
    fn translate(&self, raw: &RawPayload) -> Result<Translation, BoxError>;
}
