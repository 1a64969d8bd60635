//! A local commercetools: OAuth client credentials, customers and every
//! other resource type, and subscriptions, on `127.0.0.1` with an ephemeral
//! port.
//!
//! - **Auth** (`POST /oauth/token`): HTTP Basic client credentials, requested
//!   scopes checked against the API client's (`view_{endpoint}:{pk}` and
//!   `manage_{endpoint}:{pk}` of every type served, by default); 401
//!   `invalid_client`, 400 `invalid_scope`. Tokens expire after the
//!   configured lifetime (48 h by default) or at once with
//!   [`expire_tokens`](CommercetoolsEmulator::expire_tokens) (then 401
//!   `invalid_token`).
//! - **Customers**: `GET /{pk}/customers/{id}`, `GET /{pk}/customers/key={key}`,
//!   `GET /{pk}/customers` (`where`, `sort`, `limit` ≤ 500, `offset` ≤ 10,000,
//!   `withTotal`), `POST /{pk}/customers` (201 `{"customer": ...}`, unique
//!   email/key/customer number → 400 `DuplicateField`), `POST /{pk}/customers/{id}`
//!   with `{version, actions}` (409 `ConcurrentModification` with
//!   `currentVersion` on a stale version, 400 `InvalidInput` for an unknown
//!   action), `DELETE /{pk}/customers/{id}?version=N`. Error bodies are
//!   commercetools' `{statusCode, message, errors: [{code, message, ...}]}`.
//!   The version grows by one per successful update request; `createdAt`
//!   and `lastModifiedAt` are kept, strictly increasing across writes.
//! - **Every other type**, kept as JSON, at the same paths under its
//!   endpoint: `categories` (`category`), `orders` (`order`), `products`
//!   (`product`) built in, more with
//!   [`resource_type`](CommercetoolsEmulatorBuilder::resource_type). `POST
//!   /{pk}/{endpoint}` creates from a draft (id, version 1, `createdAt`,
//!   `lastModifiedAt` assigned; 201 with the resource; a taken `key` → 400
//!   `DuplicateField`); updates, deletes, 409s and queries work as for
//!   customers. Update actions: `setKey`, `setCustomType`, `setCustomField`
//!   for every type; categories also `changeName`, `changeSlug`,
//!   `setDescription`, `changeParent` (`{typeId, id}` or `{key}`; a missing
//!   parent is 400 `ReferencedResourceNotFound`, a cycle 400
//!   `InvalidOperation`), `changeOrderHint`, `setExternalId`, with
//!   `ancestors` kept root first (also for a moved category's subtree),
//!   unique slugs per locale, and no deletion of a category that has
//!   subcategories (400 `ReferenceExists`); orders also `changeOrderState`,
//!   `changeShipmentState`, `changePaymentState` (values checked),
//!   `transitionState`, with `orderState` `Open` by default, a unique
//!   `orderNumber`, and `GET`/`POST /{pk}/orders/order-number={orderNumber}`.
//!   Any other action or value is 400 `InvalidInput` naming it.
//! - **Scopes**: reads need `view_{endpoint}` or `manage_{endpoint}`, writes
//!   `manage_{endpoint}` (403 `insufficient_scope`).
//! - **Subscriptions**: [`subscribe`](CommercetoolsEmulator::subscribe) a
//!   [`Sink`] of raw payloads in a [`NotificationFormat`]; every write of
//!   every type delivers its payloads (shaped like `fixtures/commercetools/`,
//!   `resource.typeId` the type id) before the HTTP response is sent, in
//!   write order, so a test can wait on the queue without sleeping. A full
//!   queue holds writes back (backpressure). Platform Messages exist for
//!   customers and for `CategoryCreated` / `CategorySlugChanged`.
//! - **Faults**: [`faults`](CommercetoolsEmulator::faults) injects 429/5xx
//!   with commercetools error bodies, delays and dropped connections, for
//!   every request or by path prefix (e.g. `/{pk}/categories`).
//! - **Unordered pages**: with
//!   [`unordered_pages`](CommercetoolsEmulatorBuilder::unordered_pages) (or
//!   [`set_unordered_pages`](CommercetoolsEmulator::set_unordered_pages) at
//!   any time) every query page holds the resources `where`, `sort`,
//!   `limit` and `offset` select, but in reverse order (descending when
//!   sorted by `id asc`), as a server or proxy that ignores `sort` would:
//!   for testing that a cursor scan refuses a page that does not ascend.
//! - **Seeding and inspection** without HTTP: customers with
//!   [`insert_customer`](CommercetoolsEmulator::insert_customer),
//!   [`insert_customer_silently`](CommercetoolsEmulator::insert_customer_silently),
//!   [`customers`](CommercetoolsEmulator::customers); any type (by type id
//!   or endpoint) with
//!   [`insert_resource`](CommercetoolsEmulator::insert_resource),
//!   [`insert_resource_silently`](CommercetoolsEmulator::insert_resource_silently),
//!   [`modify_resource`](CommercetoolsEmulator::modify_resource),
//!   [`delete_resource`](CommercetoolsEmulator::delete_resource),
//!   [`resources`](CommercetoolsEmulator::resources),
//!   [`resource`](CommercetoolsEmulator::resource),
//!   [`resource_by_key`](CommercetoolsEmulator::resource_by_key); counters
//!   with [`stats`](CommercetoolsEmulator::stats) and
//!   [`resource_stats`](CommercetoolsEmulator::resource_stats).
//!
//! Unlike the real service, auth and API share one host, queries without a
//! `sort` come back in `id` order, and only this subset of query predicates
//! is understood (anything else is a 400 `InvalidInput`, never silently
//! ignored): `field op value` clauses joined by `and` and `or` (grouped with
//! parentheses) with `=`, `!=`, `>`,
//! `>=`, `<`, `<=`, `in (...)`, `is defined` on `id`, `key`, `email`,
//! `customerNumber`, `externalId`, `firstName`, `lastName`,
//! `companyName`, `version`, `isEmailVerified`, `createdAt`, `lastModifiedAt`
//! for customers, on any top-level scalar field for the other types.
//!
//! ```
//! use connect_testkit::commercetools::CommercetoolsEmulator;
//! use connect_commercetools::CustomerDraft;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let emulator = CommercetoolsEmulator::start().await?;
//! let client = emulator.client()?;
//! let created = client
//!     .create_customer(&CustomerDraft::new("ada@example.com").with_password("pw"))
//!     .await?;
//! let fetched = client.customer(&created.id).await?;
//! assert_eq!(fetched.email, "ada@example.com");
//! assert_eq!(emulator.stats().tokens_issued, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod actions;
mod codec;
mod collection;
mod errors;
mod http;
mod notify;
mod predicate;
mod resources;
mod rules;
mod state;
mod store;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::middleware::from_fn_with_state;
use connect_commercetools::{
    CommercetoolsClient, CommercetoolsConfig, Customer, CustomerDraft, CustomerUpdateAction,
};
use connect_core::queue::{RawPayload, Sink};

