//! A local Fluent Commerce OMS: OAuth and a schema-checking GraphQL API.
//!
//! [`FluentEmulator`] listens on `127.0.0.1` (ephemeral port) and serves:
//!
//! - `POST /oauth/token`: the password grant (`client_id`, `client_secret`,
//!   `username`, `password`, `grant_type=password`, `scope=api`, as a form
//!   body or a query string) and, when enabled, the single-use
//!   `refresh_token` grant. Answers have the shape of
//!   [`fixtures::fluent::OAUTH_TOKEN`].
//!   Wrong client credentials get 401 `invalid_client`, a wrong user or
//!   password 400 `invalid_grant`, an unknown or used refresh token 400
//!   `invalid_grant`.
//! - `POST /graphql` (Bearer token required, else 401; bodies over 2 MB get
//!   413) executed by `async-graphql` against a schema built from the SDL of
//!   [`fixtures::fluent::SCHEMA_CUSTOMER`] and
//!   [`fixtures::fluent::SCHEMA_CATEGORY`], plus the SDL of every partner
//!   [`SchemaExtension`]: unknown fields, wrong types and missing required
//!   fields or arguments fail exactly as on a real GraphQL server.
//!
//! Customer rules, with the codes the emulator uses (`message` starts with
//! the code and `extensions.code` holds it, as in
//! [`fixtures::fluent::GRAPHQL_ERROR`]):
//!
//! | rule | code |
//! | --- | --- |
//! | a value over its documented max length (username 250, primaryEmail 250, firstName 50, lastName 50, title 50, country 100, primaryPhone 20, timezone 32), or an empty username | `C0400E` |
//! | `createCustomer` for a retailer other than the emulator's | `C0403E` |
//! | `updateCustomer` of an unknown username | `C0404E` |
//! | `createCustomer` with a username that exists | `C0409E` |
//! | a root field of the SDL the emulator does not implement | `S0501E` |
//! | `customer(ref:)` of an unknown ref, with [`UnknownRef::NotFoundError`] (otherwise `null`) | `C0120E` |
//!
//! `ref` equals `username`; `status` starts as `ACTIVE`; `createdOn` and
//! `updatedOn` are maintained; an update changes only the fields present
//! (and not null) in its input and merges attributes by name.
//!
//! Category rules (`createCategory`, `updateCategory`,
//! `category(ref:, catalogue:)`), in product catalogues seeded with
//! [`catalogue`](FluentEmulatorBuilder::catalogue) or
//! [`insert_catalogue`](FluentEmulator::insert_catalogue) (one,
//! `DEFAULT:{retailerId}`, exists from the start; see
//! [`default_catalogue`](FluentEmulator::default_catalogue)):
//!
//! | rule | code |
//! | --- | --- |
//! | `ref` over 100 or `type` over 50 characters, an empty `ref`, `type` or `name`, a parent in another catalogue, a parent that is the category itself or one of its descendants | `C0400E` |
//! | an unknown catalogue, an unknown parent (in the category's catalogue), `updateCategory` of an unknown category | `C0404E` |
//! | `createCategory` with a ref the catalogue has | `C0409E` |
//! | `category(ref:, catalogue:)` of an unknown category, with [`UnknownRef::NotFoundError`] (otherwise `null`) | `C0120E` |
//!
//! A category starts as `CREATED` (the create input has no `status`); an
//! update changes only the fields present (and not null) and merges
//! attributes by name; `catalogue` and `parentCategory` are served as the
//! current catalogue and parent. [`categories`](FluentEmulator::categories),
//! [`category`](FluentEmulator::category),
//! [`category_create_count`](FluentEmulator::category_create_count),
//! [`category_update_count`](FluentEmulator::category_update_count) and
//! [`mutation_count`](FluentEmulator::mutation_count) let a test assert one
//! write per real change.
//!
//! Orders (`orderById(id:)`, `order(ref:)`, with `fulfilments(first:)`,
//! from [`fixtures::fluent::SCHEMA_ORDER`]) are seeded with
//! [`insert_order`](FluentEmulator::insert_order) ([`NewOrder`]), read
//! with [`order`](FluentEmulator::order) and
//! [`order_by_ref`](FluentEmulator::order_by_ref), and moved through their
//! workflow with [`set_order_status`](FluentEmulator::set_order_status);
//! an unknown id or ref answers `null` or `C0120E` as
//! [`unknown_ref`](FluentEmulatorBuilder::unknown_ref) says.
//!
//! Settings (`settings(name:, context:, contextId:)`, `createSetting`,
//! `updateSetting`, from [`fixtures::fluent::SCHEMA_SETTING`]; where
//! connect-jobs' `FluentSettingStore` keeps job state) are kept with
//! Fluent's rules: the documented value types and contexts, contextId 0
//! for ACCOUNT, a JSON setting has a value, a name unique per context and
//! contextId (`C0409E`), update by id (`C0404E`). Read them with
//! [`settings`](FluentEmulator::settings) and
//! [`settings_named`](FluentEmulator::settings_named).
//!
//! Webhooks: the emulator has a 1024-bit RSA key pair of its own
//! ([`public_key_base64`](FluentEmulator::public_key_base64), for
//! `listeners.fluent-webhook.public-keys`), signs bodies as Fluent does
//! ([`sign`](FluentEmulator::sign): the `fluent-signature` header), builds
//! [`Webhook`] bodies, and [`deliver`](FluentEmulator::deliver)s them with
//! Fluent's retries ([`WebhookRetry`]: a timeout or 5xx is retried 3 times
//! within 14 s), recording every attempt ([`WebhookDelivery`]). With
//! [`send_webhooks_to`](FluentEmulator::send_webhooks_to), every status
//! change sends an `OrderStatus` webhook, like a workflow's `SendWebhook`
//! rule.
//!
//! ```
//! use connect_testkit::fluent::{FluentEmulator, NewOrder};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let emulator = FluentEmulator::start().await.unwrap();
//! let order = emulator.insert_order(&NewOrder::new("HD_387_56", "BOOKED")).unwrap();
//! let id = order["id"].as_str().unwrap();
//! emulator.set_order_status(id, "SHIPPED").unwrap();
//! let webhook = emulator.order_webhook(id).unwrap();
//! assert_eq!(webhook.entity_status.as_deref(), Some("SHIPPED"));
//! let signature = emulator.sign(&webhook.body()).unwrap(); // the `fluent-signature` header
//! assert!(!signature.is_empty());
//! # });
//! ```
//!
//! Partners serve their own fields with a [`SchemaExtension`]: SDL plus
//! resolvers over JSON, sharing a JSON map of state
//! ([`extension_value`](FluentEmulator::extension_value),
//! [`set_extension_value`](FluentEmulator::set_extension_value)).
//!
//! ```
//! use connect_testkit::fluent::FluentEmulator;
//! use connect_testkit::Fault;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let emulator = FluentEmulator::builder().retailer_id("42").start().await.unwrap();
//! let config = emulator.config(); // ready for connect_fluent::FluentClient::new
//! assert_eq!(config.retailer_id, "42");
//! emulator.faults().inject_for("/graphql", Fault::unavailable(), 1);
//! assert_eq!(emulator.login_count(), 0);
//! # });
//! ```

