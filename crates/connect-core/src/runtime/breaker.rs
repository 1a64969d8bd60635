//! Circuit breakers for dependencies that fail systemically.
//!
//! A handler error of kind [`Systemic`](crate::ErrorKind::Systemic) names a
//! dependency (`fluent`, `commercetools`, ...) that would fail every message
//! alike. The dispatcher then opens that dependency's breaker: intake pauses,
//! no new work starts, and the failed messages wait (parked, their attempts
//! untouched). When the probe delay has passed, one message is handled as a
//! probe. If it gets past the dependency, the breaker closes and everything
//! resumes; otherwise the delay doubles, up to `max`.
//!
//! The dispatcher owns the breakers (no locking); their state changes are
//! published to [`Health`] and logged once per change, never per message.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::BreakerConfig;
use crate::lifecycle::Health;

/// An open breaker.
#[derive(Debug)]
struct Open {
    dependency: &'static str,
    opened_at: Instant,
    /// Failed probes so far (the opening failure counts as the first).
    failures: u32,
    next_probe: Instant,
    probing: bool,
}

/// Every dependency's breaker, and how often each one recovered.
#[derive(Debug)]
pub(crate) struct Breakers {
    config: BreakerConfig,
    open: Vec<Open>,
    /// Recoveries per dependency: a message that fails systemically again
    /// after its dependency recovered in between is failing on its own.
    generations: HashMap<&'static str, u64>,
}

impl Breakers {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            open: Vec::new(),
            generations: HashMap::new(),
        }
    }

    /// `true` while no breaker is open: intake runs, work starts.
    pub(crate) fn all_closed(&self) -> bool {
        self.open.is_empty()
    }

    /// How many times `dependency` recovered so far.
    pub(crate) fn generation(&self, dependency: &str) -> u64 {
        self.generations.get(dependency).copied().unwrap_or(0)
    }

    fn delay(&self, failures: u32) -> Duration {
        let exponent = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
        let delay = self.config.initial.as_secs_f64() * 2f64.powi(exponent.min(62));
        Duration::try_from_secs_f64(delay)
            .unwrap_or(self.config.max)
            .min(self.config.max)
    }

    /// A message failed because `dependency` is down.
    pub(crate) fn failed(
        &mut self,
        dependency: &'static str,
        error: &str,
        health: &Health,
        now: Instant,
    ) {
        let index = self.open.iter().position(|o| o.dependency == dependency);
        match index {
            Some(index) => {
                let failures = self.open[index].failures;
                let delay = self.delay(failures + 1);
                let open = &mut self.open[index];
                if open.probing {
                    open.failures += 1;
                    open.probing = false;
                    open.next_probe = now + delay;
                    tracing::debug!(
                        dependency,
                        %error,
                        next_probe_in = ?delay,
                        "probe failed; the dependency is still down"
                    );
                }
            }
            None => {
                let delay = self.delay(1);
                self.open.push(Open {
                    dependency,
                    opened_at: now,
                    failures: 1,
                    next_probe: now + delay,
                    probing: false,
                });
                health.down(dependency, error);
                tracing::warn!(
                    dependency,
                    %error,
                    next_probe_in = ?delay,
                    "dependency is down: pausing intake; messages wait in their queue without using up attempts"
                );
            }
        }
    }

    /// The dependency whose probe is due, if one is (and none is running).
    pub(crate) fn due(&self, now: Instant) -> Option<&'static str> {
        if self.open.iter().any(|o| o.probing) {
            return None;
        }
        self.open
            .iter()
            .filter(|o| o.next_probe <= now)
            .min_by_key(|o| o.next_probe)
            .map(|o| o.dependency)
    }

    /// When the next probe is due (none while a probe runs).
    pub(crate) fn next_probe(&self) -> Option<Instant> {
        if self.open.iter().any(|o| o.probing) {
            return None;
        }
        self.open.iter().map(|o| o.next_probe).min()
    }

    /// A probe of `dependency` started.
    pub(crate) fn probing(&mut self, dependency: &'static str) {
        if let Some(open) = self.open.iter_mut().find(|o| o.dependency == dependency) {
            open.probing = true;
        }
    }

    /// How many probes of the open `dependency` failed in a row.
    #[cfg(test)]
    pub(crate) fn failures(&self, dependency: &str) -> u32 {
        self.open
            .iter()
            .find(|o| o.dependency == dependency)
            .map_or(0, |o| o.failures)
    }

    /// The probe of `dependency` got past it: close the breaker.
    pub(crate) fn passed(&mut self, dependency: &'static str, health: &Health, now: Instant) {
        let Some(index) = self.open.iter().position(|o| o.dependency == dependency) else {
            return;
        };
        let open = self.open.swap_remove(index);
        *self.generations.entry(dependency).or_default() += 1;
        health.up(dependency);
        tracing::info!(
            dependency,
            down_for = ?now.duration_since(open.opened_at),
            "dependency answers again: resuming intake"
        );
    }

    /// The probe of `dependency` ended without telling anything (it was
    /// interrupted): probe again at once.
    pub(crate) fn inconclusive(&mut self, dependency: &'static str, now: Instant) {
        if let Some(open) = self.open.iter_mut().find(|o| o.dependency == dependency) {
            open.probing = false;
            open.next_probe = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers() -> Breakers {
        Breakers::new(BreakerConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(8),
        })
    }

    #[test]
    fn opens_once_probes_with_capped_doubling_and_closes() {
        let health = Health::new();
        let mut b = breakers();
        let t0 = Instant::now();
        b.failed("fluent", "refused", &health, t0);
        b.failed("fluent", "refused again", &health, t0);
        assert!(!b.all_closed());
        assert_eq!(
            b.failures("fluent"),
            1,
            "failures of running messages are one outage"
        );
        assert_eq!(b.due(t0), None);
        assert_eq!(b.next_probe(), Some(t0 + Duration::from_secs(1)));
        let mut now = t0 + Duration::from_secs(1);
        let mut delays = Vec::new();
        for _ in 0..5 {
            assert_eq!(b.due(now), Some("fluent"));
            b.probing("fluent");
            assert_eq!(b.due(now), None, "one probe at a time");
            b.failed("fluent", "still refused", &health, now);
            let next = b.next_probe().unwrap();
            delays.push(next - now);
            now = next;
        }
        assert_eq!(
            delays,
            [2, 4, 8, 8, 8].map(Duration::from_secs),
            "doubling, capped at max"
        );
        assert!(!health.is_up("fluent"));
        b.probing("fluent");
        b.passed("fluent", &health, now);
        assert!(b.all_closed());
        assert_eq!(b.generation("fluent"), 1);
        assert!(health.is_up("fluent"));
    }
}
