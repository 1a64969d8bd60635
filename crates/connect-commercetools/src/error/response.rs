//! The JSON error body of the commercetools API.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `{"statusCode": 404, "message": "...", "errors": [{"code": "ResourceNotFound", ...}]}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// The HTTP status.
    #[serde(default)]
    pub status_code: u16,
    /// The first error's message.
    #[serde(default)]
    pub message: String,
    /// Every error.
    #[serde(default)]
    pub errors: Vec<ErrorObject>,
    /// OAuth errors also carry `error` (e.g. `invalid_client`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// OAuth errors also carry `error_description`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "error_description"
    )]
    pub error_description: Option<String>,
}

/// One error: a `code` such as `ConcurrentModification` and its details.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The error code, e.g. `ResourceNotFound`, `InvalidInput`, `DuplicateField`.
    #[serde(default)]
    pub code: String,
    /// A human-readable message.
    #[serde(default)]
    pub message: String,
    /// Code-specific fields, e.g. `currentVersion`, `field`, `duplicateValue`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ErrorResponse {
    /// A body with one error.
    pub fn new(status_code: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status_code,
            message: message.clone(),
            errors: vec![ErrorObject {
                code: code.into(),
                message,
                extra: Map::new(),
            }],
            error: None,
            error_description: None,
        }
    }

    /// Every error code, in order.
    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.errors
            .iter()
            .map(|e| e.code.as_str())
            .chain(self.error.as_deref().filter(|_| self.errors.is_empty()))
    }

    /// `currentVersion` of a `ConcurrentModification` error.
    pub fn current_version(&self) -> Option<u64> {
        self.errors
            .iter()
            .find_map(|e| e.extra.get("currentVersion").and_then(Value::as_u64))
    }
}
