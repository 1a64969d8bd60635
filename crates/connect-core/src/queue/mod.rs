//! Queues: a [`Source`] of [`Delivery`]s that are acknowledged or
//! negatively acknowledged one by one, and a [`Sink`] to send items to.
//!
//! Two item types travel through the SDK: [`RawPayload`] (what arrives on
//! the CT queue, untouched) and [`Message`] (what waits in the event queue).
//! The in-memory queue moves items without encoding them; wire backends such
//! as SQS use [`QueueItem`] to encode and decode.

mod memory;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::QueueError;
use crate::message::Message;

pub use memory::MemoryQueue;

/// An item a queue can carry over the wire.
pub trait QueueItem: Send + Sync + Sized + 'static {
    /// Encodes the item as a message body.
    fn encode(&self) -> Result<String, QueueError>;
    /// Decodes a message body (with the transport's attributes).
    fn decode(body: String, attributes: BTreeMap<String, String>) -> Result<Self, QueueError>;
    /// Items with the same key must stay in order (FIFO message group).
    fn ordering_key(&self) -> Option<&str> {
        None
    }
    /// Identifies duplicates of one item (FIFO deduplication id).
    fn dedup_id(&self) -> Option<&str> {
        None
    }
}

impl QueueItem for Message {
    fn encode(&self) -> Result<String, QueueError> {
        serde_json::to_string(self).map_err(|e| QueueError::Codec(e.to_string()))
    }

    fn decode(body: String, _attributes: BTreeMap<String, String>) -> Result<Self, QueueError> {
        serde_json::from_str(&body).map_err(|e| {
            QueueError::Codec(format!("event queue body is not a connect message: {e}"))
        })
    }

    fn ordering_key(&self) -> Option<&str> {
        Some(Message::ordering_key(self))
    }

    fn dedup_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

/// A payload exactly as it arrived, with the transport's attributes (for
/// example the SQS message id).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawPayload {
    /// The body, usually JSON.
    pub body: String,
    /// Transport attributes.
    pub attributes: BTreeMap<String, String>,
}

impl RawPayload {
    /// A payload with no attributes.
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            attributes: BTreeMap::new(),
        }
    }
}

impl QueueItem for RawPayload {
    fn encode(&self) -> Result<String, QueueError> {
        Ok(self.body.clone())
    }

    fn decode(body: String, attributes: BTreeMap<String, String>) -> Result<Self, QueueError> {
        Ok(Self { body, attributes })
    }
}

/// Where deliveries come from.
#[async_trait]
pub trait Source<T: Send + 'static>: Send + Sync {
    /// Waits at most `wait` for items and returns up to `max` of them; an
    /// empty list means nothing arrived in time.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery<T>>, QueueError>;
}

/// Where items are sent.
#[async_trait]
pub trait Sink<T: Send + 'static>: Send + Sync {
    /// Sends one item; waits while the queue is full.
    async fn send(&self, item: T) -> Result<(), QueueError>;

    /// Sends several items, in order.
    async fn send_batch(&self, items: Vec<T>) -> Result<(), QueueError> {
        for item in items {
            self.send(item).await?;
        }
        Ok(())
    }

    /// `true` when items sent survive the end of this process (a wire
    /// queue such as SQS); `false` (the default) for in-memory queues. A
    /// connector whose event queue is not durable keeps each raw payload
    /// unsettled in the CT queue until its message is settled.
    fn is_durable(&self) -> bool {
        false
    }
}

/// A settlement in progress (an ack or a nack), as returned by
/// [`Delivery::ack`] and [`Delivery::nack`]: it owns everything it needs, so
/// many can be started at once and awaited together (a wire backend then
/// batches them).
pub type Settlement = Pin<Box<dyn Future<Output = Result<(), QueueError>> + Send + 'static>>;

/// A settlement that is already complete: what an in-memory queue, which
/// settles at once, returns. It allocates nothing.
pub fn settled() -> Settlement {
    Box::pin(Settled)
}

/// The future of [`settled`]: ready at once, and zero-sized.
#[derive(Debug)]
struct Settled;

impl Future for Settled {
    type Output = Result<(), QueueError>;

    fn poll(
        self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Settles one delivery with its backend.
#[async_trait]
pub trait Acker<T>: Send + Sync {
    /// The item was processed: remove it from the queue.
    async fn ack(self: Box<Self>) -> Result<(), QueueError>;
    /// The item was not processed: deliver it again after `delay`.
    async fn nack(self: Box<Self>, item: T, delay: Duration) -> Result<(), QueueError>;
    /// The delivery was dropped unsettled (shutdown, a cancelled task):
    /// make the item available again as soon as possible. Must not block.
    fn release(self: Box<Self>, item: T);
}

/// One item received from a [`Source`], to be [`ack`](Delivery::ack)ed or
/// [`nack`](Delivery::nack)ed. Dropping it unsettled releases the item back
/// to its queue, so nothing is lost.
pub struct Delivery<T: Send + 'static> {
    // The item is boxed: a delivery moves through several queues and
    // structures on its way to a handler, and moving a pointer is cheaper
    // than moving the item (an acknowledgement drops it where it is).
    state: Option<(Box<T>, Box<dyn Acker<T>>)>,
    receive_count: u32,
}

impl<T: Send + fmt::Debug + 'static> fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("item", &self.state.as_ref().map(|(item, _)| item))
            .field("receive_count", &self.receive_count)
            .finish()
    }
}

