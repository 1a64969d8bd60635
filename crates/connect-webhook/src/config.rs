//! The configuration blocks: `listeners.fluent-webhook`,
//! `listeners.external-webhook` and `webhook-mapping`.
//!
//! They are read strictly, like every block of the file: an unknown key is
//! an error with its line, and every value is checked while it is read, so
//! that a mistake points at its line and says what to write.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use connect_core::config::{ConfigDocument, ConfigError, Secret, text_where};
use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::signature::WebhookPublicKey;
use crate::size::ByteSize;

/// Where the Fluent webhook block is in the file.
pub const FLUENT_WEBHOOK_SECTION: &str = "listeners.fluent-webhook";

/// Where the block of other systems' webhooks is in the file.
pub const EXTERNAL_WEBHOOK_SECTION: &str = "listeners.external-webhook";

/// The top-level block mapping webhook names to routes.
pub const WEBHOOK_MAPPING_SECTION: &str = "webhook-mapping";

/// The default path of Fluent webhooks, as Fluent's Java SDK serves them.
pub const DEFAULT_FLUENT_PATH: &str = "/api/v1/fluent-connect/webhook";

/// The default path of other systems' webhooks, as Fluent's Java SDK.
pub const DEFAULT_EXTERNAL_PATH: &str = "/api/v1/fluent-connect/external-system/webhook";

/// The default header of the external endpoint's HMAC signature.
pub const DEFAULT_HMAC_HEADER: &str = "x-signature";

/// Fluent retries a webhook it got no answer for within this window.
pub const FLUENT_RETRY_WINDOW: Duration = Duration::from_secs(14);

/// The largest `max-body` accepted.
pub const MAX_BODY_LIMIT: ByteSize = ByteSize::mib(64);

/// The `listeners.fluent-webhook` block: where Fluent webhooks arrive and
/// how they are checked. The server settings (`listen`, the timeouts and
/// `max-connections`) apply to the whole webhook listener, the external
/// endpoint included.
///
/// ```
/// use connect_core::config::ConfigDocument;
/// use connect_webhook::FluentWebhookConfig;
///
/// // A 1024-bit RSA key, as Fluent shows it (bare base64 x509 SubjectPublicKeyInfo).
/// let key = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC/pOOyloUFfcdQXr/EMdp9AHXFMNHIx9j0yQxtdeB7PUS9Kne35RIdo6nUgzyhgdJgxFlx+q5n+gFu7Q9dBj4vLDuKXdjMmU9RL+/it3gMNYa++zxv3BNuB7eUvnB/ouw19OAY3StEGDMgv3BxYoRFyhzTnAuLbrUDeyALFqGpAwIDAQAB";
/// let yaml = format!("listeners:\n  fluent-webhook:\n    listen: 0.0.0.0:8080\n    public-keys: [\"{key}\"]\n    max-body: 256KiB\n");
/// let doc = ConfigDocument::from_yaml("app.yml", yaml);
/// let config = FluentWebhookConfig::read(&doc)?.unwrap();
/// assert_eq!(config.path, "/api/v1/fluent-connect/webhook");
/// assert_eq!(config.max_body.as_u64(), 256 * 1024);
/// assert_eq!(config.public_keys[0].bits(), 1024);
/// # Ok::<(), connect_core::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct FluentWebhookConfig {
    /// `host:port` to listen on, e.g. `0.0.0.0:8080` (port 0: any free port).
    #[serde(deserialize_with = "listen_address")]
    pub listen: String,
    /// The path Fluent posts to.
    #[serde(default = "default_fluent_path", deserialize_with = "url_path")]
    pub path: String,
    /// Fluent's public keys (x509 SubjectPublicKeyInfo, PEM or bare
    /// base64); a signature verified by any one is accepted (rotation).
    #[serde(deserialize_with = "public_keys")]
    pub public_keys: Vec<WebhookPublicKey>,
    /// The largest body accepted; larger ones are answered 413.
    #[serde(default = "default_max_body", deserialize_with = "max_body")]
    pub max_body: ByteSize,
    /// How long a client may take to send a request's headers.
    #[serde(
        default = "default_header_read_timeout",
        deserialize_with = "positive_duration"
    )]
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body (answered 408
    /// past it).
    #[serde(
        default = "default_body_read_timeout",
        deserialize_with = "positive_duration"
    )]
    pub body_read_timeout: Duration,
    /// Connections served at once; more wait in the operating system's
    /// accept queue until one closes.
    #[serde(default = "default_max_connections", deserialize_with = "at_least_one")]
    pub max_connections: usize,
    /// With the in-memory event queue: how long a request waits for its
    /// message to be handled before it is answered 503 (Fluent then
    /// retries). Must stay below Fluent's 14-second retry window.
    #[serde(
        default = "default_answer_timeout",
        deserialize_with = "answer_timeout"
    )]
    pub answer_timeout: Duration,
    /// With the in-memory event queue: webhooks waiting for the runtime
    /// before new ones are answered 503 at once.
    #[serde(default = "default_intake_capacity", deserialize_with = "at_least_one")]
    pub intake_capacity: usize,
}