use crate::faults::{FaultLayer, Faults, apply};
use crate::server::ServerHandle;

pub use notify::NotificationFormat;

use errors::ApiError;
use resources::{BUILT_IN, ResourceType};
use serde_json::Value;
use state::{ResourceCounters, Settings, Shared, Subscription};
use store::Target;

/// The default project key.
pub const DEFAULT_PROJECT_KEY: &str = "connect-emulator";
/// The default API client id.
pub const DEFAULT_CLIENT_ID: &str = "emulator-client";
/// The default API client secret.
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-secret";
/// The default token lifetime (commercetools' 48 hours).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(48 * 3600);

/// Configures a [`CommercetoolsEmulator`] before it starts.
#[derive(Debug, Clone)]
pub struct CommercetoolsEmulatorBuilder {
    project_key: String,
    client_id: String,
    client_secret: String,
    scopes: Option<Vec<String>>,
    token_lifetime: Duration,
    max_page_size: usize,
    unordered_pages: bool,
    region: String,
    account: String,
    resource_types: Vec<ResourceType>,
}

impl Default for CommercetoolsEmulatorBuilder {
    fn default() -> Self {
        Self {
            project_key: DEFAULT_PROJECT_KEY.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            scopes: None,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            max_page_size: connect_commercetools::MAX_LIMIT as usize,
            unordered_pages: false,
            region: "eu-west-1".to_owned(),
            account: "000000000000".to_owned(),
            resource_types: BUILT_IN
                .iter()
                .map(|(endpoint, type_id)| ResourceType::new(*endpoint, *type_id))
                .collect(),
        }
    }
}