mod categories;
mod extension;
mod http;
mod orders;
mod schema;
mod settings;
mod state;
mod store;
#[cfg(test)]
mod tests;
mod webhooks;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use connect_core::config::Secret;
use connect_fluent::{CreateCustomerInput, Customer, FluentConfig, WithHttpSettings};
use serde_json::{Map, Value};

use crate::faults::Faults;
use crate::fixtures;
use crate::server::ServerHandle;
pub use extension::{Resolver, ResolverError, SchemaExtension};
pub use orders::NewOrder;
pub use settings::SETTINGS_STATE;
pub use state::UnknownRef;
use state::{Settings, Shared};
use webhooks::Webhooks;
pub use webhooks::{
    DEFAULT_WEBHOOK_KEY_SEED, SIGNATURE_HEADER, WEBHOOK_KEY_BITS, Webhook, WebhookAttempt,
    WebhookDelivery, WebhookRetry,
};

/// Requests with a larger body get 413, as on Fluent (2 MB).
pub const MAX_REQUEST_BYTES: usize = connect_fluent::MAX_REQUEST_BYTES;

/// The token lifetime of the fixture (`expires_in`).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(86_386);

/// A running Fluent emulator. Dropping it stops the server.
pub struct FluentEmulator {
    server: ServerHandle,
    shared: Arc<Shared>,
    faults: Arc<Faults>,
}