impl FluentWebhookConfig {
    /// A configuration with the defaults, listening on `listen` and
    /// checking signatures with `public_keys`.
    pub fn new(listen: impl Into<String>, public_keys: Vec<WebhookPublicKey>) -> Self {
        Self {
            listen: listen.into(),
            path: default_fluent_path(),
            public_keys,
            max_body: default_max_body(),
            header_read_timeout: default_header_read_timeout(),
            body_read_timeout: default_body_read_timeout(),
            max_connections: default_max_connections(),
            answer_timeout: default_answer_timeout(),
            intake_capacity: default_intake_capacity(),
        }
    }

    /// Reads `listeners.fluent-webhook`; `Ok(None)` when it is absent.
    pub fn read(doc: &ConfigDocument) -> Result<Option<Self>, ConfigError> {
        doc.section(FLUENT_WEBHOOK_SECTION)
    }

    /// Sets `path`.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets `max-body`.
    #[must_use]
    pub fn with_max_body(mut self, max_body: ByteSize) -> Self {
        self.max_body = max_body;
        self
    }

    /// Sets `header-read-timeout` and `body-read-timeout`.
    #[must_use]
    pub fn with_read_timeouts(mut self, header: Duration, body: Duration) -> Self {
        self.header_read_timeout = header;
        self.body_read_timeout = body;
        self
    }

    /// Sets `max-connections`.
    #[must_use]
    pub fn with_max_connections(mut self, max_connections: usize) -> Self {
        self.max_connections = max_connections.max(1);
        self
    }

    /// Sets `answer-timeout`.
    #[must_use]
    pub fn with_answer_timeout(mut self, answer_timeout: Duration) -> Self {
        self.answer_timeout = answer_timeout;
        self
    }

    /// Sets `intake-capacity`.
    #[must_use]
    pub fn with_intake_capacity(mut self, intake_capacity: usize) -> Self {
        self.intake_capacity = intake_capacity.max(1);
        self
    }
}

/// The `listeners.external-webhook` block: webhooks from other systems,
/// authenticated by an HMAC of the body or a bearer token, served on the
/// Fluent webhook listener.
///
/// ```
/// use connect_core::config::ConfigDocument;
/// use connect_webhook::{ExternalAuth, ExternalWebhookConfig};
///
/// let yaml = "listeners:\n  external-webhook:\n    auth:\n      hmac-sha256:\n        secret: s3cret\n        header: x-shop-signature\n";
/// let doc = ConfigDocument::from_yaml("app.yml", yaml);
/// let config = ExternalWebhookConfig::read(&doc)?.unwrap();
/// assert_eq!(config.path, "/api/v1/fluent-connect/external-system/webhook");
/// let ExternalAuth::HmacSha256 { header, .. } = &config.auth else { unreachable!() };
/// assert_eq!(header, "x-shop-signature");
/// assert!(!format!("{config:?}").contains("s3cret"));
/// # Ok::<(), connect_core::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct ExternalWebhookConfig {
    /// The path other systems post to.
    #[serde(default = "default_external_path", deserialize_with = "url_path")]
    pub path: String,
    /// How requests are authenticated.
    pub auth: ExternalAuth,
    /// The largest body accepted; larger ones are answered 413.
    #[serde(default = "default_max_body", deserialize_with = "max_body")]
    pub max_body: ByteSize,
}

impl ExternalWebhookConfig {
    /// A configuration with the default path and body limit.
    pub fn new(auth: ExternalAuth) -> Self {
        Self {
            path: default_external_path(),
            auth,
            max_body: default_max_body(),
        }
    }

    /// Reads `listeners.external-webhook`; `Ok(None)` when it is absent.
    pub fn read(doc: &ConfigDocument) -> Result<Option<Self>, ConfigError> {
        doc.section(EXTERNAL_WEBHOOK_SECTION)
    }

