//! Handler registration: by `#[handler(name = "...")]` at link time, or
//! explicitly through [`HandlerRegistry`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::error::SetupError;
use crate::handler::{FromRoute, HandlerSetup, MessageHandler};

/// Builds one handler instance for a route.
pub type HandlerFactory = fn(&HandlerSetup<'_>) -> Result<Box<dyn MessageHandler>, SetupError>;

/// One handler registered by `#[handler]`, collected at link time. Plumbing
/// of the macro (reachable only through `__private`), not a public API.
///
/// Registrations in a crate that the final binary never names are dropped by
/// the linker; add `use that_crate as _;` to the binary, test or example.
#[derive(Debug)]
pub struct HandlerRegistration {
    /// The name routes use in `handler:`.
    pub name: &'static str,
    /// Higher wins when several handlers share a name.
    pub priority: i32,
    /// Builds the handler.
    pub factory: HandlerFactory,
    /// The Rust type, for messages (`crate::module::Type`).
    pub type_name: &'static str,
}

inventory::collect!(HandlerRegistration);

/// The factory `#[handler]` registers for a type.
#[doc(hidden)]
pub fn factory_for<H: MessageHandler + FromRoute>(
    setup: &HandlerSetup<'_>,
) -> Result<Box<dyn MessageHandler>, SetupError> {
    H::from_route(setup).map(|handler| Box::new(handler) as Box<dyn MessageHandler>)
}

type DynFactory =
    Arc<dyn Fn(&HandlerSetup<'_>) -> Result<Box<dyn MessageHandler>, SetupError> + Send + Sync>;

#[derive(Clone)]
struct Candidate {
    priority: i32,
    origin: String,
    factory: DynFactory,
}

/// The handlers a connector can use, by name.
///
/// [`HandlerRegistry::linked`] collects every `#[handler]` in the binary;
/// [`register`](HandlerRegistry::register) adds handlers explicitly (tests,
/// platforms without link-time registration).
///
/// ```
/// use connect_core::{HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler, Outcome};
///
/// #[derive(Default)]
/// struct Noop;
///
/// #[connect_core::async_trait]
/// impl MessageHandler for Noop {
///     async fn handle(&self, _: &HandlerContext<'_>, _: &Message) -> Result<Outcome, HandlerError> {
///         Ok(Outcome::done())
///     }
/// }
///
/// let mut registry = HandlerRegistry::new();
/// registry.register::<Noop>("Noop", 0);
/// assert_eq!(registry.names(), vec!["Noop"]);
/// ```
#[derive(Clone, Default)]
pub struct HandlerRegistry {
    candidates: BTreeMap<String, Vec<Candidate>>,
}

impl fmt::Debug for HandlerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, candidates) in &self.candidates {
            let list: Vec<String> = candidates
                .iter()
                .map(|c| format!("{} (priority {})", c.origin, c.priority))
                .collect();
            map.entry(name, &list);
        }
        map.finish()
    }
}

