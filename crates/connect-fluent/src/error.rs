//! [`Error`]: everything a Fluent call can fail with, classified for retries.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use connect_core::Retryability;
use serde::Deserialize;

/// Fluent rejects request bodies larger than this (HTTP 413).
pub const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;

/// An error from the Fluent client.
///
/// Every variant is either *retryable* (network, 429, 5xx, timeouts, Fluent
/// server-side `S....E`/`T....E` errors) or *unprocessable* (bad credentials,
/// `C....E` client errors, schema validation errors, 413). The
/// [`Retryability`] implementation lets `?` inside a
/// [`MessageHandler`](connect_core::MessageHandler) classify it:
///
/// ```
/// use connect_core::HandlerError;
/// use connect_fluent::{Error, GraphQlError};
///
/// let error = Error::graphql(vec![GraphQlError::new(
///     "C0400E: Validation failed: firstName exceeds max length 50",
/// )]);
/// assert_eq!(error.codes(), vec!["C0400E"]);
/// let handler_error: HandlerError = error.into();
/// assert!(!handler_error.is_retryable());
/// ```
///
/// No variant ever carries a token, a password or a client secret.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work (empty credential, invalid URL).
    #[error("invalid Fluent configuration: {0}")]
    Config(String),

    /// Fluent refused the credentials (HTTP 400/401 from `/oauth/token`).
    #[error(
        "Fluent rejected the login of user `{username}` (HTTP {status}{}): check fluent.client-id, fluent.client-secret, fluent.username and fluent.password, and that the user may use the API",
        describe_oauth(error.as_deref(), description.as_deref())
    )]
    Auth {
        /// The HTTP status of the token endpoint.
        status: u16,
        /// The user that tried to log in.
        username: String,
        /// The OAuth `error` field, e.g. `invalid_grant`.
        error: Option<String>,
        /// The OAuth `error_description` field.
        description: Option<String>,
    },

    /// Fluent answered 401 again with a token it had just issued.
    #[error(
        "Fluent answered 401 Unauthorized even with a freshly issued token: the user `{username}` may lack the roles this operation needs (check its roles in Fluent)"
    )]
    Unauthorized {
        /// The user the token belongs to.
        username: String,
    },

    /// The GraphQL response carried `errors[]`.
    #[error("{}", describe_graphql(errors))]
    GraphQl {
        /// Each error Fluent returned, in order.
        errors: Vec<GraphQlError>,
    },

    /// The request body was over Fluent's 2 MB limit (HTTP 413).
    #[error(
        "Fluent rejected a request of {bytes} bytes with 413 Payload Too Large: requests must stay under 2 MB; send less data per call (fewer attributes, smaller values, smaller batches)"
    )]
    PayloadTooLarge {
        /// The size of the request body that was sent.
        bytes: usize,
    },

    /// Fluent asked us to slow down (HTTP 429).
    #[error(
        "Fluent rate limit hit (429 Too Many Requests){}; the call will be retried later",
        describe_retry_after(*retry_after)
    )]
    RateLimited {
        /// The `Retry-After` delay Fluent asked for.
        retry_after: Option<Duration>,
    },

    /// An HTTP status other than the ones above.
    #[error("{}", describe_status(*status, body))]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the response body (at most 512 bytes).
        body: String,
        /// The `Retry-After` delay, when sent.
        retry_after: Option<Duration>,
    },

    /// The request did not complete: timeout, refused or dropped connection.
    #[error("{}", describe_transport(*kind, message))]
    Transport {
        /// What kind of failure it was.
        kind: TransportKind,
        /// The underlying error, for the log.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Arc<reqwest::Error>>,
    },

    /// The body was not the JSON shape Fluent always sends (e.g. an HTML page
    /// from a proxy).
    #[error(
        "Fluent sent an unexpected response (HTTP {status}): {message}; this is usually a proxy or gateway problem and will be retried"
    )]
    InvalidResponse {
        /// The HTTP status.
        status: u16,
        /// What was wrong.
        message: String,
    },

    /// `data` did not match the Rust type the caller asked for.
    #[error(
        "the GraphQL `data` does not match the type it is read into ({message}); make the query's selection and the Rust type agree"
    )]
    Decode {
        /// The serde error.
        message: String,
    },

    /// A dry-run client ([`FluentClient::with_dry_run`](crate::FluentClient::with_dry_run))
    /// refused to send a mutation: a dry run writes nothing.
    #[error(
        "dry run: `{operation}` was not sent to Fluent (a dry run writes nothing); a handler that writes without connect_fluent::upsert cannot be dry-run"
    )]
    DryRun {
        /// The operation, e.g. `mutation CreateCustomer`.
        operation: String,
        /// Its input, as it would have been sent.
        input: crate::dry_run::MutationInput,
    },

    /// `data` (or the requested field) was null and no error explained why.
    #[error(
        "Fluent returned no data for `{field}` and no error; check the query and that the object exists"
    )]
    MissingData {
        /// The field that was null.
        field: String,
    },
}