    /// Sets `path`.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }
}

/// How the external endpoint authenticates a request. Secrets never
/// appear in `Debug`; both are compared in constant time.
///
/// In the file, `auth:` holds exactly one of `hmac-sha256: { secret,
/// header }` and `bearer: { token }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalAuth {
    /// `hmac-sha256: { secret, header }`: the header holds the HMAC-SHA256
    /// of the raw body under `secret`, as hex (optionally prefixed
    /// `sha256=`) or base64.
    HmacSha256 {
        /// The shared secret.
        secret: Secret,
        /// The header carrying the signature (lowercase).
        header: String,
    },
    /// `bearer: { token }`: `Authorization: Bearer <token>`.
    Bearer {
        /// The expected token.
        token: Secret,
    },
}

impl<'de> Deserialize<'de> for ExternalAuth {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        struct AuthFile {
            #[serde(default)]
            hmac_sha256: Option<HmacFile>,
            #[serde(default)]
            bearer: Option<BearerFile>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        struct HmacFile {
            #[serde(deserialize_with = "connect_core::config::required_secret")]
            secret: Secret,
            #[serde(default = "default_hmac_header", deserialize_with = "header_name")]
            header: String,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        struct BearerFile {
            #[serde(deserialize_with = "connect_core::config::required_secret")]
            token: Secret,
        }
        match AuthFile::deserialize(deserializer)? {
            AuthFile {
                hmac_sha256: Some(HmacFile { secret, header }),
                bearer: None,
            } => Ok(Self::HmacSha256 { secret, header }),
            AuthFile {
                hmac_sha256: None,
                bearer: Some(BearerFile { token }),
            } => Ok(Self::Bearer { token }),
            AuthFile {
                hmac_sha256: Some(_),
                bearer: Some(_),
            } => Err(serde::de::Error::custom(
                "`auth` has both `hmac-sha256` and `bearer`; keep one of them",
            )),
            AuthFile {
                hmac_sha256: None,
                bearer: None,
            } => Err(serde::de::Error::custom(
                "`auth` is empty; write `hmac-sha256: { secret: ${SECRET}, header: x-signature }` or `bearer: { token: ${TOKEN} }`",
            )),
        }
    }
}

impl ExternalAuth {
    /// HMAC-SHA256 of the body under `secret`, in `header`.
    pub fn hmac_sha256(secret: impl Into<Secret>, header: impl Into<String>) -> Self {
        Self::HmacSha256 {
            secret: secret.into(),
            header: header.into().to_ascii_lowercase(),
        }
    }

    /// A bearer token.
    pub fn bearer(token: impl Into<Secret>) -> Self {
        Self::Bearer {
            token: token.into(),
        }
    }
}

/// The `webhook-mapping` block: webhook `name` → route (as `route-mapping`
/// maps commercetools resource types).
///
/// ```
/// use connect_webhook::WebhookMapping;
///
/// let mapping = WebhookMapping::from_iter([("OrderStatus", "fluent.connect.order.status")]);
/// assert_eq!(mapping.route_for("OrderStatus"), Some("fluent.connect.order.status"));
/// assert_eq!(mapping.route_for("FulfilmentStatus"), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookMapping(BTreeMap<String, String>);

impl WebhookMapping {
    /// An empty mapping (every webhook is ignored).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `webhook-mapping`; an absent block is an empty mapping.
    pub fn read(doc: &ConfigDocument) -> Result<Self, ConfigError> {
        Ok(doc.section(WEBHOOK_MAPPING_SECTION)?.unwrap_or_default())
    }

    /// The route for webhook `name`.
    pub fn route_for(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every `(name, route)` pair, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `true` when nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for WebhookMapping {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl<'de> Deserialize<'de> for WebhookMapping {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Route(#[serde(deserialize_with = "route_name")] String);
        let map = BTreeMap::<String, Route>::deserialize(deserializer)?;
        Ok(Self(map.into_iter().map(|(k, v)| (k, v.0)).collect()))
    }
}

fn route_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text_where(d, |t| {
        if t.trim().is_empty() {
            Err("the route is empty; write the name of a route of `routes`, e.g. `OrderStatus: fluent.connect.order.status`".to_owned())
        } else {
            Ok(())
        }
    })
}

impl<'de> Deserialize<'de> for WebhookPublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = text_where(deserializer, |t| Self::parse(t).map(|_| ()))?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The `public-keys` list: at least one key; a key that cannot be read
/// names its position (from 1) in the list.
fn public_keys<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<WebhookPublicKey>, D::Error> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<WebhookPublicKey>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of public keys, e.g. [\"${FLUENT_WEBHOOK_PUBLIC_KEY}\"]")
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(E::custom(
                "`public-keys` is a list; write `public-keys: [\"${FLUENT_WEBHOOK_PUBLIC_KEY}\"]`",
            ))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut keys = Vec::new();
            while let Some(key) = seq.next_element_seed(KeyAt(keys.len() + 1))? {
                keys.push(key);
            }
            if keys.is_empty() {
                return Err(serde::de::Error::custom(
                    "`public-keys` is empty; add Fluent's webhook public key, e.g. [\"${FLUENT_WEBHOOK_PUBLIC_KEY}\"]",
                ));
            }
            Ok(keys)
        }
    }
    d.deserialize_seq(Keys)
}

