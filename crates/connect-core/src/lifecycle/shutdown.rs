//! [`Shutdown`]: the two-stage stop signal shared by every long-running part.

use tokio_util::sync::CancellationToken;

/// A cloneable, two-stage shutdown signal.
///
/// - **Graceful** ([`trigger`](Self::trigger), the first SIGINT/SIGTERM):
///   stop taking new work, finish or return in-flight work within
///   `shutdown-timeout`.
/// - **Forced** ([`force`](Self::force), the second signal): return
///   everything still held to its source at once and stop.
///
/// ```
/// use connect_core::runtime::Shutdown;
///
/// let shutdown = Shutdown::new();
/// let seen_by_worker = shutdown.clone();
/// shutdown.trigger();
/// assert!(seen_by_worker.is_triggered());
/// assert!(!seen_by_worker.is_forced());
/// shutdown.force();
/// assert!(seen_by_worker.is_forced());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    graceful: CancellationToken,
    forced: CancellationToken,
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// A signal driven by SIGINT (Ctrl-C) and SIGTERM: the first one fires
    /// the graceful stage, the second one forces. Must be called inside a
    /// tokio runtime.
    pub fn on_signals() -> Self {
        let shutdown = Self::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            let Some(mut signals) = Signals::install() else {
                return;
            };
            let first = signals.next().await;
            tracing::info!(
                signal = first,
                "shutdown requested: no new work; finishing or returning in-flight messages (send it again to stop at once)"
            );
            trigger.trigger();
            let second = signals.next().await;
            tracing::warn!(
                signal = second,
                "second signal: returning everything to its queue and stopping now"
            );
            trigger.force();
        });
        shutdown
    }

    /// Fires the graceful stage.
    pub fn trigger(&self) {
        self.graceful.cancel();
    }

    /// Fires the forced stage (and the graceful one, if it has not fired).
    pub fn force(&self) {
        self.graceful.cancel();
        self.forced.cancel();
    }

    /// `true` once the graceful stage fired.
    pub fn is_triggered(&self) -> bool {
        self.graceful.is_cancelled()
    }

    /// `true` once the forced stage fired.
    pub fn is_forced(&self) -> bool {
        self.forced.is_cancelled()
    }

    /// Completes when the graceful stage fires.
    pub async fn triggered(&self) {
        self.graceful.cancelled().await;
    }

    /// Completes when the forced stage fires.
    pub async fn forced(&self) {
        self.forced.cancelled().await;
    }

    /// A signal that fires with this one, and can also be fired alone.
    pub fn child(&self) -> Self {
        Self {
            graceful: self.graceful.child_token(),
            forced: self.forced.child_token(),
        }
    }
}

/// SIGINT and SIGTERM, as a stream of signal names.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Option<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let term = signal(SignalKind::terminate())
                .inspect_err(|error| tracing::warn!(%error, "cannot listen for SIGTERM"))
                .ok();
            let int = signal(SignalKind::interrupt())
                .inspect_err(|error| tracing::warn!(%error, "cannot listen for SIGINT"))
                .ok();
            (term.is_some() || int.is_some()).then_some(Self { term, int })
        }
        #[cfg(not(unix))]
        {
            Some(Self {})
        }
    }

    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            let term = async {
                match self.term.as_mut() {
                    Some(term) => term.recv().await,
                    None => std::future::pending().await,
                }
            };
            let int = async {
                match self.int.as_mut() {
                    Some(int) => int.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = term => "SIGTERM",
                _ = int => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