impl CommercetoolsEmulatorBuilder {
    /// The project key (default [`DEFAULT_PROJECT_KEY`]).
    #[must_use]
    pub fn project_key(mut self, project_key: impl Into<String>) -> Self {
        self.project_key = project_key.into();
        self
    }

    /// The API client's credentials.
    #[must_use]
    pub fn client(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.client_id = client_id.into();
        self.client_secret = client_secret.into();
        self
    }

    /// The scopes the API client may request, as scope names without the
    /// project (e.g. `["view_customers"]`); default `view_{endpoint}` and
    /// `manage_{endpoint}` of every type served (`customers`,
    /// `categories`, `orders`, `products` and those added with
    /// [`resource_type`](Self::resource_type)).
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Serves another resource type generically at `/{pk}/{endpoint}`
    /// (e.g. `resource_type("channels", "channel")`): get by id and key,
    /// query, create, `setKey` / `setCustomType` / `setCustomField`
    /// updates, delete, change notifications with `resource.typeId` =
    /// `type_id`, and scopes `view_{endpoint}` / `manage_{endpoint}`. A type
    /// already served (by endpoint) is left as it is.
    #[must_use]
    pub fn resource_type(
        mut self,
        endpoint: impl Into<String>,
        type_id: impl Into<String>,
    ) -> Self {
        let kind = ResourceType::new(endpoint, type_id);
        if !self
            .resource_types
            .iter()
            .any(|t| t.endpoint == kind.endpoint)
        {
            self.resource_types.push(kind);
        }
        self
    }

    /// How long issued tokens live (`expires_in` is its whole seconds).
    #[must_use]
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// The largest `limit` a query may ask for (default 500, as the real
    /// API); larger limits are 400 `InvalidInput`.
    #[must_use]
    pub fn max_page_size(mut self, max: usize) -> Self {
        self.max_page_size = max;
        self
    }

    /// Whether query pages come in reverse order (default `false`): each
    /// page holds what the query selects (`where`, `sort`, `limit`,
    /// `offset` honoured) reversed, so a scan sorted by `id asc` gets each
    /// page descending. See also
    /// [`set_unordered_pages`](CommercetoolsEmulator::set_unordered_pages).
    #[must_use]
    pub fn unordered_pages(mut self, unordered: bool) -> Self {
        self.unordered_pages = unordered;
        self
    }

    /// The AWS region and account written in EventBridge envelopes.
    #[must_use]
    pub fn eventbridge(mut self, region: impl Into<String>, account: impl Into<String>) -> Self {
        self.region = region.into();
        self.account = account.into();
        self
    }

    /// Starts the emulator on `127.0.0.1` with an ephemeral port.
    pub async fn start(self) -> std::io::Result<CommercetoolsEmulator> {
        let pk = self.project_key;
        let allowed_scopes = self
            .scopes
            .unwrap_or_else(|| {
                self.resource_types
                    .iter()
                    .flat_map(|t| {
                        [
                            format!("manage_{}", t.endpoint),
                            format!("view_{}", t.endpoint),
                        ]
                    })
                    .collect()
            })
            .into_iter()
            .map(|s| format!("{s}:{pk}"))
            .collect();
        let shared = Arc::new(Shared::new(Settings {
            project_key: pk,
            client_id: self.client_id,
            client_secret: self.client_secret,
            allowed_scopes,
            token_lifetime: self.token_lifetime,
            max_limit: self.max_page_size,
            region: self.region,
            account: self.account,
            resource_types: self.resource_types,
        }));
        shared.set_unordered_pages(self.unordered_pages);
        let faults = Arc::new(Faults::default());
        let router = http::router(Arc::clone(&shared))
            .layer(from_fn_with_state(
                FaultLayer {
                    faults: Arc::clone(&faults),
                    render: errors::render_fault,
                },
                apply,
            ))
            .layer(from_fn_with_state(Arc::clone(&shared), http::count));
        let server = ServerHandle::serve(router).await?;
        Ok(CommercetoolsEmulator {
            shared,
            faults,
            server,
        })
    }
}