/// The list entry at `.0` (from 1): a mistake names its position, at the
/// entry's line.
struct KeyAt(usize);

impl<'de> serde::de::DeserializeSeed<'de> for KeyAt {
    type Value = WebhookPublicKey;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let position = self.0;
        let text = text_where(deserializer, |t| {
            WebhookPublicKey::parse(t)
                .map(|_| ())
                .map_err(|message| format!("public key {position} of the list: {message}"))
        })?;
        WebhookPublicKey::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn listen_address<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text_where(d, |t| {
        let hint = "write host:port, e.g. `0.0.0.0:8080` (all interfaces) or `127.0.0.1:8080`";
        let Some((host, port)) = t.rsplit_once(':') else {
            return Err(format!("`{t}` has no port; {hint}"));
        };
        if host.is_empty() {
            return Err(format!("`{t}` has no host; {hint}"));
        }
        port.parse::<u16>()
            .map(|_| ())
            .map_err(|_| format!("`{port}` is not a port (0 to 65535); {hint}"))
    })
}

fn url_path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text_where(d, |t| {
        if !t.starts_with('/') || t.contains(char::is_whitespace) || t.contains(['?', '#']) {
            Err(format!(
                "`{t}` is not a path; write one that starts with `/`, without spaces or query, e.g. `{DEFAULT_FLUENT_PATH}`"
            ))
        } else {
            Ok(())
        }
    })
}

fn header_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = text_where(d, |t| {
        if axum::http::HeaderName::from_bytes(t.as_bytes()).is_ok() {
            Ok(())
        } else {
            Err(format!(
                "`{t}` is not a header name; write letters, digits and `-`, e.g. `{DEFAULT_HMAC_HEADER}`"
            ))
        }
    })?;
    Ok(name.to_ascii_lowercase())
}

fn max_body<'de, D: Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
    let text = text_where(d, |t| {
        let size = ByteSize::parse(t)?;
        if size.as_u64() == 0 || size > MAX_BODY_LIMIT {
            Err(format!(
                "`{t}` is out of range; write a size from `1B` to `{MAX_BODY_LIMIT}` (Fluent's webhooks are a few KiB; `1MiB` is the default)"
            ))
        } else {
            Ok(())
        }
    })?;
    ByteSize::parse(&text).map_err(serde::de::Error::custom)
}

fn positive_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    connect_core::config::duration_where(d, |t| {
        if t.is_zero() {
            Err("must be more than zero, e.g. `5s`".to_owned())
        } else {
            Ok(())
        }
    })
}

fn answer_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    connect_core::config::duration_where(d, |t| {
        if t.is_zero() || t >= FLUENT_RETRY_WINDOW {
            Err(format!(
                "must be more than zero and below Fluent's {}-second retry window, e.g. `10s`",
                FLUENT_RETRY_WINDOW.as_secs()
            ))
        } else {
            Ok(())
        }
    })
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let text = text_where(d, |t| match t.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(_) => Ok(()),
        Err(_) => Err(format!("`{t}` is not a whole number; write e.g. `256`")),
    })?;
    text.trim().parse().map_err(serde::de::Error::custom)
}

fn default_fluent_path() -> String {
    DEFAULT_FLUENT_PATH.to_owned()
}

fn default_external_path() -> String {
    DEFAULT_EXTERNAL_PATH.to_owned()
}

fn default_hmac_header() -> String {
    DEFAULT_HMAC_HEADER.to_owned()
}

fn default_max_body() -> ByteSize {
    ByteSize::mib(1)
}

fn default_header_read_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_body_read_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_max_connections() -> usize {
    256
}

fn default_answer_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_intake_capacity() -> usize {
    256
}
