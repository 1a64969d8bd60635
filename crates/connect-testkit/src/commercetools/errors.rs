//! commercetools-shaped error responses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An API error: status, code, message and code-specific fields.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
    pub(super) extra: Map<String, Value>,
    /// OAuth-style errors also carry `error` / `error_description`.
    pub(super) oauth: bool,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
            oauth: false,
        }
    }

    pub(super) fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    fn oauth(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            oauth: true,
            ..Self::new(status, code, message)
        }
    }

    pub(super) fn invalid_client() -> Self {
        Self::oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Please provide valid client credentials using HTTP Basic Authentication.",
        )
    }

    pub(super) fn invalid_token() -> Self {
        Self::oauth(StatusCode::UNAUTHORIZED, "invalid_token", "invalid_token")
    }

    pub(super) fn invalid_scope(scope: &str) -> Self {
        Self::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("Invalid scope requested: {scope}"),
        )
    }

    pub(super) fn unsupported_grant_type(grant: &str) -> Self {
        Self::oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("Unsupported grant type: {grant}"),
        )
    }

    pub(super) fn insufficient_scope(needed: &str) -> Self {
        Self::oauth(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("Insufficient scope. One of the following scopes is missing: {needed}"),
        )
    }

    pub(super) fn not_found(what: &str, value: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The Resource with {what} '{value}' was not found."),
        )
    }

    pub(super) fn referenced_not_found(type_id: &str, what: &str, value: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ReferencedResourceNotFound",
            format!("The referenced {type_id} with {what} '{value}' was not found."),
        )
        .with("typeId", Value::String(type_id.to_owned()))
    }

    pub(super) fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }

    pub(super) fn invalid_operation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidOperation", message)
    }

    pub(super) fn invalid_json(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidJsonInput",
            "Request body does not contain valid JSON.",
        )
        .with("detailedErrorMessage", Value::String(detail.into()))
    }

    pub(super) fn duplicate(field: &str, value: &str) -> Self {
        let message = if field == "email" {
            "There is already an existing customer with the provided email.".to_owned()
        } else {
            format!("A duplicate value '\"{value}\"' exists for field '{field}'.")
        };
        Self::new(StatusCode::BAD_REQUEST, "DuplicateField", message)
            .with("field", Value::String(field.to_owned()))
            .with("duplicateValue", Value::String(value.to_owned()))
    }

    pub(super) fn concurrent_modification(id: &str, expected: u64, actual: u64) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "ConcurrentModification",
            format!(
                "Object {id} has a different version than expected. Expected: {expected} - Actual: {actual}."
            ),
        )
        .with("currentVersion", json!(actual))
    }

    /// The JSON body.
    pub(super) fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".to_owned(), Value::String(self.code.to_owned()));
        error.insert("message".to_owned(), Value::String(self.message.clone()));
        error.extend(self.extra.clone());
        let mut body = Map::new();
        body.insert("statusCode".to_owned(), json!(self.status.as_u16()));
        body.insert("message".to_owned(), Value::String(self.message.clone()));
        body.insert(
            "errors".to_owned(),
            Value::Array(vec![Value::Object(error)]),
        );
        if self.oauth {
            body.insert("error".to_owned(), Value::String(self.code.to_owned()));
            body.insert(
                "error_description".to_owned(),
                Value::String(self.message.clone()),
            );
        }
        Value::Object(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// The error body for a status injected by [`Faults`](crate::Faults).
pub(super) fn render_fault(status: StatusCode) -> Response {
    let error = match status.as_u16() {
        401 => ApiError::invalid_token(),
        429 => ApiError::new(status, "TooManyRequests", "Too many requests; retry later."),
        502 => ApiError::new(status, "General", "Bad gateway."),
        503 => ApiError::new(
            status,
            "OverCapacity",
            "The service is temporarily over capacity; retry later.",
        ),
        504 => ApiError::new(status, "General", "Gateway timeout."),
        _ => ApiError::new(status, "General", "Injected failure."),
    };
    error.into_response()
}
