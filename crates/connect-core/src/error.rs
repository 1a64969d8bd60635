//! Error types shared by every part of the SDK.
//!
//! The one distinction that matters at runtime is [`HandlerError`]'s
//! *retryable* versus *unprocessable*: the first is retried with backoff, the
//! second goes straight to the dead-letter store.

use std::fmt;
use std::time::Duration;

/// A boxed, thread-safe error, as in `tower`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How an error should be treated by the runtime.
///
/// Client errors (the network, the remote APIs) implement this so that `?`
/// inside a handler classifies them correctly:
///
/// ```
/// use std::time::Duration;
/// use connect_core::{HandlerError, Retryability};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("service busy")]
/// struct Busy;
///
/// impl Retryability for Busy {
///     fn is_retryable(&self) -> bool { true }
///     fn retry_after(&self) -> Option<Duration> { Some(Duration::from_secs(2)) }
/// }
///
/// let error: HandlerError = Busy.into();
/// assert!(error.is_retryable());
/// assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
/// ```
pub trait Retryability {
    /// `true` when trying again later may succeed (network, 429, 5xx, timeouts).
    fn is_retryable(&self) -> bool;

    /// How long the remote side asked us to wait, if it said.
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    /// `Some(dependency)` when this error would fail every message alike
    /// because `dependency` (e.g. `fluent`) is down or refuses the
    /// connector's credentials: the runtime then pauses intake instead of
    /// failing the message (see [`ErrorKind::Systemic`]).
    fn systemic(&self) -> Option<&'static str> {
        None
    }
}

/// The ways a message can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Try again later: the failure is expected to pass. Counts as an
    /// attempt; after `max-attempts` the message is dead-lettered.
    Retryable,
    /// Never retry: the message itself cannot be processed.
    Unprocessable,
    /// A dependency is down (refused credentials, connection refused, an
    /// outage that outlasted the client's retries): every message would
    /// fail alike. The message keeps its attempts and waits while the
    /// runtime pauses intake and probes the dependency.
    Systemic,
}

/// The error a [`MessageHandler`](crate::MessageHandler) returns.
///
/// Build one with [`HandlerError::retryable`] or
/// [`HandlerError::unprocessable`], or let `?` convert any error that
/// implements [`Retryability`].
pub struct HandlerError {
    kind: ErrorKind,
    retry_after: Option<Duration>,
    dependency: Option<&'static str>,
    source: BoxError,
}

impl HandlerError {
    /// A failure worth retrying with backoff.
    pub fn retryable(error: impl Into<BoxError>) -> Self {
        Self {
            kind: ErrorKind::Retryable,
            retry_after: None,
            dependency: None,
            source: error.into(),
        }
    }

    /// A message that can never succeed: it goes to the dead-letter store.
    pub fn unprocessable(error: impl Into<BoxError>) -> Self {
        Self {
            kind: ErrorKind::Unprocessable,
            retry_after: None,
            dependency: None,
            source: error.into(),
        }
    }

    /// `dependency` is down: the message did not fail, the dependency did.
    /// The runtime keeps the message (without using up an attempt), pauses
    /// intake and probes `dependency` until it answers again.
    ///
    /// ```
    /// use connect_core::{ErrorKind, HandlerError};
    ///
    /// let error = HandlerError::systemic("loyalty-api", "connection refused");
    /// assert_eq!(error.kind(), ErrorKind::Systemic);
    /// assert_eq!(error.dependency(), Some("loyalty-api"));
    /// ```
    pub fn systemic(dependency: &'static str, error: impl Into<BoxError>) -> Self {
        Self {
            kind: ErrorKind::Systemic,
            retry_after: None,
            dependency: Some(dependency),
            source: error.into(),
        }
    }

    /// Asks the runtime to wait at least `delay` before the next attempt.
    #[must_use]
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    /// Whether the runtime will retry this failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// `true` for [`ErrorKind::Retryable`] and [`ErrorKind::Systemic`]:
    /// the message will be handled again.
    pub fn is_retryable(&self) -> bool {
        self.kind != ErrorKind::Unprocessable
    }

