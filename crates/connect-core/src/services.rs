//! [`Services`]: typed shared clients handed to every handler.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A type map of shared services (API clients, caches, settings).
///
/// Built once at startup; handlers read it through
/// [`HandlerContext::service`](crate::HandlerContext::service) or, when they
/// are built, [`HandlerSetup::service`](crate::HandlerSetup::service).
///
/// ```
/// use std::sync::Arc;
/// use connect_core::Services;
///
/// struct Greeting(&'static str);
///
/// let services = Services::new().with(Greeting("hello"));
/// let greeting: Arc<Greeting> = services.get::<Greeting>().unwrap();
/// assert_eq!(greeting.0, "hello");
/// assert!(services.get::<String>().is_none());
/// ```
#[derive(Clone, Default)]
pub struct Services {
    entries: HashMap<TypeId, Entry>,
}

#[derive(Clone)]
struct Entry {
    name: &'static str,
    value: Arc<dyn Any + Send + Sync>,
}

impl Services {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a service.
    #[must_use]
    pub fn with<T: Send + Sync + 'static>(mut self, service: T) -> Self {
        self.insert(service);
        self
    }

    /// Adds (or replaces) a service already in an `Arc`.
    #[must_use]
    pub fn with_arc<T: Send + Sync + 'static>(mut self, service: Arc<T>) -> Self {
        self.insert_arc(service);
        self
    }

    /// Adds (or replaces) a service.
    pub fn insert<T: Send + Sync + 'static>(&mut self, service: T) {
        self.insert_arc(Arc::new(service));
    }

    /// Adds (or replaces) a service already in an `Arc`.
    pub fn insert_arc<T: Send + Sync + 'static>(&mut self, service: Arc<T>) {
        self.entries.insert(
            TypeId::of::<T>(),
            Entry {
                name: type_name::<T>(),
                value: service,
            },
        );
    }

    /// The service of type `T`, if present.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.entries
            .get(&TypeId::of::<T>())
            .and_then(|entry| Arc::clone(&entry.value).downcast::<T>().ok())
    }

    /// The type names of every registered service (for error messages).
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.entries.values().map(|e| e.name).collect();
        names.sort_unstable();
        names
    }

    /// The error text for a missing service `T`.
    pub(crate) fn missing<T>(&self) -> String {
        let available = self.names();
        format!(
            "no shared service of type `{}` was provided; available: [{}]. Add it with `Services::with(...)` when building the runtime",
            type_name::<T>(),
            available.join(", ")
        )
    }
}

impl fmt::Debug for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}
