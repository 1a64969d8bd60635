//! HTTP plumbing shared by the connect-sdk API clients
//! (`connect-commercetools`, `connect-fluent`): one way to cache an OAuth
//! token, retry a call, read `Retry-After` and re-authenticate after a 401.
//!
//! | module | what |
//! |---|---|
//! | [`token`] | [`TokenCache`]: a single-flight OAuth token cache, generic over the [`Grant`] |
//! | [`retry`] | [`RetryPolicy`]: the one retry loop (backoff, `Retry-After`, one re-login on 401); the [`Failure`] questions it asks an error |
//! | [`retry_after`](mod@retry_after) | [`retry_after()`]: the `Retry-After` header, delta-seconds or HTTP date |
//! | [`settings`] | [`HttpSettings`]: `request-timeout`, `max-retries`, `retry-initial-backoff` with their defaults, serde and the [`RetryPolicy`] they make |
//! | this page | the defaults of `request-timeout`, `max-retries`, `retry-initial-backoff`; [`client_builder`] |
//!
//! The crate knows nothing of the connector runtime: each client keeps its
//! own error type and classification, and answers the loop's questions
//! through [`Failure`].
//!
//! # Example
//!
//! A grant, a cache, and a call that is retried and re-authenticated:
//!
//! ```
//! use std::fmt;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use connect_http::{Failure, Grant, IssuedToken, RetryPolicy, TokenCache};
//!
//! #[derive(Debug, Clone)]
//! enum ApiError { Refused, Busy }
//! impl fmt::Display for ApiError {
//!     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { write!(f, "{self:?}") }
//! }
//! impl Failure for ApiError {
//!     fn is_unauthorized(&self) -> bool { matches!(self, Self::Refused) }
//!     fn is_transient(&self, _idempotent: bool) -> bool { matches!(self, Self::Busy) }
//!     fn retry_hint(&self) -> Option<Duration> { None }
//! }
//!
//! struct Login;
//! impl Grant for Login {
//!     type Error = ApiError;
//!     async fn request(&self) -> Result<IssuedToken, ApiError> {
//!         Ok(IssuedToken::new("t0ken", Duration::from_secs(3600)))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let tokens = TokenCache::new(Login);
//! let policy = RetryPolicy::new("example", 3, Duration::from_secs(10), |_| Duration::ZERO);
//! let sent = &AtomicU32::new(0);
//! let answer = policy
//!     .run("reading", true, || {
//!         tokens.with_token(|token| async move {
//!             assert_eq!(token.bearer(), "t0ken");
//!             match sent.fetch_add(1, Ordering::SeqCst) {
//!                 0 => Err(ApiError::Refused), // a new token, then again
//!                 1 => Err(ApiError::Busy),    // retried after the backoff
//!                 _ => Ok(42),
//!             }
//!         })
//!     })
//!     .await;
//! assert_eq!(answer.ok(), Some(42));
//! # });
//! ```

use std::time::Duration;

pub mod retry;
pub mod retry_after;
pub mod settings;
pub mod token;

pub use retry::{Failed, Failure, RetryPolicy};
pub use retry_after::{parse_retry_after, retry_after};
pub use settings::{HttpSettings, WithHttpSettings, fields};
pub use token::{AccessToken, Grant, IssuedToken, TokenCache, refresh_margin};

/// Default `request-timeout`: the longest one HTTP request may take.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `max-retries`: retries of a transient failure after the first
/// attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Default `retry-initial-backoff`: the delay before the first retry.
pub const DEFAULT_RETRY_INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// The longest time spent opening a connection (the request timeout
/// applies when it is shorter).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A `reqwest` client builder with what every connect-sdk client sets: the
/// connect timeout (at most `request_timeout`) and the `User-Agent`. The
/// request timeout itself is set per request.
pub fn client_builder(request_timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(request_timeout))
        .user_agent(concat!("connect-sdk/", env!("CARGO_PKG_VERSION")))
}