impl fmt::Debug for FluentEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FluentEmulator")
            .field("base_url", &self.server.base_url())
            .field("account", &self.shared.settings.account)
            .field("retailer_id", &self.shared.settings.retailer_id)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`FluentEmulator`] before it starts.
#[derive(Debug, Clone)]
pub struct FluentEmulatorBuilder {
    settings: Settings,
    schema: String,
    extensions: Vec<SchemaExtension>,
    catalogues: Vec<String>,
    webhook_key_seed: u64,
    webhook_retry: WebhookRetry,
}

impl Default for FluentEmulatorBuilder {
    fn default() -> Self {
        Self {
            settings: Settings {
                account: "CONNECT_TEST".to_owned(),
                retailer_id: "1".to_owned(),
                client_id: "CONNECT_TEST".to_owned(),
                client_secret: Secret::new("emulator-client-secret"),
                username: "connect_api".to_owned(),
                password: Secret::new("emulator-password"),
                token_lifetime: DEFAULT_TOKEN_LIFETIME,
                refresh_tokens: false,
                unknown_ref: UnknownRef::Null,
            },
            schema: format!(
                "{}\n{}\n{}\n{}",
                fixtures::fluent::SCHEMA_CUSTOMER,
                fixtures::fluent::SCHEMA_CATEGORY,
                fixtures::fluent::SCHEMA_ORDER,
                fixtures::fluent::SCHEMA_SETTING
            ),
            extensions: Vec::new(),
            catalogues: Vec::new(),
            webhook_key_seed: DEFAULT_WEBHOOK_KEY_SEED,
            webhook_retry: WebhookRetry::default(),
        }
    }
}

impl FluentEmulatorBuilder {
    /// The retailer the API user belongs to (default `1`).
    #[must_use]
    pub fn retailer_id(mut self, retailer_id: impl Into<String>) -> Self {
        self.settings.retailer_id = retailer_id.into();
        self
    }

