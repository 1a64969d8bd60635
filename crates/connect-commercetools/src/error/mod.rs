//! The one error type of this crate, and the error body commercetools
//! sends ([`ErrorResponse`]).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use connect_core::{BoxError, Retryability};

mod response;

pub use response::{ErrorObject, ErrorResponse};

/// An error talking to commercetools: opaque, cheap to clone, and asked
/// questions the way `reqwest::Error` is ([`status`](Error::status),
/// [`is_not_found`](Error::is_not_found), [`is_timeout`](Error::is_timeout)...).
///
/// Its [`Retryability`] lets `?` in a handler classify it: 429, 5xx,
/// timeouts, network failures and 409 conflicts are retryable; 400, 401,
/// 403 and 404 are not. Its `Display` says what happened and what to do; it
/// never contains a secret or a token.
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Kind,
    operation: Option<String>,
    attempts: u32,
    source: Option<BoxError>,
    /// The failure happened asking for a token: nothing reached the API.
    token_request: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    /// The API answered with an error status.
    Status {
        status: u16,
        response: Option<ErrorResponse>,
        retry_after: Option<Duration>,
        after_reauth: bool,
    },
    /// The token endpoint refused to issue a token.
    Auth {
        status: u16,
        response: Option<ErrorResponse>,
        scopes: String,
        retry_after: Option<Duration>,
    },
    /// The request took longer than the configured timeout.
    Timeout { after: Duration },
    /// The connection failed (refused, reset, broken body).
    Network { connect: bool },
    /// A success response whose body is not what was expected.
    Decode { what: Cow<'static, str> },
    /// The request was rejected before it was sent.
    InvalidRequest { message: String },
    /// The configuration cannot work.
    Config { message: String },
    /// A cursor scan's page is not in ascending id order.
    OutOfOrder { message: String },
}

impl Error {
    fn new(kind: Kind) -> Self {
        Self {
            inner: Arc::new(Inner {
                kind,
                operation: None,
                attempts: 1,
                source: None,
                token_request: false,
            }),
        }
    }

    pub(crate) fn status_error(
        status: u16,
        response: Option<ErrorResponse>,
        retry_after: Option<Duration>,
    ) -> Self {
        Self::from_status(status, response, retry_after)
    }

    /// The error for an API answer with status `status`, its error body
    /// when it had one, and its `Retry-After` hint: classified as the
    /// client's own errors are (404 [`is_not_found`](Error::is_not_found),
    /// 409 [`is_conflict`](Error::is_conflict) and retryable, 429 and 5xx
    /// retryable...). For code that talks to commercetools its own way and
    /// wants the same classification.
    ///
    /// ```
    /// use connect_commercetools::Error;
    ///
    /// let error = Error::from_status(404, None, None).with_operation("fetching zone `z-1`");
    /// assert!(error.is_not_found());
    /// assert!(error.to_string().contains("fetching zone `z-1` failed"));
    /// ```
    pub fn from_status(
        status: u16,
        response: Option<ErrorResponse>,
        retry_after: Option<Duration>,
    ) -> Self {
        Self::new(Kind::Status {
            status,
            response,
            retry_after,
            after_reauth: false,
        })
    }

    pub(crate) fn auth(
        status: u16,
        response: Option<ErrorResponse>,
        scopes: String,
        retry_after: Option<Duration>,
    ) -> Self {
        Self::new(Kind::Auth {
            status,
            response,
            scopes,
            retry_after,
        })
    }

