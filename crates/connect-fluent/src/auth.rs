//! The OAuth token cache: password grant, refresh grant, single-flight.
//!
//! One token is shared by every clone of a [`FluentClient`](crate::FluentClient).
//! It is renewed `min(5 min, 10% of its lifetime)` before it expires: with
//! the refresh token when Fluent issued one (single use; a failed refresh
//! falls back to a fresh login), else with a fresh login. Concurrent callers
//! that find no valid token wait for one renewal and share its result, its
//! failure included, so a wrong password costs one request, not one per
//! caller.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use connect_core::config::Secret;
use connect_core::telemetry::HttpRequests;
use reqwest::header::HeaderMap;
use serde::Deserialize;

use crate::error::Error;

/// The renewal margin never exceeds this.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Lifetime assumed when Fluent sends no `expires_in` (it always does).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// A bearer token. `Debug` never shows the value.
#[derive(Clone)]
pub(crate) struct AccessToken {
    value: Arc<str>,
    generation: u64,
    refresh_at: Instant,
}

impl AccessToken {
    pub(crate) fn value(&self) -> &str {
        &self.value
    }

    fn is_fresh(&self, now: Instant) -> bool {
        now < self.refresh_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"***")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// When to renew a token of `lifetime` received at `received`.
pub(crate) fn refresh_at(received: Instant, lifetime: Duration) -> Instant {
    let margin = MAX_REFRESH_MARGIN.min(lifetime / 10);
    received + lifetime.saturating_sub(margin)
}

#[derive(Default)]
struct TokenState {
    access: Option<AccessToken>,
    refresh_token: Option<Secret>,
    generations: u64,
}

/// The credentials and the cached token of one client.
pub(crate) struct Auth {
    requests: Arc<HttpRequests>,
    http: reqwest::Client,
    timeout: Duration,
    token_url: url::Url,
    account: String,
    retailer_id: String,
    client_id: String,
    client_secret: Secret,
    username: String,
    password: Secret,
    state: RwLock<TokenState>,
    /// Held while a token is being obtained (single-flight).
    renewing: tokio::sync::Mutex<()>,
    /// Renewals finished (successfully or not).
    renewals: AtomicU64,
    /// The error of the last failed renewal, shared with its waiters.
    last_error: Mutex<Option<Error>>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The credentials an [`Auth`] logs in with.
pub(crate) struct Credentials {
    pub(crate) account: String,
    pub(crate) retailer_id: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret,
    pub(crate) username: String,
    pub(crate) password: Secret,
}

enum Grant<'a> {
    Password,
    Refresh(&'a Secret),
}

impl Grant<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Refresh(_) => "refresh_token",
        }
    }
}

/// The token endpoint's answer. Not `Debug`: it holds secrets.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<f64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default, rename = "Retailer_id")]
    retailer_id: Option<serde_json::Value>,
}

