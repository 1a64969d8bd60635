//! The `commercetools:` block of the connector configuration.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use connect_core::config::Secret;
use connect_http::{HttpSettings, WithHttpSettings};
use serde::{Deserialize, Deserializer};

/// The defaults of `request-timeout`, `max-retries` and
/// `retry-initial-backoff`, shared with the Fluent client.
pub use connect_http::{
    DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY_INITIAL_BACKOFF,
};

impl WithHttpSettings for CommercetoolsConfig {
    fn http_settings_mut(&mut self) -> &mut HttpSettings {
        &mut self.http
    }
}

/// A commercetools region: the shorthand for the auth and API hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Region {
    /// `us-central1.gcp` (North America, Google Cloud).
    UsCentral1Gcp,
    /// `us-east-2.aws` (North America, AWS).
    UsEast2Aws,
    /// `europe-west1.gcp` (Europe, Google Cloud).
    EuropeWest1Gcp,
    /// `eu-central-1.aws` (Europe, AWS).
    EuCentral1Aws,
    /// `australia-southeast1.gcp` (Australia, Google Cloud).
    AustraliaSoutheast1Gcp,
}

impl Region {
    /// Every region, in the order the documentation lists them.
    pub const ALL: [Region; 5] = [
        Region::UsCentral1Gcp,
        Region::UsEast2Aws,
        Region::EuropeWest1Gcp,
        Region::EuCentral1Aws,
        Region::AustraliaSoutheast1Gcp,
    ];

