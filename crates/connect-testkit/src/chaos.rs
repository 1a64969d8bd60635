//! Seeded delivery chaos: a subscription sink that duplicates, delays and
//! reorders payloads the way an at-least-once transport may, reproducibly
//! from a seed.
//!
//! ```
//! use std::sync::Arc;
//! use connect_core::queue::{MemoryQueue, RawPayload, Sink};
//! use connect_testkit::chaos::{ChaosSink, DeliveryChaos};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let queue = MemoryQueue::new("ct-queue", 1_000);
//! let chaos = DeliveryChaos { duplicate: 0.5, delay: 0.5, max_hold: 3 };
//! let sink = ChaosSink::new(Arc::new(queue.clone()), chaos, 42);
//! for n in 0..100 {
//!     sink.send(RawPayload::new(format!("{n}"))).await.unwrap();
//! }
//! sink.flush().await.unwrap();
//! let stats = sink.stats();
//! assert_eq!(queue.len() as u64, 100 + stats.duplicated);
//! assert!(stats.delayed > 0);
//! # });
//! ```

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use connect_core::QueueError;
use connect_core::queue::{RawPayload, Sink};

/// How often each delivery fault happens, per payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeliveryChaos {
    /// Probability that a payload is delivered twice (the second copy later,
    /// as a redelivery).
    pub duplicate: f64,
    /// Probability that a payload is held back and delivered after later
    /// ones (reordering, delay).
    pub delay: f64,
    /// The most later payloads a held one waits behind.
    pub max_hold: u32,
}

impl DeliveryChaos {
    /// No faults: every payload once, in order.
    pub const NONE: Self = Self {
        duplicate: 0.0,
        delay: 0.0,
        max_hold: 0,
    };
}

/// What a [`ChaosSink`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Payloads received from the subscription.
    pub payloads: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Payloads held back behind later ones.
    pub delayed: u64,
}

struct State {
    rng: fastrand::Rng,
    /// Payloads held back, with how many more sends they wait for.
    held: Vec<(RawPayload, u32)>,
    stats: DeliveryStats,
}

/// A [`Sink`] of raw payloads (what a commercetools subscription delivers
/// to) that forwards to another one with seeded duplicates, delays and
/// reordering. Use [`flush`](Self::flush) to deliver what is still held.
pub struct ChaosSink {
    inner: Arc<dyn Sink<RawPayload>>,
    chaos: Mutex<DeliveryChaos>,
    state: Mutex<State>,
}

impl std::fmt::Debug for ChaosSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosSink")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl ChaosSink {
    /// Forwards to `inner` with `chaos`, its decisions drawn from `seed`.
    pub fn new(inner: Arc<dyn Sink<RawPayload>>, chaos: DeliveryChaos, seed: u64) -> Self {
        Self {
            inner,
            chaos: Mutex::new(chaos),
            state: Mutex::new(State {
                rng: fastrand::Rng::with_seed(seed),
                held: Vec::new(),
                stats: DeliveryStats::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the fault rates from now on (e.g. [`DeliveryChaos::NONE`]
    /// to let a test converge).
    pub fn set_chaos(&self, chaos: DeliveryChaos) {
        *self.chaos.lock().unwrap_or_else(PoisonError::into_inner) = chaos;
    }

    /// What the sink did so far.
    pub fn stats(&self) -> DeliveryStats {
        self.lock().stats
    }

    /// Delivers every payload still held back.
    pub async fn flush(&self) -> Result<(), QueueError> {
        let held: Vec<RawPayload> = self.lock().held.drain(..).map(|(p, _)| p).collect();
        for payload in held {
            self.inner.send(payload).await?;
        }
        Ok(())
    }

    /// Decides what one payload becomes: the payloads to deliver now, in
    /// order.
    fn decide(&self, payload: RawPayload) -> Vec<RawPayload> {
        let chaos = *self.chaos.lock().unwrap_or_else(PoisonError::into_inner);
        let mut state = self.lock();
        let state = &mut *state;
        state.stats.payloads += 1;
        let mut now = Vec::with_capacity(2);
        // Held payloads come due as later ones pass them.
        let mut index = 0;
        while index < state.held.len() {
            if state.held[index].1 == 0 {
                now.push(state.held.remove(index).0);
            } else {
                state.held[index].1 -= 1;
                index += 1;
            }
        }
        if chaos.duplicate > 0.0 && state.rng.f64() < chaos.duplicate {
            state.stats.duplicated += 1;
            let wait = state.rng.u32(0..=chaos.max_hold);
            state.held.push((payload.clone(), wait));
        }
        if chaos.max_hold > 0 && chaos.delay > 0.0 && state.rng.f64() < chaos.delay {
            state.stats.delayed += 1;
            let wait = state.rng.u32(1..=chaos.max_hold);
            state.held.push((payload, wait));
        } else {
            now.push(payload);
        }
        now
    }
}

#[async_trait]
impl Sink<RawPayload> for ChaosSink {
    async fn send(&self, item: RawPayload) -> Result<(), QueueError> {
        for payload in self.decide(item) {
            self.inner.send(payload).await?;
        }
        Ok(())
    }
}
