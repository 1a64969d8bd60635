//! OAuth2 client credentials with a shared, single-flight token cache.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use connect_core::config::Secret;
use connect_core::telemetry::HttpRequests;
use serde::Deserialize;
use tokio::time::Instant;

use crate::error::Error;
use crate::model::ErrorResponse;
use crate::retry::RetryPolicy;

/// The longest safety margin before expiry at which a token is refreshed.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A cached access token. The value is a [`Secret`]: never printed.
pub(crate) struct AccessToken {
    value: Secret,
    refresh_at: Instant,
    serial: u64,
}

impl AccessToken {
    pub(crate) fn bearer(&self) -> &str {
        self.value.expose()
    }

    fn is_fresh(&self, now: Instant) -> bool {
        now < self.refresh_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &self.value)
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
    #[serde(default)]
    scope: Option<String>,
}

/// The refresh margin for a token living `lifetime`: 10% of it, at most 5
/// minutes.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(MAX_REFRESH_MARGIN)
}

/// Issues and caches tokens. Concurrent callers share one refresh; a failed
/// refresh is reported to everyone who waited for it (no stampede of token
/// requests with a bad secret).
pub(crate) struct TokenProvider {
    requests: Arc<HttpRequests>,
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: Secret,
    scope: String,
    retry: RetryPolicy,
    timeout: Duration,
    cached: RwLock<Option<Arc<AccessToken>>>,
    last_failure: Mutex<Option<Error>>,
    refreshes: AtomicU64,
    refresh: tokio::sync::Mutex<()>,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    pub(crate) fn new(
        http: reqwest::Client,
        auth_url: &str,
        client_id: String,
        client_secret: Secret,
        scope: String,
        retry: RetryPolicy,
        timeout: Duration,
    ) -> Self {
        Self {
            requests: Arc::new(HttpRequests::new()),
            http,
            token_url: format!("{}/oauth/token", auth_url.trim_end_matches('/')),
            client_id,
            client_secret,
            scope,
            retry,
            timeout,
            cached: RwLock::new(None),
            last_failure: Mutex::new(None),
            refreshes: AtomicU64::new(0),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts the token requests in `requests` (the client's counts).
    pub(crate) fn counting(mut self, requests: Arc<HttpRequests>) -> Self {
        self.requests = requests;
        self
    }

    fn fresh(&self) -> Option<Arc<AccessToken>> {
        let cached = self.cached.read().unwrap_or_else(PoisonError::into_inner);
        cached
            .as_ref()
            .filter(|t| t.is_fresh(Instant::now()))
            .map(Arc::clone)
    }

    /// A valid token: the cached one, or a new one from one shared refresh.
    pub(crate) async fn token(&self) -> Result<Arc<AccessToken>, Error> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let seen = self.refreshes.load(Ordering::Acquire);
        let _refreshing = self.refresh.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        if self.refreshes.load(Ordering::Acquire) != seen {
            // A refresh finished while this caller waited and it produced no
            // token: report its failure instead of asking again.
            let failure = self
                .last_failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let Some(error) = failure {
                return Err(error);
            }
        }
        let result = self.fetch().await;
        *self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = result.as_ref().err().cloned();
        if let Ok(token) = &result {
            *self.cached.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(token));
        }
        self.refreshes.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// Forgets `token` (commercetools refused it), unless another caller
    /// already replaced it.
    pub(crate) fn invalidate(&self, token: &AccessToken) {
        let mut cached = self.cached.write().unwrap_or_else(PoisonError::into_inner);
        if cached.as_ref().is_some_and(|c| c.serial == token.serial) {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<Arc<AccessToken>, Error> {
        let mut retry = 0;
        loop {
            let error = match self.fetch_once().await {
                Ok(token) => return Ok(token),
                Err(error) => error,
            };
            let delay = if error.is_transient(true) {
                self.retry.delay(retry, error.retry_after())
            } else {
                None
            };
            match delay {
                Some(delay) => {
                    retry += 1;
                    tracing::debug!(%error, ?delay, retry, "token request failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                None => {
                    return Err(error
                        .with_operation("requesting an access token")
                        .with_attempts(retry + 1));
                }
            }
        }
    }

    async fn fetch_once(&self) -> Result<Arc<AccessToken>, Error> {
        let started = Instant::now();
        let response = self
            .http
            .post(&self.token_url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .query(&[
                ("grant_type", "client_credentials"),
                ("scope", self.scope.as_str()),
            ])
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| {
                self.requests.record_error();
                Error::from_reqwest(e, self.timeout)
            })?;
        let status = response.status().as_u16();
        self.requests.record(status);
        let retry_after = crate::client::retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::from_reqwest(e, self.timeout))?;
        if !(200..300).contains(&status) {
            let parsed = serde_json::from_slice::<ErrorResponse>(&body).ok();
            tracing::debug!(status, "commercetools refused the token request");
            return Err(Error::auth(status, parsed, self.scope.clone(), retry_after));
        }
        let token: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| Error::decode("token response", e))?;
        let lifetime = Duration::from_secs(token.expires_in);
        let serial = self.refreshes.load(Ordering::Acquire) + 1;
        tracing::debug!(
            scope = token.scope.as_deref().unwrap_or(&self.scope),
            expires_in = token.expires_in,
            elapsed = ?started.elapsed(),
            "obtained a commercetools access token"
        );
        Ok(Arc::new(AccessToken {
            value: Secret::new(token.access_token),
            refresh_at: started + lifetime.saturating_sub(refresh_margin(lifetime)),
            serial,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_margin_is_ten_percent_capped_at_five_minutes() {
        assert_eq!(
            refresh_margin(Duration::from_secs(48 * 3600)),
            Duration::from_secs(300)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(1)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = AccessToken {
            value: Secret::new("very-secret-token"),
            refresh_at: Instant::now(),
            serial: 1,
        };
        assert!(!format!("{token:?}").contains("very-secret-token"));
    }
}
