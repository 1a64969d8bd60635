//! [`FluentConfig`]: the `fluent:` block of the connector's YAML file.

use std::fmt;
use std::time::Duration;

use connect_core::config::Secret;
use connect_http::{HttpSettings, WithHttpSettings};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

/// How to reach one Fluent OMS account: the `fluent:` block.
///
/// ```yaml
/// fluent:
///   base-url: https://${FLUENT_ACCOUNT}.sandbox.api.fluentretail.com
///   account: ${FLUENT_ACCOUNT}
///   retailer-id: ${FLUENT_RETAILER_ID}
///   client-id: ${FLUENT_CLIENT_ID}
///   client-secret: ${FLUENT_CLIENT_SECRET}
///   username: ${FLUENT_USERNAME}
///   password: ${FLUENT_PASSWORD}
///   request-timeout: 30s          # optional, default 30s
///   max-retries: 3                # optional, default 3
///   retry-initial-backoff: 200ms  # optional, default 200ms
/// ```
///
/// Read it with [`ConfigDocument::section`](connect_core::config::ConfigDocument::section);
/// unknown keys are errors naming the line:
///
/// ```
/// use connect_core::config::ConfigDocument;
/// use connect_fluent::FluentConfig;
///
/// let yaml = r#"
/// fluent:
///   base-url: https://acme.sandbox.api.fluentretail.com
///   account: ACME
///   retailer-id: 1
///   client-id: ACME
///   client-secret: s3cret
///   username: acme_api
///   password: pa55
/// "#;
/// let config: FluentConfig = ConfigDocument::from_yaml("inline", yaml)
///     .section("fluent")?
///     .expect("the block is present");
/// assert_eq!(config.retailer_id, "1");
/// assert!(!format!("{config:?}").contains("pa55"));
/// # Ok::<(), connect_core::config::ConfigError>(())
/// ```
///
/// `Debug` never shows the client secret or the password.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawFluentConfig")]
#[non_exhaustive]
pub struct FluentConfig {
    /// The account's API root, e.g. `https://ACME.sandbox.api.fluentretail.com`
    /// (`/oauth/token` and `/graphql` are appended). Must be an http(s) URL
    /// with a host: anything else is an error at its line when the block is
    /// read.
    pub base_url: String,
    /// The Fluent account id (sent as the `fluent.account` header on login).
    pub account: String,
    /// The retailer customers are created under (`retailer { id }`).
    pub retailer_id: String,
    /// The API client id Fluent issued for the account.
    pub client_id: String,
    /// The API client secret.
    pub client_secret: Secret,
    /// A retailer user allowed to use the API.
    pub username: String,
    /// That user's password.
    pub password: Secret,
    /// `request-timeout` (default `30s`; more than zero), `max-retries`
    /// (retries after a transient failure: 429, 5xx, timeout, connection
    /// error; default 3) and `retry-initial-backoff` (default `200ms`,
    /// doubling per retry, with jitter). Set them with
    /// [`WithHttpSettings`].
    pub http: HttpSettings,
}

/// The block as written: the three HTTP keys among the others
/// (`serde(flatten)` would lose `deny_unknown_fields`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFluentConfig {
    #[serde(deserialize_with = "http_url")]
    base_url: String,
    #[serde(deserialize_with = "connect_core::config::required_text")]
    account: String,
    #[serde(deserialize_with = "string_or_number")]
    retailer_id: String,
    #[serde(deserialize_with = "connect_core::config::required_text")]
    client_id: String,
    #[serde(deserialize_with = "connect_core::config::required_secret")]
    client_secret: Secret,
    #[serde(deserialize_with = "connect_core::config::required_text")]
    username: String,
    #[serde(deserialize_with = "connect_core::config::required_secret")]
    password: Secret,
    #[serde(
        default = "connect_http::fields::default_request_timeout",
        deserialize_with = "connect_http::fields::request_timeout"
    )]
    request_timeout: Duration,
    #[serde(default = "connect_http::fields::default_max_retries")]
    max_retries: u32,
    #[serde(
        default = "connect_http::fields::default_retry_initial_backoff",
        deserialize_with = "connect_http::fields::retry_initial_backoff"
    )]
    retry_initial_backoff: Duration,
}

impl From<RawFluentConfig> for FluentConfig {
    fn from(raw: RawFluentConfig) -> Self {
        Self {
            base_url: raw.base_url,
            account: raw.account,
            retailer_id: raw.retailer_id,
            client_id: raw.client_id,
            client_secret: raw.client_secret,
            username: raw.username,
            password: raw.password,
            http: HttpSettings::new()
                .with_request_timeout(raw.request_timeout)
                .with_max_retries(raw.max_retries)
                .with_retry_initial_backoff(raw.retry_initial_backoff),
        }
    }
}

impl WithHttpSettings for FluentConfig {
    fn http_settings_mut(&mut self) -> &mut HttpSettings {
        &mut self.http
    }
}

/// The defaults of `request-timeout`, `max-retries` and
/// `retry-initial-backoff`, shared with the commercetools client.
pub use connect_http::{
    DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY_INITIAL_BACKOFF,
};

