//! [`FluentClient`]: authenticated, retried GraphQL calls to Fluent OMS.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use connect_core::telemetry::HttpRequests;
use connect_http::{AccessToken, RetryPolicy, TokenCache};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::{Credentials, PasswordGrant};
use crate::config::FluentConfig;
use crate::dry_run::{self, DryRun, MutationInput};
use crate::error::Error;
use crate::graphql::{self, Exchange, RequestBody};

/// The longest single backoff between two attempts of one call.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A `Retry-After` longer than this is not waited for inside the call: the
/// error is returned (carrying the delay) so the runtime reschedules the
/// message instead of holding a worker.
const MAX_INLINE_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The service name in the retry loop's logs.
const SERVICE: &str = "Fluent";

/// A client for one Fluent account. Cloning is cheap: clones share the
/// connection pool and the OAuth token.
///
/// Every call logs in when needed (see the [crate docs](crate) for the token
/// life cycle), retries transient failures (`fluent.max-retries`, exponential
/// backoff with jitter, `Retry-After` honoured) and maps failures to
/// [`Error`], which says whether retrying the message can help.
///
/// ```no_run
/// use connect_fluent::{FluentClient, FluentConfig};
///
/// # async fn run() -> Result<(), connect_fluent::Error> {
/// let config = FluentConfig::new(
///     "https://acme.sandbox.api.fluentretail.com", "ACME", "1",
///     "ACME", "client-secret", "acme_api", "password",
/// );
/// let fluent = FluentClient::new(config)?;
/// if let Some(customer) = fluent.customer_by_ref("ct-42").await? {
///     println!("{:?}", customer.primary_email);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FluentClient {
    inner: Arc<Inner>,
    dry_run: Option<Arc<DryRun>>,
}

struct Inner {
    http: reqwest::Client,
    request_timeout: Duration,
    graphql_url: url::Url,
    base_url: String,
    account: String,
    retailer_id: String,
    tokens: TokenCache<PasswordGrant>,
    retry: RetryPolicy,
    requests: Arc<HttpRequests>,
}

impl fmt::Debug for FluentClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FluentClient")
            .field("base_url", &self.inner.base_url)
            .field("account", &self.inner.account)
            .field("retailer_id", &self.inner.retailer_id)
            .field("username", &self.inner.tokens.grant().username())
            .field("dry_run", &self.dry_run.is_some())
            .finish_non_exhaustive()
    }
}

impl FluentClient {
    /// A client for `config`. Nothing is sent until the first call (use
    /// [`authenticate`](Self::authenticate) to check the credentials early).
    pub fn new(config: FluentConfig) -> Result<Self, Error> {
        let http = connect_http::client_builder(config.http.request_timeout)
            .timeout(config.http.request_timeout)
            .build()
            .map_err(|error| Error::Config(format!("cannot build the HTTP client: {error}")))?;
        Self::with_http_client(config, http)
    }

