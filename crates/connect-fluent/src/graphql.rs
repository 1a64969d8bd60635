//! One GraphQL exchange: the request body, the response, error mapping.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, GraphQlError, RawGraphQlError, is_retryable_status};

/// The JSON body of a GraphQL request.
#[derive(Serialize)]
pub(crate) struct RequestBody<'a, V: ?Sized> {
    pub(crate) query: &'a str,
    #[serde(rename = "operationName", skip_serializing_if = "Option::is_none")]
    pub(crate) operation_name: Option<&'a str>,
    pub(crate) variables: &'a V,
}

#[derive(Deserialize)]
struct ResponseBody {
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    errors: Option<Vec<RawGraphQlError>>,
}

/// Keeps at most this much of an unexpected body in an error.
const BODY_SNIPPET: usize = 512;

/// What one HTTP exchange with `/graphql` produced.
#[derive(Debug)]
pub(crate) enum Exchange {
    /// `data` (null when absent), no `errors`.
    Data(serde_json::Value),
    /// HTTP 401: the token must be renewed.
    Unauthorized,
}

/// Maps a `/graphql` answer to data or an [`Error`].
pub(crate) fn interpret(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    request_bytes: usize,
) -> Result<Exchange, Error> {
    match status {
        401 => return Ok(Exchange::Unauthorized),
        413 => {
            return Err(Error::PayloadTooLarge {
                bytes: request_bytes,
            });
        }
        429 => return Err(Error::RateLimited { retry_after }),
        _ => {}
    }
    let parsed = serde_json::from_slice::<ResponseBody>(body);
    let success = (200..300).contains(&status);
    if !success {
        // A 4xx carrying GraphQL errors (some gateways answer 400 for an
        // invalid document) is classified by those errors; everything else
        // by its status.
        if !is_retryable_status(status)
            && let Ok(ResponseBody {
                errors: Some(errors),
                ..
            }) = parsed
            && !errors.is_empty()
        {
            return Err(Error::graphql(errors.into_iter().map(Into::into).collect()));
        }
        return Err(Error::Status {
            status,
            body: snippet(body),
            retry_after,
        });
    }
    let response = parsed.map_err(|error| Error::InvalidResponse {
        status,
        message: format!("the body is not a GraphQL JSON response ({error})"),
    })?;
    let data = response.data.unwrap_or(serde_json::Value::Null);
    match response.errors {
        Some(errors) if !errors.is_empty() => {
            let errors: Vec<GraphQlError> = errors.into_iter().map(Into::into).collect();
            // Warnings only (`....W` codes), with data: Fluent did what was
            // asked. Say what it warned about, and go on.
            if !data.is_null() && errors.iter().all(GraphQlError::is_warning) {
                for warning in &errors {
                    tracing::warn!(code = warning.code.as_deref().unwrap_or(""), %warning, "Fluent answered with a warning");
                }
                return Ok(Exchange::Data(data));
            }
            Err(Error::graphql(errors))
        }
        _ => Ok(Exchange::Data(data)),
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(BODY_SNIPPET) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// `query Name` / `mutation Name` of a document, for logs.
pub(crate) fn operation_label(query: &str) -> String {
    let trimmed = query.trim_start();
    for kind in ["query", "mutation", "subscription"] {
        if let Some(rest) = trimmed.strip_prefix(kind) {
            let rest = rest.trim_start();
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            return match &rest[..end] {
                "" => kind.to_owned(),
                name => format!("{kind} {name}"),
            };
        }
    }
    "query".to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use connect_core::Retryability;

    use super::*;

    #[test]
    fn data_and_errors() {
        let ok = interpret(200, None, br#"{"data":{"x":1}}"#, 10).unwrap();
        assert!(matches!(ok, Exchange::Data(v) if v["x"] == 1));
        let err = interpret(
            200,
            None,
            br#"{"data":null,"errors":[{"message":"C0400E: bad","path":["createCustomer"]}]}"#,
            10,
        )
        .unwrap_err();
        assert_eq!(err.codes(), vec!["C0400E"]);
        assert!(!err.is_retryable());
    }

    #[test]
    fn warnings_with_data_are_data_and_without_data_are_errors() {
        let ok = interpret(
            200,
            None,
            br#"{"data":{"x":1},"errors":[{"message":"C0002W: heads up","extensions":{"code":"C0002W"}}]}"#,
            10,
        )
        .unwrap();
        assert!(matches!(ok, Exchange::Data(v) if v["x"] == 1));
        let mixed = interpret(
            200,
            None,
            br#"{"data":{"x":1},"errors":[{"message":"C0002W: heads up"},{"message":"C0400E: bad"}]}"#,
            10,
        )
        .unwrap_err();
        assert_eq!(mixed.codes(), vec!["C0002W", "C0400E"]);
        assert!(!mixed.is_retryable());
        let no_data = interpret(
            200,
            None,
            br#"{"data":null,"errors":[{"message":"S0003W: degraded"}]}"#,
            10,
        )
        .unwrap_err();
        assert!(no_data.is_retryable(), "{no_data}");
    }

    #[test]
    fn statuses() {
        assert!(matches!(
            interpret(401, None, b"", 1).unwrap(),
            Exchange::Unauthorized
        ));
        let too_large = interpret(413, None, b"too big", 3_000_000).unwrap_err();
        assert!(matches!(
            too_large,
            Error::PayloadTooLarge { bytes: 3_000_000 }
        ));
        let limited = interpret(429, Some(Duration::from_secs(1)), b"", 1).unwrap_err();
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(1)));
        let unavailable =
            interpret(503, None, br#"{"errors":[{"message":"no code here"}]}"#, 1).unwrap_err();
        assert!(unavailable.is_retryable(), "{unavailable}");
        let bad =
            interpret(400, None, br#"{"errors":[{"message":"Unknown field"}]}"#, 1).unwrap_err();
        assert!(matches!(bad, Error::GraphQl { .. }));
        assert!(!bad.is_retryable());
        let html = interpret(200, None, b"<html>gateway</html>", 1).unwrap_err();
        assert!(matches!(html, Error::InvalidResponse { .. }) && html.is_retryable());
    }

    #[test]
    fn labels() {
        assert_eq!(
            operation_label("mutation CreateCustomer($input: X) { a }"),
            "mutation CreateCustomer"
        );
        assert_eq!(operation_label("  query Q{ a }"), "query Q");
        assert_eq!(operation_label("{ customer(ref: \"x\") { id } }"), "query");
        assert_eq!(operation_label("mutation { a }"), "mutation");
    }

    #[test]
    fn snippets_are_bounded() {
        let long = "x".repeat(2_000);
        assert_eq!(snippet(long.as_bytes()).len(), BODY_SNIPPET + 3);
    }
}
