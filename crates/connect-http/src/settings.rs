//! [`HttpSettings`]: the timeout and retry settings every connect-sdk API
//! client reads from its configuration block (`request-timeout`,
//! `max-retries`, `retry-initial-backoff`), with one set of defaults, one
//! validation and one way to turn them into a [`RetryPolicy`].

use std::time::Duration;

use connect_core::runtime::Backoff;
use serde::Deserialize;

use crate::{
    DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY_INITIAL_BACKOFF, RetryPolicy,
};

/// How patient a client is: the time limit of one request, how many times
/// a transient failure is retried, and the first backoff.
///
/// As its own block (keys `request-timeout`, `max-retries`,
/// `retry-initial-backoff`, unknown keys refused) or field by field in a
/// client's block through [`fields`], so the keys, defaults and checks are
/// the same everywhere.
///
/// ```
/// use std::time::Duration;
/// use connect_http::HttpSettings;
///
/// let settings = HttpSettings::default().with_max_retries(5);
/// assert_eq!(settings.request_timeout, Duration::from_secs(30));
/// assert_eq!(settings.max_retries, 5);
/// let policy = settings.retry_policy("example", Duration::from_secs(10), Duration::from_secs(10));
/// # drop(policy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct HttpSettings {
    /// `request-timeout`: the longest one HTTP request may take (more than
    /// zero; default [`DEFAULT_REQUEST_TIMEOUT`]).
    #[serde(
        default = "fields::default_request_timeout",
        deserialize_with = "fields::request_timeout"
    )]
    pub request_timeout: Duration,
    /// `max-retries`: retries of a transient failure on top of the first
    /// attempt (default [`DEFAULT_MAX_RETRIES`]).
    #[serde(default = "fields::default_max_retries")]
    pub max_retries: u32,
    /// `retry-initial-backoff`: the delay before the first retry; it
    /// doubles with each retry, with jitter (default
    /// [`DEFAULT_RETRY_INITIAL_BACKOFF`]).
    #[serde(
        default = "fields::default_retry_initial_backoff",
        deserialize_with = "fields::retry_initial_backoff"
    )]
    pub retry_initial_backoff: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_initial_backoff: DEFAULT_RETRY_INITIAL_BACKOFF,
        }
    }
}

impl HttpSettings {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `request-timeout`.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets `max-retries`.
    #[must_use]
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets `retry-initial-backoff`.
    #[must_use]
    pub fn with_retry_initial_backoff(mut self, backoff: Duration) -> Self {
        self.retry_initial_backoff = backoff;
        self
    }

    /// Checks the settings; `block` names the configuration block in the
    /// message (e.g. `fluent`).
    pub fn validate(&self, block: &str) -> Result<(), String> {
        if self.request_timeout.is_zero() {
            return Err(format!(
                "{block}.request-timeout must be more than zero, e.g. `30s`"
            ));
        }
        Ok(())
    }

    /// The retry loop for a client of `dependency`: `max-retries` retries,
    /// a doubling backoff from `retry-initial-backoff` up to `max_backoff`
    /// (with jitter), and `Retry-After` hints waited for up to
    /// `max_retry_after` (a longer one ends the loop).
    pub fn retry_policy(
        &self,
        dependency: &'static str,
        max_backoff: Duration,
        max_retry_after: Duration,
    ) -> RetryPolicy {
        let backoff = Backoff::doubling(self.retry_initial_backoff, max_backoff);
        RetryPolicy::new(
            dependency,
            self.max_retries,
            max_retry_after,
            move |retry| backoff.delay(retry, None),
        )
    }

    /// [`client_builder`](crate::client_builder) for these settings.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        crate::client_builder(self.request_timeout)
    }
}

/// A client configuration that embeds [`HttpSettings`]: the setters of
/// `request-timeout`, `max-retries` and `retry-initial-backoff`, written
/// once for every client's block.
///
/// ```
/// use std::time::Duration;
/// use connect_http::{HttpSettings, WithHttpSettings};
///
/// #[derive(Debug, Default)]
/// struct MyClientConfig {
///     http: HttpSettings,
/// }
///
/// impl WithHttpSettings for MyClientConfig {
///     fn http_settings_mut(&mut self) -> &mut HttpSettings {
///         &mut self.http
///     }
/// }
///
/// let config = MyClientConfig::default().with_max_retries(1);
/// assert_eq!(config.http.max_retries, 1);
/// ```
pub trait WithHttpSettings: Sized {
    /// The embedded settings.
    fn http_settings_mut(&mut self) -> &mut HttpSettings;