    /// A client that sends its requests through `http` (to share a
    /// connection pool or set proxies). `fluent.request-timeout` is applied
    /// per request on top of what `http` was built with.
    pub fn with_http_client(config: FluentConfig, http: reqwest::Client) -> Result<Self, Error> {
        let base = config.validate().map_err(Error::Config)?;
        let join = |path: &str| {
            base.join(path)
                .map_err(|error| Error::Config(format!("cannot build the {path} URL: {error}")))
        };
        let graphql_url = join("graphql")?;
        let token_url = join("oauth/token")?;
        let retry = config
            .http
            .retry_policy(SERVICE, MAX_BACKOFF, MAX_INLINE_RETRY_AFTER);
        let requests = Arc::new(HttpRequests::new());
        let tokens = TokenCache::new(PasswordGrant::new(
            Arc::clone(&requests),
            http.clone(),
            token_url,
            config.http.request_timeout,
            Credentials {
                account: config.account.clone(),
                retailer_id: config.retailer_id.clone(),
                client_id: config.client_id,
                client_secret: config.client_secret,
                username: config.username,
                password: config.password,
            },
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                request_timeout: config.http.request_timeout,
                graphql_url,
                base_url: config.base_url,
                account: config.account,
                retailer_id: config.retailer_id,
                tokens,
                retry,
                requests,
            }),
            dry_run: None,
        })
    }

    /// A clone of this client for a dry run: reads are sent as usual, but
    /// no mutation is: each one is refused with [`Error::DryRun`], and
    /// [`upsert`](crate::upsert::upsert) records in `plan` what it would
    /// have written instead (see [`dry_run`](crate::dry_run)). The clone
    /// shares the connection pool and the token.
    #[must_use]
    pub fn with_dry_run(&self, plan: Arc<DryRun>) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            dry_run: Some(plan),
        }
    }

    /// The plan of a dry-run client ([`with_dry_run`](Self::with_dry_run)),
    /// `None` for a client that writes.
    pub fn dry_run(&self) -> Option<&Arc<DryRun>> {
        self.dry_run.as_ref()
    }

    /// Every HTTP request this client (and its clones) sent, GraphQL and
    /// token endpoint alike, by response status; requests that got no
    /// response are counted as errors.
    pub fn http_requests(&self) -> Arc<HttpRequests> {
        Arc::clone(&self.inner.requests)
    }

    /// `fluent.retailer-id`: the retailer customers are created under.
    pub fn retailer_id(&self) -> &str {
        &self.inner.retailer_id
    }

    /// `fluent.account`.
    pub fn account(&self) -> &str {
        &self.inner.account
    }

    /// `fluent.base-url`.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// Logs in now (unless a valid token is cached), to fail fast on wrong
    /// credentials at startup.
    pub async fn authenticate(&self) -> Result<(), Error> {
        let inner = &self.inner;
        inner
            .retry
            .run("login", true, || inner.tokens.token())
            .await
            .map(drop)
            .map_err(|failed| failed.error)
    }

    /// Runs any GraphQL query or mutation and deserializes its `data`.
    ///
    /// `errors[]` in the response become [`Error::GraphQl`], even when some
    /// `data` came back. Use this for every entity the typed helpers do not
    /// cover:
    ///
    /// ```no_run
    /// # async fn run(fluent: connect_fluent::FluentClient) -> Result<(), connect_fluent::Error> {
    /// use serde::Deserialize;
    /// use serde_json::json;
    ///
    /// #[derive(Deserialize)]
    /// struct Data { customer: Option<Customer> }
    /// #[derive(Deserialize)]
    /// #[serde(rename_all = "camelCase")]
    /// struct Customer { id: String, primary_email: Option<String> }
    ///
    /// let data: Data = fluent
    ///     .graphql(
    ///         "query One($ref: String!) { customer(ref: $ref) { id primaryEmail } }",
    ///         &json!({ "ref": "ct-42" }),
    ///     )
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn graphql<V, T>(&self, query: &str, variables: &V) -> Result<T, Error>
    where
        V: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let data = self.execute(None, query, variables).await?;
        serde_json::from_value(data).map_err(|error| Error::Decode {
            message: error.to_string(),
        })
    }

    /// Like [`graphql`](Self::graphql), returning `data` as JSON.
    pub async fn graphql_value<V>(
        &self,
        query: &str,
        variables: &V,
    ) -> Result<serde_json::Value, Error>
    where
        V: Serialize + ?Sized,
    {
        self.execute(None, query, variables).await
    }

    /// Sends one document, retrying transient failures; returns `data`.
    pub(crate) async fn execute<V>(
        &self,
        operation_name: Option<&str>,
        query: &str,
        variables: &V,
    ) -> Result<serde_json::Value, Error>
    where
        V: Serialize + ?Sized,
    {
        let body = serde_json::to_vec(&RequestBody {
            query,
            operation_name,
            variables,
        })
        .map_err(|error| Error::Decode {
            message: format!("the variables cannot be serialized as JSON: {error}"),
        })?;
        let label = operation_name.map_or_else(|| graphql::operation_label(query), str::to_owned);
        if let Some(plan) = &self.dry_run
            && dry_run::is_mutation(query)
        {
            // Never sent: the input goes back to the upsert that planned it.
            let label = graphql::operation_label(query);
            if !dry_run::planning() {
                plan.refuse(&label);
            }
            let input = serde_json::to_value(variables).map_err(|error| Error::Decode {
                message: format!("the variables cannot be serialized as JSON: {error}"),
            })?;
            tracing::debug!(operation = %label, "dry run: mutation not sent to Fluent");
            return Err(Error::DryRun {
                operation: label,
                input: MutationInput(Arc::new(dry_run::mutation_input(&input))),
            });
        }
        let inner = &self.inner;
        let data = inner
            .retry
            .run(&label, true, || {
                inner.tokens.with_token(|token| self.send(token, &body))
            })
            .await
            .map_err(|failed| failed.error)?;
        if self.dry_run.is_some() {
            dry_run::capture_read(&data);
        }
        Ok(data)
    }

    /// One request with `token`. A 401 is [`Error::Unauthorized`]: the
    /// retry loop renews the token and sends once more; a second one is
    /// returned.
    async fn send(&self, token: AccessToken, body: &[u8]) -> Result<serde_json::Value, Error> {
        let response = self
            .inner
            .http
            .post(self.inner.graphql_url.clone())
            .timeout(self.inner.request_timeout)
            .bearer_auth(token.bearer())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .body(body.to_vec())
            .send()
            .await
            .map_err(|error| {
                self.inner.requests.record_error();
                Error::transport(error)
            })?;
        let status = response.status().as_u16();
        self.inner.requests.record(status);
        let retry_after = connect_http::retry_after(response.headers());
        let bytes = response.bytes().await.map_err(Error::transport)?;
        match graphql::interpret(status, retry_after, &bytes, body.len())? {
            Exchange::Data(data) => Ok(data),
            Exchange::Unauthorized => Err(Error::Unauthorized {
                username: self.inner.tokens.grant().username().to_owned(),
            }),
        }
    }
}