    /// The region's name as written in host names, e.g. `europe-west1.gcp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::UsCentral1Gcp => "us-central1.gcp",
            Region::UsEast2Aws => "us-east-2.aws",
            Region::EuropeWest1Gcp => "europe-west1.gcp",
            Region::EuCentral1Aws => "eu-central-1.aws",
            Region::AustraliaSoutheast1Gcp => "australia-southeast1.gcp",
        }
    }

    /// `https://auth.{region}.commercetools.com`.
    pub fn auth_url(self) -> String {
        format!("https://auth.{}.commercetools.com", self.as_str())
    }

    /// `https://api.{region}.commercetools.com`.
    pub fn api_url(self) -> String {
        format!("https://api.{}.commercetools.com", self.as_str())
    }

    fn names() -> String {
        Region::ALL
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A region name that is not one of [`Region::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a commercetools region; use one of: {regions}", regions = Region::names())]
pub struct UnknownRegion(pub String);

impl FromStr for Region {
    type Err = UnknownRegion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| UnknownRegion(s.to_owned()))
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = connect_core::config::text_where(deserializer, |name| {
            name.parse::<Region>()
                .map(drop)
                .map_err(|error| error.to_string())
        })?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The `commercetools:` block: which project, which API client, where the
/// API is, and how patient the client is.
///
/// ```
/// use connect_core::config::ConfigDocument;
/// use connect_commercetools::CommercetoolsConfig;
///
/// let yaml = r#"
/// commercetools:
///   project-key: fluent-ct-dev
///   client-id: my-client
///   client-secret: s3cr3t
///   region: europe-west1.gcp
/// "#;
/// let config: CommercetoolsConfig = ConfigDocument::from_yaml("inline", yaml)
///     .require_section("commercetools")?;
/// assert_eq!(config.api_url, "https://api.europe-west1.gcp.commercetools.com");
/// assert_eq!(config.scopes, ["view_customers:fluent-ct-dev"]);
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// # Ok::<(), connect_core::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawConfig")]
#[non_exhaustive]
pub struct CommercetoolsConfig {
    /// `project-key`: the commercetools project.
    pub project_key: String,
    /// `client-id` of the API client.
    pub client_id: String,
    /// `client-secret` of the API client (never logged).
    pub client_secret: Secret,
    /// `auth-url`, e.g. `https://auth.europe-west1.gcp.commercetools.com`
    /// (from `region` when not written).
    pub auth_url: String,
    /// `api-url`, e.g. `https://api.europe-west1.gcp.commercetools.com`
    /// (from `region` when not written).
    pub api_url: String,
    /// `scopes` requested with each token, e.g. `view_customers:{project-key}`.
    pub scopes: Vec<String>,
    /// `request-timeout`, `max-retries` and `retry-initial-backoff`: how
    /// long one request may take, how many times a transient failure (429,
    /// 502, 503, 504, timeouts, broken connections) is retried, and the
    /// first backoff (it doubles with each retry, with jitter). Set them
    /// with [`WithHttpSettings`].
    pub http: HttpSettings,
    /// Whether `scopes` was written (in the file, or with
    /// [`with_scopes`](Self::with_scopes)) rather than defaulted.
    scopes_written: bool,
}

impl CommercetoolsConfig {
    /// A configuration for code and tests, with the default scope
    /// (`view_customers:{project_key}`), timeout and retries.
    pub fn new(
        project_key: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        auth_url: impl Into<String>,
        api_url: impl Into<String>,
    ) -> Self {
        let project_key = project_key.into();
        Self {
            scopes: default_scopes(&project_key),
            scopes_written: false,
            project_key,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth_url: trim_url(auth_url.into()),
            api_url: trim_url(api_url.into()),
            http: HttpSettings::default(),
        }
    }

    /// A configuration for a [`Region`]'s public hosts.
    pub fn for_region(
        project_key: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        region: Region,
    ) -> Self {
        Self::new(
            project_key,
            client_id,
            client_secret,
            region.auth_url(),
            region.api_url(),
        )
    }

    /// Replaces the requested scopes (they then count as written: see
    /// [`scopes_written`](Self::scopes_written)).
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self.scopes_written = true;
        self
    }

    /// Whether the scopes were written (`scopes` in the file, or
    /// [`with_scopes`](Self::with_scopes)); `false` when they are the
    /// default.
    pub fn scopes_written(&self) -> bool {
        self.scopes_written
    }

    /// When the scopes were not written, requests `{name}:{project-key}`
    /// for each of `names` instead of the default (duplicates dropped,
    /// order kept), e.g. the scopes of the syncs a file's routes use. Does
    /// nothing when the scopes were written, or when `names` is empty.
    ///
    /// ```
    /// use connect_commercetools::CommercetoolsConfig;
    ///
    /// let config = CommercetoolsConfig::new("p", "id", "secret", "http://a.test", "http://b.test")
    ///     .with_default_scopes(&["view_customers", "view_categories", "view_customers"]);
    /// assert_eq!(config.scope_string(), "view_customers:p view_categories:p");
    /// assert!(!config.scopes_written());
    ///
    /// let written = CommercetoolsConfig::new("p", "id", "secret", "http://a.test", "http://b.test")
    ///     .with_scopes(["manage_orders:p"])
    ///     .with_default_scopes(&["view_categories"]);
    /// assert_eq!(written.scope_string(), "manage_orders:p");
    /// ```
    #[must_use]
    pub fn with_default_scopes(mut self, names: &[&str]) -> Self {
        if self.scopes_written || names.iter().all(|name| name.trim().is_empty()) {
            return self;
        }
        let mut scopes: Vec<String> = Vec::with_capacity(names.len());
        for name in names
            .iter()
            .map(|name| name.trim())
            .filter(|n| !n.is_empty())
        {
            let scope = format!("{name}:{}", self.project_key);
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        self.scopes = scopes;
        self
    }

    /// The scopes as sent to the token endpoint (space-separated).
    pub fn scope_string(&self) -> String {
        self.scopes.join(" ")
    }

    /// Checks the values a client needs; the message says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.project_key.trim().is_empty() {
            return Err("commercetools.project-key is empty; set it to your project's key (Merchant Center > Settings > Project settings)".to_owned());
        }
        if self.client_id.trim().is_empty() {
            return Err("commercetools.client-id is empty; create an API client in the Merchant Center (Settings > Developer settings) and copy its client_id".to_owned());
        }
        if self.client_secret.is_empty() {
            return Err("commercetools.client-secret is empty; copy the API client's secret (it is shown once, when the client is created)".to_owned());
        }
        check_url("auth-url", &self.auth_url)?;
        check_url("api-url", &self.api_url)?;
        if self.scopes.iter().all(|s| s.trim().is_empty()) {
            return Err(format!(
                "commercetools.scopes is empty; list the scopes the syncs need, e.g. `view_customers:{}`, or leave `scopes` out for the scopes of the syncs the routes use",
                self.project_key
            ));
        }
        Ok(())
    }
}

