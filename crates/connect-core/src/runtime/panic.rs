//! The message of a panic caught inside a handler's future (caught with
//! `futures_util::FutureExt::catch_unwind`).

use std::any::Any;

/// The text of a caught panic's payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "handler panicked with a non-string payload".to_owned()
    }
}
