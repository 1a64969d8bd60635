//! A local commercetools: OAuth client credentials, the customer API, and
//! subscriptions, on `127.0.0.1` with an ephemeral port.
//!
//! - **Auth** (`POST /oauth/token`): HTTP Basic client credentials, requested
//!   scopes checked against the API client's (`manage_customers:{pk}` and
//!   `view_customers:{pk}` by default); 401 `invalid_client`, 400
//!   `invalid_scope`. Tokens expire after the configured lifetime (48 h by
//!   default) or at once with [`expire_tokens`](CommercetoolsEmulator::expire_tokens)
//!   (then 401 `invalid_token`).
//! - **Customers**: `GET /{pk}/customers/{id}`, `GET /{pk}/customers/key={key}`,
//!   `GET /{pk}/customers` (`where`, `sort`, `limit` ≤ 500, `offset` ≤ 10,000,
//!   `withTotal`), `POST /{pk}/customers` (201 `{"customer": ...}`, unique
//!   email/key/customer number → 400 `DuplicateField`), `POST /{pk}/customers/{id}`
//!   with `{version, actions}` (409 `ConcurrentModification` with
//!   `currentVersion` on a stale version, 400 `InvalidInput` for an unknown
//!   action), `DELETE /{pk}/customers/{id}?version=N`. Reads need
//!   `view_customers` or `manage_customers`, writes `manage_customers`
//!   (403 `insufficient_scope`). Error bodies are commercetools'
//!   `{statusCode, message, errors: [{code, message, ...}]}`. The version
//!   grows by one per successful update request; `createdAt` and
//!   `lastModifiedAt` are kept, strictly increasing across writes.
//! - **Subscriptions**: [`subscribe`](CommercetoolsEmulator::subscribe) a
//!   [`Sink`] of raw payloads in a [`NotificationFormat`]; every write
//!   delivers its payloads (shaped like `fixtures/commercetools/`) before
//!   the HTTP response is sent, in write order, so a test can wait on the
//!   queue without sleeping. A full queue holds writes back (backpressure).
//! - **Faults**: [`faults`](CommercetoolsEmulator::faults) injects 429/5xx
//!   with commercetools error bodies, delays and dropped connections.
//! - **Seeding and inspection** without HTTP: [`insert_customer`](CommercetoolsEmulator::insert_customer),
//!   [`insert_customer_silently`](CommercetoolsEmulator::insert_customer_silently),
//!   [`customers`](CommercetoolsEmulator::customers), [`stats`](CommercetoolsEmulator::stats).
//!
//! Unlike the real service, auth and API share one host, queries without a
//! `sort` come back in `id` order, and only this subset of query predicates
//! is understood (anything else is a 400 `InvalidInput`, never silently
//! ignored): `field op value` clauses joined by `and` with `=`, `!=`, `>`,
//! `>=`, `<`, `<=`, `in (...)`, `is defined` on `id`, `key`, `email`,
//! `customerNumber`, `externalId`, `firstName`, `lastName`,
//! `companyName`, `version`, `isEmailVerified`, `createdAt`, `lastModifiedAt`.
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
mod errors;
mod http;
mod notify;
mod predicate;
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
use state::{Settings, Shared, Subscription};
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
    region: String,
    account: String,
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
            region: "eu-west-1".to_owned(),
            account: "000000000000".to_owned(),
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
    /// project (e.g. `["view_customers"]`); default `manage_customers` and
    /// `view_customers`.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
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
            .unwrap_or_else(|| vec!["manage_customers".to_owned(), "view_customers".to_owned()])
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
        }));
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

    /// A client configuration for this emulator, with scope
    /// `manage_customers:{pk}` (tests create and change customers).
    pub fn config(&self) -> CommercetoolsConfig {
        let pk = self.project_key();
        CommercetoolsConfig::new(
            pk,
            self.client_id(),
            self.client_secret(),
            self.auth_url(),
            self.api_url(),
        )
        .with_scopes([format!("manage_customers:{pk}")])
    }

    /// A client built from [`config`](Self::config).
    pub fn client(&self) -> Result<CommercetoolsClient, connect_commercetools::Error> {
        CommercetoolsClient::new(self.config())
    }

    /// The fault plan applied to incoming requests.
    pub fn faults(&self) -> &Faults {
        &self.faults
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

    /// The request counters.
    pub fn stats(&self) -> EmulatorStats {
        let c = &self.shared.counters;
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        EmulatorStats {
            http_requests: read(&c.http_requests),
            token_requests: read(&c.token_requests),
            tokens_issued: read(&c.tokens_issued),
            customer_gets: read(&c.customer_gets),
            customer_key_gets: read(&c.customer_key_gets),
            customer_queries: read(&c.customer_queries),
            customer_creates: read(&c.customer_creates),
            customer_updates: read(&c.customer_updates),
            customer_deletes: read(&c.customer_deletes),
            unauthorized: read(&c.unauthorized),
            forbidden: read(&c.forbidden),
            notifications: read(&c.notifications),
        }
    }
}