    /// The account id (default `CONNECT_TEST`).
    #[must_use]
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.settings.account = account.into();
        self
    }

    /// The API client credentials accepted.
    #[must_use]
    pub fn client(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        self.settings.client_id = client_id.into();
        self.settings.client_secret = client_secret.into();
        self
    }

    /// The retailer user accepted.
    #[must_use]
    pub fn user(mut self, username: impl Into<String>, password: impl Into<Secret>) -> Self {
        self.settings.username = username.into();
        self.settings.password = password.into();
        self
    }

    /// How long issued access tokens are valid (default 86 386 s; whole
    /// seconds are announced in `expires_in`).
    #[must_use]
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.token_lifetime = lifetime;
        self
    }

    /// Whether token responses carry a single-use `refresh_token` (default
    /// `false`, as on accounts where refresh tokens are not enabled).
    #[must_use]
    pub fn refresh_tokens(mut self, enabled: bool) -> Self {
        self.settings.refresh_tokens = enabled;
        self
    }

    /// How `customer(ref:)` answers a ref no customer has: `null` (the
    /// default) or a `C0120E` not-found error; Fluent does both.
    #[must_use]
    pub fn unknown_ref(mut self, answer: UnknownRef) -> Self {
        self.settings.unknown_ref = answer;
        self
    }

    /// Serves another base SDL instead of the customer, category, order and
    /// setting subsets (e.g. the customer subset alone, or extended with the types a
    /// partner handler uses). Root fields the emulator does not implement
    /// (`customer`, `customers`, `createCustomer`, `updateCustomer`,
    /// `category`, `createCategory`, `updateCategory`, `orderById`,
    /// `order`; `settings`, `createSetting` and `updateSetting` when the SDL
    /// declares `createSetting`) and no extension
    /// resolves answer `S0501E`.
    #[must_use]
    pub fn schema(mut self, sdl: impl Into<String>) -> Self {
        self.schema = sdl.into();
        self
    }

    /// Adds a partner's SDL and resolvers to the served schema (after the
    /// base SDL and earlier extensions).
    #[must_use]
    pub fn extension(mut self, extension: SchemaExtension) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Seeds a product catalogue with this ref (besides
    /// `DEFAULT:{retailerId}`, which always exists).
    #[must_use]
    pub fn catalogue(mut self, reference: impl Into<String>) -> Self {
        self.catalogues.push(reference.into());
        self
    }

    /// The seed of the emulator's webhook signing key (default
    /// [`DEFAULT_WEBHOOK_KEY_SEED`]): emulators with another seed sign with
    /// another key, e.g. to test that a listener refuses it.
    #[must_use]
    pub fn webhook_key_seed(mut self, seed: u64) -> Self {
        self.webhook_key_seed = seed;
        self
    }

    /// How webhook deliveries are retried (default: Fluent's, see
    /// [`WebhookRetry::default`]); [`WebhookRetry::fast`] for quick tests.
    #[must_use]
    pub fn webhook_retry(mut self, retry: WebhookRetry) -> Self {
        self.webhook_retry = retry;
        self
    }

    /// Starts the emulator on `127.0.0.1` with an ephemeral port.
    pub async fn start(self) -> std::io::Result<FluentEmulator> {
        let webhooks = Webhooks::new(self.webhook_key_seed, self.webhook_retry);
        let shared = Arc::new(Shared::new(self.settings, webhooks));
        {
            let now = now();
            let mut categories = shared.categories();
            categories.add_catalogue(&default_catalogue(&shared.settings.retailer_id), &now);
            for reference in &self.catalogues {
                categories.add_catalogue(reference, &now);
            }
        }
        // Settings are served whenever the schema declares them; a
        // partner extension resolving the same fields wins.
        let mut extensions = Vec::with_capacity(self.extensions.len() + 1);
        if self.schema.contains("createSetting") {
            extensions.push(settings::resolvers());
        }
        extensions.extend(self.extensions);
        let schema =
            schema::build(&self.schema, &extensions, &shared).map_err(std::io::Error::other)?;
        let faults = Arc::new(Faults::default());
        let router = http::router(Arc::clone(&shared), schema, Arc::clone(&faults));
        let server = ServerHandle::serve(router).await?;
        tracing::debug!(base_url = %server.base_url(), "Fluent emulator started");
        Ok(FluentEmulator {
            server,
            shared,
            faults,
        })
    }
}

/// The catalogue every emulator has: `DEFAULT:{retailer_id}`.
fn default_catalogue(retailer_id: &str) -> String {
    format!("DEFAULT:{retailer_id}")
}

/// Now, as Fluent writes `createdOn` / `updatedOn`.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A GraphQL request the emulator received.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// `operationName`, or the name of the document's only operation.
    pub operation_name: Option<String>,
    /// The document.
    pub query: String,
    /// The variables (`null` when absent).
    pub variables: Value,
    /// Whether the bearer token was valid (otherwise it was answered 401).
    pub authorized: bool,
}

/// A mutation the emulator executed (after the document passed validation).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordedMutation {
    /// The mutation field, e.g. `createCustomer`.
    pub name: String,
    /// The operation name of the request, e.g. `CreateCustomer`.
    pub operation_name: Option<String>,
    /// The `input` argument, with variables resolved.
    pub input: Value,
    /// `CODE: message` when a rule rejected it.
    pub error: Option<String>,
}

