//! [`Shutdown`]: a signal shared by every long-running part.

use tokio_util::sync::CancellationToken;

/// A cloneable shutdown signal.
///
/// ```
/// use connect_core::runtime::Shutdown;
///
/// let shutdown = Shutdown::new();
/// let seen_by_worker = shutdown.clone();
/// shutdown.trigger();
/// assert!(seen_by_worker.is_triggered());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// A signal that fires on SIGINT (Ctrl-C) or SIGTERM. Must be called
    /// inside a tokio runtime.
    pub fn on_signals() -> Self {
        let shutdown = Self::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received; finishing in-flight messages");
            trigger.trigger();
        });
        shutdown
    }

    /// Fires the signal.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// `true` once fired.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when the signal fires.
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// A signal that fires with this one, and can also be fired alone.
    pub fn child(&self) -> Self {
        Self {
            token: self.token.child_token(),
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the connector");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
