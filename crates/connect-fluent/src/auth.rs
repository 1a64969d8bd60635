//! Fluent's OAuth grant: a password login, or the refresh token when
//! Fluent issued one.
//!
//! Caching, single-flight renewal and re-login after a 401 are
//! [`connect_http::TokenCache`]'s: the token is renewed
//! `min(5 min, 10% of its lifetime)` before it expires, concurrent callers
//! share one renewal and its failure. A renewal uses the refresh token when
//! there is one (single use; a failed refresh falls back to a fresh login),
//! else logs in with the password.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use connect_core::config::Secret;
use connect_core::telemetry::HttpRequests;
use connect_http::{Grant, IssuedToken};
use serde::Deserialize;

use crate::error::Error;

/// Lifetime assumed when Fluent sends no `expires_in` (it always does).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// The credentials a [`PasswordGrant`] logs in with.
pub(crate) struct Credentials {
    pub(crate) account: String,
    pub(crate) retailer_id: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret,
    pub(crate) username: String,
    pub(crate) password: Secret,
}

/// `POST {base-url}/oauth/token` with the password grant, or the refresh
/// grant when a refresh token is kept. `Debug` never shows a secret.
pub(crate) struct PasswordGrant {
    requests: Arc<HttpRequests>,
    http: reqwest::Client,
    timeout: Duration,
    token_url: url::Url,
    credentials: Credentials,
    /// The single-use refresh token of the last login, if Fluent issued one.
    refresh_token: Mutex<Option<Secret>>,
}

impl fmt::Debug for PasswordGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordGrant")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.credentials.client_id)
            .field("username", &self.credentials.username)
            .finish_non_exhaustive()
    }
}

enum Kind<'a> {
    Password,
    Refresh(&'a Secret),
}

impl Kind<'_> {
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

impl Grant for PasswordGrant {
    type Error = Error;

    async fn request(&self) -> Result<IssuedToken, Error> {
        let refresh_token = self.lock_refresh_token().take();
        if let Some(refresh_token) = refresh_token {
            match self.send(Kind::Refresh(&refresh_token)).await {
                Ok(token) => return Ok(token),
                Err(error) => tracing::info!(
                    %error,
                    "refreshing the Fluent token failed; logging in again with the password"
                ),
            }
        }
        self.send(Kind::Password).await
    }
}

impl PasswordGrant {
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
            credentials,
            refresh_token: Mutex::new(None),
        }
    }

    pub(crate) fn username(&self) -> &str {
        &self.credentials.username
    }

    async fn send(&self, kind: Kind<'_>) -> Result<IssuedToken, Error> {
        let credentials = &self.credentials;
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &credentials.client_id),
            ("client_secret", credentials.client_secret.expose()),
            ("grant_type", kind.name()),
        ];
        match &kind {
            Kind::Password => {
                form.push(("username", &credentials.username));
                form.push(("password", credentials.password.expose()));
                form.push(("scope", "api"));
            }
            Kind::Refresh(token) => form.push(("refresh_token", token.expose())),
        }
        tracing::debug!(grant = kind.name(), username = %credentials.username, "requesting a Fluent token");
        let response = self
            .http
            .post(self.token_url.clone())
            .timeout(self.timeout)
            .header("fluent.account", &credentials.account)
            .form(&form)
            .send()
            .await
            .map_err(|error| {
                self.requests.record_error();
                Error::transport(error)
            })?;
        let status = response.status().as_u16();
        self.requests.record(status);
        let retry_after = connect_http::retry_after(response.headers());
        let body = response.bytes().await.map_err(Error::transport)?;
        if !(200..300).contains(&status) {
            return Err(self.token_error(status, retry_after, &body));
        }
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
        let refresh_token = parsed.refresh_token.map(Secret::new);
        tracing::info!(
            grant = kind.name(),
            username = %credentials.username,
            expires_in_s = lifetime.as_secs(),
            refresh_token = refresh_token.is_some(),
            "obtained a Fluent access token"
        );
        *self.lock_refresh_token() = refresh_token;
        Ok(IssuedToken::new(parsed.access_token, lifetime))
    }

    fn token_error(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> Error {
        match status {
            400 | 401 => {
                let oauth: Option<OAuthError> = serde_json::from_slice(body).ok();
                let (error, description) =
                    oauth.map_or((None, None), |o| (o.error, o.error_description));
                Error::Auth {
                    status,
                    username: self.credentials.username.clone(),
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
        if retailer != self.credentials.retailer_id {
            tracing::warn!(
                token_retailer = %retailer,
                configured_retailer = %self.credentials.retailer_id,
                "the Fluent user belongs to another retailer than fluent.retailer-id; writes may be rejected"
            );
        }
    }

    fn lock_refresh_token(&self) -> std::sync::MutexGuard<'_, Option<Secret>> {
        self.refresh_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn debug_never_shows_a_secret() {
        let grant = PasswordGrant::new(
            Arc::new(HttpRequests::new()),
            reqwest::Client::new(),
            url::Url::parse("http://127.0.0.1:9/oauth/token").unwrap(),
            Duration::from_secs(1),
            Credentials {
                account: "ACME".into(),
                retailer_id: "1".into(),
                client_id: "ACME".into(),
                client_secret: Secret::new("client-s3cret"),
                username: "api".into(),
                password: Secret::new("pa55word"),
            },
        );
        *grant.lock_refresh_token() = Some(Secret::new("refresh-s3cret"));
        let text = format!("{grant:?}");
        for secret in ["client-s3cret", "pa55word", "refresh-s3cret"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("api"), "{text}");
    }
}
