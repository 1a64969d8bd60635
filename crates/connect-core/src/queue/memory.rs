//! The embedded default queue: bounded, in process, with delayed redelivery.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Acker, Delivery, Settlement, Sink, Source, settled};
use crate::error::QueueError;

/// A bounded in-memory queue, usable as both [`Source`] and [`Sink`].
///
/// - `send` waits while `capacity` items are queued (backpressure).
/// - A delivery that is nacked comes back after its delay; one dropped
///   unsettled comes back at once, at the front.
/// - Clones share the same queue.
///
/// ```
/// use std::time::Duration;
/// use connect_core::queue::{MemoryQueue, Sink, Source};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let queue = MemoryQueue::new("events", 100);
/// queue.send("hello".to_string()).await.unwrap();
/// let mut batch = queue.receive(10, Duration::from_millis(10)).await.unwrap();
/// let delivery = batch.pop().unwrap();
/// assert_eq!(delivery.item(), "hello");
/// delivery.ack().await.unwrap();
/// assert!(queue.is_idle());
/// # });
/// ```
pub struct MemoryQueue<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for MemoryQueue<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for MemoryQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("MemoryQueue")
            .field("name", &self.inner.name)
            .field("capacity", &self.inner.capacity)
            .field("ready", &state.ready.len())
            .field("delayed", &state.delayed.len())
            .field("in_flight", &state.in_flight)
            .field("closed", &state.closed)
            .finish()
    }
}

struct Inner<T> {
    name: String,
    capacity: usize,
    state: Mutex<State<T>>,
    items: Notify,
    space: Notify,
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct State<T> {
    ready: VecDeque<Entry<T>>,
    delayed: BinaryHeap<Delayed<T>>,
    in_flight: usize,
    closed: bool,
    sequence: u64,
}

struct Entry<T> {
    item: T,
    receive_count: u32,
}

struct Delayed<T> {
    due: Instant,
    sequence: u64,
    entry: Entry<T>,
}

impl<T> PartialEq for Delayed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due && self.sequence == other.sequence
    }
}
impl<T> Eq for Delayed<T> {}
impl<T> PartialOrd for Delayed<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Delayed<T> {
    // Reversed: the heap's top is the earliest due entry.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .due
            .cmp(&self.due)
            .then_with(|| other.sequence.cmp(&self.sequence))
    }
}

impl<T> State<T> {
    fn queued(&self) -> usize {
        self.ready.len() + self.delayed.len()
    }

    fn promote_due(&mut self, now: Instant) {
        while self.delayed.peek().is_some_and(|d| d.due <= now) {
            if let Some(delayed) = self.delayed.pop() {
                self.ready.push_back(delayed.entry);
            }
        }
    }

    fn requeue(&mut self, entry: Entry<T>, delay: Duration) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if delay.is_zero() {
            self.ready.push_back(entry);
        } else {
            self.sequence += 1;
            self.delayed.push(Delayed {
                due: Instant::now() + delay,
                sequence: self.sequence,
                entry,
            });
        }
    }
}

impl<T: Send + 'static> MemoryQueue<T> {
    /// A queue named `name` (for logs) holding at most `capacity` items.
    pub fn new(name: impl Into<String>, capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.into(),
                capacity: capacity.max(1),
                state: Mutex::new(State {
                    ready: VecDeque::new(),
                    delayed: BinaryHeap::new(),
                    in_flight: 0,
                    closed: false,
                    sequence: 0,
                }),
                items: Notify::new(),
                space: Notify::new(),
            }),
        }
    }

    /// Items waiting to be received (ready or delayed).
    pub fn len(&self) -> usize {
        self.inner.lock().queued()
    }

    /// `true` when no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items received but not yet settled.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().in_flight
    }

    /// `true` when nothing is waiting and nothing is in flight.
    pub fn is_idle(&self) -> bool {
        let state = self.inner.lock();
        state.queued() == 0 && state.in_flight == 0
    }

    /// Closes the queue: `send` fails from now on; `receive` drains what is
    /// left and then fails with [`QueueError::Closed`].
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.inner.items.notify_waiters();
        self.inner.space.notify_waiters();
    }

    /// Puts an item in the queue without waiting for space (used to requeue
    /// and to seed tests).
    pub fn push_now(&self, item: T) {
        let mut state = self.inner.lock();
        state.ready.push_back(Entry {
            item,
            receive_count: 0,
        });
        drop(state);
        self.inner.items.notify_one();
    }

    fn closed_error(&self) -> QueueError {
        QueueError::Closed(self.inner.name.clone())
    }
}

#[async_trait]
impl<T: Send + 'static> Sink<T> for MemoryQueue<T> {
    async fn send(&self, item: T) -> Result<(), QueueError> {
        let mut item = Some(item);
        loop {
            let space = self.inner.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            {
                let mut state = self.inner.lock();
                if state.closed {
                    return Err(self.closed_error());
                }
                if state.queued() < self.inner.capacity {
                    if let Some(item) = item.take() {
                        state.ready.push_back(Entry {
                            item,
                            receive_count: 0,
                        });
                    }
                    drop(state);
                    self.inner.items.notify_one();
                    return Ok(());
                }
            }
            space.await;
        }
    }

    async fn send_batch(&self, items: Vec<T>) -> Result<(), QueueError> {
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let space = self.inner.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            {
                let mut state = self.inner.lock();
                if state.closed {
                    return Err(self.closed_error());
                }
                let mut pushed = false;
                while state.queued() < self.inner.capacity {
                    let Some(item) = items.next() else { break };
                    state.ready.push_back(Entry {
                        item,
                        receive_count: 0,
                    });
                    pushed = true;
                }
                drop(state);
                if pushed {
                    self.inner.items.notify_one();
                }
                if items.peek().is_none() {
                    return Ok(());
                }
            }
            space.await;
        }
        Ok(())
    }
}

