//! The [`Router`]: message name → route → inclusion filter → handler.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::config::{ConnectorConfig, RouteConfig};
use crate::handler::{HandlerSetup, MessageHandler};
use crate::message::Message;
use crate::metrics::RouteMetrics;
use crate::registry::{HandlerRegistry, RegistryError};
use crate::services::Services;

/// A route with its built handler.
pub struct Route {
    config: RouteConfig,
    handler: Box<dyn MessageHandler>,
    filter: Option<Vec<String>>,
    coalesce: bool,
    metrics: RouteMetrics,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("route", &self.config.route)
            .field("handler", &self.config.handler)
            .field("filter", &self.filter)
            .field("coalesce", &self.coalesce)
            .finish()
    }
}

impl Route {
    /// The route's configuration.
    pub fn config(&self) -> &RouteConfig {
        &self.config
    }

    /// The route name.
    pub fn name(&self) -> &str {
        &self.config.route
    }

    /// The handler name.
    pub fn handler_name(&self) -> &str {
        &self.config.handler
    }

    /// The handler.
    pub fn handler(&self) -> &dyn MessageHandler {
        self.handler.as_ref()
    }

    /// Whether queued messages for one resource may be handled once.
    pub fn coalesces(&self) -> bool {
        self.coalesce
    }

    /// The route's counters: outcomes and handler durations of every message
    /// of this route in this process.
    pub fn metrics(&self) -> &RouteMetrics {
        &self.metrics
    }

    /// `true` when the route's inclusion filter lets `event_type` through.
    pub fn includes(&self, event_type: Option<&str>) -> bool {
        match (&self.filter, event_type) {
            (None, _) => true,
            (Some(filter), Some(event_type)) => filter.iter().any(|f| f == event_type),
            (Some(_), None) => false,
        }
    }
}

/// What the router decided for one message.
#[derive(Debug)]
pub enum Decision<'a> {
    /// Deliver to this route's handler.
    Deliver(&'a Arc<Route>),
    /// The route's inclusion filter excludes the event type: acknowledge.
    Filtered(&'a Arc<Route>),
    /// No route has the message's name: dead-letter.
    Unroutable,
}

/// Routes messages to handlers. Built once at startup from the
/// configuration and a [`HandlerRegistry`]; every route's handler must
/// resolve, or startup fails with the list of registered names.
#[derive(Debug, Clone)]
pub struct Router {
    // A connector has a handful of routes: a scan beats hashing the name.
    routes: Vec<Arc<Route>>,
    /// Messages no route has a name for that were dead-lettered.
    unroutable: Arc<AtomicU64>,
}

impl Router {
    /// Builds every route of `config` with handlers from `registry`.
    pub fn build(
        config: &ConnectorConfig,
        registry: &HandlerRegistry,
        services: &Services,
    ) -> Result<Self, RouterError> {
        registry.validate().map_err(RouterError::Registry)?;
        let mut routes: Vec<Arc<Route>> = Vec::with_capacity(config.routes.len());
        for route in &config.routes {
            let setup = HandlerSetup::new(route, services);
            let handler = registry
                .build(&setup)
                .map_err(|source| RouterError::Route {
                    route: route.route.clone(),
                    source,
                })?;
            let filter = route.inclusion_filter.clone();
            let coalesce = route.coalesce.unwrap_or_else(|| handler.coalesce());
            routes.push(Arc::new(Route {
                config: route.clone(),
                handler,
                filter,
                coalesce,
                metrics: RouteMetrics::default(),
            }));
        }
        Ok(Self {
            routes,
            unroutable: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The route named `name`.
    pub fn route(&self, name: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| r.name() == name)
    }

    /// Every route, in configuration order.
    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.iter()
    }

    /// Messages whose name no route has, written to the dead-letter store
    /// (by any runtime using this router; clones share the count).
    pub fn unroutable_dead_letters(&self) -> u64 {
        self.unroutable.load(Relaxed)
    }

    pub(crate) fn count_unroutable(&self) {
        self.unroutable.fetch_add(1, Relaxed);
    }

    /// Decides what happens to `message`.
    pub fn decide(&self, message: &Message) -> Decision<'_> {
        match self.route(&message.route) {
            None => Decision::Unroutable,
            Some(route) if route.includes(message.event_type.as_deref()) => {
                Decision::Deliver(route)
            }
            Some(route) => Decision::Filtered(route),
        }
    }
}

/// A configuration that cannot be turned into routes.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// A route's handler cannot be resolved or built.
    #[error("route `{route}`: {source}")]
    Route {
        /// The route.
        route: String,
        /// Why.
        source: RegistryError,
    },
    /// The registry has ambiguous names.
    #[error(transparent)]
    Registry(RegistryError),
    /// The routes themselves are inconsistent.
    #[error("{0}")]
    Invalid(String),
}
