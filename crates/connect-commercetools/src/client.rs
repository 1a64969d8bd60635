//! [`CommercetoolsClient`]: the HTTP API client.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use connect_core::telemetry::HttpRequests;
use connect_http::{AccessToken, RetryPolicy, TokenCache};
use futures_util::Stream;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use url::Url;

use crate::auth::ClientCredentials;
use crate::config::CommercetoolsConfig;
use crate::error::{DEPENDENCY, Error, ErrorResponse};

mod scan_order;
use crate::model::{
    Customer, CustomerDraft, CustomerQuery, CustomerScan, CustomerUpdateAction, MAX_LIMIT, Order,
    OrderUpdateAction, PagedQueryResponse, Query, Resource, Scan, ScanKey, ScanOrder,
};

/// The longest backoff between two attempts, whatever the attempt number.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The longest `Retry-After` the client waits for by itself; a longer one is
/// returned to the caller (see [`Error::retry_after`]) so a runtime can
/// reschedule the work instead of blocking a worker.
const MAX_IN_CLIENT_RETRY_AFTER: Duration = Duration::from_secs(10);

/// A commercetools HTTP API client: one connection pool, one cached token,
/// retries of transient failures. Cloning is cheap and clones share
/// everything, so build one per process and hand out clones.
///
/// - **Auth**: OAuth2 client credentials; the token is cached and refreshed
///   shortly before it expires (10% of its lifetime, at most 5 minutes);
///   concurrent callers share one refresh. A 401 invalidates the token and
///   the request is retried once with a new one; a second 401 is an error.
/// - **Retries**: 429, 502, 503, 504, timeouts and broken connections are
///   retried up to `max-retries` times with exponential backoff and jitter,
///   honouring `Retry-After` (up to 10 s; a longer hint is returned in the
///   error). Writes are retried only when commercetools surely did not apply
///   them (429, 503, connection refused).
///
/// ```no_run
/// use connect_commercetools::{CommercetoolsClient, CommercetoolsConfig, CustomerScan};
/// use futures_util::StreamExt;
///
/// # async fn run() -> Result<(), connect_commercetools::Error> {
/// let config = CommercetoolsConfig::new(
///     "my-project",
///     "client-id",
///     "client-secret",
///     "https://auth.europe-west1.gcp.commercetools.com",
///     "https://api.europe-west1.gcp.commercetools.com",
/// );
/// let client = CommercetoolsClient::new(config)?;
/// match client.find_customer("14a4ef54-957d-4148-b0be-de8d0fbc411d").await? {
///     Some(customer) => println!("{} is at version {}", customer.email, customer.version),
///     None => println!("deleted"),
/// }
/// let mut customers = std::pin::pin!(client.scan_customers(CustomerScan::all()));
/// while let Some(customer) = customers.next().await {
///     println!("{}", customer?.id);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CommercetoolsClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    http: reqwest::Client,
    config: CommercetoolsConfig,
    project_url: Url,
    tokens: TokenCache<ClientCredentials>,
    retry: RetryPolicy,
    requests: Arc<HttpRequests>,
}

impl fmt::Debug for CommercetoolsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.inner.config;
        f.debug_struct("CommercetoolsClient")
            .field("project_key", &config.project_key)
            .field("api_url", &config.api_url)
            .field("auth_url", &config.auth_url)
            .field("scopes", &config.scopes)
            .finish_non_exhaustive()
    }
}

/// What a request is, for retries and error messages.
struct Call {
    method: Method,
    url: Url,
    query: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    idempotent: bool,
    operation: String,
    expects: Cow<'static, str>,
}

impl Call {
    /// An idempotent `GET` of `url` without a query.
    fn read(url: Url, operation: String, expects: impl Into<Cow<'static, str>>) -> Self {
        Self {
            method: Method::GET,
            url,
            query: Vec::new(),
            body: None,
            idempotent: true,
            operation,
            expects: expects.into(),
        }
    }
}

