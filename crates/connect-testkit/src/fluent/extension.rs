//! Partner extensions of the Fluent emulator's schema: SDL plus resolvers
//! written in Rust over JSON.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

/// The signature of a partner resolver: the field's arguments (variables
/// resolved, defaults applied) as a JSON object, and the emulator's
/// extension state (a JSON map the resolvers share, keyed by whatever
/// names they choose). It returns the field's value as JSON (objects
/// resolve their fields by name, like every type of the emulator) or a
/// Fluent-style error.
pub type Resolver =
    Arc<dyn Fn(&Value, &mut Map<String, Value>) -> Result<Value, ResolverError> + Send + Sync>;

/// A Fluent-style error from a partner resolver: served as
/// `"CODE: message"` with `extensions.code`, like the emulator's own rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ResolverError {
    /// The Fluent error code, e.g. `C0404E`.
    pub code: String,
    /// What went wrong.
    pub message: String,
}

impl ResolverError {
    /// An error with `code` (e.g. `C0400E`) and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// SDL a partner adds to the served schema (new types, `extend type Query`
/// / `extend type Mutation` fields, `extend input ...`), with resolvers for
/// the root fields it adds. Documents are validated against the merged
/// schema, so a wrong field or argument fails as on a real server; a root
/// field declared without a resolver answers `S0501E`; a resolver for a
/// field the merged schema does not declare stops the emulator from
/// starting.
///
/// ```
/// use connect_testkit::fluent::{FluentEmulator, ResolverError, SchemaExtension};
/// use serde_json::json;
///
/// let extension = SchemaExtension::new(
///     "type LoyaltyTier { name: String! points: Int! }
///      extend type Query { loyaltyTier(customerRef: String!): LoyaltyTier }",
/// )
/// .query("loyaltyTier", |args, state| {
///     let customer = args["customerRef"].as_str().unwrap_or_default();
///     state
///         .get(customer)
///         .cloned()
///         .ok_or_else(|| ResolverError::new("C0404E", format!("no tier for {customer}")))
/// });
/// let builder = FluentEmulator::builder().extension(extension);
/// # drop(builder);
/// ```
#[derive(Clone)]
pub struct SchemaExtension {
    pub(crate) sdl: String,
    pub(crate) queries: Vec<(String, Resolver)>,
    pub(crate) mutations: Vec<(String, Resolver)>,
}

impl fmt::Debug for SchemaExtension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |fields: &[(String, Resolver)]| -> Vec<String> {
            fields.iter().map(|(name, _)| name.clone()).collect()
        };
        f.debug_struct("SchemaExtension")
            .field("sdl", &self.sdl)
            .field("queries", &names(&self.queries))
            .field("mutations", &names(&self.mutations))
            .finish()
    }
}

impl SchemaExtension {
    /// An extension adding `sdl` to the served schema.
    pub fn new(sdl: impl Into<String>) -> Self {
        Self {
            sdl: sdl.into(),
            queries: Vec::new(),
            mutations: Vec::new(),
        }
    }

    /// Resolves the query field `field` with `resolver`.
    #[must_use]
    pub fn query<F>(mut self, field: impl Into<String>, resolver: F) -> Self
    where
        F: Fn(&Value, &mut Map<String, Value>) -> Result<Value, ResolverError>
            + Send
            + Sync
            + 'static,
    {
        self.queries.push((field.into(), Arc::new(resolver)));
        self
    }

    /// Resolves the mutation field `field` with `resolver`; its calls are
    /// recorded like the emulator's own mutations (see
    /// `FluentEmulator::mutations` and `FluentEmulator::mutation_count`).
    #[must_use]
    pub fn mutation<F>(mut self, field: impl Into<String>, resolver: F) -> Self
    where
        F: Fn(&Value, &mut Map<String, Value>) -> Result<Value, ResolverError>
            + Send
            + Sync
            + 'static,
    {
        self.mutations.push((field.into(), Arc::new(resolver)));
        self
    }
}