/// An OAuth error body: `{error, error_description}`.
#[derive(Deserialize)]
struct OAuthError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl Auth {
    pub(crate) fn new(
        requests: Arc<HttpRequests>,
        http: reqwest::Client,
        token_url: url::Url,
        timeout: Duration,
        credentials: Credentials,
    ) -> Self {
        Self {
            requests,
            http,
            timeout,
            token_url,
            account: credentials.account,
            retailer_id: credentials.retailer_id,
            client_id: credentials.client_id,
            client_secret: credentials.client_secret,
            username: credentials.username,
            password: credentials.password,
            state: RwLock::new(TokenState::default()),
            renewing: tokio::sync::Mutex::new(()),
            renewals: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    pub(crate) fn username(&self) -> &str {
        &self.username
    }

    /// A token that is not due for renewal, obtaining one if needed.
    pub(crate) async fn token(&self) -> Result<AccessToken, Error> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let seen = self.renewals.load(Ordering::Acquire);
        let _renewing = self.renewing.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        if self.renewals.load(Ordering::Acquire) != seen {
            // A renewal finished while we waited and left no usable token:
            // share its failure instead of hammering the token endpoint.
            if let Some(error) = self.lock_error().clone() {
                return Err(error);
            }
        }
        let result = self.renew().await;
        *self.lock_error() = result.as_ref().err().cloned();
        self.renewals.fetch_add(1, Ordering::Release);
        result
    }

    /// Forgets `token` after Fluent answered 401 with it, unless a newer
    /// token replaced it already (then nothing happens, so N callers that
    /// saw the same 401 cause one renewal).
    pub(crate) fn invalidate(&self, token: &AccessToken) {
        let mut state = self.write();
        if state
            .access
            .as_ref()
            .is_some_and(|current| current.generation == token.generation)
        {
            tracing::debug!(
                generation = token.generation,
                "Fluent rejected the access token; it will be renewed"
            );
            state.access = None;
        }
    }

    fn fresh(&self) -> Option<AccessToken> {
        let now = Instant::now();
        self.read()
            .access
            .as_ref()
            .filter(|token| token.is_fresh(now))
            .cloned()
    }

    async fn renew(&self) -> Result<AccessToken, Error> {
        let refresh_token = self.write().refresh_token.take();
        if let Some(refresh_token) = refresh_token {
            match self.request(Grant::Refresh(&refresh_token)).await {
                Ok(token) => return Ok(token),
                Err(error) => tracing::info!(
                    %error,
                    "refreshing the Fluent token failed; logging in again with the password"
                ),
            }
        }
        self.request(Grant::Password).await
    }

    async fn request(&self, grant: Grant<'_>) -> Result<AccessToken, Error> {
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &self.client_id),
            ("client_secret", self.client_secret.expose()),
            ("grant_type", grant.name()),
        ];
        match &grant {
            Grant::Password => {
                form.push(("username", &self.username));
                form.push(("password", self.password.expose()));
                form.push(("scope", "api"));
            }
            Grant::Refresh(token) => form.push(("refresh_token", token.expose())),
        }
        tracing::debug!(grant = grant.name(), username = %self.username, "requesting a Fluent token");
        let response = self
            .http
            .post(self.token_url.clone())
            .timeout(self.timeout)
            .header("fluent.account", &self.account)
            .form(&form)
            .send()
            .await
            .map_err(|error| {
                self.requests.record_error();
                Error::transport(error)
            })?;
        let status = response.status().as_u16();
        self.requests.record(status);
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await.map_err(Error::transport)?;
        if !(200..300).contains(&status) {
            return Err(self.token_error(status, retry_after, &body));
        }
        let received = Instant::now();
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|_| Error::InvalidResponse {
                status,
                message: "the token response is not JSON with an `access_token`".to_owned(),
            })?;
        let lifetime = parsed
            .expires_in
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .unwrap_or(DEFAULT_LIFETIME);
        self.check_retailer(parsed.retailer_id.as_ref());
        let mut state = self.write();
        state.generations += 1;
        let token = AccessToken {
            value: Arc::from(parsed.access_token),
            generation: state.generations,
            refresh_at: refresh_at(received, lifetime),
        };
        state.access = Some(token.clone());
        state.refresh_token = parsed.refresh_token.map(Secret::new);
        tracing::info!(
            grant = grant.name(),
            username = %self.username,
            expires_in_s = lifetime.as_secs(),
            refresh_token = state.refresh_token.is_some(),
            "obtained a Fluent access token"
        );
        Ok(token)
    }

    fn token_error(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> Error {
        match status {
            400 | 401 => {
                let oauth: Option<OAuthError> = serde_json::from_slice(body).ok();
                let (error, description) =
                    oauth.map_or((None, None), |o| (o.error, o.error_description));
                Error::Auth {
                    status,
                    username: self.username.clone(),
                    error,
                    description,
                }
            }
            429 => Error::RateLimited { retry_after },
            // The body of the token endpoint is not echoed: keep credentials
            // out of errors even if a proxy reflects the request.
            _ => Error::Status {
                status,
                body: "from the token endpoint".to_owned(),
                retry_after,
            },
        }
    }

    fn check_retailer(&self, retailer: Option<&serde_json::Value>) {
        let retailer = match retailer {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return,
        };
        if retailer != self.retailer_id {
            tracing::warn!(
                token_retailer = %retailer,
                configured_retailer = %self.retailer_id,
                "the Fluent user belongs to another retailer than fluent.retailer-id; writes may be rejected"
            );
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, TokenState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, TokenState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_error(&self) -> std::sync::MutexGuard<'_, Option<Error>> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// `Retry-After` in seconds (`HTTP-date` values are ignored: the backoff
/// applies then).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn renewal_margin_is_ten_percent_capped_at_five_minutes() {
        let t0 = Instant::now();
        assert_eq!(
            refresh_at(t0, Duration::from_secs(86_386)),
            t0 + Duration::from_secs(86_386 - 300)
        );
        assert_eq!(
            refresh_at(t0, Duration::from_secs(100)),
            t0 + Duration::from_secs(90)
        );
        assert_eq!(refresh_at(t0, Duration::ZERO), t0);
    }

    #[test]
    fn retry_after_parses_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn token_debug_hides_the_value() {
        let token = AccessToken {
            value: Arc::from("abc-secret"),
            generation: 1,
            refresh_at: Instant::now(),
        };
        assert!(!format!("{token:?}").contains("abc-secret"));
    }
}