/// The kind of a [`Error::Transport`] failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// No response within `fluent.request-timeout`.
    Timeout,
    /// The connection could not be opened.
    Connect,
    /// The connection broke while sending the request or reading the body.
    Broken,
}

impl Error {
    /// An [`Error::GraphQl`] from its errors.
    pub fn graphql(errors: Vec<GraphQlError>) -> Self {
        Self::GraphQl { errors }
    }

    /// The GraphQL errors, empty for non-GraphQL failures.
    pub fn graphql_errors(&self) -> &[GraphQlError] {
        match self {
            Self::GraphQl { errors } => errors,
            _ => &[],
        }
    }

    /// The Fluent error codes (`C0400E`, ...) of the GraphQL errors.
    pub fn codes(&self) -> Vec<&str> {
        self.graphql_errors()
            .iter()
            .filter_map(|e| e.code.as_deref())
            .collect()
    }

    /// The HTTP status, when the failure was an HTTP answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Auth { status, .. }
            | Self::Status { status, .. }
            | Self::InvalidResponse { status, .. } => Some(*status),
            Self::Unauthorized { .. } => Some(401),
            Self::PayloadTooLarge { .. } => Some(413),
            Self::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// `true` when no response came within the request timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        )
    }

    /// `true` for a mutation a dry run refused ([`Error::DryRun`]).
    pub fn is_dry_run(&self) -> bool {
        matches!(self, Self::DryRun { .. })
    }

    /// `true` for credential problems ([`Error::Auth`], [`Error::Unauthorized`]).
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Auth { .. } | Self::Unauthorized { .. })
    }

    pub(crate) fn transport(error: reqwest::Error) -> Self {
        let kind = if error.is_timeout() {
            TransportKind::Timeout
        } else if error.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Broken
        };
        let message = full_chain(&error, error.to_string());
        Self::Transport {
            kind,
            message,
            source: Some(Arc::new(error)),
        }
    }
}

fn full_chain(error: &reqwest::Error, mut text: String) -> String {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl Retryability for Error {
    fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Transport { .. } | Self::InvalidResponse { .. } => {
                true
            }
            Self::Status { status, .. } => is_retryable_status(*status),
            Self::GraphQl { errors } => {
                !errors.is_empty() && errors.iter().all(|e| e.class().is_retryable())
            }
            Self::Config(_)
            | Self::Auth { .. }
            | Self::Unauthorized { .. }
            | Self::PayloadTooLarge { .. }
            | Self::Decode { .. }
            | Self::DryRun { .. }
            | Self::MissingData { .. } => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Failures that would fail every message alike: refused credentials,
    /// a 401 with a fresh token, a 403, no connection, and 5xx or broken
    /// answers that outlasted the client's retries. Rate limits, GraphQL
    /// errors and data errors are about the message.
    fn systemic(&self) -> Option<&'static str> {
        let systemic = match self {
            Self::Auth { .. } | Self::Unauthorized { .. } | Self::Transport { .. } => true,
            Self::InvalidResponse { .. } => true,
            Self::Status { status, .. } => *status == 403 || (500..=599).contains(status),
            Self::Config(_)
            | Self::GraphQl { .. }
            | Self::PayloadTooLarge { .. }
            | Self::RateLimited { .. }
            | Self::Decode { .. }
            | Self::DryRun { .. }
            | Self::MissingData { .. } => false,
        };
        systemic.then_some(DEPENDENCY)
    }
}

/// What the shared retry loop asks. Transport-level failures are retried
/// inside the call; GraphQL `S....E` / `T....E` errors are retryable for
/// the runtime but not retried here: Fluent answered, and the message-level
/// retry re-reads the current state first.
impl connect_http::Failure for Error {
    fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized { .. })
    }

    fn is_transient(&self, _idempotent: bool) -> bool {
        !matches!(self, Self::GraphQl { .. }) && self.is_retryable()
    }

    fn retry_hint(&self) -> Option<Duration> {
        Retryability::retry_after(self)
    }
}

/// The name Fluent goes by in logs, health and metrics (`fluent`).
pub const DEPENDENCY: &str = "fluent";

