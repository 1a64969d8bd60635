//! Queues and dead-letter stores named in the configuration file, chosen by
//! the `type` of their block through one registry.
//!
//! Each backend implements [`Backend`] (and [`QueueBackend`] and/or
//! [`DeadLetterBackend`] for the roles it can take) and registers itself at
//! link time with [`register_backend!`](crate::register_backend), the
//! builtin ones as a partner's: adding one, e.g. Kafka, needs no edit of the
//! SDK. Each backend reads its own block ([`Block::config`]); the error for
//! an unknown `type` lists every registered kind.
//!
//! - `memory`: `type: in-memory` queues and dead letters (the default).
//! - `file`: `type: file` dead letters (JSON lines).
//! - `sqs`: `type: sqs` queues and dead letters (feature `sqs`).

mod file;
mod memory;
#[cfg(feature = "sqs")]
mod sqs;

use std::sync::Arc;
use std::time::Duration;

use connect_core::Message;
use connect_core::config::{BackendRef, ConfigDocument};
use connect_core::dead_letter::DeadLetterStore;
use connect_core::queue::{MemoryQueue, QueueItem, RawPayload, Sink, Source};

use crate::error::RunnerError;

/// A queue seen as both ends: where items are received and where they are
/// sent.
pub struct QueuePair<T: Send + 'static> {
    /// The receiving end.
    pub source: Arc<dyn Source<T>>,
    /// The sending end.
    pub sink: Arc<dyn Sink<T>>,
}

impl<T: Send + 'static> Clone for QueuePair<T> {
    fn clone(&self) -> Self {
        Self {
            source: Arc::clone(&self.source),
            sink: Arc::clone(&self.sink),
        }
    }
}

impl<T: Send + 'static> std::fmt::Debug for QueuePair<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueuePair")
    }
}

impl<T: Send + 'static> QueuePair<T> {
    /// Both ends of an in-memory queue.
    pub fn memory(queue: MemoryQueue<T>) -> Self {
        Self {
            source: Arc::new(queue.clone()),
            sink: Arc::new(queue),
        }
    }

    /// Both ends of one backend that implements both traits.
    pub fn of<Q: Source<T> + Sink<T> + 'static>(queue: Q) -> Self {
        let queue = Arc::new(queue);
        Self {
            source: Arc::clone(&queue) as Arc<dyn Source<T>>,
            sink: queue,
        }
    }
}

/// One backend registered by [`register_backend!`](crate::register_backend),
/// collected at link time. Plumbing of the macro, not a public API.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct BackendRegistration {
    /// The backend.
    pub backend: &'static dyn Backend,
}

impl std::fmt::Debug for BackendRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendRegistration")
            .field("kind", &self.backend.kind())
            .finish()
    }
}

inventory::collect!(BackendRegistration);

/// Registers a queue or dead-letter backend at link time, selected by its
/// [`Backend::kind`] in a block's `type`. The argument is a constant
/// expression of a type that implements [`Backend`], usually a unit struct;
/// the crate that calls it needs no `inventory` dependency.
///
/// ```
/// use connect_runner::{Backend, register_backend};
///
/// #[derive(Debug)]
/// struct Kafka;
///
/// impl Backend for Kafka {
///     fn kind(&self) -> &'static str {
///         "kafka"
///     }
/// }
///
/// register_backend!(Kafka);
/// assert!(connect_runner::backend_kinds().contains(&"kafka"));
/// ```
///
/// Registrations in a crate that the final binary never names are dropped
/// by the linker; add `use that_crate as _;` to the binary.
#[macro_export]
macro_rules! register_backend {
    ($backend:expr) => {
        $crate::__private::inventory::submit! {
            $crate::__private::BackendRegistration { backend: &$backend }
        }
    };
}

/// The builtin kinds, in the order error messages list them (any other
/// registered kind follows, alphabetically).
const BUILTIN_ORDER: &[&str] = &["in-memory", "file", "sqs"];

