//! What the runtime and the listeners share about their own life:
//! [`Shutdown`], the [`Health`] of dependencies, the [`Heartbeat`] of each
//! loop, and the [`Signal`] counters use to wake waiters. A leaf: it uses no
//! other module of the crate. Re-exported by [`runtime`](crate::runtime).

mod health;
mod heartbeat;
mod shutdown;
mod signal;

pub use health::{DependencyStatus, Health};
pub use heartbeat::{HEARTBEAT_INTERVAL, Heartbeat, LoopState};
pub use shutdown::Shutdown;
pub(crate) use signal::Signal;