#[async_trait]
impl<T: Send + 'static> Source<T> for MemoryQueue<T> {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery<T>>, QueueError> {
        let deadline = Instant::now() + wait;
        loop {
            let items = self.inner.items.notified();
            tokio::pin!(items);
            items.as_mut().enable();
            let next_due = {
                let mut state = self.inner.lock();
                state.promote_due(Instant::now());
                if !state.ready.is_empty() {
                    let take = max.max(1).min(state.ready.len());
                    let mut batch = Vec::with_capacity(take);
                    for entry in state.ready.drain(..take) {
                        let receive_count = entry.receive_count + 1;
                        batch.push(Delivery::new(
                            entry.item,
                            receive_count,
                            Box::new(MemoryAcker {
                                inner: Arc::clone(&self.inner),
                                receive_count,
                            }),
                        ));
                    }
                    state.in_flight += take;
                    let more = !state.ready.is_empty();
                    drop(state);
                    self.inner.space.notify_waiters();
                    if more {
                        self.inner.items.notify_one();
                    }
                    return Ok(batch);
                }
                if state.closed && state.delayed.is_empty() && state.in_flight == 0 {
                    return Err(self.closed_error());
                }
                state.delayed.peek().map(|d| d.due)
            };
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let wake = next_due.map_or(deadline, |due| due.min(deadline));
            tokio::select! {
                () = &mut items => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

struct MemoryAcker<T> {
    inner: Arc<Inner<T>>,
    receive_count: u32,
}

impl<T> MemoryAcker<T> {
    fn settle(&self, requeue: Option<(T, Duration, bool)>) {
        let mut state = self.inner.lock();
        match requeue {
            None => {
                state.in_flight = state.in_flight.saturating_sub(1);
                // A closed queue that just became idle must wake receivers
                // so they report `Closed`; otherwise an ack wakes nobody.
                let drained = state.closed && state.in_flight == 0 && state.queued() == 0;
                drop(state);
                if drained {
                    self.inner.items.notify_waiters();
                }
                return;
            }
            Some((item, delay, front)) => {
                let entry = Entry {
                    item,
                    receive_count: self.receive_count,
                };
                if front && delay.is_zero() {
                    state.in_flight = state.in_flight.saturating_sub(1);
                    state.ready.push_front(entry);
                } else {
                    state.requeue(entry, delay);
                }
            }
        }
        drop(state);
        self.inner.items.notify_one();
    }
}

#[async_trait]
// Written out rather than through `#[async_trait]`: settling in memory is
// immediate, so the returned future is the allocation-free `settled()`.
impl<T: Send + 'static> Acker<T> for MemoryAcker<T> {
    fn ack<'a>(self: Box<Self>) -> Settlement
    where
        Self: 'a,
    {
        self.settle(None);
        settled()
    }

    fn nack<'a>(self: Box<Self>, item: T, delay: Duration) -> Settlement
    where
        Self: 'a,
    {
        self.settle(Some((item, delay, false)));
        settled()
    }

    fn release(self: Box<Self>, item: T) {
        self.settle(Some((item, Duration::ZERO, true)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn send_receive_ack_empties_the_queue() {
        let queue = MemoryQueue::new("q", 10);
        queue.send(1).await.unwrap();
        queue.send(2).await.unwrap();
        let batch = queue.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(batch.iter().map(|d| *d.item()).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(queue.in_flight(), 2);
        for delivery in batch {
            delivery.ack().await.unwrap();
        }
        assert!(queue.is_idle());
    }

    #[tokio::test(start_paused = true)]
    async fn nack_with_delay_redelivers_after_the_delay_with_a_higher_count() {
        let queue = MemoryQueue::new("q", 10);
        queue.send("x").await.unwrap();
        let first = queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
        assert_eq!(first.receive_count(), 1);
        first.nack(Duration::from_secs(5)).await.unwrap();
        assert!(
            queue
                .receive(1, Duration::from_secs(1))
                .await
                .unwrap()
                .is_empty()
        );
        let again = queue.receive(1, Duration::from_secs(10)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].receive_count(), 2);
    }

    #[tokio::test]
    async fn a_dropped_delivery_is_released_to_the_front() {
        let queue = MemoryQueue::new("q", 10);
        queue.send("a").await.unwrap();
        queue.send("b").await.unwrap();
        let first = queue.receive(1, Duration::ZERO).await.unwrap();
        drop(first);
        let next = queue.receive(1, Duration::ZERO).await.unwrap();
        assert_eq!(*next[0].item(), "a");
    }

    #[tokio::test]
    async fn send_waits_for_space() {
        let queue = MemoryQueue::new("q", 1);
        queue.send(1).await.unwrap();
        let sender = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.send(2).await })
        };
        tokio::task::yield_now().await;
        assert!(!sender.is_finished());
        assert_eq!(queue.len(), 1);
        let batch = queue.receive(1, Duration::ZERO).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), sender)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(queue.len(), 1);
        drop(batch);
    }

    #[tokio::test]
    async fn close_drains_then_reports_closed() {
        let queue = MemoryQueue::new("q", 10);
        queue.send(1).await.unwrap();
        queue.close();
        assert!(queue.send(2).await.is_err());
        let batch = queue.receive(10, Duration::ZERO).await.unwrap();
        for delivery in batch {
            delivery.ack().await.unwrap();
        }
        assert!(matches!(
            queue.receive(10, Duration::ZERO).await,
            Err(QueueError::Closed(_))
        ));
    }
}
