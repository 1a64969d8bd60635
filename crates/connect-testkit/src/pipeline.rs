//! Waiting for an in-process pipeline to finish its work.

use std::time::Duration;

use connect_core::listener::ListenerMetrics;
use connect_core::queue::{MemoryQueue, RawPayload};
use connect_core::runtime::{Metrics, MetricsSnapshot};

/// Waits until everything delivered to `ct_queue` so far was forwarded by
/// the listener and every forwarded message has settled in the runtime
/// (succeeded, filtered, coalesced or dead-lettered) or was sent back to
/// its queue for a retry, with nothing in flight and nothing waiting in
/// `ct_queue` (a retry waiting out its backoff counts as waiting). Returns the runtime's counters, or what was seen at `timeout`.
///
/// It waits on the counters' notifications; nothing sleeps.
pub async fn wait_idle(
    ct_queue: &MemoryQueue<RawPayload>,
    listener: &ListenerMetrics,
    runtime: &Metrics,
    timeout: Duration,
) -> Result<MetricsSnapshot, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let seen = listener
            .wait_until(|l| l.settled() >= l.received, left)
            .await
            .map_err(|l| format!("the listener did not settle its payloads: {l:?}"))?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let snapshot = runtime
            // A retried message goes back to its queue and is forwarded
            // again when it returns, so each retry stands for one of the
            // forwarded messages too.
            .wait_until(
                |m| m.settled() + m.retried >= seen.forwarded && m.in_flight == 0,
                left,
            )
            .await
            .map_err(|e| e.to_string())?;
        // Idle only if nothing arrived while the counters were read.
        if ct_queue.is_idle() && listener.snapshot() == seen {
            return Ok(snapshot);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("the pipeline did not go idle within {timeout:?}"));
        }
        tokio::task::yield_now().await;
    }
}