/// Every backend linked into this build, in the order error messages list
/// them; a kind registered twice keeps its first registration.
fn registry() -> Vec<&'static dyn Backend> {
    let mut backends: Vec<&'static dyn Backend> = inventory::iter::<BackendRegistration>
        .into_iter()
        .map(|r| r.backend)
        .collect();
    let rank = |kind: &str| {
        BUILTIN_ORDER
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(BUILTIN_ORDER.len())
    };
    backends.sort_by(|a, b| (rank(a.kind()), a.kind()).cmp(&(rank(b.kind()), b.kind())));
    backends.dedup_by(|a, b| a.kind() == b.kind());
    backends
}

/// The `type`s of every backend linked into this build, builtin ones first.
pub fn backend_kinds() -> Vec<&'static str> {
    registry().iter().map(|b| b.kind()).collect()
}

/// Backends the `connect` command has but this build leaves out, with why.
const NOT_BUILT: &[(&str, &str)] = if cfg!(feature = "sqs") {
    &[]
} else {
    &[(
        "sqs",
        "this build has no `sqs` feature; the `connect` command has it",
    )]
};

/// One kind of backend, selected by the `type` of its block, e.g. `kafka`.
///
/// Implement [`QueueBackend`] and/or [`DeadLetterBackend`] for the roles it
/// can take and return them from [`queue`](Self::queue) and
/// [`dead_letters`](Self::dead_letters); register it with
/// [`register_backend!`](crate::register_backend). docs/extending.md shows
/// a complete one.
pub trait Backend: Sync {
    /// The `type` that selects it, e.g. `in-memory`.
    fn kind(&self) -> &'static str;

    /// Its queue side, if it can be a queue (`listeners.ct-queue`,
    /// `event-queue`).
    fn queue(&self) -> Option<&dyn QueueBackend> {
        None
    }

    /// Its dead-letter side, if it can be `runtime.dead-letter`.
    fn dead_letters(&self) -> Option<&dyn DeadLetterBackend> {
        None
    }
}

/// Where a backend's block is: the document and the block's reference.
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    /// The configuration file.
    pub doc: &'a ConfigDocument,
    /// The `type` and the dotted path of the block.
    pub backend: &'a BackendRef,
}

impl<'a> Block<'a> {
    /// The block `backend` points at in `doc`.
    pub fn new(doc: &'a ConfigDocument, backend: &'a BackendRef) -> Self {
        Self { doc, backend }
    }

    /// The dotted path of the block, or `(default)`.
    pub fn path(&self) -> &str {
        self.backend.section.as_deref().unwrap_or("(default)")
    }

    /// The backend's own configuration type, read from the block strictly
    /// (an unknown key is an error with its line and the keys allowed, so
    /// `T` should be `#[serde(deny_unknown_fields)]` and accept the `type`
    /// key); `Ok(None)` when the block was defaulted, not written.
    pub fn config<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, RunnerError> {
        Ok(self.doc.backend(self.backend)?)
    }

    /// Like [`config`](Self::config), but a defaulted block is an error
    /// naming what to write.
    pub fn require_config<T: serde::de::DeserializeOwned>(
        &self,
        hint: &str,
    ) -> Result<T, RunnerError> {
        self.config()?.ok_or_else(|| {
            self.error(format_args!(
                "`type: {}` needs its settings: {hint}",
                self.backend.kind
            ))
        })
    }

    /// A backend error about this block: `message` is prefixed with its path.
    pub fn error(&self, message: impl std::fmt::Display) -> RunnerError {
        RunnerError::Backend {
            origin: self.doc.origin().to_owned(),
            message: format!("{}: {message}", self.path()),
        }
    }
}

/// What a queue is opened with besides its block.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct QueueOptions<'a> {
    /// The queue's role (`ct-queue` or `event-queue`), e.g. to label it.
    pub name: &'a str,
    /// The runtime's `max-attempts`, for a backend to check against its own
    /// redelivery limit (SQS: the redrive policy).
    pub max_attempts: Option<u32>,
}

/// An opened queue, with how its consumer should receive from it.
#[derive(Debug)]
pub struct Opened<T: Send + 'static> {
    /// Both ends of the queue.
    pub pair: QueuePair<T>,
    /// Batch size and wait per receive suited to the backend, if it has a
    /// preference (SQS: up to 10 messages, long polling).
    pub receive: Option<(usize, Duration)>,
}

impl<T: Send + 'static> Opened<T> {
    /// `pair`, received from with the connector's defaults.
    pub fn new(pair: QueuePair<T>) -> Self {
        Self {
            pair,
            receive: None,
        }
    }
}