/// 408, 429 and every 5xx are worth another try.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// Who caused a Fluent error, from the first letter of its code.
///
/// Fluent codes are `<C|S|T><4 digits><E|W>`: the letter says who caused
/// it, the suffix whether it is an error (`E`) or a warning (`W`, e.g.
/// `C0002W`). A warning is classified by its letter like an error; a
/// response whose `errors[]` holds only warnings and that carries `data`
/// is not a failure at all (the warnings are logged, see
/// [`GraphQlError::is_warning`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// `C....E` / `C....W`: the request or its data is wrong. Not retried.
    Client,
    /// `S....E` / `S....W`: Fluent failed. Retried.
    Server,
    /// `T....E` / `T....W`: a system Fluent depends on failed. Retried.
    ThirdParty,
    /// No Fluent code (e.g. a schema validation error). Not retried.
    Unknown,
}

impl ErrorClass {
    /// `true` for [`Server`](Self::Server) and [`ThirdParty`](Self::ThirdParty).
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Server | Self::ThirdParty)
    }

    /// The class of a code like `C0400E` or `C0002W`; `Unknown` when it is
    /// not one.
    pub fn of_code(code: &str) -> Self {
        if !is_fluent_code(code) {
            return Self::Unknown;
        }
        match code.as_bytes().first() {
            Some(b'C') => Self::Client,
            Some(b'S') => Self::Server,
            Some(b'T') => Self::ThirdParty,
            _ => Self::Unknown,
        }
    }
}

/// `^[CST]\d{4}[EW]$`: an error (`E`) or warning (`W`) code.
fn is_fluent_code(code: &str) -> bool {
    let bytes = code.as_bytes();
    bytes.len() == 6
        && matches!(bytes[0], b'C' | b'S' | b'T')
        && bytes[1..5].iter().all(u8::is_ascii_digit)
        && matches!(bytes[5], b'E' | b'W')
}

/// `true` for a Fluent warning code (`C0002W`, `S0003W`, ...).
fn is_warning_code(code: &str) -> bool {
    is_fluent_code(code) && code.ends_with('W')
}

/// Codes Fluent answers when the entity an operation names does not exist
/// (`C0120E`: "an operation on an entity that could not be found", from
/// Fluent's GraphQL error code reference).
const NOT_FOUND_CODES: &[&str] = &["C0120E"];

/// The Fluent code at the start of a message (`C0400E: ...`), if any.
pub(crate) fn code_prefix(message: &str) -> Option<&str> {
    let candidate = message.trim_start().get(..6)?;
    is_fluent_code(candidate).then_some(candidate)
}

/// One entry of a GraphQL response's `errors[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphQlError {
    /// The message, e.g. `C0400E: Validation failed: ...`.
    pub message: String,
    /// The Fluent code: `extensions.code`, else the `C0400E:` prefix of the
    /// message; `None` for errors without one (schema validation).
    pub code: Option<String>,
    /// Where in the response the error happened, e.g. `["createCustomer"]`.
    pub path: Vec<PathSegment>,
}

impl GraphQlError {
    /// An error from its message; the code is read from a `C0400E:` prefix.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        let code = code_prefix(&message).map(str::to_owned);
        Self {
            message,
            code,
            path: Vec::new(),
        }
    }

    /// Sets the code (as if from `extensions.code`).
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the path.
    #[must_use]
    pub fn with_path(mut self, path: Vec<PathSegment>) -> Self {
        self.path = path;
        self
    }

    /// Who caused it.
    pub fn class(&self) -> ErrorClass {
        self.code
            .as_deref()
            .map_or(ErrorClass::Unknown, ErrorClass::of_code)
    }

    /// `true` when the code is a warning (`....W`, e.g. `C0002W`): Fluent
    /// did what was asked and tells something about it.
    pub fn is_warning(&self) -> bool {
        self.code.as_deref().is_some_and(is_warning_code)
    }

    /// `true` when the code says the entity the operation names does not
    /// exist (`C0120E`). A lookup treats such an answer like `null`.
    pub fn is_not_found(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|code| NOT_FOUND_CODES.contains(&code))
    }
}

impl fmt::Display for GraphQlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) if !self.message.trim_start().starts_with(code.as_str()) => {
                write!(f, "{code}: {}", self.message)?;
            }
            _ => f.write_str(&self.message)?,
        }
        if !self.path.is_empty() {
            f.write_str(" (at ")?;
            for (i, segment) in self.path.iter().enumerate() {
                if i > 0 {
                    f.write_str(".")?;
                }
                write!(f, "{segment}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// One step of a GraphQL error path: a field name or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PathSegment {
    /// A field (or alias).
    Field(String),
    /// A list index.
    Index(u64),
}

impl fmt::Display for PathSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(name) => f.write_str(name),
            Self::Index(index) => write!(f, "{index}"),
        }
    }
}