fn default_scopes(project_key: &str) -> Vec<String> {
    vec![format!("view_customers:{project_key}")]
}

fn trim_url(url: String) -> String {
    let trimmed = url.trim().trim_end_matches('/');
    if trimmed.len() == url.len() {
        url
    } else {
        trimmed.to_owned()
    }
}

fn check_url(key: &str, value: &str) -> Result<(), String> {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        Ok(_) | Err(_) => Err(format!(
            "commercetools.{key} `{value}` is not an http(s) URL; write e.g. `https://{}.europe-west1.gcp.commercetools.com` or set `region`",
            if key == "auth-url" { "auth" } else { "api" }
        )),
    }
}

/// The block as written in the file, before defaults and region resolution.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    #[serde(deserialize_with = "connect_core::config::required_text")]
    project_key: String,
    #[serde(deserialize_with = "connect_core::config::required_text")]
    client_id: String,
    #[serde(deserialize_with = "connect_core::config::required_secret")]
    client_secret: Secret,
    #[serde(default, deserialize_with = "optional_http_url")]
    auth_url: Option<String>,
    #[serde(default, deserialize_with = "optional_http_url")]
    api_url: Option<String>,
    #[serde(default)]
    region: Option<Region>,
    #[serde(default, deserialize_with = "scope_list")]
    scopes: Option<Vec<String>>,
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

/// Reads `auth-url` / `api-url`: an http(s) URL with a host, or empty
/// (then `region` decides).
fn optional_http_url<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    struct Url;
    impl<'de> serde::de::Visitor<'de> for Url {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an http(s) URL")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Option<String>, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<String>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
            let text = connect_core::config::text_where(d, |text| {
                if text.trim().is_empty() {
                    return Ok(());
                }
                match url::Url::parse(text.trim()) {
                    Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                        Ok(())
                    }
                    Ok(_) | Err(_) => Err(format!(
                        "`{text}` is not an http(s) URL; write e.g. `https://api.europe-west1.gcp.commercetools.com` (or the auth host for auth-url), or leave both URLs out and set `region`"
                    )),
                }
            })?;
            Ok(Some(text).filter(|t| !t.trim().is_empty()))
        }
    }
    deserializer.deserialize_option(Url)
}

/// Reads `scopes`: a list with at least one scope.
fn scope_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    struct Scopes;
    impl<'de> serde::de::Visitor<'de> for Scopes {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of scopes, e.g. [view_customers:my-project]")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<String>, A::Error> {
            let mut scopes = Vec::new();
            while let Some(scope) = seq.next_element::<String>()? {
                scopes.push(scope);
            }
            if scopes.iter().all(|s| s.trim().is_empty()) {
                return Err(serde::de::Error::custom(
                    "no scope is listed; list the scopes the syncs need, e.g. `view_customers:{project-key}`, or leave `scopes` out for the scopes of the syncs the routes use",
                ));
            }
            Ok(scopes)
        }
    }
    struct Wrapper(Vec<String>);
    impl<'de> Deserialize<'de> for Wrapper {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_seq(Scopes).map(Wrapper)
        }
    }
    Ok(Option::<Wrapper>::deserialize(deserializer)?.map(|w| w.0))
}

impl TryFrom<RawConfig> for CommercetoolsConfig {
    type Error = String;

