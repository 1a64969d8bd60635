//! [`Heartbeat`]: proof that a loop (the runtime's dispatcher, a listener)
//! is alive, and whether it takes in messages.

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

/// How often a loop beats while it has nothing else to do.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// Where a loop is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopState {
    /// Not started yet.
    Idle,
    /// Receiving and handling messages.
    Running,
    /// Shutting down: no longer receiving, finishing or returning what it
    /// holds.
    Stopping,
    /// Ended.
    Stopped,
}

impl LoopState {
    /// `idle`, `running`, `stopping` or `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Running,
            2 => Self::Stopping,
            3 => Self::Stopped,
            _ => Self::Idle,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Self::Idle => 0,
            Self::Running => 1,
            Self::Stopping => 2,
            Self::Stopped => 3,
        }
    }
}

/// A loop's heartbeat: the loop beats at least every
/// [`HEARTBEAT_INTERVAL`] while it runs (an idle loop too), so a loop
/// whose last beat is old is stuck. Liveness checks read it; beating costs
/// one clock read and one relaxed store. Time is tokio's clock (real time,
/// except in tests that pause it).
///
/// ```
/// use std::time::Duration;
/// use connect_core::runtime::{Heartbeat, LoopState};
///
/// let heartbeat = Heartbeat::new("runtime");
/// assert!(!heartbeat.is_stalled(Duration::from_secs(30)), "not started is not stalled");
/// heartbeat.set_state(LoopState::Running);
/// heartbeat.beat();
/// assert!(!heartbeat.is_stalled(Duration::from_secs(30)));
/// heartbeat.set_state(LoopState::Stopped);
/// assert!(!heartbeat.is_stalled(Duration::ZERO), "a stopped loop is not expected to beat");
/// ```
#[derive(Debug)]
pub struct Heartbeat {
    name: Cow<'static, str>,
    origin: Instant,
    /// Milliseconds from `origin` to the last beat, plus one; 0 = never.
    last: AtomicU64,
    state: AtomicU8,
}

impl Heartbeat {
    /// The heartbeat of the loop named `name` (e.g. `runtime`,
    /// `ct-queue listener`), not started.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name: name.into(),
            origin: Instant::now(),
            last: AtomicU64::new(0),
            state: AtomicU8::new(LoopState::Idle.to_u8()),
        }
    }

    /// The loop's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loop is alive now.
    pub fn beat(&self) {
        let millis = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last.store(millis + 1, Relaxed);
    }

    /// Time since the last beat; `None` if the loop never beat.
    pub fn since_last_beat(&self) -> Option<Duration> {
        match self.last.load(Relaxed) {
            0 => None,
            last => {
                let now = self.origin.elapsed();
                Some(now.saturating_sub(Duration::from_millis(last - 1)))
            }
        }
    }

    /// Where the loop is.
    pub fn state(&self) -> LoopState {
        LoopState::from_u8(self.state.load(Relaxed))
    }

    /// The loop moved to `state` (a move to [`LoopState::Running`] counts
    /// as a beat).
    pub fn set_state(&self, state: LoopState) {
        if state == LoopState::Running {
            self.beat();
        }
        self.state.store(state.to_u8(), Relaxed);
    }

    /// `true` when the loop is running and has not beaten for longer than
    /// `timeout`. A loop that is not started, stopping or stopped is not
    /// stalled: it is not expected to beat.
    pub fn is_stalled(&self, timeout: Duration) -> bool {
        self.state() == LoopState::Running
            && self.since_last_beat().is_none_or(|since| since > timeout)
    }

    /// Awaits `work`, beating every [`HEARTBEAT_INTERVAL`] while it waits
    /// (for awaits that may be long but are bounded, such as a long-polling
    /// receive).
    pub async fn beating<F: Future>(&self, work: F) -> F::Output {
        tokio::pin!(work);
        let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                output = &mut work => return output,
                _ = tick.tick() => self.beat(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn only_a_running_loop_that_stopped_beating_is_stalled() {
        let heartbeat = Heartbeat::new("loop");
        assert_eq!(heartbeat.since_last_beat(), None);
        assert!(!heartbeat.is_stalled(Duration::ZERO), "idle");
        heartbeat.set_state(LoopState::Running);
        assert_eq!(
            heartbeat.since_last_beat(),
            Some(Duration::ZERO),
            "starting beats"
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(!heartbeat.is_stalled(Duration::from_secs(10)));
        assert!(heartbeat.is_stalled(Duration::from_secs(9)));
        heartbeat.beat();
        assert!(!heartbeat.is_stalled(Duration::from_secs(9)));
        tokio::time::advance(Duration::from_secs(10)).await;
        heartbeat.set_state(LoopState::Stopping);
        assert!(
            !heartbeat.is_stalled(Duration::from_secs(1)),
            "a stopping loop is not expected to beat"
        );
        assert_eq!(heartbeat.state().as_str(), "stopping");
    }

    #[tokio::test(start_paused = true)]
    async fn beating_beats_while_the_work_waits() {
        let heartbeat = Heartbeat::new("loop");
        heartbeat.set_state(LoopState::Running);
        let output = heartbeat
            .beating(async {
                tokio::time::sleep(Duration::from_millis(5_500)).await;
                7
            })
            .await;
        assert_eq!(output, 7);
        let since = heartbeat.since_last_beat().unwrap();
        assert!(since <= Duration::from_millis(500), "beat at 5s: {since:?}");
    }
}