impl FluentEmulator {
    /// Starts an emulator with the default settings.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder for other settings.
    pub fn builder() -> FluentEmulatorBuilder {
        FluentEmulatorBuilder::default()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// A configuration for this emulator: its credentials, a 5 s request
    /// timeout, 3 retries and a 10 ms initial backoff (fast tests).
    pub fn config(&self) -> FluentConfig {
        let settings = &self.shared.settings;
        FluentConfig::new(
            self.base_url(),
            settings.account.clone(),
            settings.retailer_id.clone(),
            settings.client_id.clone(),
            settings.client_secret.clone(),
            settings.username.clone(),
            settings.password.clone(),
        )
        .with_request_timeout(Duration::from_secs(5))
        .with_max_retries(3)
        .with_retry_initial_backoff(Duration::from_millis(10))
    }

    /// The retailer id the API user belongs to.
    pub fn retailer_id(&self) -> &str {
        &self.shared.settings.retailer_id
    }

    /// The fault plan applied to incoming requests.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Expires every access token issued so far: the next GraphQL request
    /// with one of them gets 401. Refresh tokens stay valid.
    pub fn expire_tokens(&self) {
        self.shared.expire_access_tokens();
    }

    /// Invalidates every refresh token issued so far.
    pub fn revoke_refresh_tokens(&self) {
        self.shared.revoke_refresh_tokens();
    }

    /// Successful password-grant logins.
    pub fn login_count(&self) -> usize {
        self.shared.token_counters().password_logins
    }

    /// Successful refresh-token grants.
    pub fn refresh_count(&self) -> usize {
        self.shared.token_counters().refresh_grants
    }

    /// Every request to `/oauth/token`, successful or not (fault-injected
    /// requests excluded).
    pub fn token_requests(&self) -> usize {
        self.shared.token_counters().requests
    }

    /// Every customer, in creation order.
    pub fn customers(&self) -> Vec<Customer> {
        self.shared
            .store()
            .all()
            .into_iter()
            .filter_map(|c| serde_json::from_value(c).ok())
            .collect()
    }

    /// The customer with `username` (= ref).
    pub fn customer(&self, username: &str) -> Option<Customer> {
        self.customer_json(username)
            .and_then(|c| serde_json::from_value(c).ok())
    }

    /// The customer with `username` as the JSON the API serves.
    pub fn customer_json(&self, username: &str) -> Option<Value> {
        self.shared.store().get(username).cloned()
    }

    /// Successful `createCustomer` calls for `username`.
    pub fn create_count(&self, username: &str) -> usize {
        self.shared.store().create_count(username)
    }

    /// Successful `updateCustomer` calls for `username`.
    pub fn update_count(&self, username: &str) -> usize {
        self.shared.store().update_count(username)
    }

    /// Every mutation executed, in order, rejected ones included.
    pub fn mutations(&self) -> Vec<RecordedMutation> {
        self.shared.mutations()
    }

    /// Every request that reached `/graphql`, in order.
    pub fn graphql_requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Adds a customer of another retailer of the account (`retailer_id`),
    /// as another connector or the Fluent console would: the API user's
    /// lookups find it, since a username is unique in the whole account.
    /// Counts like [`insert_customer`](Self::insert_customer).
    pub fn insert_customer_of_retailer(
        &self,
        input: &CreateCustomerInput,
        retailer_id: &str,
    ) -> Result<Customer, String> {
        let mut input = input.clone();
        input.retailer.id = retailer_id.to_owned();
        let Ok(Value::Object(fields)) = serde_json::to_value(&input) else {
            return Err("the input is not a JSON object".to_owned());
        };
        let created = self
            .shared
            .store()
            .create(&fields, retailer_id, &now())
            .map_err(|rejection| rejection.full_message())?;
        serde_json::from_value(created).map_err(|error| error.to_string())
    }

    /// Adds a customer directly, under the same rules as `createCustomer`
    /// (it counts in [`create_count`](Self::create_count) but is not recorded
    /// as a mutation). The error is the `CODE: message` a client would get.
    pub fn insert_customer(&self, input: &CreateCustomerInput) -> Result<Customer, String> {
        let Ok(Value::Object(fields)) = serde_json::to_value(input) else {
            return Err("the input is not a JSON object".to_owned());
        };
        let created = self
            .shared
            .store()
            .create(&fields, &self.shared.settings.retailer_id, &now())
            .map_err(|rejection| rejection.full_message())?;
        serde_json::from_value(created).map_err(|error| error.to_string())
    }

    /// The catalogue that exists from the start: `DEFAULT:{retailerId}`.
    pub fn default_catalogue(&self) -> String {
        default_catalogue(&self.shared.settings.retailer_id)
    }

    /// Adds a product catalogue; `false` if it exists already.
    pub fn insert_catalogue(&self, reference: &str) -> bool {
        self.shared.categories().add_catalogue(reference, &now())
    }

    /// Every catalogue ref, sorted.
    pub fn catalogues(&self) -> Vec<String> {
        self.shared.categories().catalogue_refs()
    }

    /// Every category as the API serves it, by catalogue then ref.
    pub fn categories(&self) -> Vec<Value> {
        self.shared.categories().all()
    }

    /// The category `reference` of `catalogue`, as the API serves it.
    pub fn category(&self, catalogue: &str, reference: &str) -> Option<Value> {
        self.shared.categories().get(catalogue, reference)
    }

    /// Adds a category directly from a `CreateCategoryInput` as JSON, under
    /// the same rules as `createCategory` (it counts in
    /// [`category_create_count`](Self::category_create_count) but is not
    /// recorded as a mutation). The error is the `CODE: message` a client
    /// would get.
    pub fn insert_category(&self, input: &Value) -> Result<Value, String> {
        let Value::Object(fields) = input else {
            return Err("the input is not a JSON object".to_owned());
        };
        self.shared
            .categories()
            .create(fields, &now())
            .map_err(|rejection| rejection.full_message())
    }

    /// Successful `createCategory` calls for `reference` in `catalogue`.
    pub fn category_create_count(&self, catalogue: &str, reference: &str) -> usize {
        self.shared.categories().create_count(catalogue, reference)
    }

    /// Successful `updateCategory` calls for `reference` in `catalogue`.
    pub fn category_update_count(&self, catalogue: &str, reference: &str) -> usize {
        self.shared.categories().update_count(catalogue, reference)
    }

    /// Successful executions of the mutation field `name` (e.g.
    /// `createCategory`, or a partner extension's), rejected ones excluded.
    pub fn mutation_count(&self, name: &str) -> usize {
        self.shared.mutation_count(name)
    }

    /// Adds an order for the emulator's retailer (its id is assigned; no
    /// webhook is sent). The error is the `CODE: message` a client would
    /// get (a ref that exists, an empty ref).
    pub fn insert_order(&self, order: &NewOrder) -> Result<Value, String> {
        self.shared
            .orders()
            .insert(order, &self.shared.settings.retailer_id, &now())
            .map_err(|rejection| rejection.full_message())
    }

    /// The order with Fluent id `id`, as `orderById` serves it.
    pub fn order(&self, id: &str) -> Option<Value> {
        self.shared.orders().get(id).cloned()
    }

    /// The order whose `ref` is `reference`, as `order(ref:)` serves it.
    pub fn order_by_ref(&self, reference: &str) -> Option<Value> {
        self.shared.orders().by_ref(reference).cloned()
    }

    /// Every order, in creation order.
    pub fn orders(&self) -> Vec<Value> {
        self.shared.orders().all()
    }

    /// Status changes made with [`set_order_status`](Self::set_order_status).
    pub fn order_status_changes(&self) -> usize {
        self.shared.orders().status_changes()
    }

    /// Moves order `id` to `status`, as its workflow would, and returns it.
    /// With a subscription ([`send_webhooks_to`](Self::send_webhooks_to)),
    /// an `OrderStatus` webhook for the new status is delivered in the
    /// background (see [`webhook_deliveries`](Self::webhook_deliveries));
    /// that needs a Tokio runtime.
    pub fn set_order_status(&self, id: &str, status: &str) -> Result<Value, String> {
        let order = self
            .shared
            .orders()
            .set_status(id, status, &now())
            .map_err(|rejection| rejection.full_message())?;
        if let Some(url) = self.shared.webhooks.subscription() {
            let webhook = Webhook::order_status(&self.shared.settings.account, &order);
            let shared = Arc::clone(&self.shared);
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        shared.webhooks.deliver(&url, &webhook).await;
                    });
                }
                Err(_) => {
                    tracing::warn!(
                        order_id = id,
                        "no Tokio runtime: the OrderStatus webhook was not sent"
                    );
                }
            }
        }
        Ok(order)
    }

    /// Sends an `OrderStatus` webhook to `url` whenever an order's status
    /// changes through [`set_order_status`](Self::set_order_status) (the
    /// `SendWebhook` rule of a Fluent workflow).
    pub fn send_webhooks_to(&self, url: impl Into<String>) {
        self.shared.webhooks.subscribe(Some(url.into()));
    }

    /// Stops sending webhooks on status changes.
    pub fn stop_webhooks(&self) {
        self.shared.webhooks.subscribe(None);
    }

    /// The `OrderStatus` webhook Fluent would send now for order `id` (its
    /// current status), with a new webhook id.
    pub fn order_webhook(&self, id: &str) -> Option<Webhook> {
        let order = self.order(id)?;
        Some(Webhook::order_status(&self.shared.settings.account, &order))
    }

    /// The emulator's public key as base64 x509 SubjectPublicKeyInfo, as
    /// Fluent shows it and `listeners.fluent-webhook.public-keys` reads it.
    pub fn public_key_base64(&self) -> Result<String, String> {
        Ok(self.shared.webhooks.key()?.public_key_base64().to_owned())
    }

    /// The `fluent-signature` header for `body`: base64 of SHA512withRSA
    /// with the emulator's key.
    pub fn sign(&self, body: &[u8]) -> Result<String, String> {
        Ok(self.shared.webhooks.key()?.sign(body))
    }

    /// Signs and POSTs `webhook` to `url` now, with Fluent's retries, and
    /// returns every attempt (also kept in
    /// [`webhook_deliveries`](Self::webhook_deliveries)).
    pub async fn deliver(&self, url: &str, webhook: &Webhook) -> WebhookDelivery {
        self.shared.webhooks.deliver(url, webhook).await
    }

    /// Every finished delivery, in the order they finished.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.shared.webhooks.deliveries()
    }

    /// Waits until `count` deliveries finished (every attempt made);
    /// `false` when `timeout` passed first.
    pub async fn wait_for_webhook_deliveries(&self, count: usize, timeout: Duration) -> bool {
        self.shared.webhooks.wait_for(count, timeout).await
    }

    /// The value partner resolvers keep under `name`.
    pub fn extension_value(&self, name: &str) -> Option<Value> {
        self.shared.extension_state().get(name).cloned()
    }

    /// Every Fluent Setting (`createSetting` / `updateSetting`), in
    /// creation order.
    pub fn settings(&self) -> Vec<Value> {
        settings::all(&self.shared.extension_state())
    }

    /// The settings named `name` (one per context and contextId).
    pub fn settings_named(&self, name: &str) -> Vec<Value> {
        self.settings()
            .into_iter()
            .filter(|s| s["name"] == name)
            .collect()
    }

    /// Sets what partner resolvers find under `name` (seeding).
    pub fn set_extension_value(&self, name: &str, value: Value) {
        self.shared.extension_state().insert(name.to_owned(), value);
    }

    /// Everything partner resolvers keep.
    pub fn extension_state(&self) -> Map<String, Value> {
        self.shared.extension_state().clone()
    }
}
