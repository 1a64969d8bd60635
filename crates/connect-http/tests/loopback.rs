#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The token cache and the retry loop over real HTTP, against a tiny
//! token endpoint and API on 127.0.0.1: one login for many concurrent
//! callers, one re-login after a 401, `Retry-After` read from a response.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use connect_http::{Failure, Grant, IssuedToken, RetryPolicy, TokenCache};
use tokio::sync::Semaphore;

/// The fake service: tokens `t-1`, `t-2`... of which only the newest is
/// accepted, and a number of 429s to answer first.
struct Service {
    logins: AtomicU32,
    accepted: AtomicU32,
    throttle: AtomicU32,
    api_calls: AtomicU32,
    /// Refuses every token, even a fresh one.
    refuse: AtomicBool,
    /// Logins wait for a permit, so concurrent callers pile up.
    gate: Semaphore,
}

impl Service {
    fn new(open: bool) -> Arc<Self> {
        Arc::new(Self {
            logins: AtomicU32::new(0),
            accepted: AtomicU32::new(0),
            throttle: AtomicU32::new(0),
            api_calls: AtomicU32::new(0),
            refuse: AtomicBool::new(false),
            gate: Semaphore::new(if open { Semaphore::MAX_PERMITS } else { 0 }),
        })
    }
}

async fn login(State(service): State<Arc<Service>>) -> String {
    let n = service.logins.fetch_add(1, Ordering::SeqCst) + 1;
    service.gate.acquire().await.unwrap().forget();
    service.accepted.store(n, Ordering::SeqCst);
    format!("t-{n}")
}

async fn api(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    service.api_calls.fetch_add(1, Ordering::SeqCst);
    let current = format!("Bearer t-{}", service.accepted.load(Ordering::SeqCst));
    if service.refuse.load(Ordering::SeqCst)
        || headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            != Some(&current)
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if service
        .throttle
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        // An HTTP date in the past: retry at once.
        let past = "Wed, 21 Oct 2015 07:28:00 GMT";
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, past)]).into_response();
    }
    "ok".into_response()
}

async fn start(service: Arc<Service>) -> String {
    let app = Router::new()
        .route("/token", post(login))
        .route("/api", get(api))
        .with_state(service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

#[derive(Debug, Clone)]
enum ApiError {
    Status(u16, Option<Duration>),
    Transport(String),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status, _) => write!(f, "HTTP {status}"),
            Self::Transport(message) => f.write_str(message),
        }
    }
}

impl Failure for ApiError {
    fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Status(401, _))
    }
    fn is_transient(&self, _idempotent: bool) -> bool {
        matches!(self, Self::Status(429 | 503, _))
    }
    fn retry_hint(&self) -> Option<Duration> {
        match self {
            Self::Status(_, hint) => *hint,
            Self::Transport(_) => None,
        }
    }
}

struct Login {
    http: reqwest::Client,
    url: String,
}

impl Grant for Login {
    type Error = ApiError;

    async fn request(&self) -> Result<IssuedToken, ApiError> {
        let response = self
            .http
            .post(format!("{}/token", self.url))
            .send()
            .await
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        let token = response
            .text()
            .await
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        Ok(IssuedToken::new(token, Duration::from_secs(3600)))
    }
}

struct Client {
    http: reqwest::Client,
    url: String,
    tokens: TokenCache<Login>,
    retry: RetryPolicy,
}

impl Client {
    fn new(url: String) -> Self {
        let http = connect_http::client_builder(Duration::from_secs(5))
            .build()
            .unwrap();
        Self {
            tokens: TokenCache::new(Login {
                http: http.clone(),
                url: url.clone(),
            }),
            http,
            url,
            retry: RetryPolicy::new("loopback", 2, Duration::from_secs(10), |_| Duration::ZERO),
        }
    }

    async fn call(&self) -> Result<String, ApiError> {
        self.retry
            .run("calling the API", true, || {
                self.tokens.with_token(|token| async move {
                    let response = self
                        .http
                        .get(format!("{}/api", self.url))
                        .bearer_auth(token.bearer())
                        .send()
                        .await
                        .map_err(|e| ApiError::Transport(e.to_string()))?;
                    let status = response.status().as_u16();
                    if status != 200 {
                        let hint = connect_http::retry_after(response.headers());
                        return Err(ApiError::Status(status, hint));
                    }
                    response
                        .text()
                        .await
                        .map_err(|e| ApiError::Transport(e.to_string()))
                })
            })
            .await
            .map_err(|failed| failed.error)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_callers_cause_one_login() {
    let service = Service::new(false);
    let client = Arc::new(Client::new(start(Arc::clone(&service)).await));
    let calls: Vec<_> = (0..30)
        .map(|_| {
            let client = Arc::clone(&client);
            tokio::spawn(async move { client.call().await })
        })
        .collect();
    service.gate.add_permits(1);
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), "ok");
    }
    assert_eq!(service.logins.load(Ordering::SeqCst), 1);
    assert_eq!(service.api_calls.load(Ordering::SeqCst), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_causes_one_relogin_for_all_its_callers() {
    let service = Service::new(true);
    let client = Arc::new(Client::new(start(Arc::clone(&service)).await));
    assert_eq!(client.call().await.unwrap(), "ok");
    // The server forgets every token it issued.
    service.accepted.store(0, Ordering::SeqCst);
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let client = Arc::clone(&client);
            tokio::spawn(async move { client.call().await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), "ok");
    }
    assert_eq!(service.logins.load(Ordering::SeqCst), 2, "one re-login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_401_with_a_fresh_token_is_returned() {
    let service = Service::new(true);
    service.refuse.store(true, Ordering::SeqCst);
    let client = &Client::new(start(Arc::clone(&service)).await);
    let failed = client
        .retry
        .run("calling the API", true, || {
            client.tokens.with_token(|token| async move {
                let response = client
                    .http
                    .get(format!("{}/api", client.url))
                    .bearer_auth(token.bearer())
                    .send()
                    .await
                    .map_err(|e| ApiError::Transport(e.to_string()))?;
                Err::<(), _>(ApiError::Status(response.status().as_u16(), None))
            })
        })
        .await
        .unwrap_err();
    assert!(failed.reauthenticated);
    assert_eq!(failed.attempts, 2);
    assert!(failed.error.is_unauthorized());
    assert_eq!(
        service.logins.load(Ordering::SeqCst),
        2,
        "one re-login only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_date_in_the_past_is_retried_at_once() {
    let service = Service::new(true);
    service.throttle.store(2, Ordering::SeqCst);
    let client = Client::new(start(Arc::clone(&service)).await);
    assert_eq!(client.call().await.unwrap(), "ok");
    assert_eq!(service.api_calls.load(Ordering::SeqCst), 3);
}
