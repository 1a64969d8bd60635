//! [`Clock`]: where schedules, leases and run timestamps read the time.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The wall clock jobs use, in UTC.
///
/// - [`Clock::system`] (the default) is the system clock.
/// - [`Clock::tokio`] starts at a given instant and advances with tokio's
///   clock, so a test with paused time (`#[tokio::test(start_paused = true)]`)
///   runs hours of schedule in milliseconds, deterministically.
/// - [`Clock::manual`] only moves when [`advance`](Clock::advance)d.
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use connect_jobs::Clock;
///
/// let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let clock = Clock::manual(start);
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
/// ```
#[derive(Clone, Default)]
pub struct Clock {
    kind: Kind,
}

#[derive(Clone, Default)]
enum Kind {
    #[default]
    System,
    Tokio {
        start: DateTime<Utc>,
        origin: tokio::time::Instant,
    },
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::System => f.write_str("Clock::system"),
            Kind::Tokio { start, .. } => write!(f, "Clock::tokio({start})"),
            Kind::Manual(_) => write!(f, "Clock::manual({})", self.now()),
        }
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// `start` now, then advancing with tokio's clock (paused or not).
    /// Must be called inside a tokio runtime when time is paused.
    pub fn tokio(start: DateTime<Utc>) -> Self {
        Self {
            kind: Kind::Tokio {
                start,
                origin: tokio::time::Instant::now(),
            },
        }
    }

    /// `start`, moved only by [`advance`](Self::advance). Clones share it.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Self {
            kind: Kind::Manual(Arc::new(Mutex::new(start))),
        }
    }

    /// Moves a [manual](Self::manual) clock forward; other clocks ignore it.
    pub fn advance(&self, by: Duration) {
        if let Kind::Manual(now) = &self.kind {
            let mut now = now.lock().unwrap_or_else(PoisonError::into_inner);
            *now += to_chrono(by);
        }
    }

    /// Now.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.kind {
            Kind::System => Utc::now(),
            Kind::Tokio { start, origin } => *start + to_chrono(origin.elapsed()),
            Kind::Manual(now) => *now.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }
}

/// A std duration as chrono's, saturating.
pub(crate) fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