/// The wire shape of one GraphQL error.
#[derive(Deserialize)]
pub(crate) struct RawGraphQlError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    path: Option<Vec<PathSegment>>,
    #[serde(default)]
    extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

impl From<RawGraphQlError> for GraphQlError {
    fn from(raw: RawGraphQlError) -> Self {
        let code = raw
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .or_else(|| code_prefix(&raw.message).map(str::to_owned));
        Self {
            message: raw.message,
            code,
            path: raw.path.unwrap_or_default(),
        }
    }
}

fn describe_graphql(errors: &[GraphQlError]) -> String {
    let list = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let advice = if !errors.is_empty() && errors.iter().all(GraphQlError::is_warning) {
        if errors.iter().all(|e| e.class().is_retryable()) {
            "Fluent answered only with warnings (W codes) and no data; the call will be retried"
        } else {
            "Fluent answered only with warnings (W codes) and no data; check the data sent (not retried)"
        }
    } else if !errors.is_empty() && errors.iter().all(|e| e.class().is_retryable()) {
        "Fluent failed on its side (S/T code); the call will be retried"
    } else if errors.iter().any(|e| e.class() == ErrorClass::Client) {
        "fix the data sent (C code errors are never retried)"
    } else {
        "fix the query or variables so they match Fluent's schema (not retried)"
    };
    format!("Fluent GraphQL error: {list}; {advice}")
}

fn describe_status(status: u16, body: &str) -> String {
    let advice = match status {
        403 => "the user lacks permission for this operation; grant it the needed roles in Fluent",
        404 => "check fluent.base-url (it must be the account's API root)",
        s if is_retryable_status(s) => "Fluent or the network failed; the call will be retried",
        _ => "the request was rejected; check the query and the data",
    };
    if body.is_empty() {
        format!("Fluent answered HTTP {status}: {advice}")
    } else {
        format!("Fluent answered HTTP {status} ({body}): {advice}")
    }
}

fn describe_transport(kind: TransportKind, message: &str) -> String {
    match kind {
        TransportKind::Timeout => format!(
            "no answer from Fluent within fluent.request-timeout ({message}); retried, raise the timeout if this persists"
        ),
        TransportKind::Connect => format!(
            "cannot connect to Fluent ({message}); check fluent.base-url and the network, retried"
        ),
        TransportKind::Broken => {
            format!("the connection to Fluent broke ({message}); retried")
        }
    }
}

fn describe_retry_after(retry_after: Option<Duration>) -> String {
    retry_after.map_or_else(String::new, |d| {
        format!(", Retry-After {:.1}s", d.as_secs_f64())
    })
}

