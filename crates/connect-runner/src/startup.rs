//! Startup checks that survive a blip: a refused login or an unreachable
//! dependency is retried with backoff within `runtime.startup-timeout`.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use connect_core::runtime::Shutdown;

use crate::connector::Connector;
use crate::error::RunnerError;

/// The first delay between two startup attempts.
const FIRST_DELAY: Duration = Duration::from_millis(250);
/// The longest delay between two startup attempts.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Why one login attempt failed.
struct Failure {
    /// The dependency refused the credentials (else it could not be reached).
    refused: bool,
    /// The client's error.
    message: String,
}

/// Logs in to `dependency` with `login` until it succeeds, `window` has
/// passed or `shutdown` fired, waiting 250 ms, then twice as long each
/// time (at most 5 s) between attempts, each failed attempt logged at WARN.
/// Returns the last failure when every attempt failed.
async fn login_within<F, Fut>(
    dependency: &'static str,
    window: Duration,
    shutdown: Option<&Shutdown>,
    mut login: F,
) -> Result<(), Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Failure>>,
{
    let deadline = Instant::now() + window;
    let mut delay = FIRST_DELAY;
    let mut attempt = 1u32;
    loop {
        let failure = match login().await {
            Ok(()) => {
                if attempt > 1 {
                    tracing::info!(dependency, attempt, "startup: logged in");
                }
                return Ok(());
            }
            Err(failure) => failure,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let stopping = shutdown.is_some_and(Shutdown::is_triggered);
        if left.is_zero() || stopping {
            return Err(failure);
        }
        let next = delay.min(left);
        tracing::warn!(
            dependency,
            attempt,
            error = %failure.message,
            next_delay_ms = u64::try_from(next.as_millis()).unwrap_or(u64::MAX),
            refused = failure.refused,
            "startup: {dependency} {}; retrying within runtime.startup-timeout",
            if failure.refused { "refused the login" } else { "cannot be reached" }
        );
        match shutdown {
            Some(shutdown) => {
                tokio::select! {
                    () = tokio::time::sleep(next) => {}
                    () = shutdown.triggered() => return Err(failure),
                }
            }
            None => tokio::time::sleep(next).await,
        }
        delay = (delay * 2).min(MAX_DELAY);
        attempt += 1;
    }
}

impl Connector {
    /// Startup checks that need the network: the dead-letter store can be
    /// written, and the commercetools and Fluent credentials are accepted.
    ///
    /// A refused login or a dependency that cannot be reached is retried
    /// with backoff (250 ms doubling to 5 s, each attempt logged at WARN)
    /// for at most `runtime.startup-timeout` (default 30 s), so that a
    /// blip during a deploy or at the start of a nightly job does not fail
    /// the start. Credentials still refused then are an error
    /// ([`RunnerError::Credentials`], exit code 2 in the `connect`
    /// command); a dependency still unreachable is only logged: it is
    /// reported down and the connector waits for it. An unusable
    /// dead-letter store is an error at once.
    ///
    /// Every unattended start (`connect run`, `connect backfill`, `connect
    /// drift`, a job) goes through here; `connect validate` connects to
    /// nothing.
    pub async fn check(&self) -> Result<(), RunnerError> {
        self.check_startup(None).await
    }

    /// [`check`](Self::check) that stops retrying once `shutdown` fires
    /// (a signal during startup), returning the last failure at once.
    pub async fn check_until(&self, shutdown: &Shutdown) -> Result<(), RunnerError> {
        self.check_startup(Some(shutdown)).await
    }

    async fn check_startup(&self, shutdown: Option<&Shutdown>) -> Result<(), RunnerError> {
        let origin = self.plan().document().origin().to_owned();
        let window = self.config().runtime.startup_timeout;
        self.dead_letters()
            .check()
            .await
            .map_err(|error| RunnerError::Backend {
                origin: origin.clone(),
                message: format!("runtime.dead-letter: {error}"),
            })?;
        if let Some(commercetools) = self.commercetools() {
            let dependency = connect_commercetools::DEPENDENCY;
            let result = login_within(dependency, window, shutdown, || async {
                commercetools.authenticate().await.map_err(|error| Failure {
                    refused: error.is_auth(),
                    message: error.to_string(),
                })
            })
            .await;
            self.settle_login(dependency, &origin, result, "commercetools")?;
        }
        if let Some(fluent) = self.fluent() {
            let dependency = connect_fluent::DEPENDENCY;
            let result = login_within(dependency, window, shutdown, || async {
                fluent.authenticate().await.map_err(|error| Failure {
                    refused: error.is_auth(),
                    message: error.to_string(),
                })
            })
            .await;
            self.settle_login(dependency, &origin, result, "Fluent")?;
        }
        Ok(())
    }

    /// What the last login attempt means for the start.
    fn settle_login(
        &self,
        dependency: &'static str,
        origin: &str,
        result: Result<(), Failure>,
        service: &str,
    ) -> Result<(), RunnerError> {
        match result {
            Ok(()) => Ok(()),
            Err(failure) if failure.refused => Err(RunnerError::Credentials {
                origin: origin.to_owned(),
                dependency,
                message: failure.message,
            }),
            Err(failure) => {
                self.health().down(dependency, &failure.message);
                tracing::warn!(error = %failure.message, "{service} cannot be reached now; starting anyway, messages wait until it answers");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_refused_login_is_retried_until_it_succeeds() {
        let calls = AtomicU32::new(0);
        let result = login_within("fluent", Duration::from_secs(30), None, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(Failure {
                    refused: true,
                    message: "401".into(),
                })
            } else {
                Ok(())
            }
        })
        .await;
        assert!(result.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_at_the_window_with_the_last_failure() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let result = login_within("fluent", Duration::from_secs(2), None, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Failure {
                refused: true,
                message: "wrong password".into(),
            })
        })
        .await;
        let Err(failure) = result else {
            panic!("every attempt failed")
        };
        assert!(failure.refused);
        assert_eq!(failure.message, "wrong password");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(2),
            "bounded by the window"
        );
        // 0, 0.25, 0.75, 1.75, 2.0 s.
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_window_tries_once() {
        let calls = AtomicU32::new(0);
        let result = login_within("fluent", Duration::ZERO, None, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Failure {
                refused: false,
                message: "connection refused".into(),
            })
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