    pub(crate) fn timeout(after: Duration, source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Timeout { after }).with_source(source)
    }

    pub(crate) fn network(connect: bool, source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Network { connect }).with_source(source)
    }

    pub(crate) fn decode(what: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Decode { what: what.into() }).with_source(source)
    }

    /// A request refused before it was sent (not retryable); `message`
    /// says what is wrong and how to fix it.
    ///
    /// ```
    /// use connect_commercetools::Error;
    ///
    /// let error = Error::invalid_request("the order number is empty; pass the order's number");
    /// assert!(!error.is_retryable());
    /// ```
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(Kind::InvalidRequest {
            message: message.into(),
        })
    }

    /// A cursor scan of `endpoint` (e.g. `customers`) that commercetools
    /// answered out of id order: `seen` came after `previous`. Cursor paging
    /// (`sort=id asc`, `where=id > "<last id>"`) is only complete when every
    /// page ascends, so the scan stops; not retryable
    /// ([`is_out_of_order`](Error::is_out_of_order)).
    ///
    /// ```
    /// use connect_commercetools::Error;
    ///
    /// let error = Error::out_of_order("categories", "c-9", "c-2");
    /// assert!(error.is_out_of_order());
    /// assert!(!error.is_retryable());
    /// assert!(error.to_string().contains("`c-2` came after `c-9`"));
    /// ```
    pub fn out_of_order(endpoint: &str, previous: &str, seen: &str) -> Self {
        Self::new(Kind::OutOfOrder {
            message: format!(
                "commercetools returned {endpoint} out of id order: `{seen}` came after `{previous}`; \
                 the cursor scan needs ascending ids (each page sorted by `id asc`, each page \
                 starting after the previous page's last id), else {endpoint} are skipped or \
                 read twice, so the scan was refused. No resume point can be trusted: resuming \
                 with --after any id of this scan (or --resume) would be unsafe. Check that api-url points at \
                 the commercetools HTTP API (or a proxy that keeps `sort=id asc`)"
            ),
        })
        .with_operation(format!("scanning {endpoint}"))
    }

    /// A scan of `endpoint` by `lastModifiedAt` then id (a delta scan) that
    /// commercetools answered out of that order: the key `seen` came after
    /// `previous` (both as [`ScanKey`](crate::ScanKey) displays them). Like
    /// [`out_of_order`](Error::out_of_order): the scan stops, not
    /// retryable, [`is_out_of_order`](Error::is_out_of_order).
    ///
    /// ```
    /// use connect_commercetools::Error;
    ///
    /// let error = Error::out_of_modified_order("customers", "lastModifiedAt 2024-01-02T00:00:00.000Z, id a", "lastModifiedAt 2024-01-01T00:00:00.000Z, id b");
    /// assert!(error.is_out_of_order());
    /// assert!(error.to_string().contains("out of (lastModifiedAt, id) order"));
    /// ```
    pub fn out_of_modified_order(endpoint: &str, previous: &str, seen: &str) -> Self {
        Self::new(Kind::OutOfOrder {
            message: format!(
                "commercetools returned {endpoint} out of (lastModifiedAt, id) order: `{seen}` came \
                 after `{previous}`; the delta scan needs each page sorted by `lastModifiedAt asc, \
                 id asc`, each page starting after the previous page's last key, else {endpoint} \
                 are skipped or read twice, so the scan was refused and its checkpoint not \
                 advanced past what was read in order. Check that api-url points at the \
                 commercetools HTTP API (or a proxy that keeps both `sort` parameters)"
            ),
        })
        .with_operation(format!("scanning {endpoint}"))
    }

    /// `true` when a cursor scan was refused because commercetools returned
    /// resources out of ascending id order (see
    /// [`out_of_order`](Error::out_of_order)): nothing read by that scan
    /// bounds a safe resume point.
    pub fn is_out_of_order(&self) -> bool {
        matches!(self.inner.kind, Kind::OutOfOrder { .. })
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(Kind::Config {
            message: message.into(),
        })
    }

    /// Classifies a `reqwest` failure (no response, or a broken body).
    pub(crate) fn from_reqwest(error: reqwest::Error, timeout: Duration) -> Self {
        if error.is_timeout() {
            Self::timeout(timeout, error.without_url())
        } else if error.is_decode() {
            Self::decode("JSON document", error.without_url())
        } else {
            let connect = error.is_connect();
            Self::network(connect, error.without_url())
        }
    }

    fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.source = Some(source.into());
        }
        self
    }

    fn map_inner(self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                f(&mut inner);
                Self {
                    inner: Arc::new(inner),
                }
            }
            Err(shared) => {
                let mut inner = Inner {
                    kind: shared.kind.clone(),
                    operation: shared.operation.clone(),
                    attempts: shared.attempts,
                    token_request: shared.token_request,
                    source: shared
                        .source
                        .as_ref()
                        .map(|s| -> BoxError { Box::new(SourceText(s.to_string())) }),
                };
                f(&mut inner);
                Self {
                    inner: Arc::new(inner),
                }
            }
        }
    }

    /// Names the operation that failed (e.g. "fetching customer `c-1`"),
    /// which [`Display`](fmt::Display) puts first.
    pub fn with_operation(self, operation: impl Into<String>) -> Self {
        let operation = operation.into();
        self.map_inner(|inner| inner.operation = Some(operation))
    }

    /// Records how many attempts were made.
    pub(crate) fn with_attempts(self, attempts: u32) -> Self {
        self.map_inner(|inner| inner.attempts = attempts)
    }

    /// Marks a failure of the token request: retried like a read whatever
    /// the call, since nothing reached the API.
    pub(crate) fn in_token_request(self) -> Self {
        self.map_inner(|inner| inner.token_request = true)
    }

    /// Marks a 401 received right after a fresh token was issued.
    pub(crate) fn after_reauth(self) -> Self {
        self.map_inner(|inner| {
            if let Kind::Status {
                status: 401,
                after_reauth,
                ..
            } = &mut inner.kind
            {
                *after_reauth = true;
            }
        })
    }

    /// The error a call ends with when the retry loop gave up: the last
    /// failure, named after `operation`, with the attempts made.
    pub(crate) fn from_failed(
        failed: connect_http::Failed<Error>,
        operation: impl Into<String>,
    ) -> Self {
        let error = if failed.reauthenticated {
            failed.error.after_reauth()
        } else {
            failed.error
        };
        error
            .with_operation(operation)
            .with_attempts(failed.attempts)
    }

    /// The HTTP status commercetools answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match &self.inner.kind {
            Kind::Status { status, .. } | Kind::Auth { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The parsed error body, if commercetools sent one.
    pub fn response(&self) -> Option<&ErrorResponse> {
        match &self.inner.kind {
            Kind::Status { response, .. } | Kind::Auth { response, .. } => response.as_ref(),
            _ => None,
        }
    }

    /// The commercetools error codes, e.g. `["ResourceNotFound"]` or
    /// `["invalid_client"]`; empty when there was no error body.
    pub fn codes(&self) -> Vec<&str> {
        self.response()
            .map(|r| r.codes().collect())
            .unwrap_or_default()
    }

    /// `true` for 404 (the resource does not exist, e.g. it was deleted).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// `true` for 409 (another change happened first; see
    /// [`current_version`](Error::current_version)).
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// The resource's current version carried by a 409 `ConcurrentModification`.
    pub fn current_version(&self) -> Option<u64> {
        self.response().and_then(ErrorResponse::current_version)
    }

    /// `true` when the request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Timeout { .. })
    }

    /// `true` when the credentials or scopes were refused (token endpoint
    /// errors, 401 after re-authentication, 403).
    pub fn is_auth(&self) -> bool {
        match &self.inner.kind {
            Kind::Auth { status, .. } => (400..500).contains(status),
            Kind::Status { status, .. } => matches!(status, 401 | 403),
            _ => false,
        }
    }

    /// `true` when trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match &self.inner.kind {
            Kind::Status { status, .. } | Kind::Auth { status, .. } => {
                matches!(status, 409 | 429) || (500..600).contains(status)
            }
            Kind::Timeout { .. } | Kind::Network { .. } => true,
            Kind::Decode { .. }
            | Kind::InvalidRequest { .. }
            | Kind::Config { .. }
            | Kind::OutOfOrder { .. } => false,
        }
    }

    /// `true` when this failure would fail every call alike, whatever the
    /// message: refused credentials or scopes (the token endpoint's 4xx, a
    /// 401 with a fresh token, a 403), no connection, a timeout, or a 5xx
    /// that outlasted the client's retries. A connector pauses instead of
    /// failing messages (see `connect_core::ErrorKind::Systemic`).
    pub fn is_systemic(&self) -> bool {
        match &self.inner.kind {
            Kind::Auth { status, .. } => *status != 429,
            Kind::Status { status, .. } => {
                matches!(status, 401 | 403) || (500..600).contains(status)
            }
            Kind::Timeout { .. } | Kind::Network { .. } => true,
            Kind::Decode { .. }
            | Kind::InvalidRequest { .. }
            | Kind::Config { .. }
            | Kind::OutOfOrder { .. } => false,
        }
    }

    /// The delay commercetools asked for (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.inner.kind {
            Kind::Status { retry_after, .. } | Kind::Auth { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// How many attempts were made before giving up.
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// Whether the client may retry this failure by itself. Writes
    /// (`idempotent == false`) are retried only when commercetools surely did
    /// not apply them (429, 503, connection refused, or the token request
    /// failed).
    pub(crate) fn is_transient(&self, idempotent: bool) -> bool {
        let idempotent = idempotent || self.inner.token_request;
        match &self.inner.kind {
            Kind::Status { status, .. } => {
                if idempotent {
                    matches!(status, 429 | 502 | 503 | 504)
                } else {
                    matches!(status, 429 | 503)
                }
            }
            Kind::Auth { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            Kind::Timeout { .. } => idempotent,
            Kind::Network { connect } => idempotent || *connect,
            Kind::Decode { .. }
            | Kind::InvalidRequest { .. }
            | Kind::Config { .. }
            | Kind::OutOfOrder { .. } => false,
        }
    }

    fn describe_status(
        f: &mut fmt::Formatter<'_>,
        status: u16,
        response: Option<&ErrorResponse>,
    ) -> fmt::Result {
        write!(f, "{status}")?;
        if let Some(response) = response {
            let codes: Vec<&str> = response.codes().collect();
            if !codes.is_empty() {
                write!(f, " {}", codes.join(", "))?;
            }
            let message = if response.message.is_empty() {
                response.error_description.as_deref().unwrap_or("")
            } else {
                response.message.as_str()
            };
            if !message.is_empty() {
                write!(f, ": {message}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.write_str("commercetools")?;
        if let Some(operation) = &inner.operation {
            write!(f, ": {operation} failed")?;
        }
        f.write_str(": ")?;
        let attempts = if inner.attempts > 1 {
            format!(" (after {} attempts)", inner.attempts)
        } else {
            String::new()
        };
        match &inner.kind {
            Kind::Status {
                status,
                response,
                after_reauth,
                ..
            } => {
                Self::describe_status(f, *status, response.as_ref())?;
                f.write_str(&attempts)?;
                let advice = match *status {
                    401 if *after_reauth => {
                        "; commercetools rejected a freshly issued token: check commercetools.client-id/client-secret and that the API client has the scopes in commercetools.scopes"
                    }
                    401 => {
                        "; the access token was refused: check the API client's credentials and scopes"
                    }
                    403 => {
                        "; the API client lacks the scope this call needs (view_<resources> to read, manage_<resources> to write, e.g. view_customers, manage_orders): add it to the API client and to commercetools.scopes"
                    }
                    404 => {
                        "; the resource does not exist (deleted, or a wrong id, key or project-key)"
                    }
                    409 => {
                        "; the resource changed meanwhile: read it again and retry with its current version"
                    }
                    429 => {
                        "; commercetools is throttling this client: retry later, or lower the connector's concurrency"
                    }
                    400 => {
                        "; commercetools rejected the request as invalid: fix the request (see the error codes)"
                    }
                    s if (500..600).contains(&s) => {
                        "; commercetools is temporarily unavailable: retry later"
                    }
                    _ => "",
                };
                f.write_str(advice)?;
                if let Some(version) = response.as_ref().and_then(ErrorResponse::current_version) {
                    write!(f, " (current version {version})")?;
                }
                Ok(())
            }
            Kind::Auth {
                status,
                response,
                scopes,
                ..
            } => {
                f.write_str("cannot get an access token: ")?;
                Self::describe_status(f, *status, response.as_ref())?;
                f.write_str(&attempts)?;
                let codes: Vec<&str> = response
                    .as_ref()
                    .map(|r| r.codes().collect())
                    .unwrap_or_default();
                if codes.contains(&"invalid_scope") {
                    write!(
                        f,
                        "; the API client is not allowed the scopes `{scopes}`: check commercetools.scopes and project-key against the API client's scopes"
                    )
                } else if *status == 401 || *status == 400 || codes.contains(&"invalid_client") {
                    f.write_str(
                        "; check commercetools.client-id and client-secret (and auth-url for the project's region)",
                    )
                } else {
                    f.write_str("; the auth service is unavailable: retry later")
                }
            }
            Kind::Timeout { after } => write!(
                f,
                "no response within {after:?}{attempts}; raise commercetools.request-timeout or check the network"
            ),
            Kind::Network { .. } => {
                f.write_str("the connection failed")?;
                if let Some(source) = &inner.source {
                    write!(f, " ({source})")?;
                }
                write!(
                    f,
                    "{attempts}; check commercetools.api-url/auth-url and the network"
                )
            }
            Kind::Decode { what } => {
                write!(f, "the response is not a valid {what}")?;
                if let Some(source) = &inner.source {
                    write!(f, ": {source}")?;
                }
                f.write_str("; check that api-url points at the commercetools HTTP API")
            }
            Kind::InvalidRequest { message } | Kind::OutOfOrder { message } => f.write_str(message),
            Kind::Config { message } => write!(f, "invalid configuration: {message}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Error")
            .field("kind", &inner.kind)
            .field("operation", &inner.operation)
            .field("attempts", &inner.attempts)
            .field("source", &inner.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl Retryability for Error {
    fn is_retryable(&self) -> bool {
        Error::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        Error::retry_after(self)
    }

    fn systemic(&self) -> Option<&'static str> {
        self.is_systemic().then_some(DEPENDENCY)
    }
}

/// What the shared retry loop asks: a 401 from the API means a new token
/// and one more try; which failures are retried depends on the call
/// (see `is_transient`: writes only when commercetools surely did not
/// apply them).
impl connect_http::Failure for Error {
    fn is_unauthorized(&self) -> bool {
        matches!(self.inner.kind, Kind::Status { status: 401, .. })
    }

    fn is_transient(&self, idempotent: bool) -> bool {
        Error::is_transient(self, idempotent)
    }

    fn retry_hint(&self) -> Option<Duration> {
        self.retry_after()
    }
}

/// The name commercetools goes by in logs, health and metrics
/// (`commercetools`).
pub const DEPENDENCY: &str = "commercetools";

/// A source error kept as text (when an error shared by several callers is
/// annotated).
#[derive(Debug)]
struct SourceText(String);

impl fmt::Display for SourceText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SourceText {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let not_found = Error::status_error(
            404,
            Some(ErrorResponse::new(404, "ResourceNotFound", "gone")),
            None,
        );
        assert!(not_found.is_not_found());
        assert!(!not_found.is_retryable());
        assert_eq!(not_found.codes(), ["ResourceNotFound"]);

        let busy = Error::status_error(429, None, Some(Duration::from_secs(2)));
        assert!(busy.is_retryable());
        assert_eq!(
            Retryability::retry_after(&busy),
            Some(Duration::from_secs(2))
        );
        assert!(busy.is_transient(false));

        let unavailable = Error::status_error(502, None, None);
        assert!(unavailable.is_transient(true));
        assert!(!unavailable.is_transient(false));

        for status in [400, 401, 403] {
            assert!(!Error::status_error(status, None, None).is_retryable());
        }
    }

    #[test]
    fn a_failed_token_request_is_retried_even_for_a_write() {
        let timeout = || Error::timeout(Duration::from_secs(1), SourceText("slow".into()));
        assert!(!timeout().is_transient(false));
        assert!(timeout().in_token_request().is_transient(false));
    }

    #[test]
    fn display_names_operation_and_advice() {
        let error = Error::status_error(401, None, None)
            .with_operation("fetching customer `c-1`")
            .after_reauth();
        let text = error.to_string();
        assert!(text.contains("fetching customer `c-1` failed"), "{text}");
        assert!(text.contains("client-id/client-secret"), "{text}");

        let mut response = ErrorResponse::new(409, "ConcurrentModification", "stale");
        response.errors[0]
            .extra
            .insert("currentVersion".into(), serde_json::json!(7));
        let conflict = Error::status_error(409, Some(response), None);
        assert_eq!(conflict.current_version(), Some(7));
        assert!(conflict.to_string().contains("current version 7"));
    }
}
