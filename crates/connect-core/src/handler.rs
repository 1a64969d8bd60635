//! [`MessageHandler`]: the one trait partners implement, and what it sees.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::config::RouteConfig;
use crate::error::{HandlerError, SetupError};
use crate::message::Message;
use crate::queue::Sink;
use crate::services::Services;

/// Processes one message.
///
/// Return `Ok` when the message is done (it is acknowledged), a
/// [retryable](HandlerError::retryable) error to try again later with
/// backoff, or an [unprocessable](HandlerError::unprocessable) error to send
/// it to the dead-letter store at once. A panic is caught and dead-letters
/// that message only.
///
/// Register an implementation under a name with
/// [`#[handler(name = "...")]`](crate::handler) and select it from YAML.
///
/// ```
/// use connect_core::{handler, HandlerContext, HandlerError, Message, MessageHandler, Outcome};
///
/// #[derive(Default)]
/// #[handler(name = "LogCustomer")]
/// struct LogCustomer;
///
/// #[connect_core::async_trait]
/// impl MessageHandler for LogCustomer {
///     async fn handle(&self, ctx: &HandlerContext<'_>, message: &Message) -> Result<Outcome, HandlerError> {
///         tracing::info!(route = %ctx.route().route, id = ?message.resource_id(), "customer changed");
///         Ok(Outcome::done())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a message handler",
    label = "implement `connect_core::MessageHandler` for `{Self}`",
    note = "write `#[connect_core::async_trait] impl MessageHandler for {Self} {{ async fn handle(...) }}`"
)]
#[async_trait]
pub trait MessageHandler: Send + Sync + 'static {
    /// Processes `message`.
    async fn handle(
        &self,
        ctx: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError>;

    /// `true` when handling the latest queued message for a resource makes
    /// earlier queued ones redundant, because the handler reads the current
    /// state of the resource instead of the message payload. The runtime then
    /// handles a burst of messages for one resource once. Default: `false`.
    fn coalesce(&self) -> bool {
        false
    }
}

/// What a handler did with a message, counted per label in the runtime's
/// [metrics](crate::runtime::Metrics).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Outcome {
    label: Cow<'static, str>,
}

impl Outcome {
    /// The label of [`Outcome::done`].
    pub const DONE: &'static str = "done";

    /// Processed.
    pub fn done() -> Self {
        Self {
            label: Cow::Borrowed(Self::DONE),
        }
    }

    /// Processed, with a label such as `created`, `updated` or `unchanged`.
    pub fn labeled(label: impl Into<Cow<'static, str>>) -> Self {
        Self {
            label: label.into(),
        }
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// What a handler can see and do while it processes one message.
pub struct HandlerContext<'a> {
    route: &'a RouteConfig,
    services: &'a Services,
    publisher: Option<&'a dyn Sink<Message>>,
    attempt: u32,
    max_attempts: u32,
}

impl fmt::Debug for HandlerContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerContext")
            .field("route", &self.route.route)
            .field("attempt", &self.attempt)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl<'a> HandlerContext<'a> {
    /// A context for `route` with `services`; the runtime builds these, and
    /// tests of a handler can too.
    pub fn new(route: &'a RouteConfig, services: &'a Services) -> Self {
        Self {
            route,
            services,
            publisher: None,
            attempt: 1,
            max_attempts: 1,
        }
    }

    /// Lets the handler publish follow-up messages to `sink`.
    #[must_use]
    pub fn with_publisher(mut self, sink: &'a dyn Sink<Message>) -> Self {
        self.publisher = Some(sink);
        self
    }

    /// Sets the attempt number and the maximum (the runtime passes the
    /// delivery's receive count and `runtime.max-attempts`).
    #[must_use]
    pub fn with_attempt(mut self, attempt: u32, max_attempts: u32) -> Self {
        self.attempt = attempt;
        self.max_attempts = max_attempts;
        self
    }

    /// The route being served.
    pub fn route(&self) -> &RouteConfig {
        self.route
    }

    /// The route's props.
    pub fn props(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.route.props
    }

    /// The shared service of type `T`. A missing service is a wiring
    /// mistake, reported as unprocessable.
    pub fn service<T: Send + Sync + 'static>(&self) -> Result<Arc<T>, HandlerError> {
        self.services
            .get::<T>()
            .ok_or_else(|| HandlerError::unprocessable(self.services.missing::<T>()))
    }