impl FluentConfig {
    /// A configuration built in code, with the default timeout and retries.
    ///
    /// ```
    /// use std::time::Duration;
    /// use connect_fluent::{FluentConfig, WithHttpSettings};
    ///
    /// let config = FluentConfig::new(
    ///     "https://acme.sandbox.api.fluentretail.com",
    ///     "ACME",
    ///     "1",
    ///     "ACME",
    ///     "client-secret",
    ///     "acme_api",
    ///     "password",
    /// )
    /// .with_max_retries(5)
    /// .with_request_timeout(Duration::from_secs(10));
    /// assert_eq!(config.http.max_retries, 5);
    /// ```
    pub fn new(
        base_url: impl Into<String>,
        account: impl Into<String>,
        retailer_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            account: account.into(),
            retailer_id: retailer_id.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            username: username.into(),
            password: password.into(),
            http: HttpSettings::default(),
        }
    }

    /// Checks the values a client cannot work without; the message says
    /// which key to fix.
    pub(crate) fn validate(&self) -> Result<url::Url, String> {
        let required = [
            ("account", self.account.as_str()),
            ("retailer-id", self.retailer_id.as_str()),
            ("client-id", self.client_id.as_str()),
            ("client-secret", self.client_secret.expose()),
            ("username", self.username.as_str()),
            ("password", self.password.expose()),
        ];
        if let Some((key, _)) = required.iter().find(|(_, value)| value.trim().is_empty()) {
            return Err(format!(
                "fluent.{key} is empty; set it (e.g. from an environment variable) to the value Fluent gave you"
            ));
        }
        self.http.validate("fluent")?;
        let mut base =
            check_base_url(&self.base_url).map_err(|error| format!("fluent.base-url: {error}"))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(base)
    }
}

/// Reads `base-url`: an http(s) URL with a host.
fn http_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    connect_core::config::text_where(deserializer, |text| check_base_url(text).map(drop))
}

/// `Ok` for an http(s) URL with a host; the error says how to write one.
fn check_base_url(text: &str) -> Result<url::Url, String> {
    let example = "write it like https://ACCOUNT.sandbox.api.fluentretail.com (http:// only for a local emulator)";
    match url::Url::parse(text.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        Ok(url) => Err(format!(
            "`{text}` is not an http(s) URL (scheme `{}`); {example}",
            url.scheme()
        )),
        Err(error) => Err(format!("`{text}` is not a valid URL ({error}); {example}")),
    }
}

/// Accepts `retailer-id: 1` as well as `retailer-id: "1"` or `${VAR}`; an
/// empty value is an error.
fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct IdVisitor;
    impl Visitor<'_> for IdVisitor {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a retailer id, e.g. `1`")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            if v.trim().is_empty() {
                return Err(E::custom(
                    "the retailer id is empty; set it to the id of the retailer customers belong to (the `Retailer_id` of the user's token)",
                ));
            }
            Ok(v.to_owned())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_unit<E: de::Error>(self) -> Result<String, E> {
            self.visit_str("")
        }
    }
    deserializer.deserialize_any(IdVisitor)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use connect_core::config::ConfigDocument;

    const FULL: &str = "\
connector-name: x
fluent:
  base-url: http://127.0.0.1:8080
  account: ACME
  retailer-id: 7
  client-id: ACME
  client-secret: very-secret
  username: api-user
  password: hunter2
  request-timeout: 5s
  max-retries: 1
  retry-initial-backoff: 50ms
";

    #[test]
    fn reads_every_key() {
        let config: FluentConfig = ConfigDocument::from_yaml("t.yml", FULL)
            .require_section("fluent")
            .unwrap();
        assert_eq!(config.base_url, "http://127.0.0.1:8080");
        assert_eq!(config.retailer_id, "7");
        assert_eq!(config.password.expose(), "hunter2");
        assert_eq!(config.http.request_timeout, Duration::from_secs(5));
        assert_eq!(config.http.max_retries, 1);
        assert_eq!(config.http.retry_initial_backoff, Duration::from_millis(50));
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("very-secret"),
            "{debug}"
        );
    }

    #[test]
    fn defaults_apply() {
        let yaml = FULL
            .lines()
            .filter(|l| !l.contains("timeout") && !l.contains("retr"))
            .collect::<Vec<_>>()
            .join("\n");
        let config: FluentConfig = ConfigDocument::from_yaml("t.yml", yaml)
            .require_section("fluent")
            .unwrap();
        assert_eq!(config.http.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(config.http.max_retries, DEFAULT_MAX_RETRIES);
        assert_eq!(
            config.http.retry_initial_backoff,
            DEFAULT_RETRY_INITIAL_BACKOFF
        );
    }

    #[test]
    fn unknown_key_is_an_error_with_its_line() {
        let yaml = FULL.replace("  max-retries: 1\n", "  max-retries: 1\n  retailer: 7\n");
        let error = ConfigDocument::from_yaml("t.yml", yaml)
            .section::<FluentConfig>("fluent")
            .unwrap_err();
        assert_eq!(error.line(), Some(12), "{error}");
        let text = error.to_string();
        assert!(text.contains("retailer"), "{text}");
        assert!(text.starts_with("t.yml:12"), "{text}");
    }

    #[test]
    fn duration_without_unit_is_an_error() {
        let yaml = FULL.replace("5s", "5");
        let error = ConfigDocument::from_yaml("t.yml", yaml)
            .section::<FluentConfig>("fluent")
            .unwrap_err();
        assert!(error.to_string().contains("has no unit"), "{error}");
    }

    #[test]
    fn validate_names_the_key_to_fix() {
        let config = FluentConfig::new("http://h", "A", "1", "c", "s", "", "p");
        assert!(config.validate().unwrap_err().contains("fluent.username"));
        let config = FluentConfig::new("ftp://h", "A", "1", "c", "s", "u", "p");
        assert!(config.validate().unwrap_err().contains("https://"));
        let config = FluentConfig::new("not a url", "A", "1", "c", "s", "u", "p");
        assert!(config.validate().unwrap_err().contains("fluent.base-url"));
        let base = FluentConfig::new("http://h:1/api", "A", "1", "c", "s", "u", "p")
            .validate()
            .unwrap();
        assert_eq!(
            base.join("graphql").unwrap().as_str(),
            "http://h:1/api/graphql"
        );
    }
}