impl<T: Send + 'static> Delivery<T> {
    /// A delivery of `item` (received `receive_count` times, from 1) settled
    /// through `acker`.
    pub fn new(item: T, receive_count: u32, acker: Box<dyn Acker<T>>) -> Self {
        Self {
            state: Some((Box::new(item), acker)),
            receive_count,
        }
    }

    /// The item.
    pub fn item(&self) -> &T {
        match &self.state {
            Some((item, _)) => item,
            None => unreachable!("a delivery is settled only by consuming it"),
        }
    }

    /// The item, mutably.
    pub fn item_mut(&mut self) -> &mut T {
        match &mut self.state {
            Some((item, _)) => item,
            None => unreachable!("a delivery is settled only by consuming it"),
        }
    }

    /// How many times this item has been delivered, this time included.
    pub fn receive_count(&self) -> u32 {
        self.receive_count
    }

    /// Removes the item from its queue. The item is dropped before the
    /// returned future runs, so awaiting it holds no copy of the item.
    pub fn ack(mut self) -> Settlement {
        match self.state.take() {
            Some((item, acker)) => {
                drop(item);
                acker.ack()
            }
            None => settled(),
        }
    }

    /// Returns the item to its queue, to be delivered again after `delay`.
    pub fn nack(mut self, delay: Duration) -> Settlement {
        match self.state.take() {
            Some((item, acker)) => acker.nack(*item, delay),
            None => settled(),
        }
    }

    /// Returns the item to its queue at once without awaiting the backend.
    pub fn release(mut self) {
        if let Some((item, acker)) = self.state.take() {
            acker.release(*item);
        }
    }

    /// This delivery, carrying `item` instead: settling the returned
    /// delivery settles this one (with the same receive count). The CT queue
    /// listener uses it so that a raw payload stays unsettled in its queue
    /// until the message it became is settled (end-to-end acknowledgement).
    ///
    /// ```
    /// use std::time::Duration;
    /// use connect_core::queue::{MemoryQueue, Sink, Source};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let raw = MemoryQueue::new("ct-queue", 10);
    /// raw.send("{\"id\": 1}".to_owned()).await.unwrap();
    /// let delivery = raw.receive(1, Duration::ZERO).await.unwrap().remove(0);
    /// let parsed = delivery.with_item(1_u32);
    /// assert_eq!(raw.in_flight(), 1, "held until the parsed item is settled");
    /// parsed.ack().await.unwrap();
    /// assert!(raw.is_idle());
    /// # });
    /// ```
    pub fn with_item<U: Send + 'static>(self, item: U) -> Delivery<U>
    where
        T: Sync,
    {
        let receive_count = self.receive_count;
        Delivery::new(item, receive_count, Box::new(Upstream(self)))
    }
}

impl<T: Send + Sync + 'static> Delivery<T> {
    /// This delivery, calling `on_ack` once it has been acknowledged
    /// successfully (not when it is nacked, released or dropped). Used to
    /// learn which items are done, e.g. to remove replayed dead letters or
    /// to know where an interrupted backfill can resume.
    pub fn on_ack(mut self, on_ack: impl FnOnce() + Send + Sync + 'static) -> Self {
        if let Some((item, acker)) = self.state.take() {
            self.state = Some((
                item,
                Box::new(OnAck {
                    acker,
                    on_ack: Box::new(on_ack),
                }),
            ));
        }
        self
    }
}

/// Calls a function once the inner acker acknowledged.
struct OnAck<T> {
    acker: Box<dyn Acker<T>>,
    on_ack: Box<dyn FnOnce() + Send + Sync>,
}

impl<T: Send + 'static> Acker<T> for OnAck<T> {
    fn ack<'a>(self: Box<Self>) -> Pin<Box<dyn Future<Output = Result<(), QueueError>> + Send + 'a>>
    where
        Self: 'a,
    {
        let OnAck { acker, on_ack } = *self;
        Box::pin(async move {
            acker.ack().await?;
            on_ack();
            Ok(())
        })
    }

    fn nack<'a>(
        self: Box<Self>,
        item: T,
        delay: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<(), QueueError>> + Send + 'a>>
    where
        Self: 'a,
    {
        self.acker.nack(item, delay)
    }

    fn release(self: Box<Self>, item: T) {
        self.acker.release(item);
    }
}

/// Settles an upstream delivery on behalf of the item that replaced it.
struct Upstream<T: Send + 'static>(Delivery<T>);

// Written out rather than through `#[async_trait]`: the upstream settlement
// is already a boxed future, so it is returned as it is.
impl<T: Send + Sync + 'static, U: Send + 'static> Acker<U> for Upstream<T> {
    fn ack<'a>(self: Box<Self>) -> Pin<Box<dyn Future<Output = Result<(), QueueError>> + Send + 'a>>
    where
        Self: 'a,
    {
        self.0.ack()
    }

    fn nack<'a>(
        self: Box<Self>,
        _item: U,
        delay: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<(), QueueError>> + Send + 'a>>
    where
        Self: 'a,
    {
        self.0.nack(delay)
    }

    fn release(self: Box<Self>, _item: U) {
        self.0.release();
    }
}

impl<T: Send + 'static> Drop for Delivery<T> {
    fn drop(&mut self) {
        if let Some((item, acker)) = self.state.take() {
            acker.release(*item);
        }
    }
}