/// Query pairs with owned names.
fn owned_pairs(pairs: Vec<(&'static str, String)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// Encodes a request body.
fn encode(what: &str, body: &impl Serialize) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(body)
        .map_err(|e| Error::invalid_request(format!("cannot encode the {what}: {e}")))
}

/// The body of an update request: `{version, actions}`.
#[derive(Serialize)]
struct UpdateBody<'a, A> {
    version: u64,
    actions: &'a [A],
}

/// Where an update goes: the path segment after the endpoint and how to
/// name it in errors.
struct Target {
    segment: String,
    label: String,
}

impl Target {
    fn id<R: Resource>(id: &str) -> Self {
        Self {
            segment: id.to_owned(),
            label: format!("{} `{id}`", R::TYPE_ID),
        }
    }

    fn key<R: Resource>(key: &str) -> Self {
        Self {
            segment: format!("key={key}"),
            label: format!("{} with key `{key}`", R::TYPE_ID),
        }
    }

    fn order_number(number: &str) -> Self {
        Self {
            segment: format!("order-number={number}"),
            label: format!("order with number `{number}`"),
        }
    }
}

/// What [`CommercetoolsClient::update_with`] did.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Update<R> {
    /// The plan asked for actions and they were applied: the resource
    /// after the update.
    Updated(R),
    /// The plan asked for no action: the resource as it was read, nothing
    /// was posted.
    Unchanged(R),
}

impl<R> Update<R> {
    /// The resource, updated or not.
    pub fn into_inner(self) -> R {
        match self {
            Self::Updated(resource) | Self::Unchanged(resource) => resource,
        }
    }

    /// Whether actions were applied.
    pub fn is_updated(&self) -> bool {
        matches!(self, Self::Updated(_))
    }
}

/// `Ok(None)` for a 404, anything else as it is.
fn not_found_as_none<T>(result: Result<T, Error>) -> Result<Option<T>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

/// The answer to a customer creation.
#[derive(Deserialize)]
struct CustomerSignInResult {
    customer: Customer,
}

impl CommercetoolsClient {
    /// A client with its own connection pool.
    pub fn new(config: CommercetoolsConfig) -> Result<Self, Error> {
        let http = config
            .http
            .client_builder()
            .build()
            .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?;
        Self::with_http_client(config, http)
    }

    /// A client sharing an existing `reqwest` connection pool. The
    /// configured `request-timeout` still applies to each request.
    pub fn with_http_client(
        config: CommercetoolsConfig,
        http: reqwest::Client,
    ) -> Result<Self, Error> {
        config.validate().map_err(Error::config)?;
        let mut project_url = Url::parse(&config.api_url)
            .map_err(|e| Error::config(format!("api-url `{}`: {e}", config.api_url)))?;
        project_url
            .path_segments_mut()
            .map_err(|()| {
                Error::config(format!("api-url `{}` cannot be a base URL", config.api_url))
            })?
            .pop_if_empty()
            .push(&config.project_key);
        let retry = config
            .http
            .retry_policy(DEPENDENCY, MAX_BACKOFF, MAX_IN_CLIENT_RETRY_AFTER);
        let requests = Arc::new(HttpRequests::new());
        let tokens = TokenCache::new(ClientCredentials {
            requests: Arc::clone(&requests),
            http: http.clone(),
            token_url: format!("{}/oauth/token", config.auth_url.trim_end_matches('/')),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            scope: config.scope_string(),
            timeout: config.http.request_timeout,
        });
        Ok(Self {
            inner: Arc::new(ClientInner {
                http,
                config,
                project_url,
                tokens,
                retry,
                requests,
            }),
        })
    }

    /// Every HTTP request this client (and its clones) sent, API and token
    /// endpoint alike, by response status; requests that got no response
    /// are counted as errors.
    pub fn http_requests(&self) -> Arc<HttpRequests> {
        Arc::clone(&self.inner.requests)
    }