/// A running commercetools emulator. Dropping it stops the server.
pub struct CommercetoolsEmulator {
    shared: Arc<Shared>,
    faults: Arc<Faults>,
    server: ServerHandle,
}

impl fmt::Debug for CommercetoolsEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommercetoolsEmulator")
            .field("url", &self.server.base_url())
            .field("project_key", &self.shared.settings.project_key)
            .field("customers", &self.customer_count())
            .finish_non_exhaustive()
    }
}

/// Identifies a subscription (see [`CommercetoolsEmulator::subscribe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriptionId(u64);

/// Request counters of an emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EmulatorStats {
    /// Every HTTP request received, including those a fault answered.
    pub http_requests: u64,
    /// Token requests that reached the token endpoint.
    pub token_requests: u64,
    /// Tokens issued.
    pub tokens_issued: u64,
    /// `GET /customers/{id}` requests.
    pub customer_gets: u64,
    /// `GET /customers/key={key}` requests.
    pub customer_key_gets: u64,
    /// `GET /customers` queries.
    pub customer_queries: u64,
    /// `POST /customers` requests.
    pub customer_creates: u64,
    /// `POST /customers/{id}` requests.
    pub customer_updates: u64,
    /// `DELETE /customers/{id}` requests.
    pub customer_deletes: u64,
    /// API requests refused with 401 (missing, unknown or expired token).
    pub unauthorized: u64,
    /// API requests refused with 403 (missing scope).
    pub forbidden: u64,
    /// Subscription payloads delivered.
    pub notifications: u64,
}

/// Request counters of one resource type (see
/// [`CommercetoolsEmulator::resource_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ResourceStats {
    /// `GET /{endpoint}/{id}` requests.
    pub gets: u64,
    /// `GET /{endpoint}/key={key}` (and `order-number=`) requests.
    pub key_gets: u64,
    /// `GET /{endpoint}` queries.
    pub queries: u64,
    /// Resources those queries returned, in all (what a scan read).
    pub query_results: u64,
    /// `POST /{endpoint}` requests.
    pub creates: u64,
    /// `POST /{endpoint}/{id}` requests.
    pub updates: u64,
    /// `DELETE /{endpoint}/{id}` requests.
    pub deletes: u64,
}

impl ResourceStats {
    fn read(counters: Option<&ResourceCounters>) -> Self {
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        counters.map_or_else(Self::default, |c| Self {
            gets: read(&c.gets),
            key_gets: read(&c.key_gets),
            queries: read(&c.queries),
            query_results: read(&c.query_results),
            creates: read(&c.creates),
            updates: read(&c.updates),
            deletes: read(&c.deletes),
        })
    }

    /// Requests of every kind that reached a handler.
    pub fn total(&self) -> u64 {
        self.gets + self.key_gets + self.queries + self.creates + self.updates + self.deletes
    }
}

impl EmulatorStats {
    /// Customer API requests of every kind that reached a handler.
    pub fn api_requests(&self) -> u64 {
        self.customer_gets
            + self.customer_key_gets
            + self.customer_queries
            + self.customer_creates
            + self.customer_updates
            + self.customer_deletes
    }
}