fn describe_oauth(error: Option<&str>, description: Option<&str>) -> String {
    match (error, description) {
        (Some(e), Some(d)) => format!(", {e}: {d}"),
        (Some(e), None) => format!(", {e}"),
        (None, Some(d)) => format!(", {d}"),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn parse(json: &str) -> Vec<GraphQlError> {
        #[derive(Deserialize)]
        struct Body {
            errors: Vec<RawGraphQlError>,
        }
        let body: Body = serde_json::from_str(json).unwrap();
        body.errors.into_iter().map(Into::into).collect()
    }

    #[test]
    fn fixture_error_is_a_client_error_with_code_and_path() {
        let errors = parse(include_str!(
            "../../connect-testkit/fixtures/fluent/graphql-error.json"
        ));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code.as_deref(), Some("C0400E"));
        assert_eq!(
            errors[0].path,
            vec![PathSegment::Field("createCustomer".into())]
        );
        let error = Error::graphql(errors);
        assert!(!error.is_retryable());
        let text = error.to_string();
        assert!(text.contains("C0400E: Validation failed"), "{text}");
        assert!(text.contains("(at createCustomer)"), "{text}");
        assert!(text.contains("fix the data"), "{text}");
    }

    #[test]
    fn codes_come_from_extensions_or_the_message_prefix() {
        let errors = parse(
            r#"{"errors":[
                {"message":"S0500E: boom"},
                {"message":"upstream down","extensions":{"code":"T0100E"}},
                {"message":"Unknown field \"nope\" on type \"Customer\""},
                {"message":"CX: not a code"}
            ]}"#,
        );
        let classes: Vec<ErrorClass> = errors.iter().map(GraphQlError::class).collect();
        assert_eq!(
            classes,
            vec![
                ErrorClass::Server,
                ErrorClass::ThirdParty,
                ErrorClass::Unknown,
                ErrorClass::Unknown
            ]
        );
    }

    #[test]
    fn warning_codes_are_codes_classified_by_their_letter() {
        for (code, class, warning) in [
            ("C0002W", ErrorClass::Client, true),
            ("S0003W", ErrorClass::Server, true),
            ("T0100W", ErrorClass::ThirdParty, true),
            ("C0400E", ErrorClass::Client, false),
            ("C0002X", ErrorClass::Unknown, false),
            ("c0002w", ErrorClass::Unknown, false),
            ("C002W", ErrorClass::Unknown, false),
        ] {
            assert_eq!(ErrorClass::of_code(code), class, "{code}");
            let error = GraphQlError::new(format!("{code}: something"));
            assert_eq!(error.is_warning(), warning, "{code}");
            assert_eq!(error.class(), class, "{code}");
        }
        let warnings =
            parse(r#"{"errors":[{"message":"heads up","extensions":{"code":"C0002W"}}]}"#);
        assert_eq!(warnings[0].code.as_deref(), Some("C0002W"));
        let error = Error::graphql(warnings);
        assert!(
            !error.is_retryable(),
            "a client warning without data is not retried"
        );
        assert!(error.to_string().contains("only with warnings"), "{error}");
        let server = Error::graphql(vec![GraphQlError::new("S0003W: degraded")]);
        assert!(server.is_retryable());
    }

    #[test]
    fn not_found_is_its_own_code() {
        assert!(GraphQlError::new("C0120E: Customer not found").is_not_found());
        assert!(!GraphQlError::new("C0400E: Validation failed").is_not_found());
        assert!(!GraphQlError::new("not found").is_not_found());
    }

    #[test]
    fn classification() {
        let server = Error::graphql(vec![GraphQlError::new("S0001E: down")]);
        assert!(server.is_retryable());
        let mixed = Error::graphql(vec![
            GraphQlError::new("S0001E: down"),
            GraphQlError::new("C0001E: bad"),
        ]);
        assert!(!mixed.is_retryable());
        let schema = Error::graphql(vec![GraphQlError::new("Unknown field")]);
        assert!(!schema.is_retryable());
        assert!(schema.to_string().contains("match Fluent's schema"));
        assert!(
            Error::RateLimited {
                retry_after: Some(Duration::from_secs(2))
            }
            .is_retryable()
        );
        assert_eq!(
            Error::RateLimited {
                retry_after: Some(Duration::from_secs(2))
            }
            .retry_after(),
            Some(Duration::from_secs(2))
        );
        assert!(!Error::PayloadTooLarge { bytes: 3 }.is_retryable());
        assert!(
            Error::PayloadTooLarge { bytes: 3 }
                .to_string()
                .contains("2 MB")
        );
        for (status, retryable) in [
            (500, true),
            (502, true),
            (503, true),
            (408, true),
            (400, false),
            (403, false),
            (404, false),
        ] {
            let error = Error::Status {
                status,
                body: String::new(),
                retry_after: None,
            };
            assert_eq!(error.is_retryable(), retryable, "{status}");
        }
    }

    #[test]
    fn only_transport_level_failures_are_retried_inside_the_call() {
        use connect_http::Failure;

        let busy = Error::Status {
            status: 503,
            body: String::new(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert!(busy.is_transient(false));
        assert_eq!(busy.retry_hint(), Some(Duration::from_secs(2)));
        assert!(!Error::PayloadTooLarge { bytes: 1 }.is_transient(true));
        let server = Error::graphql(vec![GraphQlError::new("S0001E: down")]);
        assert!(server.is_retryable());
        assert!(
            !server.is_transient(true),
            "retried by the runtime, not inline"
        );
        let refused = Error::Unauthorized {
            username: "api".into(),
        };
        assert!(refused.is_unauthorized());
        assert!(!refused.is_transient(true));
    }

    #[test]
    fn auth_error_names_the_keys_to_check_and_no_secret() {
        let error = Error::Auth {
            status: 400,
            username: "api".into(),
            error: Some("invalid_grant".into()),
            description: Some("Bad credentials".into()),
        };
        let text = error.to_string();
        assert!(text.contains("invalid_grant: Bad credentials"), "{text}");
        assert!(text.contains("fluent.password"), "{text}");
        assert!(!error.is_retryable());
    }
}