impl HandlerRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every handler registered with `#[handler]` in this binary.
    pub fn linked() -> Self {
        let mut registry = Self::new();
        for registration in inventory::iter::<HandlerRegistration> {
            let factory = registration.factory;
            registry.insert(
                registration.name,
                registration.priority,
                registration.type_name.to_owned(),
                Arc::new(factory),
            );
        }
        registry
    }

    /// Registers handler type `H` under `name`.
    pub fn register<H: MessageHandler + FromRoute>(
        &mut self,
        name: impl Into<String>,
        priority: i32,
    ) -> &mut Self {
        self.insert(
            name,
            priority,
            std::any::type_name::<H>().to_owned(),
            Arc::new(factory_for::<H>),
        );
        self
    }

    /// Registers a factory closure under `name`.
    pub fn register_fn<H, F>(&mut self, name: impl Into<String>, priority: i32, f: F) -> &mut Self
    where
        H: MessageHandler,
        F: Fn(&HandlerSetup<'_>) -> Result<H, SetupError> + Send + Sync + 'static,
    {
        self.insert(
            name,
            priority,
            std::any::type_name::<H>().to_owned(),
            Arc::new(move |setup: &HandlerSetup<'_>| {
                f(setup).map(|h| Box::new(h) as Box<dyn MessageHandler>)
            }),
        );
        self
    }

    /// Registers one shared instance under `name`; every route using the
    /// name gets the same instance (useful in tests to observe calls).
    pub fn register_shared<H: MessageHandler>(
        &mut self,
        name: impl Into<String>,
        priority: i32,
        handler: Arc<H>,
    ) -> &mut Self {
        self.register_fn(name, priority, move |_| Ok(Shared(Arc::clone(&handler))))
    }

    fn insert(
        &mut self,
        name: impl Into<String>,
        priority: i32,
        origin: String,
        factory: DynFactory,
    ) {
        self.candidates
            .entry(name.into())
            .or_default()
            .push(Candidate {
                priority,
                origin,
                factory,
            });
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.candidates.keys().map(String::as_str).collect()
    }

    /// Each name with the type that wins it and its priority, sorted by name.
    pub fn entries(&self) -> Vec<RegistryEntry> {
        self.candidates
            .iter()
            .filter_map(|(name, list)| {
                let winner = list.iter().max_by_key(|c| c.priority)?;
                Some(RegistryEntry {
                    name: name.clone(),
                    type_name: winner.origin.clone(),
                    priority: winner.priority,
                    overridden: list.len() - 1,
                })
            })
            .collect()
    }

    /// Checks that no name has two candidates sharing the top priority.
    pub fn validate(&self) -> Result<(), RegistryError> {
        for name in self.candidates.keys() {
            self.winner(name)?;
        }
        Ok(())
    }

    /// `true` when `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.candidates.contains_key(name)
    }

    fn winner(&self, name: &str) -> Result<&Candidate, RegistryError> {
        let list = self
            .candidates
            .get(name)
            .ok_or_else(|| RegistryError::Missing {
                name: name.to_owned(),
                registered: self.names().iter().map(|s| (*s).to_owned()).collect(),
            })?;
        let top = list.iter().map(|c| c.priority).max().unwrap_or_default();
        let best: Vec<&Candidate> = list.iter().filter(|c| c.priority == top).collect();
        match best.as_slice() {
            [one] => Ok(one),
            many => Err(RegistryError::Ambiguous {
                name: name.to_owned(),
                priority: top,
                types: many.iter().map(|c| c.origin.clone()).collect(),
            }),
        }
    }

    /// Builds the handler that wins `setup.route().handler`.
    pub fn build(
        &self,
        setup: &HandlerSetup<'_>,
    ) -> Result<Box<dyn MessageHandler>, RegistryError> {
        let candidate = self.winner(&setup.route().handler)?;
        (candidate.factory)(setup).map_err(RegistryError::Setup)
    }
}

/// One line of `connect handlers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    /// The name routes use.
    pub name: String,
    /// The Rust type that wins the name.
    pub type_name: String,
    /// Its priority.
    pub priority: i32,
    /// How many lower-priority handlers it overrides.
    pub overridden: usize,
}

/// A handler name that cannot be resolved or built.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No handler has the name.
    #[error(
        "no handler is registered as `{name}`; registered: [{}]. Check the spelling in `handler:`; a handler defined in another crate must be linked into the binary with `use that_crate as _;`",
        registered.join(", ")
    )]
    Missing {
        /// The name asked for.
        name: String,
        /// Every registered name.
        registered: Vec<String>,
    },
    /// Several handlers share the name and the highest priority.
    #[error(
        "handler name `{name}` is registered more than once with priority {priority}: {}; give the one that should win a higher `priority = N`",
        types.join(", ")
    )]
    Ambiguous {
        /// The contested name.
        name: String,
        /// The shared top priority.
        priority: i32,
        /// The competing types.
        types: Vec<String>,
    },
    /// The handler's factory failed.
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// A shared handler instance registered with
/// [`HandlerRegistry::register_shared`].
struct Shared<H>(Arc<H>);

#[async_trait::async_trait]
impl<H: MessageHandler> MessageHandler for Shared<H> {
    async fn handle(
        &self,
        ctx: &crate::HandlerContext<'_>,
        message: &crate::Message,
    ) -> Result<crate::Outcome, crate::HandlerError> {
        self.0.handle(ctx, message).await
    }

    fn coalesce(&self) -> bool {
        self.0.coalesce()
    }
}
