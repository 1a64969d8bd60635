//! [`Health`]: which dependencies are up, shared by every part of a
//! connector and read by operators (logs, readiness, metrics).

use std::borrow::Cow;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::signal::Signal;

/// The state of one dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyStatus {
    /// Its name: `commercetools`, `fluent`, `ct-queue`, `event-queue`,
    /// `dead-letters`, or a name a handler gave
    /// [`HandlerError::systemic`](crate::HandlerError::systemic).
    pub name: Cow<'static, str>,
    /// `false` while it fails systemically.
    pub up: bool,
    /// When it last changed state (when it was first seen, if never).
    pub since: DateTime<Utc>,
    /// The error that took it down, while it is down.
    pub error: Option<String>,
}

/// Dependencies' states. State changes are rare (an outage begins or
/// ends), so a short list behind a mutex is enough; nothing on the message
/// path reads it.
///
/// ```
/// use connect_core::runtime::Health;
///
/// let health = Health::new();
/// health.register("fluent");
/// assert!(health.all_up());
/// health.down("fluent", "connection refused");
/// assert_eq!(health.down_list()[0].error.as_deref(), Some("connection refused"));
/// health.up("fluent");
/// assert!(health.all_up());
/// ```
#[derive(Debug, Default)]
pub struct Health {
    dependencies: Mutex<Vec<DependencyStatus>>,
    changed: Signal,
}

impl Health {
    /// No dependency known yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<DependencyStatus>> {
        self.dependencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, name: &str, up: bool, error: Option<&str>, register_only: bool) -> bool {
        let mut dependencies = self.lock();
        let changed = match dependencies.iter_mut().find(|d| d.name == name) {
            Some(_) if register_only => false,
            Some(status) if status.up == up => {
                if let Some(error) = error {
                    status.error = Some(error.to_owned());
                }
                false
            }
            Some(status) => {
                status.up = up;
                status.since = Utc::now();
                status.error = error.map(str::to_owned);
                true
            }
            None => {
                dependencies.push(DependencyStatus {
                    name: Cow::Owned(name.to_owned()),
                    up,
                    since: Utc::now(),
                    error: error.map(str::to_owned),
                });
                true
            }
        };
        drop(dependencies);
        if changed {
            self.changed.notify();
        }
        changed
    }

    /// Makes `name` known, as up (no change if it is known already).
    pub fn register(&self, name: &str) {
        self.set(name, true, None, true);
    }

    /// `name` fails systemically with `error`. Returns `true` when this is
    /// a change (it was up or unknown).
    pub fn down(&self, name: &str, error: &str) -> bool {
        self.set(name, false, Some(error), false)
    }

    /// `name` answers again. Returns `true` when this is a change.
    pub fn up(&self, name: &str) -> bool {
        self.set(name, true, None, false)
    }

    /// Every known dependency, in the order they became known.
    pub fn dependencies(&self) -> Vec<DependencyStatus> {
        self.lock().clone()
    }

    /// The dependencies that are down.
    pub fn down_list(&self) -> Vec<DependencyStatus> {
        self.lock().iter().filter(|d| !d.up).cloned().collect()
    }

    /// `true` when no known dependency is down.
    pub fn all_up(&self) -> bool {
        self.lock().iter().all(|d| d.up)
    }

    /// `true` when `name` is known and up.
    pub fn is_up(&self, name: &str) -> bool {
        self.lock().iter().any(|d| d.name == name && d.up)
    }

    /// Waits until `condition` holds for the dependencies, or `timeout`
    /// passes (`Err` carries the last state).
    pub async fn wait_until(
        &self,
        condition: impl Fn(&[DependencyStatus]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<DependencyStatus>, Vec<DependencyStatus>> {
        self.changed
            .wait_for(|| self.dependencies(), |d| condition(d), timeout)
            .await
    }
}