    /// All shared services.
    pub fn services(&self) -> &Services {
        self.services
    }

    /// Sends a follow-up message to the event queue.
    pub async fn publish(&self, message: Message) -> Result<(), HandlerError> {
        match self.publisher {
            Some(sink) => sink.send(message).await.map_err(HandlerError::from),
            None => Err(HandlerError::unprocessable(
                "this context has no publisher: build it with `HandlerContext::with_publisher`",
            )),
        }
    }

    /// This delivery's attempt number, from 1: how many times the queue has
    /// delivered the message. The one place the attempt number lives;
    /// messages carry none.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// `true` when a retryable failure now would dead-letter the message.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// What a handler factory sees when a route is built at startup.
#[derive(Debug)]
pub struct HandlerSetup<'a> {
    route: &'a RouteConfig,
    services: &'a Services,
}

impl<'a> HandlerSetup<'a> {
    /// A setup for `route` with `services`.
    pub fn new(route: &'a RouteConfig, services: &'a Services) -> Self {
        Self { route, services }
    }

    /// The route being built.
    pub fn route(&self) -> &RouteConfig {
        self.route
    }

    /// The route's props.
    pub fn props(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.route.props
    }

    /// Reads all props as `T` (use `#[serde(deny_unknown_fields)]` on `T` to
    /// reject typos).
    pub fn props_as<T: DeserializeOwned>(&self) -> Result<T, SetupError> {
        serde_json::from_value(serde_json::Value::Object(self.route.props.clone()))
            .map_err(|e| self.error(format!("invalid props: {e}")))
    }

    /// Reads prop `key` as `T`; `Ok(None)` when absent.
    pub fn prop<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SetupError> {
        self.route
            .props
            .get(key)
            .map(|value| {
                serde_json::from_value(value.clone())
                    .map_err(|e| self.error(format!("invalid props.{key}: {e}")))
            })
            .transpose()
    }

    /// The shared service of type `T`.
    pub fn service<T: Send + Sync + 'static>(&self) -> Result<Arc<T>, SetupError> {
        self.services
            .get::<T>()
            .ok_or_else(|| self.error(self.services.missing::<T>()))
    }

    /// All shared services.
    pub fn services(&self) -> &Services {
        self.services
    }

    /// An error about this route.
    pub fn error(&self, message: impl Into<String>) -> SetupError {
        SetupError::new(&self.route.route, &self.route.handler, message)
    }
}

/// Builds a handler for one route at startup.
///
/// Types implementing `Default` get this for free. Implement it to read
/// props or services once, so that a bad prop fails at startup rather than on
/// the first message:
///
/// ```
/// use connect_core::{FromRoute, HandlerSetup, SetupError};
///
/// struct Greeter { greeting: String }
///
/// impl FromRoute for Greeter {
///     fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
///         let greeting = setup.prop::<String>("greeting")?.unwrap_or_else(|| "hello".into());
///         Ok(Self { greeting })
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be built for a route",
    label = "derive `Default` for `{Self}`, or implement `connect_core::FromRoute`",
    note = "`#[handler]` builds one instance per route through `FromRoute`; types implementing `Default` implement it automatically"
)]
pub trait FromRoute: Sized {
    /// Builds the handler for `setup.route()`.
    fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError>;
}

impl<T: Default> FromRoute for T {
    fn from_route(_setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        Ok(T::default())
    }
}