    /// Sets every setting at once.
    #[must_use]
    fn with_http_settings(mut self, settings: HttpSettings) -> Self {
        *self.http_settings_mut() = settings;
        self
    }

    /// Sets `request-timeout`.
    #[must_use]
    fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.http_settings_mut().request_timeout = timeout;
        self
    }

    /// Sets `max-retries`.
    #[must_use]
    fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.http_settings_mut().max_retries = max_retries;
        self
    }

    /// Sets `retry-initial-backoff`.
    #[must_use]
    fn with_retry_initial_backoff(mut self, backoff: Duration) -> Self {
        self.http_settings_mut().retry_initial_backoff = backoff;
        self
    }
}

/// The serde pieces behind [`HttpSettings`], for a configuration block
/// that lists the three keys among its own (`serde(flatten)` would lose
/// `deny_unknown_fields`):
///
/// ```
/// use std::time::Duration;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// #[serde(deny_unknown_fields, rename_all = "kebab-case")]
/// struct Block {
///     name: String,
///     #[serde(
///         default = "connect_http::fields::default_request_timeout",
///         deserialize_with = "connect_http::fields::request_timeout"
///     )]
///     request_timeout: Duration,
/// }
/// # drop(|b: Block| (b.name, b.request_timeout));
/// ```
pub mod fields {
    use std::time::Duration;

    use serde::Deserializer;

    use crate::{DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY_INITIAL_BACKOFF};

    /// The default `request-timeout`.
    pub fn default_request_timeout() -> Duration {
        DEFAULT_REQUEST_TIMEOUT
    }

    /// The default `max-retries`.
    pub fn default_max_retries() -> u32 {
        DEFAULT_MAX_RETRIES
    }

    /// The default `retry-initial-backoff`.
    pub fn default_retry_initial_backoff() -> Duration {
        DEFAULT_RETRY_INITIAL_BACKOFF
    }

    /// Reads `request-timeout`: a duration (`30s`, `500ms`) of more than
    /// zero.
    pub fn request_timeout<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        connect_core::config::duration_where(deserializer, |duration| {
            if duration.is_zero() {
                Err("the timeout must be more than zero, e.g. `30s`".to_owned())
            } else {
                Ok(())
            }
        })
    }

    /// Reads `retry-initial-backoff`: a duration (`200ms`).
    pub fn retry_initial_backoff<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        connect_core::config::duration(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connect_core::config::ConfigDocument;

    fn parse(yaml: &str) -> Result<Option<HttpSettings>, String> {
        ConfigDocument::from_yaml("test.yml", yaml)
            .section::<HttpSettings>("http")
            .map_err(|e| e.to_string())
    }

    #[test]
    fn keys_defaults_and_unknown_keys() {
        let settings = parse("http:\n  request-timeout: 5s\n  retry-initial-backoff: 50ms\n");
        assert_eq!(
            settings,
            Ok(Some(HttpSettings {
                request_timeout: Duration::from_secs(5),
                max_retries: DEFAULT_MAX_RETRIES,
                retry_initial_backoff: Duration::from_millis(50),
            }))
        );
        let error = parse("http:\n  max-retries: 2\n  max-retry: 3\n")
            .err()
            .unwrap_or_default();
        assert!(error.contains("max-retry"), "{error}");
        assert!(error.contains("test.yml:3:"), "{error}");
        let zero = parse("http:\n  request-timeout: 0s\n")
            .err()
            .unwrap_or_default();
        assert!(zero.contains("more than zero"), "{zero}");
        assert!(HttpSettings::default().validate("x").is_ok());
        let invalid = HttpSettings::default().with_request_timeout(Duration::ZERO);
        assert_eq!(
            invalid.validate("fluent"),
            Err("fluent.request-timeout must be more than zero, e.g. `30s`".to_owned())
        );
    }
}
