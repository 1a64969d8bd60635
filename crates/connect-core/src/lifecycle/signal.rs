//! [`Signal`]: wakes tasks waiting for counters to change.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed, Ordering::SeqCst, fence};
use std::time::Duration;

use tokio::sync::Notify;

/// Wakes tasks waiting for counters to change. Counters are updated with
/// sequentially consistent read-modify-writes (on x86 as cheap as relaxed
/// ones); notifying then costs one load when nobody waits, so hot paths can
/// call it freely.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    notify: Notify,
    waiters: AtomicUsize,
}

impl Signal {
    /// Wakes every current waiter, if there is one.
    pub(crate) fn notify(&self) {
        // With the sequentially consistent counter update before it and the
        // fence in `wait_for`, either the waiter reads the new counters, or
        // this load sees the waiter and wakes it.
        if self.waiters.load(SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// Re-reads `read()` after each notification until `condition` holds;
    /// `Err` carries the last value read when `timeout` passes.
    pub(crate) async fn wait_for<S>(
        &self,
        read: impl Fn() -> S,
        condition: impl Fn(&S) -> bool,
        timeout: Duration,
    ) -> Result<S, S> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.waiters.fetch_add(1, SeqCst);
        let _registered = Registered(&self.waiters);
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            fence(SeqCst);
            let value = read();
            if condition(&value) {
                return Ok(value);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(read());
            }
        }
    }
}

/// Unregisters a waiter however its wait ends.
struct Registered<'a>(&'a AtomicUsize);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}
