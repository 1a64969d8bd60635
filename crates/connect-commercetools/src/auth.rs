//! OAuth2 client credentials: the [`Grant`] commercetools tokens are
//! issued with. Caching, single-flight renewal and re-login after a 401
//! are [`connect_http::TokenCache`]'s.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use connect_core::config::Secret;
use connect_core::telemetry::HttpRequests;
use connect_http::{Grant, IssuedToken};
use serde::Deserialize;

use crate::error::{Error, ErrorResponse};

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
    #[serde(default)]
    scope: Option<String>,
}

/// `POST {auth-url}/oauth/token` with `grant_type=client_credentials`,
/// the client's id and secret as Basic auth, and its scopes. `Debug` never
/// shows the secret.
pub(crate) struct ClientCredentials {
    pub(crate) requests: Arc<HttpRequests>,
    pub(crate) http: reqwest::Client,
    pub(crate) token_url: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret,
    pub(crate) scope: String,
    pub(crate) timeout: Duration,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Grant for ClientCredentials {
    type Error = Error;

    async fn request(&self) -> Result<IssuedToken, Error> {
        self.send().await.map_err(Error::in_token_request)
    }
}

impl ClientCredentials {
    async fn send(&self) -> Result<IssuedToken, Error> {
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
        let retry_after = connect_http::retry_after(response.headers());
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
        tracing::debug!(
            scope = token.scope.as_deref().unwrap_or(&self.scope),
            expires_in = token.expires_in,
            "obtained a commercetools access token"
        );
        Ok(IssuedToken::new(
            token.access_token,
            Duration::from_secs(token.expires_in),
        ))
    }
}