/// A backend that can be a queue. The connector has two queues, of raw
/// payloads and of messages; each backend opens both, usually through one
/// generic function of its own.
#[connect_core::async_trait]
pub trait QueueBackend: Sync {
    /// Checks the block without connecting to anything.
    fn check(&self, block: Block<'_>) -> Result<(), RunnerError>;

    /// Opens a queue of raw commercetools payloads (the CT queue).
    async fn open_payloads(
        &self,
        block: Block<'_>,
        options: QueueOptions<'_>,
    ) -> Result<Opened<RawPayload>, RunnerError>;

    /// Opens a queue of messages (the event queue).
    async fn open_messages(
        &self,
        block: Block<'_>,
        options: QueueOptions<'_>,
    ) -> Result<Opened<Message>, RunnerError>;
}

/// A backend that can store dead letters.
#[connect_core::async_trait]
pub trait DeadLetterBackend: Sync {
    /// Checks the block without opening anything.
    fn check(&self, block: Block<'_>) -> Result<(), RunnerError>;

    /// Checks, without connecting or writing anything, what can be known
    /// offline (a file store's directory is writable); most stores are only
    /// checked when opened.
    async fn check_offline(&self, _block: Block<'_>) -> Result<(), RunnerError> {
        Ok(())
    }

    /// Opens the store.
    async fn open(&self, block: Block<'_>) -> Result<Arc<dyn DeadLetterStore>, RunnerError>;
}

/// The item types a queue can carry, each opened by its own method of
/// [`QueueBackend`].
pub(crate) trait Item: QueueItem {
    /// Opens a queue of `Self` with `backend`.
    fn open<'a>(
        backend: &'a dyn QueueBackend,
        block: Block<'a>,
        options: QueueOptions<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<Opened<Self>, RunnerError>>;
}

impl Item for RawPayload {
    fn open<'a>(
        backend: &'a dyn QueueBackend,
        block: Block<'a>,
        options: QueueOptions<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<Opened<Self>, RunnerError>> {
        backend.open_payloads(block, options)
    }
}

impl Item for Message {
    fn open<'a>(
        backend: &'a dyn QueueBackend,
        block: Block<'a>,
        options: QueueOptions<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<Opened<Self>, RunnerError>> {
        backend.open_messages(block, options)
    }
}

/// `` `in-memory`, `file` or `sqs` ``: the kinds that can take a role, with
/// the kinds this build leaves out explained.
fn allowed(role: impl Fn(&dyn Backend) -> bool) -> String {
    let kinds: Vec<String> = registry()
        .into_iter()
        .filter(|b| role(*b))
        .map(|b| format!("`{}`", b.kind()))
        .collect();
    let mut text = match kinds.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    };
    let linked = backend_kinds();
    let missing: Vec<&str> = NOT_BUILT
        .iter()
        .filter(|(kind, _)| !linked.contains(kind))
        .map(|(_, why)| *why)
        .collect();
    if !missing.is_empty() {
        text.push_str(&format!(" ({})", missing.join("; ")));
    }
    text
}

fn find(kind: &str) -> Option<&'static dyn Backend> {
    registry().into_iter().find(|b| b.kind() == kind)
}

fn queue_backend(block: Block<'_>) -> Result<&'static dyn QueueBackend, RunnerError> {
    find(&block.backend.kind)
        .and_then(Backend::queue)
        .ok_or_else(|| {
            block.error(format_args!(
                "`type: {}` is not supported; use {}",
                block.backend.kind,
                allowed(|b| b.queue().is_some())
            ))
        })
}

fn dead_letter_backend(block: Block<'_>) -> Result<&'static dyn DeadLetterBackend, RunnerError> {
    find(&block.backend.kind)
        .and_then(Backend::dead_letters)
        .ok_or_else(|| {
            block.error(format_args!(
                "`type: {}` is not supported; use {}",
                block.backend.kind,
                allowed(|b| b.dead_letters().is_some())
            ))
        })
}

/// Checks a queue block without connecting to anything.
pub(crate) fn check_queue(doc: &ConfigDocument, backend: &BackendRef) -> Result<(), RunnerError> {
    let block = Block { doc, backend };
    queue_backend(block)?.check(block)
}

/// Opens the queue a block describes; `name` labels an in-memory queue.
/// `max_attempts` is the runtime's, checked against an SQS redrive policy.
pub(crate) async fn open_queue<T: Item>(
    doc: &ConfigDocument,
    backend: &BackendRef,
    name: &str,
    max_attempts: Option<u32>,
) -> Result<Opened<T>, RunnerError> {
    let block = Block { doc, backend };
    let options = QueueOptions { name, max_attempts };
    T::open(queue_backend(block)?, block, options).await
}

/// Checks a dead-letter block without opening anything.
pub(crate) fn check_dead_letters(
    doc: &ConfigDocument,
    backend: &BackendRef,
) -> Result<(), RunnerError> {
    let block = Block { doc, backend };
    dead_letter_backend(block)?.check(block)
}

/// Checks, without connecting or writing anything, what can be known of a
/// dead-letter store offline (a `type: file` store can be written).
pub(crate) async fn check_dead_letters_offline(
    doc: &ConfigDocument,
    backend: &BackendRef,
) -> Result<(), RunnerError> {
    let block = Block { doc, backend };
    dead_letter_backend(block)?.check_offline(block).await
}

/// Opens the dead-letter store a block describes.
pub(crate) async fn open_dead_letters(
    doc: &ConfigDocument,
    backend: &BackendRef,
) -> Result<Arc<dyn DeadLetterStore>, RunnerError> {
    let block = Block { doc, backend };
    dead_letter_backend(block)?.open(block).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> ConfigDocument {
        ConfigDocument::from_yaml("app.yml", yaml)
    }

    const ROUTES: &str = "connector-name: x\nroutes:\n  - route: r\n    handler: H\n";

    #[test]
    fn an_unknown_queue_type_lists_the_registered_queue_kinds() {
        let doc = doc(&format!("{ROUTES}event-queue:\n  type: kafka\n"));
        let config = doc.connector().map_err(|e| e.to_string());
        let Ok(config) = config else {
            panic!("{config:?}");
        };
        let error = check_queue(&doc, &config.event_queue).map(drop);
        let expected = if cfg!(feature = "sqs") {
            "app.yml: event-queue: `type: kafka` is not supported; use `in-memory` or `sqs`"
        } else {
            "app.yml: event-queue: `type: kafka` is not supported; use `in-memory` (this build has no `sqs` feature; the `connect` command has it)"
        };
        assert_eq!(error.map_err(|e| e.to_string()), Err(expected.to_owned()));
    }

    #[test]
    fn an_unknown_dead_letter_type_lists_the_registered_store_kinds() {
        let doc = doc(&format!(
            "{ROUTES}runtime:\n  dead-letter:\n    type: kafka\n"
        ));
        let config = doc.connector().map_err(|e| e.to_string());
        let Ok(config) = config else {
            panic!("{config:?}");
        };
        let error = check_dead_letters(&doc, &config.runtime.dead_letter).map(drop);
        let expected = if cfg!(feature = "sqs") {
            "app.yml: runtime.dead-letter: `type: kafka` is not supported; use `in-memory`, `file` or `sqs`"
        } else {
            "app.yml: runtime.dead-letter: `type: kafka` is not supported; use `in-memory` or `file` (this build has no `sqs` feature; the `connect` command has it)"
        };
        assert_eq!(error.map_err(|e| e.to_string()), Err(expected.to_owned()));
    }

    #[test]
    fn a_file_store_is_no_queue() {
        let doc = doc(&format!("{ROUTES}event-queue:\n  type: file\n"));
        let config = doc.connector().map_err(|e| e.to_string());
        let Ok(config) = config else {
            panic!("{config:?}");
        };
        let error = check_queue(&doc, &config.event_queue).map_err(|e| e.to_string());
        assert!(
            error
                .as_ref()
                .is_err_and(|e| e.contains("`type: file` is not supported; use `in-memory`")),
            "{error:?}"
        );
    }

    #[test]
    fn every_kind_is_registered_once() {
        let kinds: Vec<&str> = inventory::iter::<BackendRegistration>
            .into_iter()
            .map(|r| r.backend.kind())
            .collect();
        let mut unique = kinds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(kinds.len(), unique.len(), "{kinds:?}");
    }
}