    /// Obtains an access token now (unless a valid one is cached), to find
    /// refused credentials or scopes at startup rather than on the first
    /// message.
    pub async fn authenticate(&self) -> Result<(), Error> {
        const OPERATION: &str = "requesting an access token";
        let inner = &self.inner;
        inner
            .retry
            .run(OPERATION, true, || inner.tokens.token())
            .await
            .map(drop)
            .map_err(|failed| Error::from_failed(failed, OPERATION))
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &CommercetoolsConfig {
        &self.inner.config
    }

    /// The project key.
    pub fn project_key(&self) -> &str {
        &self.inner.config.project_key
    }

    /// `GET /{projectKey}/{endpoint}/{id}` for any [`Resource`], e.g.
    /// `client.get::<Category>(id)`. A missing resource is an error for
    /// which [`Error::is_not_found`] is `true`; see also [`find`](Self::find).
    /// The id is percent-encoded as one path segment.
    pub async fn get<R: Resource>(&self, id: &str) -> Result<R, Error> {
        let call = Call::read(
            self.url(&[R::ENDPOINT, id]),
            format!("fetching {} `{id}`", R::TYPE_ID),
            R::TYPE_ID,
        );
        self.execute(call).await
    }

    /// Like [`get`](Self::get), but a missing resource (404) is `Ok(None)`.
    pub async fn find<R: Resource>(&self, id: &str) -> Result<Option<R>, Error> {
        not_found_as_none(self.get(id).await)
    }

    /// `GET /{projectKey}/{endpoint}/key={key}` for any [`Resource`]. The
    /// key is percent-encoded as part of one path segment.
    pub async fn get_by_key<R: Resource>(&self, key: &str) -> Result<R, Error> {
        let call = Call::read(
            self.url(&[R::ENDPOINT, &format!("key={key}")]),
            format!("fetching {} with key `{key}`", R::TYPE_ID),
            R::TYPE_ID,
        );
        self.execute(call).await
    }

    /// Like [`get_by_key`](Self::get_by_key), but a missing resource (404)
    /// is `Ok(None)`.
    pub async fn find_by_key<R: Resource>(&self, key: &str) -> Result<Option<R>, Error> {
        not_found_as_none(self.get_by_key(key).await)
    }

    /// `GET /{projectKey}/{endpoint}` for any [`Resource`] with `where`,
    /// `sort`, `limit`, `offset` and `withTotal`. The query is validated
    /// before anything is sent.
    pub async fn query<R: Resource>(&self, query: &Query) -> Result<PagedQueryResponse<R>, Error> {
        self.query_page(
            R::ENDPOINT,
            query,
            format!("paged {} query result", R::TYPE_ID),
        )
        .await
    }

    /// Like [`query`](Self::query), for any endpoint under the project
    /// (e.g. `"product-types"`), with the results as JSON.
    pub async fn query_json(
        &self,
        endpoint: &str,
        query: &Query,
    ) -> Result<PagedQueryResponse<serde_json::Value>, Error> {
        self.query_page(endpoint, query, format!("paged {endpoint} query result"))
            .await
    }

    /// Every resource of type `R` (matching the scan's optional predicate),
    /// in id order, as a stream. Pages are fetched one at a time with cursor
    /// paging (`sort=id asc`, `where=id > "<last id>"`, `withTotal=false`),
    /// so memory stays bounded by one page whatever the project's size, and
    /// the 10,000 offset limit does not apply. The stream ends after the
    /// first error (each page already had its retries). Each page is
    /// checked before any of it is yielded: its ids must ascend strictly,
    /// from after the previous page's last id (or the scan's `after`); a
    /// page that does not is an error ([`Error::is_out_of_order`]) that
    /// ends the stream, since paging on it would skip or repeat resources.
    pub fn scan<R: Resource>(
        &self,
        scan: Scan,
    ) -> impl Stream<Item = Result<R, Error>> + Send + 'static {
        self.scan_pages(
            R::ENDPOINT.to_owned(),
            scan,
            |resource: &R, order| match order {
                ScanOrder::Id => Ok(ScanKey::id(resource.id())),
                ScanOrder::LastModified => Err(format!(
                    "`{}`: a scan by lastModifiedAt reads its key from JSON; use scan_json",
                    resource.id()
                )),
            },
        )
    }