    /// The dependency that is down, for [`ErrorKind::Systemic`] errors.
    pub fn dependency(&self) -> Option<&'static str> {
        self.dependency
    }

    /// The same error, counted against the message: a systemic error that
    /// keeps failing one message while its dependency serves the others is
    /// a failure of that message.
    #[must_use]
    pub fn into_retryable(mut self) -> Self {
        if self.kind == ErrorKind::Systemic {
            self.kind = ErrorKind::Retryable;
        }
        self
    }

    /// The delay the failing service asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The underlying error.
    pub fn source_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.source.as_ref()
    }

    /// The underlying error, owned.
    pub fn into_source(self) -> BoxError {
        self.source
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("kind", &self.kind)
            .field("retry_after", &self.retry_after)
            .field("dependency", &self.dependency)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)?;
        let mut source = self.source.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl<E> From<E> for HandlerError
where
    E: std::error::Error + Retryability + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        let dependency = error.systemic();
        let kind = if dependency.is_some() {
            ErrorKind::Systemic
        } else if error.is_retryable() {
            ErrorKind::Retryable
        } else {
            ErrorKind::Unprocessable
        };
        Self {
            kind,
            retry_after: error.retry_after(),
            dependency,
            source: Box::new(error),
        }
    }
}

/// Classifies the error of a `Result` in place.
///
/// ```
/// use connect_core::{HandlerError, ResultExt};
///
/// fn parse(text: &str) -> Result<u64, HandlerError> {
///     text.parse::<u64>().unprocessable()
/// }
/// assert!(!parse("x").unwrap_err().is_retryable());
/// ```
pub trait ResultExt<T> {
    /// Maps the error to [`HandlerError::retryable`].
    fn retryable(self) -> Result<T, HandlerError>;
    /// Maps the error to [`HandlerError::unprocessable`].
    fn unprocessable(self) -> Result<T, HandlerError>;
}

impl<T, E: Into<BoxError>> ResultExt<T> for Result<T, E> {
    fn retryable(self) -> Result<T, HandlerError> {
        self.map_err(HandlerError::retryable)
    }

    fn unprocessable(self) -> Result<T, HandlerError> {
        self.map_err(HandlerError::unprocessable)
    }
}

/// An error building a handler for a route at startup.
#[derive(Debug, thiserror::Error)]
#[error("route `{route}` (handler `{handler}`): {message}")]
pub struct SetupError {
    /// The route being built.
    pub route: String,
    /// The handler name the route asked for.
    pub handler: String,
    /// What went wrong and what to do.
    pub message: String,
}

impl SetupError {
    /// An error for `route`/`handler` with an explanation.
    pub fn new(
        route: impl Into<String>,
        handler: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            route: route.into(),
            handler: handler.into(),
            message: message.into(),
        }
    }
}

/// An error talking to a queue backend.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue was closed; no more items will be received or accepted.
    #[error("the queue `{0}` is closed")]
    Closed(String),
    /// An item could not be encoded or decoded for the wire.
    #[error("cannot encode or decode a queue item: {0}")]
    Codec(String),
    /// The backend failed (network, permissions, throttling, ...).
    #[error("queue backend error: {message}")]
    Backend {
        /// What failed.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },
}

impl QueueError {
    /// A backend error with a message and its cause.
    pub fn backend(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

impl Retryability for QueueError {
    fn is_retryable(&self) -> bool {
        matches!(self, Self::Backend { .. })
    }
}

/// Writes `error` as its `Display` text followed by each cause in its
/// source chain that the text does not already name. User-facing error
/// types implement `Debug` with it, so an error returned from `main` or a
/// test (`Box<dyn Error>`, `unwrap`) keeps its hint.
pub fn write_with_causes(
    error: &(dyn std::error::Error + 'static),
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let mut shown = error.to_string();
    f.write_str(&shown)?;
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !shown.contains(&text) {
            write!(f, "\n\nCaused by: {text}")?;
            shown.push_str(&text);
        }
        source = cause.source();
    }
    Ok(())
}