    fn try_from(raw: RawConfig) -> Result<Self, String> {
        let pick = |explicit: Option<String>, key: &str, from_region: fn(Region) -> String| match (
            explicit.filter(|u| !u.trim().is_empty()),
            raw.region,
        ) {
            (Some(url), _) => Ok(trim_url(url)),
            (None, Some(region)) => Ok(from_region(region)),
            (None, None) => Err(format!(
                "commercetools: `{key}` is missing; set `{key}` or `region` (one of: {})",
                Region::names()
            )),
        };
        let auth_url = pick(raw.auth_url.clone(), "auth-url", Region::auth_url)?;
        let api_url = pick(raw.api_url.clone(), "api-url", Region::api_url)?;
        let scopes_written = raw.scopes.is_some();
        let scopes = raw
            .scopes
            .unwrap_or_else(|| default_scopes(&raw.project_key));
        let config = Self {
            project_key: raw.project_key,
            client_id: raw.client_id,
            client_secret: raw.client_secret,
            auth_url,
            api_url,
            scopes,
            scopes_written,
            http: HttpSettings::new()
                .with_request_timeout(raw.request_timeout)
                .with_max_retries(raw.max_retries)
                .with_retry_initial_backoff(raw.retry_initial_backoff),
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connect_core::config::ConfigDocument;

    fn parse(yaml: &str) -> Result<Option<CommercetoolsConfig>, String> {
        ConfigDocument::from_yaml("test.yml", yaml)
            .section::<CommercetoolsConfig>("commercetools")
            .map_err(|e| e.to_string())
    }

    #[test]
    fn explicit_urls_win_over_region() {
        let config = parse(
            "commercetools:\n  project-key: p\n  client-id: c\n  client-secret: s\n  region: us-east-2.aws\n  api-url: http://127.0.0.1:9/\n",
        )
        .unwrap_or_default()
        .map(|c| (c.auth_url, c.api_url));
        assert_eq!(
            config,
            Some((
                "https://auth.us-east-2.aws.commercetools.com".to_owned(),
                "http://127.0.0.1:9".to_owned()
            ))
        );
    }

    #[test]
    fn missing_urls_and_region_lists_regions() {
        let error = parse("commercetools:\n  project-key: p\n  client-id: c\n  client-secret: s\n")
            .err()
            .unwrap_or_default();
        assert!(error.contains("auth-url"), "{error}");
        assert!(error.contains("australia-southeast1.gcp"), "{error}");
    }

    #[test]
    fn unknown_region_is_rejected_with_the_list() {
        let error = parse(
            "commercetools:\n  project-key: p\n  client-id: c\n  client-secret: s\n  region: mars-1.aws\n",
        )
        .err()
        .unwrap_or_default();
        assert!(error.contains("mars-1.aws"), "{error}");
        assert!(error.contains("eu-central-1.aws"), "{error}");
    }

    #[test]
    fn durations_and_defaults() {
        let config = parse(
            "commercetools:\n  project-key: p\n  client-id: c\n  client-secret: s\n  region: eu-central-1.aws\n  request-timeout: 5s\n  retry-initial-backoff: 50ms\n",
        )
        .ok()
        .flatten();
        let config = config.map(|c| {
            (
                c.http.request_timeout,
                c.http.retry_initial_backoff,
                c.http.max_retries,
                c.scopes,
            )
        });
        assert_eq!(
            config,
            Some((
                Duration::from_secs(5),
                Duration::from_millis(50),
                3,
                vec!["view_customers:p".to_owned()]
            ))
        );
    }

    #[test]
    fn default_scopes_follow_the_resources_unless_written() {
        let base = "commercetools:\n  project-key: p\n  client-id: c\n  client-secret: s\n  region: eu-central-1.aws\n";
        let defaulted = parse(base).ok().flatten().map(|c| {
            (
                c.scopes_written(),
                c.with_default_scopes(&["view_customers", "view_categories", "view_customers"])
                    .scopes,
            )
        });
        assert_eq!(
            defaulted,
            Some((
                false,
                vec![
                    "view_customers:p".to_owned(),
                    "view_categories:p".to_owned()
                ]
            ))
        );
        let written = parse(&format!("{base}  scopes: [manage_orders:p]\n"))
            .ok()
            .flatten()
            .map(|c| {
                (
                    c.scopes_written(),
                    c.with_default_scopes(&["view_categories"]).scopes,
                )
            });
        assert_eq!(written, Some((true, vec!["manage_orders:p".to_owned()])));
        let untouched = parse(base)
            .ok()
            .flatten()
            .map(|c| c.with_default_scopes(&[]).scopes);
        assert_eq!(untouched, Some(vec!["view_customers:p".to_owned()]));
    }
}
