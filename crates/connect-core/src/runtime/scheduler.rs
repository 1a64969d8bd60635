//! Per-resource ordering and coalescing.
//!
//! A resource key is *active* while one of its messages is running or ready
//! to run. Later messages for an active key wait in that key's line; when the
//! running one finishes, the next one (or, on a coalescing route, the newest
//! of the whole line) becomes ready.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::message::Message;
use crate::queue::Delivery;
use crate::router::Route;

/// A routed delivery.
pub(crate) struct Pending {
    pub(crate) route: Arc<Route>,
    pub(crate) delivery: Delivery<Message>,
}

/// What one handler call settles: its lead message, plus the messages it
/// stands in for.
pub(crate) struct Work {
    /// The resource key, to hand back to [`Scheduler::complete`].
    pub(crate) key: u64,
    pub(crate) lead: Pending,
    pub(crate) followers: Vec<Pending>,
    /// The dependency this work probes while its breaker is open.
    pub(crate) probe: Option<&'static str>,
    /// A systemic failure of this dependency counts as a failure of the
    /// message: it failed so before, and the dependency recovered since.
    pub(crate) counts_systemic: Option<&'static str>,
    /// Probes this work failed while parked.
    pub(crate) failed_probes: u32,
}

impl Work {
    fn new(key: u64, lead: Pending, followers: Vec<Pending>) -> Self {
        Self {
            key,
            lead,
            followers,
            probe: None,
            counts_systemic: None,
            failed_probes: 0,
        }
    }

    /// Deliveries this work settles.
    pub(crate) fn len(&self) -> usize {
        1 + self.followers.len()
    }

    /// Every delivery of this work, lead first.
    pub(crate) fn into_deliveries(self) -> impl Iterator<Item = Delivery<Message>> {
        std::iter::once(self.lead.delivery).chain(self.followers.into_iter().map(|p| p.delivery))
    }
}

/// Resource keys are 64-bit hashes of the ordering key: no allocation per
/// message. Two resources whose hashes collide are merely serialised
/// together, which keeps ordering correct.
#[derive(Default)]
pub(crate) struct Scheduler {
    hasher: KeyHash,
    lines: HashMap<u64, VecDeque<Pending>, BuildHasherDefault<KeyHasher>>,
    ready: VecDeque<Work>,
}

/// A fast keyed hash of ordering keys (resource ids, assigned by the source
/// system), seeded per scheduler.
struct KeyHash {
    seed: u64,
}

impl Default for KeyHash {
    fn default() -> Self {
        Self {
            seed: fastrand::u64(..),
        }
    }
}

impl KeyHash {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn hash(&self, key: &str) -> u64 {
        let mut h = self.seed ^ (key.len() as u64).wrapping_mul(Self::K);
        let mut chunks = key.as_bytes().chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(Self::K);
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        h = (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(Self::K);
        // Final avalanche (from splitmix64).
        h ^= h >> 30;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 27;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }
}

/// The keys are already hashes; use them as they are.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Scheduler {
    /// Takes a routed delivery: ready at once if its key is idle, otherwise
    /// queued behind the key's active message.
    pub(crate) fn accept(&mut self, pending: Pending) {
        let key = self.hasher.hash(pending.delivery.item().ordering_key());
        if let Some(line) = self.lines.get_mut(&key) {
            line.push_back(pending);
            return;
        }
        self.lines.insert(key, VecDeque::new());
        self.ready.push_back(Work::new(key, pending, Vec::new()));
    }

    /// Puts back work taken with [`next_ready`](Self::next_ready) that did
    /// not run (its resource stays active): it starts next.
    pub(crate) fn resume(&mut self, work: Work) {
        self.ready.push_front(work);
    }

    /// The next work to start.
    pub(crate) fn next_ready(&mut self) -> Option<Work> {
        self.ready.pop_front()
    }

    /// The active message of `key` finished: make its line's next work ready,
    /// or free the key.
    pub(crate) fn complete(&mut self, key: u64) {
        let Some(line) = self.lines.get_mut(&key) else {
            return;
        };
        let Some(first) = line.pop_front() else {
            self.lines.remove(&key);
            return;
        };
        if !first.route.coalesces() || line.is_empty() {
            self.ready.push_back(Work::new(key, first, Vec::new()));
            return;
        }
        let mut group = vec![first];
        let mut others = VecDeque::new();
        for pending in line.drain(..) {
            if Arc::ptr_eq(&pending.route, &group[0].route) {
                group.push(pending);
            } else {
                others.push_back(pending);
            }
        }
        *line = others;
        let lead_index = newest(&group);
        let lead = group.swap_remove(lead_index);
        self.ready.push_back(Work::new(key, lead, group));
    }

    /// Takes every delivery not yet started (ready, or waiting behind its
    /// resource), to return them to their queue.
    pub(crate) fn take_all(&mut self) -> Vec<Delivery<Message>> {
        let mut deliveries = Vec::new();
        for work in self.ready.drain(..) {
            deliveries.extend(work.into_deliveries());
        }
        for (_, line) in self.lines.drain() {
            deliveries.extend(line.into_iter().map(|p| p.delivery));
        }
        deliveries
    }
}

/// The index of the message describing the newest resource state: highest
/// version, then highest sequence number, then latest arrival.
fn newest(group: &[Pending]) -> usize {
    let rank = |p: &Pending| {
        p.delivery.item().resource.as_ref().map_or((0, 0), |r| {
            (r.version.unwrap_or(0), r.sequence_number.unwrap_or(0))
        })
    };
    let mut best = 0;
    for (index, pending) in group.iter().enumerate().skip(1) {
        if rank(pending) >= rank(&group[best]) {
            best = index;
        }
    }
    best
}