    /// Like [`scan`](Self::scan), for any endpoint under the project, with
    /// the results as JSON. Each result must have a string `id` (the
    /// cursor; with [`Scan::by_last_modified`] also an RFC 3339
    /// `lastModifiedAt`); one without is a decode error that ends the
    /// stream. A scan by `lastModifiedAt` is checked like one by id: each
    /// page must ascend strictly by (`lastModifiedAt`, `id`) from the
    /// previous page's last key.
    pub fn scan_json(
        &self,
        endpoint: &str,
        scan: Scan,
    ) -> impl Stream<Item = Result<serde_json::Value, Error>> + Send + 'static {
        self.scan_pages(endpoint.to_owned(), scan, ScanKey::of_json)
    }

    /// `POST /{projectKey}/{endpoint}/{id}` with `{version, actions}`:
    /// applies `actions` (all or nothing) to the resource at `version`, for
    /// any [`Resource`] and its action type (e.g. [`Category`](crate::Category) and
    /// [`CategoryUpdateAction`](crate::CategoryUpdateAction)). A stale
    /// version is a 409 ([`Error::is_conflict`], [`Error::current_version`]);
    /// a missing resource [`Error::is_not_found`]. See
    /// [`update_with`](Self::update_with) to re-read and re-apply on 409.
    pub async fn update<R, A>(&self, id: &str, version: u64, actions: &[A]) -> Result<R, Error>
    where
        R: Resource,
        A: Serialize + Sync,
    {
        self.update_at::<R, A>(&Target::id::<R>(id), version, actions)
            .await
    }

    /// Like [`update`](Self::update), addressing the resource by key
    /// (`POST /{projectKey}/{endpoint}/key={key}`).
    pub async fn update_by_key<R, A>(
        &self,
        key: &str,
        version: u64,
        actions: &[A],
    ) -> Result<R, Error>
    where
        R: Resource,
        A: Serialize + Sync,
    {
        self.update_at::<R, A>(&Target::key::<R>(key), version, actions)
            .await
    }

    /// Reads the resource, asks `plan` for the actions that bring it where
    /// it should be, and posts them with the version read. An empty plan
    /// posts nothing and returns [`Update::Unchanged`]. On a 409 (another
    /// change happened first) it reads the resource again and re-plans, at
    /// most `max_attempts` posts in all (0 counts as 1); then the last 409
    /// is returned, still [`Error::is_conflict`] and retryable. A missing
    /// resource is an error for which [`Error::is_not_found`] is `true`.
    ///
    /// ```no_run
    /// use connect_commercetools::{CommercetoolsClient, Order, OrderState, OrderUpdateAction};
    ///
    /// # async fn run(client: CommercetoolsClient) -> Result<(), connect_commercetools::Error> {
    /// let update = client
    ///     .update_with::<Order, _, _>("order-id", 3, |order| {
    ///         if order.order_state == OrderState::Complete {
    ///             Vec::new()
    ///         } else {
    ///             vec![OrderUpdateAction::ChangeOrderState { order_state: OrderState::Complete }]
    ///         }
    ///     })
    ///     .await?;
    /// println!("updated: {}", update.is_updated());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn update_with<R, A, F>(
        &self,
        id: &str,
        max_attempts: u32,
        plan: F,
    ) -> Result<Update<R>, Error>
    where
        R: Resource,
        A: Serialize + Send + Sync,
        F: FnMut(&R) -> Vec<A> + Send,
    {
        self.update_with_at(&Target::id::<R>(id), max_attempts, plan)
            .await
    }

    /// Like [`update_with`](Self::update_with), addressing the resource by
    /// key.
    pub async fn update_with_by_key<R, A, F>(
        &self,
        key: &str,
        max_attempts: u32,
        plan: F,
    ) -> Result<Update<R>, Error>
    where
        R: Resource,
        A: Serialize + Send + Sync,
        F: FnMut(&R) -> Vec<A> + Send,
    {
        self.update_with_at(&Target::key::<R>(key), max_attempts, plan)
            .await
    }

    /// `POST /{projectKey}/{endpoint}`: creates a resource from `draft` and
    /// returns it (for resources whose creation answers with the resource
    /// itself; customers answer with a sign-in result, see
    /// [`create_customer`](Self::create_customer)).
    pub async fn create<R, D>(&self, draft: &D) -> Result<R, Error>
    where
        R: Resource,
        D: Serialize + Sync,
    {
        let call = Call {
            method: Method::POST,
            url: self.url(&[R::ENDPOINT]),
            query: Vec::new(),
            body: Some(encode(&format!("{} draft", R::TYPE_ID), draft)?),
            idempotent: false,
            operation: format!("creating a {}", R::TYPE_ID),
            expects: R::TYPE_ID.into(),
        };
        self.execute(call).await
    }

    /// `DELETE /{projectKey}/{endpoint}/{id}?version=N`: deletes the
    /// resource and returns it as it was.
    pub async fn delete<R: Resource>(&self, id: &str, version: u64) -> Result<R, Error> {
        let call = Call {
            method: Method::DELETE,
            url: self.url(&[R::ENDPOINT, id]),
            query: vec![("version".to_owned(), version.to_string())],
            body: None,
            idempotent: false,
            operation: format!("deleting {} `{id}`", R::TYPE_ID),
            expects: R::TYPE_ID.into(),
        };
        self.execute(call).await
    }

    /// `GET /{projectKey}/orders/order-number={number}` (the number
    /// percent-encoded, so spaces and slashes are safe). A missing order is
    /// an error for which [`Error::is_not_found`] is `true`.
    pub async fn order_by_number(&self, number: &str) -> Result<Order, Error> {
        let target = Target::order_number(number);
        let call = Call::read(
            self.url(&[Order::ENDPOINT, &target.segment]),
            format!("fetching {}", target.label),
            Order::TYPE_ID,
        );
        self.execute(call).await
    }

    /// Like [`order_by_number`](Self::order_by_number), but a missing order
    /// is `Ok(None)`.
    pub async fn find_order_by_number(&self, number: &str) -> Result<Option<Order>, Error> {
        not_found_as_none(self.order_by_number(number).await)
    }

    /// `POST /{projectKey}/orders/order-number={number}` with
    /// `{version, actions}`; see [`update`](Self::update).
    pub async fn update_order_by_number(
        &self,
        number: &str,
        version: u64,
        actions: &[OrderUpdateAction],
    ) -> Result<Order, Error> {
        self.update_at::<Order, _>(&Target::order_number(number), version, actions)
            .await
    }

    /// [`update_with`](Self::update_with) for an order addressed by its
    /// order number.
    pub async fn update_order_with_by_number<F>(
        &self,
        number: &str,
        max_attempts: u32,
        plan: F,
    ) -> Result<Update<Order>, Error>
    where
        F: FnMut(&Order) -> Vec<OrderUpdateAction> + Send,
    {
        self.update_with_at(&Target::order_number(number), max_attempts, plan)
            .await
    }

    /// `GET /{projectKey}/{endpoint}/{id}` as JSON, for resources this
    /// crate has no model of (e.g. `"zones"`). 404 is
    /// [`Error::is_not_found`].
    pub async fn get_json(&self, endpoint: &str, id: &str) -> Result<serde_json::Value, Error> {
        let call = Call::read(
            self.url(&[endpoint, id]),
            format!("fetching {endpoint} `{id}`"),
            "JSON document",
        );
        self.execute(call).await
    }

    /// Any request under the project URL: `path` segments (each
    /// percent-encoded) after `/{projectKey}`, query parameters, an optional
    /// JSON body. It gets the same token, retries (writes only when
    /// `idempotent` is `true` or commercetools surely did not apply them)
    /// and request counting ([`http_requests`](Self::http_requests)) as the
    /// typed calls. An empty success body is `null`; an error status is an
    /// [`Error`] classified as usual.
    ///
    /// ```no_run
    /// use connect_commercetools::CommercetoolsClient;
    /// use reqwest::Method;
    ///
    /// # async fn run(client: CommercetoolsClient) -> Result<(), connect_commercetools::Error> {
    /// let zones = client
    ///     .send_json(Method::GET, &["zones"], &[("limit", "5".to_owned())], None, true)
    ///     .await?;
    /// println!("{}", zones["count"]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_json(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        idempotent: bool,
    ) -> Result<serde_json::Value, Error> {
        let operation = format!("{method} /{}", path.join("/"));
        let body = match body {
            Some(body) => Some(encode("request body", body)?),
            None => None,
        };
        let call = Call {
            method,
            url: self.url(path),
            query: query
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
            body,
            idempotent,
            operation,
            expects: "JSON document".into(),
        };
        self.execute(call).await
    }

    /// `GET /{projectKey}/customers/{id}`. A deleted customer is an error
    /// for which [`Error::is_not_found`] is `true`; see also
    /// [`find_customer`](Self::find_customer).
    pub async fn customer(&self, id: &str) -> Result<Customer, Error> {
        self.get(id).await
    }

    /// Like [`customer`](Self::customer), but a missing customer is `Ok(None)`.
    pub async fn find_customer(&self, id: &str) -> Result<Option<Customer>, Error> {
        self.find(id).await
    }

    /// `GET /{projectKey}/customers/key={key}`.
    pub async fn customer_by_key(&self, key: &str) -> Result<Customer, Error> {
        self.get_by_key(key).await
    }

    /// `GET /{projectKey}/customers` with `where`, `sort`, `limit`, `offset`
    /// and `withTotal`. The query is validated before anything is sent.
    pub async fn query_customers(
        &self,
        query: &CustomerQuery,
    ) -> Result<PagedQueryResponse<Customer>, Error> {
        self.query(query).await
    }

    /// Every customer (matching the scan's optional predicate), in id order,
    /// as a stream: [`scan`](Self::scan) of [`Customer`].
    pub fn scan_customers(
        &self,
        scan: CustomerScan,
    ) -> impl Stream<Item = Result<Customer, Error>> + Send + 'static {
        self.scan(scan)
    }

    /// One page of `endpoint`, validated first.
    async fn query_page<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        query: &Query,
        expects: String,
    ) -> Result<PagedQueryResponse<T>, Error> {
        let operation = format!("querying {endpoint}");
        query
            .validate()
            .map_err(|e| e.with_operation(operation.clone()))?;
        let call = Call {
            method: Method::GET,
            url: self.url(&[endpoint]),
            query: owned_pairs(query.to_query_pairs()),
            body: None,
            idempotent: true,
            operation,
            expects: expects.into(),
        };
        self.execute(call).await
    }

    /// The one cursor-paging loop behind [`scan`](Self::scan) and
    /// [`scan_json`](Self::scan_json); `id_of` reads the cursor of a result
    /// (`None`: the page cannot be paged on, a decode error).
    fn scan_pages<T>(
        &self,
        endpoint: String,
        scan: Scan,
        key_of: fn(&T, ScanOrder) -> Result<ScanKey, String>,
    ) -> impl Stream<Item = Result<T, Error>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        struct State<T> {
            client: CommercetoolsClient,
            endpoint: String,
            scan: Scan,
            cursor: Option<ScanKey>,
            page: std::vec::IntoIter<T>,
            done: bool,
        }
        let cursor = scan.after.clone();
        let state = State {
            client: self.clone(),
            endpoint,
            scan,
            cursor,
            page: Vec::new().into_iter(),
            done: false,
        };
        futures_util::stream::unfold(state, move |mut state| async move {
            loop {
                if let Some(item) = state.page.next() {
                    return Some((Ok(item), state));
                }
                if state.done {
                    return None;
                }
                let operation = format!("scanning {}", state.endpoint);
                if state.scan.page_size == 0 || state.scan.page_size > MAX_LIMIT {
                    state.done = true;
                    let error = Error::invalid_request(format!(
                        "scan page size {} is invalid; use 1 to {MAX_LIMIT}",
                        state.scan.page_size
                    ))
                    .with_operation(operation);
                    return Some((Err(error), state));
                }
                let query = state.scan.page_query_after(state.cursor.as_ref());
                let expects = format!("paged {} query result", state.endpoint);
                match state
                    .client
                    .query_page::<T>(&state.endpoint, &query, expects)
                    .await
                {
                    Ok(page) => {
                        tracing::debug!(
                            endpoint = state.endpoint.as_str(),
                            after = %state.cursor.as_ref().map(ToString::to_string).unwrap_or_default(),
                            count = page.results.len(),
                            "scan page"
                        );
                        state.done = page.results.len() < state.scan.page_size as usize;
                        let order = state.scan.order;
                        let keys = match page
                            .results
                            .iter()
                            .enumerate()
                            .map(|(i, r)| key_of(r, order).map_err(|e| (i, e)))
                            .collect::<Result<Vec<ScanKey>, _>>()
                        {
                            Ok(keys) => keys,
                            Err((position, problem)) => {
                                state.done = true;
                                let error = Error::decode(
                                    format!("page of {}", state.endpoint),
                                    format!("result #{}: {problem}", position + 1),
                                )
                                .with_operation(operation);
                                return Some((Err(error), state));
                            }
                        };
                        if let Some((before, seen)) =
                            scan_order::first_out_of_order(state.cursor.as_ref(), keys.iter())
                        {
                            state.done = true;
                            let error = match order {
                                ScanOrder::LastModified => Error::out_of_modified_order(
                                    &state.endpoint,
                                    &before.to_string(),
                                    &seen.to_string(),
                                ),
                                _ => Error::out_of_order(&state.endpoint, &before.id, &seen.id),
                            };
                            return Some((Err(error), state));
                        }
                        match keys.into_iter().last() {
                            Some(last) => state.cursor = Some(last),
                            None => return None,
                        }
                        state.page = page.results.into_iter();
                    }
                    Err(error) => {
                        state.done = true;
                        return Some((Err(error), state));
                    }
                }
            }
        })
    }

    /// `POST /{projectKey}/customers`: creates a customer and returns it.
    pub async fn create_customer(&self, draft: &CustomerDraft) -> Result<Customer, Error> {
        let body = serde_json::to_vec(draft).map_err(|e| {
            Error::invalid_request(format!("cannot encode the customer draft: {e}"))
        })?;
        let call = Call {
            method: Method::POST,
            url: self.url(&["customers"]),
            query: Vec::new(),
            body: Some(body),
            idempotent: false,
            operation: "creating a customer".to_owned(),
            expects: "customer sign-in result".into(),
        };
        let result: CustomerSignInResult = self.execute(call).await?;
        Ok(result.customer)
    }

    /// `POST /{projectKey}/customers/{id}`: applies `actions` (all or
    /// nothing) to the customer at `version`. A stale version is a 409
    /// ([`Error::is_conflict`], [`Error::current_version`]).
    pub async fn update_customer(
        &self,
        id: &str,
        version: u64,
        actions: Vec<CustomerUpdateAction>,
    ) -> Result<Customer, Error> {
        self.update::<Customer, _>(id, version, &actions).await
    }

    /// `DELETE /{projectKey}/customers/{id}?version=N`: deletes the customer
    /// and returns it as it was.
    pub async fn delete_customer(&self, id: &str, version: u64) -> Result<Customer, Error> {
        let call = Call {
            method: Method::DELETE,
            url: self.url(&["customers", id]),
            query: vec![("version".to_owned(), version.to_string())],
            body: None,
            idempotent: false,
            operation: format!("deleting customer `{id}`"),
            expects: "customer".into(),
        };
        self.execute(call).await
    }

    async fn update_at<R, A>(
        &self,
        target: &Target,
        version: u64,
        actions: &[A],
    ) -> Result<R, Error>
    where
        R: Resource,
        A: Serialize + Sync,
    {
        let body = encode("update actions", &UpdateBody { version, actions })?;
        let call = Call {
            method: Method::POST,
            url: self.url(&[R::ENDPOINT, &target.segment]),
            query: Vec::new(),
            body: Some(body),
            idempotent: false,
            operation: format!("updating {}", target.label),
            expects: R::TYPE_ID.into(),
        };
        self.execute(call).await
    }

    /// The read, plan, post loop of [`update_with`](Self::update_with).
    async fn update_with_at<R, A, F>(
        &self,
        target: &Target,
        max_attempts: u32,
        mut plan: F,
    ) -> Result<Update<R>, Error>
    where
        R: Resource,
        A: Serialize + Send + Sync,
        F: FnMut(&R) -> Vec<A> + Send,
    {
        let max_attempts = max_attempts.max(1);
        let mut posts = 0;
        loop {
            let read = Call::read(
                self.url(&[R::ENDPOINT, &target.segment]),
                format!("fetching {}", target.label),
                R::TYPE_ID,
            );
            let current: R = self.execute(read).await?;
            let actions = plan(&current);
            if actions.is_empty() {
                return Ok(Update::Unchanged(current));
            }
            posts += 1;
            match self
                .update_at::<R, A>(target, current.version(), &actions)
                .await
            {
                Ok(updated) => return Ok(Update::Updated(updated)),
                Err(error) if error.is_conflict() && posts < max_attempts => {
                    tracing::debug!(
                        resource = target.label.as_str(),
                        version = current.version(),
                        current_version = error.current_version(),
                        posts,
                        "update conflict: reading again and re-planning"
                    );
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.project_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// Sends `call` with a token, retrying transient failures and
    /// re-authenticating once after a 401.
    async fn execute<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        let inner = &self.inner;
        inner
            .retry
            .run(&call.operation, call.idempotent, || {
                inner
                    .tokens
                    .with_token(|token| self.attempt::<T>(&call, token))
            })
            .await
            .map_err(|failed| Error::from_failed(failed, call.operation.as_str()))
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        call: &Call,
        token: AccessToken,
    ) -> Result<T, Error> {
        let timeout = self.inner.config.http.request_timeout;
        let started = Instant::now();
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(token.bearer())
            .timeout(timeout);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = request.send().await.map_err(|e| {
            self.inner.requests.record_error();
            Error::from_reqwest(e, timeout)
        })?;
        let status = response.status().as_u16();
        self.inner.requests.record(status);
        let retry_after = connect_http::retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::from_reqwest(e, timeout))?;
        tracing::debug!(
            method = %call.method,
            path = call.url.path(),
            status,
            elapsed = ?started.elapsed(),
            "commercetools request"
        );
        if (200..300).contains(&status) {
            let body: &[u8] = if body.is_empty() { b"null" } else { &body };
            serde_json::from_slice(body).map_err(|e| Error::decode(call.expects.clone(), e))
        } else {
            let response = serde_json::from_slice::<ErrorResponse>(&body).ok();
            Err(Error::status_error(status, response, retry_after))
        }
    }
}
