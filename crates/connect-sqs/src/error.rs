//! [`SqsError`]: what went wrong talking to SQS, and what to do about it.

use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use connect_core::dead_letter::DeadLetterError;
use connect_core::{QueueError, Retryability};

/// An error of the SQS transport.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SqsError {
    /// The queue configuration is invalid.
    #[error("invalid SQS queue configuration: {0}")]
    Config(String),
    /// Background tasks need a tokio runtime.
    #[error(
        "SqsQueue must be created inside a tokio runtime (it runs background tasks for batched deletes and the visibility heartbeat); create it from async code, e.g. under #[tokio::main]"
    )]
    NoRuntime,
    /// An SQS API call failed.
    #[error("SQS {operation} on queue `{queue}` failed: {message}{hint}")]
    Api {
        /// The API operation, e.g. `ReceiveMessage`.
        operation: &'static str,
        /// The queue's name.
        queue: String,
        /// The AWS error code, when SQS answered with one.
        code: Option<String>,
        /// The error, with its causes.
        message: String,
        /// What to do, as `"; <advice>"` (or empty).
        hint: &'static str,
        /// `true` when the failure is worth retrying (network, throttling,
        /// server errors).
        retryable: bool,
    },
    /// Some entries of a batch call failed.
    #[error("SQS {operation} on queue `{queue}` failed for {failed} of {total} entries: {details}")]
    Batch {
        /// The API operation.
        operation: &'static str,
        /// The queue's name.
        queue: String,
        /// Entries that failed.
        failed: usize,
        /// Entries sent.
        total: usize,
        /// Codes and messages of the failures.
        details: String,
        /// `false` when SQS blamed the request (sender fault).
        retryable: bool,
    },
    /// A body is larger than the queue accepts.
    #[error(
        "a message body of {size} bytes is larger than queue `{queue}` accepts ({limit} bytes); keep payloads small (send references, not documents) or raise the queue's MaximumMessageSize"
    )]
    TooLarge {
        /// The queue's name.
        queue: String,
        /// The body size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// An item could not be encoded, or a body decoded.
    #[error("cannot encode or decode a message for queue `{queue}`: {message}")]
    Codec {
        /// The queue's name.
        queue: String,
        /// What failed.
        message: String,
    },
}

impl SqsError {
    /// `true` when trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { retryable, .. } | Self::Batch { retryable, .. } => *retryable,
            Self::Config(_) | Self::NoRuntime | Self::TooLarge { .. } | Self::Codec { .. } => false,
        }
    }

    /// The AWS error code, when SQS answered with one
    /// (e.g. `AWS.SimpleQueueService.NonExistentQueue`).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn api<E, R>(operation: &'static str, queue: &str, error: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let code = error.code().map(str::to_owned);
        let (hint, retryable) = match error {
            SdkError::ConstructionFailure(_) => (
                "; the request could not be built: check the AWS credentials chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an IAM role) and the region",
                false,
            ),
            SdkError::TimeoutError(_) => ("; the call timed out, it will be retried", true),
            SdkError::DispatchFailure(_) => (
                "; cannot reach SQS: check the network and `endpoint-url` (empty for AWS), and that credentials can be loaded",
                true,
            ),
            SdkError::ResponseError(_) => ("; SQS sent a response that could not be read", true),
            _ => hint_for_code(code.as_deref()),
        };
        Self::Api {
            operation,
            queue: queue.to_owned(),
            code,
            message: DisplayErrorContext(error).to_string(),
            hint,
            retryable,
        }
    }
}

fn hint_for_code(code: Option<&str>) -> (&'static str, bool) {
    let Some(code) = code else {
        return ("", true);
    };
    if code.contains("NonExistentQueue") || code.contains("QueueDoesNotExist") {
        (
            "; the queue does not exist: check `queue-url` and `region` (and `endpoint-url` for local servers)",
            false,
        )
    } else if code.contains("AccessDenied") || code.contains("NotAuthorized") {
        (
            "; the connector's IAM identity lacks a permission on this queue: see docs/deployment.md for the policy it needs",
            false,
        )
    } else if code.contains("InvalidClientTokenId")
        || code.contains("SignatureDoesNotMatch")
        || code.contains("UnrecognizedClient")
        || code.contains("ExpiredToken")
    {
        (
            "; AWS rejected the credentials: check the credentials chain (environment, profile or role)",
            false,
        )
    } else if code.contains("Throttl") || code.contains("RequestThrottled") {
        ("; SQS is throttling requests, they will be retried", true)
    } else if code.contains("ReceiptHandleIsInvalid") || code.contains("MessageNotInflight") {
        (
            "; the message is no longer held by this consumer (its visibility timeout passed or it was settled): it will be delivered again",
            false,
        )
    } else if code.contains("InternalError") || code.contains("ServiceUnavailable") {
        ("; SQS had a server error, it will be retried", true)
    } else {
        ("", false)
    }
}

impl Retryability for SqsError {
    fn is_retryable(&self) -> bool {
        SqsError::is_retryable(self)
    }
}

impl From<SqsError> for QueueError {
    fn from(error: SqsError) -> Self {
        match error {
            SqsError::Codec { message, .. } => QueueError::Codec(message),
            other => QueueError::Backend {
                message: other.to_string(),
                source: Some(Box::new(other)),
            },
        }
    }
}

impl From<SqsError> for DeadLetterError {
    fn from(error: SqsError) -> Self {
        DeadLetterError::new("SQS dead-letter queue", error)
    }
}