/// A write the emulator refused (the same rules as over HTTP).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("commercetools emulator: {status} {code}: {message}")]
pub struct EmulatorError {
    /// The HTTP status the API would answer with.
    pub status: u16,
    /// The commercetools error code, e.g. `DuplicateField`.
    pub code: String,
    /// The error message.
    pub message: String,
}

impl From<ApiError> for EmulatorError {
    fn from(error: ApiError) -> Self {
        Self {
            status: error.status.as_u16(),
            code: error.code.to_owned(),
            message: error.message,
        }
    }
}

impl CommercetoolsEmulator {
    /// Starts an emulator with the defaults.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder to change the project key, credentials, scopes, token
    /// lifetime or page size cap.
    pub fn builder() -> CommercetoolsEmulatorBuilder {
        CommercetoolsEmulatorBuilder::default()
    }

    /// `http://127.0.0.1:PORT`: the API host.
    pub fn api_url(&self) -> String {
        self.server.base_url()
    }

    /// `http://127.0.0.1:PORT`: the auth host (the same server).
    pub fn auth_url(&self) -> String {
        self.server.base_url()
    }

    /// The project key.
    pub fn project_key(&self) -> &str {
        &self.shared.settings.project_key
    }

    /// The API client id.
    pub fn client_id(&self) -> &str {
        &self.shared.settings.client_id
    }

    /// The API client secret.
    pub fn client_secret(&self) -> &str {
        &self.shared.settings.client_secret
    }

    /// A client configuration for this emulator, with the scopes
    /// `manage_{endpoint}:{pk}` the API client has (by default every type
    /// served; `manage_customers:{pk}` when it has none), so tests can
    /// read and change every resource.
    pub fn config(&self) -> CommercetoolsConfig {
        let pk = self.project_key();
        let mut scopes: Vec<String> = self
            .shared
            .settings
            .allowed_scopes
            .iter()
            .filter(|s| s.starts_with("manage_"))
            .cloned()
            .collect();
        if scopes.is_empty() {
            scopes.push(format!("manage_customers:{pk}"));
        }
        CommercetoolsConfig::new(
            pk,
            self.client_id(),
            self.client_secret(),
            self.auth_url(),
            self.api_url(),
        )
        .with_scopes(scopes)
    }

    /// A client built from [`config`](Self::config).
    pub fn client(&self) -> Result<CommercetoolsClient, connect_commercetools::Error> {
        CommercetoolsClient::new(self.config())
    }

    /// The fault plan applied to incoming requests.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Turns unordered query pages on or off for the requests that follow
    /// (see [`unordered_pages`](CommercetoolsEmulatorBuilder::unordered_pages)).
    pub fn set_unordered_pages(&self, unordered: bool) {
        self.shared.set_unordered_pages(unordered);
    }

    /// Makes every token issued so far invalid (401 `invalid_token`).
    pub fn expire_tokens(&self) {
        self.shared.tokens().clear();
    }

    /// Delivers a payload for every later write to `sink`, in `format`.
    /// EventBridge envelopes name the subscription `subscription-{n}`.
    pub fn subscribe(
        &self,
        sink: Arc<dyn Sink<RawPayload>>,
        format: NotificationFormat,
    ) -> SubscriptionId {
        let id = self
            .shared
            .next_subscription
            .fetch_add(1, Ordering::Relaxed);
        self.shared.subscriptions().push(Subscription {
            id,
            key: format!("subscription-{id}"),
            format,
            sink,
        });
        SubscriptionId(id)
    }

