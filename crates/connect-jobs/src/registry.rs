//! Job handler registration: by [`register_job!`](crate::register_job) at
//! link time, or explicitly through [`JobRegistry::with`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::handler::{JobHandler, JobSetup, JobSetupError};

/// Builds one job handler from its job's configuration.
pub type JobFactory = fn(&JobSetup<'_>) -> Result<Box<dyn JobHandler>, JobSetupError>;

/// One job handler registered by `register_job!`. Plumbing of the macro
/// (reachable through `__private`), not a public API.
#[derive(Debug)]
pub struct JobRegistration {
    name: &'static str,
    factory: JobFactory,
}

impl JobRegistration {
    /// A registration of `factory` under `name`.
    pub const fn new(name: &'static str, factory: JobFactory) -> Self {
        Self { name, factory }
    }
}

inventory::collect!(JobRegistration);

/// Boxes what a `register_job!` factory closure builds.
#[doc(hidden)]
pub fn boxed<H, F>(setup: &JobSetup<'_>, factory: F) -> Result<Box<dyn JobHandler>, JobSetupError>
where
    H: JobHandler + 'static,
    F: FnOnce(&JobSetup<'_>) -> Result<H, JobSetupError>,
{
    factory(setup).map(|handler| Box::new(handler) as Box<dyn JobHandler>)
}

type DynFactory =
    Arc<dyn Fn(&JobSetup<'_>) -> Result<Box<dyn JobHandler>, JobSetupError> + Send + Sync>;

/// The job handlers a connector can use, by name.
///
/// ```
/// use connect_jobs::{JobContext, JobError, JobHandler, JobOutcome, JobRegistry};
///
/// #[derive(Debug)]
/// struct Noop;
///
/// #[connect_core::async_trait]
/// impl JobHandler for Noop {
///     async fn run(&self, _: &JobContext<'_>) -> Result<JobOutcome, JobError> {
///         Ok(JobOutcome::done())
///     }
/// }
///
/// let registry = JobRegistry::new().with("Noop", |_setup| Ok(Noop));
/// assert_eq!(registry.names(), vec!["Noop"]);
/// ```
#[derive(Clone, Default)]
pub struct JobRegistry {
    factories: BTreeMap<String, DynFactory>,
}

impl fmt::Debug for JobRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.factories.keys()).finish()
    }
}

impl JobRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every job handler registered with `register_job!` in this binary.
    /// (A registration in a crate the binary never names is dropped by the
    /// linker: add `use that_crate as _;`.)
    pub fn linked() -> Self {
        let mut registry = Self::new();
        for registration in inventory::iter::<JobRegistration> {
            let factory = registration.factory;
            registry
                .factories
                .insert(registration.name.to_owned(), Arc::new(factory));
        }
        registry
    }

    /// Registers `factory` under `name` (replacing one of the same name).
    #[must_use]
    pub fn with<H, F>(mut self, name: impl Into<String>, factory: F) -> Self
    where
        H: JobHandler + 'static,
        F: Fn(&JobSetup<'_>) -> Result<H, JobSetupError> + Send + Sync + 'static,
    {
        self.factories.insert(
            name.into(),
            Arc::new(move |setup: &JobSetup<'_>| {
                factory(setup).map(|h| Box::new(h) as Box<dyn JobHandler>)
            }),
        );
        self
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.factories.keys().map(String::as_str).collect()
    }

    /// `true` when `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.factories.contains_key(name)
    }

    /// Builds the handler of `setup.job()`.
    pub fn build(&self, setup: &JobSetup<'_>) -> Result<Box<dyn JobHandler>, JobSetupError> {
        let name = &setup.job().handler;
        match self.factories.get(name) {
            Some(factory) => factory(setup),
            None => Err(setup.error(missing_message(name, &self.names()))),
        }
    }
}

/// The error text for an unknown job handler name.
pub(crate) fn missing_message(name: &str, registered: &[&str]) -> String {
    format!(
        "no job handler is registered as `{name}`; registered job handlers: [{}]. Check the spelling in `handler:`; a job handler defined in another crate must be linked into the binary with `use that_crate as _;`",
        registered.join(", ")
    )
}
