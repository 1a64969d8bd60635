//! Exponential backoff with jitter, honouring `Retry-After` hints.

use std::time::Duration;

use crate::config::BackoffConfig;

/// Computes the delay before the next attempt.
///
/// The base delay grows as `initial * multiplier^(attempt-1)`, capped at
/// `max`; the actual delay is drawn uniformly from the upper half of the base
/// ("equal jitter"), so retries of many messages spread out but never come
/// back sooner than half the base. A `Retry-After` hint from the failing
/// service is a floor (itself capped at `max-retry-after`).
///
/// ```
/// use std::time::Duration;
/// use connect_core::runtime::Backoff;
/// use connect_core::config::BackoffConfig;
///
/// let backoff = Backoff::new(BackoffConfig::default());
/// let first = backoff.delay(1, None);
/// assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(200));
/// assert!(backoff.delay(1, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
}

impl Backoff {
    /// A backoff with `config`.
    pub fn new(config: BackoffConfig) -> Self {
        Self { config }
    }

    /// A backoff that starts at `initial` and doubles per attempt up to
    /// `max`, honouring `Retry-After` hints up to `max` too: the one shape
    /// the API clients and the receive loops use.
    ///
    /// ```
    /// use std::time::Duration;
    /// use connect_core::runtime::Backoff;
    ///
    /// let backoff = Backoff::doubling(Duration::from_millis(100), Duration::from_secs(5));
    /// let third = backoff.delay(3, None);
    /// assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
    /// assert!(backoff.delay(30, None) <= Duration::from_secs(5));
    /// ```
    pub fn doubling(initial: Duration, max: Duration) -> Self {
        Self::new(BackoffConfig {
            initial,
            max,
            multiplier: 2.0,
            max_retry_after: max,
        })
    }

    /// The delay after failed attempt number `attempt` (from 1).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let base =
            self.config.initial.as_secs_f64() * self.config.multiplier.max(1.0).powi(exponent);
        let base = base.min(self.config.max.as_secs_f64()).max(0.0);
        let jittered = base / 2.0 + fastrand::f64() * base / 2.0;
        let delay = Duration::try_from_secs_f64(jittered).unwrap_or(self.config.max);
        match retry_after {
            Some(hint) => delay.max(hint.min(self.config.max_retry_after)),
            None => delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff::new(BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            multiplier: 2.0,
            max_retry_after: Duration::from_secs(10),
        })
    }

    #[test]
    fn grows_exponentially_within_jitter_bounds_and_caps() {
        let b = backoff();
        for _ in 0..200 {
            let d3 = b.delay(3, None);
            assert!(
                d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            let d20 = b.delay(20, None);
            assert!(
                d20 >= Duration::from_secs(1) && d20 <= Duration::from_secs(2),
                "{d20:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_a_floor_capped_by_max_retry_after() {
        let b = backoff();
        assert!(b.delay(1, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
        assert!(b.delay(1, Some(Duration::from_secs(60))) <= Duration::from_secs(10));
    }
}