    /// Stops a subscription; `false` if it was not active.
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        let mut subscriptions = self.shared.subscriptions();
        let before = subscriptions.len();
        subscriptions.retain(|s| s.id != id.0);
        subscriptions.len() != before
    }

    /// Creates a customer without HTTP, delivering its notifications. A
    /// draft without password counts as `ExternalAuth` (seeding is lenient).
    pub async fn insert_customer(&self, draft: CustomerDraft) -> Result<Customer, EmulatorError> {
        Ok(self
            .shared
            .write(|store| {
                let (customer, event) = store.create(draft, false)?;
                Ok((customer, Some(event)))
            })
            .await?)
    }

    /// Creates a customer without HTTP and without notifications (fast
    /// seeding of large data sets).
    pub fn insert_customer_silently(
        &self,
        draft: CustomerDraft,
    ) -> Result<Customer, EmulatorError> {
        let (customer, _) = self.shared.store().create(draft, false)?;
        Ok(customer)
    }

    /// Applies update actions to a customer at its current version, without
    /// HTTP, delivering notifications.
    pub async fn update_customer(
        &self,
        id: &str,
        actions: Vec<CustomerUpdateAction>,
    ) -> Result<Customer, EmulatorError> {
        Ok(self
            .shared
            .write(|store| store.update(Target::Id(id), None, actions))
            .await?)
    }

    /// Deletes a customer without HTTP, delivering notifications.
    pub async fn delete_customer(&self, id: &str) -> Result<Customer, EmulatorError> {
        Ok(self
            .shared
            .write(|store| {
                let (customer, event) = store.delete(Target::Id(id), None)?;
                Ok((customer, Some(event)))
            })
            .await?)
    }

    /// Every customer, in id order.
    pub fn customers(&self) -> Vec<Customer> {
        self.shared.store().all()
    }

    /// The customer with `id`.
    pub fn customer(&self, id: &str) -> Option<Customer> {
        self.shared.store().by_id(id).cloned()
    }

    /// How many customers exist.
    pub fn customer_count(&self) -> usize {
        self.shared.store().len()
    }

    /// The type served at `endpoint` or with type id `type_name`.
    fn kind(&self, type_name: &str) -> Result<&ResourceType, EmulatorError> {
        self.shared
            .settings
            .resource_type(type_name)
            .ok_or_else(|| EmulatorError {
                status: 404,
                code: "ResourceNotFound".to_owned(),
                message: format!(
                    "the emulator serves no resource type `{type_name}`; add it with CommercetoolsEmulator::builder().resource_type(endpoint, type_id)"
                ),
            })
    }

    /// Creates a resource of `type_name` (a type id such as `category` or
    /// an endpoint such as `categories`) from JSON without HTTP, delivering
    /// its notifications. What the draft lacks of `id`, `version` (1),
    /// `createdAt` and `lastModifiedAt` is assigned; the type's rules apply
    /// as over HTTP (a category's parent must exist, keys are unique, ...).
    /// Customers are read as a `CustomerDraft`.
    pub async fn insert_resource(
        &self,
        type_name: &str,
        resource: Value,
    ) -> Result<Value, EmulatorError> {
        let kind = self.kind(type_name)?;
        if kind.is_customer() {
            let customer = self.insert_customer(customer_draft(resource)?).await?;
            return Ok(to_json(&customer));
        }
        Ok(self
            .shared
            .write(|store| {
                let (resource, event) = store.create_resource(kind, resource, false)?;
                Ok((resource, Some(event)))
            })
            .await?)
    }

    /// [`insert_resource`](Self::insert_resource) without notifications
    /// (fast seeding).
    pub fn insert_resource_silently(
        &self,
        type_name: &str,
        resource: Value,
    ) -> Result<Value, EmulatorError> {
        let kind = self.kind(type_name)?;
        if kind.is_customer() {
            let customer = self.insert_customer_silently(customer_draft(resource)?)?;
            return Ok(to_json(&customer));
        }
        let (resource, _) = self.shared.store().create_resource(kind, resource, false)?;
        Ok(resource)
    }

    /// Changes a resource in place without HTTP: `change` edits its JSON,
    /// then the version grows by one, `lastModifiedAt` moves on and
    /// `ResourceUpdated` is delivered (no Message). Unique values are
    /// checked as for update actions.
    pub async fn modify_resource(
        &self,
        type_name: &str,
        id: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<Value, EmulatorError> {
        let kind = self.kind(type_name)?;
        Ok(self
            .shared
            .write(|store| {
                if kind.is_customer() {
                    let current = store.get(Target::Id(id))?.clone();
                    let mut json = to_json(&current);
                    change(&mut json);
                    let updated = serde_json::from_value(json)
                        .map_err(|e| ApiError::invalid_json(e.to_string()))?;
                    let (customer, event) = store.replace_customer(&current, updated)?;
                    return Ok((to_json(&customer), Some(event)));
                }
                let current = store.get_resource(kind, Target::Id(id))?.clone();
                let mut updated = current.clone();
                change(&mut updated);
                let (resource, event) =
                    store.replace_resource(kind, &current, updated, Vec::new())?;
                Ok((resource, Some(event)))
            })
            .await?)
    }

    /// Deletes a resource without HTTP, delivering `ResourceDeleted`.
    pub async fn delete_resource(&self, type_name: &str, id: &str) -> Result<Value, EmulatorError> {
        let kind = self.kind(type_name)?;
        if kind.is_customer() {
            return Ok(to_json(&self.delete_customer(id).await?));
        }
        Ok(self
            .shared
            .write(|store| {
                let (resource, event) = store.delete_resource(kind, Target::Id(id), None)?;
                Ok((resource, Some(event)))
            })
            .await?)
    }

    /// Every resource of `type_name`, in id order (empty for a type not
    /// served).
    pub fn resources(&self, type_name: &str) -> Vec<Value> {
        let Ok(kind) = self.kind(type_name) else {
            return Vec::new();
        };
        let store = self.shared.store();
        if kind.is_customer() {
            return store.all().iter().map(to_json).collect();
        }
        store.json(kind).map(|r| r.items.all()).unwrap_or_default()
    }

    /// The resource of `type_name` with `id`.
    pub fn resource(&self, type_name: &str, id: &str) -> Option<Value> {
        let kind = self.kind(type_name).ok()?;
        let store = self.shared.store();
        if kind.is_customer() {
            return store.by_id(id).map(to_json);
        }
        store.get_resource(kind, Target::Id(id)).ok().cloned()
    }

    /// The resource of `type_name` with `key`.
    pub fn resource_by_key(&self, type_name: &str, key: &str) -> Option<Value> {
        let kind = self.kind(type_name).ok()?;
        let store = self.shared.store();
        if kind.is_customer() {
            return store.get(Target::Key(key)).ok().map(to_json);
        }
        store.get_resource(kind, Target::Key(key)).ok().cloned()
    }

    /// The `(endpoint, type id)` of every type served, customers first.
    pub fn resource_types(&self) -> Vec<(String, String)> {
        self.shared
            .settings
            .resource_types
            .iter()
            .map(|t| (t.endpoint.clone(), t.type_id.clone()))
            .collect()
    }

    /// The request counters of the type at `endpoint` (zero for a type not
    /// served).
    pub fn resource_stats(&self, endpoint: &str) -> ResourceStats {
        let endpoint = self
            .kind(endpoint)
            .map_or(endpoint, |kind| kind.endpoint.as_str());
        ResourceStats::read(self.shared.counters.resources.get(endpoint))
    }

    /// The request counters.
    pub fn stats(&self) -> EmulatorStats {
        let c = &self.shared.counters;
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        let customers = self.resource_stats("customers");
        EmulatorStats {
            http_requests: read(&c.http_requests),
            token_requests: read(&c.token_requests),
            tokens_issued: read(&c.tokens_issued),
            customer_gets: customers.gets,
            customer_key_gets: customers.key_gets,
            customer_queries: customers.queries,
            customer_creates: customers.creates,
            customer_updates: customers.updates,
            customer_deletes: customers.deletes,
            unauthorized: read(&c.unauthorized),
            forbidden: read(&c.forbidden),
            notifications: read(&c.notifications),
        }
    }
}

fn to_json(customer: &Customer) -> Value {
    serde_json::to_value(customer).unwrap_or(Value::Null)
}

fn customer_draft(resource: Value) -> Result<CustomerDraft, EmulatorError> {
    serde_json::from_value(resource)
        .map_err(|e| ApiError::invalid_json(format!("not a customer draft: {e}")).into())
}
